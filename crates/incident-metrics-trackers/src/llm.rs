//! [`LlmRecorder`] and [`LlmCallTracker`]: one LLM call's latency, tokens,
//! cost and outcome.

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use incident_metrics_catalog::llm::{
    FallbackOutcome, LlmErrorLabels, LlmErrorType, LlmFallbackLabels, LlmFinishReason,
    LlmFinishReasonLabels, LlmModelLabels, LlmOperation, LlmProviderLabels, LlmRateLimitLabels,
    LlmRequestLabels, LlmTokenLabels, ProviderState, RateLimitKind, TokenType,
};
use incident_metrics_catalog::{Catalog, LimitMetrics, LlmMetrics};
use incident_metrics_core::prometheus_client::metrics::counter::Counter;
use incident_metrics_core::prometheus_client::metrics::gauge::Gauge;
use incident_metrics_core::{ByLabel, Histogram, SharedStr, TraceContext};
use quanta::Instant;

use crate::cache::{Entry, HandleCache};
use crate::label::IntoLabel;
use crate::limiter::{CardinalityLimiter, OVERFLOW_VALUE};
use crate::price::{ModelPrice, PriceTable};
use crate::start::Start;
use crate::{Error, Result, TrackerConfig};

/// An `f64` gauge handle.
type FloatGauge = Gauge<f64, AtomicU64>;

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
    /// Whether a call's trace ([`LlmCallTracker::with_trace`]) is kept as
    /// the exemplar of its duration and time to first token.
    exemplars: bool,
}

#[derive(Debug)]
struct Inner {
    metrics: LlmMetrics,
    prices: PriceTable,
    cache: HandleCache<2, ModelHandles>,
}

/// Everything one (provider, model) records into, resolved once. Series
/// that not every call records into (errors, streaming, finish reasons,
/// cache reads, rate limits, budgets) are created on first use, so that a
/// family moves only by what was reported.
#[derive(Debug)]
pub(crate) struct ModelHandles {
    metrics: LlmMetrics,
    /// Whether the per-call histograms take the GenAI names.
    genai: bool,
    price: Option<ModelPrice>,
    tokens: ByLabel<TokenType, Counter>,
    cost: Counter<f64, AtomicU64>,
    /// `llm_requests_in_flight{provider}`, shared by every model of the provider.
    in_flight: Gauge,
    ops: ByLabel<LlmOperation, OnceLock<OpHandles>>,
    errors: ByLabel<LlmErrorType, OnceLock<Counter>>,
    queue_duration: OnceLock<Histogram>,
    inter_token_latency: OnceLock<Histogram>,
    finish_reasons: ByLabel<LlmFinishReason, OnceLock<Counter>>,
    /// `llm_cache_read_tokens_total` and `llm_request_tokens{type="cache_read"}`
    /// (no histogram under the GenAI names).
    cache_read: OnceLock<(Counter, Option<Histogram>)>,
    rate_limit_remaining: ByLabel<RateLimitKind, OnceLock<FloatGauge>>,
    rate_limit_limit: ByLabel<RateLimitKind, OnceLock<FloatGauge>>,
    /// `llm_budget_remaining_usd`, once a budget is set.
    budget_remaining: OnceLock<FloatGauge>,
}

/// What one (provider, model, operation) records into: the per-call
/// histograms are per operation under the GenAI names (under the
/// catalog's, the token and streaming histograms are per model, and every
/// operation holds a handle to the same series).
#[derive(Debug)]
struct OpHandles {
    requests: Counter,
    /// The duration of a successful call.
    duration: Histogram,
    /// The duration of a failed call, by kind, under the GenAI names
    /// (unused under the catalog's, where `duration` takes every call).
    error_durations: ByLabel<LlmErrorType, OnceLock<Histogram>>,
    request_tokens: ByLabel<TokenType, Histogram>,
    time_to_first_token: OnceLock<Histogram>,
    time_per_output_token: OnceLock<Histogram>,
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
            genai: metrics.histograms.is_genai(),
            price,
            tokens: ByLabel::new(|t| metrics.tokens.get_or_create(&token_labels(t)).clone()),
            cost: metrics.cost_usd.get_or_create(&model_labels(keys)).clone(),
            in_flight: metrics
                .requests_in_flight
                .get_or_create(&LlmProviderLabels {
                    provider: provider.clone(),
                })
                .clone(),
            ops: ByLabel::new(|_| OnceLock::new()),
            errors: ByLabel::new(|_| OnceLock::new()),
            queue_duration: OnceLock::new(),
            inter_token_latency: OnceLock::new(),
            finish_reasons: ByLabel::new(|_| OnceLock::new()),
            cache_read: OnceLock::new(),
            rate_limit_remaining: ByLabel::new(|_| OnceLock::new()),
            rate_limit_limit: ByLabel::new(|_| OnceLock::new()),
            budget_remaining: OnceLock::new(),
        }
    }

    fn queue_duration(&self, keys: &[SharedStr; 2]) -> &Histogram {
        self.queue_duration.get_or_init(|| {
            self.metrics
                .queue_duration
                .get_or_create(&model_labels(keys))
        })
    }

    fn inter_token_latency(&self, keys: &[SharedStr; 2]) -> &Histogram {
        self.inter_token_latency.get_or_init(|| {
            self.metrics
                .inter_token_latency
                .get_or_create(&model_labels(keys))
        })
    }

    fn finish_reason(&self, keys: &[SharedStr; 2], reason: LlmFinishReason) -> &Counter {
        self.finish_reasons.get(reason).get_or_init(|| {
            self.metrics
                .finish_reasons
                .get_or_create(&LlmFinishReasonLabels {
                    provider: keys[0].clone(),
                    model: keys[1].clone(),
                    reason,
                })
        })
    }

    fn cache_read(&self, keys: &[SharedStr; 2]) -> &(Counter, Option<Histogram>) {
        self.cache_read.get_or_init(|| {
            let counter = self
                .metrics
                .cache_read_tokens
                .get_or_create(&model_labels(keys));
            // Per model under the catalog's names; none under GenAI's.
            let histogram = self
                .metrics
                .histograms
                .cache_read_tokens(&keys[0], &keys[1]);
            (counter, histogram)
        })
    }

    fn rate_limit(&self, keys: &[SharedStr; 2], kind: RateLimitKind, limit: bool) -> &FloatGauge {
        let (slots, family) = if limit {
            (&self.rate_limit_limit, &self.metrics.rate_limit_limit)
        } else {
            (
                &self.rate_limit_remaining,
                &self.metrics.rate_limit_remaining,
            )
        };
        slots.get(kind).get_or_init(|| {
            family.get_or_create(&LlmRateLimitLabels {
                provider: keys[0].clone(),
                model: keys[1].clone(),
                kind,
            })
        })
    }

    #[inline]
    fn op(&self, keys: &[SharedStr; 2], operation: LlmOperation) -> &OpHandles {
        self.ops.get(operation).get_or_init(|| {
            let [provider, model] = keys;
            let labels = LlmRequestLabels {
                provider: provider.clone(),
                model: model.clone(),
                operation,
            };
            let histograms = &self.metrics.histograms;
            let tokens = |t| histograms.request_tokens(provider, model, operation, t);
            OpHandles {
                requests: self.metrics.requests.get_or_create(&labels),
                duration: histograms.duration(provider, model, operation, None),
                error_durations: ByLabel::new(|_| OnceLock::new()),
                request_tokens: ByLabel::new(tokens),
                time_to_first_token: OnceLock::new(),
                time_per_output_token: OnceLock::new(),
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

    /// The duration series of a failed call of `op`: under the catalog's
    /// names the one of every call, under the GenAI names its own per
    /// `error_type`.
    #[inline]
    fn error_duration<'a>(
        &'a self,
        op: &'a OpHandles,
        keys: &[SharedStr; 2],
        operation: LlmOperation,
        kind: LlmErrorType,
    ) -> &'a Histogram {
        if !self.genai {
            return &op.duration;
        }
        op.error_durations.get(kind).get_or_init(|| {
            self.metrics
                .histograms
                .duration(&keys[0], &keys[1], operation, Some(kind))
        })
    }

    fn time_to_first_token(&self, keys: &[SharedStr; 2], operation: LlmOperation) -> &Histogram {
        self.op(keys, operation)
            .time_to_first_token
            .get_or_init(|| {
                self.metrics
                    .histograms
                    .time_to_first_token(&keys[0], &keys[1], operation)
            })
    }

    fn time_per_output_token(&self, keys: &[SharedStr; 2], operation: LlmOperation) -> &Histogram {
        self.op(keys, operation)
            .time_per_output_token
            .get_or_init(|| {
                self.metrics
                    .histograms
                    .time_per_output_token(&keys[0], &keys[1], operation)
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
            exemplars: false,
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
            exemplars: catalog.config().exemplars(),
            ..recorder
        })
    }

    /// Turns exemplars on or off for the calls this recorder starts: on,
    /// the trace given to [`LlmCallTracker::with_trace`] is kept as the
    /// exemplar of the call's duration and time-to-first-token buckets;
    /// off, it is ignored. [`from_catalog`](Self::from_catalog) follows the
    /// registry's `exemplars` key; [`new`](Self::new) starts with them off.
    pub fn with_exemplars(mut self, on: bool) -> Self {
        self.exemplars = on;
        self
    }

    /// Whether the calls this recorder starts keep their trace as an
    /// exemplar.
    pub fn exemplars(&self) -> bool {
        self.exemplars
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
        let entry = entry.map(|e| &**e);
        if let Some(entry) = entry {
            entry.value.in_flight.inc();
        }
        LlmCallTracker {
            entry,
            operation,
            price,
            start: Start::now(),
            first_token: None,
            last_token: None,
            finish_reason: None,
            cache_read: None,
            trace: None,
            exemplars: self.exemplars,
            done: false,
        }
    }

    /// The handles of (provider, model), through the limiters; `None` when
    /// recording is off.
    #[inline]
    fn entry(&self, provider: &str, model: &str) -> Option<&ModelEntry> {
        if !self.enabled {
            return None;
        }
        let inner = &*self.inner;
        inner
            .cache
            .get([provider, model], |keys| {
                ModelHandles::new(&inner.metrics, keys, inner.prices.get(keys[1].as_str()))
            })
            .map(|e| &**e)
    }

    /// The limited value of the provider label for `provider`.
    fn provider_label(&self, provider: &str) -> SharedStr {
        self.inner.cache.limiters()[0].limit(provider).clone()
    }

    /// Sets `llm_rate_limit_remaining{provider, model, kind}` to `value`,
    /// the requests or tokens left as the provider last reported them
    /// (`x-ratelimit-remaining-requests`, `x-ratelimit-remaining-tokens`).
    /// Call it only when the header was present: a gauge never reported
    /// has no series, and one reported keeps its last value. A NaN,
    /// infinite or negative `value` is ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// use incident_metrics_catalog::llm::RateLimitKind;
    /// use incident_metrics_catalog::Catalog;
    /// use incident_metrics_core::{MetricsConfig, Registry};
    /// use incident_metrics_trackers::{LlmRecorder, TrackerConfig};
    ///
    /// let mut registry = Registry::new(&MetricsConfig::new())?;
    /// let catalog = Catalog::register(&mut registry)?;
    /// let llm = LlmRecorder::from_catalog(&catalog, &TrackerConfig::default())?;
    /// llm.rate_limit_limit("openai", "gpt-4o", RateLimitKind::Tokens, 30_000.0);
    /// llm.rate_limit_remaining("openai", "gpt-4o", RateLimitKind::Tokens, 29_000.0);
    ///
    /// let mut text = String::new();
    /// incident_metrics_core::prometheus_client::encoding::text::encode(&mut text, registry.as_prometheus())?;
    /// assert!(text.contains(r#"llm_rate_limit_remaining{provider="openai",model="gpt-4o",kind="tokens"} 29000.0"#));
    /// assert!(text.contains(r#"llm_rate_limit_limit{provider="openai",model="gpt-4o",kind="tokens"} 30000.0"#));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rate_limit_remaining(
        &self,
        provider: &str,
        model: &str,
        kind: RateLimitKind,
        value: f64,
    ) {
        self.set_rate_limit(provider, model, kind, value, false);
    }

    /// Sets `llm_rate_limit_limit{provider, model, kind}` to `value`, the
    /// size of the provider's rate-limit window as last reported
    /// (`x-ratelimit-limit-requests`, `x-ratelimit-limit-tokens`), so that
    /// alerts can divide the remaining by the limit. As
    /// [`rate_limit_remaining`](Self::rate_limit_remaining), a gauge never
    /// reported has no series, and a NaN, infinite or negative `value` is
    /// ignored.
    pub fn rate_limit_limit(&self, provider: &str, model: &str, kind: RateLimitKind, value: f64) {
        self.set_rate_limit(provider, model, kind, value, true);
    }

    fn set_rate_limit(
        &self,
        provider: &str,
        model: &str,
        kind: RateLimitKind,
        value: f64,
        limit: bool,
    ) {
        if !value.is_finite() || value < 0.0 {
            return;
        }
        if let Some(entry) = self.entry(provider, model) {
            entry.value.rate_limit(&entry.keys, kind, limit).set(value);
        }
    }

    /// Sets `llm_provider_state{provider}` to the value of `state` (0
    /// healthy, 1 degraded, 2 down). A provider whose state was never set
    /// has no series. Meant for state changes, not for every call: it looks
    /// the series up by its labels.
    ///
    /// # Examples
    ///
    /// ```
    /// use incident_metrics_catalog::llm::{FallbackOutcome, ProviderState};
    /// use incident_metrics_catalog::Catalog;
    /// use incident_metrics_core::{MetricsConfig, Registry};
    /// use incident_metrics_trackers::{LlmRecorder, TrackerConfig};
    ///
    /// let mut registry = Registry::new(&MetricsConfig::new())?;
    /// let catalog = Catalog::register(&mut registry)?;
    /// let llm = LlmRecorder::from_catalog(&catalog, &TrackerConfig::default())?;
    /// llm.provider_state("openai", ProviderState::Down);
    /// llm.fallback("openai", "offline", FallbackOutcome::Success);
    ///
    /// let mut text = String::new();
    /// incident_metrics_core::prometheus_client::encoding::text::encode(&mut text, registry.as_prometheus())?;
    /// assert!(text.contains(r#"llm_provider_state{provider="openai"} 2"#));
    /// assert!(text.contains(r#"llm_fallbacks_total{from="openai",to="offline",outcome="success"} 1"#));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn provider_state(&self, provider: &str, state: ProviderState) {
        if !self.enabled {
            return;
        }
        let labels = LlmProviderLabels {
            provider: self.provider_label(provider),
        };
        self.inner
            .metrics
            .provider_state
            .get_or_create(&labels)
            .set(state.value());
    }

    /// Counts one call moved from the failing provider `from` to the next
    /// one, `to`, in `llm_fallbacks_total{from, to, outcome}`: `outcome`
    /// says whether `to` answered. Both names pass through the provider
    /// limiter. Meant for fallbacks, not for every call: it looks the
    /// series up by its labels.
    pub fn fallback(&self, from: &str, to: &str, outcome: FallbackOutcome) {
        if !self.enabled {
            return;
        }
        let labels = LlmFallbackLabels {
            from: self.provider_label(from),
            to: self.provider_label(to),
            outcome,
        };
        self.inner.metrics.fallbacks.get_or_create(&labels).inc();
    }

    /// Sets a spending budget of `usd` US dollars for (provider, model):
    /// `llm_budget_usd` reads `usd`, and `llm_budget_remaining_usd` reads
    /// `usd` minus the pair's `llm_cost_usd_total` so far. From then on
    /// every finished call of the pair that has a cost (from the price
    /// table, [`LlmCallTracker::with_price`] or
    /// [`LlmCallTracker::success_with_cost`]) lowers the remaining budget
    /// by that cost, in the same step that adds it to
    /// `llm_cost_usd_total`. The remaining budget is not clamped: past the
    /// budget it goes negative, so overspending shows. Setting the budget
    /// again starts over from the new amount minus the spend so far. Pairs
    /// without a budget have no budget series.
    ///
    /// A budget is kept per limited label pair: set it for a provider and
    /// model that the limiters admit (the first ones seen, up to
    /// [`TrackerConfig::max_providers`] and
    /// [`TrackerConfig::max_models`]). With recording off it checks `usd`
    /// and records nothing.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidBudget`] when `usd` is NaN, infinite or negative,
    /// or when the provider or model is folded into
    /// [`OVERFLOW_VALUE`](crate::OVERFLOW_VALUE) by its limiter (the budget
    /// would be shared by every folded value).
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
    /// llm.set_budget("openai", "gpt-4", 1.0)?;
    /// llm.start("openai", "gpt-4", "chat").success_with_cost(1_000, 500, 0.75);
    /// llm.start("openai", "gpt-4", "chat").success_with_cost(1_000, 500, 0.75); // overspent
    /// assert!(llm.set_budget("openai", "gpt-4", f64::NAN).is_err());
    ///
    /// let mut text = String::new();
    /// incident_metrics_core::prometheus_client::encoding::text::encode(&mut text, registry.as_prometheus())?;
    /// assert!(text.contains(r#"llm_budget_usd{provider="openai",model="gpt-4"} 1.0"#));
    /// assert!(text.contains(r#"llm_budget_remaining_usd{provider="openai",model="gpt-4"} -0.5"#));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_budget(&self, provider: &str, model: &str, usd: f64) -> Result<()> {
        let invalid = |reason| Error::InvalidBudget {
            provider: provider.to_owned(),
            model: model.to_owned(),
            reason,
        };
        if !usd.is_finite() || usd < 0.0 {
            return Err(invalid(
                "a budget must be a finite, not negative amount of US dollars",
            ));
        }
        let Some(entry) = self.entry(provider, model) else {
            return Ok(());
        };
        let folded = |key: &SharedStr, raw: &str| key == OVERFLOW_VALUE && raw != OVERFLOW_VALUE;
        if folded(&entry.keys[0], provider) || folded(&entry.keys[1], model) {
            return Err(invalid(
                "the provider or model is past its label limit and folded into `other`; \
                 raise max_providers or max_models, or set budgets before other pairs are seen",
            ));
        }
        let handles = &entry.value;
        let labels = model_labels(&entry.keys);
        self.inner
            .metrics
            .budget_usd
            .get_or_create(&labels)
            .set(usd);
        let remaining = handles.budget_remaining.get_or_init(|| {
            self.inner
                .metrics
                .budget_remaining_usd
                .get_or_create(&labels)
        });
        remaining.set(usd - handles.cost.get());
        Ok(())
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
/// A started call counts in `llm_requests_in_flight{provider}` until it
/// finishes or is dropped. Every finished call counts in
/// `llm_requests_total` and observes `llm_request_duration_seconds`; a
/// success adds its tokens to `llm_tokens_total{type}` and
/// `llm_request_tokens{type}`, and its cost to `llm_cost_usd_total` (and
/// takes it off `llm_budget_remaining_usd` when the pair has a budget,
/// [`LlmRecorder::set_budget`]); an error counts in
/// `llm_errors_total{error_type}`. While it runs, [`queued`](Self::queued),
/// [`token`](Self::token), [`finish_reason`](Self::finish_reason) and
/// [`cache_read_tokens`](Self::cache_read_tokens) add what the provider
/// reported.
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
    last_token: Option<Instant>,
    finish_reason: Option<LlmFinishReason>,
    cache_read: Option<u64>,
    /// The call's sampled trace, kept only while exemplars are on.
    trace: Option<TraceContext>,
    exemplars: bool,
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
            last_token: None,
            finish_reason: None,
            cache_read: None,
            trace: None,
            exemplars: false,
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
            last_token: None,
            finish_reason: None,
            cache_read: None,
            trace: None,
            exemplars: false,
            done: true,
        }
    }

    /// Prices this call with `price` instead of the table's price for its
    /// model.
    pub fn with_price(mut self, price: ModelPrice) -> Self {
        self.price = Some(price);
        self
    }

    /// Attaches the trace this call runs in: while exemplars are on
    /// (`exemplars = true` in the registry's configuration, see
    /// [`LlmRecorder::with_exemplars`]), the call's duration
    /// (`llm_request_duration_seconds`, or
    /// `gen_ai_client_operation_duration_seconds` under the GenAI names)
    /// and its time to first token (`llm_time_to_first_token_seconds` or
    /// `gen_ai_server_time_to_first_token_seconds`) carry it as the
    /// exemplar of the bucket they fall in. `None`, an unsampled trace
    /// (which a tracing backend does not keep), or exemplars off: nothing
    /// is attached and the call costs what it costs without a trace.
    ///
    /// Set it before [`first_token`](Self::first_token) or
    /// [`token`](Self::token) for the time to first token to carry it.
    ///
    /// # Examples
    ///
    /// ```
    /// use incident_metrics_catalog::Catalog;
    /// use incident_metrics_core::{MetricsConfig, Registry, TraceContext};
    /// use incident_metrics_trackers::{LlmRecorder, TrackerConfig};
    ///
    /// let mut registry = Registry::new(&MetricsConfig::new().with_exemplars(true))?;
    /// let llm = LlmRecorder::from_catalog(&Catalog::register(&mut registry)?, &TrackerConfig::default())?;
    /// let trace = TraceContext::from_traceparent(
    ///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    /// );
    /// llm.start("openai", "gpt-4o", "chat").with_trace(trace).success(100, 20);
    ///
    /// let mut text = String::new();
    /// incident_metrics_core::prometheus_client::encoding::text::encode(&mut text, registry.as_prometheus())?;
    /// assert!(text.lines().any(|l| l.starts_with("llm_incident_manager_llm_request_duration_seconds_bucket{")
    ///     && l.contains(r#" # {trace_id="4bf92f3577b34da6a3ce929d0e0e4736",span_id="00f067aa0ba902b7"} "#)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_trace(mut self, trace: impl Into<Option<TraceContext>>) -> Self {
        self.set_trace(trace);
        self
    }

    /// As [`with_trace`](Self::with_trace), on a tracker held by
    /// reference (a later trace replaces an earlier one).
    pub fn set_trace(&mut self, trace: impl Into<Option<TraceContext>>) {
        if self.exemplars && !self.done {
            self.trace = trace.into().filter(TraceContext::is_sampled);
        }
    }

    /// Marks the first output token of a streaming call and records the
    /// time to it in `llm_time_to_first_token_seconds`; later calls do
    /// nothing. [`token`](Self::token) calls it for the first chunk.
    pub fn first_token(&mut self) {
        if self.first_token.is_some() || self.done {
            return;
        }
        self.mark_first_token(Instant::now());
    }

    fn mark_first_token(&mut self, now: Instant) {
        self.first_token = Some(now);
        self.last_token = Some(now);
        if let Some(entry) = self.entry {
            let ttft = self.start.until(now).as_secs_f64();
            let histogram = entry.value.time_to_first_token(&entry.keys, self.operation);
            histogram.observe_traced(ttft, self.trace.as_ref());
        }
    }

    /// Marks the arrival of one streamed chunk (or token) of the answer.
    /// The first is the time to first token, as
    /// [`first_token`](Self::first_token); every later one records the
    /// time since the previous one in `llm_inter_token_latency_seconds`.
    /// A tracker that records nothing reads no clock here either.
    ///
    /// # Examples
    ///
    /// ```
    /// use incident_metrics_catalog::llm::LlmFinishReason;
    /// use incident_metrics_catalog::Catalog;
    /// use incident_metrics_core::{MetricsConfig, Registry};
    /// use incident_metrics_trackers::{LlmRecorder, TrackerConfig};
    ///
    /// let mut registry = Registry::new(&MetricsConfig::new())?;
    /// let catalog = Catalog::register(&mut registry)?;
    /// let llm = LlmRecorder::from_catalog(&catalog, &TrackerConfig::default())?;
    ///
    /// let mut call = llm.start("openai", "gpt-4o", "chat");
    /// call.queued(std::time::Duration::from_millis(20));
    /// for _chunk in 0..3 {
    ///     call.token();
    /// }
    /// call.finish_reason("stop");
    /// call.cache_read_tokens(64);
    /// call.success(100, 3);
    ///
    /// let mut text = String::new();
    /// incident_metrics_core::prometheus_client::encoding::text::encode(&mut text, registry.as_prometheus())?;
    /// assert!(text.contains(r#"llm_time_to_first_token_seconds_count{provider="openai",model="gpt-4o"} 1"#));
    /// assert!(text.contains(r#"llm_inter_token_latency_seconds_count{provider="openai",model="gpt-4o"} 2"#));
    /// assert!(text.contains(r#"llm_queue_duration_seconds_sum{provider="openai",model="gpt-4o"} 0.02"#));
    /// assert!(text.contains(r#"llm_finish_reasons_total{provider="openai",model="gpt-4o",reason="stop"} 1"#));
    /// assert!(text.contains(r#"llm_cache_read_tokens_total{provider="openai",model="gpt-4o"} 64"#));
    /// assert!(text.contains(r#"llm_requests_in_flight{provider="openai"} 0"#));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn token(&mut self) {
        if self.done {
            return;
        }
        let now = Instant::now();
        match self.last_token {
            None => self.mark_first_token(now),
            Some(previous) => {
                self.last_token = Some(now);
                if let Some(entry) = self.entry {
                    let gap = now.saturating_duration_since(previous).as_secs_f64();
                    entry.value.inter_token_latency(&entry.keys).observe(gap);
                }
            }
        }
    }

    /// Records that the call waited `waited` in the service's own queue
    /// before it was sent, in `llm_queue_duration_seconds`, at once.
    pub fn queued(&mut self, waited: Duration) {
        if self.done {
            return;
        }
        if let Some(entry) = self.entry {
            entry
                .value
                .queue_duration(&entry.keys)
                .observe(waited.as_secs_f64());
        }
    }

    /// Sets why the answer ended, counted once in
    /// `llm_finish_reasons_total{reason}` when the call finishes (with
    /// either outcome; the last reason set wins). `reason` is an
    /// [`LlmFinishReason`] or a provider's spelling
    /// ([`LlmFinishReason::from_name`]: unknown names are `other`). A call
    /// that sets no reason is not counted there.
    pub fn finish_reason(&mut self, reason: impl IntoLabel<LlmFinishReason>) {
        self.finish_reason = Some(reason.into_label().unwrap_or(LlmFinishReason::Other));
    }

    /// Sets the number of prompt tokens the provider read from its cache
    /// (a part of the input tokens). A successful finish adds them to
    /// `llm_cache_read_tokens_total` and observes them in
    /// `llm_request_tokens{type="cache_read"}`; calls that never report it
    /// observe nothing there.
    pub fn cache_read_tokens(&mut self, n: u64) {
        self.cache_read = Some(n);
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
        handles.in_flight.dec();
        if let Some(reason) = self.finish_reason {
            handles.finish_reason(&entry.keys, reason).inc();
        }
        let op = handles.op(&entry.keys, self.operation);
        op.requests.inc();
        let duration = self.start.until(now).as_secs_f64();
        let histogram = match outcome {
            Outcome::Success { .. } => &op.duration,
            Outcome::Error(kind) => handles.error_duration(op, &entry.keys, self.operation, kind),
        };
        histogram.observe_traced(duration, self.trace.as_ref());
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
                    op.request_tokens
                        .get(TokenType::Input)
                        .observe(input as f64);
                    op.request_tokens
                        .get(TokenType::Output)
                        .observe(output as f64);
                    if let Some(cached) = self.cache_read {
                        let (counter, histogram) = handles.cache_read(&entry.keys);
                        counter.inc_by(cached);
                        if let Some(histogram) = histogram {
                            histogram.observe(cached as f64);
                        }
                    }
                }
                let cost = cost.or_else(|| self.price.map(|p| p.cost(input, output)));
                if let Some(cost) = cost.filter(|c| c.is_finite() && *c > 0.0) {
                    handles.cost.inc_by(cost);
                    if let Some(remaining) = handles.budget_remaining.get() {
                        remaining.dec_by(cost);
                    }
                }
                if let Some(first) = self.first_token
                    && output > 1
                {
                    #[allow(clippy::cast_precision_loss)]
                    let per_token =
                        now.saturating_duration_since(first).as_secs_f64() / (output - 1) as f64;
                    handles
                        .time_per_output_token(&entry.keys, self.operation)
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
            .field("trace", &self.trace)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
