//! The end-to-end harness of the operator-kit tests: the LLM Incident
//! Manager started in process on 127.0.0.1:0 with a provider chain of a
//! local OpenAI-compatible stub (streamed answers with finish reasons,
//! cached tokens and rate-limit headers, every fourth call failing over to
//! the offline provider) and a webhook receiver that always fails, so that
//! every dashboard panel has something to show;
//! traffic with exact expected counts; a scraper program (Prometheus,
//! VictoriaMetrics) run as a child process and asked through its query API.
//!
//! No fixed sleeps: every wait polls with a bounded deadline. Children are
//! killed and scratch directories removed on drop.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use incident_metrics::catalog::system::BuildInfo;
use llm_incident_manager::grpc::pb;
use llm_incident_manager::{App, Config, RunningApp};
use pb::incident_service_client::IncidentServiceClient;
use serde_json::Value;
use xtask::kit::{self, workspace_root};

/// The job name of the kit's Prometheus configuration.
pub const JOB: &str = "llm-incident-manager";

pub use incident_metrics_testing::{free_port, percent_encode as encode};

/// One HTTP/1.0 request (so that no server answers chunked); the status and
/// body, or `None` when the server cannot be reached.
pub fn http(
    method: &str,
    addr: SocketAddr,
    target: &str,
    body: Option<&str>,
) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    stream
        .set_write_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {target} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).ok()?;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

/// Polls `check` until it returns `Some`, for at most `limit`; panics with
/// `what` and the last `describe()` otherwise.
pub fn eventually<T>(
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> Option<T>,
    describe: impl Fn() -> String,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "{what} within {limit:?}; last state:\n{}",
            describe()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The service, the stubs it calls, and the runtime they run on.
pub struct Service {
    app: Option<RunningApp>,
    llm_calls: Arc<AtomicUsize>,
    runtime: tokio::runtime::Runtime,
}

/// Model name the stub answers as; priced in the configuration.
pub const MODEL: &str = "stub-model";

/// The stub's rate limits and what it reports left of them, as
/// `(header, value)`: 90% of the requests and 95% of the tokens left, so
/// the headroom panel has data and its alert stays quiet.
pub const RATE_LIMIT_HEADERS: [(&str, &str); 4] = [
    ("x-ratelimit-limit-requests", "1000"),
    ("x-ratelimit-remaining-requests", "900"),
    ("x-ratelimit-limit-tokens", "100000"),
    ("x-ratelimit-remaining-tokens", "95000"),
];

impl Service {
    /// Starts the stubs and the service on ephemeral ports.
    pub fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let llm_calls = Arc::new(AtomicUsize::new(0));
        let stub = runtime.block_on(serve_stub(llm_calls.clone()));
        // The chain: the stub (with a budget), then the offline provider,
        // which answers the calls the stub fails (the fallbacks panel).
        let toml = format!(
            "[llm]\n\
             [[llm.providers]]\nprovider = \"openai\"\nbase_url = \"http://{stub}/v1\"\n\
             model = \"{MODEL}\"\napi_key = \"test-key\"\nstream = true\ntimeout_ms = 5000\n\
             budget_usd = 1000.0\n\
             [[llm.providers]]\nprovider = \"offline\"\n\
             [llm.prices.{MODEL}]\ninput_per_million = 1000.0\noutput_per_million = 2000.0\n\
             [notifications]\nchannels = [\"log\", \"webhook\"]\n\
             [notifications.webhook]\nurl = \"http://{stub}/hook\"\nmax_attempts = 2\n\
             initial_backoff_ms = 10\ntimeout_ms = 2000\n"
        );
        let mut config = Config::from_toml_str(&toml).expect("the test configuration");
        config.http_addr = "127.0.0.1:0".parse().unwrap();
        config.grpc_addr = "127.0.0.1:0".parse().unwrap();
        // A store of its own (the default, `data/incidents.db`, would be
        // shared with every other run).
        config.storage.path = scratch("service-store").join("incidents.db");
        let app = runtime.block_on(async {
            // Inside the runtime, as `main` does: the collector reports it.
            let metrics =
                llm_incident_manager::telemetry::metrics(&config.metrics, &BuildInfo::from_build())
                    .expect("metrics");
            App::new(config, metrics)
                .start()
                .await
                .expect("the service starts")
        });
        Self {
            app: Some(app),
            llm_calls,
            runtime,
        }
    }

    fn app(&self) -> &RunningApp {
        self.app.as_ref().unwrap()
    }

    /// The REST (and `/metrics`) address.
    pub fn http_addr(&self) -> SocketAddr {
        self.app().http_addr()
    }

    /// The LLM calls the stub answered so far.
    pub fn llm_calls(&self) -> usize {
        self.llm_calls.load(Ordering::Relaxed)
    }

    /// The service's own `/metrics` answer.
    pub fn scrape(&self) -> String {
        let (status, body) = http("GET", self.http_addr(), "/metrics", None).expect("scrape");
        assert_eq!(status, 200);
        body
    }

    /// One round of traffic: over REST, create a `high` incident, get it,
    /// list the open ones, acknowledge and resolve it, and get an unknown
    /// id (404); post one `info` alert to the Alertmanager webhook, firing
    /// and then resolved; over
    /// gRPC, create a `critical` incident and get an unknown id
    /// (`NOT_FOUND`). Titles and sources are unique, so nothing is
    /// deduplicated or correlated.
    pub fn round(&self, n: usize) {
        let addr = self.http_addr();
        let body = serde_json::json!({
            "title": format!("operator kit {n}"),
            "severity": "high",
            "source": format!("kit-rest-{n}"),
        })
        .to_string();
        let (status, created) = http("POST", addr, "/api/v1/incidents", Some(&body)).unwrap();
        assert_eq!(status, 201, "{created}");
        let created: Value = serde_json::from_str(&created).unwrap();
        let id = created["id"].as_str().unwrap().to_owned();
        let (status, _) = http("GET", addr, &format!("/api/v1/incidents/{id}"), None).unwrap();
        assert_eq!(status, 200);
        let (status, _) = http("GET", addr, "/api/v1/incidents?status=open", None).unwrap();
        assert_eq!(status, 200);
        let (status, _) = http(
            "POST",
            addr,
            &format!("/api/v1/incidents/{id}/acknowledge"),
            Some(""),
        )
        .unwrap();
        assert_eq!(status, 200);
        let (status, _) = http(
            "POST",
            addr,
            &format!("/api/v1/incidents/{id}/resolve"),
            Some(""),
        )
        .unwrap();
        assert_eq!(status, 200);
        for status in ["firing", "resolved"] {
            let body = alertmanager_webhook(n, status);
            let (code, answer) =
                http("POST", addr, "/api/v1/alerts/alertmanager", Some(&body)).unwrap();
            assert_eq!(code, 200, "{status} alert: {answer}");
        }
        let (status, _) = http("GET", addr, "/api/v1/incidents/no-such-incident", None).unwrap();
        assert_eq!(status, 404);

        let grpc = self.app().grpc_addr();
        self.runtime.block_on(async move {
            let channel = tonic::transport::Channel::from_shared(format!("http://{grpc}"))
                .unwrap()
                .connect_timeout(Duration::from_secs(5))
                .connect()
                .await
                .unwrap();
            let mut client = IncidentServiceClient::new(channel);
            client
                .create_incident(pb::CreateIncidentRequest {
                    title: format!("operator kit grpc {n}"),
                    description: "replica lag".to_owned(),
                    severity: pb::Severity::Critical.into(),
                    source: format!("kit-grpc-{n}"),
                    fingerprint: String::new(),
                })
                .await
                .unwrap();
            let missing = client
                .get_incident(pb::GetIncidentRequest {
                    id: "no-such-incident".to_owned(),
                })
                .await
                .unwrap_err();
            assert_eq!(missing.code(), tonic::Code::NotFound);
        });
    }

    /// `(PromQL, value)` pairs every scraper must read after `rounds` rounds.
    pub fn expected_counts(rounds: usize) -> Vec<(String, f64)> {
        let n = rounds as f64;
        let http = |method: &str, path: &str, status: u16| {
            format!(
                "sum(llm_incident_manager_http_requests_total{{job=\"{JOB}\",method=\"{method}\",path=\"{path}\",status=\"{status}\"}})"
            )
        };
        let grpc = |method: &str, status: &str| {
            format!(
                "sum(llm_incident_manager_grpc_requests_total{{job=\"{JOB}\",service=\"incident.v1.IncidentService\",method=\"{method}\",status=\"{status}\"}})"
            )
        };
        let incidents = |severity: &str| {
            format!(
                "sum(llm_incident_manager_incidents_total{{job=\"{JOB}\",severity=\"{severity}\",status=\"open\"}})"
            )
        };
        let active = |severity: &str| {
            format!(
                "sum(llm_incident_manager_incidents_active{{job=\"{JOB}\",severity=\"{severity}\"}})"
            )
        };
        vec![
            (http("POST", "/api/v1/incidents", 201), n),
            (http("GET", "/api/v1/incidents", 200), n),
            (http("GET", "/api/v1/incidents/{id}", 200), n),
            (http("GET", "/api/v1/incidents/{id}", 404), n),
            (http("POST", "/api/v1/incidents/{id}/acknowledge", 200), n),
            (http("POST", "/api/v1/incidents/{id}/resolve", 200), n),
            (grpc("CreateIncident", "OK"), n),
            (grpc("GetIncident", "NOT_FOUND"), n),
            (incidents("high"), n),
            (incidents("critical"), n),
            (active("high"), 0.0),
            (active("critical"), n),
            // Scrapes of /metrics are not traffic.
            (
                format!(
                    "sum(llm_incident_manager_http_requests_total{{job=\"{JOB}\",path=\"/metrics\"}}) or vector(0)"
                ),
                0.0,
            ),
        ]
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(app) = self.app.take() {
            let _ = self.runtime.block_on(async {
                tokio::time::timeout(Duration::from_secs(10), app.shutdown()).await
            });
        }
    }
}

/// An Alertmanager webhook (payload version 4) of one `info` alert of round
/// `n`, `firing` or `resolved`, as Alertmanager posts it with the kit's
/// receiver.
fn alertmanager_webhook(n: usize, status: &str) -> String {
    let labels = serde_json::json!({
        "alertname": "OperatorKitProbe",
        "job": JOB,
        "instance": format!("kit-{n}"),
        "severity": "info",
    });
    let ends_at = if status == "resolved" {
        "2024-01-01T00:05:00Z"
    } else {
        "0001-01-01T00:00:00Z"
    };
    serde_json::json!({
        "version": "4",
        "groupKey": "{}:{alertname=\"OperatorKitProbe\", job=\"llm-incident-manager\"}",
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "llm-incident-manager",
        "groupLabels": {"alertname": "OperatorKitProbe", "job": JOB},
        "commonLabels": labels,
        "commonAnnotations": {"summary": format!("operator kit probe {n}")},
        "externalURL": "http://127.0.0.1:9093",
        "alerts": [{
            "status": status,
            "labels": labels,
            "annotations": {"summary": format!("operator kit probe {n}")},
            "startsAt": "2024-01-01T00:00:00Z",
            "endsAt": ends_at,
            "generatorURL": "http://127.0.0.1:9090/graph",
            "fingerprint": format!("{:016x}", n),
        }],
    })
    .to_string()
}

/// The OpenAI-compatible stub (`/v1/chat/completions`, streamed: three
/// content chunks, `finish_reason` `stop`, usage with cached prompt tokens,
/// the [`RATE_LIMIT_HEADERS`]; every fourth call answering 500) and the
/// webhook receiver (`/hook`, always 500), on 127.0.0.1:0.
async fn serve_stub(calls: Arc<AtomicUsize>) -> SocketAddr {
    let completions = post(move |_body: String| {
        let calls = calls.clone();
        async move {
            let n = calls.fetch_add(1, Ordering::Relaxed);
            if n % 4 == 3 {
                return (
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    axum::http::HeaderMap::new(),
                    [("content-type", "application/json")],
                    r#"{"error": {"message": "stub failure"}}"#.to_owned(),
                );
            }
            let chunk = |delta: Value| {
                format!(
                    "data: {}\n\n",
                    serde_json::json!({"choices": [{"index": 0, "delta": delta}]})
                )
            };
            let mut events = chunk(serde_json::json!({"role": "assistant"}));
            for word in ["database ", "replica ", "lag"] {
                events.push_str(&chunk(serde_json::json!({ "content": word })));
            }
            events.push_str(&format!(
                "data: {}\n\n",
                serde_json::json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            ));
            events.push_str(&format!(
                "data: {}\n\n",
                serde_json::json!({"choices": [], "usage": {
                    "prompt_tokens": 20, "completion_tokens": 3, "total_tokens": 23,
                    "prompt_tokens_details": {"cached_tokens": 8},
                }})
            ));
            events.push_str("data: [DONE]\n\n");
            let mut headers = axum::http::HeaderMap::new();
            for (name, value) in RATE_LIMIT_HEADERS {
                headers.insert(name, axum::http::HeaderValue::from_static(value));
            }
            (
                axum::http::StatusCode::OK,
                headers,
                [("content-type", "text/event-stream")],
                events,
            )
        }
    });
    let hook = post(|| async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "down") });
    let router = Router::new()
        .route("/v1/chat/completions", completions)
        .route("/hook", hook);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

/// A child program (a scraper), killed with its scratch directory on drop.
pub struct Scraper {
    child: Child,
    dir: PathBuf,
    /// Where its query API listens.
    pub addr: SocketAddr,
}

impl Scraper {
    /// Starts `program` with `args`, its output going to `log` in `dir`.
    pub fn spawn(program: &Path, args: &[String], dir: PathBuf, addr: SocketAddr) -> Self {
        let log = std::fs::File::create(dir.join("log")).unwrap();
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        Self { child, dir, addr }
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// Waits until `GET path` answers 200, failing with the log if the
    /// program exits or the deadline passes.
    pub fn wait_ready(&mut self, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the scraper exited ({status}):\n{}", self.log());
            }
            if http("GET", self.addr, path, None).is_some_and(|(s, _)| s == 200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "not ready within 60 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The result vector of an instant query (empty on any failure).
    pub fn query(&self, promql: &str) -> Vec<Value> {
        let target = format!("/api/v1/query?query={}", encode(promql));
        let Some((200, body)) = http("GET", self.addr, &target, None) else {
            return Vec::new();
        };
        let value: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        value["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The single value of an instant query, if it has exactly one.
    pub fn value(&self, promql: &str) -> Option<f64> {
        let result = self.query(promql);
        if result.len() != 1 {
            return None;
        }
        result[0]["value"][1].as_str()?.parse().ok()
    }

    /// The raw JSON of `GET target`.
    pub fn get_json(&self, target: &str) -> Value {
        http("GET", self.addr, target, None)
            .and_then(|(_, body)| serde_json::from_str(&body).ok())
            .unwrap_or(Value::Null)
    }
}

impl Drop for Scraper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh scratch directory for a scraper (removed by the scraper's drop).
pub fn scratch(what: &str) -> PathBuf {
    incident_metrics_testing::scratch_dir(&format!("xtask-{what}"))
}

/// The kit's `prometheus.yml`, pointed at `target`, scraping and evaluating
/// every second, with the rule files named by absolute path and no
/// Alertmanager. Fails when the committed file no longer has the shape this
/// rewrite expects.
pub fn kit_config(target: SocketAddr) -> String {
    let root = workspace_root();
    let text = std::fs::read_to_string(root.join(kit::PROMETHEUS_CONFIG)).unwrap();
    let rules_dir = root.join(kit::RECORDING_RULES);
    let rules_dir = rules_dir.parent().unwrap();
    let mut out = text.clone();
    for (from, to) in [
        ("scrape_interval: 15s", "scrape_interval: 1s".to_owned()),
        ("scrape_timeout: 10s", "scrape_timeout: 1s".to_owned()),
        (
            "evaluation_interval: 15s",
            "evaluation_interval: 1s".to_owned(),
        ),
        ("\"127.0.0.1:8080\"", format!("\"{target}\"")),
        (
            "- recording_rules.yml",
            format!("- {}", rules_dir.join("recording_rules.yml").display()),
        ),
        (
            "- alert_rules.yml",
            format!("- {}", rules_dir.join("alert_rules.yml").display()),
        ),
        (&format!("job_name: {JOB}"), format!("job_name: {JOB}")),
        // Alerts the rules might fire during a test go nowhere (nothing
        // listens on port 1), not to an Alertmanager the machine may run.
        ("\"127.0.0.1:9093\"", "\"127.0.0.1:1\"".to_owned()),
    ] {
        assert!(
            out.contains(from),
            "{} no longer contains `{from}`: update the operator-kit tests",
            kit::PROMETHEUS_CONFIG
        );
        out = out.replace(from, &to);
    }
    out
}
