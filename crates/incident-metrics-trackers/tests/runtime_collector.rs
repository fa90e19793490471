//! RuntimeCollector: standard names, tokio metrics, and promtool's verdict
//! on its output alone and inside the full service registry.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{render, setup};
use incident_metrics_catalog::incident::Severity;
use incident_metrics_core::{MetricsConfig, Registry};
use incident_metrics_trackers::{RuntimeCollector, TrackerConfig, Trackers};

const PROCESS_SAMPLES: &[&str] = &[
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_open_fds",
    "process_max_fds",
    "process_start_time_seconds",
    "process_threads",
];

/// The value of the unlabelled sample `name`, read with the workspace's
/// exposition parser.
fn sample(text: &str, name: &str) -> Option<f64> {
    incident_metrics_testing::exposition::parse(text)
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
        .value(name, &[])
}

#[test]
fn standard_names_in_an_unprefixed_registry_pass_promtool() {
    let mut registry = Registry::new(&MetricsConfig::new().with_namespace("")).unwrap();
    RuntimeCollector::new().register(&mut registry);
    let text = render(&registry);
    if cfg!(target_os = "linux") {
        for name in PROCESS_SAMPLES {
            assert!(sample(&text, name).is_some(), "{name} missing:\n{text}");
        }
        assert!(
            text.contains("# TYPE process_cpu_seconds_total counter\n"),
            "{text}"
        );
        assert!(text.contains("# TYPE process_resident_memory_bytes gauge\n"));
        assert!(sample(&text, "process_threads").unwrap() >= 1.0);
        assert!(sample(&text, "process_resident_memory_bytes").unwrap() > 1e5);
    } else {
        assert!(!text.contains("process_"));
    }
    assert!(
        !text.contains("tokio_"),
        "no runtime handle, no tokio families"
    );
    assert!(!text.contains("uptime_seconds"), "the catalog owns uptime");
    incident_metrics_testing::promtool_check_metrics(&text);
}

#[cfg(feature = "tokio")]
#[test]
fn tokio_runtime_metrics_pass_promtool() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut registry = Registry::new(&MetricsConfig::new().with_namespace("")).unwrap();
    RuntimeCollector::new()
        .with_tokio(runtime.handle().clone())
        .register(&mut registry);
    let task = runtime.spawn(std::future::pending::<()>());

    let text = render(&registry);
    assert_eq!(sample(&text, "tokio_workers"), Some(2.0));
    assert!(sample(&text, "tokio_alive_tasks").unwrap() >= 1.0);
    assert!(sample(&text, "tokio_global_queue_depth").is_some());
    if cfg!(target_os = "linux") {
        assert!(sample(&text, "process_threads").unwrap() >= 3.0); // main + 2 workers
    }
    incident_metrics_testing::promtool_check_metrics(&text);
    task.abort();
}

#[test]
fn full_service_registry_with_collector_and_traffic_passes_promtool() {
    let (mut registry, metrics) = setup();
    RuntimeCollector::new().register(&mut registry);
    let trackers = Trackers::new(&metrics, &TrackerConfig::default()).unwrap();
    let mut call = trackers.llm.start("openai", "gpt-4o", "chat");
    call.first_token();
    call.success(120, 30);
    trackers
        .llm
        .start("openai", "weird \"model\"\n", "chat")
        .error("timeout");
    trackers.incidents.start(Severity::High).success("resolved");
    let _open = trackers.incidents.opened(Severity::Critical);
    trackers.playbooks.start("restart").success();
    trackers.notifications.start("slack").sent();
    trackers.storage.start("insert", "memory").success();
    trackers.errors.record("api", "bad_request");

    let text = render(&registry);
    if cfg!(target_os = "linux") {
        // Through the service's registry the collector's names carry its
        // prefix, as every name of the contract does.
        for name in PROCESS_SAMPLES {
            let prefixed = format!("llm_incident_manager_{name}");
            assert!(sample(&text, &prefixed).is_some(), "{prefixed} missing");
        }
    }
    assert!(
        text.contains(r#"model="weird \"model\"\n""#),
        "escaped label value"
    );
    incident_metrics_testing::promtool_check_metrics(&text);
}
