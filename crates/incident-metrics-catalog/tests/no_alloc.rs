//! Recording through the catalog's typed handles allocates nothing: a
//! labelled counter increment, a gauge move and a labelled histogram observe
//! are array indexes and atomic operations, in steady state and from the
//! first event on (every series exists from registration).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use incident_metrics_catalog::Catalog;
use incident_metrics_catalog::incident::{EscalationLevel, IncidentStatus, Severity};
use incident_metrics_core::{LabelEnum, MetricsConfig, Registry};

fn setup() -> (Registry, Catalog) {
    let mut registry = Registry::new(&MetricsConfig::new()).unwrap();
    let metrics = Catalog::register(&mut registry).unwrap();
    (registry, metrics)
}

fn assert_no_alloc(what: &str, mut f: impl FnMut()) {
    let info = allocation_counter::measure(|| {
        for _ in 0..100 {
            f();
        }
    });
    assert_eq!(info.count_total, 0, "{what} allocated: {info:?}");
}

#[test]
fn the_counter_is_live() {
    let info = allocation_counter::measure(|| drop(black_box(vec![1_u8])));
    assert_eq!(info.count_total, 1);
}

#[test]
fn labelled_counter_through_typed_handles_allocates_nothing() {
    let (_registry, metrics) = setup();
    assert_no_alloc("incidents(severity, status).inc()", || {
        for severity in Severity::ALL {
            for status in IncidentStatus::ALL {
                metrics
                    .incidents
                    .incidents(black_box(*severity), black_box(*status))
                    .inc();
            }
        }
    });
    assert_no_alloc("escalations(level).inc()", || {
        metrics
            .incidents
            .escalations(black_box(EscalationLevel::from_number(7)))
            .inc();
    });
    assert_no_alloc("active(severity) inc/dec", || {
        let gauge = metrics.incidents.active(black_box(Severity::High));
        gauge.inc();
        gauge.dec();
    });
    assert_eq!(
        metrics
            .incidents
            .incidents(Severity::Critical, IncidentStatus::Open)
            .get(),
        100
    );
}

#[test]
fn labelled_histogram_through_typed_handles_allocates_nothing() {
    let (_registry, metrics) = setup();
    assert_no_alloc("processing_duration(severity).observe()", || {
        for severity in Severity::ALL {
            let h = metrics.incidents.processing_duration(black_box(*severity));
            h.observe(black_box(0.042));
            h.observe(black_box(0.0));
            h.observe(black_box(1e9)); // the +Inf bucket
            h.observe(black_box(f64::NAN)); // refused
        }
    });
    let h = metrics.incidents.processing_duration(Severity::Info);
    assert_eq!(h.count(), 300);
}
