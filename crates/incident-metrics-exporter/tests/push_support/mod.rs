//! Helpers for the push tests: the real receivers (Prometheus,
//! VictoriaMetrics, Pushgateway) started on a free port of 127.0.0.1 in a
//! temporary directory, waited for with a bounded deadline, killed on drop;
//! and small HTTP and query helpers on hyper.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "each test binary uses a different part of this module; tests may panic"
)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// How long a program may take to become ready.
pub const READY_DEADLINE: Duration = Duration::from_secs(60);

pub use incident_metrics_testing::free_port;

/// A fresh temporary directory, removed by [`Program`]'s drop.
fn temp_dir(name: &str) -> PathBuf {
    incident_metrics_testing::scratch_dir(&format!("push-{name}"))
}

/// A receiver program running on `127.0.0.1:port`, killed (and its
/// directory removed) on drop. It can be stopped and started again on the
/// same port and data.
pub struct Program {
    name: &'static str,
    binary: PathBuf,
    args: Vec<String>,
    ready_path: &'static str,
    pub port: u16,
    pub dir: PathBuf,
    child: Option<Child>,
    /// Served over TLS (`--web.config.file`): readiness is then an
    /// accepted TCP connection, and URLs are `https://`.
    tls: bool,
}

impl Program {
    /// Prometheus with the remote-write receiver, or `None` when it is
    /// missing outside CI.
    pub fn prometheus() -> Option<Self> {
        let binary =
            incident_metrics_testing::program("prometheus", "apt-get install -y prometheus")?;
        Self::prometheus_at(binary, free_port())
    }

    /// Prometheus with `config` (YAML) as its configuration file and, with
    /// `web_config`, that `--web.config.file` (TLS on its own port).
    pub fn prometheus_with(config: &str, web_config: Option<&str>) -> Option<Self> {
        let binary =
            incident_metrics_testing::program("prometheus", "apt-get install -y prometheus")?;
        let port = free_port();
        let dir = temp_dir("prometheus");
        let config_file = dir.join("prometheus.yml");
        std::fs::write(&config_file, config).unwrap();
        let mut args = vec![
            format!("--config.file={}", config_file.display()),
            format!("--storage.tsdb.path={}", dir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--web.enable-remote-write-receiver".to_owned(),
        ];
        if let Some(web) = web_config {
            let web_file = dir.join("web.yml");
            std::fs::write(&web_file, web).unwrap();
            args.push(format!("--web.config.file={}", web_file.display()));
        }
        Some(Self::start_with(
            "prometheus",
            binary,
            args,
            "/-/ready",
            port,
            dir,
            web_config.is_some(),
        ))
    }

    /// Prometheus with `config` (YAML) as its configuration file and the
    /// extra command-line `flags` (for example
    /// `--enable-feature=native-histograms`), without the remote-write
    /// receiver.
    pub fn prometheus_with_flags(config: &str, flags: &[&str]) -> Option<Self> {
        let binary =
            incident_metrics_testing::program("prometheus", "apt-get install -y prometheus")?;
        let port = free_port();
        let dir = temp_dir("prometheus");
        let config_file = dir.join("prometheus.yml");
        std::fs::write(&config_file, config).unwrap();
        let mut args = vec![
            format!("--config.file={}", config_file.display()),
            format!("--storage.tsdb.path={}", dir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ];
        args.extend(flags.iter().map(|flag| (*flag).to_owned()));
        Some(Self::start_new(
            "prometheus",
            binary,
            args,
            "/-/ready",
            port,
            dir,
        ))
    }

    /// A Pushgateway serving TLS as `web_config` (YAML) says.
    pub fn pushgateway_with(web_config: &str) -> Option<Self> {
        let binary = incident_metrics_testing::program(
            "prometheus-pushgateway",
            "apt-get install -y prometheus-pushgateway",
        )?;
        let port = free_port();
        let dir = temp_dir("pushgateway");
        let web_file = dir.join("web.yml");
        std::fs::write(&web_file, web_config).unwrap();
        let args = vec![
            format!("--web.listen-address=127.0.0.1:{port}"),
            format!("--web.config.file={}", web_file.display()),
        ];
        Some(Self::start_with(
            "pushgateway",
            binary,
            args,
            "/-/ready",
            port,
            dir,
            true,
        ))
    }

    /// Prometheus on a given port.
    pub fn prometheus_at(binary: PathBuf, port: u16) -> Option<Self> {
        let dir = temp_dir("prometheus");
        let config = dir.join("prometheus.yml");
        std::fs::write(&config, "scrape_configs: []\n").unwrap();
        let args = vec![
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", dir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--web.enable-remote-write-receiver".to_owned(),
        ];
        Some(Self::start_new(
            "prometheus",
            binary,
            args,
            "/-/ready",
            port,
            dir,
        ))
    }

    /// VictoriaMetrics (single node), or `None` when it is missing outside CI.
    pub fn victoria_metrics() -> Option<Self> {
        let binary = incident_metrics_testing::program(
            "victoria-metrics",
            "apt-get install -y victoria-metrics",
        )?;
        let port = free_port();
        let dir = temp_dir("victoria-metrics");
        let args = vec![
            format!("-httpListenAddr=127.0.0.1:{port}"),
            format!("-storageDataPath={}", dir.join("data").display()),
            // Make written samples queryable at once rather than 30 s later.
            "-search.latencyOffset=0s".to_owned(),
            "-search.disableCache".to_owned(),
        ];
        Some(Self::start_new(
            "victoria-metrics",
            binary,
            args,
            "/health",
            port,
            dir,
        ))
    }

    /// A Pushgateway, or `None` when it is missing outside CI.
    pub fn pushgateway() -> Option<Self> {
        let binary = incident_metrics_testing::program(
            "prometheus-pushgateway",
            "apt-get install -y prometheus-pushgateway",
        )?;
        let port = free_port();
        let dir = temp_dir("pushgateway");
        let args = vec![
            format!("--web.listen-address=127.0.0.1:{port}"),
            format!(
                "--persistence.file={}",
                dir.join("pushgateway.data").display()
            ),
        ];
        Some(Self::start_new(
            "pushgateway",
            binary,
            args,
            "/-/ready",
            port,
            dir,
        ))
    }

    fn start_new(
        name: &'static str,
        binary: PathBuf,
        args: Vec<String>,
        ready_path: &'static str,
        port: u16,
        dir: PathBuf,
    ) -> Self {
        Self::start_with(name, binary, args, ready_path, port, dir, false)
    }

    fn start_with(
        name: &'static str,
        binary: PathBuf,
        args: Vec<String>,
        ready_path: &'static str,
        port: u16,
        dir: PathBuf,
        tls: bool,
    ) -> Self {
        let mut program = Self {
            name,
            binary,
            args,
            ready_path,
            port,
            dir,
            child: None,
            tls,
        };
        program.start();
        program
    }

    /// `http://127.0.0.1:PORT`, or `https://` when it serves TLS.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The program's log so far.
    pub fn log_text(&self) -> String {
        self.log()
    }

    /// Starts the program and waits until it answers its readiness path.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("log.txt"))
            .unwrap();
        let child = Command::new(&self.binary)
            .args(&self.args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.binary.display()));
        self.child = Some(child);
        self.wait_ready();
    }

    /// Stops the program with SIGTERM (so that it shuts down cleanly),
    /// then SIGKILL if it has not ended within 30 s.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log.txt")).unwrap_or_default()
    }

    fn wait_ready(&mut self) {
        let url = format!("{}{}", self.base_url(), self.ready_path);
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("{} exited early ({status}):\n{}", self.name, self.log());
            }
            let ready = if self.tls {
                // Its HTTPS is checked by the test itself; listening is enough.
                std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            } else {
                blocking_get_status(&url) == Some(200)
            };
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} not ready at {url} within {READY_DEADLINE:?}:\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The status of a GET, from a plain `TcpStream` so that it works outside
/// any runtime; `None` when nothing answers.
fn blocking_get_status(url: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = rest.split_at(rest.find('/')?);
    let addr = authority.parse().ok()?;
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// GETs `url` and returns the status and body.
pub async fn get(url: &str) -> (u16, String) {
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let response = tokio::time::timeout(Duration::from_secs(10), client.get(url.parse().unwrap()))
        .await
        .unwrap_or_else(|_| panic!("GET {url} timed out"))
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// One series of an instant query's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct QueriedSeries {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Runs the instant query `promql` against the Prometheus-compatible API at
/// `base` (`/api/v1/query`).
pub async fn query(base: &str, promql: &str) -> Vec<QueriedSeries> {
    let url = format!(
        "{base}/api/v1/query?query={}",
        incident_metrics_testing::percent_encode(promql)
    );
    let (status, body) = get(&url).await;
    assert_eq!(status, 200, "{url}: {body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["status"], "success", "{body}");
    json["data"]["result"]
        .as_array()
        .unwrap_or_else(|| panic!("no result in {body}"))
        .iter()
        .map(|series| QueriedSeries {
            labels: serde_json::from_value(series["metric"].clone()).unwrap(),
            value: series["value"][1].as_str().unwrap().parse().unwrap(),
        })
        .collect()
}

/// The value of the only series `promql` selects, polling until `done`
/// accepts the answer or `deadline` passes (receivers may make samples
/// queryable after a short delay).
pub async fn query_until(
    base: &str,
    promql: &str,
    deadline: Duration,
    done: impl Fn(&[QueriedSeries]) -> bool,
) -> Vec<QueriedSeries> {
    let end = Instant::now() + deadline;
    loop {
        let answer = query(base, promql).await;
        if done(&answer) {
            return answer;
        }
        assert!(
            Instant::now() < end,
            "{promql} still gives {answer:?} after {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Polls `condition` every 20 ms until it holds, failing after `deadline`.
pub async fn wait_for(what: &str, deadline: Duration, mut condition: impl FnMut() -> bool) {
    let end = Instant::now() + deadline;
    while !condition() {
        assert!(
            Instant::now() < end,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A label value with every character the text formats escape.
pub const ODD_PATH: &str = "/a \"quoted\" \\ path\nü";

/// The families the remote-write tests push: a counter, a labelled counter
/// with an odd label value, a gauge and a histogram.
pub struct Source {
    pub registry: incident_metrics_core::Registry,
    pub jobs: incident_metrics_core::prometheus_client::metrics::counter::Counter,
    pub requests: incident_metrics_core::prometheus_client::metrics::family::Family<
        Vec<(String, String)>,
        incident_metrics_core::prometheus_client::metrics::counter::Counter,
    >,
    pub temperature: incident_metrics_core::prometheus_client::metrics::gauge::Gauge,
    pub latency: incident_metrics_core::Histogram,
}

impl Source {
    pub fn new() -> Self {
        use incident_metrics_core::{
            FamilySpec, Histogram, MetricKind, MetricsConfig, Registry, Unit,
        };
        let config = MetricsConfig::new()
            .with_namespace("svc")
            .with_global_label("env", "ci");
        let mut registry = Registry::new(&config).unwrap();
        let spec = |name, kind, unit, labels| FamilySpec {
            name,
            help: "A test family",
            kind,
            unit,
            labels,
        };
        let jobs = Default::default();
        registry
            .register(
                &spec("jobs", MetricKind::Counter, None, &[]),
                Clone::clone(&jobs),
            )
            .unwrap();
        let requests = Default::default();
        registry
            .register(
                &spec("requests", MetricKind::Counter, None, &["method", "path"]),
                Clone::clone(&requests),
            )
            .unwrap();
        let temperature = Default::default();
        registry
            .register(
                &spec("temperature", MetricKind::Gauge, None, &[]),
                Clone::clone(&temperature),
            )
            .unwrap();
        let latency = registry
            .register_histogram(
                &spec("latency", MetricKind::Histogram, Some(Unit::Seconds), &[]),
                &[0.1, 1.0],
                |bounds| Histogram::new("latency_seconds", bounds),
            )
            .unwrap();
        Self {
            registry,
            jobs,
            requests,
            temperature,
            latency,
        }
    }

    /// The `requests` series for `method` and [`ODD_PATH`].
    pub fn request(
        &self,
        method: &str,
    ) -> incident_metrics_core::prometheus_client::metrics::counter::Counter {
        self.requests
            .get_or_create(&vec![
                ("method".to_owned(), method.to_owned()),
                ("path".to_owned(), ODD_PATH.to_owned()),
            ])
            .clone()
    }
}
