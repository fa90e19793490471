//! `genai_names = true`: the LLM tracker records the four histograms that
//! have an OpenTelemetry GenAI equivalent under the GenAI names, buckets
//! and labels, unprefixed, by exactly what each call reported; the other
//! LLM families keep their names; promtool and the OpenMetrics parser
//! accept the result.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{get, render, setup_with, value};
use incident_metrics_catalog::llm::LlmErrorType;
use incident_metrics_core::prometheus_client::encoding::text;
use incident_metrics_core::{MetricsConfig, Registry};
use incident_metrics_trackers::{LlmRecorder, TrackerConfig};

const CHAT: &str = r#"gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o",gen_ai_response_model="gpt-4o""#;

fn recorder() -> (Registry, LlmRecorder) {
    let (registry, catalog) = setup_with(&MetricsConfig::new().with_genai_names(true));
    let llm = LlmRecorder::from_catalog(&catalog, &TrackerConfig::default()).unwrap();
    (registry, llm)
}

/// The value of an unprefixed sample.
fn genai(text: &str, series: &str) -> f64 {
    let head = format!("{series} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&head))
        .map(|v| v.parse().unwrap())
        .unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
}

fn exercise(llm: &LlmRecorder) {
    // Two streamed chat calls, one of them with cached prompt tokens.
    for cached in [None, Some(100)] {
        let mut call = llm.start("openai", "gpt-4o", "chat");
        call.queued(Duration::from_millis(5));
        for _ in 0..4 {
            call.token();
        }
        if let Some(n) = cached {
            call.cache_read_tokens(n);
        }
        call.finish_reason("stop");
        call.success(1_000, 4);
    }
    // One text completion that times out.
    llm.start("openai", "gpt-4o", "completion")
        .error(LlmErrorType::Timeout);
    // One chat call dropped (cancelled).
    drop(llm.start("openai", "gpt-4o", "chat"));
}

#[test]
fn the_tracker_records_under_the_genai_names_by_exactly_what_was_reported() {
    let (registry, llm) = recorder();
    exercise(&llm);
    let text = render(&registry);
    let duration = "gen_ai_client_operation_duration_seconds_count";
    assert_eq!(genai(&text, &format!("{duration}{{{CHAT}}}")), 2.0);
    assert_eq!(
        genai(
            &text,
            &format!(r#"{duration}{{{CHAT},error_type="cancelled"}}"#)
        ),
        1.0
    );
    assert_eq!(
        genai(
            &text,
            &format!(
                r#"{duration}{{gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o",gen_ai_response_model="gpt-4o",error_type="timeout"}}"#
            )
        ),
        1.0
    );
    let usage = |suffix: &str, t: &str| {
        genai(
            &text,
            &format!(r#"gen_ai_client_token_usage_{suffix}{{{CHAT},gen_ai_token_type="{t}"}}"#),
        )
    };
    assert_eq!(usage("count", "input"), 2.0);
    assert_eq!(usage("sum", "input"), 2_000.0);
    assert_eq!(usage("count", "output"), 2.0);
    assert_eq!(usage("sum", "output"), 8.0);
    assert!(
        !text.contains(r#"gen_ai_token_type="cache_read""#),
        "{text}"
    );
    assert_eq!(
        genai(
            &text,
            &format!("gen_ai_server_time_to_first_token_seconds_count{{{CHAT}}}")
        ),
        2.0
    );
    assert_eq!(
        genai(
            &text,
            &format!("gen_ai_server_time_per_output_token_seconds_count{{{CHAT}}}")
        ),
        2.0
    );
    // The families without a GenAI equivalent keep the catalog's names.
    let m = r#"{provider="openai",model="gpt-4o"}"#;
    assert_eq!(
        get(&text, &format!("llm_cache_read_tokens_total{m}")),
        100.0
    );
    assert_eq!(
        get(&text, &format!("llm_inter_token_latency_seconds_count{m}")),
        6.0
    );
    assert_eq!(
        get(&text, &format!("llm_queue_duration_seconds_count{m}")),
        2.0
    );
    assert_eq!(
        get(
            &text,
            r#"llm_requests_total{provider="openai",model="gpt-4o",operation="chat"}"#
        ),
        3.0
    );
    assert_eq!(
        get(
            &text,
            r#"llm_errors_total{provider="openai",model="gpt-4o",error_type="timeout"}"#
        ),
        1.0
    );
    assert_eq!(
        get(
            &text,
            r#"llm_finish_reasons_total{provider="openai",model="gpt-4o",reason="stop"}"#
        ),
        2.0
    );
    for gone in [
        "llm_request_duration_seconds",
        "llm_request_tokens",
        "llm_time_to_first_token_seconds",
        "llm_time_per_output_token_seconds",
    ] {
        assert!(value(&text, &format!("{gone}_count{m}")).is_none());
        assert!(!text.contains(&format!("_{gone}")), "{gone} still there");
    }
}

#[test]
fn the_genai_exposition_passes_promtool_and_the_openmetrics_parser() {
    let (registry, llm) = recorder();
    exercise(&llm);
    incident_metrics_testing::promtool_check_metrics(&render(&registry));
    let mut om = String::new();
    text::encode(&mut om, registry.as_prometheus()).unwrap();
    if let Some(parsed) = incident_metrics_testing::parse_openmetrics(&om) {
        for family in [
            "gen_ai_client_operation_duration_seconds",
            "gen_ai_client_token_usage",
            "gen_ai_server_time_to_first_token_seconds",
            "gen_ai_server_time_per_output_token_seconds",
        ] {
            let f = parsed
                .families
                .iter()
                .find(|f| f.name == family)
                .unwrap_or_else(|| panic!("{family} not parsed"));
            assert_eq!(f.kind, "histogram", "{family}");
        }
        let count = parsed
            .samples
            .iter()
            .find(|s| {
                s.name == "gen_ai_client_operation_duration_seconds_count"
                    && s.labels.get("error_type").map(String::as_str) == Some("timeout")
            })
            .expect("the failed call's duration");
        assert_eq!(count.value, 1.0);
        assert_eq!(
            count
                .labels
                .get("gen_ai_operation_name")
                .map(String::as_str),
            Some("text_completion")
        );
    }
}

#[test]
fn steady_state_genai_calls_allocate_nothing() {
    let (_registry, llm) = recorder();
    let run = || {
        let mut call = llm.start("openai", "gpt-4o", "chat");
        call.token();
        call.token();
        call.success(10, 2);
        llm.start("openai", "gpt-4o", "chat").error("timeout");
    };
    run();
    run();
    let info = allocation_counter::measure(|| {
        for _ in 0..100 {
            run();
        }
    });
    assert_eq!(info.count_total, 0, "{info:?}");
}
