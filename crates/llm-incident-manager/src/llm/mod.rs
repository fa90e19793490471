//! LLM analysis of incidents: a [`LlmProvider`] trait with two
//! implementations, the embedded [`OfflineProvider`] (the default: no
//! network) and the [`OpenAiProvider`] for OpenAI-compatible HTTP APIs, the
//! [`ProviderChain`] that tries the configured providers in order, skipping
//! those marked down, and the [`Analyzer`] that sends every call through the
//! LLM tracker and prices it from the configured price table.

pub mod chain;
pub mod offline;
pub mod openai;
mod tokens;

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use incident_metrics::SetupError;
use incident_metrics::catalog::llm::{LlmErrorType, LlmOperation};
use incident_metrics::trackers::Trackers;

pub use chain::{ProviderChain, ProviderHealth};
pub use offline::OfflineProvider;
pub use openai::OpenAiProvider;
pub use tokens::{count_tokens, warm_up};

use crate::config::{LlmConfig, ProviderConfig, ProviderKind};
use crate::domain::{Severity, now_ms};

/// What an LLM call is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Task {
    /// Classify an incident into a category.
    Classify,
    /// Summarise an incident in one line.
    Summarize,
}

impl Task {
    fn operation(self) -> LlmOperation {
        match self {
            Self::Classify => LlmOperation::Classification,
            Self::Summarize => LlmOperation::Summarization,
        }
    }

    fn instruction(self) -> &'static str {
        match self {
            Self::Classify => {
                "Classify this incident into one category (database, network, latency, \
                 availability, security, llm, deployment, capacity, other). Answer with the \
                 category only."
            }
            Self::Summarize => "Summarise this incident in one sentence for an on-call engineer.",
        }
    }
}

/// One request to a provider.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LlmRequest {
    /// The task.
    pub task: Task,
    /// The instruction (system message).
    pub instruction: String,
    /// The incident text (user message).
    pub input: String,
}

impl LlmRequest {
    /// A request for `task` about `input`.
    pub fn new(task: Task, input: impl Into<String>) -> Self {
        Self {
            task,
            instruction: task.instruction().to_owned(),
            input: input.into(),
        }
    }
}

/// A provider's answer.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct LlmResponse {
    /// The answer text.
    pub text: String,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// When streaming: the time from the request to the first content.
    pub time_to_first_token: Option<Duration>,
    /// Why the answer ended (`choices[0].finish_reason`: `stop`, `length`,
    /// `content_filter`, ...), when the provider said.
    pub finish_reason: Option<String>,
    /// Prompt tokens read from the provider's cache
    /// (`usage.prompt_tokens_details.cached_tokens`), when reported.
    pub cached_tokens: Option<u64>,
}

/// The rate limits a provider reported in its answer's headers
/// (`x-ratelimit-remaining-requests`, `x-ratelimit-remaining-tokens`,
/// `x-ratelimit-limit-requests`, `x-ratelimit-limit-tokens`); a header that
/// is absent, or not a non-negative number, is `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct RateLimits {
    /// Requests left in the current window.
    pub remaining_requests: Option<f64>,
    /// Tokens left in the current window.
    pub remaining_tokens: Option<f64>,
    /// Requests allowed per window.
    pub limit_requests: Option<f64>,
    /// Tokens allowed per window.
    pub limit_tokens: Option<f64>,
}

impl RateLimits {
    /// The four headers of `headers`, each kept only when it is a
    /// non-negative finite number.
    pub fn from_headers(headers: &http::HeaderMap) -> Self {
        let read = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v >= 0.0)
        };
        Self {
            remaining_requests: read("x-ratelimit-remaining-requests"),
            remaining_tokens: read("x-ratelimit-remaining-tokens"),
            limit_requests: read("x-ratelimit-limit-requests"),
            limit_tokens: read("x-ratelimit-limit-tokens"),
        }
    }

    /// Whether no header was read.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// What a provider reports while a call runs, to the tracker of the call.
///
/// Any `FnMut()` closure is an observer that is called for each token and
/// ignores rate limits, so `&mut || {}` observes nothing.
pub trait CallObserver: Send {
    /// One streamed chunk with content arrived (the first one is the first
    /// token).
    fn token(&mut self);
    /// The provider reported rate limits in its answer's headers (also on an
    /// error answer such as `429`).
    fn rate_limits(&mut self, limits: &RateLimits);
}

impl<F: FnMut() + Send> CallObserver for F {
    fn token(&mut self) {
        self();
    }

    fn rate_limits(&mut self, _limits: &RateLimits) {}
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LlmError {
    /// The call took longer than the configured timeout.
    #[error("llm call timed out")]
    Timeout,
    /// The connection failed.
    #[error("llm connection failed: {0}")]
    Network(String),
    /// The provider answered with an HTTP error status.
    #[error("llm provider answered {status}: {body}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The answer could not be decoded.
    #[error("llm answer invalid: {0}")]
    InvalidResponse(String),
    /// The request could not be built.
    #[error("llm request invalid: {0}")]
    InvalidRequest(String),
    /// The answer's body was larger than `llm.max_response_bytes`; the
    /// call was cut off there.
    #[error("llm answer larger than llm.max_response_bytes ({limit} bytes)")]
    ResponseTooLarge {
        /// The configured bound, in bytes.
        limit: u64,
    },
}

impl LlmError {
    /// The `error_type` label value.
    pub fn error_type(&self) -> LlmErrorType {
        match self {
            Self::Timeout => LlmErrorType::Timeout,
            Self::Network(_) => LlmErrorType::Network,
            Self::Status { status, .. } => match status {
                401 | 403 => LlmErrorType::Authentication,
                429 => LlmErrorType::RateLimited,
                400..=499 => LlmErrorType::InvalidRequest,
                _ => LlmErrorType::ServerError,
            },
            Self::InvalidResponse(_) => LlmErrorType::InvalidResponse,
            Self::InvalidRequest(_) => LlmErrorType::InvalidRequest,
            Self::ResponseTooLarge { .. } => LlmErrorType::ResponseTooLarge,
        }
    }
}

/// An LLM provider.
pub trait LlmProvider: Send + Sync + Debug {
    /// The `provider` label value, e.g. `openai`.
    fn name(&self) -> &str;
    /// The `model` label value.
    fn model(&self) -> &str;
    /// Runs one request. A streaming provider calls `events.token()` for
    /// each chunk with content, so that the tracker times the first token
    /// and the gaps between tokens, and `events.rate_limits` with the rate
    /// limits its answer reported.
    fn complete<'a>(
        &'a self,
        request: &'a LlmRequest,
        events: &'a mut dyn CallObserver,
    ) -> BoxFuture<'a, Result<LlmResponse, LlmError>>;
}

/// The provider for one entry of the chain.
pub fn provider_from_config(config: &ProviderConfig) -> Arc<dyn LlmProvider> {
    match config.provider {
        ProviderKind::Offline => {
            Arc::new(OfflineProvider::new(config.model_or_default()).with_name(config.label()))
        }
        ProviderKind::Openai => Arc::new(OpenAiProvider::new(config)),
    }
}

/// What the analysis of an incident found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Analysis {
    /// The category, when the classification succeeded.
    pub classification: Option<String>,
    /// The summary, when the summarisation succeeded.
    pub summary: Option<String>,
}

/// Runs the analysis calls of an incident through the [`ProviderChain`] and
/// the LLM tracker, which prices them from the configured table.
#[derive(Clone, Debug)]
pub struct Analyzer {
    chain: Arc<ProviderChain>,
}

impl Analyzer {
    /// An analyzer over the chain of `config` ([`LlmConfig::chain`]),
    /// recording into `telemetry`: each provider's budget is set and its
    /// state shown as healthy.
    ///
    /// # Errors
    ///
    /// A budget the trackers refuse (negative or not finite; the
    /// configuration's validation refuses those first).
    pub fn new(config: &LlmConfig, telemetry: Trackers) -> Result<Self, SetupError> {
        let providers = config
            .chain()
            .iter()
            .map(|p| (provider_from_config(p), p.timeout(), p.budget_usd))
            .collect();
        Ok(Self::from_chain(ProviderChain::new(
            providers,
            Duration::from_millis(config.cooldown_ms.max(1)),
            config.failure_threshold.max(1),
            telemetry,
        )?))
    }

    /// An analyzer over `chain`.
    pub fn from_chain(chain: ProviderChain) -> Self {
        Self {
            chain: Arc::new(chain),
        }
    }

    /// The provider chain.
    pub fn chain(&self) -> &ProviderChain {
        &self.chain
    }

    /// Runs one call through the chain (see [`ProviderChain::call`]).
    ///
    /// # Errors
    ///
    /// The error of the last provider tried, or [`LlmError::Timeout`].
    pub async fn call(
        &self,
        request: &LlmRequest,
        queued: Option<Duration>,
    ) -> Result<LlmResponse, LlmError> {
        self.chain.call(request, queued).await
    }

    /// Classifies and summarises an incident; a failed call leaves its field
    /// empty (and is counted), never fails the incident. `ready_at_ms` is
    /// when the analysis became due in the outbox (milliseconds since the
    /// Unix epoch): the time from then to the start of the first call is
    /// the analysis' queue time (`llm_queue_duration_seconds`, once per
    /// analysis; the summary's call follows the classification's and is not
    /// queued again).
    pub async fn analyze(
        &self,
        title: &str,
        description: &str,
        severity: Severity,
        ready_at_ms: i64,
    ) -> Analysis {
        let text = format!(
            "Title: {title}\nSeverity: {}\nDescription: {description}",
            severity.as_str()
        );
        let waited = u64::try_from(now_ms().saturating_sub(ready_at_ms)).unwrap_or(0);
        let classification = self
            .call(
                &LlmRequest::new(Task::Classify, text.clone()),
                Some(Duration::from_millis(waited)),
            )
            .await
            .ok()
            .map(|r| r.text.trim().to_owned());
        let summary = self
            .call(&LlmRequest::new(Task::Summarize, text), None)
            .await
            .ok()
            .map(|r| r.text.trim().to_owned());
        Analysis {
            classification,
            summary,
        }
    }
}
