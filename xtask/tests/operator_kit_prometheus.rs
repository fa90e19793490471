//! A real Prometheus (the Debian package) runs the kit's `prometheus.yml`
//! (pointed at the service, every second) with the kit's rule files while
//! the LLM Incident Manager takes REST and gRPC traffic: every Grafana panel
//! query returns data through the query API, every rule evaluates without
//! error, and the counts are exact.
//!
//! Every panel can return data here: the service runs with a provider
//! chain of a local OpenAI-compatible stub, which streams (time to first
//! token, inter-token latency) with finish reasons, cached tokens and
//! rate-limit headers under a budget, and fails one call in four (LLM
//! errors, a fallback to the offline provider, which comes next), and a
//! webhook receiver that always fails (notification failures,
//! `errors_total`); each round posts one firing and one resolved alert to
//! the Alertmanager webhook (the On-call row).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod support;

use std::time::{Duration, Instant};

use common::dashboard;
use support::*;
use xtask::kit;

#[test]
fn prometheus_scrapes_the_service_and_every_panel_returns_data() {
    let Some(prometheus) =
        incident_metrics_testing::program("prometheus", "apt-get install -y prometheus")
    else {
        return;
    };
    let service = Service::start();
    let dir = scratch("prometheus");
    let config = dir.join("prometheus.yml");
    std::fs::write(&config, kit_config(service.http_addr())).unwrap();
    let addr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let args = vec![
        format!("--config.file={}", config.display()),
        format!("--storage.tsdb.path={}", dir.join("data").display()),
        format!("--web.listen-address={addr}"),
    ];
    let mut prometheus = Scraper::spawn(&prometheus, &args, dir, addr);
    prometheus.wait_ready("/-/ready");

    // Traffic while Prometheus scrapes, until every panel has data (bounded).
    let mut pending: Vec<(String, String)> = kit::panels(&dashboard())
        .into_iter()
        .flat_map(|p| {
            let name = format!("{} / {}", p.row, p.title);
            p.exprs.into_iter().map(move |e| (name.clone(), e))
        })
        .collect();
    assert!(pending.len() > 40, "{} panel queries", pending.len());
    let limit = Duration::from_secs(180);
    let deadline = Instant::now() + limit;
    let mut rounds = 0;
    loop {
        service.round(rounds);
        rounds += 1;
        pending.retain(|(_, expr)| prometheus.query(expr).is_empty());
        if pending.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no data within {limit:?} for these panel queries:\n{}\n--- prometheus log ---\n{}",
            pending
                .iter()
                .map(|(panel, expr)| format!("{panel}: {expr}"))
                .collect::<Vec<_>>()
                .join("\n"),
            prometheus.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // The target is up and the counts are exact.
    let up = format!("up{{job=\"{JOB}\"}}");
    assert_eq!(prometheus.value(&up), Some(1.0));
    for (query, want) in Service::expected_counts(rounds) {
        eventually(
            Duration::from_secs(30),
            &format!("`{query}` did not reach {want}"),
            || (prometheus.value(&query) == Some(want)).then_some(()),
            || format!("{:?}", prometheus.query(&query)),
        );
    }

    // Every rule of both files is loaded and evaluates without error.
    let rules = prometheus.get_json("/api/v1/rules");
    let groups = rules["data"]["groups"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let all: Vec<&serde_json::Value> = groups
        .iter()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .collect();
    let declared = kit::rules(&common::read(kit::RECORDING_RULES)).len()
        + kit::rules(&common::read(kit::ALERT_RULES)).len();
    assert_eq!(all.len(), declared, "{rules}");
    for rule in all {
        assert_eq!(rule["health"], "ok", "{rule}");
    }
}
