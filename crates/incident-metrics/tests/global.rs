//! The one process-wide metrics: `init_metrics_with` once, then `global()`
//! and `gather_metrics()` anywhere; the spec's tracker style through it
//! allocates nothing per call.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use incident_metrics::{MetricsConfig, SetupError};

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
fn init_once_then_record_and_gather_anywhere() {
    assert!(incident_metrics::global().is_none());
    assert_eq!(incident_metrics::gather_metrics().unwrap(), "");

    let metrics = incident_metrics::init_metrics_with(MetricsConfig::new()).unwrap();
    assert!(matches!(
        incident_metrics::init_metrics_with(MetricsConfig::new()),
        Err(SetupError::AlreadyInitialized)
    ));
    assert!(matches!(
        incident_metrics::init_metrics(),
        Err(SetupError::AlreadyInitialized)
    ));
    assert!(std::ptr::eq(metrics, incident_metrics::global().unwrap()));

    assert_no_alloc("global llm", || {
        let trackers = incident_metrics::global().unwrap().trackers();
        trackers
            .llm
            .start("openai", "gpt-4", "completion")
            .success(10, 10);
    });
    assert_no_alloc("global incident", || {
        let trackers = incident_metrics::global().unwrap().trackers();
        trackers.incidents.start("critical").success("resolved");
    });
    assert_no_alloc("global errors", || {
        let trackers = incident_metrics::global().unwrap().trackers();
        trackers.errors.record("api", "timeout");
    });

    let text = incident_metrics::gather_metrics().unwrap();
    for line in [
        r#"llm_incident_manager_llm_requests_total{provider="openai",model="gpt-4",operation="completion"} 102"#,
        r#"llm_incident_manager_incidents_total{severity="critical",status="resolved"} 102"#,
        r#"llm_incident_manager_errors_total{component="api",error_type="timeout"} 102"#,
    ] {
        assert!(
            text.contains(&format!("{line}\n")),
            "missing {line}:\n{text}"
        );
    }
    // The same registry as the handle's (uptime moves by itself).
    let counts = |t: &str| {
        t.lines()
            .filter(|l| !l.contains("uptime_seconds"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(counts(&text), counts(&metrics.gather().unwrap()));
}
