//! The real binary on a real file store, killed with SIGKILL at random
//! moments under load and started again on the same file: no answered
//! incident is lost, links stay symmetric, every incident's `created` page
//! reaches the webhook (duplicates only for deliveries a kill cut), and the
//! gauges are rebuilt from the store. Also: a file that is not a store
//! stops start-up with exit status 1 and is left alone; an in-memory store
//! says so; the last line of a stop counts the pending work.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::cast_precision_loss
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use common::*;
use llm_incident_manager::grpc::pb;
use serde_json::{Value, json};

/// How many times the service is killed.
const KILLS: usize = 5;
/// Deliveries of one channel in flight at once (the config below).
const IN_FLIGHT: usize = 4;

/// A small xorshift generator: the kill moments, from a seed the test
/// prints (set `CRASH_SEED` to replay one).
struct Rng(u64);

impl Rng {
    fn new() -> Self {
        let seed = std::env::var("CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        println!("CRASH_SEED={seed}");
        Self(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Starts the binary on `db` with `config_file`; its REST and gRPC
/// addresses.
fn start_binary(db: &Path, config_file: &Path) -> (ChildGuard, SocketAddr, SocketAddr) {
    let (guard, lines) = spawn_binary(
        &[
            "--http-addr",
            "127.0.0.1:0",
            "--grpc-addr",
            "127.0.0.1:0",
            "--db",
            db.to_str().unwrap(),
            "--config",
            config_file.to_str().unwrap(),
        ],
        &[],
        2,
    );
    (
        guard,
        listening(&lines[0], "http"),
        listening(&lines[1], "grpc"),
    )
}

/// Creates incidents over REST and gRPC as fast as they are answered until
/// `stop`; the ids answered `201` / `OK`.
async fn load(
    http: SocketAddr,
    grpc: SocketAddr,
    round: usize,
    stop: Arc<AtomicBool>,
) -> Vec<String> {
    let answered = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for worker in 0..3 {
        let (answered, stop) = (answered.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let client = client();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                // Two sources per worker: correlation links are made too.
                let body = json!({
                    "title": format!("rest r{round} w{worker} n{n}"),
                    "severity": if n % 2 == 0 { "critical" } else { "low" },
                    "source": format!("rest-{round}-{}", n % 2),
                });
                let request = http::Request::post(format!("http://{http}/api/v1/incidents"))
                    .header("content-type", "application/json")
                    .body(http_body_util::Full::new(bytes::Bytes::from(
                        body.to_string(),
                    )))
                    .unwrap();
                let Ok(Ok(response)) =
                    tokio::time::timeout(Duration::from_secs(5), client.request(request)).await
                else {
                    break; // killed
                };
                if response.status() != StatusCode::CREATED {
                    continue;
                }
                let Ok(body) = http_body_util::BodyExt::collect(response.into_body()).await else {
                    break;
                };
                let value: Value = serde_json::from_slice(&body.to_bytes()).unwrap();
                answered
                    .lock()
                    .unwrap()
                    .push(value["id"].as_str().unwrap().to_owned());
            }
        }));
    }
    {
        let (answered, stop) = (answered.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut client = grpc_client(grpc).await;
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let request = pb::CreateIncidentRequest {
                    title: format!("grpc r{round} n{n}"),
                    description: String::new(),
                    severity: pb::Severity::High.into(),
                    source: format!("grpc-{round}"),
                    fingerprint: String::new(),
                };
                match tokio::time::timeout(Duration::from_secs(5), client.create_incident(request))
                    .await
                {
                    Ok(Ok(answer)) => {
                        let incident = answer.into_inner().incident.unwrap();
                        answered.lock().unwrap().push(incident.id);
                    }
                    _ => break, // killed
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    answered.lock().unwrap().clone()
}

/// Every stored incident, through the REST list's pages.
async fn stored(http: SocketAddr) -> Vec<Value> {
    let mut all = Vec::new();
    let mut url = format!("http://{http}/api/v1/incidents?limit=1000");
    loop {
        let (status, page) = get_json(&url).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        all.extend(page["incidents"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => url = format!("http://{http}/api/v1/incidents?limit=1000&cursor={c}"),
            None => return all,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_incident_and_no_page() {
    let seen = Seen::default();
    let (hooks, _receiver) = serve_stub(recorder(&seen, &["/hook", "/step"])).await;
    let dir = incident_metrics_testing::scratch_dir("lim-crash");
    let db = dir.join("data").join("incidents.db");
    let config_file = dir.join("config.toml");
    std::fs::write(
        &config_file,
        format!(
            r#"
            [notifications]
            channels = ["webhook"]
            max_in_flight = {IN_FLIGHT}
            [notifications.webhook]
            url = "http://{hooks}/hook"
            max_attempts = 20
            initial_backoff_ms = 20

            [[playbooks]]
            name = "page"
            severities = ["critical", "high"]
            steps = [
                {{ type = "annotate", note = "paged" }},
                {{ type = "wait", ms = 30 }},
                {{ type = "http", url = "http://{hooks}/step" }},
            ]
            "#
        ),
    )
    .unwrap();

    let mut rng = Rng::new();
    let mut answered: BTreeSet<String> = BTreeSet::new();
    for round in 0..KILLS {
        let (mut guard, http, grpc) = start_binary(&db, &config_file);
        let stop = Arc::new(AtomicBool::new(false));
        let loader = tokio::spawn(load(http, grpc, round, stop.clone()));
        // A random moment under load: 150 ms to 1.2 s.
        tokio::time::sleep(Duration::from_millis(150 + rng.below(1050))).await;
        // SIGKILL, by the child's pid.
        guard.0.kill().unwrap();
        guard.0.wait().unwrap();
        stop.store(true, Ordering::Relaxed);
        let ids = tokio::time::timeout(Duration::from_secs(20), loader)
            .await
            .expect("the load did not stop")
            .unwrap();
        assert!(!ids.is_empty(), "round {round} created nothing");
        answered.extend(ids);
    }

    // The last start: let it carry out what it owes.
    let (_guard, http, _grpc) = start_binary(&db, &config_file);
    let deadline = Instant::now() + Duration::from_secs(60);
    let (incidents, text) = loop {
        let incidents = stored(http).await;
        let text = scrape(http).await;
        let queued = value(
            &text,
            "llm_incident_manager_notification_queue_size{channel=\"webhook\"}",
        );
        let pending = value(&text, "llm_incident_manager_playbooks_pending");
        let pages: BTreeSet<String> = seen
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|(path, key, _)| path == "/hook" && key.ends_with(":created:webhook"))
            .map(|(_, key, _)| key.clone())
            .collect();
        if queued == 0.0 && pending == 0.0 && pages.len() >= incidents.len() {
            break (incidents, text);
        }
        assert!(
            Instant::now() < deadline,
            "the outbox did not drain: {queued} notifications, {pending} playbooks queued; \
             {} of {} pages delivered",
            pages.len(),
            incidents.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // 1. Zero lost: every answered incident is stored.
    let by_id: BTreeMap<String, &Value> = incidents
        .iter()
        .map(|i| (i["id"].as_str().unwrap().to_owned(), i))
        .collect();
    let lost: Vec<&String> = answered
        .iter()
        .filter(|id| !by_id.contains_key(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} answered incidents lost: {lost:?}",
        lost.len()
    );

    // 2. Links are symmetric.
    for (id, incident) in &by_id {
        for other in incident["correlated_ids"].as_array().unwrap() {
            let other = other.as_str().unwrap();
            let back = by_id
                .get(other)
                .unwrap_or_else(|| panic!("{id} links to {other}, which is not stored"));
            assert!(
                back["correlated_ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|v| v == id.as_str()),
                "{id} links to {other} but not back"
            );
        }
    }

    // 3. Every stored incident's `created` page reached the webhook, with
    // one key per incident; repeats only for deliveries a kill cut.
    let all = seen.0.lock().unwrap().clone();
    let created: Vec<&String> = all
        .iter()
        .filter(|(path, key, _)| path == "/hook" && key.ends_with(":created:webhook"))
        .map(|(_, key, _)| key)
        .collect();
    let keys: BTreeSet<&String> = created.iter().copied().collect();
    let want: BTreeSet<String> = by_id
        .keys()
        .map(|id| format!("{id}:created:webhook"))
        .collect();
    let missing: Vec<&String> = want.iter().filter(|k| !keys.contains(k)).collect();
    assert!(
        missing.is_empty(),
        "{} pages never sent: {missing:?}",
        missing.len()
    );
    assert_eq!(
        keys.len(),
        by_id.len(),
        "pages for incidents that are not stored"
    );
    let repeats = created.len() - keys.len();
    assert!(
        repeats <= KILLS * IN_FLIGHT,
        "{repeats} repeated deliveries for {KILLS} kills"
    );
    // Every critical and high incident's playbook ran its http step.
    let paged: BTreeSet<String> = all
        .iter()
        .filter(|(path, _, _)| path == "/step")
        .map(|(_, _, body)| body["id"].as_str().unwrap().to_owned())
        .collect();
    for (id, incident) in &by_id {
        if incident["severity"] == "critical" || incident["severity"] == "high" {
            assert!(
                paged.contains(id),
                "the playbook of {id} never ran its http step"
            );
        }
    }

    // 4. The gauges were rebuilt from the store.
    let active: f64 = ["critical", "high", "medium", "low", "info"]
        .iter()
        .map(|s| {
            value(
                &text,
                &format!("llm_incident_manager_incidents_active{{severity=\"{s}\"}}"),
            )
        })
        .sum();
    let open = incidents
        .iter()
        .filter(|i| i["status"] != "resolved")
        .count();
    assert_eq!(active, open as f64);
    println!(
        "{} incidents answered, {} stored, {} pages sent ({repeats} repeated) across {KILLS} kills",
        answered.len(),
        incidents.len(),
        created.len()
    );
}

#[test]
fn a_file_that_is_not_a_store_stops_start_up_and_is_left_alone() {
    let dir = incident_metrics_testing::scratch_dir("lim-bad-store");
    let db = dir.join("notes.db");
    let text = b"meeting notes, not a database\n".repeat(100);
    std::fs::write(&db, &text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_llm-incident-manager"))
        .current_dir(&dir)
        .args([
            "--http-addr",
            "127.0.0.1:0",
            "--grpc-addr",
            "127.0.0.1:0",
            "--db",
        ])
        .arg(&db)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the service did not stop on a bad store");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(1));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("notes.db"), "{stderr}");
    assert!(
        stderr.contains("not an llm-incident-manager store"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(std::fs::read(&db).unwrap(), text);
}

/// Starts the binary with `args`, stderr piped; the REST address and the
/// stderr lines as they come.
fn start_with_stderr(args: &[&str]) -> (ChildGuard, SocketAddr, std::sync::mpsc::Receiver<String>) {
    let dir = incident_metrics_testing::scratch_dir("lim-stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_llm-incident-manager"))
        .current_dir(&dir)
        .args(["--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let guard = ChildGuard(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut stdout = BufReader::new(stdout);
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    // Keep reading: a closed stdout would fail the service's next line.
    std::thread::spawn(move || for _ in stdout.lines() {});
    (guard, listening(first.trim_end(), "http"), rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_store_warns_and_a_stop_counts_what_stays_pending() {
    let (guard, _http, lines) = start_with_stderr(&["--db", ":memory:"]);
    let first = lines.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(first.starts_with("warning:"), "{first}");
    assert!(first.contains("in memory"), "{first}");
    drop(guard);

    // On a file store, a webhook that never answers keeps the page
    // pending across the stop; the last line says so.
    let hang = Router::new().route(
        "/hook",
        post(|| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::OK
        }),
    );
    let (hooks, _receiver) = serve_stub(hang).await;
    let dir = incident_metrics_testing::scratch_dir("lim-pending");
    let config_file = dir.join("config.toml");
    std::fs::write(
        &config_file,
        format!(
            "shutdown_timeout_ms = 500\nplaybooks = []\n[notifications]\nchannels = [\"webhook\"]\n\
             [notifications.webhook]\nurl = \"http://{hooks}/hook\"\ntimeout_ms = 60000\n"
        ),
    )
    .unwrap();
    let db = dir.join("incidents.db");
    let (mut guard, http, lines) = start_with_stderr(&[
        "--db",
        db.to_str().unwrap(),
        "--config",
        config_file.to_str().unwrap(),
    ]);
    for n in 0..3 {
        let body =
            json!({"title": format!("pending {n}"), "severity": "low", "source": format!("p{n}")});
        let (status, _) = post_json(
            &format!("http://{http}/api/v1/incidents"),
            &body.to_string(),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let status = Command::new("kill")
        .args(["-TERM", &guard.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(status) = guard.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(exit.code(), Some(0));
    // Every line, to the end of the stream (the process has exited).
    let mut all = Vec::new();
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(10)) {
        all.push(line);
    }
    let last = all.last().unwrap();
    assert!(
        last.starts_with("llm-incident-manager: stopped; pending in the outbox for the next start: 3 notifications"),
        "{all:?}"
    );
}
