//! The LLM families of issue #21: queue time, inter-token latency, tokens
//! per request, finish reasons, cache reads, calls in flight, rate limits,
//! budgets, provider state and fallbacks, each moved by exactly what was
//! reported.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{assert_close, get, render, setup, value};
use incident_metrics_catalog::llm::{
    FallbackOutcome, LlmErrorType, LlmFinishReason, ProviderState, RateLimitKind,
};
use incident_metrics_core::Registry;
use incident_metrics_trackers::{Error, LlmRecorder, ModelPrice, TrackerConfig};

const M: &str = r#"{provider="openai",model="gpt-4o"}"#;

fn recorder(config: &TrackerConfig) -> (Registry, LlmRecorder) {
    let (registry, catalog) = setup();
    let llm = LlmRecorder::from_catalog(&catalog, config).unwrap();
    (registry, llm)
}

fn series(name: &str, labels: &str) -> String {
    format!("{name}{labels}")
}

#[test]
fn queue_time_is_observed_once_per_call_with_the_given_wait() {
    let (registry, llm) = recorder(&TrackerConfig::default());
    let mut call = llm.start("openai", "gpt-4o", "chat");
    call.queued(Duration::from_millis(250));
    call.success(1, 1);
    let mut call = llm.start("openai", "gpt-4o", "chat");
    call.queued(Duration::from_millis(1_500));
    drop(call);
    // A call that never waited observes nothing.
    llm.start("openai", "gpt-4o", "chat").success(1, 1);
    let text = render(&registry);
    assert_eq!(
        get(&text, &series("llm_queue_duration_seconds_count", M)),
        2.0
    );
    assert_close(
        get(&text, &series("llm_queue_duration_seconds_sum", M)),
        1.75,
    );
    assert_eq!(
        get(
            &text,
            r#"llm_queue_duration_seconds_bucket{provider="openai",model="gpt-4o",le="0.25"}"#
        ),
        1.0
    );
}

#[test]
fn tokens_record_time_to_first_token_then_one_gap_per_later_chunk() {
    let (registry, llm) = recorder(&TrackerConfig::default());
    let mut call = llm.start("openai", "gpt-4o", "chat");
    for _ in 0..5 {
        call.token();
    }
    call.success(10, 5);
    // first_token() then token(): the first is still the time to first token.
    let mut call = llm.start("openai", "gpt-4o", "chat");
    call.first_token();
    call.token();
    call.token();
    call.success(10, 3);
    // A single chunk: no gap.
    let mut call = llm.start("openai", "gpt-4o", "chat");
    call.token();
    call.success(10, 1);
    let text = render(&registry);
    assert_eq!(
        get(&text, &series("llm_time_to_first_token_seconds_count", M)),
        3.0
    );
    assert_eq!(
        get(&text, &series("llm_inter_token_latency_seconds_count", M)),
        4.0 + 2.0
    );
}

#[test]
fn tokens_after_the_call_finished_record_nothing() {
    let (registry, llm) = recorder(&TrackerConfig::default());
    let mut call = llm.start("openai", "gpt-4o", "chat");
    call.token();
    call.token();
    call.error(LlmErrorType::Network);
    let text = render(&registry);
    assert_eq!(
        get(&text, &series("llm_inter_token_latency_seconds_count", M)),
        1.0
    );
}

#[test]
fn request_tokens_are_observed_by_type_and_cache_reads_only_when_reported() {
    let (registry, llm) = recorder(&TrackerConfig::default());
    let mut call = llm.start("openai", "gpt-4o", "chat");
    call.cache_read_tokens(300);
    call.success(1_000, 50);
    let mut call = llm.start("openai", "gpt-4o", "chat");
    call.cache_read_tokens(0);
    call.success(200, 20);
    llm.start("openai", "gpt-4o", "chat").success(7, 3);
    // An error records no tokens, cached or not.
    let mut call = llm.start("openai", "gpt-4o", "chat");
    call.cache_read_tokens(999);
    call.error("timeout");
    let text = render(&registry);
    let tokens = |suffix: &str, r#type: &str| {
        get(
            &text,
            &format!(
                r#"llm_request_tokens_{suffix}{{provider="openai",model="gpt-4o",type="{type}"}}"#
            ),
        )
    };
    assert_eq!(tokens("count", "input"), 3.0);
    assert_eq!(tokens("sum", "input"), 1_207.0);
    assert_eq!(tokens("count", "output"), 3.0);
    assert_eq!(tokens("sum", "output"), 73.0);
    assert_eq!(tokens("count", "cache_read"), 2.0);
    assert_eq!(tokens("sum", "cache_read"), 300.0);
    assert_eq!(get(&text, &series("llm_cache_read_tokens_total", M)), 300.0);
    // The contract's counter keeps its two directions only.
    assert!(
        !text.contains(r#"llm_tokens_total{provider="openai",model="gpt-4o",type="cache_read"}"#)
    );
    assert!(!text.contains("llm_tokens_per_request"));
}

#[test]
fn finish_reasons_count_once_per_call_in_a_closed_set() {
    let (registry, llm) = recorder(&TrackerConfig::default());
    let mut call = llm.start("openai", "gpt-4o", "chat");
    call.finish_reason("length");
    call.finish_reason("stop"); // the last one wins
    call.success(1, 1);
    for reason in ["stop", "end_turn", "tool_calls", "no-such-reason", "abort"] {
        let mut call = llm.start("openai", "gpt-4o", "chat");
        call.finish_reason(reason);
        call.success(1, 1);
    }
    let mut call = llm.start("openai", "gpt-4o", "chat");
    call.finish_reason(LlmFinishReason::ContentFilter);
    call.error(LlmErrorType::ContentFilter);
    let mut call = llm.start("openai", "gpt-4o", "chat");
    call.finish_reason(LlmFinishReason::Abort);
    drop(call); // a cancelled call still counts the reason it was given
    llm.start("openai", "gpt-4o", "chat").success(1, 1); // no reason: not counted
    let text = render(&registry);
    let reason = |r: &str| {
        value(
            &text,
            &format!(
                r#"llm_finish_reasons_total{{provider="openai",model="gpt-4o",reason="{r}"}}"#
            ),
        )
        .unwrap_or(0.0)
    };
    assert_eq!(reason("stop"), 3.0);
    assert_eq!(reason("tool_calls"), 1.0);
    assert_eq!(reason("other"), 1.0);
    assert_eq!(reason("abort"), 2.0);
    assert_eq!(reason("content_filter"), 1.0);
    assert_eq!(reason("length"), 0.0);
    let total: f64 = text
        .lines()
        .filter(|l| l.starts_with("llm_incident_manager_llm_finish_reasons_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(total, 8.0);
}

#[test]
fn in_flight_goes_up_at_start_and_down_at_finish_drop_or_panic() {
    let (registry, llm) = recorder(&TrackerConfig::default());
    let in_flight = |registry: &Registry, p: &str| {
        get(
            &render(registry),
            &format!(r#"llm_requests_in_flight{{provider="{p}"}}"#),
        )
    };
    let a = llm.start("openai", "gpt-4o", "chat");
    let b = llm.start("openai", "gpt-4o-mini", "chat");
    let c = llm.start("anthropic", "claude-3-5-haiku", "chat");
    assert_eq!(in_flight(&registry, "openai"), 2.0);
    assert_eq!(in_flight(&registry, "anthropic"), 1.0);
    a.success(1, 1);
    assert_eq!(in_flight(&registry, "openai"), 1.0);
    b.error("timeout");
    drop(c);
    assert_eq!(in_flight(&registry, "openai"), 0.0);
    assert_eq!(in_flight(&registry, "anthropic"), 0.0);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _call = llm.start("openai", "gpt-4o", "chat");
        panic!("the client panicked");
    }));
    assert!(result.is_err());
    assert_eq!(in_flight(&registry, "openai"), 0.0);
}

#[test]
fn rate_limits_keep_the_last_reported_value_and_ignore_bad_ones() {
    let (registry, llm) = recorder(&TrackerConfig::default());
    // Never reported: no series.
    let text = render(&registry);
    assert!(!text.contains("llm_rate_limit_remaining{"), "{text}");
    llm.rate_limit_limit("openai", "gpt-4o", RateLimitKind::Requests, 500.0);
    llm.rate_limit_remaining("openai", "gpt-4o", RateLimitKind::Requests, 499.0);
    llm.rate_limit_remaining("openai", "gpt-4o", RateLimitKind::Requests, 498.0);
    llm.rate_limit_remaining("openai", "gpt-4o", RateLimitKind::Tokens, 29_500.0);
    for bad in [f64::NAN, -1.0, f64::INFINITY] {
        llm.rate_limit_remaining("openai", "gpt-4o", RateLimitKind::Requests, bad);
        llm.rate_limit_limit("openai", "gpt-4o", RateLimitKind::Requests, bad);
    }
    let text = render(&registry);
    let gauge = |name: &str, kind: &str| {
        value(
            &text,
            &format!(r#"{name}{{provider="openai",model="gpt-4o",kind="{kind}"}}"#),
        )
    };
    assert_eq!(gauge("llm_rate_limit_remaining", "requests"), Some(498.0));
    assert_eq!(gauge("llm_rate_limit_remaining", "tokens"), Some(29_500.0));
    assert_eq!(gauge("llm_rate_limit_limit", "requests"), Some(500.0));
    assert_eq!(gauge("llm_rate_limit_limit", "tokens"), None);
}

#[test]
fn budget_remaining_falls_by_each_priced_call_and_shows_overspend() {
    let config = TrackerConfig::default().with_prices(
        incident_metrics_trackers::PriceTable::empty().with_price(
            "m",
            ModelPrice::new(1.0, 2.0).unwrap(), // $1/M input, $2/M output
        ),
    );
    let (registry, llm) = recorder(&config);
    // Spend before the budget counts against it.
    llm.start("p", "m", "chat").success(250_000, 0); // 0.25
    llm.set_budget("p", "m", 1.0).unwrap();
    let text = render(&registry);
    let b = r#"{provider="p",model="m"}"#;
    assert_close(get(&text, &series("llm_budget_usd", b)), 1.0);
    assert_close(get(&text, &series("llm_budget_remaining_usd", b)), 0.75);
    llm.start("p", "m", "chat").success(0, 250_000); // 0.5
    llm.start("p", "m", "chat").success_with_cost(0, 0, 0.125);
    llm.start("p", "m", "chat").error("timeout"); // no cost
    let text = render(&registry);
    assert_close(get(&text, &series("llm_budget_remaining_usd", b)), 0.125);
    llm.start("p", "m", "chat").success(500_000, 0); // 0.5: overspent
    let text = render(&registry);
    assert_close(get(&text, &series("llm_budget_remaining_usd", b)), -0.375);
    assert_close(get(&text, &series("llm_cost_usd_total", b)), 1.375);
    // A new budget starts over from the spend so far.
    llm.set_budget("p", "m", 2.0).unwrap();
    let text = render(&registry);
    assert_close(get(&text, &series("llm_budget_usd", b)), 2.0);
    assert_close(get(&text, &series("llm_budget_remaining_usd", b)), 0.625);
    // Pairs without a budget have no budget series.
    llm.start("p", "unbudgeted", "chat").success(1, 1);
    let text = render(&registry);
    assert!(!text.contains(r#"llm_budget_usd{provider="p",model="unbudgeted"}"#));
    assert!(!text.contains(r#"llm_budget_remaining_usd{provider="p",model="unbudgeted"}"#));
}

#[test]
fn budgets_refuse_bad_amounts_and_folded_pairs() {
    let (registry, llm) = recorder(&TrackerConfig::default().with_max_models(1));
    for bad in [f64::NAN, -0.01, f64::INFINITY, f64::NEG_INFINITY] {
        let e = llm.set_budget("openai", "gpt-4o", bad).unwrap_err();
        assert!(matches!(e, Error::InvalidBudget { .. }), "{e}");
        assert!(e.to_string().contains("gpt-4o"), "{e}");
    }
    llm.set_budget("openai", "gpt-4o", 5.0).unwrap();
    let e = llm.set_budget("openai", "gpt-4.1", 5.0).unwrap_err();
    assert!(e.to_string().contains("other"), "{e}");
    assert!(!render(&registry).contains(r#"llm_budget_usd{provider="openai",model="other"}"#));
}

#[test]
fn provider_state_and_fallbacks_are_recorded_through_the_provider_limiter() {
    let (registry, llm) = recorder(&TrackerConfig::default().with_max_providers(2));
    llm.provider_state("openai", ProviderState::Healthy);
    llm.provider_state("openai", ProviderState::Degraded);
    llm.provider_state("offline", ProviderState::Healthy);
    llm.provider_state("openai", ProviderState::Down);
    llm.fallback("openai", "offline", FallbackOutcome::Success);
    llm.fallback("openai", "offline", FallbackOutcome::Success);
    llm.fallback("openai", "offline", FallbackOutcome::Failure);
    llm.fallback("openai", "third", FallbackOutcome::Failure); // folded
    let text = render(&registry);
    assert_eq!(get(&text, r#"llm_provider_state{provider="openai"}"#), 2.0);
    assert_eq!(get(&text, r#"llm_provider_state{provider="offline"}"#), 0.0);
    let fallback = |to: &str, outcome: &str| {
        get(
            &text,
            &format!(r#"llm_fallbacks_total{{from="openai",to="{to}",outcome="{outcome}"}}"#),
        )
    };
    assert_eq!(fallback("offline", "success"), 2.0);
    assert_eq!(fallback("offline", "failure"), 1.0);
    assert_eq!(fallback("other", "failure"), 1.0);
    assert!(!text.contains("third"));
}
