//! The one table of descriptions the metrics reference adds to the catalog:
//! which code records each family, and the domain of each label. Tests fail
//! when a family or a label of the catalog has no entry here, so that a new
//! family cannot go undocumented.

use incident_metrics_catalog::alert::AlertStatus;
use incident_metrics_catalog::grpc::GrpcCode;
use incident_metrics_catalog::http::Method;
use incident_metrics_catalog::incident::{
    EscalationLevel, IncidentSource, IncidentStatus, Severity,
};
use incident_metrics_catalog::llm::{
    FallbackOutcome, LlmErrorType, LlmFinishReason, LlmOperation, RateLimitKind, RequestTokenType,
    TokenType,
};
use incident_metrics_catalog::notification::NotificationStatus;
use incident_metrics_catalog::playbook::PlaybookStatus;
use incident_metrics_catalog::storage::StorageOperation;
use incident_metrics_core::LabelEnum;
use incident_metrics_trackers::TrackerConfig;

/// What code records a family.
#[derive(Clone, Copy, Debug)]
pub struct FamilyDoc {
    /// The family's `FamilySpec::name` (no namespace, unit or suffix).
    pub name: &'static str,
    /// The crate and type (and call) that record it.
    pub recorded_by: &'static str,
}

/// The values a label can take.
#[derive(Clone, Copy, Debug)]
pub enum Domain {
    /// A closed set: a [`LabelEnum`]'s values.
    Closed(fn() -> Vec<&'static str>),
    /// A free string from outside, passed through a `CardinalityLimiter`.
    Limited {
        /// What the value is.
        what: &'static str,
        /// The limiter's name, the `label` of `label_values_folded_total`.
        limiter: &'static str,
        /// The `TrackerConfig` field holding the cap.
        field: &'static str,
        /// The cap in a configuration.
        cap: fn(&TrackerConfig) -> usize,
    },
    /// A bounded set described in words.
    Described(&'static str),
}

/// The domain of a label on the families whose name starts with `scope`.
#[derive(Clone, Copy, Debug)]
pub struct LabelDoc {
    /// The label name.
    pub label: &'static str,
    /// A prefix of the family names the entry applies to (`""` for all).
    pub scope: &'static str,
    /// The values.
    pub domain: Domain,
}

fn values<E: LabelEnum>() -> Vec<&'static str> {
    E::ALL.iter().map(|v| v.as_str()).collect()
}

const HTTP_LAYER: &str =
    "`incident-metrics-http`: `HttpMetricsLayer` (every request through the layer)";
const GRPC_SERVER: &str = "`incident-metrics-grpc`: `GrpcMetricsLayer::server` on a tonic server (or `GrpcRequestMetrics`/`RequestGuard` outside tower)";
const GRPC_CLIENT: &str =
    "`incident-metrics-grpc`: `GrpcMetricsLayer::client` around a tonic channel";
const LLM_CALL: &str = "`incident-metrics-trackers`: `LlmCallTracker` (`LlmRecorder::start(provider, model, operation)`)";

/// Every family of the catalog and of the toolkit's other registrations.
pub const FAMILY_DOCS: &[FamilyDoc] = &[
    FamilyDoc {
        name: "http_requests",
        recorded_by: HTTP_LAYER,
    },
    FamilyDoc {
        name: "http_request_duration",
        recorded_by: HTTP_LAYER,
    },
    FamilyDoc {
        name: "http_request_size",
        recorded_by: HTTP_LAYER,
    },
    FamilyDoc {
        name: "http_response_size",
        recorded_by: HTTP_LAYER,
    },
    FamilyDoc {
        name: "http_connections_active",
        recorded_by: HTTP_LAYER,
    },
    FamilyDoc {
        name: "http_requests_in_flight",
        recorded_by: HTTP_LAYER,
    },
    FamilyDoc {
        name: "grpc_requests",
        recorded_by: GRPC_SERVER,
    },
    FamilyDoc {
        name: "grpc_request_duration",
        recorded_by: GRPC_SERVER,
    },
    FamilyDoc {
        name: "grpc_streams_active",
        recorded_by: GRPC_SERVER,
    },
    FamilyDoc {
        name: "grpc_requests_started",
        recorded_by: GRPC_SERVER,
    },
    FamilyDoc {
        name: "grpc_messages_received",
        recorded_by: GRPC_SERVER,
    },
    FamilyDoc {
        name: "grpc_messages_sent",
        recorded_by: GRPC_SERVER,
    },
    FamilyDoc {
        name: "grpc_client_requests_started",
        recorded_by: GRPC_CLIENT,
    },
    FamilyDoc {
        name: "grpc_client_requests",
        recorded_by: GRPC_CLIENT,
    },
    FamilyDoc {
        name: "grpc_client_request_duration",
        recorded_by: GRPC_CLIENT,
    },
    FamilyDoc {
        name: "grpc_client_messages_received",
        recorded_by: GRPC_CLIENT,
    },
    FamilyDoc {
        name: "grpc_client_messages_sent",
        recorded_by: GRPC_CLIENT,
    },
    FamilyDoc {
        name: "incidents",
        recorded_by: "`incident-metrics-trackers`: `IncidentTracker` (`IncidentRecorder::start(severity)`, then `success(status)`; `failed` on `error()` or drop)",
    },
    FamilyDoc {
        name: "incidents_active",
        recorded_by: "`incident-metrics-trackers`: `ActiveIncident` (`IncidentRecorder::opened(severity)`; down again on `resolve()` or drop)",
    },
    FamilyDoc {
        name: "incident_processing_duration",
        recorded_by: "`incident-metrics-trackers`: `IncidentTracker`, from `start` to its outcome",
    },
    FamilyDoc {
        name: "incidents_deduplicated",
        recorded_by: "`incident-metrics-trackers`: `IncidentRecorder::deduplicated()`",
    },
    FamilyDoc {
        name: "incidents_correlated",
        recorded_by: "`incident-metrics-trackers`: `IncidentRecorder::correlated()`",
    },
    FamilyDoc {
        name: "incident_escalations",
        recorded_by: "`incident-metrics-trackers`: `IncidentRecorder::escalated(level)`",
    },
    FamilyDoc {
        name: "incidents_pruned",
        recorded_by: "`incident-metrics-trackers`: `IncidentRecorder::pruned(n)`",
    },
    FamilyDoc {
        name: "incidents_opened",
        recorded_by: "`incident-metrics-trackers`: `IncidentRecorder::opened_from(severity, source)`",
    },
    FamilyDoc {
        name: "incidents_active_by_source",
        recorded_by: "`incident-metrics-trackers`: `IncidentRecorder::set_active_from(source, n)` and `add_active_from(source, delta)`",
    },
    FamilyDoc {
        name: "incident_time_to_acknowledge",
        recorded_by: "`incident-metrics-trackers`: `IncidentRecorder::acknowledged_after(severity, source, elapsed)`",
    },
    FamilyDoc {
        name: "incident_time_to_resolve",
        recorded_by: "`incident-metrics-trackers`: `IncidentRecorder::resolved_after(severity, source, elapsed)`",
    },
    FamilyDoc {
        name: "alerts_received",
        recorded_by: "`incident-metrics-trackers`: `AlertRecorder::received(receiver, status)`",
    },
    FamilyDoc {
        name: "alerts_truncated",
        recorded_by: "`incident-metrics-trackers`: `AlertRecorder::truncated(receiver, n)`",
    },
    FamilyDoc {
        name: "llm_requests",
        recorded_by: LLM_CALL,
    },
    FamilyDoc {
        name: "llm_request_duration",
        recorded_by: LLM_CALL,
    },
    FamilyDoc {
        name: "llm_tokens",
        recorded_by: "`incident-metrics-trackers`: `LlmCallTracker::success(input_tokens, output_tokens)`",
    },
    FamilyDoc {
        name: "llm_request_tokens",
        recorded_by: "`incident-metrics-trackers`: `LlmCallTracker::success(input_tokens, output_tokens)`; `cache_read` from `LlmCallTracker::cache_read_tokens(n)` (replaces `llm_tokens_per_request`)",
    },
    FamilyDoc {
        name: "llm_errors",
        recorded_by: "`incident-metrics-trackers`: `LlmCallTracker::error(kind)`; `cancelled` when the tracker is dropped unfinished",
    },
    FamilyDoc {
        name: "llm_cost",
        recorded_by: "`incident-metrics-trackers`: `LlmCallTracker::success` (price from the `PriceTable`) or `success_with_cost`",
    },
    FamilyDoc {
        name: "llm_time_to_first_token",
        recorded_by: "`incident-metrics-trackers`: `LlmCallTracker::first_token()` (streaming calls only)",
    },
    FamilyDoc {
        name: "llm_time_per_output_token",
        recorded_by: "`incident-metrics-trackers`: `LlmCallTracker::success` after `first_token()` (streaming calls only)",
    },
    FamilyDoc {
        name: "llm_queue_duration",
        recorded_by: "`incident-metrics-trackers`: `LlmCallTracker::queued(waited)`",
    },
    FamilyDoc {
        name: "llm_inter_token_latency",
        recorded_by: "`incident-metrics-trackers`: `LlmCallTracker::token()`, every chunk after the first (streaming calls only)",
    },
    FamilyDoc {
        name: "llm_finish_reasons",
        recorded_by: "`incident-metrics-trackers`: `LlmCallTracker::finish_reason(reason)`, counted when the call finishes",
    },
    FamilyDoc {
        name: "llm_cache_read_tokens",
        recorded_by: "`incident-metrics-trackers`: `LlmCallTracker::cache_read_tokens(n)`, added on success",
    },
    FamilyDoc {
        name: "llm_requests_in_flight",
        recorded_by: "`incident-metrics-trackers`: `LlmCallTracker`, from `LlmRecorder::start` until it finishes or is dropped",
    },
    FamilyDoc {
        name: "llm_rate_limit_remaining",
        recorded_by: "`incident-metrics-trackers`: `LlmRecorder::rate_limit_remaining(provider, model, kind, value)`, from `x-ratelimit-remaining-requests`/`-tokens`; no series until reported",
    },
    FamilyDoc {
        name: "llm_rate_limit_limit",
        recorded_by: "`incident-metrics-trackers`: `LlmRecorder::rate_limit_limit(provider, model, kind, value)`, from `x-ratelimit-limit-requests`/`-tokens`; no series until reported",
    },
    FamilyDoc {
        name: "llm_budget",
        recorded_by: "`incident-metrics-trackers`: `LlmRecorder::set_budget(provider, model, usd)`; only pairs with a budget",
    },
    FamilyDoc {
        name: "llm_budget_remaining",
        recorded_by: "`incident-metrics-trackers`: `LlmRecorder::set_budget` (budget minus `llm_cost_usd_total` so far), then lowered by the cost of every priced call of the pair; negative once overspent",
    },
    FamilyDoc {
        name: "llm_provider_state",
        recorded_by: "`incident-metrics-trackers`: `LlmRecorder::provider_state(provider, state)` (0 healthy, 1 degraded, 2 down), set by the service's provider chain",
    },
    FamilyDoc {
        name: "llm_fallbacks",
        recorded_by: "`incident-metrics-trackers`: `LlmRecorder::fallback(from, to, outcome)`, by the service's provider chain",
    },
    FamilyDoc {
        name: "notifications",
        recorded_by: "`incident-metrics-trackers`: `NotificationTracker` (`NotificationRecorder::start(channel)`, then `sent()`/`retried()`/`failed()`/`dropped()`)",
    },
    FamilyDoc {
        name: "notification_delivery_duration",
        recorded_by: "`incident-metrics-trackers`: `NotificationTracker`, from `start` to its outcome",
    },
    FamilyDoc {
        name: "notification_queue_size",
        recorded_by: "`incident-metrics-trackers`: the gauge of `NotificationRecorder::queue_size(channel)`, set by the queue owner",
    },
    FamilyDoc {
        name: "playbook_executions",
        recorded_by: "`incident-metrics-trackers`: `PlaybookTracker` (`PlaybookRecorder::start(playbook)`, then `success()`/`failed()`/`timeout()`; `cancelled` on drop)",
    },
    FamilyDoc {
        name: "playbook_execution_duration",
        recorded_by: "`incident-metrics-trackers`: `PlaybookTracker`, from `start` to its outcome",
    },
    FamilyDoc {
        name: "playbooks_active",
        recorded_by: "`incident-metrics-trackers`: `PlaybookTracker`, while it lives",
    },
    FamilyDoc {
        name: "playbooks_pending",
        recorded_by: "the service: playbook runs waiting in its outbox (`PlaybookMetrics::pending`)",
    },
    FamilyDoc {
        name: "storage_operations",
        recorded_by: "`incident-metrics-trackers`: `StorageTracker` (`StorageRecorder::start(operation, backend)`)",
    },
    FamilyDoc {
        name: "storage_operation_duration",
        recorded_by: "`incident-metrics-trackers`: `StorageTracker`, from `start` to `success()`/`error(kind)`",
    },
    FamilyDoc {
        name: "storage_size",
        recorded_by: "`incident-metrics-trackers`: the gauge of `StorageRecorder::size(backend)`, set by the storage owner",
    },
    FamilyDoc {
        name: "errors",
        recorded_by: "`incident-metrics-trackers`: `ErrorRecorder::record(component, error_type)` (`Metrics::trackers().errors`); `StorageTracker::error` adds `component=\"storage\"`",
    },
    FamilyDoc {
        name: "build_info",
        recorded_by: "`incident-metrics-catalog`: `SystemMetrics`, set once at registration from `BuildInfo`",
    },
    FamilyDoc {
        name: "uptime",
        recorded_by: "`incident-metrics-catalog`: `SystemMetrics`, computed at scrape time",
    },
    FamilyDoc {
        name: "metrics_cardinality_overflow",
        recorded_by: "`incident-metrics-core`: `BoundedFamily`, on each new label set folded into a family's overflow series (one series per bounded family, from the start, at zero)",
    },
    FamilyDoc {
        name: "label_values_folded",
        recorded_by: "`incident-metrics-core`: `LabelTable`, the one lookup table for open label values, on each observation folded into `other`: the trackers' `CardinalityLimiter` (and the incident recorder for unknown severity/status text), the HTTP layer's route table (`http_route`) and the gRPC layer's method table (`grpc_method`)",
    },
    // The remote-write sender's own families.
    FamilyDoc {
        name: "remote_write_samples_sent",
        recorded_by: REMOTE_WRITE,
    },
    FamilyDoc {
        name: "remote_write_samples_failed",
        recorded_by: REMOTE_WRITE,
    },
    FamilyDoc {
        name: "remote_write_samples_dropped",
        recorded_by: REMOTE_WRITE,
    },
    FamilyDoc {
        name: "remote_write_retries",
        recorded_by: REMOTE_WRITE,
    },
    FamilyDoc {
        name: "remote_write_queue_length",
        recorded_by: REMOTE_WRITE,
    },
    FamilyDoc {
        name: "remote_write_last_success_timestamp",
        recorded_by: REMOTE_WRITE,
    },
    FamilyDoc {
        name: "remote_write_native_histograms_dropped",
        recorded_by: "`incident-metrics-exporter` (feature `remote-write`): `RemoteWriteConfig::register` with `native_histograms` on, and the sender task, when the receiver refuses native histograms",
    },
];

const REMOTE_WRITE: &str = "`incident-metrics-exporter` (feature `remote-write`): `RemoteWriteConfig::register` and the sender task";

/// Every label of every family, by name and family-name prefix; the first
/// entry that matches wins.
pub const LABEL_DOCS: &[LabelDoc] = &[
    LabelDoc {
        label: "method",
        scope: "http_",
        domain: Domain::Closed(values::<Method>),
    },
    LabelDoc {
        label: "path",
        scope: "http_",
        domain: Domain::Described(
            "the route template the request matched (axum `MatchedPath`, e.g. `/api/v1/incidents/{id}`, or a `PathClassifier`'s answer), never the raw URI; requests that matched no route share `unmatched` (`DEFAULT_UNMATCHED_PATH`, configurable); bounded by the service's routes, and at most as many templates per layer as the route families' cardinality limit (`cardinality_limit`, default 2000, or their `cardinality_limits` entries), further templates count as `other` and in `label_values_folded_total{label=\"http_route\"}`",
        ),
    },
    LabelDoc {
        label: "status",
        scope: "http_",
        domain: Domain::Described(
            "the three-digit status code the client saw (`200`, `404`, ...); `500` when the inner service failed or panicked; `cancelled` when the request was dropped before any response",
        ),
    },
    LabelDoc {
        label: "service",
        scope: "grpc_",
        domain: Domain::Described(
            "the package and service of `/package.Service/Method` (e.g. `incident.v1.IncidentService`); at most as many distinct (service, method) pairs per layer as the gRPC families' cardinality limit (`cardinality_limit`, default 2000, or their `cardinality_limits` entries), further or malformed paths count as `other` and in `label_values_folded_total{label=\"grpc_method\"}`",
        ),
    },
    LabelDoc {
        label: "method",
        scope: "grpc_",
        domain: Domain::Described(
            "the method of `/package.Service/Method` (e.g. `CreateIncident`); bounded with `service` (see there), `other` past the bound",
        ),
    },
    LabelDoc {
        label: "status",
        scope: "grpc_",
        domain: Domain::Closed(values::<GrpcCode>),
    },
    LabelDoc {
        label: "severity",
        scope: "incident",
        domain: Domain::Closed(values::<Severity>),
    },
    LabelDoc {
        label: "status",
        scope: "incidents",
        domain: Domain::Closed(values::<IncidentStatus>),
    },
    LabelDoc {
        label: "source",
        scope: "incident",
        domain: Domain::Closed(values::<IncidentSource>),
    },
    LabelDoc {
        label: "receiver",
        scope: "alerts_",
        domain: Domain::Limited {
            what: "the Alertmanager receiver named in the webhook's `receiver` field",
            limiter: "alert_receiver",
            field: "max_receivers",
            cap: |c| c.max_receivers,
        },
    },
    LabelDoc {
        label: "status",
        scope: "alerts_",
        domain: Domain::Closed(values::<AlertStatus>),
    },
    LabelDoc {
        label: "level",
        scope: "incident_escalations",
        domain: Domain::Closed(values::<EscalationLevel>),
    },
    LabelDoc {
        label: "provider",
        scope: "llm_",
        domain: Domain::Limited {
            what: "the LLM provider the caller names (e.g. `openai`, `offline`)",
            limiter: "llm_provider",
            field: "max_providers",
            cap: |c| c.max_providers,
        },
    },
    LabelDoc {
        label: "model",
        scope: "llm_",
        domain: Domain::Limited {
            what: "the model the caller names (e.g. `gpt-4o`)",
            limiter: "llm_model",
            field: "max_models",
            cap: |c| c.max_models,
        },
    },
    LabelDoc {
        label: "operation",
        scope: "llm_",
        domain: Domain::Closed(values::<LlmOperation>),
    },
    LabelDoc {
        label: "type",
        scope: "llm_request_tokens",
        domain: Domain::Closed(values::<RequestTokenType>),
    },
    LabelDoc {
        label: "type",
        scope: "llm_",
        domain: Domain::Closed(values::<TokenType>),
    },
    LabelDoc {
        label: "reason",
        scope: "llm_",
        domain: Domain::Closed(values::<LlmFinishReason>),
    },
    LabelDoc {
        label: "kind",
        scope: "llm_rate_limit",
        domain: Domain::Closed(values::<RateLimitKind>),
    },
    LabelDoc {
        label: "from",
        scope: "llm_fallbacks",
        domain: Domain::Described(
            "the provider that failed; a provider name through the `llm_provider` limiter (`max_providers`, default 8), `other` past it",
        ),
    },
    LabelDoc {
        label: "to",
        scope: "llm_fallbacks",
        domain: Domain::Described("the provider tried next; bounded as `from`"),
    },
    LabelDoc {
        label: "outcome",
        scope: "llm_fallbacks",
        domain: Domain::Closed(values::<FallbackOutcome>),
    },
    LabelDoc {
        label: "error_type",
        scope: "llm_",
        domain: Domain::Closed(values::<LlmErrorType>),
    },
    LabelDoc {
        label: "channel",
        scope: "notification",
        domain: Domain::Limited {
            what: "the notification channel (e.g. `log`, `webhook`)",
            limiter: "notification_channel",
            field: "max_channels",
            cap: |c| c.max_channels,
        },
    },
    LabelDoc {
        label: "status",
        scope: "notifications",
        domain: Domain::Closed(values::<NotificationStatus>),
    },
    LabelDoc {
        label: "playbook",
        scope: "playbook",
        domain: Domain::Limited {
            what: "the playbook's configured name",
            limiter: "playbook",
            field: "max_playbooks",
            cap: |c| c.max_playbooks,
        },
    },
    LabelDoc {
        label: "status",
        scope: "playbook",
        domain: Domain::Closed(values::<PlaybookStatus>),
    },
    LabelDoc {
        label: "operation",
        scope: "storage_",
        domain: Domain::Closed(values::<StorageOperation>),
    },
    LabelDoc {
        label: "backend",
        scope: "storage_",
        domain: Domain::Limited {
            what: "the storage backend (e.g. `sqlite`)",
            limiter: "storage_backend",
            field: "max_backends",
            cap: |c| c.max_backends,
        },
    },
    LabelDoc {
        label: "component",
        scope: "errors",
        domain: Domain::Limited {
            what: "the component that failed (e.g. `storage`, `llm`, `notification`)",
            limiter: "error_component",
            field: "max_components",
            cap: |c| c.max_components,
        },
    },
    LabelDoc {
        label: "error_type",
        scope: "errors",
        domain: Domain::Limited {
            what: "the kind of error, from the error variant, never its message (e.g. `timeout`)",
            limiter: "error_type",
            field: "max_error_types",
            cap: |c| c.max_error_types,
        },
    },
    LabelDoc {
        label: "version",
        scope: "build_info",
        domain: Domain::Described(
            "the binary's version (`BuildInfo`, e.g. `0.1.0`); one series per process",
        ),
    },
    LabelDoc {
        label: "commit",
        scope: "build_info",
        domain: Domain::Described(
            "the git commit the binary was built from, or `unknown`; one series per process",
        ),
    },
    LabelDoc {
        label: "build_timestamp",
        scope: "build_info",
        domain: Domain::Described(
            "when the binary was built, RFC 3339 UTC (`SOURCE_DATE_EPOCH` when set); one series per process",
        ),
    },
    LabelDoc {
        label: "family",
        scope: "metrics_cardinality_overflow",
        domain: Domain::Described(
            "a bounded family, set by code: its name without the namespace and without `_total`, unit included (`llm_requests`, `http_request_duration_seconds`), as keyed in `cardinality_limits`",
        ),
    },
    LabelDoc {
        label: "label",
        scope: "label_values_folded",
        domain: Domain::Described(
            "the limiter that folded a value, set by code: `llm_provider`, `llm_model`, `notification_channel`, `playbook`, `storage_backend`, `error_component`, `error_type`, `alert_receiver`, and the incident recorder's `severity` and `incident_status`",
        ),
    },
];

/// The family entry for `name`.
pub fn family_doc(name: &str) -> Option<&'static FamilyDoc> {
    FAMILY_DOCS.iter().find(|d| d.name == name)
}

/// The label entry for `label` on the family `family`.
pub fn label_doc(family: &str, label: &str) -> Option<&'static LabelDoc> {
    LABEL_DOCS
        .iter()
        .find(|d| d.label == label && family.starts_with(d.scope))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn described_bounds_match_the_code() {
        let text = |label, scope| match label_doc(scope, label).map(|d| d.domain) {
            Some(Domain::Described(text)) => text,
            _ => "",
        };
        let unmatched = format!("`{}`", incident_metrics_http::DEFAULT_UNMATCHED_PATH);
        assert!(text("path", "http_requests").contains(&unmatched));
        let limit = format!(
            "default {}",
            incident_metrics_core::DEFAULT_CARDINALITY_LIMIT
        );
        assert!(text("service", "grpc_requests").contains(&limit));
        assert!(text("path", "http_requests").contains(&limit));
        let other = format!("`{}`", incident_metrics_core::OVERFLOW_VALUE);
        assert!(text("method", "grpc_requests").contains(&other));
        assert!(text("service", "grpc_requests").contains(&other));
        assert!(text("path", "http_requests").contains(&other));
    }
}
