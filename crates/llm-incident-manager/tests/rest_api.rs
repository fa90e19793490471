//! The REST API over real HTTP: create, deduplicate, get, list, resolve,
//! errors, correlation, escalation, and the exact incident metrics.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Read;

use common::*;
use http::{Method, StatusCode};
use serde_json::json;

/// Every family of the contract, as `# TYPE` announces it in the 0.0.4 text.
const CONTRACT_FAMILIES: &[(&str, &str)] = &[
    ("http_requests_total", "counter"),
    ("http_request_duration_seconds", "histogram"),
    ("http_request_size_bytes", "histogram"),
    ("http_response_size_bytes", "histogram"),
    ("http_connections_active", "gauge"),
    ("grpc_requests_total", "counter"),
    ("grpc_request_duration_seconds", "histogram"),
    ("grpc_streams_active", "gauge"),
    ("incidents_total", "counter"),
    ("incidents_active", "gauge"),
    ("incident_processing_duration_seconds", "histogram"),
    ("incidents_deduplicated_total", "counter"),
    ("incidents_correlated_total", "counter"),
    ("incident_escalations_total", "counter"),
    ("llm_requests_total", "counter"),
    ("llm_request_duration_seconds", "histogram"),
    ("llm_tokens_total", "counter"),
    ("llm_errors_total", "counter"),
    ("llm_cost_usd_total", "counter"),
    ("notifications_total", "counter"),
    ("notification_delivery_duration_seconds", "histogram"),
    ("notification_queue_size", "gauge"),
    ("playbook_executions_total", "counter"),
    ("playbook_execution_duration_seconds", "histogram"),
    ("playbooks_active", "gauge"),
    ("storage_operations_total", "counter"),
    ("storage_operation_duration_seconds", "histogram"),
    ("storage_size_bytes", "gauge"),
    ("errors_total", "counter"),
    ("build_info", "gauge"),
    ("uptime_seconds", "gauge"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_contract_family_is_announced_before_traffic_and_passes_promtool() {
    let app = start_default().await;
    let text = scrape(app.http_addr()).await;
    for (name, kind) in CONTRACT_FAMILIES {
        let full = format!("llm_incident_manager_{name}");
        assert!(
            text.contains(&format!("# TYPE {full} {kind}\n")),
            "missing # TYPE {full} {kind}"
        );
        assert!(
            text.contains(&format!("# HELP {full} ")),
            "missing # HELP {full}"
        );
    }
    for severity in ["critical", "high", "medium", "low", "info"] {
        assert_eq!(
            sample(
                &text,
                &format!("llm_incident_manager_incidents_active{{severity=\"{severity}\"}}")
            ),
            Some(0.0)
        );
    }
    assert!(text.contains("llm_incident_manager_build_info{version=\"0.1.0\""));
    // promtool reads the default (0.0.4) answer.
    create(&app, "promtool check", "high", "tests").await;
    let text = scrape(app.http_addr()).await;
    let _ = incident_metrics_testing::promtool_check_metrics(&text);
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openmetrics_and_gzip_are_negotiated() {
    let app = start_default().await;
    let url = format!("{}/metrics", base(&app));
    let (status, headers, body) = request(
        Method::GET,
        &url,
        None,
        &[("accept", "application/openmetrics-text; version=1.0.0")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(text.ends_with("# EOF\n"));
    // Python's strict OpenMetrics parser accepts it (skipped without Python).
    if let Some(parsed) = incident_metrics_testing::parse_openmetrics(&text) {
        assert!(
            parsed
                .families
                .iter()
                .any(|f| f.name == "llm_incident_manager_incidents" && f.kind == "counter")
        );
    }
    let (status, headers, body) =
        request(Method::GET, &url, None, &[("accept-encoding", "gzip")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-encoding"], "gzip");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_string(&mut text)
        .unwrap();
    assert!(text.contains("# TYPE llm_incident_manager_incidents_total counter"));
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_get_list_resolve_with_exact_counts() {
    let app = start_default().await;
    let base = base(&app);
    let (status, _, _) = request(Method::GET, &format!("{base}/health"), None, &[]).await;
    assert_eq!(status, StatusCode::OK);

    let body = json!({"title": "API latency", "description": "p99 is slow.", "severity": "high", "source": "apm"});
    let (status, created) = post_json(&format!("{base}/api/v1/incidents"), &body.to_string()).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["status"], "open");
    assert_eq!(created["severity"], "high");
    assert_eq!(created["deduplicated"], false);
    let id = created["id"].as_str().unwrap().to_owned();
    // The analysis is the outbox worker's, after the answer.
    assert_eq!(analysed(&app, &id).await["classification"], "latency");

    // Same source and title while open: deduplicated.
    let (status, dup) = post_json(&format!("{base}/api/v1/incidents"), &body.to_string()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(dup["deduplicated"], true);
    assert_eq!(dup["id"], id.as_str());
    assert_eq!(dup["duplicate_count"], 1);

    // Fingerprints deduplicate across titles.
    let fp = |title: &str| {
        json!({"title": title, "severity": "low", "source": "a", "fingerprint": "fp-1"}).to_string()
    };
    let (s1, first) = post_json(&format!("{base}/api/v1/incidents"), &fp("one")).await;
    let (s2, second) = post_json(&format!("{base}/api/v1/incidents"), &fp("two")).await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::OK));
    assert_eq!(first["id"], second["id"]);

    let (status, got) = get_json(&format!("{base}/api/v1/incidents/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["id"], id.as_str());
    assert_eq!(got["title"], "API latency");

    let (status, list) = get_json(&format!("{base}/api/v1/incidents?status=open")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["incidents"].as_array().unwrap().len(), 2);

    let (status, resolved) = post_json(&format!("{base}/api/v1/incidents/{id}/resolve"), "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(resolved["status"], "resolved");
    // Resolving again changes nothing.
    let (status, _) = post_json(&format!("{base}/api/v1/incidents/{id}/resolve"), "").await;
    assert_eq!(status, StatusCode::OK);

    let (_, open) = get_json(&format!("{base}/api/v1/incidents?status=open")).await;
    assert_eq!(open["incidents"].as_array().unwrap().len(), 1);
    let (_, resolved) = get_json(&format!("{base}/api/v1/incidents?status=resolved")).await;
    assert_eq!(resolved["incidents"].as_array().unwrap().len(), 1);
    let (_, all) = get_json(&format!("{base}/api/v1/incidents")).await;
    assert_eq!(all["incidents"].as_array().unwrap().len(), 2);

    // Once resolved, the same report opens a new incident.
    let (status, again) = post_json(&format!("{base}/api/v1/incidents"), &body.to_string()).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_ne!(again["id"], id.as_str());

    let text = scrape(app.http_addr()).await;
    let m = |s: &str| value(&text, &format!("llm_incident_manager_{s}"));
    assert_eq!(m("incidents_total{severity=\"high\",status=\"open\"}"), 2.0);
    assert_eq!(
        m("incidents_total{severity=\"high\",status=\"deduplicated\"}"),
        1.0
    );
    assert_eq!(
        m("incidents_total{severity=\"high\",status=\"resolved\"}"),
        1.0
    );
    assert_eq!(m("incidents_total{severity=\"low\",status=\"open\"}"), 1.0);
    assert_eq!(
        m("incidents_total{severity=\"low\",status=\"deduplicated\"}"),
        1.0
    );
    assert_eq!(m("incidents_deduplicated_total"), 2.0);
    assert_eq!(m("incidents_active{severity=\"high\"}"), 1.0);
    assert_eq!(m("incidents_active{severity=\"low\"}"), 1.0);
    // The incident tracker times every counted outcome: 2 opened, 1
    // deduplicated, 1 resolved.
    assert_eq!(
        m("incident_processing_duration_seconds_count{severity=\"high\"}"),
        4.0
    );
    // Three incidents analysed, two calls each.
    assert_eq!(
        m(
            "llm_requests_total{provider=\"offline\",model=\"offline-keywords-v1\",operation=\"classification\"}"
        ),
        3.0
    );
    assert!(
        m("llm_tokens_total{provider=\"offline\",model=\"offline-keywords-v1\",type=\"input\"}")
            > 0.0
    );
    assert!(m("storage_size_bytes{backend=\"sqlite\"}") > 0.0);
    assert!(m("storage_operations_total{operation=\"insert\",backend=\"sqlite\"}") >= 3.0);
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_answer_the_contract_statuses() {
    let app = start(config("body_limit_bytes = 1024")).await;
    let url = format!("{}/api/v1/incidents", base(&app));
    let (status, body) = post_json(&url, "{not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].is_string());
    for bad in [
        json!({"title": "", "severity": "high", "source": "s"}),
        json!({"title": "x".repeat(257), "severity": "high", "source": "s"}),
        json!({"title": "t", "severity": "urgent", "source": "s"}),
        json!({"title": "t", "source": "s"}),
        json!({"title": 5, "severity": "high", "source": "s"}),
    ] {
        let (status, body) = post_json(&url, &bad.to_string()).await;
        assert!(
            status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::BAD_REQUEST,
            "{bad} answered {status}"
        );
        assert!(body["error"].is_string(), "{bad}: {body}");
    }
    let big =
        json!({"title": "t", "severity": "high", "source": "s", "description": "x".repeat(2000)});
    let (status, body) = post_json(&url, &big.to_string()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body["error"].is_string());
    let (status, body) = get_json(&format!("{url}/no-such-id")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].is_string());
    let (status, _) = post_json(&format!("{url}/no-such-id/resolve"), "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = get_json(&format!("{url}?status=bogus")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Nothing was created.
    let text = scrape(app.http_addr()).await;
    assert_eq!(
        value(
            &text,
            "llm_incident_manager_incidents_total{severity=\"high\",status=\"open\"}"
        ),
        0.0
    );
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_from_one_source_within_the_window_are_correlated() {
    let app = start(config("[incidents]\ncorrelation_window_ms = 60000")).await;
    let a = create(&app, "disk full on db-1", "medium", "node-exporter").await;
    let b = create(&app, "disk full on db-2", "medium", "node-exporter").await;
    let c = create(&app, "unrelated", "medium", "other-source").await;
    let (a_id, b_id) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    assert_eq!(b["correlated_ids"], json!([a_id]));
    assert_eq!(c["correlated_ids"], json!([]));
    let (_, a_now) = get_json(&format!("{}/api/v1/incidents/{a_id}", base(&app))).await;
    assert_eq!(a_now["correlated_ids"], json!([b_id]));
    let text = scrape(app.http_addr()).await;
    assert_eq!(
        value(&text, "llm_incident_manager_incidents_correlated_total"),
        1.0
    );
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_incident_links_only_to_the_most_recent_of_its_source() {
    let app = start(config(
        "[incidents]\ncorrelation_window_ms = 60000\nmax_correlated = 2",
    ))
    .await;
    let mut ids = Vec::new();
    for n in 1..=4 {
        let i = create(&app, &format!("storm {n}"), "high", "storm-source").await;
        ids.push(i["id"].as_str().unwrap().to_owned());
    }
    let links = |id: &str| {
        let url = format!("{}/api/v1/incidents/{id}", base(&app));
        async move { get_json(&url).await.1["correlated_ids"].clone() }
    };
    // The fourth links to the second and third, not to the first.
    assert_eq!(links(&ids[3]).await, json!([ids[1], ids[2]]));
    assert_eq!(links(&ids[2]).await, json!([ids[0], ids[1], ids[3]]));
    assert_eq!(links(&ids[0]).await, json!([ids[1], ids[2]]));
    let text = scrape(app.http_addr()).await;
    assert_eq!(
        value(&text, "llm_incident_manager_incidents_correlated_total"),
        3.0
    );
    app.shutdown().await.unwrap();

    // 0: no correlation at all.
    let app = start(config(
        "[incidents]\ncorrelation_window_ms = 60000\nmax_correlated = 0",
    ))
    .await;
    create(&app, "one", "high", "storm-source").await;
    let two = create(&app, "two", "high", "storm-source").await;
    assert_eq!(two["correlated_ids"], json!([]));
    let text = scrape(app.http_addr()).await;
    assert_eq!(
        value(&text, "llm_incident_manager_incidents_correlated_total"),
        0.0
    );
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unresolved_critical_and_high_incidents_escalate_by_level() {
    // The policy applied at chosen instants (the background task is off).
    let app = start(config(
        "[incidents.escalation]\nenabled = false\ndelays_ms = [1000, 3000, 6000]",
    ))
    .await;
    let critical = create(&app, "escalate me", "critical", "s").await;
    let low = create(&app, "not me", "low", "s2").await;
    let resolved = create(&app, "resolved in time", "high", "s3").await;
    let rid = resolved["id"].as_str().unwrap();
    post_json(
        &format!("{}/api/v1/incidents/{rid}/resolve", base(&app)),
        "",
    )
    .await;
    let t0 = critical["created_at_ms"].as_i64().unwrap();
    let manager = app.manager();
    assert_eq!(manager.escalate_due(t0 + 999).await.unwrap(), 0);
    assert_eq!(manager.escalate_due(t0 + 1000).await.unwrap(), 1);
    assert_eq!(manager.escalate_due(t0 + 2000).await.unwrap(), 0);
    // Two delays passed at once: two levels, each counted.
    assert_eq!(manager.escalate_due(t0 + 6500).await.unwrap(), 2);
    assert_eq!(manager.escalate_due(t0 + 60_000).await.unwrap(), 0);

    let text = scrape(app.http_addr()).await;
    for (level, want) in [("1", 1.0), ("2", 1.0), ("3", 1.0), ("4", 0.0)] {
        assert_eq!(
            value(
                &text,
                &format!("llm_incident_manager_incident_escalations_total{{level=\"{level}\"}}")
            ),
            want,
            "level {level}"
        );
    }
    let cid = critical["id"].as_str().unwrap();
    let (_, now) = get_json(&format!("{}/api/v1/incidents/{cid}", base(&app))).await;
    assert_eq!(now["escalation_level"], 3);
    for id in [low["id"].as_str().unwrap(), rid] {
        let (_, other) = get_json(&format!("{}/api/v1/incidents/{id}", base(&app))).await;
        assert_eq!(other["escalation_level"], 0);
    }
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_task_escalates() {
    let app = start(config(
        "[incidents.escalation]\ncheck_interval_ms = 20\ndelays_ms = [50, 100]",
    ))
    .await;
    let critical = create(&app, "escalate me", "critical", "s").await;
    wait_for_sample(
        app.http_addr(),
        "llm_incident_manager_incident_escalations_total{level=\"2\"}",
        1.0,
    )
    .await;
    let cid = critical["id"].as_str().unwrap();
    let (_, now) = get_json(&format!("{}/api/v1/incidents/{cid}", base(&app))).await;
    assert_eq!(now["escalation_level"], 2);
    let text = scrape(app.http_addr()).await;
    assert_eq!(
        value(
            &text,
            "llm_incident_manager_incident_escalations_total{level=\"1\"}"
        ),
        1.0
    );
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_requests_are_counted_exactly_by_route_template() {
    let app = start_default().await;
    let base = base(&app);
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            create(&app, &format!("t{i}"), "info", &format!("s{i}")).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    for id in &ids {
        get_json(&format!("{base}/api/v1/incidents/{id}")).await;
    }
    get_json(&format!("{base}/api/v1/incidents/missing")).await;
    get_json(&format!("{base}/nowhere")).await;
    get_json(&format!("{base}/also/nowhere")).await;
    for _ in 0..5 {
        request(Method::GET, &format!("{base}/health"), None, &[]).await;
        scrape(app.http_addr()).await;
    }
    let text = scrape(app.http_addr()).await;
    let m = |s: &str| value(&text, &format!("llm_incident_manager_{s}"));
    assert_eq!(
        m("http_requests_total{method=\"POST\",path=\"/api/v1/incidents\",status=\"201\"}"),
        3.0,
        "{text}"
    );
    assert_eq!(
        m("http_requests_total{method=\"GET\",path=\"/api/v1/incidents/{id}\",status=\"200\"}"),
        3.0
    );
    assert_eq!(
        m("http_requests_total{method=\"GET\",path=\"/api/v1/incidents/{id}\",status=\"404\"}"),
        1.0
    );
    assert_eq!(
        m("http_requests_total{method=\"GET\",path=\"unmatched\",status=\"404\"}"),
        2.0
    );
    assert!(!text.contains("path=\"/health\""));
    assert!(!text.contains("path=\"/metrics\""));
    assert_eq!(
        m("http_request_duration_seconds_count{method=\"POST\",path=\"/api/v1/incidents\"}"),
        3.0
    );
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_registry_adds_process_and_runtime_metrics() {
    let config = config("");
    let info = incident_metrics::catalog::system::BuildInfo::from_build().with_version("9.9.9");
    let metrics = llm_incident_manager::telemetry::metrics(&config.metrics, &info).unwrap();
    let app = llm_incident_manager::App::new(config, metrics)
        .start()
        .await
        .unwrap();
    let text = scrape(app.http_addr()).await;
    assert!(text.contains("llm_incident_manager_build_info{version=\"9.9.9\""));
    if cfg!(target_os = "linux") {
        assert!(
            text.contains("\nllm_incident_manager_process_threads "),
            "{text}"
        );
    }
    assert!(text.contains("\nllm_incident_manager_tokio_workers "));
    let _ = incident_metrics_testing::promtool_check_metrics(&text);
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_endpoint_follows_the_configuration() {
    let app = start(config(
        "[metrics]\nendpoint = \"/internal/metrics\"\nexcluded_paths = [\"/health\", \"/internal/metrics\"]",
    ))
    .await;
    let base = base(&app);
    let (status, _, body) =
        request(Method::GET, &format!("{base}/internal/metrics"), None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        String::from_utf8_lossy(&body)
            .contains("# TYPE llm_incident_manager_incidents_total counter")
    );
    let (status, _, _) = request(Method::GET, &format!("{base}/metrics"), None, &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.shutdown().await.unwrap();

    let app = start(config("[metrics]\nenabled = false")).await;
    let (status, _, _) = request(
        Method::GET,
        &format!("{}/metrics", base_of(&app)),
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The service itself still works.
    create(&app, "without metrics", "low", "s").await;
    app.shutdown().await.unwrap();
}

fn base_of(app: &llm_incident_manager::RunningApp) -> String {
    format!("http://{}", app.http_addr())
}
