//! The spec's free-function style: detached before `init`, the real
//! registry after it, and `install` rules.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use incident_metrics_catalog::incident::{IncidentStatus, Severity};
use incident_metrics_core::prometheus_client::encoding::prometheus_text;
use incident_metrics_trackers::{
    Error, IncidentTracker, LlmCallTracker, NotificationTracker, PlaybookTracker, StorageTracker,
    TrackerConfig, install, record_error,
};

#[test]
fn free_functions_record_into_the_global_registry_after_init() {
    // Before init: recorded into the detached registry, without panicking.
    LlmCallTracker::start("openai", "gpt-4", "completion").success(1, 1);
    IncidentTracker::start("critical").success("resolved");
    assert!(matches!(
        install(&TrackerConfig::default()),
        Err(Error::NotInitialized)
    ));

    let metrics = incident_metrics_catalog::init(Default::default()).unwrap();
    install(&TrackerConfig::default().with_max_models(1)).unwrap();
    assert!(matches!(
        install(&TrackerConfig::default()),
        Err(Error::AlreadyInstalled)
    ));

    let tracker = LlmCallTracker::start("openai", "gpt-4", "completion");
    tracker.success(1_000, 500);
    LlmCallTracker::start("openai", "gpt-4o", "completion").success(1, 1); // past max_models = 1
    IncidentTracker::start("critical").success("resolved");
    PlaybookTracker::start("restart").success();
    NotificationTracker::start("email").sent();
    StorageTracker::start("get", "memory").success();
    record_error("api", "timeout");

    let m = metrics.metrics();
    assert_eq!(
        m.incidents
            .incidents(Severity::Critical, IncidentStatus::Resolved)
            .get(),
        1,
        "the call before init went to the detached registry"
    );
    let mut text = String::new();
    prometheus_text::encode(&mut text, metrics.registry().as_prometheus()).unwrap();
    for line in [
        r#"llm_incident_manager_llm_requests_total{provider="openai",model="gpt-4",operation="completion"} 1"#,
        r#"llm_incident_manager_llm_requests_total{provider="openai",model="other",operation="completion"} 1"#,
        r#"llm_incident_manager_llm_cost_usd_total{provider="openai",model="gpt-4"} 0.06"#,
        r#"llm_incident_manager_playbook_executions_total{playbook="restart",status="success"} 1"#,
        r#"llm_incident_manager_notifications_total{channel="email",status="sent"} 1"#,
        r#"llm_incident_manager_storage_operations_total{operation="get",backend="memory"} 1"#,
        r#"llm_incident_manager_errors_total{component="api",error_type="timeout"} 1"#,
        r#"llm_incident_manager_label_values_folded_total{label="llm_model"} 1"#,
    ] {
        assert!(
            text.contains(&format!("{line}\n")),
            "missing {line}:\n{text}"
        );
    }
}
