//! The service's metrics-off mode (`[metrics] enabled = false`) that the
//! load generator (`tools/loadgen`) measures against: no `/metrics`, nothing
//! recorded; and its control, the same traffic recorded with metrics on.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use http::{Method, StatusCode};
use incident_metrics::base::prometheus_client::encoding::text::encode;
use incident_metrics_testing::exposition::{self, Line};
use llm_incident_manager::RunningApp;
use llm_incident_manager::grpc::pb;
use pb::incident_service_client::IncidentServiceClient;
use serde_json::Value;

/// The families that the REST and gRPC traffic below records into when
/// metrics are on.
const RECORDED: [&str; 9] = [
    "_http_requests_total",
    "_http_request_duration_seconds_count",
    "_grpc_requests_total",
    "_incidents_total",
    "_incidents_active",
    "_incidents_deduplicated_total",
    "_storage_operations_total",
    "_storage_size_bytes",
    "_llm_requests_total",
];

/// Every sample of the registry whose name ends with `suffix`: (line, value).
fn samples(text: &str, suffix: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter_map(|line| match exposition::parse_line(line).unwrap() {
            Line::Sample(s) if s.name.ends_with(suffix) => Some((line.to_owned(), s.value)),
            _ => None,
        })
        .collect()
}

/// Drives `app` over REST and gRPC (creates, a duplicate, get, list,
/// resolve), checks `/metrics`' status, and returns the registry rendered.
async fn traffic(app: &RunningApp, metrics_status: StatusCode) -> String {
    let body = r#"{"title":"disk full","severity":"low","source":"t","fingerprint":"f"}"#;
    let url = format!("{}/api/v1/incidents", base(app));
    let (status, created) = post_json(&url, body).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, dup) = post_json(&url, body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(dup["deduplicated"], Value::Bool(true));
    let id = created["id"].as_str().unwrap();
    let (status, _) = get_json(&format!("{url}/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = get_json(&format!("{url}?status=open")).await;
    assert_eq!(status, StatusCode::OK);

    let channel = tonic::transport::Channel::from_shared(format!("http://{}", app.grpc_addr()))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .unwrap();
    let mut client = IncidentServiceClient::new(channel);
    let incident = client
        .create_incident(pb::CreateIncidentRequest {
            title: "cpu hot".to_owned(),
            description: String::new(),
            severity: pb::Severity::Medium.into(),
            source: "g".to_owned(),
            fingerprint: "g".to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
        .incident
        .unwrap();
    client
        .resolve_incident(pb::ResolveIncidentRequest { id: incident.id })
        .await
        .unwrap();

    let (status, _, _) = request(Method::GET, &format!("{}/metrics", base(app)), None, &[]).await;
    assert_eq!(status, metrics_status);

    let mut text = String::new();
    encode(&mut text, app.registry().as_prometheus()).unwrap();
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_off_serves_no_metrics_and_records_nothing() {
    let app = start(config("[metrics]\nenabled = false")).await;
    let text = traffic(&app, StatusCode::NOT_FOUND).await;
    for family in RECORDED {
        for (line, value) in samples(&text, family) {
            assert_eq!(value, 0.0, "metrics off, yet recorded: {line}");
        }
    }
    // No request series was even created: the layers are not installed.
    // (The trackers' closed label sets are created at start, at 0.)
    for family in ["_http_requests_total", "_grpc_requests_total"] {
        assert_eq!(samples(&text, family), Vec::new(), "{family}");
    }
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_on_records_the_same_traffic() {
    // The control of the test above: the same traffic records into every
    // family it checks.
    let app = start(config("")).await;
    let text = traffic(&app, StatusCode::OK).await;
    for family in RECORDED {
        let found = samples(&text, family);
        assert!(
            found.iter().any(|(_, v)| *v > 0.0),
            "metrics on, nothing recorded in {family}: {found:?}"
        );
    }
    assert_eq!(
        samples(&text, "_incidents_deduplicated_total"),
        vec![(
            "llm_incident_manager_incidents_deduplicated_total 1".to_owned(),
            1.0
        )]
    );
    app.shutdown().await.unwrap();
}
