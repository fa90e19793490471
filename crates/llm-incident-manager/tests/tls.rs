//! TLS in and out of the service, with the real programs and certificates
//! made in the test:
//!
//! - the binary with `--tls-cert`/`--tls-key` serves REST, gRPC and the
//!   metrics listener over TLS and says `(tls)` on each line; a real
//!   Prometheus scrapes the metrics listener over https with
//!   `tls_config.ca_file`, and, with `--tls-client-ca`, with a client
//!   certificate (and is refused without one); Python's grpcio calls the
//!   gRPC port over TLS (and mTLS);
//! - the OpenAI-compatible provider streams from an HTTPS stub, and the
//!   webhook posts to an HTTPS receiver, each trusting the test CA through
//!   its `tls` table; an untrusted certificate fails the call and is
//!   counted where the call is counted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use common::*;
use http_body_util::{BodyExt, Empty};
use incident_metrics::exporter::{ClientTlsConfig, ServerTlsConfig};
use incident_metrics_testing::tls::TestPki;
use serde_json::json;

fn pki() -> TestPki {
    TestPki::new(&incident_metrics_testing::scratch_dir("service-tls"))
}

/// Serves `router` over TLS with `pki`'s server certificate on
/// 127.0.0.1:0, through the service's own hardened loop.
async fn serve_tls_stub(router: Router, pki: &TestPki) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = ServerTlsConfig::new(&pki.server.cert, &pki.server.key)
        .acceptor(&[b"http/1.1"])
        .unwrap();
    tokio::spawn(async move {
        let limits = llm_incident_manager::serve::Limits::default();
        let _ = llm_incident_manager::serve::serve_http_tls(
            listener,
            router,
            &limits,
            Some(acceptor),
            std::future::pending(),
        )
        .await;
    });
    addr
}

/// GETs `url` over https trusting `tls`; the status, or the error.
async fn https_get(tls: &ClientTlsConfig, url: &str) -> Result<(u16, String), String> {
    let client: hyper_util::client::legacy::Client<_, Empty<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(tls.https_connector().unwrap());
    let response = tokio::time::timeout(Duration::from_secs(10), client.get(url.parse().unwrap()))
        .await
        .map_err(|_| "timed out".to_owned())?
        .map_err(|e| incident_metrics::exporter::tls::describe_error(&e))?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// The SSE chat-completions stub of `llm_openai_stub.rs`, shortened.
fn llm_stub(hits: Arc<AtomicUsize>) -> Router {
    Router::new().route(
        "/v1/chat/completions",
        post(move |body: String| {
            let hits = hits.clone();
            async move {
                hits.fetch_add(1, Ordering::SeqCst);
                let request: serde_json::Value = serde_json::from_str(&body).unwrap();
                let system = request["messages"][0]["content"].as_str().unwrap_or("");
                let answer = if system.starts_with("Classify") {
                    "network"
                } else {
                    "Links are down."
                };
                let events = [
                    json!({"choices": [{"index": 0, "delta": {"content": answer}}]}),
                    json!({"choices": [], "usage": {"prompt_tokens": 20, "completion_tokens": 3}}),
                ]
                .into_iter()
                .map(|e| format!("data: {e}\n\n"))
                .chain(["data: [DONE]\n\n".to_owned()])
                .map(|e| Ok::<_, Infallible>(Bytes::from(e)));
                Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(Body::from_stream(tokio_stream::iter(events)))
                    .unwrap()
            }
        }),
    )
}

fn llm_config(port: u16, ca: Option<&Path>) -> String {
    let mut toml = format!(
        "playbooks = []\n[llm]\nprovider = \"openai\"\nbase_url = \"https://localhost:{port}/v1\"\n\
         model = \"stub-model\"\napi_key = \"k\"\nstream = true\n"
    );
    if let Some(ca) = ca {
        toml.push_str(&format!("[llm.tls]\nca_file = \"{}\"\n", ca.display()));
    }
    toml
}

const LLM: &str = "provider=\"openai\",model=\"stub-model\"";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llm_provider_streams_from_an_https_stub() {
    let pki = pki();
    let hits = Arc::new(AtomicUsize::new(0));
    let addr = serve_tls_stub(llm_stub(hits.clone()), &pki).await;
    let app = start(config(&llm_config(addr.port(), Some(&pki.ca)))).await;
    let created = create(&app, "links down", "high", "netmon").await;
    // The analysis runs from the outbox after the create answered.
    let incident = analysed(&app, created["id"].as_str().unwrap()).await;
    assert_eq!(incident["classification"], "network");
    assert_eq!(incident["summary"], "Links are down.");
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    let text = wait_for_sample(
        app.http_addr(),
        &format!("llm_incident_manager_llm_time_to_first_token_seconds_count{{{LLM}}}"),
        2.0,
    )
    .await;
    let m = |s: &str| value(&text, &format!("llm_incident_manager_{s}"));
    assert_eq!(
        m(&format!("llm_errors_total{{{LLM},error_type=\"network\"}}")),
        0.0
    );
    app.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&pki.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llm_calls_to_an_untrusted_certificate_fail_and_are_counted() {
    let pki = pki();
    let hits = Arc::new(AtomicUsize::new(0));
    let addr = serve_tls_stub(llm_stub(hits.clone()), &pki).await;
    // No [llm.tls]: the platform's roots do not know the test CA.
    let app = start(config(&llm_config(addr.port(), None))).await;
    let created = create(&app, "links down", "high", "netmon").await;
    // The analysis runs from the outbox: both calls fail in the handshake
    // and are counted, and the incident stays unclassified.
    wait_for_sample(
        app.http_addr(),
        &format!("llm_incident_manager_llm_errors_total{{{LLM},error_type=\"network\"}}"),
        2.0,
    )
    .await;
    let (_, incident) = get_json(&format!(
        "http://{}/api/v1/incidents/{}",
        app.http_addr(),
        created["id"].as_str().unwrap()
    ))
    .await;
    assert!(incident["classification"].is_null(), "{incident}");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "nothing reached the handler"
    );
    app.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&pki.dir);
}

fn receiver(hits: Arc<AtomicUsize>) -> Router {
    Router::new().route(
        "/hook",
        post(move |body: String| {
            let hits = hits.clone();
            async move {
                assert!(body.contains("\"incident_id\""));
                hits.fetch_add(1, Ordering::SeqCst);
                StatusCode::OK
            }
        }),
    )
}

fn webhook_config(port: u16, ca: &Path) -> String {
    format!(
        "playbooks = []\n[notifications]\nchannels = [\"webhook\"]\n\
         [notifications.webhook]\nurl = \"https://localhost:{port}/hook\"\nmax_attempts = 2\n\
         initial_backoff_ms = 10\ntimeout_ms = 5000\n\
         [notifications.webhook.tls]\nca_file = \"{}\"\n",
        ca.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_posts_to_an_https_receiver() {
    let pki = pki();
    let hits = Arc::new(AtomicUsize::new(0));
    let addr = serve_tls_stub(receiver(hits.clone()), &pki).await;
    let app = start(config(&webhook_config(addr.port(), &pki.ca))).await;
    create(&app, "disk full", "critical", "node").await;
    wait_for_sample(
        app.http_addr(),
        "llm_incident_manager_notifications_total{channel=\"webhook\",status=\"sent\"}",
        1.0,
    )
    .await;
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    app.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&pki.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_to_an_untrusted_certificate_fails_and_is_counted() {
    let pki = pki();
    let hits = Arc::new(AtomicUsize::new(0));
    let addr = serve_tls_stub(receiver(hits.clone()), &pki).await;
    // Trusts the other CA only.
    let app = start(config(&webhook_config(addr.port(), &pki.other_ca))).await;
    create(&app, "disk full", "critical", "node").await;
    let text = wait_for_sample(
        app.http_addr(),
        "llm_incident_manager_notifications_total{channel=\"webhook\",status=\"failed\"}",
        1.0,
    )
    .await;
    assert_eq!(
        value(
            &text,
            "llm_incident_manager_notifications_total{channel=\"webhook\",status=\"sent\"}"
        ),
        0.0
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0, "never sent in plain text");
    app.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&pki.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_tls_file_stops_the_start_naming_it() {
    let config = config(
        "[tls]\ncert_file = \"/nonexistent/server.pem\"\nkey_file = \"/nonexistent/server.key\"\n",
    );
    let metrics = incident_metrics::Metrics::from_config(&config.metrics).unwrap();
    let e = llm_incident_manager::App::new(config, metrics)
        .start()
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/server.pem"), "{e}");
    let config = common::config("[llm.tls]\nca_file = \"/nonexistent/ca.pem\"\n");
    let metrics = incident_metrics::Metrics::from_config(&config.metrics).unwrap();
    let e = llm_incident_manager::App::new(config, metrics)
        .start()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("llm.tls") && e.contains("/nonexistent/ca.pem"),
        "{e}"
    );
}

/// Runs the Python gRPC client against `port`; its stdout line.
fn python_grpc(
    port: u16,
    ca: &Path,
    client: Option<(&Path, &Path)>,
) -> Option<Result<String, String>> {
    let python = incident_metrics_testing::program("python3", "apt-get install -y python3")?;
    let has_grpc = std::process::Command::new(&python)
        .args(["-c", "import grpc, grpc_tools"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_grpc {
        assert!(
            !incident_metrics_testing::under_ci(),
            "Python grpcio missing: python3 -m pip install grpcio grpcio-tools (CI=true, no skipping)"
        );
        eprintln!("note: skipping the grpcio check: python3 -m pip install grpcio grpcio-tools");
        return None;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/grpc_tls_call.py");
    let proto = concat!(env!("CARGO_MANIFEST_DIR"), "/proto");
    let mut command = std::process::Command::new(&python);
    command.arg(script).arg(port.to_string()).arg(ca).arg(proto);
    if let Some((cert, key)) = client {
        command.arg(cert).arg(key);
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    Some(if output.status.success() {
        Ok(stdout)
    } else {
        Err(format!("{stdout}\n{stderr}"))
    })
}

/// Reads a `{what} listening on ADDR (tls)` line.
fn listening_tls(line: &str, what: &str) -> SocketAddr {
    let addr = line
        .strip_suffix(" (tls)")
        .unwrap_or_else(|| panic!("not a TLS line: {line:?}"));
    listening(addr, what)
}

/// Starts the binary on ephemeral ports with TLS flags (and `extra`).
fn spawn_tls(pki: &TestPki, extra: &[&str]) -> (ChildGuard, [SocketAddr; 3]) {
    let db = pki.dir.join(format!("incidents-{}.db", extra.len()));
    let (cert, key, db) = (
        pki.server.cert.to_str().unwrap(),
        pki.server.key.to_str().unwrap(),
        db.to_str().unwrap(),
    );
    let mut args = vec![
        "--http-addr",
        "127.0.0.1:0",
        "--grpc-addr",
        "127.0.0.1:0",
        "--metrics-addr",
        "127.0.0.1:0",
        "--db",
        db,
        "--tls-cert",
        cert,
        "--tls-key",
        key,
    ];
    args.extend_from_slice(extra);
    let (child, lines) = spawn_binary(&args, &[], 3);
    let addrs = [
        listening_tls(&lines[0], "http"),
        listening_tls(&lines[1], "grpc"),
        listening_tls(&lines[2], "metrics"),
    ];
    (child, addrs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_every_listener_over_tls_and_mtls_to_prometheus_and_grpcio() {
    let pki = pki();
    let (_tls_child, [http, grpc, metrics]) = spawn_tls(&pki, &[]);
    let ca_arg = pki.ca.to_str().unwrap().to_owned();
    let (_mtls_child, [mhttp, mgrpc, mmetrics]) = spawn_tls(&pki, &["--tls-client-ca", &ca_arg]);

    // REST over https; plain HTTP gets no answer.
    let trusting = ClientTlsConfig::new().with_ca_file(&pki.ca);
    let health = format!("https://localhost:{}/health", http.port());
    assert_eq!(https_get(&trusting, &health).await.unwrap().0, 200);
    assert!(try_get(&format!("http://{http}/health")).await.is_none());
    // Under mTLS: refused without a client certificate, served with one.
    let mhealth = format!("https://localhost:{}/health", mhttp.port());
    // Under TLS 1.3 the server judges the client's certificate after the
    // client has finished its half of the handshake, so the refusal reaches
    // the client either as the server's alert (`certificate required`) or,
    // when the request was already written, as the connection closing.
    let e = https_get(&trusting, &mhealth).await.unwrap_err();
    let refused = ["certificate", "reset", "closed", "broken pipe", "eof"];
    assert!(
        refused.iter().any(|r| e.to_lowercase().contains(r)),
        "no sign of a refused client certificate in: {e}"
    );
    let with_cert = trusting
        .clone()
        .with_client_cert(&pki.client.cert, &pki.client.key);
    assert_eq!(https_get(&with_cert, &mhealth).await.unwrap().0, 200);

    // gRPC from Python over TLS, then over mTLS.
    if let Some(answer) = python_grpc(grpc.port(), &pki.ca, None) {
        let line = answer.unwrap();
        assert!(line.starts_with("ok "), "{line}");
        let client = Some((pki.client.cert.as_path(), pki.client.key.as_path()));
        let line = python_grpc(mgrpc.port(), &pki.ca, client).unwrap().unwrap();
        assert!(line.starts_with("ok "), "{line}");
        let refused = python_grpc(mgrpc.port(), &pki.ca, None).unwrap();
        assert!(
            refused.is_err(),
            "grpcio without a client certificate: {refused:?}"
        );
    }

    // A real Prometheus scrapes both metrics listeners.
    let ca = pki.ca.display();
    let (cert, key) = (pki.client.cert.display(), pki.client.key.display());
    let config = [
        "global:".to_owned(),
        "  scrape_interval: 1s".to_owned(),
        "  scrape_timeout: 1s".to_owned(),
        "scrape_configs:".to_owned(),
        "- job_name: tls".to_owned(),
        "  scheme: https".to_owned(),
        "  tls_config:".to_owned(),
        format!("    ca_file: {ca}"),
        format!(
            "  static_configs: [{{targets: ['localhost:{}']}}]",
            metrics.port()
        ),
        "- job_name: mtls".to_owned(),
        "  scheme: https".to_owned(),
        "  tls_config:".to_owned(),
        format!("    ca_file: {ca}"),
        format!("    cert_file: {cert}"),
        format!("    key_file: {key}"),
        format!(
            "  static_configs: [{{targets: ['localhost:{}']}}]",
            mmetrics.port()
        ),
        "- job_name: mtls_without_cert".to_owned(),
        "  scheme: https".to_owned(),
        "  tls_config:".to_owned(),
        format!("    ca_file: {ca}"),
        format!(
            "  static_configs: [{{targets: ['localhost:{}']}}]",
            mmetrics.port()
        ),
    ]
    .join("\n")
        + "\n";
    let Some(prometheus) = Prometheus::start("tls-prometheus", &config, &[]) else {
        return;
    };
    for (job, want) in [("tls", 1.0), ("mtls", 1.0), ("mtls_without_cert", 0.0)] {
        prometheus.wait_up(job, want).await;
    }
    // The scrape carried the service's families.
    let answer = prometheus
        .query("llm_incident_manager_http_connections_active{job=\"mtls\"}")
        .await;
    assert!(answer.contains("\"result\":[{"), "{answer}");
    let _ = std::fs::remove_dir_all(&pki.dir);
}
