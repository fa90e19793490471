//! LLM client families. Provider and model are open sets: callers pass them
//! through a limiter (see the trackers crate) before they become labels.

use incident_metrics_core::prometheus_client::encoding::EncodeLabelSet;
use incident_metrics_core::{
    FamilySpec, MetricKind, Registry, Result, SharedStr, Unit, buckets, label_enum,
};

use crate::family::{
    self, CounterFamily, FloatCounterFamily, FloatGaugeFamily, GaugeFamily, HistogramFamily,
};

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

label_enum! {
    /// The kind of tokens counted per request (`type` label of
    /// `llm_request_tokens`): the two directions of [`TokenType`] plus the
    /// prompt tokens the provider read from its cache.
    pub enum RequestTokenType {
        /// Prompt tokens.
        Input => "input",
        /// Completion tokens.
        Output => "output",
        /// Prompt tokens served from the provider's prompt cache (a part of
        /// the input tokens, as OpenAI's `prompt_tokens_details.cached_tokens`).
        CacheRead => "cache_read",
    }
}

label_enum! {
    /// Why an LLM answer ended (`reason` label of `llm_finish_reasons_total`):
    /// a closed set; [`from_name`](Self::from_name) maps the providers'
    /// spellings and anything unknown to `other`.
    pub enum LlmFinishReason {
        /// The model ended its answer (OpenAI `stop`, Anthropic `end_turn`).
        Stop => "stop",
        /// The answer hit the token limit (OpenAI `length`, Anthropic `max_tokens`).
        Length => "length",
        /// The provider's content filter cut the answer.
        ContentFilter => "content_filter",
        /// The model asked for tool or function calls.
        ToolCalls => "tool_calls",
        /// The call was aborted before the model finished (vLLM `abort`).
        Abort => "abort",
        /// The provider reported an error as the finish reason.
        Error => "error",
        /// Any other reason.
        Other => "other",
    }
}

impl LlmFinishReason {
    /// The reason named `name` as OpenAI-compatible APIs spell it (`stop`,
    /// `length`, `content_filter`, `tool_calls`, `function_call`), as
    /// Anthropic does (`end_turn`, `stop_sequence`, `max_tokens`,
    /// `tool_use`, `refusal`) or as Gemini does (`STOP`, `MAX_TOKENS`,
    /// `SAFETY`); unknown names are [`Other`](Self::Other). Matching
    /// ignores ASCII case and allocates nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use incident_metrics_catalog::llm::LlmFinishReason;
    ///
    /// assert_eq!(LlmFinishReason::from_name("stop"), LlmFinishReason::Stop);
    /// assert_eq!(LlmFinishReason::from_name("function_call"), LlmFinishReason::ToolCalls);
    /// assert_eq!(LlmFinishReason::from_name("MAX_TOKENS"), LlmFinishReason::Length);
    /// assert_eq!(LlmFinishReason::from_name("eos"), LlmFinishReason::Other);
    /// ```
    pub fn from_name(name: &str) -> Self {
        const NAMES: &[(&str, LlmFinishReason)] = &[
            ("stop", LlmFinishReason::Stop),
            ("end_turn", LlmFinishReason::Stop),
            ("stop_sequence", LlmFinishReason::Stop),
            ("length", LlmFinishReason::Length),
            ("max_tokens", LlmFinishReason::Length),
            ("content_filter", LlmFinishReason::ContentFilter),
            ("safety", LlmFinishReason::ContentFilter),
            ("refusal", LlmFinishReason::ContentFilter),
            ("tool_calls", LlmFinishReason::ToolCalls),
            ("function_call", LlmFinishReason::ToolCalls),
            ("tool_use", LlmFinishReason::ToolCalls),
            ("abort", LlmFinishReason::Abort),
            ("aborted", LlmFinishReason::Abort),
            ("cancelled", LlmFinishReason::Abort),
            ("error", LlmFinishReason::Error),
        ];
        let name = name.trim();
        NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or(Self::Other, |(_, reason)| *reason)
    }
}

label_enum! {
    /// What a rate-limit gauge counts (`kind` label): requests or tokens, as
    /// in the `x-ratelimit-*-requests` and `x-ratelimit-*-tokens` headers.
    pub enum RateLimitKind {
        /// Requests.
        Requests => "requests",
        /// Tokens.
        Tokens => "tokens",
    }
}

label_enum! {
    /// The health of a provider, the value of `llm_provider_state`
    /// ([`value`](Self::value): 0, 1 or 2).
    pub enum ProviderState {
        /// Answering normally (0).
        Healthy => "healthy",
        /// Failing some calls, still tried (1).
        Degraded => "degraded",
        /// Marked down and skipped until its cool-down ends (2).
        Down => "down",
    }
}

impl ProviderState {
    /// The gauge value: 0 healthy, 1 degraded, 2 down.
    pub const fn value(self) -> i64 {
        match self {
            Self::Healthy => 0,
            Self::Degraded => 1,
            Self::Down => 2,
        }
    }
}

label_enum! {
    /// How a fallback to the next provider ended (`outcome` label of
    /// `llm_fallbacks_total`).
    pub enum FallbackOutcome {
        /// The provider fallen back to answered.
        Success => "success",
        /// It failed too.
        Failure => "failure",
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

/// Labels of `llm_tokens_total`.
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

/// Labels of `llm_request_tokens`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LlmRequestTokenLabels {
    /// The provider.
    pub provider: SharedStr,
    /// The model.
    pub model: SharedStr,
    /// Input, output or cache read.
    pub r#type: RequestTokenType,
}

/// Labels of `llm_finish_reasons_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LlmFinishReasonLabels {
    /// The provider.
    pub provider: SharedStr,
    /// The model.
    pub model: SharedStr,
    /// Why the answer ended.
    pub reason: LlmFinishReason,
}

/// Labels of the rate-limit gauges.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LlmRateLimitLabels {
    /// The provider.
    pub provider: SharedStr,
    /// The model.
    pub model: SharedStr,
    /// Requests or tokens.
    pub kind: RateLimitKind,
}

/// Labels of the per-provider LLM families.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LlmProviderLabels {
    /// The provider.
    pub provider: SharedStr,
}

/// Labels of `llm_fallbacks_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LlmFallbackLabels {
    /// The provider that failed.
    pub from: SharedStr,
    /// The provider tried next.
    pub to: SharedStr,
    /// Whether the provider tried next answered.
    pub outcome: FallbackOutcome,
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

/// `llm_request_tokens`: the tokens of one call, as vLLM's prompt and
/// generation tokens per request and OpenTelemetry's
/// `gen_ai.client.token.usage`. It replaces `llm_tokens_per_request` (the
/// same measurement, which had no `cache_read`).
pub const REQUEST_TOKENS: FamilySpec = FamilySpec {
    name: "llm_request_tokens",
    help: "Number of tokens in one LLM call, by provider, model and type (input, output, cache_read)",
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

/// `llm_queue_duration_seconds`.
pub const QUEUE_DURATION: FamilySpec = FamilySpec {
    name: "llm_queue_duration",
    help: "Time an LLM call waited in the service's own queue before it was sent",
    kind: MetricKind::Histogram,
    unit: Some(Unit::Seconds),
    labels: &["provider", "model"],
};

/// `llm_inter_token_latency_seconds`.
pub const INTER_TOKEN_LATENCY: FamilySpec = FamilySpec {
    name: "llm_inter_token_latency",
    help: "Time between two streamed chunks of one LLM answer",
    kind: MetricKind::Histogram,
    unit: Some(Unit::Seconds),
    labels: &["provider", "model"],
};

/// `llm_finish_reasons_total`.
pub const FINISH_REASONS: FamilySpec = FamilySpec {
    name: "llm_finish_reasons",
    help: "Total number of LLM answers by the reason they ended",
    kind: MetricKind::Counter,
    unit: None,
    labels: &["provider", "model", "reason"],
};

/// `llm_cache_read_tokens_total`.
pub const CACHE_READ_TOKENS: FamilySpec = FamilySpec {
    name: "llm_cache_read_tokens",
    help: "Total number of prompt tokens the provider served from its prompt cache",
    kind: MetricKind::Counter,
    unit: None,
    labels: &["provider", "model"],
};

/// `llm_requests_in_flight`.
pub const REQUESTS_IN_FLIGHT: FamilySpec = FamilySpec {
    name: "llm_requests_in_flight",
    help: "Number of LLM calls started and not yet finished, by provider",
    kind: MetricKind::Gauge,
    unit: None,
    labels: &["provider"],
};

/// `llm_rate_limit_remaining`.
pub const RATE_LIMIT_REMAINING: FamilySpec = FamilySpec {
    name: "llm_rate_limit_remaining",
    help: "Requests or tokens left in the provider's rate-limit window, as last reported in its x-ratelimit-remaining headers",
    kind: MetricKind::Gauge,
    unit: None,
    labels: &["provider", "model", "kind"],
};

/// `llm_rate_limit_limit`.
pub const RATE_LIMIT_LIMIT: FamilySpec = FamilySpec {
    name: "llm_rate_limit_limit",
    help: "Requests or tokens allowed in the provider's rate-limit window, as last reported in its x-ratelimit-limit headers",
    kind: MetricKind::Gauge,
    unit: None,
    labels: &["provider", "model", "kind"],
};

/// `llm_budget_usd`.
pub const BUDGET: FamilySpec = FamilySpec {
    name: "llm_budget",
    help: "Configured spending budget in US dollars, by provider and model",
    kind: MetricKind::Gauge,
    unit: Some(Unit::Other("usd")),
    labels: &["provider", "model"],
};

/// `llm_budget_remaining_usd`.
pub const BUDGET_REMAINING: FamilySpec = FamilySpec {
    name: "llm_budget_remaining",
    help: "Configured budget minus the cost of LLM calls so far in US dollars, negative once overspent",
    kind: MetricKind::Gauge,
    unit: Some(Unit::Other("usd")),
    labels: &["provider", "model"],
};

/// `llm_provider_state`.
pub const PROVIDER_STATE: FamilySpec = FamilySpec {
    name: "llm_provider_state",
    help: "State of an LLM provider: 0 healthy, 1 degraded, 2 down",
    kind: MetricKind::Gauge,
    unit: None,
    labels: &["provider"],
};

/// `llm_fallbacks_total`.
pub const FALLBACKS: FamilySpec = FamilySpec {
    name: "llm_fallbacks",
    help: "Total number of LLM calls moved from a failing provider to the next one, by outcome",
    kind: MetricKind::Counter,
    unit: None,
    labels: &["from", "to", "outcome"],
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
    /// `llm_request_tokens{provider, model, type}`.
    pub request_tokens: HistogramFamily<LlmRequestTokenLabels>,
    /// `llm_errors_total{provider, model, error_type}`.
    pub errors: CounterFamily<LlmErrorLabels>,
    /// `llm_cost_usd_total{provider, model}`.
    pub cost_usd: FloatCounterFamily<LlmModelLabels>,
    /// `llm_time_to_first_token_seconds{provider, model}`.
    pub time_to_first_token: HistogramFamily<LlmModelLabels>,
    /// `llm_time_per_output_token_seconds{provider, model}`.
    pub time_per_output_token: HistogramFamily<LlmModelLabels>,
    /// `llm_queue_duration_seconds{provider, model}`.
    pub queue_duration: HistogramFamily<LlmModelLabels>,
    /// `llm_inter_token_latency_seconds{provider, model}`.
    pub inter_token_latency: HistogramFamily<LlmModelLabels>,
    /// `llm_finish_reasons_total{provider, model, reason}`.
    pub finish_reasons: CounterFamily<LlmFinishReasonLabels>,
    /// `llm_cache_read_tokens_total{provider, model}`.
    pub cache_read_tokens: CounterFamily<LlmModelLabels>,
    /// `llm_requests_in_flight{provider}`.
    pub requests_in_flight: GaugeFamily<LlmProviderLabels>,
    /// `llm_rate_limit_remaining{provider, model, kind}`.
    pub rate_limit_remaining: FloatGaugeFamily<LlmRateLimitLabels>,
    /// `llm_rate_limit_limit{provider, model, kind}`.
    pub rate_limit_limit: FloatGaugeFamily<LlmRateLimitLabels>,
    /// `llm_budget_usd{provider, model}`.
    pub budget_usd: FloatGaugeFamily<LlmModelLabels>,
    /// `llm_budget_remaining_usd{provider, model}`.
    pub budget_remaining_usd: FloatGaugeFamily<LlmModelLabels>,
    /// `llm_provider_state{provider}`.
    pub provider_state: GaugeFamily<LlmProviderLabels>,
    /// `llm_fallbacks_total{from, to, outcome}`.
    pub fallbacks: CounterFamily<LlmFallbackLabels>,
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
            request_tokens: family::histogram(registry, &REQUEST_TOKENS, buckets::GENAI_TOKENS)?,
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
            queue_duration: family::histogram(
                registry,
                &QUEUE_DURATION,
                buckets::TASK_DURATION_SECONDS,
            )?,
            inter_token_latency: family::histogram(
                registry,
                &INTER_TOKEN_LATENCY,
                buckets::GENAI_TIME_PER_OUTPUT_TOKEN_SECONDS,
            )?,
            finish_reasons: family::counter(registry, &FINISH_REASONS)?,
            cache_read_tokens: family::counter(registry, &CACHE_READ_TOKENS)?,
            requests_in_flight: family::gauge(registry, &REQUESTS_IN_FLIGHT)?,
            rate_limit_remaining: family::float_gauge(registry, &RATE_LIMIT_REMAINING)?,
            rate_limit_limit: family::float_gauge(registry, &RATE_LIMIT_LIMIT)?,
            budget_usd: family::float_gauge(registry, &BUDGET)?,
            budget_remaining_usd: family::float_gauge(registry, &BUDGET_REMAINING)?,
            provider_state: family::gauge(registry, &PROVIDER_STATE)?,
            fallbacks: family::counter(registry, &FALLBACKS)?,
        })
    }
}
