//! Exemplars over a real tonic server and client: with `exemplars = true`, a
//! call whose metadata carries a valid, sampled W3C `traceparent` leaves its
//! trace on `grpc_requests_total` and on its duration bucket (and, on the
//! client side, on `grpc_client_requests_total`); an unsampled one, or
//! exemplars off, leaves none.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use incident_metrics_core::MetricsConfig;
use incident_metrics_grpc_testproto::TestEcho;
use incident_metrics_grpc_testproto::echo::EchoRequest;
use incident_metrics_grpc_testproto::echo::echo_server::EchoServer;

const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const SPAN: &str = "b7ad6b7169203331";

async fn harness(config: &MetricsConfig) -> Harness {
    let mut routes = tonic::service::RoutesBuilder::default();
    routes.add_service(EchoServer::new(TestEcho));
    Harness::start_configured(config, routes.routes()).await
}

async fn call(h: &Harness, traceparent: Option<&str>) {
    let mut client = h.client().await;
    let mut request = tonic::Request::new(EchoRequest {
        text: "hello".into(),
        count: 0,
    });
    if let Some(value) = traceparent {
        request
            .metadata_mut()
            .insert("traceparent", value.parse().unwrap());
    }
    client.unary(request).await.unwrap();
}

/// The sample lines of `text` that carry our trace.
fn traced(text: &str) -> Vec<String> {
    let marker = format!(" # {{trace_id=\"{TRACE}\",span_id=\"{SPAN}\"}} ");
    text.lines()
        .filter(|l| l.contains(&marker))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sampled_traceparent_marks_the_count_and_the_duration_on_both_sides() {
    let h = harness(&MetricsConfig::new().with_exemplars(true)).await;
    call(&h, Some(&format!("00-{TRACE}-{SPAN}-01"))).await;
    let labels = status("Unary", "OK");
    h.wait_for("grpc_requests_total", &labels, 1.0).await;
    h.wait_for("grpc_client_requests_total", &labels, 1.0).await;
    let text = h.text();
    let lines = traced(&text);
    let starts = |prefix: &str| lines.iter().filter(|l| l.starts_with(prefix)).count();
    assert_eq!(
        starts(&format!(
            "llm_incident_manager_grpc_requests_total{{{labels}}} 1 # "
        )),
        1,
        "{text}"
    );
    assert_eq!(
        starts(&format!(
            "llm_incident_manager_grpc_client_requests_total{{{labels}}} 1 # "
        )),
        1,
        "{text}"
    );
    assert_eq!(
        starts("llm_incident_manager_grpc_request_duration_seconds_bucket{"),
        1,
        "{text}"
    );
    assert_eq!(
        starts("llm_incident_manager_grpc_client_request_duration_seconds_bucket{"),
        1,
        "{text}"
    );
    assert_eq!(lines.len(), 4, "{text}");
    assert!(!h.prometheus_text().contains("trace_id"));
    if let Some(parsed) = incident_metrics_testing::parse_openmetrics(&text) {
        let exemplars = parsed
            .samples
            .iter()
            .filter_map(|s| s.exemplar.as_ref())
            .filter(|e| e.labels["trace_id"] == TRACE)
            .count();
        assert_eq!(exemplars, 4);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsampled_calls_and_exemplars_off_leave_none() {
    let on = harness(&MetricsConfig::new().with_exemplars(true)).await;
    call(&on, Some(&format!("00-{TRACE}-{SPAN}-00"))).await;
    call(&on, None).await;
    on.wait_for("grpc_requests_total", &status("Unary", "OK"), 2.0)
        .await;
    assert!(traced(&on.text()).is_empty(), "{}", on.text());

    let off = harness(&MetricsConfig::new()).await;
    call(&off, Some(&format!("00-{TRACE}-{SPAN}-01"))).await;
    off.wait_for("grpc_requests_total", &status("Unary", "OK"), 1.0)
        .await;
    assert!(!off.text().contains("trace_id"), "{}", off.text());
}
