//! [`ProviderChain`]: the configured providers, tried in order, each call
//! bounded by its provider's timeout, with a health state per provider.
//!
//! **Health.** A provider is *healthy* while its last call succeeded,
//! *degraded* after 1 to `failure_threshold - 1` consecutive failed calls
//! (a timeout is a failure), and *down* after `failure_threshold`
//! consecutive failures. A down provider is skipped for `cooldown`; once
//! the cool-down has passed, the next call tries it again (half-open: one
//! call at a time, as that call starts the next cool-down): a success makes
//! it healthy, a failure keeps it down for another cool-down.
//! `llm_provider_state{provider}` shows it (0 healthy, 1 degraded, 2 down).
//!
//! **Fallback.** A call that fails (an error answer, a network error, a
//! timeout) moves on to the next provider of the chain that is not down;
//! each such move counts in `llm_fallbacks_total{from, to, outcome}` with
//! the outcome of the call it moved to. Skipping a provider that is down is
//! not a fallback (no call was made to it); its state shows it.
//!
//! **All down.** When every provider is down (none tried by the call), the
//! call tries the one whose last failure is the oldest, once: analysis keeps
//! working as soon as any provider is back, and each call still costs at
//! most one provider timeout. (Failing fast instead would leave every
//! incident of an outage unanalysed until a cool-down passed.)
//!
//! A call therefore costs at most the sum of the timeouts of the providers
//! it tries, and a provider that is down costs nothing until its cool-down
//! passes. Incident creation never waits for any of it: analyses run from
//! the durable outbox.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use incident_metrics::SetupError;
use incident_metrics::catalog::llm::{
    FallbackOutcome, LlmFinishReason, ProviderState, RateLimitKind,
};
use incident_metrics::trackers::{LlmCallTracker, LlmRecorder, Trackers};

use super::{CallObserver, LlmError, LlmProvider, LlmRequest, LlmResponse, RateLimits};

/// A provider's health, as the chain sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProviderHealth {
    /// Its last call succeeded (or none was made).
    Healthy,
    /// Fewer than `failure_threshold` consecutive calls failed.
    Degraded,
    /// `failure_threshold` consecutive calls failed: skipped until its
    /// cool-down passes.
    Down,
}

impl ProviderHealth {
    fn state(self) -> ProviderState {
        match self {
            Self::Healthy => ProviderState::Healthy,
            Self::Degraded => ProviderState::Degraded,
            Self::Down => ProviderState::Down,
        }
    }
}

/// The health record of one provider: a small state machine driven by the
/// outcome of each call and the time.
#[derive(Debug, Default)]
struct Health {
    /// Consecutive failed calls.
    failures: u32,
    /// When down: not tried before this time.
    retry_at: Option<Instant>,
    /// When the last call failed.
    last_failure: Option<Instant>,
}

impl Health {
    fn health(&self, threshold: u32) -> ProviderHealth {
        match self.failures {
            0 => ProviderHealth::Healthy,
            n if n < threshold => ProviderHealth::Degraded,
            _ => ProviderHealth::Down,
        }
    }

    /// Whether a call may try this provider at `now`. A down provider past
    /// its cool-down is claimed for one trial: its next retry time moves a
    /// cool-down on, so that concurrent calls keep skipping it meanwhile.
    fn claim(&mut self, now: Instant, threshold: u32, cooldown: Duration) -> bool {
        if self.failures < threshold {
            return true;
        }
        match self.retry_at {
            Some(at) if at > now => false,
            _ => {
                self.retry_at = Some(later(now, cooldown));
                true
            }
        }
    }

    fn succeeded(&mut self) {
        self.failures = 0;
        self.retry_at = None;
    }

    fn failed(&mut self, now: Instant, threshold: u32, cooldown: Duration) {
        self.failures = self.failures.saturating_add(1);
        self.last_failure = Some(now);
        if self.failures >= threshold {
            self.retry_at = Some(later(now, cooldown));
        }
    }
}

/// `now + cooldown`, or `now` plus a day should that not be representable
/// (the configuration allows a day at most).
fn later(now: Instant, cooldown: Duration) -> Instant {
    now.checked_add(cooldown)
        .or_else(|| now.checked_add(Duration::from_secs(86_400)))
        .unwrap_or(now)
}

/// One provider of the chain.
#[derive(Debug)]
struct Link {
    provider: Arc<dyn LlmProvider>,
    timeout: Duration,
    health: Mutex<Health>,
}

/// The providers of `[[llm.providers]]` (or the one of `[llm]`), tried in
/// order: see the [module documentation](self) for health, fallback and
/// what happens when all are down.
#[derive(Debug)]
pub struct ProviderChain {
    links: Vec<Link>,
    cooldown: Duration,
    threshold: u32,
    telemetry: Trackers,
}

impl ProviderChain {
    /// A chain over `providers`, each with its call timeout and optional
    /// budget in USD, in the order they are tried. A provider is marked
    /// down after `failure_threshold` consecutive failures (at least 1) and
    /// skipped for `cooldown`. Sets each budget
    /// (`llm_budget_usd`, `llm_budget_remaining_usd`) and shows each
    /// provider healthy.
    ///
    /// # Errors
    ///
    /// A budget the trackers refuse (negative or not finite).
    pub fn new(
        providers: Vec<(Arc<dyn LlmProvider>, Duration, Option<f64>)>,
        cooldown: Duration,
        failure_threshold: u32,
        telemetry: Trackers,
    ) -> Result<Self, SetupError> {
        let mut links = Vec::with_capacity(providers.len());
        for (provider, timeout, budget) in providers {
            if let Some(usd) = budget {
                telemetry
                    .llm
                    .set_budget(provider.name(), provider.model(), usd)?;
            }
            telemetry
                .llm
                .provider_state(provider.name(), ProviderState::Healthy);
            links.push(Link {
                provider,
                timeout,
                health: Mutex::new(Health::default()),
            });
        }
        Ok(Self {
            links,
            cooldown,
            threshold: failure_threshold.max(1),
            telemetry,
        })
    }

    /// The providers, in order.
    pub fn providers(&self) -> impl Iterator<Item = &Arc<dyn LlmProvider>> {
        self.links.iter().map(|l| &l.provider)
    }

    /// The health of the provider at `index` in the chain.
    pub fn health(&self, index: usize) -> Option<ProviderHealth> {
        let link = self.links.get(index)?;
        Some(lock(&link.health).health(self.threshold))
    }

    /// Runs `request` through the chain: each provider that is not down,
    /// in order, until one answers; when all are down, the one that failed
    /// longest ago. `queued` is the time the work waited before this call,
    /// recorded on the first provider tried.
    ///
    /// # Errors
    ///
    /// The error of the last provider tried ([`LlmError::Timeout`] when it
    /// timed out); [`LlmError::InvalidRequest`] for an empty chain.
    pub async fn call(
        &self,
        request: &LlmRequest,
        queued: Option<Duration>,
    ) -> Result<LlmResponse, LlmError> {
        let mut queued = queued;
        let mut failed_from: Option<usize> = None;
        let mut last_error = None;
        for index in 0..self.links.len() {
            if !self.claim(index) {
                continue;
            }
            match self
                .attempt(index, request, queued.take(), failed_from)
                .await
            {
                Ok(response) => return Ok(response),
                Err(e) => {
                    failed_from = Some(index);
                    last_error = Some(e);
                }
            }
        }
        if let Some(e) = last_error {
            return Err(e);
        }
        // Every provider is down: the one whose last failure is the oldest.
        let Some(index) = self.least_recently_failed() else {
            return Err(LlmError::InvalidRequest(
                "no llm provider is configured".to_owned(),
            ));
        };
        self.attempt(index, request, queued, None).await
    }

    fn claim(&self, index: usize) -> bool {
        self.links.get(index).is_some_and(|link| {
            lock(&link.health).claim(Instant::now(), self.threshold, self.cooldown)
        })
    }

    fn least_recently_failed(&self) -> Option<usize> {
        self.links
            .iter()
            .enumerate()
            .min_by_key(|(_, link)| lock(&link.health).last_failure)
            .map(|(index, _)| index)
    }

    /// One call to the provider at `index`, bounded by its timeout, through
    /// its tracker; updates its health and, after a failure of the provider
    /// at `from`, counts the fallback.
    async fn attempt(
        &self,
        index: usize,
        request: &LlmRequest,
        queued: Option<Duration>,
        from: Option<usize>,
    ) -> Result<LlmResponse, LlmError> {
        let Some(link) = self.links.get(index) else {
            return Err(LlmError::InvalidRequest(format!(
                "no llm provider at position {index}"
            )));
        };
        let llm = &self.telemetry.llm;
        let (name, model) = (link.provider.name(), link.provider.model());
        let mut tracker = llm.start(name, model, request.task.operation());
        if let Some(waited) = queued {
            tracker.queued(waited);
        }
        let result = {
            let mut events = Events {
                tracker: &mut tracker,
                llm,
                provider: name,
                model,
            };
            let call = link.provider.complete(request, &mut events);
            match tokio::time::timeout(link.timeout, call).await {
                Ok(result) => result,
                Err(_) => Err(LlmError::Timeout),
            }
        };
        let now = Instant::now();
        let health = {
            let mut health = lock(&link.health);
            match &result {
                Ok(_) => health.succeeded(),
                Err(_) => health.failed(now, self.threshold, self.cooldown),
            }
            health.health(self.threshold)
        };
        llm.provider_state(name, health.state());
        match &result {
            Ok(r) => {
                if let Some(reason) = &r.finish_reason {
                    tracker.finish_reason(LlmFinishReason::from_name(reason));
                }
                if let Some(cached) = r.cached_tokens {
                    tracker.cache_read_tokens(cached);
                }
                tracker.success(r.input_tokens, r.output_tokens);
            }
            Err(e) => {
                let kind = e.error_type();
                tracker.error(kind);
                self.telemetry.errors.record("llm", kind.as_str());
            }
        }
        if let Some(from) = from.and_then(|i| self.links.get(i)) {
            let outcome = if result.is_ok() {
                FallbackOutcome::Success
            } else {
                FallbackOutcome::Failure
            };
            llm.fallback(from.provider.name(), name, outcome);
        }
        result
    }
}

/// The health lock; a poisoned one (a panic while it was held, which the
/// code under it cannot do) is used as it is.
fn lock(health: &Mutex<Health>) -> std::sync::MutexGuard<'_, Health> {
    health
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Hands what a provider reports during a call to its tracker and recorder.
struct Events<'a, 't> {
    tracker: &'a mut LlmCallTracker<'t>,
    llm: &'a LlmRecorder,
    provider: &'a str,
    model: &'a str,
}

impl CallObserver for Events<'_, '_> {
    fn token(&mut self) {
        self.tracker.token();
    }

    fn rate_limits(&mut self, limits: &RateLimits) {
        let (llm, provider, model) = (self.llm, self.provider, self.model);
        for (kind, remaining, limit) in [
            (
                RateLimitKind::Requests,
                limits.remaining_requests,
                limits.limit_requests,
            ),
            (
                RateLimitKind::Tokens,
                limits.remaining_tokens,
                limits.limit_tokens,
            ),
        ] {
            if let Some(value) = remaining {
                llm.rate_limit_remaining(provider, model, kind, value);
            }
            if let Some(value) = limit {
                llm.rate_limit_limit(provider, model, kind, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOL: Duration = Duration::from_secs(30);

    #[test]
    fn failures_degrade_then_mark_down_and_a_success_heals() {
        let t0 = Instant::now();
        let mut h = Health::default();
        assert_eq!(h.health(3), ProviderHealth::Healthy);
        h.failed(t0, 3, COOL);
        assert_eq!(h.health(3), ProviderHealth::Degraded);
        assert!(h.claim(t0, 3, COOL), "a degraded provider is still tried");
        h.failed(t0, 3, COOL);
        assert_eq!(h.health(3), ProviderHealth::Degraded);
        h.succeeded();
        assert_eq!(h.health(3), ProviderHealth::Healthy);
        for _ in 0..3 {
            h.failed(t0, 3, COOL);
        }
        assert_eq!(h.health(3), ProviderHealth::Down);
    }

    #[test]
    fn down_is_skipped_until_the_cooldown_then_tried_once() {
        let t0 = Instant::now();
        let mut h = Health::default();
        h.failed(t0, 1, COOL);
        assert_eq!(h.health(1), ProviderHealth::Down);
        assert!(!h.claim(t0, 1, COOL));
        assert!(!h.claim(t0 + COOL - Duration::from_millis(1), 1, COOL));
        // Half-open: the first call past the cool-down claims the trial ...
        let after = t0 + COOL;
        assert!(h.claim(after, 1, COOL));
        // ... and concurrent calls keep skipping it meanwhile.
        assert!(!h.claim(after, 1, COOL));
        // A failed trial: down for another cool-down from its failure.
        h.failed(after + Duration::from_secs(1), 1, COOL);
        assert_eq!(h.health(1), ProviderHealth::Down);
        assert!(!h.claim(after + COOL, 1, COOL));
        assert!(h.claim(after + COOL + Duration::from_secs(1), 1, COOL));
        // A successful trial: healthy, tried by every call.
        h.succeeded();
        assert_eq!(h.health(1), ProviderHealth::Healthy);
        assert!(h.claim(after, 1, COOL));
        assert!(h.claim(after, 1, COOL));
    }
}
