//! Playbooks from the configuration run asynchronously for matching
//! incidents; a failing step fails the execution; every execution is
//! counted by playbook and status.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matching_playbooks_run_and_failures_are_counted() {
    let calls = Arc::new(AtomicUsize::new(0));
    let router = {
        let calls = calls.clone();
        Router::new()
            .route(
                "/ok",
                post(move || {
                    let calls = calls.clone();
                    async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        StatusCode::NO_CONTENT
                    }
                }),
            )
            .route("/broken", post(|| async { StatusCode::BAD_GATEWAY }))
    };
    let (addr, _stub) = serve_stub(router).await;
    let toml = format!(
        r#"
        [[playbooks]]
        name = "triage"
        severities = ["critical", "high"]
        steps = [
            {{ type = "annotate", note = "triage started" }},
            {{ type = "wait", ms = 20 }},
            {{ type = "http", url = "http://{addr}/ok" }},
            {{ type = "notify", channel = "log", message = "triaged" }},
        ]

        [[playbooks]]
        name = "restart"
        severities = ["critical"]
        steps = [
            {{ type = "http", url = "http://{addr}/broken" }},
            {{ type = "annotate", note = "never reached" }},
        ]
        "#
    );
    let app = start(config(&toml)).await;
    let critical = create(&app, "checkout down", "critical", "shop").await;
    create(&app, "checkout slow", "high", "shop-2").await;
    create(&app, "typo on page", "low", "shop-3").await;

    let text = wait_for_sample(
        app.http_addr(),
        "llm_incident_manager_playbook_executions_total{playbook=\"triage\",status=\"success\"}",
        2.0,
    )
    .await;
    let text = if value(
        &text,
        "llm_incident_manager_playbook_executions_total{playbook=\"restart\",status=\"failed\"}",
    ) == 1.0
    {
        text
    } else {
        wait_for_sample(
            app.http_addr(),
            "llm_incident_manager_playbook_executions_total{playbook=\"restart\",status=\"failed\"}",
            1.0,
        )
        .await
    };
    let m = |s: &str| value(&text, &format!("llm_incident_manager_{s}"));
    assert_eq!(
        m("playbook_executions_total{playbook=\"restart\",status=\"success\"}"),
        0.0
    );
    assert_eq!(
        m("playbook_execution_duration_seconds_count{playbook=\"triage\"}"),
        2.0
    );
    assert_eq!(m("playbooks_active"), 0.0);
    assert_eq!(
        m("errors_total{component=\"playbook\",error_type=\"failed\"}"),
        1.0
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    let id = critical["id"].as_str().unwrap();
    let (_, got) = get_json(&format!("{}/api/v1/incidents/{id}", base(&app))).await;
    let notes: Vec<&str> = got["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(notes, vec!["triage started"]);
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_playbook_in_a_wait_step_resumes_after_a_restart_where_it_was() {
    let toml = r#"
        [[playbooks]]
        name = "slow"
        severities = ["high"]
        steps = [
            { type = "annotate", note = "before the wait" },
            { type = "wait", ms = 1500 },
            { type = "annotate", note = "after the wait" },
        ]
    "#;
    let config = config(toml);
    let app = start(config.clone()).await;
    let created = create(&app, "slow one", "high", "s").await;
    let id = created["id"].as_str().unwrap().to_owned();
    wait_for_sample(
        app.http_addr(),
        "llm_incident_manager_playbooks_active",
        1.0,
    )
    .await;
    let registry = app.registry().clone();
    tokio::time::timeout(std::time::Duration::from_secs(15), app.shutdown())
        .await
        .expect("shutdown timed out")
        .unwrap();
    // Suspended, not cancelled: nothing counted but the gauge going down.
    let text = incident_metrics::exporter::render_text(&registry).unwrap();
    assert_eq!(
        value(
            &text,
            "llm_incident_manager_playbook_executions_total{playbook=\"slow\",status=\"cancelled\"}"
        ),
        0.0
    );
    assert_eq!(value(&text, "llm_incident_manager_playbooks_active"), 0.0);
    assert_eq!(value(&text, "llm_incident_manager_playbooks_pending"), 1.0);

    // The next start takes it up after the wait, and runs the first step
    // only once.
    let app = start(config).await;
    let text = wait_for_sample(
        app.http_addr(),
        "llm_incident_manager_playbook_executions_total{playbook=\"slow\",status=\"success\"}",
        1.0,
    )
    .await;
    assert_eq!(value(&text, "llm_incident_manager_playbooks_pending"), 0.0);
    let (_, got) = get_json(&format!("{}/api/v1/incidents/{id}", base(&app))).await;
    let notes: Vec<&str> = got["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(notes, vec!["before the wait", "after the wait"]);
    app.shutdown().await.unwrap();
}
