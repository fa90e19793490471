//! Exemplars end to end: the service started with `[metrics] exemplars =
//! true`, a real Prometheus (the Debian package, 2.42) started with
//! `--enable-feature=exemplar-storage` scraping it, and REST and gRPC
//! requests carrying a known sampled W3C `traceparent`. Prometheus's
//! `/api/v1/query_exemplars` then returns that trace id on the HTTP duration
//! histogram, the HTTP request counter, the gRPC duration histogram and the
//! gRPC request counter.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use http::{Method, StatusCode};
use incident_metrics_testing::percent_encode;
use llm_incident_manager::grpc::pb;
use serde_json::Value;

const TRACE_ID: &str = "5b8efff798038103d269b633813fc60c";
const SPAN_ID: &str = "eee19b7ec3c1b174";

/// The families whose exemplars Prometheus must return, each with the trace.
const FAMILIES: &[&str] = &[
    "llm_incident_manager_http_request_duration_seconds_bucket",
    "llm_incident_manager_http_requests_total",
    "llm_incident_manager_grpc_request_duration_seconds_bucket",
    "llm_incident_manager_grpc_requests_total",
];

/// The trace ids Prometheus holds as exemplars of the series of `family`.
async fn exemplar_trace_ids(prometheus: &str, family: &str) -> Vec<String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let url = format!(
        "http://{prometheus}/api/v1/query_exemplars?query={}&start={}&end={}",
        percent_encode(family),
        now - 3600,
        now + 60
    );
    let Some((status, body)) = try_get(&url).await else {
        return Vec::new();
    };
    if status != StatusCode::OK {
        return Vec::new();
    }
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    value["data"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|series| series["exemplars"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| Some(e["labels"]["trace_id"].as_str()?.to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_stores_the_exemplars_of_traced_requests() {
    let app = start(config("[metrics]\nexemplars = true\n")).await;

    let Some(prometheus) = Prometheus::scraping(
        "lim-prometheus-exemplars",
        app.http_addr(),
        &["--enable-feature=exemplar-storage"],
    ) else {
        return;
    };

    let traceparent = format!("00-{TRACE_ID}-{SPAN_ID}-01");
    let mut grpc = grpc_client(app.grpc_addr()).await;
    let list_url = format!("{}/api/v1/incidents", base(&app));

    // Traced traffic while Prometheus scrapes, until every family's
    // exemplars hold the trace (bounded).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let mut missing: Vec<&str> = FAMILIES.to_vec();
    while !missing.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no exemplar with trace id {TRACE_ID} for {missing:?} within 90 s"
        );
        let (status, _, _) = request(
            Method::GET,
            &list_url,
            None,
            &[("traceparent", traceparent.as_str())],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let mut call = tonic::Request::new(pb::ListIncidentsRequest::default());
        call.metadata_mut()
            .insert("traceparent", traceparent.parse().unwrap());
        grpc.list_incidents(call).await.unwrap();

        let mut still = Vec::new();
        for family in missing {
            let ids = exemplar_trace_ids(&prometheus.addr(), family).await;
            if !ids.iter().any(|id| id == TRACE_ID) {
                still.push(family);
            }
        }
        missing = still;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Scraping with exemplars did not break the target.
    let up = prometheus.results("up{job=\"llm-incident-manager\"}").await;
    assert_eq!(up[0]["value"][1], "1", "{up:?}");
    app.shutdown().await.unwrap();
}
