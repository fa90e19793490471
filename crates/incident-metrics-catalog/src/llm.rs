//! LLM client families. Provider and model are open sets: callers pass them
//! through a limiter (see the trackers crate) before they become labels.

use incident_metrics_core::prometheus_client::encoding::EncodeLabelSet;
use incident_metrics_core::{
    FamilySpec, MetricKind, Registry, Result, SharedStr, Unit, buckets, label_enum,
};

use crate::family::{self, CounterFamily, FloatCounterFamily, HistogramFamily};

label_enum! {
    /// The kind of LLM operation, after the OpenTelemetry GenAI
    /// `gen_ai.operation.name` values plus the incident manager's own.
    pub enum LlmOperation {
        /// Chat completion.
        Chat => "chat",
        /// Plain text completion.
        Completion => "completion",
        /// Embeddings.
        Embedding => "embedding",
        /// Classifying an incident.
        Classification => "classification",
        /// Summarising an incident.
        Summarization => "summarization",
        /// Any other operation.
        Other => "other",
    }
}

impl LlmOperation {
    /// The operation named `name`, or `Other`; accepts the OpenTelemetry
    /// spellings (`text_completion`, `embeddings`) too.
    pub fn from_name(name: &str) -> Self {
        match name {
            "chat" => Self::Chat,
            "completion" | "text_completion" => Self::Completion,
            "embedding" | "embeddings" => Self::Embedding,
            "classification" | "classify" => Self::Classification,
            "summarization" | "summarize" | "summary" => Self::Summarization,
            _ => Self::Other,
        }
    }
}

label_enum! {
    /// The direction of tokens (`type` label).
    pub enum TokenType {
        /// Prompt tokens.
        Input => "input",
        /// Completion tokens.
        Output => "output",
    }
}

label_enum! {
    /// Why an LLM call failed.
    pub enum LlmErrorType {
        /// The call timed out.
        Timeout => "timeout",
        /// The provider refused for rate or quota.
        RateLimited => "rate_limited",
        /// Credentials missing or refused.
        Authentication => "authentication",
        /// The provider rejected the request.
        InvalidRequest => "invalid_request",
        /// The provider's content filter refused the answer.
        ContentFilter => "content_filter",
        /// The provider failed (5xx).
        ServerError => "server_error",
        /// The connection failed.
        Network => "network",
        /// The caller dropped the call before it finished.
        Cancelled => "cancelled",
        /// The answer could not be decoded.
        InvalidResponse => "invalid_response",
        /// The answer was larger than the client accepts.
        ResponseTooLarge => "response_too_large",
        /// Anything else.
        Other => "other",
    }
}

/// Labels of the per-call LLM families.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LlmRequestLabels {
    /// The provider, e.g. `openai`.
    pub provider: SharedStr,
    /// The model, e.g. `gpt-4o`.
    pub model: SharedStr,
    /// The operation.
    pub operation: LlmOperation,
}

/// Labels of `llm_tokens_total` and `llm_tokens_per_request`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LlmTokenLabels {
    /// The provider.
    pub provider: SharedStr,
    /// The model.
    pub model: SharedStr,
    /// Input or output.
    pub r#type: TokenType,
}

/// Labels of `llm_errors_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LlmErrorLabels {
    /// The provider.
    pub provider: SharedStr,
    /// The model.
    pub model: SharedStr,
    /// The kind of failure.
    pub error_type: LlmErrorType,
}

/// Labels of the per-model LLM families.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LlmModelLabels {
    /// The provider.
    pub provider: SharedStr,
    /// The model.
    pub model: SharedStr,
}

/// `llm_requests_total`.
pub const REQUESTS: FamilySpec = FamilySpec {
    name: "llm_requests",
    help: "Total number of LLM calls, by provider, model and operation",
    kind: MetricKind::Counter,
    unit: None,
    labels: &["provider", "model", "operation"],
};

/// `llm_request_duration_seconds`.
pub const REQUEST_DURATION: FamilySpec = FamilySpec {
    name: "llm_request_duration",
    help: "Time taken by an LLM call, to the last token",
    kind: MetricKind::Histogram,
    unit: Some(Unit::Seconds),
    labels: &["provider", "model", "operation"],
};

/// `llm_tokens_total`.
pub const TOKENS: FamilySpec = FamilySpec {
    name: "llm_tokens",
    help: "Total number of LLM tokens, by provider, model and direction",
    kind: MetricKind::Counter,
    unit: None,
    labels: &["provider", "model", "type"],
};

/// `llm_tokens_per_request`.
pub const TOKENS_PER_REQUEST: FamilySpec = FamilySpec {
    name: "llm_tokens_per_request",
    help: "Number of tokens in one LLM call, by provider, model and direction",
    kind: MetricKind::Histogram,
    unit: None,
    labels: &["provider", "model", "type"],
};

/// `llm_errors_total`.
pub const ERRORS: FamilySpec = FamilySpec {
    name: "llm_errors",
    help: "Total number of failed LLM calls, by provider, model and kind of failure",
    kind: MetricKind::Counter,
    unit: None,
    labels: &["provider", "model", "error_type"],
};

/// `llm_cost_usd_total`.
pub const COST: FamilySpec = FamilySpec {
    name: "llm_cost",
    help: "Total cost of LLM calls in US dollars, by provider and model",
    kind: MetricKind::Counter,
    unit: Some(Unit::Other("usd")),
    labels: &["provider", "model"],
};

/// `llm_time_to_first_token_seconds`.
pub const TIME_TO_FIRST_TOKEN: FamilySpec = FamilySpec {
    name: "llm_time_to_first_token",
    help: "Time from the start of a streaming LLM call to its first output token",
    kind: MetricKind::Histogram,
    unit: Some(Unit::Seconds),
    labels: &["provider", "model"],
};

/// `llm_time_per_output_token_seconds`.
pub const TIME_PER_OUTPUT_TOKEN: FamilySpec = FamilySpec {
    name: "llm_time_per_output_token",
    help: "Time per output token after the first, for streaming LLM calls",
    kind: MetricKind::Histogram,
    unit: Some(Unit::Seconds),
    labels: &["provider", "model"],
};

/// The LLM families.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LlmMetrics {
    /// `llm_requests_total{provider, model, operation}`.
    pub requests: CounterFamily<LlmRequestLabels>,
    /// `llm_request_duration_seconds{provider, model, operation}`.
    pub request_duration: HistogramFamily<LlmRequestLabels>,
    /// `llm_tokens_total{provider, model, type}`.
    pub tokens: CounterFamily<LlmTokenLabels>,
    /// `llm_tokens_per_request{provider, model, type}`.
    pub tokens_per_request: HistogramFamily<LlmTokenLabels>,
    /// `llm_errors_total{provider, model, error_type}`.
    pub errors: CounterFamily<LlmErrorLabels>,
    /// `llm_cost_usd_total{provider, model}`.
    pub cost_usd: FloatCounterFamily<LlmModelLabels>,
    /// `llm_time_to_first_token_seconds{provider, model}`.
    pub time_to_first_token: HistogramFamily<LlmModelLabels>,
    /// `llm_time_per_output_token_seconds{provider, model}`.
    pub time_per_output_token: HistogramFamily<LlmModelLabels>,
}

impl LlmMetrics {
    /// Registers the LLM families.
    ///
    /// # Errors
    ///
    /// Any registration error.
    pub fn register(registry: &mut Registry) -> Result<Self> {
        Ok(Self {
            requests: family::counter(registry, &REQUESTS)?,
            request_duration: family::histogram(
                registry,
                &REQUEST_DURATION,
                buckets::GENAI_DURATION_SECONDS,
            )?,
            tokens: family::counter(registry, &TOKENS)?,
            tokens_per_request: family::histogram(
                registry,
                &TOKENS_PER_REQUEST,
                buckets::GENAI_TOKENS,
            )?,
            errors: family::counter(registry, &ERRORS)?,
            cost_usd: family::float_counter(registry, &COST)?,
            time_to_first_token: family::histogram(
                registry,
                &TIME_TO_FIRST_TOKEN,
                buckets::GENAI_TIME_TO_FIRST_TOKEN_SECONDS,
            )?,
            time_per_output_token: family::histogram(
                registry,
                &TIME_PER_OUTPUT_TOKEN,
                buckets::GENAI_TIME_PER_OUTPUT_TOKEN_SECONDS,
            )?,
        })
    }
}
