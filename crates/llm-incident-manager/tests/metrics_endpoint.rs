//! `[metrics.server]` in the service: `/metrics` on a listener of its own
//! (and `404` for it on the API port), bearer and basic auth on either
//! port, the defaults unchanged, and the binary's third `listening on` line
//! with `--metrics-addr`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use http::{Method, StatusCode};

const TOKEN: &str = "9b1c4e7a2f6d8035c1e4b7a9d2f6c803";

/// `Authorization: Basic base64("prometheus:hunter2-hunter2")`.
const BASIC_RIGHT: &str = "Basic cHJvbWV0aGV1czpodW50ZXIyLWh1bnRlcjI=";
/// `Authorization: Basic base64("prometheus:hunter2")`.
const BASIC_WRONG: &str = "Basic cHJvbWV0aGV1czpodW50ZXIy";

async fn get(url: &str, headers: &[(&str, &str)]) -> (StatusCode, http::HeaderMap, String) {
    let (status, headers, body) = request(Method::GET, url, None, headers).await;
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_metrics_stay_on_the_api_port_unprotected() {
    let app = start_default().await;
    assert_eq!(app.metrics_addr(), None);
    let text = scrape(app.http_addr()).await;
    assert!(text.contains("# TYPE llm_incident_manager_incidents_total counter\n"));
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_separate_listener_serves_metrics_and_the_api_port_answers_404() {
    let app = start(config("[metrics.server]\nlisten_addr = \"127.0.0.1:0\"\n")).await;
    let metrics_addr = app.metrics_addr().expect("a metrics listener");
    assert_eq!(metrics_addr.ip().to_string(), "127.0.0.1");
    assert_ne!(metrics_addr.port(), 0);
    assert_ne!(metrics_addr, app.http_addr());

    // The API still works, and is counted.
    create(&app, "separate listener", "high", "tests").await;
    let (status, _, _) = get(&format!("{}/health", base(&app)), &[]).await;
    assert_eq!(status, StatusCode::OK);

    // The API port no longer serves the metrics path.
    let (status, _, body) = get(&format!("{}/metrics", base(&app)), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!body.contains("llm_incident_manager_"), "{body}");

    // The metrics port serves it, and nothing else.
    let text = scrape(metrics_addr).await;
    assert_eq!(
        value(
            &text,
            "llm_incident_manager_incidents_total{severity=\"high\",status=\"open\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "llm_incident_manager_http_requests_total{method=\"POST\",path=\"/api/v1/incidents\",status=\"201\"}"
        ),
        1.0
    );
    let (status, _, _) = get(&format!("http://{metrics_addr}/health"), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = get(&format!("http://{metrics_addr}/api/v1/incidents"), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let _ = incident_metrics_testing::promtool_check_metrics(&text);

    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_auth_guards_metrics_on_the_api_port_only() {
    let app = start(config(&format!(
        "[metrics.server.auth]\nbearer_token = \"{TOKEN}\"\n"
    )))
    .await;
    assert_eq!(app.metrics_addr(), None);
    let url = format!("{}/metrics", base(&app));

    let (status, headers, body) = get(&url, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["www-authenticate"], "Bearer realm=\"metrics\"");
    assert!(!body.contains("llm_incident_manager_"), "{body}");
    let (status, _, _) = get(&url, &[("authorization", "Bearer wrong")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let right = format!("Bearer {TOKEN}");
    let (status, _, text) = get(&url, &[("authorization", &right)]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("# TYPE llm_incident_manager_incidents_total counter\n"));
    let _ = incident_metrics_testing::promtool_check_metrics(&text);

    // The rest of the API needs no credentials.
    let (status, _, _) = get(&format!("{}/health", base(&app)), &[]).await;
    assert_eq!(status, StatusCode::OK);
    create(&app, "auth", "low", "tests").await;
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_guards_the_separate_listener() {
    let app = start(config(
        r#"
        [metrics.server]
        listen_addr = "127.0.0.1:0"
        max_concurrent_scrapes = 2
        scrape_timeout_ms = 5000
        [metrics.server.auth]
        username = "prometheus"
        password = "hunter2-hunter2"
        "#,
    ))
    .await;
    let url = format!("http://{}/metrics", app.metrics_addr().unwrap());

    let (status, headers, _) = get(&url, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        headers["www-authenticate"],
        "Basic realm=\"metrics\", charset=\"UTF-8\""
    );
    let (status, _, _) = get(&url, &[("authorization", BASIC_WRONG)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = get(&url, &[("authorization", "Basic %%%")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, headers, text) = get(
        &url,
        &[
            ("authorization", BASIC_RIGHT),
            ("accept", "application/openmetrics-text"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(text.ends_with("# EOF\n"));
    let (status, _, _) = get(
        &format!("{}/metrics", base(&app)),
        &[("authorization", BASIC_RIGHT)],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_secret_file_stops_the_start_with_a_clear_error() {
    let config =
        config("[metrics.server.auth]\nbearer_token_file = \"/nonexistent/metrics-token\"\n");
    let metrics = incident_metrics::Metrics::from_config(&config.metrics).unwrap();
    let error = llm_incident_manager::App::new(config, metrics)
        .start()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with(
            "metrics endpoint: cannot read `server.auth.bearer_token_file` \
             /nonexistent/metrics-token"
        ),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_prints_a_third_line_for_metrics_addr_and_reads_the_token_from_env() {
    let (guard, lines) = spawn_binary(
        &[
            "--http-addr",
            "127.0.0.1:0",
            "--grpc-addr",
            "127.0.0.1:0",
            "--metrics-addr",
            "127.0.0.1:0",
        ],
        &[("INCIDENT_METRICS_BEARER_TOKEN", TOKEN)],
        3,
    );
    let http = listening(&lines[0], "http");
    let _grpc = listening(&lines[1], "grpc");
    let metrics = listening(&lines[2], "metrics");

    let (status, _, _) = get(&format!("http://{http}/metrics"), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let url = format!("http://{metrics}/metrics");
    let (status, _, _) = get(&url, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, text) = get(&url, &[("authorization", &format!("Bearer {TOKEN}"))]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("llm_incident_manager_build_info{"));
    drop(guard);
}
