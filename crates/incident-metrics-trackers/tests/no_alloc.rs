//! In steady state (labels that are enums or strings seen before) every
//! tracker's start and finish allocate nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::setup;
use incident_metrics_catalog::incident::{IncidentStatus, Severity};
use incident_metrics_catalog::llm::{LlmErrorType, LlmFinishReason, LlmOperation, RateLimitKind};
use incident_metrics_catalog::storage::StorageOperation;
use incident_metrics_core::Histogram;
use incident_metrics_trackers::{TrackerConfig, Trackers, measure};

fn assert_no_alloc(what: &str, mut f: impl FnMut()) {
    f(); // warm up: first sight of each label combination resolves handles
    f();
    let info = allocation_counter::measure(|| {
        for _ in 0..100 {
            f();
        }
    });
    assert_eq!(info.count_total, 0, "{what} allocated: {info:?}");
}

#[test]
fn explicit_recorders_allocate_nothing_per_call() {
    let (_registry, metrics) = setup();
    let config = TrackerConfig::default().with_max_models(1);
    let t = Trackers::new(&metrics, &config).unwrap();
    let h = Histogram::new("h_seconds", &[0.1, 1.0]).unwrap();
    // The counter is live: an allocation is seen.
    let seen = allocation_counter::measure(|| drop(std::hint::black_box(vec![1_u8])));
    assert_eq!(seen.count_total, 1);

    assert_no_alloc("llm success", || {
        t.llm.start("openai", "gpt-4o", "chat").success(100, 20);
    });
    assert_no_alloc("llm streaming", || {
        let mut c = t.llm.start("openai", "gpt-4o", LlmOperation::Chat);
        c.first_token();
        c.success(100, 20);
    });
    assert_no_alloc(
        "llm streaming chunks, queue, finish reason, cache reads",
        || {
            let mut c = t.llm.start("openai", "gpt-4o", LlmOperation::Chat);
            c.queued(Duration::from_millis(3));
            c.token();
            c.token();
            c.token();
            c.finish_reason("length");
            c.finish_reason(LlmFinishReason::Stop);
            c.cache_read_tokens(64);
            c.success(100, 20);
        },
    );
    t.llm.set_budget("openai", "gpt-4o", 100.0).unwrap();
    assert_no_alloc("llm success against a budget", || {
        t.llm.start("openai", "gpt-4o", "chat").success(100, 20);
    });
    assert_no_alloc("llm rate limits", || {
        t.llm
            .rate_limit_remaining("openai", "gpt-4o", RateLimitKind::Requests, 99.0);
        t.llm
            .rate_limit_limit("openai", "gpt-4o", RateLimitKind::Tokens, 30_000.0);
    });
    assert_no_alloc("llm error and drop", || {
        t.llm
            .start("openai", "gpt-4o", "chat")
            .error(LlmErrorType::Timeout);
        drop(t.llm.start("openai", "gpt-4o", "chat"));
    });
    assert_no_alloc("llm folded model", || {
        t.llm.start("openai", "not-admitted", "chat").success(1, 1);
    });
    assert_no_alloc("incident", || {
        t.incidents
            .start(Severity::Critical)
            .success(IncidentStatus::Resolved);
        t.incidents.start("high").success("open");
        t.incidents.start(Severity::Low).error();
        let mut a = t.incidents.opened(Severity::High);
        a.set_severity(Severity::Critical);
        a.resolve();
        t.incidents.escalated(2_u32);
        t.incidents.deduplicated();
    });
    assert_no_alloc("playbook", || {
        t.playbooks.start("restart").success();
        drop(t.playbooks.start("restart"));
    });
    assert_no_alloc("notification", || {
        let n = t.notifications.start("slack");
        n.retried();
        n.sent();
    });
    assert_no_alloc("storage", || {
        t.storage.start(StorageOperation::Get, "sqlite").success();
        t.storage.start("insert", "sqlite").error("conflict");
    });
    assert_no_alloc("errors", || t.errors.record("api", "bad_request"));
    assert_no_alloc("measure", || {
        measure(&h, || ());
    });
}
