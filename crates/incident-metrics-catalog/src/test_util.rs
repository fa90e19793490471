//! Test support for crates that check the whole catalog (feature `test-util`).

use std::sync::Arc;

use incident_metrics_core::{MetricsConfig, Registry, Result};

use crate::Catalog;
use crate::alert::{AlertLabels, AlertStatus, ReceiverLabels};
use crate::errors::ErrorLabels;
use crate::grpc::{GrpcCode, GrpcMethodLabels, GrpcRequestLabels};
use crate::http::{HttpRequestLabels, HttpRouteLabels, HttpStatus, Method};
use crate::llm::{
    FallbackOutcome, LlmErrorLabels, LlmErrorType, LlmFallbackLabels, LlmFinishReason,
    LlmFinishReasonLabels, LlmModelLabels, LlmOperation, LlmProviderLabels, LlmRateLimitLabels,
    LlmRequestLabels, LlmRequestTokenLabels, LlmTokenLabels, ProviderState, RateLimitKind,
    RequestTokenType, TokenType,
};
use crate::notification::{ChannelLabels, NotificationLabels, NotificationStatus};
use crate::playbook::{PlaybookLabels, PlaybookNameLabels, PlaybookStatus};
use crate::storage::{BackendLabels, StorageLabels, StorageOperation};

/// A registry with every family of the catalog registered, for the tests
/// of the crates under the facade (which cannot use the facade's
/// `Metrics`): the [`Catalog`] to build layers and trackers from, and the
/// registry to render.
///
/// # Examples
///
/// ```
/// use incident_metrics_catalog::test_util::TestMetrics;
/// use incident_metrics_core::MetricsConfig;
///
/// let metrics = TestMetrics::new(&MetricsConfig::new())?;
/// metrics.catalog().incidents.deduplicated.inc();
/// assert_eq!(metrics.catalog().incidents.deduplicated.get(), 1);
/// assert!(metrics.config().enabled());
/// # let _ = metrics.registry();
/// # Ok::<(), incident_metrics_core::Error>(())
/// ```
#[derive(Debug)]
pub struct TestMetrics {
    registry: Arc<Registry>,
    catalog: Catalog,
}

impl TestMetrics {
    /// A new registry for `config` with every family registered.
    ///
    /// # Errors
    ///
    /// Any error of [`Registry::new`] or of registration.
    pub fn new(config: &MetricsConfig) -> Result<Self> {
        let mut registry = Registry::new(config)?;
        let catalog = Catalog::register(&mut registry)?;
        registry.check_cardinality_limits()?;
        Ok(Self {
            registry: Arc::new(registry),
            catalog,
        })
    }

    /// The families.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The registry, for rendering.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The configuration.
    pub fn config(&self) -> &MetricsConfig {
        self.registry.config()
    }
}

/// Records one series in every family through the public handles, so that
/// every family has samples: for exposition tests and examples.
pub fn populate_every_family(m: &Catalog) {
    let s = |v: &str| incident_metrics_core::SharedStr::from(v);
    let route = HttpRouteLabels {
        method: Method::Get,
        path: s("/x"),
    };
    m.http
        .requests
        .get_or_create(&HttpRequestLabels {
            method: Method::Get,
            path: s("/x"),
            status: HttpStatus::code(200),
        })
        .inc();
    m.http.request_duration.get_or_create(&route).observe(0.1);
    m.http.request_size.get_or_create(&route).observe(10.0);
    m.http.response_size.get_or_create(&route).observe(10.0);
    let method = GrpcMethodLabels {
        service: s("a.B"),
        method: s("C"),
    };
    m.grpc
        .requests
        .get_or_create(&GrpcRequestLabels {
            service: s("a.B"),
            method: s("C"),
            status: GrpcCode::NotFound,
        })
        .inc();
    m.grpc.request_duration.get_or_create(&method).observe(0.1);
    m.grpc.streams_active.get_or_create(&method).inc();
    m.grpc.requests_started.get_or_create(&method).inc();
    m.grpc.messages_received.get_or_create(&method).inc();
    m.grpc.messages_sent.get_or_create(&method).inc();
    m.grpc.client_requests_started.get_or_create(&method).inc();
    m.grpc
        .client_requests
        .get_or_create(&GrpcRequestLabels {
            service: s("a.B"),
            method: s("C"),
            status: GrpcCode::Ok,
        })
        .inc();
    m.grpc
        .client_request_duration
        .get_or_create(&method)
        .observe(0.1);
    m.grpc.client_messages_received.get_or_create(&method).inc();
    m.grpc.client_messages_sent.get_or_create(&method).inc();
    m.limits
        .label_values_folded
        .get_or_create(&crate::limits::FoldedLabels {
            label: s("llm_model"),
        })
        .inc();
    let req = LlmRequestLabels {
        provider: s("p"),
        model: s("m"),
        operation: LlmOperation::Chat,
    };
    m.llm.requests.get_or_create(&req).inc();
    m.llm.request_duration.get_or_create(&req).observe(1.0);
    let tok = LlmTokenLabels {
        provider: s("p"),
        model: s("m"),
        r#type: TokenType::Input,
    };
    m.llm.tokens.get_or_create(&tok).inc_by(5);
    m.llm
        .request_tokens
        .get_or_create(&LlmRequestTokenLabels {
            provider: s("p"),
            model: s("m"),
            r#type: RequestTokenType::CacheRead,
        })
        .observe(5.0);
    m.llm
        .errors
        .get_or_create(&LlmErrorLabels {
            provider: s("p"),
            model: s("m"),
            error_type: LlmErrorType::Timeout,
        })
        .inc();
    let model = LlmModelLabels {
        provider: s("p"),
        model: s("m"),
    };
    m.llm.cost_usd.get_or_create(&model).inc_by(0.25);
    m.llm.time_to_first_token.get_or_create(&model).observe(0.2);
    m.llm
        .time_per_output_token
        .get_or_create(&model)
        .observe(0.02);
    m.llm.queue_duration.get_or_create(&model).observe(0.01);
    m.llm
        .inter_token_latency
        .get_or_create(&model)
        .observe(0.02);
    m.llm
        .finish_reasons
        .get_or_create(&LlmFinishReasonLabels {
            provider: s("p"),
            model: s("m"),
            reason: LlmFinishReason::Stop,
        })
        .inc();
    m.llm.cache_read_tokens.get_or_create(&model).inc_by(3);
    let provider = LlmProviderLabels { provider: s("p") };
    m.llm.requests_in_flight.get_or_create(&provider).inc();
    m.llm
        .provider_state
        .get_or_create(&provider)
        .set(ProviderState::Degraded.value());
    let limit = LlmRateLimitLabels {
        provider: s("p"),
        model: s("m"),
        kind: RateLimitKind::Tokens,
    };
    m.llm.rate_limit_remaining.get_or_create(&limit).set(900.0);
    m.llm.rate_limit_limit.get_or_create(&limit).set(1000.0);
    m.llm.budget_usd.get_or_create(&model).set(10.0);
    m.llm.budget_remaining_usd.get_or_create(&model).set(9.75);
    m.llm
        .fallbacks
        .get_or_create(&LlmFallbackLabels {
            from: s("p"),
            to: s("q"),
            outcome: FallbackOutcome::Success,
        })
        .inc();
    m.alerts
        .received
        .get_or_create(&AlertLabels {
            receiver: s("oncall"),
            status: AlertStatus::Firing,
        })
        .inc();
    m.alerts
        .truncated
        .get_or_create(&ReceiverLabels {
            receiver: s("oncall"),
        })
        .inc();
    m.notifications
        .notifications
        .get_or_create(&NotificationLabels {
            channel: s("log"),
            status: NotificationStatus::Sent,
        })
        .inc();
    m.notifications
        .delivery_duration
        .get_or_create(&ChannelLabels { channel: s("log") })
        .observe(0.01);
    m.notifications
        .queue_size
        .get_or_create(&ChannelLabels { channel: s("log") })
        .set(3);
    m.playbooks
        .executions
        .get_or_create(&PlaybookLabels {
            playbook: s("pb"),
            status: PlaybookStatus::Success,
        })
        .inc();
    m.playbooks
        .execution_duration
        .get_or_create(&PlaybookNameLabels { playbook: s("pb") })
        .observe(2.0);
    m.playbooks.active.inc();
    let st = StorageLabels {
        operation: StorageOperation::Insert,
        backend: s("sqlite"),
    };
    m.storage.operations.get_or_create(&st).inc();
    m.storage
        .operation_duration
        .get_or_create(&st)
        .observe(0.001);
    m.storage
        .size_bytes
        .get_or_create(&BackendLabels {
            backend: s("sqlite"),
        })
        .set(4096);
    m.errors
        .errors
        .get_or_create(&ErrorLabels {
            component: s("storage"),
            error_type: s("io"),
        })
        .inc();
    m.http.connections_active.inc();
    m.http.requests_in_flight.inc();
}
