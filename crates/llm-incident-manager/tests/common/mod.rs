//! Shared helpers of the end-to-end tests: start the service in process on
//! 127.0.0.1:0, talk to it over real HTTP, read its metrics, poll with a
//! bounded deadline.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use incident_metrics::{Metrics, MetricsConfig};
use llm_incident_manager::{App, Config, RunningApp};
use serde_json::Value;

/// A configuration on ephemeral ports with the given TOML merged over the
/// defaults; unless the TOML names a store, a new file store in a scratch
/// folder of its own (the default `data/incidents.db` would be shared).
pub fn config(toml: &str) -> Config {
    let mut config = Config::from_toml_str(toml).expect("test config");
    config.http_addr = "127.0.0.1:0".parse().unwrap();
    config.grpc_addr = "127.0.0.1:0".parse().unwrap();
    if config.storage.path == std::path::Path::new(llm_incident_manager::config::DEFAULT_DB) {
        config.storage.path =
            incident_metrics_testing::scratch_dir("lim-store").join("incidents.db");
    }
    config
}

/// Starts the service with `config`.
pub async fn start(config: Config) -> RunningApp {
    let metrics = Metrics::from_config(&config.metrics).expect("metrics");
    App::new(config, metrics).start().await.expect("start")
}

/// Starts the service on its defaults (ephemeral ports).
pub async fn start_default() -> RunningApp {
    start(config("")).await
}

/// A new metrics registry on the default configuration.
pub fn metrics() -> Metrics {
    Metrics::new(MetricsConfig::new()).unwrap()
}

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// One request; the answer's status, headers and body.
pub async fn request(
    method: Method,
    url: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Bytes) {
    let mut builder = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    if body.is_some() {
        builder = builder.header("content-type", "application/json");
    }
    let req = builder
        .body(Full::new(Bytes::from(body.unwrap_or("").to_owned())))
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(30), client().request(req))
        .await
        .expect("request timed out")
        .expect("request failed");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, body)
}

/// One GET that may fail (a server still starting); the status and body.
pub async fn try_get(url: &str) -> Option<(StatusCode, Bytes)> {
    let req = Request::builder()
        .uri(url)
        .body(Full::new(Bytes::new()))
        .ok()?;
    let response = tokio::time::timeout(Duration::from_secs(10), client().request(req))
        .await
        .ok()?
        .ok()?;
    let status = response.status();
    let body = response.into_body().collect().await.ok()?.to_bytes();
    Some((status, body))
}

pub async fn post_json(url: &str, body: &str) -> (StatusCode, Value) {
    let (status, _, body) = request(Method::POST, url, Some(body), &[]).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

pub async fn get_json(url: &str) -> (StatusCode, Value) {
    let (status, _, body) = request(Method::GET, url, None, &[]).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

pub fn base(app: &RunningApp) -> String {
    format!("http://{}", app.http_addr())
}

/// Polls incident `id` until the LLM's analysis has been stored (the
/// outbox's analysis worker fills `classification` after the create
/// answered), for at most 10 s; the incident then.
pub async fn analysed(app: &RunningApp, id: &str) -> Value {
    let url = format!("{}/api/v1/incidents/{id}", base(app));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, incident) = get_json(&url).await;
        assert_eq!(status, StatusCode::OK, "{incident}");
        if !incident["classification"].is_null() || tokio::time::Instant::now() >= deadline {
            return incident;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Creates an incident over REST; the JSON answer.
pub async fn create(app: &RunningApp, title: &str, severity: &str, source: &str) -> Value {
    let body = serde_json::json!({"title": title, "severity": severity, "source": source});
    let (status, value) = post_json(
        &format!("{}/api/v1/incidents", base(app)),
        &body.to_string(),
    )
    .await;
    assert!(status.is_success(), "create answered {status}: {value}");
    value
}

/// The default `/metrics` answer.
pub async fn scrape(addr: SocketAddr) -> String {
    let (status, _, body) =
        request(Method::GET, &format!("http://{addr}/metrics"), None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    String::from_utf8(body.to_vec()).unwrap()
}

/// The value of the series `series` (a name and its labels as rendered,
/// `name{a="b"}`), if present, read with the workspace's exposition parser.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    use incident_metrics_testing::exposition::{self, Line};
    let Ok(Line::Sample(want)) = exposition::parse_line(&format!("{series} 0")) else {
        panic!("not a series: {series:?}");
    };
    let parsed = exposition::parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let labels: Vec<(&str, &str)> = want
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    parsed.value(&want.name, &labels)
}

/// `sample`, or 0 when the series is absent.
pub fn value(text: &str, series: &str) -> f64 {
    sample(text, series).unwrap_or(0.0)
}

/// Polls `check` every 20 ms until it is true, for at most `limit`.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls the metrics until `series` reads `want`, for at most 10 s; returns
/// the last scrape.
pub async fn wait_for_sample(addr: SocketAddr, series: &str, want: f64) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let last = scrape(addr).await;
        if value(&last, series) == want {
            return last;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("{series} never reached {want}; last scrape:\n{last}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A tiny axum server on 127.0.0.1:0 for stubs; returns its address and a
/// guard that stops it on drop.
pub async fn serve_stub(router: axum::Router) -> (SocketAddr, StubGuard) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
    });
    (addr, StubGuard(Some(tx), handle))
}

pub struct StubGuard(
    Option<tokio::sync::oneshot::Sender<()>>,
    tokio::task::JoinHandle<()>,
);

impl Drop for StubGuard {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
        self.1.abort();
    }
}

/// The built binary, killed on drop if a test fails half-way.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the built binary with `args` and `envs` and reads the first
/// `lines` lines of its stdout (the `... listening on ADDR` lines): 60 s
/// for the first (a cold start), 10 s for each after it.
pub fn spawn_binary(
    args: &[&str],
    envs: &[(&str, &str)],
    lines: usize,
) -> (ChildGuard, Vec<String>) {
    // In a scratch folder: the default store, `data/incidents.db`, lands
    // there rather than in the source tree.
    let mut child = Command::new(env!("CARGO_BIN_EXE_llm-incident-manager"))
        .current_dir(incident_metrics_testing::scratch_dir("lim-bin"))
        .args(args)
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let guard = ChildGuard(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().take(lines) {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let read = (0..lines)
        .map(|i| {
            let limit = if i == 0 { 60 } else { 10 };
            rx.recv_timeout(Duration::from_secs(limit))
                .unwrap_or_else(|e| panic!("no stdout line {} within {limit} s: {e}", i + 1))
        })
        .collect();
    (guard, read)
}

/// The address a `{what} listening on ADDR` line announces.
pub fn listening(line: &str, what: &str) -> SocketAddr {
    line.strip_prefix(&format!("{what} listening on "))
        .unwrap_or_else(|| panic!("not a {what} line: {line:?}"))
        .parse()
        .unwrap()
}

/// Every request a local receiver saw: its path, its `Idempotency-Key`
/// header, and its JSON body.
#[derive(Clone, Default)]
pub struct Seen(pub std::sync::Arc<std::sync::Mutex<Vec<(String, String, Value)>>>);

impl Seen {
    /// What was seen so far.
    pub fn all(&self) -> Vec<(String, String, Value)> {
        self.0.lock().unwrap().clone()
    }
}

/// A receiver (for webhooks, playbook calls) that answers `200` to a POST
/// on any of `paths` and notes it in `seen`.
pub fn recorder(seen: &Seen, paths: &[&'static str]) -> axum::Router {
    let mut router = axum::Router::new();
    for &path in paths {
        let seen = seen.clone();
        router = router.route(
            path,
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let seen = seen.clone();
                async move {
                    let key = headers
                        .get("idempotency-key")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    let body = serde_json::from_str(&body).unwrap_or(Value::Null);
                    seen.0.lock().unwrap().push((path.to_owned(), key, body));
                    StatusCode::OK
                }
            }),
        );
    }
    router
}

/// A gRPC client of the incident service at `addr`.
pub async fn grpc_client(
    addr: SocketAddr,
) -> llm_incident_manager::grpc::pb::incident_service_client::IncidentServiceClient<
    tonic::transport::Channel,
> {
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .unwrap();
    llm_incident_manager::grpc::pb::incident_service_client::IncidentServiceClient::new(channel)
}

/// A real Prometheus on a free port of 127.0.0.1, its log in `log.txt` of
/// its scratch folder; killed and the folder removed on drop.
pub struct Prometheus {
    child: Child,
    /// The port of its web API.
    pub port: u16,
    dir: std::path::PathBuf,
}

impl Prometheus {
    /// Starts Prometheus with the configuration `config` and the extra
    /// command-line `flags`, in a scratch folder named after `name`; `None`
    /// when it is not installed (outside CI: under CI the lookup fails the
    /// test).
    pub fn start(name: &str, config: &str, flags: &[&str]) -> Option<Self> {
        let binary =
            incident_metrics_testing::program("prometheus", "apt-get install -y prometheus")?;
        let dir = incident_metrics_testing::scratch_dir(name);
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        let port = incident_metrics_testing::free_port();
        let log = std::fs::File::create(dir.join("log.txt")).unwrap();
        let child = Command::new(binary)
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(flags)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Some(Self { child, port, dir })
    }

    /// As [`start`](Self::start), scraping the service's `/metrics` at
    /// `target` every second as job `llm-incident-manager`.
    pub fn scraping(name: &str, target: SocketAddr, flags: &[&str]) -> Option<Self> {
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: llm-incident-manager\n    metrics_path: /metrics\n\
             \x20   static_configs:\n      - targets: ['{target}']\n"
        );
        Self::start(name, &config, flags)
    }

    /// Its web API's address, `127.0.0.1:port`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The body of an instant query's answer; empty while it cannot answer.
    pub async fn query(&self, promql: &str) -> String {
        let url = format!(
            "http://{}/api/v1/query?query={}",
            self.addr(),
            incident_metrics_testing::percent_encode(promql)
        );
        match try_get(&url).await {
            Some((StatusCode::OK, body)) => String::from_utf8_lossy(&body).into_owned(),
            _ => String::new(),
        }
    }

    /// The result vector of an instant query; empty while it has none.
    pub async fn results(&self, promql: &str) -> Vec<Value> {
        let value: Value = serde_json::from_str(&self.query(promql).await).unwrap_or(Value::Null);
        value["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Waits (60 s at most, then fails with its log) until `up` of `job`
    /// is `want`.
    pub async fn wait_up(&self, job: &str, want: f64) {
        let want = format!("\"{want}\"]");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let answer = self.query(&format!("up{{job=\"{job}\"}}")).await;
            if answer.contains(&want) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "up{{job={job}}} never {want}: {answer}\n{}",
                std::fs::read_to_string(self.dir.join("log.txt")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
