//! LlmCallTracker: success, error, drop and panic paths, streaming, cost
//! and the cardinality limiter.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use common::{assert_close, get, render, setup, value};
use incident_metrics_catalog::llm::{LlmErrorType, LlmOperation};
use incident_metrics_core::Registry;
use incident_metrics_trackers::{LlmRecorder, ModelPrice, TrackerConfig};

const REQ: &str = r#"llm_requests_total{provider="openai",model="gpt-4",operation="completion"}"#;
const DUR: &str =
    r#"llm_request_duration_seconds_count{provider="openai",model="gpt-4",operation="completion"}"#;
const COST: &str = r#"llm_cost_usd_total{provider="openai",model="gpt-4"}"#;

fn recorder(config: &TrackerConfig) -> (Registry, LlmRecorder) {
    let (registry, metrics) = setup();
    let llm = LlmRecorder::from_catalog(&metrics, config).unwrap();
    (registry, llm)
}

fn errors(text: &str, kind: &str) -> f64 {
    value(
        text,
        &format!(r#"llm_errors_total{{provider="openai",model="gpt-4",error_type="{kind}"}}"#),
    )
    .unwrap_or(0.0)
}

#[test]
fn success_records_count_duration_tokens_and_cost() {
    let (registry, llm) = recorder(&TrackerConfig::default());
    llm.start("openai", "gpt-4", "completion")
        .success(1_000, 500);
    let text = render(&registry);
    assert_eq!(get(&text, REQ), 1.0);
    assert_eq!(get(&text, DUR), 1.0);
    assert_eq!(
        get(
            &text,
            r#"llm_tokens_total{provider="openai",model="gpt-4",type="input"}"#
        ),
        1_000.0
    );
    assert_eq!(
        get(
            &text,
            r#"llm_tokens_total{provider="openai",model="gpt-4",type="output"}"#
        ),
        500.0
    );
    assert_eq!(
        get(
            &text,
            r#"llm_request_tokens_sum{provider="openai",model="gpt-4",type="output"}"#
        ),
        500.0
    );
    // gpt-4: 1 000 x $30/M + 500 x $60/M = 0.03 + 0.03.
    assert_close(get(&text, COST), 0.06);
    assert!(!text.contains("llm_errors_total{"), "{text}");
    assert!(!text.contains("llm_time_to_first_token_seconds_count{"));
}

#[test]
fn error_records_once_without_tokens() {
    let (registry, llm) = recorder(&TrackerConfig::default());
    llm.start("openai", "gpt-4", "completion")
        .error(LlmErrorType::RateLimited);
    llm.start("openai", "gpt-4", "completion").error("timeout");
    llm.start("openai", "gpt-4", "completion")
        .error("no-such-kind");
    let text = render(&registry);
    assert_eq!(get(&text, REQ), 3.0);
    assert_eq!(get(&text, DUR), 3.0);
    assert_eq!(errors(&text, "rate_limited"), 1.0);
    assert_eq!(errors(&text, "timeout"), 1.0);
    assert_eq!(errors(&text, "other"), 1.0);
    assert_eq!(errors(&text, "cancelled"), 0.0);
    assert_eq!(
        get(
            &text,
            r#"llm_tokens_total{provider="openai",model="gpt-4",type="input"}"#
        ),
        0.0
    );
    assert_eq!(get(&text, COST), 0.0);
}

#[test]
fn drop_records_cancelled_exactly_once() {
    let (registry, llm) = recorder(&TrackerConfig::default());
    drop(llm.start("openai", "gpt-4", "completion"));
    // Finished trackers record nothing more when they are dropped.
    llm.start("openai", "gpt-4", "completion").success(1, 1);
    llm.start("openai", "gpt-4", "completion")
        .error(LlmErrorType::Network);
    let text = render(&registry);
    assert_eq!(get(&text, REQ), 3.0);
    assert_eq!(errors(&text, "cancelled"), 1.0);
    assert_eq!(errors(&text, "network"), 1.0);
}

#[test]
fn panic_records_cancelled_exactly_once() {
    let (registry, llm) = recorder(&TrackerConfig::default());
    let result = catch_unwind(AssertUnwindSafe(|| {
        let _call = llm.start("openai", "gpt-4", "completion");
        panic!("the provider client panicked");
    }));
    assert!(result.is_err());
    let text = render(&registry);
    assert_eq!(get(&text, REQ), 1.0);
    assert_eq!(get(&text, DUR), 1.0);
    assert_eq!(errors(&text, "cancelled"), 1.0);
}

#[test]
fn streaming_records_time_to_first_token_and_per_output_token() {
    let (registry, llm) = recorder(&TrackerConfig::default());
    let mut call = llm.start("openai", "gpt-4", LlmOperation::Chat);
    std::thread::sleep(Duration::from_millis(5));
    call.first_token();
    call.first_token(); // only the first counts
    std::thread::sleep(Duration::from_millis(20));
    call.success(10, 11);
    let text = render(&registry);
    let labels = r#"{provider="openai",model="gpt-4"}"#;
    assert_eq!(
        get(
            &text,
            &format!("llm_time_to_first_token_seconds_count{labels}")
        ),
        1.0
    );
    assert!(
        get(
            &text,
            &format!("llm_time_to_first_token_seconds_sum{labels}")
        ) >= 0.005
    );
    assert_eq!(
        get(
            &text,
            &format!("llm_time_per_output_token_seconds_count{labels}")
        ),
        1.0
    );
    // At least 20 ms over the 10 tokens after the first.
    let per_token = get(
        &text,
        &format!("llm_time_per_output_token_seconds_sum{labels}"),
    );
    assert!((0.002..1.0).contains(&per_token), "{per_token}");
    // A non-streaming call records neither.
    llm.start("openai", "gpt-4", "chat").success(1, 100);
    let text = render(&registry);
    assert_eq!(
        get(
            &text,
            &format!("llm_time_per_output_token_seconds_count{labels}")
        ),
        1.0
    );
}

#[test]
fn cost_matches_hand_computed_figures() {
    let (registry, llm) = recorder(&TrackerConfig::default());
    // gpt-4o-mini: 2 000 x $0.15/M + 1 000 x $0.60/M = 0.0003 + 0.0006.
    llm.start("openai", "gpt-4o-mini", "chat")
        .success(2_000, 1_000);
    // claude-3-5-haiku (dated snapshot): 10 000 x $0.80/M + 4 000 x $4/M = 0.008 + 0.016.
    llm.start("anthropic", "claude-3-5-haiku-20241022", "chat")
        .success(10_000, 4_000);
    // Twice gpt-4 at 0.06.
    llm.start("openai", "gpt-4", "completion")
        .success(1_000, 500);
    llm.start("openai", "gpt-4", "completion")
        .success(1_000, 500);
    // Per-call price: 1M x $1 + 0.5M x $2 = 2.0.
    llm.start("local", "in-house", "chat")
        .with_price(ModelPrice::new(1.0, 2.0).unwrap())
        .success(1_000_000, 500_000);
    // Explicit cost, as the spec's three-argument form.
    llm.start("local", "explicit", "chat")
        .success_with_cost(10, 10, 0.005);
    // Refused costs add nothing and do not panic.
    for bad in [f64::NAN, -1.0, f64::INFINITY, f64::NEG_INFINITY] {
        llm.start("local", "explicit", "chat")
            .success_with_cost(1, 1, bad);
    }
    // A model without a price costs nothing.
    llm.start("local", "unpriced", "chat").success(1_000, 1_000);
    let text = render(&registry);
    let cost = |p: &str, m: &str| {
        get(
            &text,
            &format!(r#"llm_cost_usd_total{{provider="{p}",model="{m}"}}"#),
        )
    };
    assert_close(cost("openai", "gpt-4o-mini"), 0.0009);
    assert_close(cost("anthropic", "claude-3-5-haiku-20241022"), 0.024);
    assert_close(cost("openai", "gpt-4"), 0.12);
    assert_close(cost("local", "in-house"), 2.0);
    assert_close(cost("local", "explicit"), 0.005);
    assert_eq!(cost("local", "unpriced"), 0.0);
}

#[test]
fn prices_load_from_config() {
    let config = TrackerConfig::from_toml_str(
        r#"
        builtin_prices = false
        [prices]
        "gpt-4" = { input = 1.0, output = 1.0 }
        "#,
    )
    .unwrap();
    let (registry, llm) = recorder(&config);
    llm.start("openai", "gpt-4", "completion")
        .success(500_000, 500_000);
    llm.start("openai", "gpt-4o", "completion")
        .success(500_000, 500_000);
    let text = render(&registry);
    assert_close(get(&text, COST), 1.0);
    assert_eq!(
        get(
            &text,
            r#"llm_cost_usd_total{provider="openai",model="gpt-4o"}"#
        ),
        0.0
    );
}

#[test]
fn limiter_folds_values_past_the_cap_and_counts_them() {
    let config = TrackerConfig::default()
        .with_max_providers(1)
        .with_max_models(2);
    let (registry, llm) = recorder(&config);
    for model in [
        "gpt-4",
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4",
        "mistral",
        "gpt-4o-mini",
    ] {
        llm.start("openai", model, "chat").success(1_000_000, 0);
    }
    llm.start("anthropic", "gpt-4", "chat").success(0, 0);
    llm.start("other", "other", "chat").success(0, 0); // `other` itself never counts as folded
    let text = render(&registry);
    let req = |p: &str, m: &str| {
        value(
            &text,
            &format!(r#"llm_requests_total{{provider="{p}",model="{m}",operation="chat"}}"#),
        )
        .unwrap_or(0.0)
    };
    assert_eq!(req("openai", "gpt-4"), 2.0);
    assert_eq!(req("openai", "gpt-4o"), 1.0);
    assert_eq!(req("openai", "other"), 3.0);
    assert_eq!(req("other", "gpt-4"), 1.0);
    assert_eq!(req("other", "other"), 1.0);
    assert!(
        !text.contains("mistral") && !text.contains("gpt-4o-mini") && !text.contains("anthropic")
    );
    assert_eq!(
        get(&text, r#"label_values_folded_total{label="llm_model"}"#),
        3.0
    );
    assert_eq!(
        get(&text, r#"label_values_folded_total{label="llm_provider"}"#),
        1.0
    );
    assert_eq!(llm.model_limiter().admitted(), 2);
    assert_eq!(llm.model_limiter().folded(), 3);
    // Folded models keep their own price: 2 x 1M input tokens of
    // gpt-4o-mini ($0.15/M) + 1M of mistral (no price).
    assert_close(
        get(
            &text,
            r#"llm_cost_usd_total{provider="openai",model="other"}"#,
        ),
        0.3,
    );
}

#[test]
fn concurrent_calls_are_exact_and_admit_exactly_the_cap() {
    let config = TrackerConfig::default().with_max_models(2);
    let (registry, llm) = recorder(&config);
    let models = ["m0", "m1", "m2", "m3"];
    std::thread::scope(|s| {
        for t in 0..4 {
            let llm = llm.clone();
            s.spawn(move || {
                for i in 0..1_000 {
                    llm.start("openai", models[(t + i) % 4], "chat")
                        .success(1, 2);
                }
            });
        }
    });
    let text = render(&registry);
    let total: f64 = ["m0", "m1", "m2", "m3", "other"]
        .iter()
        .filter_map(|m| {
            value(
                &text,
                &format!(r#"llm_requests_total{{provider="openai",model="{m}",operation="chat"}}"#),
            )
        })
        .sum();
    assert_eq!(total, 4_000.0);
    assert_eq!(llm.model_limiter().admitted(), 2);
    let other = get(
        &text,
        r#"llm_requests_total{provider="openai",model="other",operation="chat"}"#,
    );
    assert_eq!(
        get(&text, r#"label_values_folded_total{label="llm_model"}"#),
        other
    );
    assert_eq!(other, 2_000.0);
}
