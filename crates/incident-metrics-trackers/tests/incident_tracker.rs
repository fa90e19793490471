//! IncidentTracker and ActiveIncident: outcomes, drop and panic paths, the
//! active gauge, and the lifecycle counters.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};

use common::{get, render, setup};
use incident_metrics_catalog::incident::{
    EscalationLevel, IncidentSource, IncidentStatus, Severity,
};
use incident_metrics_core::LabelEnum;
use incident_metrics_trackers::IncidentRecorder;

#[test]
fn outcomes_drop_and_panic_count_exactly_once() {
    let (registry, metrics) = setup();
    let incidents = IncidentRecorder::from_catalog(&metrics);
    incidents
        .start(Severity::Critical)
        .success(IncidentStatus::Resolved);
    incidents.start("critical").success("resolved");
    incidents.start("high").success(IncidentStatus::Open);
    incidents.start(Severity::High).error();
    drop(incidents.start(Severity::Low)); // dropped: failed
    let result = catch_unwind(AssertUnwindSafe(|| {
        let _t = incidents.start(Severity::Medium);
        panic!("processing panicked");
    }));
    assert!(result.is_err());

    let m = &metrics.incidents;
    assert_eq!(
        m.incidents(Severity::Critical, IncidentStatus::Resolved)
            .get(),
        2
    );
    assert_eq!(m.incidents(Severity::High, IncidentStatus::Open).get(), 1);
    assert_eq!(m.incidents(Severity::High, IncidentStatus::Failed).get(), 1);
    assert_eq!(m.incidents(Severity::Low, IncidentStatus::Failed).get(), 1);
    assert_eq!(
        m.incidents(Severity::Medium, IncidentStatus::Failed).get(),
        1
    );
    let total: u64 = Severity::ALL
        .iter()
        .flat_map(|s| {
            IncidentStatus::ALL
                .iter()
                .map(move |st| m.incidents(*s, *st).get())
        })
        .sum();
    assert_eq!(total, 6);
    assert_eq!(m.processing_duration(Severity::Critical).count(), 2);
    assert_eq!(m.processing_duration(Severity::Medium).count(), 1);

    let text = render(&registry);
    assert_eq!(
        get(
            &text,
            r#"incidents_total{severity="critical",status="resolved"}"#
        ),
        2.0
    );
}

#[test]
fn active_gauge_follows_open_change_resolve_and_drop_back_to_zero() {
    let (_registry, metrics) = setup();
    let incidents = IncidentRecorder::from_catalog(&metrics);
    let active = |s| metrics.incidents.active(s).get();

    let a = incidents.opened(Severity::High);
    let mut b = incidents.opened("high");
    let c = incidents.opened(Severity::Low);
    assert_eq!(active(Severity::High), 2);
    assert_eq!(active(Severity::Low), 1);

    b.set_severity(Severity::Critical);
    b.set_severity(Severity::Critical); // no change
    assert_eq!((active(Severity::High), active(Severity::Critical)), (1, 1));
    b.set_severity("medium");
    assert_eq!(
        (active(Severity::Critical), active(Severity::Medium)),
        (0, 1)
    );
    assert_eq!(b.severity(), Severity::Medium);

    a.resolve();
    drop(c);
    let result = catch_unwind(AssertUnwindSafe(move || {
        let _b = b;
        panic!("handler panicked while holding the incident");
    }));
    assert!(result.is_err());
    for s in Severity::ALL {
        assert_eq!(active(*s), 0, "{s}");
    }
}

#[test]
fn lifecycle_counters() {
    let (_registry, metrics) = setup();
    let incidents = IncidentRecorder::from_catalog(&metrics);
    incidents.deduplicated();
    incidents.deduplicated();
    incidents.correlated();
    incidents.escalated(EscalationLevel::L1);
    incidents.escalated(2_u32);
    incidents.escalated(9_u32);
    incidents.escalated("3");
    let m = &metrics.incidents;
    assert_eq!(m.deduplicated.get(), 2);
    assert_eq!(m.correlated.get(), 1);
    assert_eq!(m.escalations(EscalationLevel::L1).get(), 1);
    assert_eq!(m.escalations(EscalationLevel::L2).get(), 1);
    assert_eq!(m.escalations(EscalationLevel::L3).get(), 1);
    assert_eq!(m.escalations(EscalationLevel::L5).get(), 1);
}

#[test]
fn unknown_text_falls_back_and_is_counted() {
    let (registry, metrics) = setup();
    let incidents = IncidentRecorder::from_catalog(&metrics);
    incidents.start("urgent").success("done");
    let m = &metrics.incidents;
    assert_eq!(
        m.incidents(Severity::Info, IncidentStatus::Resolved).get(),
        1
    );
    let text = render(&registry);
    assert_eq!(
        get(&text, r#"label_values_folded_total{label="severity"}"#),
        1.0
    );
    assert_eq!(
        get(
            &text,
            r#"label_values_folded_total{label="incident_status"}"#
        ),
        1.0
    );
}

#[test]
fn a_store_backed_active_gauge_and_the_response_times() {
    let (registry, metrics) = setup();
    let incidents = IncidentRecorder::from_catalog(&metrics);
    // Rebuilt from a store at start-up, then moved by each change.
    incidents.set_active(Severity::High, 7);
    incidents.add_active(Severity::High, 1);
    incidents.add_active("high", -3);
    assert_eq!(metrics.incidents.active(Severity::High).get(), 5);

    incidents.pruned(3);
    assert_eq!(metrics.incidents.pruned.get(), 3);
    incidents.acknowledged_after(
        Severity::Critical,
        IncidentSource::Api,
        std::time::Duration::from_secs(45),
    );
    incidents.resolved_after(
        Severity::Critical,
        IncidentSource::Alertmanager,
        std::time::Duration::from_secs(3600),
    );
    incidents.resolved_after(
        "low",
        IncidentSource::Api,
        std::time::Duration::from_secs(5),
    );
    let text = render(&registry);
    let get = |series: &str| get(&text, series);
    assert_eq!(
        get(r#"incident_time_to_acknowledge_seconds_count{severity="critical",source="api"}"#),
        1.0
    );
    assert_eq!(
        get(
            r#"incident_time_to_acknowledge_seconds_bucket{severity="critical",source="api",le="30"}"#
        ),
        0.0
    );
    assert_eq!(
        get(
            r#"incident_time_to_acknowledge_seconds_bucket{severity="critical",source="api",le="60"}"#
        ),
        1.0
    );
    assert_eq!(
        get(r#"incident_time_to_resolve_seconds_sum{severity="critical",source="alertmanager"}"#),
        3600.0
    );
    assert_eq!(
        get(r#"incident_time_to_resolve_seconds_bucket{severity="low",source="api",le="10"}"#),
        1.0
    );
    // Every severity's and source's series exists from the start.
    assert_eq!(
        get(r#"incident_time_to_resolve_seconds_count{severity="info",source="alertmanager"}"#),
        0.0
    );
    assert_eq!(
        get(r#"incident_time_to_resolve_seconds_sum{severity="critical",source="api"}"#),
        0.0
    );

    // Openings and the active gauge by source.
    incidents.opened_from(Severity::High, IncidentSource::Alertmanager);
    incidents.opened_from("bogus", IncidentSource::Api);
    incidents.set_active_from(IncidentSource::Alertmanager, 4);
    incidents.add_active_from(IncidentSource::Alertmanager, -1);
    let text = render(&registry);
    let get = |series: &str| common::get(&text, series);
    assert_eq!(
        get(r#"incidents_opened_total{severity="high",source="alertmanager"}"#),
        1.0
    );
    // An unknown severity counts as the fallback, and is itself counted.
    assert_eq!(
        get(r#"incidents_opened_total{severity="info",source="api"}"#),
        1.0
    );
    assert_eq!(
        get(r#"incidents_opened_total{severity="high",source="api"}"#),
        0.0
    );
    assert_eq!(
        get(r#"incidents_active_by_source{source="alertmanager"}"#),
        3.0
    );
    assert_eq!(get(r#"incidents_active_by_source{source="api"}"#), 0.0);
}
