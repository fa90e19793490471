//! The remote-write sender against a real VictoriaMetrics (single node),
//! which takes Prometheus remote-write at `/api/v1/write`: its query API
//! returns the source's values once it has made them searchable.

#![cfg(feature = "remote-write")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod push_support;

use std::sync::Arc;
use std::time::Duration;

use incident_metrics_exporter::RemoteWriteConfig;
use push_support::{ODD_PATH, Program, Source, query_until, wait_for};

/// How long VictoriaMetrics may take to make written samples searchable.
const SEARCHABLE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn victoria_metrics_receives_exact_values() {
    let Some(vm) = Program::victoria_metrics() else {
        return;
    };
    let mut source = Source::new();
    source.jobs.inc_by(11);
    source.request("GET").inc_by(2);
    for value in [0.05, 0.5] {
        source.latency.observe(value);
    }
    let sender = RemoteWriteConfig::new(format!("{}/api/v1/write", vm.base_url()))
        .with_interval_seconds(0.2)
        .with_external_label("instance", "test-vm")
        .register(&mut source.registry)
        .unwrap();
    let registry = Arc::new(std::mem::replace(
        &mut source.registry,
        incident_metrics_core::Registry::new(&Default::default()).unwrap(),
    ));
    let handle = sender.start(registry).unwrap();
    wait_for("a first accepted request", Duration::from_secs(30), || {
        handle.stats().samples_sent > 0
    })
    .await;
    source.jobs.inc_by(2);
    let stats = handle.stop().await;
    assert_eq!(stats.samples_failed, 0, "{stats:?}");
    assert_eq!(stats.samples_dropped, 0, "{stats:?}");

    let base = vm.base_url();
    let jobs = query_until(&base, "svc_jobs_total", SEARCHABLE, |a| {
        a.len() == 1 && a[0].value == 13.0
    })
    .await;
    assert_eq!(jobs[0].labels["instance"], "test-vm");
    assert_eq!(jobs[0].labels["env"], "ci");
    let requests = query_until(&base, "svc_requests_total", SEARCHABLE, |a| a.len() == 1).await;
    assert_eq!(requests[0].labels["path"], ODD_PATH);
    assert_eq!(requests[0].value, 2.0);
    let inf = query_until(
        &base,
        r#"svc_latency_seconds_bucket{le="+Inf"}"#,
        SEARCHABLE,
        |a| a.len() == 1,
    )
    .await;
    assert_eq!(inf[0].value, 2.0);
    let count = query_until(&base, "svc_latency_seconds_count", SEARCHABLE, |a| {
        a.len() == 1
    })
    .await;
    assert_eq!(count[0].value, 2.0);
}
