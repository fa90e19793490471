//! The TLS stack with the real programs, on certificates made in the test:
//! a real Prometheus scrapes `MetricsServer` over https (CA file), and
//! under mTLS with a client certificate (and is refused without one); the
//! remote-write sender pushes to a Prometheus, and the Pushgateway client
//! to a Pushgateway, each serving TLS through `--web.config.file`. Each
//! client failure (unknown CA, expired certificate, name mismatch) is a
//! clear error, and counted by the remote-write sender. A certificate
//! swapped on disk is served to new connections while an open one goes on.

#![cfg(all(
    feature = "tls",
    feature = "server",
    feature = "remote-write",
    feature = "pushgateway"
))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod push_support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use incident_metrics_exporter::{
    ClientTlsConfig, MetricsServer, Pushgateway, PushgatewayConfig, RemoteWriteConfig,
    ServerTlsConfig,
};
use incident_metrics_testing::tls::{CertFiles, TestPki};
use push_support::{Program, Source, wait_for};

fn pki() -> TestPki {
    TestPki::new(&incident_metrics_testing::scratch_dir("tls-pki"))
}

/// A `MetricsServer` over TLS with `cert`, requiring client certificates
/// signed by `client_ca` when given; serves until the test ends.
fn serve_metrics(
    registry: incident_metrics_core::Registry,
    cert: &CertFiles,
    client_ca: Option<&std::path::Path>,
) -> SocketAddr {
    let mut tls = ServerTlsConfig::new(&cert.cert, &cert.key)
        .with_reload_check_interval(Duration::from_millis(50));
    if let Some(ca) = client_ca {
        tls = tls.with_client_ca_file(ca);
    }
    let server = MetricsServer::bind("127.0.0.1:0".parse().unwrap(), Arc::new(registry))
        .unwrap()
        .with_tls(&tls)
        .unwrap();
    let addr = server.local_addr();
    tokio::spawn(server.serve());
    addr
}

/// GETs `url` through the TLS stack under test; the status and body, or
/// the described error.
async fn https_get(tls: &ClientTlsConfig, url: &str) -> Result<(u16, String), String> {
    let client: Client<_, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build(tls.https_connector().unwrap());
    let response = tokio::time::timeout(Duration::from_secs(10), client.get(url.parse().unwrap()))
        .await
        .map_err(|_| format!("GET {url} timed out"))?
        .map_err(|e| incident_metrics_exporter::tls::describe_error(&e))?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Polls Prometheus's `up` for `job` (over plain HTTP) until it is `want`.
async fn wait_up(prometheus: &Program, job: &str, want: f64) {
    let query = format!("up{{job=\"{job}\"}}");
    push_support::query_until(
        &prometheus.base_url(),
        &query,
        Duration::from_secs(60),
        |answer| answer.len() == 1 && answer[0].value == want,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_over_https_and_mtls_and_is_refused_without_a_client_cert() {
    let pki = pki();
    let mut source = Source::new();
    source.jobs.inc_by(42);
    let registry = std::mem::replace(
        &mut source.registry,
        incident_metrics_core::Registry::new(&Default::default()).unwrap(),
    );
    let tls_addr = serve_metrics(registry, &pki.server, None);
    let mtls_addr = serve_metrics(Source::new().registry, &pki.server, Some(&pki.ca));
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
        format!("  static_configs: [{{targets: ['{tls_addr}']}}]"),
        "- job_name: mtls".to_owned(),
        "  scheme: https".to_owned(),
        "  tls_config:".to_owned(),
        format!("    ca_file: {ca}"),
        format!("    cert_file: {cert}"),
        format!("    key_file: {key}"),
        format!("  static_configs: [{{targets: ['{mtls_addr}']}}]"),
        "- job_name: mtls_without_cert".to_owned(),
        "  scheme: https".to_owned(),
        "  tls_config:".to_owned(),
        format!("    ca_file: {ca}"),
        format!("  static_configs: [{{targets: ['{mtls_addr}']}}]"),
    ]
    .join("\n")
        + "\n";
    let Some(prometheus) = Program::prometheus_with(&config, None) else {
        return;
    };
    wait_up(&prometheus, "tls", 1.0).await;
    wait_up(&prometheus, "mtls", 1.0).await;
    wait_up(&prometheus, "mtls_without_cert", 0.0).await;
    // The scraped values came through.
    let jobs = push_support::query(&prometheus.base_url(), "svc_jobs_total{job=\"tls\"}").await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0].value, 42.0);
    // And Prometheus says why the third is down.
    let (_, targets) = push_support::get(&format!(
        "{}/api/v1/targets?state=active",
        prometheus.base_url()
    ))
    .await;
    let targets: serde_json::Value = serde_json::from_str(&targets).unwrap();
    let refused = targets["data"]["activeTargets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["labels"]["job"] == "mtls_without_cert")
        .unwrap();
    let error = refused["lastError"].as_str().unwrap();
    assert!(
        error.contains("certificate"),
        "the refusal should name the missing certificate: {error}"
    );
    let _ = std::fs::remove_dir_all(&pki.dir);
}

fn web_config(pki: &TestPki) -> String {
    format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
        pki.server.cert.display(),
        pki.server.key.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_write_pushes_to_prometheus_over_https() {
    let pki = pki();
    let Some(prometheus) =
        Program::prometheus_with("scrape_configs: []\n", Some(&web_config(&pki)))
    else {
        return;
    };
    let base = prometheus.base_url();
    assert!(base.starts_with("https://"), "{base}");
    let mut source = Source::new();
    source.jobs.inc_by(7);
    let tls = ClientTlsConfig::new().with_ca_file(&pki.ca);
    let sender = RemoteWriteConfig::new(format!("{base}/api/v1/write"))
        .with_interval_seconds(0.2)
        .with_min_backoff_seconds(0.05)
        .with_tls(Some(tls.clone()))
        .register(&mut source.registry)
        .unwrap();
    let registry = Arc::new(std::mem::replace(
        &mut source.registry,
        incident_metrics_core::Registry::new(&Default::default()).unwrap(),
    ));
    let handle = sender.start(registry).unwrap();
    wait_for(
        "an accepted request over https",
        Duration::from_secs(60),
        || handle.stats().samples_sent > 0,
    )
    .await;
    let stats = handle.stop().await;
    assert_eq!(stats.samples_failed, 0, "{stats:?}");
    // Read back over https with the same stack.
    let url = format!("{base}/api/v1/query?query=svc_jobs_total");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = https_get(&tls, &url).await.unwrap();
        assert_eq!(status, 200, "{body}");
        if body.contains("\"7\"") {
            break;
        }
        assert!(Instant::now() < deadline, "svc_jobs_total never 7: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = std::fs::remove_dir_all(&pki.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushgateway_client_pushes_over_https() {
    let pki = pki();
    let Some(gateway) = Program::pushgateway_with(&web_config(&pki)) else {
        return;
    };
    let base = gateway.base_url();
    let source = Source::new();
    source.jobs.inc_by(9);
    let tls = ClientTlsConfig::new().with_ca_file(&pki.ca);
    let client = Pushgateway::from_config(
        &PushgatewayConfig::new(&base, "tls_job").with_tls(Some(tls.clone())),
    )
    .unwrap();
    client.push(&source.registry).await.unwrap();
    let (status, body) = https_get(&tls, &format!("{base}/metrics")).await.unwrap();
    assert_eq!(status, 200);
    assert!(
        body.lines().any(|l| l.starts_with("svc_jobs_total{")
            && l.contains("job=\"tls_job\"")
            && l.ends_with(" 9")),
        "{body}"
    );
    // Without our CA the same push is refused by the client, never sent in
    // plain text.
    let untrusting = Pushgateway::from_config(&PushgatewayConfig::new(&base, "tls_job")).unwrap();
    let e = untrusting
        .push(&source.registry)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown authority"), "{e}");
    let _ = std::fs::remove_dir_all(&pki.dir);
}

/// Pushes to a TLS server presenting `cert` and returns the error text.
async fn push_error(pki: &TestPki, cert: &CertFiles, host: &str) -> String {
    let addr = serve_metrics(Source::new().registry, cert, None);
    let tls = ClientTlsConfig::new().with_ca_file(&pki.ca);
    let url = format!("https://{host}:{}", addr.port());
    let client =
        Pushgateway::from_config(&PushgatewayConfig::new(&url, "j").with_tls(Some(tls))).unwrap();
    client
        .push(&Source::new().registry)
        .await
        .unwrap_err()
        .to_string()
}

#[tokio::test]
async fn unknown_ca_is_a_clear_error() {
    let pki = pki();
    let e = push_error(&pki, &pki.other_server, "127.0.0.1").await;
    assert!(e.contains("https://127.0.0.1:"), "names the endpoint: {e}");
    assert!(e.contains("unknown authority"), "{e}");
    assert!(e.contains("tls.ca_file"), "says what to change: {e}");
    let _ = std::fs::remove_dir_all(&pki.dir);
}

#[tokio::test]
async fn expired_certificate_is_a_clear_error() {
    let pki = pki();
    let e = push_error(&pki, &pki.expired, "localhost").await;
    assert!(e.contains("https://localhost:"), "names the endpoint: {e}");
    assert!(e.contains("expired"), "{e}");
    let _ = std::fs::remove_dir_all(&pki.dir);
}

#[tokio::test]
async fn name_mismatch_is_a_clear_error() {
    let pki = pki();
    let e = push_error(&pki, &pki.wrong_name, "localhost").await;
    assert!(e.contains("does not match the host name"), "{e}");
    let _ = std::fs::remove_dir_all(&pki.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_write_counts_tls_failures_as_failed_attempts() {
    let pki = pki();
    let addr = serve_metrics(Source::new().registry, &pki.other_server, None);
    let mut source = Source::new();
    let sender = RemoteWriteConfig::new(format!("https://127.0.0.1:{}/api/v1/write", addr.port()))
        .with_interval_seconds(0.1)
        .with_min_backoff_seconds(0.02)
        .with_max_backoff_seconds(0.1)
        .with_flush_timeout_seconds(Some(0.2))
        .with_tls(Some(ClientTlsConfig::new().with_ca_file(&pki.ca)))
        .register(&mut source.registry)
        .unwrap();
    let handle = sender.start(Arc::new(source.registry)).unwrap();
    wait_for(
        "retries after TLS failures",
        Duration::from_secs(20),
        || handle.stats().retries >= 2,
    )
    .await;
    // Stopping gives up after the flush timeout and counts what is left.
    let stopping = Instant::now();
    let stats = handle.stop().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "{:?}",
        stopping.elapsed()
    );
    assert_eq!(stats.samples_sent, 0, "nothing may go through: {stats:?}");
    assert!(stats.samples_dropped > 0, "{stats:?}");
    assert_eq!(stats.queue_length, 0, "{stats:?}");
    let _ = std::fs::remove_dir_all(&pki.dir);
}

#[tokio::test]
async fn mtls_without_a_client_certificate_is_refused_with_a_clear_error() {
    let pki = pki();
    let addr = serve_metrics(Source::new().registry, &pki.server, Some(&pki.ca));
    let url = format!("https://localhost:{}/metrics", addr.port());
    let without = ClientTlsConfig::new().with_ca_file(&pki.ca);
    let e = https_get(&without, &url).await.unwrap_err();
    assert!(e.contains("client certificate"), "{e}");
    let with = without
        .clone()
        .with_client_cert(&pki.client.cert, &pki.client.key);
    let (status, _) = https_get(&with, &url).await.unwrap();
    assert_eq!(status, 200);
    // A client certificate from another CA is refused too.
    let other = without.with_client_cert(&pki.other_client.cert, &pki.other_client.key);
    assert!(https_get(&other, &url).await.is_err());
    let _ = std::fs::remove_dir_all(&pki.dir);
}

/// One HTTP/1.1 connection over TLS, kept open across requests.
async fn open_connection(
    addr: SocketAddr,
    ca: &std::path::Path,
) -> hyper::client::conn::http1::SendRequest<Empty<Bytes>> {
    let config = ClientTlsConfig::new()
        .with_ca_file(ca)
        .rustls_config()
        .unwrap();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(connection);
    sender
}

async fn scrape_on(sender: &mut hyper::client::conn::http1::SendRequest<Empty<Bytes>>) -> u16 {
    sender.ready().await.unwrap();
    let request = http::Request::get("/metrics")
        .header("host", "localhost")
        .body(Empty::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let _ = response.into_body().collect().await.unwrap();
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_certificate_is_served_to_new_connections_and_open_ones_stay() {
    let pki = pki();
    let addr = serve_metrics(Source::new().registry, &pki.server, None);
    let mut open = open_connection(addr, &pki.ca).await;
    assert_eq!(scrape_on(&mut open).await, 200);
    let url = format!("https://localhost:{}/metrics", addr.port());
    let trusts_other = ClientTlsConfig::new().with_ca_file(&pki.other_ca);
    assert!(https_get(&trusts_other, &url).await.is_err());
    pki.swap_server_for_other();
    // New handshakes pick the new certificate up within the check interval.
    let deadline = Instant::now() + Duration::from_secs(10);
    while https_get(&trusts_other, &url).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "the new certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The connection opened before goes on with the old one.
    assert_eq!(scrape_on(&mut open).await, 200);
    assert_eq!(scrape_on(&mut open).await, 200);
    let _ = std::fs::remove_dir_all(&pki.dir);
}
