//! A real Prometheus (the Debian package) scrapes the service, and the
//! spec's four PromQL examples return data through its query API.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;

/// The spec's example queries (with the contract's `llm_cost_usd_total`).
const QUERIES: &[&str] = &[
    "rate(llm_incident_manager_http_requests_total[5m])",
    "histogram_quantile(0.99, rate(llm_incident_manager_http_request_duration_seconds_bucket[5m]))",
    "llm_incident_manager_incidents_active",
    "rate(llm_incident_manager_llm_cost_usd_total[1h]) * 3600",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_and_the_spec_queries_return_data() {
    // Price the offline model so that the cost counter moves.
    let app = start(config(
        "[llm.prices.offline-keywords-v1]\ninput_per_million = 1.0\noutput_per_million = 2.0\n",
    ))
    .await;

    let Some(prometheus) = Prometheus::scraping("lim-prometheus", app.http_addr(), &[]) else {
        return;
    };

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
            if prometheus.results(q).await.is_empty() {
                still.push(q);
            }
        }
        missing = still;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The target is up, scraped with OpenMetrics negotiation by default.
    let up = prometheus.results("up{job=\"llm-incident-manager\"}").await;
    assert_eq!(up[0]["value"][1], "1");
    let cost = prometheus
        .results("llm_incident_manager_llm_cost_usd_total")
        .await;
    let cost: f64 = cost[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(cost > 0.0);
    app.shutdown().await.unwrap();
}
