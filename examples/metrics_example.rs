//! Records into every metric family of the LLM Incident Manager through the
//! toolkit's public API, the way a service does, and prints the exposition:
//! Prometheus text by default, OpenMetrics text with `--openmetrics`.
//!
//! ```sh
//! cargo run --example metrics_example
//! cargo run --example metrics_example -- --openmetrics
//! ```
#![allow(clippy::print_stdout)] // printing the exposition is the point

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::routing::{get, post};
use incident_metrics::catalog::grpc::GrpcCode;
use incident_metrics::catalog::incident::Severity;
use incident_metrics::catalog::storage::StorageOperation;
use incident_metrics::exporter::Format;
use incident_metrics::grpc::GrpcRequestMetrics;
use incident_metrics::{Metrics, MetricsConfig};
use tower::ServiceExt;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let format = if std::env::args().any(|a| a == "--openmetrics") {
        Format::OpenMetrics
    } else {
        Format::Prometheus
    };

    // One handle with every family and the trackers, built once at start-up.
    let config = MetricsConfig::from_env()?.with_global_label("env", "example");
    let metrics = Metrics::new(config)?;
    let trackers = metrics.trackers();

    // HTTP: the finished router, with `/metrics` merged in and the layer
    // around all of it (last: axum's `Router::layer` wraps only what exists
    // when it is called), records every request by route template, and
    // unmatched ones under `unmatched`.
    let routes = Router::new()
        .route("/api/v1/incidents", post(|| async { "created" }))
        .route("/api/v1/incidents/{id}", get(|| async { "incident" }));
    let app = metrics.instrument(routes);
    for (method, uri) in [
        ("POST", "/api/v1/incidents"),
        ("GET", "/api/v1/incidents/3f9c"),
        ("GET", "/api/v1/incidents/7a01"),
        ("GET", "/no/such/route"),
        ("GET", "/metrics"), // served, and left out of the counts
    ] {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())?;
        let response = app.clone().oneshot(request).await?;
        // Reading the body to its end finishes the request's record.
        axum::body::to_bytes(response.into_body(), usize::MAX).await?;
    }

    // gRPC outside tower: the manual guard (the tower layer does this for tonic).
    let grpc = GrpcRequestMetrics::server(metrics.catalog());
    grpc.start_request("incident.v1.IncidentService", "CreateIncident")
        .success();
    grpc.start_request("incident.v1.IncidentService", "GetIncident")
        .error(GrpcCode::NotFound);

    // An incident: opened, stored, classified by an LLM, notified, a playbook run.
    let processing = trackers.incidents.start(Severity::Critical);
    let open = trackers.incidents.opened(Severity::Critical);
    trackers.incidents.correlated();
    trackers.incidents.escalated(1);

    let store = trackers.storage.start(StorageOperation::Insert, "sqlite");
    store.success();
    trackers.storage.size("sqlite").set(24_576);

    let mut call = trackers.llm.start("openai", "gpt-4o", "classification");
    call.first_token();
    call.success(412, 37); // cost from the price table

    let notification = trackers.notifications.start("webhook");
    notification.retried();
    notification.sent();
    trackers.notifications.queue_size("webhook").set(0);

    trackers.playbooks.start("restart-gateway").success();
    trackers.errors.record("notifications", "timeout");

    processing.success("open");
    open.resolve();

    print!("{}", metrics.render(format)?);
    Ok(())
}
