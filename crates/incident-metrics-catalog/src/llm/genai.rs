//! The OpenTelemetry GenAI names of the LLM families that have one, used in
//! place of the catalog's own when the configuration asks for them
//! ([`MetricsConfig::with_genai_names`](incident_metrics_core::MetricsConfig::with_genai_names),
//! TOML `genai_names = true`, `INCIDENT_METRICS_GENAI_NAMES=true`).
//!
//! The names, bucket boundaries and labels follow the GenAI semantic
//! conventions v1.41 translated to Prometheus as OpenTelemetry's own
//! Prometheus exporters do (dots become underscores, the unit `s` becomes
//! `_seconds`, the annotation unit `{token}` is dropped), so that
//! dashboards built for OpenTelemetry GenAI work unchanged:
//!
//! | catalog family | GenAI family | buckets |
//! |---|---|---|
//! | `llm_request_duration_seconds` | `gen_ai_client_operation_duration_seconds` | 0.01 s doubling to 81.92 s |
//! | `llm_request_tokens` | `gen_ai_client_token_usage` | powers of 4 from 1 to 67 108 864 |
//! | `llm_time_to_first_token_seconds` | `gen_ai_server_time_to_first_token_seconds` | 0.001 s to 10 s |
//! | `llm_time_per_output_token_seconds` | `gen_ai_server_time_per_output_token_seconds` | 0.01 s to 2.5 s |
//!
//! The GenAI families carry **no namespace prefix** (OpenTelemetry's
//! exporters add none, and GenAI dashboards expect none); global labels
//! still apply. Their labels are the GenAI attributes:
//! `gen_ai_operation_name` (OpenTelemetry's spellings: `chat`,
//! `text_completion`, `embeddings`, plus the service's own
//! `classification`, `summarization` and `other`), `gen_ai_provider_name`,
//! `gen_ai_request_model`, `gen_ai_response_model` (the same model: the
//! trackers know only the one asked for), `gen_ai_token_type` (`input`,
//! `output`; cache reads stay in `llm_cache_read_tokens_total`, since
//! they are part of the input) and, on the durations of failed calls only,
//! `error_type` (the [`LlmErrorType`] value). Provider and model pass the
//! same limiters as under the catalog's names. Every other LLM family keeps
//! its catalog name.

use incident_metrics_core::prometheus_client::encoding::{
    EncodeLabel, EncodeLabelSet, LabelSetEncoder,
};
use incident_metrics_core::{
    FamilySpec, MetricKind, Registry, Result, SharedStr, Unit, buckets, label_enum,
};

use crate::family::HistogramFamily;
use crate::llm::{
    LlmErrorType, LlmOperation, REQUEST_DURATION, REQUEST_TOKENS, TIME_PER_OUTPUT_TOKEN,
    TIME_TO_FIRST_TOKEN, TokenType,
};

label_enum! {
    /// The `gen_ai_operation_name` label: an [`LlmOperation`] in the GenAI
    /// spelling.
    pub enum GenAiOperationName {
        /// `chat`.
        Chat => "chat",
        /// `text_completion` (the catalog's `completion`).
        TextCompletion => "text_completion",
        /// `embeddings` (the catalog's `embedding`).
        Embeddings => "embeddings",
        /// `classification`, the service's own operation.
        Classification => "classification",
        /// `summarization`, the service's own operation.
        Summarization => "summarization",
        /// Any other operation.
        Other => "other",
    }
}

impl From<LlmOperation> for GenAiOperationName {
    fn from(operation: LlmOperation) -> Self {
        match operation {
            LlmOperation::Chat => Self::Chat,
            LlmOperation::Completion => Self::TextCompletion,
            LlmOperation::Embedding => Self::Embeddings,
            LlmOperation::Classification => Self::Classification,
            LlmOperation::Summarization => Self::Summarization,
            LlmOperation::Other => Self::Other,
        }
    }
}

/// The labels every GenAI family shares.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct GenAiLabels {
    /// `gen_ai_operation_name`.
    pub operation: GenAiOperationName,
    /// `gen_ai_provider_name`.
    pub provider: SharedStr,
    /// `gen_ai_request_model`.
    pub request_model: SharedStr,
    /// `gen_ai_response_model`.
    pub response_model: SharedStr,
}

impl GenAiLabels {
    /// The labels of one call of `operation` to `model` of `provider`,
    /// whose answer named the same model.
    pub fn new(provider: &SharedStr, model: &SharedStr, operation: LlmOperation) -> Self {
        Self {
            operation: operation.into(),
            provider: provider.clone(),
            request_model: model.clone(),
            response_model: model.clone(),
        }
    }
}

impl EncodeLabelSet for GenAiLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> std::fmt::Result {
        ("gen_ai_operation_name", self.operation).encode(encoder.encode_label())?;
        ("gen_ai_provider_name", self.provider.as_str()).encode(encoder.encode_label())?;
        ("gen_ai_request_model", self.request_model.as_str()).encode(encoder.encode_label())?;
        ("gen_ai_response_model", self.response_model.as_str()).encode(encoder.encode_label())
    }
}

/// Labels of `gen_ai_client_token_usage`.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct GenAiTokenLabels {
    /// The shared labels.
    pub call: GenAiLabels,
    /// `gen_ai_token_type`.
    pub token_type: TokenType,
}

impl EncodeLabelSet for GenAiTokenLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> std::fmt::Result {
        self.call.encode(encoder)?;
        ("gen_ai_token_type", self.token_type).encode(encoder.encode_label())
    }
}

/// Labels of `gen_ai_client_operation_duration_seconds`: `error_type` is
/// encoded only for a failed call, as the conventions ask.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct GenAiOperationLabels {
    /// The shared labels.
    pub call: GenAiLabels,
    /// `error_type`, for a failed call.
    pub error_type: Option<LlmErrorType>,
}

impl EncodeLabelSet for GenAiOperationLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> std::fmt::Result {
        self.call.encode(encoder)?;
        match self.error_type {
            Some(error_type) => ("error_type", error_type).encode(encoder.encode_label()),
            None => Ok(()),
        }
    }
}

const CALL_LABELS: &[&str] = &[
    "gen_ai_operation_name",
    "gen_ai_provider_name",
    "gen_ai_request_model",
    "gen_ai_response_model",
];

/// `gen_ai_client_token_usage` (in place of `llm_request_tokens`).
pub const CLIENT_TOKEN_USAGE: FamilySpec = FamilySpec {
    name: "gen_ai_client_token_usage",
    help: "Number of input and output tokens used",
    kind: MetricKind::Histogram,
    unit: None,
    labels: &[
        "gen_ai_operation_name",
        "gen_ai_provider_name",
        "gen_ai_request_model",
        "gen_ai_response_model",
        "gen_ai_token_type",
    ],
};

/// `gen_ai_client_operation_duration_seconds` (in place of
/// `llm_request_duration_seconds`).
pub const CLIENT_OPERATION_DURATION: FamilySpec = FamilySpec {
    name: "gen_ai_client_operation_duration",
    help: "GenAI operation duration",
    kind: MetricKind::Histogram,
    unit: Some(Unit::Seconds),
    labels: &[
        "gen_ai_operation_name",
        "gen_ai_provider_name",
        "gen_ai_request_model",
        "gen_ai_response_model",
        "error_type",
    ],
};

/// `gen_ai_server_time_to_first_token_seconds` (in place of
/// `llm_time_to_first_token_seconds`).
pub const SERVER_TIME_TO_FIRST_TOKEN: FamilySpec = FamilySpec {
    name: "gen_ai_server_time_to_first_token",
    help: "Time to generate first token for successful responses",
    kind: MetricKind::Histogram,
    unit: Some(Unit::Seconds),
    labels: CALL_LABELS,
};

/// `gen_ai_server_time_per_output_token_seconds` (in place of
/// `llm_time_per_output_token_seconds`).
pub const SERVER_TIME_PER_OUTPUT_TOKEN: FamilySpec = FamilySpec {
    name: "gen_ai_server_time_per_output_token",
    help: "Time per output token generated after the first token for successful responses",
    kind: MetricKind::Histogram,
    unit: Some(Unit::Seconds),
    labels: CALL_LABELS,
};

/// Each catalog family with a GenAI equivalent, and that equivalent, in
/// registration order.
pub const GENAI_EQUIVALENTS: &[(&FamilySpec, &FamilySpec)] = &[
    (&REQUEST_DURATION, &CLIENT_OPERATION_DURATION),
    (&REQUEST_TOKENS, &CLIENT_TOKEN_USAGE),
    (&TIME_TO_FIRST_TOKEN, &SERVER_TIME_TO_FIRST_TOKEN),
    (&TIME_PER_OUTPUT_TOKEN, &SERVER_TIME_PER_OUTPUT_TOKEN),
];

/// The GenAI families, registered without the namespace.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct GenAiMetrics {
    /// `gen_ai_client_operation_duration_seconds`.
    pub client_operation_duration: HistogramFamily<GenAiOperationLabels>,
    /// `gen_ai_client_token_usage`.
    pub client_token_usage: HistogramFamily<GenAiTokenLabels>,
    /// `gen_ai_server_time_to_first_token_seconds`.
    pub server_time_to_first_token: HistogramFamily<GenAiLabels>,
    /// `gen_ai_server_time_per_output_token_seconds`.
    pub server_time_per_output_token: HistogramFamily<GenAiLabels>,
}

impl GenAiMetrics {
    /// Registers the four GenAI families, unprefixed, with the GenAI
    /// bucket boundaries (unless overridden by the configuration's
    /// `buckets`, keyed by the GenAI names).
    ///
    /// # Errors
    ///
    /// Any registration error.
    pub fn register(registry: &mut Registry) -> Result<Self> {
        Ok(Self {
            client_operation_duration: registry.register_bounded_histogram_unprefixed(
                &CLIENT_OPERATION_DURATION,
                buckets::GENAI_DURATION_SECONDS,
            )?,
            client_token_usage: registry.register_bounded_histogram_unprefixed(
                &CLIENT_TOKEN_USAGE,
                buckets::GENAI_TOKENS,
            )?,
            server_time_to_first_token: registry.register_bounded_histogram_unprefixed(
                &SERVER_TIME_TO_FIRST_TOKEN,
                buckets::GENAI_TIME_TO_FIRST_TOKEN_SECONDS,
            )?,
            server_time_per_output_token: registry.register_bounded_histogram_unprefixed(
                &SERVER_TIME_PER_OUTPUT_TOKEN,
                buckets::GENAI_TIME_PER_OUTPUT_TOKEN_SECONDS,
            )?,
        })
    }
}
