//! Records into every metric family of the LLM Incident Manager and prints
//! the exposition, in Prometheus text (the default) or, with `--openmetrics`,
//! in OpenMetrics text.
//!
//! ```sh
//! cargo run --example metrics_example
//! cargo run --example metrics_example -- --openmetrics
//! ```
#![allow(clippy::print_stdout)] // printing the exposition is the point

use std::time::Instant;

use incident_metrics::base::SharedStr;
use incident_metrics::catalog::errors::ErrorLabels;
use incident_metrics::catalog::grpc::{GrpcCode, GrpcMethodLabels, GrpcRequestLabels};
use incident_metrics::catalog::http::{HttpRequestLabels, HttpRouteLabels, HttpStatus, Method};
use incident_metrics::catalog::incident::{EscalationLevel, IncidentStatus, Severity};
use incident_metrics::catalog::llm::{
    LlmModelLabels, LlmOperation, LlmRequestLabels, LlmTokenLabels, TokenType,
};
use incident_metrics::catalog::notification::{
    ChannelLabels, NotificationLabels, NotificationStatus,
};
use incident_metrics::catalog::playbook::{PlaybookLabels, PlaybookNameLabels, PlaybookStatus};
use incident_metrics::catalog::storage::{BackendLabels, StorageLabels, StorageOperation};
use incident_metrics::exporter::{Format, render};
use incident_metrics::{MetricsConfig, MetricsRegistry};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let format = if std::env::args().any(|a| a == "--openmetrics") {
        Format::OpenMetrics
    } else {
        Format::Prometheus
    };
    let config = MetricsConfig::from_env()?.with_global_label("env", "example");
    let registry = MetricsRegistry::new(&config)?;
    let m = registry.metrics();

    // An HTTP request to a templated route: resolve the label set once, keep the handles.
    let route = HttpRouteLabels {
        method: Method::Post,
        path: SharedStr::from_static("/api/v1/incidents"),
    };
    let started = Instant::now();
    m.http.connections_active.inc();
    m.http.request_size.get_or_create(&route).observe(312.0);
    m.http
        .requests
        .get_or_create(&HttpRequestLabels {
            method: route.method,
            path: route.path.clone(),
            status: HttpStatus::code(201),
        })
        .inc();
    m.http.response_size.get_or_create(&route).observe(845.0);
    m.http
        .request_duration
        .get_or_create(&route)
        .observe(started.elapsed().as_secs_f64());
    m.http.connections_active.dec();

    // A gRPC call.
    let method = GrpcMethodLabels {
        service: SharedStr::from_static("incident.v1.IncidentService"),
        method: SharedStr::from_static("GetIncident"),
    };
    m.grpc.requests_started.get_or_create(&method).inc();
    m.grpc.messages_received.get_or_create(&method).inc();
    m.grpc
        .requests
        .get_or_create(&GrpcRequestLabels {
            service: method.service.clone(),
            method: method.method.clone(),
            status: GrpcCode::NotFound,
        })
        .inc();
    m.grpc
        .request_duration
        .get_or_create(&method)
        .observe(0.0021);

    // An incident: created, classified by an LLM, stored, notified, a playbook run.
    let severity = Severity::Critical;
    m.incidents.incidents(severity, IncidentStatus::Open).inc();
    m.incidents.active(severity).inc();
    m.incidents.processing_duration(severity).observe(0.042);
    m.incidents.correlated.inc();
    m.incidents.escalations(EscalationLevel::L1).inc();

    let (provider, model) = (
        SharedStr::from_static("openai"),
        SharedStr::from_static("gpt-4o"),
    );
    let call = LlmRequestLabels {
        provider: provider.clone(),
        model: model.clone(),
        operation: LlmOperation::Classification,
    };
    m.llm.requests.get_or_create(&call).inc();
    m.llm.request_duration.get_or_create(&call).observe(0.84);
    for (kind, tokens) in [(TokenType::Input, 412_u64), (TokenType::Output, 37)] {
        let labels = LlmTokenLabels {
            provider: provider.clone(),
            model: model.clone(),
            r#type: kind,
        };
        m.llm.tokens.get_or_create(&labels).inc_by(tokens);
        #[allow(clippy::cast_precision_loss)] // token counts are far below 2^52
        m.llm
            .tokens_per_request
            .get_or_create(&labels)
            .observe(tokens as f64);
    }
    let per_model = LlmModelLabels { provider, model };
    // 412 input tokens at $2.50/M plus 37 output tokens at $10.00/M.
    m.llm
        .cost_usd
        .get_or_create(&per_model)
        .inc_by(0.00103 + 0.00037);
    m.llm
        .time_to_first_token
        .get_or_create(&per_model)
        .observe(0.31);

    let backend = SharedStr::from_static("sqlite");
    let insert = StorageLabels {
        operation: StorageOperation::Insert,
        backend: backend.clone(),
    };
    m.storage.operations.get_or_create(&insert).inc();
    m.storage
        .operation_duration
        .get_or_create(&insert)
        .observe(0.0004);
    m.storage
        .size_bytes
        .get_or_create(&BackendLabels { backend })
        .set(24_576);

    let channel = SharedStr::from_static("webhook");
    m.notifications
        .notifications
        .get_or_create(&NotificationLabels {
            channel: channel.clone(),
            status: NotificationStatus::Sent,
        })
        .inc();
    m.notifications
        .delivery_duration
        .get_or_create(&ChannelLabels {
            channel: channel.clone(),
        })
        .observe(0.12);
    m.notifications
        .queue_size
        .get_or_create(&ChannelLabels { channel })
        .set(0);

    let playbook = SharedStr::from_static("restart-gateway");
    m.playbooks.active.inc();
    m.playbooks
        .executions
        .get_or_create(&PlaybookLabels {
            playbook: playbook.clone(),
            status: PlaybookStatus::Success,
        })
        .inc();
    m.playbooks
        .execution_duration
        .get_or_create(&PlaybookNameLabels { playbook })
        .observe(3.2);
    m.playbooks.active.dec();

    m.errors
        .errors
        .get_or_create(&ErrorLabels {
            component: SharedStr::from_static("notifications"),
            error_type: SharedStr::from_static("timeout"),
        })
        .inc();

    print!("{}", render(registry.registry(), format)?);
    Ok(())
}
