//! A store of 50,000 open incidents with 16 KiB descriptions: start-up reads
//! only what it needs, the first and the last page answer in bounded time,
//! twenty concurrent listers grow the resident memory by less than 50 MiB,
//! and `/health` stays fast while the escalation ticks work through them.
//! (`LARGE_STORE_INCIDENTS` sets another count.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_precision_loss
)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use incident_metrics::{Metrics, MetricsConfig};
use llm_incident_manager::config::{LlmConfig, StorageConfig};
use llm_incident_manager::storage::Storage;

use llm_incident_manager::{Incident, Status};
use serde_json::json;

const MIB: u64 = 1024 * 1024;

fn count() -> usize {
    std::env::var("LARGE_STORE_INCIDENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000)
}

/// The resident memory of this process, from /proc (None elsewhere).
fn rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// An open critical incident `n`, created an hour before `now`, due for
/// escalation.
fn incident(n: usize, now: i64, description: &str) -> Incident {
    let created = now - 3_600_000 + i64::try_from(n).unwrap();
    let mut incident: Incident = serde_json::from_value(json!({
        "id": format!("large-{n:06}"),
        "title": format!("large store incident {n}"),
        "description": description,
        "severity": "critical",
        "status": "open",
        "source": format!("large-{}", n % 97),
        "fingerprint": null,
        "created_at_ms": created,
        "updated_at_ms": created,
        "resolved_at_ms": null,
        "escalation_level": 0,
        "correlated_ids": [],
        "classification": null,
        "summary": null,
        "duplicate_count": 0,
        "annotations": [],
    }))
    .unwrap();
    incident.dedup_key = format!("fp:large-{n}");
    incident.escalate_at_ms = Some(created + 1000);
    incident
}

/// Fills a new store at `path` with `n` incidents, 1000 per transaction.
async fn fill(path: &std::path::Path, n: usize) -> i64 {
    let metrics = Metrics::new(MetricsConfig::new()).unwrap();
    let telemetry =
        llm_incident_manager::telemetry::trackers(&metrics, &LlmConfig::default()).unwrap();
    let mut config = StorageConfig::default();
    config.path = path.to_owned();
    let storage = Storage::open(&config, telemetry).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let now = i64::try_from(now).unwrap();
    let description: Arc<str> = "x".repeat(16 * 1024).into();
    for start in (0..n).step_by(1000) {
        let description = Arc::clone(&description);
        storage
            .write(move |tx| {
                for i in start..(start + 1000).min(n) {
                    tx.insert(&incident(i, now, &description))?;
                }
                Ok(())
            })
            .await
            .unwrap();
    }
    storage.close();
    now
}

async fn timed_get(url: &str) -> (Duration, serde_json::Value) {
    let started = Instant::now();
    let (status, body) = get_json(url).await;
    let took = started.elapsed();
    assert_eq!(status, http::StatusCode::OK, "{body}");
    (took, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_store_pages_lists_bounds_memory_and_keeps_health_fast() {
    let n = count();
    let dir = incident_metrics_testing::scratch_dir("lim-large");
    let db = dir.join("incidents.db");
    let filling = Instant::now();
    let now = fill(&db, n).await;
    eprintln!("filled {n} incidents in {:?}", filling.elapsed());

    let toml = format!(
        "playbooks = []\n[storage]\npath = {:?}\n[notifications]\nchannels = []\n\
         [incidents.escalation]\ncheck_interval_ms = 200\ndelays_ms = [1000]\n\
         severities = [\"critical\"]\n",
        db.display().to_string()
    );
    let starting = Instant::now();
    let app = start(config(&toml)).await;
    let started = starting.elapsed();
    eprintln!("started on {n} incidents in {started:?}");
    assert!(
        started < Duration::from_secs(30),
        "start-up took {started:?}"
    );
    let base = base(&app);
    let text = scrape(app.http_addr()).await;
    assert_eq!(
        value(
            &text,
            "llm_incident_manager_incidents_active{severity=\"critical\"}"
        ),
        n as f64
    );

    // The first page, and the last (keyset: any position is one index
    // seek away; the token is `created.row` in hexadecimal).
    let (first_took, first) = timed_get(&format!("{base}/api/v1/incidents?limit=100")).await;
    assert_eq!(first["incidents"].as_array().unwrap().len(), 100);
    assert!(first["next_cursor"].is_string());
    let before_last = n - 100;
    let cursor = format!(
        "{:x}.{:x}",
        now - 3_600_000 + i64::try_from(before_last - 1).unwrap(),
        before_last
    );
    let (last_took, last) = timed_get(&format!(
        "{base}/api/v1/incidents?limit=100&cursor={cursor}"
    ))
    .await;
    let last_page = last["incidents"].as_array().unwrap();
    assert_eq!(last_page.len(), 100);
    assert_eq!(last_page[99]["id"], format!("large-{:06}", n - 1));
    assert!(last["next_cursor"].is_null());
    eprintln!("first page {first_took:?}, last page {last_took:?}");
    for took in [first_took, last_took] {
        assert!(took < Duration::from_secs(5), "a page took {took:?}");
    }

    // Twenty concurrent listers, five pages each, spread over the store.
    if let Some(before) = rss() {
        let peak = Arc::new(std::sync::atomic::AtomicU64::new(before));
        let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let sampler = {
            let (peak, sampling) = (peak.clone(), sampling.clone());
            tokio::spawn(async move {
                while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                    if let Some(now) = rss() {
                        peak.fetch_max(now, std::sync::atomic::Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        };
        let mut listers = Vec::new();
        for lister in 0..20 {
            let base = base.clone();
            listers.push(tokio::spawn(async move {
                let start = lister * (n / 20);
                let mut cursor = format!(
                    "{:x}.{:x}",
                    now - 3_600_000 + i64::try_from(start).unwrap() - 1,
                    start
                );
                for _ in 0..5 {
                    let (status, page) = get_json(&format!(
                        "{base}/api/v1/incidents?limit=100&cursor={cursor}"
                    ))
                    .await;
                    assert_eq!(status, http::StatusCode::OK);
                    match page["next_cursor"].as_str() {
                        Some(next) => cursor = next.to_owned(),
                        None => break,
                    }
                }
            }));
        }
        for lister in listers {
            lister.await.unwrap();
        }
        sampling.store(false, std::sync::atomic::Ordering::Relaxed);
        sampler.await.unwrap();
        let grew = peak
            .load(std::sync::atomic::Ordering::Relaxed)
            .saturating_sub(before);
        eprintln!(
            "20 listers x 5 pages: resident memory grew {} KiB",
            grew / 1024
        );
        assert!(grew < 50 * MIB, "resident memory grew {} KiB", grew / 1024);
    }

    // /health across escalation ticks that work through the open incidents
    // (500 a tick).
    let escalations = |text: &str| {
        value(
            text,
            "llm_incident_manager_incident_escalations_total{level=\"1\"}",
        )
    };
    let at_start = escalations(&scrape(app.http_addr()).await);
    let mut latencies = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        for _ in 0..50 {
            let started = Instant::now();
            let (status, _, _) =
                request(http::Method::GET, &format!("{base}/health"), None, &[]).await;
            latencies.push(started.elapsed());
            assert_eq!(status, http::StatusCode::OK);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let done = escalations(&scrape(app.http_addr()).await) - at_start;
        if done >= 1500.0 || Instant::now() > deadline {
            assert!(done >= 1000.0, "only {done} escalations in 20 s");
            break;
        }
    }
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100];
    eprintln!(
        "/health p99 {p99:?} over {} requests across the escalation ticks",
        latencies.len()
    );
    assert!(p99 < Duration::from_millis(100), "/health p99 {p99:?}");
    let stored = app.manager().get("large-000000").unwrap();
    assert_eq!(stored.status, Status::Open);
    assert_eq!(stored.escalation_level, 1);
    app.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
