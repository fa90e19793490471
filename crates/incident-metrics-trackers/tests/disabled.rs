//! Trackers built from a catalog registered with `enabled = false` record
//! nothing (and read no clock), so callers need no check of their own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{render, setup_with};
use incident_metrics_catalog::alert::AlertStatus;
use incident_metrics_catalog::incident::{IncidentSource, Severity};
use incident_metrics_catalog::llm::{FallbackOutcome, ProviderState, RateLimitKind};
use incident_metrics_core::MetricsConfig;
use incident_metrics_trackers::{TrackerConfig, Trackers};

/// Uses every recorder once; returns the LLM call's elapsed time as seen
/// just before it finished.
fn exercise(t: &Trackers) -> Duration {
    let mut call = t.llm.start("openai", "gpt-4o", "chat");
    call.queued(Duration::from_millis(1));
    std::thread::sleep(Duration::from_millis(2));
    call.first_token();
    call.token();
    call.finish_reason("stop");
    call.cache_read_tokens(10);
    let elapsed = call.elapsed();
    call.success(100, 20);
    t.llm
        .rate_limit_remaining("openai", "gpt-4o", RateLimitKind::Tokens, 5.0);
    t.llm
        .rate_limit_limit("openai", "gpt-4o", RateLimitKind::Tokens, 10.0);
    t.llm.provider_state("openai", ProviderState::Down);
    t.llm
        .fallback("openai", "offline", FallbackOutcome::Failure);
    t.llm.set_budget("openai", "gpt-4o", 1.0).unwrap();
    drop(t.llm.start("openai", "gpt-4o", "chat"));
    t.incidents.start(Severity::Critical).success("resolved");
    let active = t.incidents.opened(Severity::High);
    t.incidents.opened_from(Severity::High, IncidentSource::Api);
    t.incidents.add_active_from(IncidentSource::Api, 1);
    t.incidents
        .resolved_after(Severity::High, IncidentSource::Api, Duration::from_secs(3));
    t.incidents.escalated(2_u32);
    t.incidents.deduplicated();
    t.incidents.correlated();
    t.incidents.pruned(4);
    active.resolve();
    t.alerts.received("oncall", AlertStatus::Firing);
    t.alerts.truncated("oncall", 2);
    t.playbooks.start("restart").success();
    t.notifications.start("slack").sent();
    t.notifications.queue_size("slack").set(5);
    t.storage.start("get", "sqlite").error("not_found");
    t.storage.size("sqlite").set(4096);
    t.errors.record("api", "timeout");
    elapsed
}

/// The exposition without `uptime_seconds`, which moves by itself.
fn counts(text: &str) -> String {
    text.lines()
        .filter(|line| !line.contains("uptime_seconds"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_disabled_configuration_records_nothing_and_reads_no_clock() {
    let (registry, catalog) = setup_with(&MetricsConfig::new().with_enabled(false));
    let trackers = Trackers::new(&catalog, &TrackerConfig::default()).unwrap();
    assert!(!trackers.enabled());
    let before = counts(&render(&registry));
    let elapsed = exercise(&trackers);
    assert_eq!(counts(&render(&registry)), before);
    assert_eq!(
        elapsed,
        Duration::ZERO,
        "a disabled tracker took no start time"
    );
}

#[test]
fn the_same_calls_record_when_enabled() {
    let (registry, catalog) = setup_with(&MetricsConfig::new());
    let trackers = Trackers::new(&catalog, &TrackerConfig::default()).unwrap();
    assert!(trackers.enabled());
    let before = counts(&render(&registry));
    let elapsed = exercise(&trackers);
    let after = counts(&render(&registry));
    assert_ne!(after, before);
    assert!(elapsed >= Duration::from_millis(2), "{elapsed:?}");
    for series in [
        r#"llm_requests_total{provider="openai",model="gpt-4o",operation="chat"} 2"#,
        r#"llm_finish_reasons_total{provider="openai",model="gpt-4o",reason="stop"} 1"#,
        r#"llm_provider_state{provider="openai"} 2"#,
        r#"llm_budget_usd{provider="openai",model="gpt-4o"} 1.0"#,
        r#"incidents_deduplicated_total 1"#,
        r#"alerts_truncated_total{receiver="oncall"} 2"#,
        r#"storage_size_bytes{backend="sqlite"} 4096"#,
        r#"errors_total{component="api",error_type="timeout"} 1"#,
    ] {
        assert!(after.contains(series), "missing {series}:\n{after}");
    }
}
