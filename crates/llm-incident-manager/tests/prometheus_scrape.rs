//! A real Prometheus (the Debian package) scrapes the service, and the
//! spec's four PromQL examples return data through its query API.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use http::StatusCode;
use serde_json::Value;

/// The spec's example queries (with the contract's `llm_cost_usd_total`).
const QUERIES: &[&str] = &[
    "rate(llm_incident_manager_http_requests_total[5m])",
    "histogram_quantile(0.99, rate(llm_incident_manager_http_request_duration_seconds_bucket[5m]))",
    "llm_incident_manager_incidents_active",
    "rate(llm_incident_manager_llm_cost_usd_total[1h]) * 3600",
];

/// Kills Prometheus and removes its directory when the test ends.
struct Prometheus {
    child: Child,
    dir: std::path::PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

use incident_metrics_testing::{free_port, percent_encode as encode};

async fn query(prometheus: &str, q: &str) -> Vec<Value> {
    let url = format!("http://{prometheus}/api/v1/query?query={}", encode(q));
    let Some((status, body)) = try_get(&url).await else {
        return Vec::new();
    };
    if status != StatusCode::OK {
        return Vec::new();
    }
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    value["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_and_the_spec_queries_return_data() {
    let Some(binary) =
        incident_metrics_testing::program("prometheus", "apt-get install -y prometheus")
    else {
        return;
    };
    // Price the offline model so that the cost counter moves.
    let app = start(config(
        "[llm.prices.offline-keywords-v1]\ninput_per_million = 1.0\noutput_per_million = 2.0\n",
    ))
    .await;

    let dir = incident_metrics_testing::scratch_dir("lim-prometheus");
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let config_file = dir.join("prometheus.yml");
    std::fs::write(
        &config_file,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: llm-incident-manager\n    metrics_path: /metrics\n\
             \x20   static_configs:\n      - targets: ['{}']\n",
            app.http_addr()
        ),
    )
    .unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let child = Command::new(binary)
        .arg(format!("--config.file={}", config_file.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={listen}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _prometheus = Prometheus { child, dir };

    // Traffic while Prometheus scrapes, until every query has data (bounded).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let mut n = 0;
    let mut missing: Vec<&str> = QUERIES.to_vec();
    while !missing.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no data for {missing:?} within 90 s"
        );
        create(&app, &format!("scraped {n}"), "high", &format!("src-{n}")).await;
        n += 1;
        let mut still = Vec::new();
        for q in missing {
            if query(&listen, q).await.is_empty() {
                still.push(q);
            }
        }
        missing = still;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The target is up, scraped with OpenMetrics negotiation by default.
    let up = query(&listen, "up{job=\"llm-incident-manager\"}").await;
    assert_eq!(up[0]["value"][1], "1");
    let cost = query(&listen, "llm_incident_manager_llm_cost_usd_total").await;
    let cost: f64 = cost[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(cost > 0.0);
    app.shutdown().await.unwrap();
}
