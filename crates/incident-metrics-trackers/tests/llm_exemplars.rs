//! Exemplars on the LLM tracker: with `exemplars = true`, a call given a
//! sampled trace ([`LlmCallTracker::with_trace`]) leaves it on the bucket of
//! its duration and of its time to first token, under the catalog's names
//! and under the GenAI names, in the OpenMetrics answer only; without a
//! trace, with an unsampled one, or with exemplars off, nothing is attached.
//!
//! [`LlmCallTracker::with_trace`]: incident_metrics_trackers::LlmCallTracker::with_trace
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{render, setup_with};
use incident_metrics_catalog::llm::LlmErrorType;
use incident_metrics_core::prometheus_client::encoding::text;
use incident_metrics_core::{MetricsConfig, Registry, TraceContext};
use incident_metrics_trackers::{LlmRecorder, TrackerConfig};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN: &str = "00f067aa0ba902b7";

fn trace(flags: &str) -> TraceContext {
    TraceContext::from_traceparent(&format!("00-{TRACE}-{SPAN}-{flags}")).unwrap()
}

fn recorder(config: &MetricsConfig) -> (Registry, LlmRecorder) {
    let (registry, catalog) = setup_with(config);
    let llm = LlmRecorder::from_catalog(&catalog, &TrackerConfig::default()).unwrap();
    (registry, llm)
}

fn openmetrics(registry: &Registry) -> String {
    let mut om = String::new();
    text::encode(&mut om, registry.as_prometheus()).unwrap();
    om
}

/// A pause, so that a call's times fall past the first bucket (which
/// bucket they fall in is read from the exemplar, not assumed).
const PAUSE: Duration = Duration::from_millis(25);

/// One streamed call with `trace`: a first token, then success.
fn streamed_call(llm: &LlmRecorder, trace: Option<TraceContext>) {
    let mut call = llm.start("openai", "gpt-4o", "chat").with_trace(trace);
    std::thread::sleep(PAUSE);
    call.token();
    std::thread::sleep(PAUSE);
    call.token();
    call.success(100, 2);
}

/// The value of a sample line (before its exemplar, if any).
fn sample_value(line: &str) -> f64 {
    let sample = line.split(" # ").next().unwrap();
    let (_, value) = sample.rsplit_once(' ').unwrap();
    value
        .parse()
        .unwrap_or_else(|_| panic!("no value in {line:?}"))
}

/// Checks that among the `_bucket` lines of the one series of `family`
/// (unique `series` selector, without `le`) exactly one carries our
/// exemplar, that it is the bucket its value falls into (the first whose
/// `le` is at least the value), and that its value is the series' sum.
/// Returns the marked line.
fn assert_exemplar_on_the_right_bucket(om: &str, family: &str, series: &str) -> String {
    let exemplar = format!(" # {{trace_id=\"{TRACE}\",span_id=\"{SPAN}\"}} ");
    let bucket_head = format!("{family}_bucket{{le=\"");
    let bucket_tail = format!("\",{series}}} ");
    let buckets: Vec<&str> = om
        .lines()
        .filter(|l| l.starts_with(&bucket_head) && l.contains(&bucket_tail))
        .collect();
    assert!(
        !buckets.is_empty(),
        "no buckets of {family}{{{series}}}:\n{om}"
    );
    let marked: Vec<(usize, &str)> = buckets
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, l)| l.contains(&exemplar))
        .collect();
    assert_eq!(marked.len(), 1, "one marked bucket of {family}:\n{om}");
    let (index, line) = marked[0];
    let (_, tail) = line.split_once(&exemplar).unwrap();
    // `<value> <timestamp>`: the exemplar carries both.
    let mut fields = tail.split(' ');
    let value: f64 = fields.next().unwrap().parse().unwrap();
    let timestamp: f64 = fields.next().unwrap().parse().unwrap();
    assert!(timestamp > 1.6e9, "a Unix timestamp in seconds: {line}");
    let le = |l: &str| -> f64 {
        let (_, rest) = l.split_once(&bucket_head).unwrap();
        let (bound, _) = rest.split_once(&bucket_tail).unwrap();
        if bound == "+Inf" {
            f64::INFINITY
        } else {
            bound.parse().unwrap()
        }
    };
    assert!(value <= le(line), "{value} above its bucket: {line}");
    if index > 0 {
        assert!(
            value > le(buckets[index - 1]),
            "{value} in a later bucket: {line}"
        );
    }
    // A single observation: its bucket and every later one count 1.
    assert_eq!(sample_value(line), 1.0, "{line}");
    if index > 0 {
        assert_eq!(sample_value(buckets[index - 1]), 0.0, "{om}");
    }
    let sum_head = format!("{family}_sum{{{series}}} ");
    let sum: f64 = om
        .lines()
        .find_map(|l| l.strip_prefix(&sum_head))
        .unwrap_or_else(|| panic!("no {sum_head:?} in:\n{om}"))
        .parse()
        .unwrap();
    assert_eq!(value, sum, "the exemplar's value is the observation");
    // Exemplars go on `_bucket` lines only.
    for l in om.lines().filter(|l| l.contains(&exemplar)) {
        assert!(l.contains("_bucket{"), "an exemplar off a bucket line: {l}");
    }
    line.to_owned()
}

const OURS: &str = r#"provider="openai",model="gpt-4o""#;
const OURS_OP: &str = r#"provider="openai",model="gpt-4o",operation="chat""#;
const DURATION: &str = "llm_incident_manager_llm_request_duration_seconds";
const TTFT: &str = "llm_incident_manager_llm_time_to_first_token_seconds";

#[test]
fn a_traced_call_marks_its_duration_and_first_token_buckets() {
    let (registry, llm) = recorder(&MetricsConfig::new().with_exemplars(true));
    assert!(llm.exemplars());
    streamed_call(&llm, Some(trace("01")));
    let om = openmetrics(&registry);
    assert_exemplar_on_the_right_bucket(&om, DURATION, OURS_OP);
    assert_exemplar_on_the_right_bucket(&om, TTFT, OURS);
    // The other histograms of the call and every counter carry none.
    assert_eq!(om.matches(" # {trace_id=").count(), 2, "{om}");
    // Prometheus 0.0.4 has no syntax for them.
    assert!(!render(&registry).contains("trace_id"));
    if let Some(parsed) = incident_metrics_testing::parse_openmetrics(&om) {
        assert!(parsed.families.iter().any(|f| f.name
            == "llm_incident_manager_llm_request_duration_seconds"
            && f.kind == "histogram"));
    }
}

#[test]
fn a_failed_or_cancelled_call_marks_its_duration_bucket() {
    let (registry, llm) = recorder(&MetricsConfig::new().with_exemplars(true));
    llm.start("openai", "gpt-4o", "chat")
        .with_trace(trace("01"))
        .error(LlmErrorType::Timeout);
    let om = openmetrics(&registry);
    assert_exemplar_on_the_right_bucket(&om, DURATION, OURS_OP);

    let (registry, llm) = recorder(&MetricsConfig::new().with_exemplars(true));
    let mut call = llm.start("openai", "gpt-4o", "chat");
    call.set_trace(trace("01"));
    drop(call);
    let om = openmetrics(&registry);
    assert_exemplar_on_the_right_bucket(&om, DURATION, OURS_OP);
}

#[test]
fn under_the_genai_names_the_same_buckets_are_marked() {
    let config = MetricsConfig::new()
        .with_exemplars(true)
        .with_genai_names(true);
    let (registry, llm) = recorder(&config);
    streamed_call(&llm, Some(trace("01")));
    let om = openmetrics(&registry);
    let chat = r#"gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o",gen_ai_response_model="gpt-4o""#;
    assert_exemplar_on_the_right_bucket(&om, "gen_ai_client_operation_duration_seconds", chat);
    assert_exemplar_on_the_right_bucket(&om, "gen_ai_server_time_to_first_token_seconds", chat);
    assert_eq!(om.matches(" # {trace_id=").count(), 2, "{om}");

    // A failure goes to its own error_type series, with its exemplar.
    let (registry, llm) = recorder(&config);
    llm.start("openai", "gpt-4o", "chat")
        .with_trace(trace("01"))
        .error(LlmErrorType::Timeout);
    let om = openmetrics(&registry);
    let marked = om
        .lines()
        .find(|l| l.contains(" # {trace_id="))
        .unwrap_or_else(|| panic!("no exemplar in:\n{om}"));
    assert!(marked.contains("error_type=\"timeout\""), "{marked}");
    let series = marked
        .split_once("\",")
        .and_then(|(_, rest)| rest.split_once("} "))
        .map(|(labels, _)| labels.to_owned())
        .unwrap();
    let mut labels: Vec<&str> = series.split(',').collect();
    let mut expected: Vec<&str> = chat.split(',').chain(["error_type=\"timeout\""]).collect();
    labels.sort_unstable();
    expected.sort_unstable();
    assert_eq!(labels, expected, "{marked}");
    assert_exemplar_on_the_right_bucket(&om, "gen_ai_client_operation_duration_seconds", &series);
}

#[test]
fn no_exemplar_without_a_sampled_trace_or_with_exemplars_off() {
    // Exemplars on: no trace, or an unsampled one.
    let (registry, llm) = recorder(&MetricsConfig::new().with_exemplars(true));
    streamed_call(&llm, None);
    streamed_call(&llm, Some(trace("00")));
    let om = openmetrics(&registry);
    assert!(!om.contains("trace_id"), "{om}");
    assert!(
        om.contains(&format!("{DURATION}_count{{{OURS_OP}}} 2")),
        "{om}"
    );

    // Exemplars off (the default): a sampled trace is ignored.
    let (registry, llm) = recorder(&MetricsConfig::new());
    assert!(!llm.exemplars());
    streamed_call(&llm, Some(trace("01")));
    let om = openmetrics(&registry);
    assert!(!om.contains("trace_id"), "{om}");
    assert!(
        om.contains(&format!("{DURATION}_count{{{OURS_OP}}} 1")),
        "{om}"
    );

    // A recorder built by hand starts with them off; `with_exemplars`
    // turns them on.
    let (registry, catalog) = setup_with(&MetricsConfig::new());
    let llm = LlmRecorder::new(
        catalog.llm.clone(),
        catalog.limits.clone(),
        &TrackerConfig::default(),
    )
    .unwrap();
    assert!(!llm.exemplars());
    let llm = llm.with_exemplars(true);
    streamed_call(&llm, Some(trace("01")));
    let om = openmetrics(&registry);
    assert_exemplar_on_the_right_bucket(&om, DURATION, OURS_OP);

    // Metrics disabled: nothing at all.
    let (registry, llm) = recorder(
        &MetricsConfig::new()
            .with_exemplars(true)
            .with_enabled(false),
    );
    streamed_call(&llm, Some(trace("01")));
    assert!(!openmetrics(&registry).contains("trace_id"));
}

#[test]
fn a_trace_set_after_the_first_token_marks_only_the_duration() {
    let (registry, llm) = recorder(&MetricsConfig::new().with_exemplars(true));
    let mut call = llm.start("openai", "gpt-4o", "chat");
    call.first_token();
    call.set_trace(trace("01"));
    call.success(10, 1);
    let om = openmetrics(&registry);
    assert_exemplar_on_the_right_bucket(&om, DURATION, OURS_OP);
    assert_eq!(om.matches(" # {trace_id=").count(), 1, "{om}");
}
