//! PlaybookTracker, NotificationTracker, StorageTracker and ErrorRecorder:
//! every finish, drop and panic path with exact counts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};

use common::{get, render, setup, value};
use incident_metrics_catalog::playbook::PlaybookStatus;
use incident_metrics_catalog::storage::StorageOperation;
use incident_metrics_trackers::{
    ErrorRecorder, NotificationRecorder, PlaybookRecorder, StorageRecorder, TrackerConfig,
};

fn panics(f: impl FnOnce()) {
    assert!(catch_unwind(AssertUnwindSafe(f)).is_err());
}

#[test]
fn playbook_paths_and_active_gauge() {
    let (registry, metrics) = setup();
    let playbooks = PlaybookRecorder::from_catalog(&metrics, &TrackerConfig::default()).unwrap();
    let a = playbooks.start("restart");
    let b = playbooks.start("restart");
    assert_eq!(metrics.playbooks.active.get(), 2);
    a.success();
    b.failed();
    playbooks.start("restart").timeout();
    playbooks.start("restart").finish(PlaybookStatus::Success);
    playbooks.start("restart").finish("bogus"); // unknown: failed
    drop(playbooks.start("restart"));
    // Suspended (to resume after a restart): only the gauge moves.
    playbooks.start("restart").suspended();
    panics(|| {
        let _run = playbooks.start("restart");
        panic!("step panicked");
    });
    assert_eq!(metrics.playbooks.active.get(), 0);
    let text = render(&registry);
    let n = |status: &str| {
        get(
            &text,
            &format!(r#"playbook_executions_total{{playbook="restart",status="{status}"}}"#),
        )
    };
    assert_eq!(n("success"), 2.0);
    assert_eq!(n("failed"), 2.0);
    assert_eq!(n("timeout"), 1.0);
    assert_eq!(n("cancelled"), 2.0);
    assert_eq!(
        get(
            &text,
            r#"playbook_execution_duration_seconds_count{playbook="restart"}"#
        ),
        7.0
    );
}

#[test]
fn playbook_names_are_limited() {
    let (registry, metrics) = setup();
    let config = TrackerConfig::default().with_max_playbooks(1);
    let playbooks = PlaybookRecorder::from_catalog(&metrics, &config).unwrap();
    playbooks.start("a").success();
    playbooks.start("b").success();
    playbooks.start("c").success();
    let text = render(&registry);
    assert_eq!(
        get(
            &text,
            r#"playbook_executions_total{playbook="other",status="success"}"#
        ),
        2.0
    );
    assert_eq!(
        get(&text, r#"label_values_folded_total{label="playbook"}"#),
        2.0
    );
    assert_eq!(playbooks.limiter().admitted(), 1);
}

#[test]
fn notification_paths_and_queue_gauge() {
    let (registry, metrics) = setup();
    let notifications =
        NotificationRecorder::from_catalog(&metrics, &TrackerConfig::default()).unwrap();
    let queue = notifications.queue_size("webhook");
    queue.inc();
    queue.inc();
    let n = notifications.start("webhook");
    n.retried();
    n.retried();
    n.sent();
    notifications.start("webhook").failed();
    notifications.start("webhook").dropped();
    drop(notifications.start("webhook"));
    // Postponed (stays in a durable queue): nothing recorded.
    notifications.start("webhook").postponed();
    panics(|| {
        let _n = notifications.start("webhook");
        panic!("client panicked");
    });
    queue.dec();
    let text = render(&registry);
    let n = |status: &str| {
        get(
            &text,
            &format!(r#"notifications_total{{channel="webhook",status="{status}"}}"#),
        )
    };
    assert_eq!(n("sent"), 1.0);
    assert_eq!(n("retried"), 2.0);
    assert_eq!(n("failed"), 1.0);
    assert_eq!(n("dropped"), 3.0);
    // Only sent and failed deliveries are timed.
    assert_eq!(
        get(
            &text,
            r#"notification_delivery_duration_seconds_count{channel="webhook"}"#
        ),
        2.0
    );
    assert_eq!(
        get(&text, r#"notification_queue_size{channel="webhook"}"#),
        1.0
    );
    // The handle is the same series however often it is asked for.
    notifications.queue_size("webhook").set(0);
    assert_eq!(queue.get(), 0);
}

#[test]
fn storage_paths_sizes_and_errors() {
    let (registry, metrics) = setup();
    let config = TrackerConfig::default();
    let errors = ErrorRecorder::from_catalog(&metrics, &config).unwrap();
    let storage = StorageRecorder::from_catalog(&metrics, errors.clone(), &config).unwrap();
    storage.start(StorageOperation::Insert, "sqlite").success();
    storage.start("insert", "sqlite").success();
    storage.start("get", "sqlite").error("not_found");
    storage.start("compact", "sqlite").success(); // unknown: other
    drop(storage.start(StorageOperation::Update, "sqlite"));
    panics(|| {
        let _op = storage.start(StorageOperation::Delete, "sqlite");
        panic!("driver panicked");
    });
    storage.size("sqlite").set(1 << 20);
    let text = render(&registry);
    let ops = |op: &str| {
        value(
            &text,
            &format!(r#"storage_operations_total{{operation="{op}",backend="sqlite"}}"#),
        )
        .unwrap_or(0.0)
    };
    assert_eq!(ops("insert"), 2.0);
    assert_eq!(ops("get"), 1.0);
    assert_eq!(ops("other"), 1.0);
    assert_eq!(ops("update"), 1.0);
    assert_eq!(ops("delete"), 1.0);
    assert_eq!(ops("list"), 0.0);
    assert_eq!(
        get(
            &text,
            r#"storage_operation_duration_seconds_count{operation="insert",backend="sqlite"}"#
        ),
        2.0
    );
    assert_eq!(
        get(&text, r#"storage_size_bytes{backend="sqlite"}"#),
        1_048_576.0
    );
    assert_eq!(errors.counter("storage", "not_found").get(), 1);
    assert_eq!(errors.counter("storage", "cancelled").get(), 2);
}

#[test]
fn record_error_counts_and_limits() {
    let (registry, metrics) = setup();
    let config = TrackerConfig::default()
        .with_max_components(1)
        .with_max_error_types(1);
    let errors = ErrorRecorder::from_catalog(&metrics, &config).unwrap();
    errors.record("llm", "timeout");
    errors.record("llm", "timeout");
    errors.record("llm", "rate_limited");
    errors.record("storage", "timeout");
    let text = render(&registry);
    assert_eq!(
        get(
            &text,
            r#"errors_total{component="llm",error_type="timeout"}"#
        ),
        2.0
    );
    assert_eq!(
        get(&text, r#"errors_total{component="llm",error_type="other"}"#),
        1.0
    );
    assert_eq!(
        get(
            &text,
            r#"errors_total{component="other",error_type="timeout"}"#
        ),
        1.0
    );
    assert_eq!(
        get(&text, r#"label_values_folded_total{label="error_type"}"#),
        1.0
    );
    assert_eq!(
        get(
            &text,
            r#"label_values_folded_total{label="error_component"}"#
        ),
        1.0
    );
}

#[test]
fn alert_receivers_past_the_limit_fold_into_other_and_are_counted() {
    use incident_metrics_catalog::alert::AlertStatus;
    use incident_metrics_trackers::AlertRecorder;

    let (registry, metrics) = setup();
    let alerts =
        AlertRecorder::from_catalog(&metrics, &TrackerConfig::default().with_max_receivers(2))
            .unwrap();
    alerts.received("oncall", AlertStatus::Firing);
    alerts.received("oncall", AlertStatus::Firing);
    alerts.received("db", AlertStatus::Resolved);
    alerts.received("third", AlertStatus::Firing);
    alerts.truncated("oncall", 3);
    alerts.truncated("oncall", 0);
    let text = render(&registry);
    let get = |series: &str| get(&text, series);
    assert_eq!(
        get(r#"alerts_received_total{receiver="oncall",status="firing"}"#),
        2.0
    );
    assert_eq!(
        get(r#"alerts_received_total{receiver="oncall",status="resolved"}"#),
        0.0
    );
    assert_eq!(
        get(r#"alerts_received_total{receiver="db",status="resolved"}"#),
        1.0
    );
    assert_eq!(
        get(r#"alerts_received_total{receiver="other",status="firing"}"#),
        1.0
    );
    assert_eq!(get(r#"alerts_truncated_total{receiver="oncall"}"#), 3.0);
    assert_eq!(
        get(r#"label_values_folded_total{label="alert_receiver"}"#),
        1.0
    );
}
