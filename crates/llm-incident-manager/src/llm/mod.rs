//! LLM analysis of incidents: a [`LlmProvider`] trait with two
//! implementations, the embedded [`OfflineProvider`] (the default: no
//! network) and the [`OpenAiProvider`] for OpenAI-compatible HTTP APIs, and
//! the [`Analyzer`] that sends every call through the LLM tracker and prices
//! it from the configured price table.

pub mod offline;
pub mod openai;
mod tokens;

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use incident_metrics::catalog::llm::{LlmErrorType, LlmOperation};
use incident_metrics::trackers::Trackers;

pub use offline::OfflineProvider;
pub use openai::OpenAiProvider;
pub use tokens::{count_tokens, warm_up};

use crate::config::{LlmConfig, ProviderKind};
use crate::domain::Severity;

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
    /// Runs one request. A streaming provider calls `first_token` when the
    /// first content arrives, so that the tracker times it.
    fn complete<'a>(
        &'a self,
        request: &'a LlmRequest,
        first_token: &'a mut (dyn FnMut() + Send),
    ) -> BoxFuture<'a, Result<LlmResponse, LlmError>>;
}

/// The provider for a configuration.
pub fn provider_from_config(config: &LlmConfig) -> Arc<dyn LlmProvider> {
    match config.provider {
        ProviderKind::Offline => Arc::new(OfflineProvider::new(config.model_or_default())),
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

/// Runs the analysis calls of an incident through the LLM tracker, which
/// prices them from the configured table.
#[derive(Clone, Debug)]
pub struct Analyzer {
    provider: Arc<dyn LlmProvider>,
    timeout: Duration,
    telemetry: Trackers,
}

impl Analyzer {
    /// An analyzer over `provider`.
    pub fn new(provider: Arc<dyn LlmProvider>, config: &LlmConfig, telemetry: Trackers) -> Self {
        Self {
            provider,
            timeout: Duration::from_millis(config.timeout_ms.max(1)),
            telemetry,
        }
    }

    /// The provider.
    pub fn provider(&self) -> &Arc<dyn LlmProvider> {
        &self.provider
    }

    /// Runs one call through the tracker.
    ///
    /// # Errors
    ///
    /// The provider's error, or [`LlmError::Timeout`].
    pub async fn call(&self, request: &LlmRequest) -> Result<LlmResponse, LlmError> {
        let mut tracker = self.telemetry.llm.start(
            self.provider.name(),
            self.provider.model(),
            request.task.operation(),
        );
        let result = {
            let mut first_token = || tracker.first_token();
            let call = self.provider.complete(request, &mut first_token);
            match tokio::time::timeout(self.timeout, call).await {
                Ok(result) => result,
                Err(_) => Err(LlmError::Timeout),
            }
        };
        match &result {
            Ok(r) => tracker.success(r.input_tokens, r.output_tokens),
            Err(e) => {
                let kind = e.error_type();
                tracker.error(kind);
                self.telemetry.errors.record("llm", kind.as_str());
            }
        }
        result
    }

    /// Classifies and summarises an incident; a failed call leaves its field
    /// empty (and is counted), never fails the incident.
    pub async fn analyze(&self, title: &str, description: &str, severity: Severity) -> Analysis {
        let text = format!(
            "Title: {title}\nSeverity: {}\nDescription: {description}",
            severity.as_str()
        );
        let classification = self
            .call(&LlmRequest::new(Task::Classify, text.clone()))
            .await
            .ok()
            .map(|r| r.text.trim().to_owned());
        let summary = self
            .call(&LlmRequest::new(Task::Summarize, text))
            .await
            .ok()
            .map(|r| r.text.trim().to_owned());
        Analysis {
            classification,
            summary,
        }
    }
}
