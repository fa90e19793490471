//! [`LlmRecorder`] and [`LlmCallTracker`]: one LLM call's latency, tokens,
//! cost and outcome.

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use incident_metrics_catalog::llm::{
    LlmErrorLabels, LlmErrorType, LlmModelLabels, LlmOperation, LlmRequestLabels, LlmTokenLabels,
    TokenType,
};
use incident_metrics_catalog::{Catalog, LimitMetrics, LlmMetrics};
use incident_metrics_core::prometheus_client::metrics::counter::Counter;
use incident_metrics_core::{ByLabel, Histogram, SharedStr};
use quanta::Instant;

use crate::cache::{Entry, HandleCache};
use crate::label::IntoLabel;
use crate::limiter::{CardinalityLimiter, OVERFLOW_VALUE};
use crate::price::{ModelPrice, PriceTable};
use crate::start::Start;
use crate::{Result, TrackerConfig};

/// Records LLM calls into the catalog's [`LlmMetrics`]: hands out one
/// [`LlmCallTracker`] per call.
///
/// Provider and model are free strings from outside, so each passes
/// through a [`CardinalityLimiter`] (labels `llm_provider` and `llm_model`,
/// limits from [`TrackerConfig`]). Each distinct (provider, model) is
/// resolved once to a struct of handles; later calls find it by hashing the
/// two strings, with no lock and no allocation. Cloning is cheap (an `Arc`).
///
/// # Examples
///
/// ```
/// use incident_metrics_catalog::Catalog;
/// use incident_metrics_core::{MetricsConfig, Registry};
/// use incident_metrics_trackers::{LlmRecorder, TrackerConfig};
///
/// let mut registry = Registry::new(&MetricsConfig::new())?;
/// let catalog = Catalog::register(&mut registry)?;
/// let llm = LlmRecorder::from_catalog(&catalog, &TrackerConfig::default())?;
///
/// let call = llm.start("openai", "gpt-4", "completion");
/// // ... the call ...
/// call.success(1_000, 500);
///
/// let mut text = String::new();
/// incident_metrics_core::prometheus_client::encoding::text::encode(&mut text, registry.as_prometheus())?;
/// assert!(text.contains(r#"llm_incident_manager_llm_requests_total{provider="openai",model="gpt-4",operation="completion"} 1"#));
/// assert!(text.contains(r#"llm_incident_manager_llm_tokens_total{provider="openai",model="gpt-4",type="output"} 500"#));
/// // gpt-4 at $30/M input and $60/M output: 0.03 + 0.03.
/// assert!(text.contains(r#"llm_incident_manager_llm_cost_usd_total{provider="openai",model="gpt-4"} 0.06"#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct LlmRecorder {
    inner: Arc<Inner>,
    enabled: bool,
}

#[derive(Debug)]
struct Inner {
    metrics: LlmMetrics,
    prices: PriceTable,
    cache: HandleCache<2, ModelHandles>,
}

/// Everything one (provider, model) records into, resolved once.
#[derive(Debug)]
pub(crate) struct ModelHandles {
    metrics: LlmMetrics,
    price: Option<ModelPrice>,
    tokens: ByLabel<TokenType, Counter>,
    tokens_per_request: ByLabel<TokenType, Histogram>,
    cost: Counter<f64, AtomicU64>,
    ops: ByLabel<LlmOperation, OnceLock<OpHandles>>,
    errors: ByLabel<LlmErrorType, OnceLock<Counter>>,
    time_to_first_token: OnceLock<Histogram>,
    time_per_output_token: OnceLock<Histogram>,
}

#[derive(Debug)]
struct OpHandles {
    requests: Counter,
    duration: Histogram,
}

type ModelEntry = Entry<2, ModelHandles>;

impl ModelHandles {
    fn new(metrics: &LlmMetrics, keys: &[SharedStr; 2], price: Option<ModelPrice>) -> Self {
        let [provider, model] = keys;
        let token_labels = |r#type| LlmTokenLabels {
            provider: provider.clone(),
            model: model.clone(),
            r#type,
        };
        Self {
            metrics: metrics.clone(),
            price,
            tokens: ByLabel::new(|t| metrics.tokens.get_or_create(&token_labels(t)).clone()),
            tokens_per_request: ByLabel::new(|t| {
                metrics
                    .tokens_per_request
                    .get_or_create(&token_labels(t))
                    .clone()
            }),
            cost: metrics.cost_usd.get_or_create(&model_labels(keys)).clone(),
            ops: ByLabel::new(|_| OnceLock::new()),
            errors: ByLabel::new(|_| OnceLock::new()),
            time_to_first_token: OnceLock::new(),
            time_per_output_token: OnceLock::new(),
        }
    }

    #[inline]
    fn op(&self, keys: &[SharedStr; 2], operation: LlmOperation) -> &OpHandles {
        self.ops.get(operation).get_or_init(|| {
            let labels = LlmRequestLabels {
                provider: keys[0].clone(),
                model: keys[1].clone(),
                operation,
            };
            OpHandles {
                requests: self.metrics.requests.get_or_create(&labels).clone(),
                duration: self.metrics.request_duration.get_or_create(&labels).clone(),
            }
        })
    }

    fn error(&self, keys: &[SharedStr; 2], error_type: LlmErrorType) -> &Counter {
        self.errors.get(error_type).get_or_init(|| {
            let labels = LlmErrorLabels {
                provider: keys[0].clone(),
                model: keys[1].clone(),
                error_type,
            };
            self.metrics.errors.get_or_create(&labels).clone()
        })
    }

    fn time_to_first_token(&self, keys: &[SharedStr; 2]) -> &Histogram {
        self.time_to_first_token.get_or_init(|| {
            self.metrics
                .time_to_first_token
                .get_or_create(&model_labels(keys))
                .clone()
        })
    }

    fn time_per_output_token(&self, keys: &[SharedStr; 2]) -> &Histogram {
        self.time_per_output_token.get_or_init(|| {
            self.metrics
                .time_per_output_token
                .get_or_create(&model_labels(keys))
                .clone()
        })
    }
}

fn model_labels(keys: &[SharedStr; 2]) -> LlmModelLabels {
    LlmModelLabels {
        provider: keys[0].clone(),
        model: keys[1].clone(),
    }
}

impl LlmRecorder {
    /// A recorder into `metrics`, folding past the limits of `config` into
    /// `limits`, pricing calls with `config.prices`.
    ///
    /// # Errors
    ///
    /// The errors of [`TrackerConfig::validate`].
    pub fn new(metrics: LlmMetrics, limits: LimitMetrics, config: &TrackerConfig) -> Result<Self> {
        config.validate()?;
        let limiters = [
            CardinalityLimiter::new("llm_provider", config.max_providers, &limits),
            CardinalityLimiter::new("llm_model", config.max_models, &limits),
        ];
        Ok(Self {
            inner: Arc::new(Inner {
                metrics,
                prices: config.prices.clone(),
                cache: HandleCache::new(limiters, [config.max_providers, config.max_models]),
            }),
            enabled: true,
        })
    }

    /// A recorder into the LLM and limit families of `catalog`. Built from
    /// a catalog registered with `enabled = false`, it records nothing and
    /// its trackers read no clock.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn from_catalog(catalog: &Catalog, config: &TrackerConfig) -> Result<Self> {
        let recorder = Self::new(catalog.llm.clone(), catalog.limits.clone(), config)?;
        Ok(Self {
            enabled: catalog.config().enabled(),
            ..recorder
        })
    }

    /// Starts timing one call. `operation` is an [`LlmOperation`] or its
    /// name (OpenTelemetry spellings accepted; unknown names are `other`).
    #[inline]
    pub fn start(
        &self,
        provider: &str,
        model: &str,
        operation: impl IntoLabel<LlmOperation>,
    ) -> LlmCallTracker<'_> {
        let operation = operation.into_label().unwrap_or(LlmOperation::Other);
        if !self.enabled {
            return LlmCallTracker::disabled(operation);
        }
        let inner = &*self.inner;
        let entry = inner.cache.get([provider, model], |keys| {
            ModelHandles::new(&inner.metrics, keys, inner.prices.get(keys[1].as_str()))
        });
        let price = match entry {
            // A folded model keeps its own price, looked up per call.
            Some(e) if e.keys[1] == OVERFLOW_VALUE && model != OVERFLOW_VALUE => {
                inner.prices.get(model)
            }
            Some(e) => e.value.price,
            None => None,
        };
        LlmCallTracker {
            entry: entry.map(|e| &**e),
            operation,
            price,
            start: Start::now(),
            first_token: None,
            done: false,
        }
    }

    /// The price table in use.
    pub fn prices(&self) -> &PriceTable {
        &self.inner.prices
    }

    /// The limiter of the `provider` label.
    pub fn provider_limiter(&self) -> &CardinalityLimiter {
        &self.inner.cache.limiters()[0]
    }

    /// The limiter of the `model` label.
    pub fn model_limiter(&self) -> &CardinalityLimiter {
        &self.inner.cache.limiters()[1]
    }
}

/// One LLM call in progress: finish it with [`success`](Self::success) or
/// [`error`](Self::error). Dropped without either (an early return, a
/// cancelled future, a panic), it records an error of kind
/// [`cancelled`](LlmErrorType::Cancelled), once.
///
/// Every finished call counts in `llm_requests_total` and observes
/// `llm_request_duration_seconds`; a success adds its tokens to
/// `llm_tokens_total{type}` and `llm_tokens_per_request`, and its cost to
/// `llm_cost_usd_total`; an error counts in `llm_errors_total{error_type}`.
///
/// # Examples
///
/// The spec's example, with the recorder of a catalog:
///
/// ```
/// use incident_metrics_catalog::llm::LlmErrorType;
/// use incident_metrics_catalog::Catalog;
/// use incident_metrics_core::{MetricsConfig, Registry};
/// use incident_metrics_trackers::{LlmRecorder, TrackerConfig};
///
/// let mut registry = Registry::new(&MetricsConfig::new())?;
/// let llm = LlmRecorder::from_catalog(&Catalog::register(&mut registry)?, &TrackerConfig::default())?;
///
/// let mut tracker = llm.start("openai", "gpt-4", "completion");
/// tracker.first_token(); // streaming: time to first token
/// tracker.success(1_000, 500);
///
/// llm.start("openai", "gpt-4", "completion").error(LlmErrorType::Timeout);
/// drop(llm.start("openai", "gpt-4", "completion")); // cancelled
///
/// let mut text = String::new();
/// incident_metrics_core::prometheus_client::encoding::text::encode(
///     &mut text,
///     registry.as_prometheus(),
/// )?;
/// assert!(text.contains(r#"llm_requests_total{provider="openai",model="gpt-4",operation="completion"} 3"#));
/// assert!(text.contains(r#"llm_errors_total{provider="openai",model="gpt-4",error_type="cancelled"} 1"#));
/// assert!(text.contains(r#"llm_errors_total{provider="openai",model="gpt-4",error_type="timeout"} 1"#));
/// assert!(text.contains(r#"llm_time_to_first_token_seconds_count{provider="openai",model="gpt-4"} 1"#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a tracker records when finished or dropped; dropping it at once records a cancelled call"]
pub struct LlmCallTracker<'a> {
    entry: Option<&'a ModelEntry>,
    operation: LlmOperation,
    price: Option<ModelPrice>,
    start: Start,
    first_token: Option<Instant>,
    done: bool,
}

enum Outcome {
    Success {
        input: u64,
        output: u64,
        cost: Option<f64>,
    },
    Error(LlmErrorType),
}

impl LlmCallTracker<'_> {
    /// A tracker that records nothing and reads no clock: what a recorder
    /// with metrics disabled hands out, for code that must hold a tracker
    /// before any metrics exist (the facade's `prelude` before
    /// `init_metrics`).
    pub fn inert() -> LlmCallTracker<'static> {
        LlmCallTracker {
            entry: None,
            operation: LlmOperation::Other,
            price: None,
            start: Start::NONE,
            first_token: None,
            done: true,
        }
    }

    /// A tracker that records nothing and reads no clock.
    fn disabled(operation: LlmOperation) -> Self {
        Self {
            entry: None,
            operation,
            price: None,
            start: Start::NONE,
            first_token: None,
            done: true,
        }
    }

    /// Prices this call with `price` instead of the table's price for its
    /// model.
    pub fn with_price(mut self, price: ModelPrice) -> Self {
        self.price = Some(price);
        self
    }

    /// Marks the first output token of a streaming call and records the
    /// time to it in `llm_time_to_first_token_seconds`; later calls do
    /// nothing.
    pub fn first_token(&mut self) {
        if self.first_token.is_some() || self.done {
            return;
        }
        let now = Instant::now();
        self.first_token = Some(now);
        if let Some(entry) = self.entry {
            let ttft = self.start.until(now).as_secs_f64();
            entry.value.time_to_first_token(&entry.keys).observe(ttft);
        }
    }

    /// The time since the call started (zero for a tracker that records
    /// nothing).
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// The call succeeded with these token counts; its cost comes from the
    /// price of its model (none when the model has no price). For a
    /// streaming call marked with [`first_token`](Self::first_token), also
    /// records the time per output token after the first.
    pub fn success(mut self, input_tokens: u64, output_tokens: u64) {
        self.finish(Outcome::Success {
            input: input_tokens,
            output: output_tokens,
            cost: None,
        });
    }

    /// As [`success`](Self::success) with the cost given in USD, as the
    /// spec's three-argument form. A NaN, infinite or negative cost is
    /// refused: nothing is added to `llm_cost_usd_total`.
    pub fn success_with_cost(mut self, input_tokens: u64, output_tokens: u64, cost_usd: f64) {
        self.finish(Outcome::Success {
            input: input_tokens,
            output: output_tokens,
            cost: Some(cost_usd),
        });
    }

    /// The call failed. `kind` is an [`LlmErrorType`] or its name; unknown
    /// names count as `other`.
    pub fn error(mut self, kind: impl IntoLabel<LlmErrorType>) {
        let kind = kind.into_label().unwrap_or(LlmErrorType::Other);
        self.finish(Outcome::Error(kind));
    }

    fn finish(&mut self, outcome: Outcome) {
        if self.done {
            return;
        }
        self.done = true;
        let Some(entry) = self.entry else {
            return;
        };
        let now = Instant::now();
        let handles = &entry.value;
        let op = handles.op(&entry.keys, self.operation);
        op.requests.inc();
        op.duration.observe(self.start.until(now).as_secs_f64());
        match outcome {
            Outcome::Success {
                input,
                output,
                cost,
            } => {
                handles.tokens.get(TokenType::Input).inc_by(input);
                handles.tokens.get(TokenType::Output).inc_by(output);
                // u64 -> f64 loses precision only past 2^53 tokens.
                #[allow(clippy::cast_precision_loss)]
                {
                    handles
                        .tokens_per_request
                        .get(TokenType::Input)
                        .observe(input as f64);
                    handles
                        .tokens_per_request
                        .get(TokenType::Output)
                        .observe(output as f64);
                }
                let cost = cost.or_else(|| self.price.map(|p| p.cost(input, output)));
                if let Some(cost) = cost.filter(|c| c.is_finite() && *c > 0.0) {
                    handles.cost.inc_by(cost);
                }
                if let Some(first) = self.first_token
                    && output > 1
                {
                    #[allow(clippy::cast_precision_loss)]
                    let per_token =
                        now.saturating_duration_since(first).as_secs_f64() / (output - 1) as f64;
                    handles
                        .time_per_output_token(&entry.keys)
                        .observe(per_token);
                }
            }
            Outcome::Error(kind) => {
                handles.error(&entry.keys, kind).inc();
            }
        }
    }
}

impl Drop for LlmCallTracker<'_> {
    fn drop(&mut self) {
        self.finish(Outcome::Error(LlmErrorType::Cancelled));
    }
}

impl fmt::Debug for LlmCallTracker<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = self.entry.map(|e| &e.keys);
        f.debug_struct("LlmCallTracker")
            .field("labels", &keys)
            .field("operation", &self.operation)
            .field("price", &self.price)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
