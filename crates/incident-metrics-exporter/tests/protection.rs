//! `Protection` in front of `/metrics`, through a real `MetricsServer` on
//! 127.0.0.1:0 and through `metrics_router_with`: auth (missing, wrong,
//! malformed and right credentials), the bound on concurrent scrapes and the
//! scrape timeout, with a collector that blocks until the test releases it
//! (no sleeps).

#![cfg(all(feature = "server", feature = "axum"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use incident_metrics_core::Registry;
use incident_metrics_core::prometheus_client::collector::Collector;
use incident_metrics_core::prometheus_client::encoding::DescriptorEncoder;
use incident_metrics_exporter::{AuthConfig, ServerConfig};
use incident_metrics_exporter::{MetricsServer, Protection, metrics_router_with};
use support::{connect, jobs_registry, parse_samples, send};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower::ServiceExt as _;

/// A bound on waits that should end at once; no test sleeps.
const PATIENCE: Duration = Duration::from_secs(10);

const TOKEN: &str = "7f3c9a1e5b2d4c6e8a0b1c2d3e4f5a6b";
const USER: &str = "prometheus";
const PASSWORD: &str = "correct horse battery staple";

/// A collector whose `encode` blocks while the gate is closed, and counts
/// the renders that entered and left it.
#[derive(Debug, Default)]
struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct GateState {
    closed: bool,
    entered: usize,
    left: usize,
}

impl Gate {
    fn closed() -> Arc<Self> {
        let gate = Arc::new(Self::default());
        gate.state.lock().unwrap().closed = true;
        gate
    }

    fn open(&self) {
        self.state.lock().unwrap().closed = false;
        self.changed.notify_all();
    }

    fn entered(&self) -> usize {
        self.state.lock().unwrap().entered
    }

    /// Waits (on a blocking thread) until `n` renders have entered, or
    /// `n` have left when `left`.
    async fn wait_for(self: &Arc<Self>, n: usize, left: bool) {
        let gate = Arc::clone(self);
        let wait = tokio::task::spawn_blocking(move || {
            let state = gate.state.lock().unwrap();
            let (state, timeout) = gate
                .changed
                .wait_timeout_while(state, PATIENCE, |s| {
                    (if left { s.left } else { s.entered }) < n
                })
                .unwrap();
            assert!(
                !timeout.timed_out(),
                "waited {PATIENCE:?} for {n} renders (left: {left}): {state:?}"
            );
        });
        wait.await.unwrap();
    }
}

/// Opens the gate when dropped, so that a failing test does not leave
/// renders blocked (the runtime waits for them when it shuts down).
struct OpenOnDrop(Arc<Gate>);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.open();
    }
}

/// The registry's view of the gate: a collector that blocks in `encode`.
#[derive(Debug)]
struct GateCollector(Arc<Gate>);

impl Collector for GateCollector {
    fn encode(&self, _encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let gate = &self.0;
        let mut state = gate.state.lock().unwrap();
        state.entered += 1;
        gate.changed.notify_all();
        while state.closed {
            state = gate.changed.wait(state).unwrap();
        }
        state.left += 1;
        gate.changed.notify_all();
        Ok(())
    }
}

/// A registry with `svc_jobs_total 4` and, when given, the gate.
fn gated_registry(gate: Option<&Arc<Gate>>) -> Arc<Registry> {
    let mut r = jobs_registry();
    if let Some(gate) = gate {
        r.register_collector(Box::new(GateCollector(Arc::clone(gate))));
    }
    Arc::new(r)
}

struct Running {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Running {
    async fn stop(self) {
        self.stop.send(()).unwrap();
        tokio::time::timeout(PATIENCE, self.task)
            .await
            .unwrap()
            .unwrap();
    }
}

/// Binds on port 0 and serves `registry` behind `protection`.
fn start(registry: Arc<Registry>, protection: Protection) -> Running {
    let server = MetricsServer::bind("127.0.0.1:0".parse().unwrap(), registry)
        .unwrap()
        .with_protection(protection);
    let addr = server.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server
            .serve_with_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    Running { addr, stop, task }
}

/// One `GET /metrics` with `headers` on a connection of its own.
async fn scrape(addr: SocketAddr, headers: &[(&str, &[u8])]) -> (StatusCode, HeaderMap, String) {
    let (mut sender, _driver) = connect(addr).await;
    let (status, headers, body) = send(&mut sender, Method::GET, "/metrics", headers).await;
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

fn bearer(token: &str) -> Vec<u8> {
    format!("Bearer {token}").into_bytes()
}

fn basic(user: &str, password: &str) -> Vec<u8> {
    format!("Basic {}", BASE64.encode(format!("{user}:{password}"))).into_bytes()
}

fn protection(config: ServerConfig) -> Protection {
    Protection::from_config(&config).unwrap()
}

fn with_auth(auth: AuthConfig) -> ServerConfig {
    ServerConfig::new().with_auth(Some(auth))
}

fn bearer_protection() -> Protection {
    protection(with_auth(AuthConfig::bearer(TOKEN)))
}

fn basic_protection() -> Protection {
    protection(with_auth(AuthConfig::basic(USER, PASSWORD)))
}

fn assert_ok_body(status: StatusCode, body: &str) {
    assert_eq!(status, StatusCode::OK, "{body}");
    let samples = parse_samples(body);
    assert_eq!(samples.len(), 1, "{body}");
    assert_eq!(samples[0].name, "svc_jobs_total");
    assert_eq!(samples[0].label("env"), Some("test"));
    assert_eq!(samples[0].value, "4");
}

#[tokio::test]
async fn missing_credentials_get_401_with_the_challenge() {
    let bearer_server = start(gated_registry(None), bearer_protection());
    let (status, headers, body) = scrape(bearer_server.addr, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["www-authenticate"], "Bearer realm=\"metrics\"");
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    assert!(body.starts_with("unauthorized:"), "{body}");
    assert!(!body.contains(TOKEN));
    bearer_server.stop().await;

    let basic_server = start(gated_registry(None), basic_protection());
    let (status, headers, body) = scrape(basic_server.addr, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        headers["www-authenticate"],
        "Basic realm=\"metrics\", charset=\"UTF-8\""
    );
    assert!(
        !body.contains(PASSWORD) && !body.contains("svc_jobs"),
        "{body}"
    );
    basic_server.stop().await;
}

#[tokio::test]
async fn wrong_bearer_tokens_get_401() {
    let server = start(gated_registry(None), bearer_protection());
    let prefix = &TOKEN[..TOKEN.len() - 1];
    let longer = format!("{TOKEN}0");
    let wrong = [
        bearer("wrong"),
        bearer(prefix),
        bearer(&longer),
        bearer(""),
        bearer(&TOKEN.to_uppercase()),
        basic("x", TOKEN),                     // the right secret, the wrong scheme
        TOKEN.as_bytes().to_vec(),             // no scheme at all
        format!("Token {TOKEN}").into_bytes(), // an unknown scheme
    ];
    for value in &wrong {
        let (status, headers, body) = scrape(server.addr, &[("authorization", value)]).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{:?} was let in: {body}",
            String::from_utf8_lossy(value)
        );
        assert_eq!(headers["www-authenticate"], "Bearer realm=\"metrics\"");
    }
    // The scheme is case-insensitive (RFC 9110), and so the right token in
    // any spelling of it gets in.
    let lower = format!("bearer {TOKEN}").into_bytes();
    let (status, _, body) = scrape(server.addr, &[("authorization", &lower)]).await;
    assert_ok_body(status, &body);
    server.stop().await;
}

#[tokio::test]
async fn wrong_basic_credentials_get_401() {
    let server = start(gated_registry(None), basic_protection());
    for value in [
        basic(USER, "wrong"),
        basic(USER, ""),
        basic(USER, &PASSWORD[1..]),
        basic("other", PASSWORD),
        basic("", PASSWORD),
        basic(&USER.to_uppercase(), PASSWORD),
        bearer(PASSWORD),
    ] {
        let (status, headers, body) = scrape(server.addr, &[("authorization", &value)]).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{:?} was let in: {body}",
            String::from_utf8_lossy(&value)
        );
        // The same answer whichever part was wrong.
        assert_eq!(
            body,
            "unauthorized: scrape with HTTP basic auth as the configured user\n"
        );
        assert_eq!(
            headers["www-authenticate"],
            "Basic realm=\"metrics\", charset=\"UTF-8\""
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn malformed_basic_headers_get_401_and_never_panic() {
    let server = start(gated_registry(None), basic_protection());
    let no_colon = format!("Basic {}", BASE64.encode(format!("{USER}{PASSWORD}")));
    let not_utf8 = {
        let mut raw = b"Basic ".to_vec();
        raw.extend(BASE64.encode([0xff, 0xfe, b':', 0xc3]).bytes());
        raw
    };
    let malformed: Vec<Vec<u8>> = vec![
        b"Basic".to_vec(),
        b"Basic ".to_vec(),
        b"Basic !!!not-base64!!!".to_vec(),
        b"Basic =".to_vec(),
        no_colon.into_bytes(),
        not_utf8,
        b"Basic \xff\xfe\xfd".to_vec(), // obs-text bytes, legal in a header value
        vec![b'B'; 8 * 1024],
    ];
    for value in &malformed {
        let (status, _, body) = scrape(server.addr, &[("authorization", value)]).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{:?} was let in: {body}",
            String::from_utf8_lossy(value)
        );
    }
    // Two Authorization headers, one of them right: refused, not guessed.
    let right = basic(USER, PASSWORD);
    let (status, _, _) = scrape(
        server.addr,
        &[("authorization", &right), ("authorization", b"Basic Og==")],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The server is still up and lets the right user in.
    let (status, _, body) = scrape(server.addr, &[("authorization", &right)]).await;
    assert_ok_body(status, &body);
    server.stop().await;
}

#[tokio::test]
async fn right_credentials_get_200_with_a_body_promtool_accepts() {
    let bearer_server = start(gated_registry(None), bearer_protection());
    let (status, headers, body) =
        scrape(bearer_server.addr, &[("authorization", &bearer(TOKEN))]).await;
    assert_ok_body(status, &body);
    assert!(headers.get("www-authenticate").is_none());
    assert_eq!(
        body,
        "# HELP svc_jobs_total Jobs run.\n# TYPE svc_jobs_total counter\nsvc_jobs_total{env=\"test\"} 4\n"
    );
    incident_metrics_testing::promtool_check_metrics(&body);
    bearer_server.stop().await;

    let basic_server = start(gated_registry(None), basic_protection());
    let (status, _, body) = scrape(
        basic_server.addr,
        &[
            ("authorization", &basic(USER, PASSWORD)),
            ("accept", b"application/openmetrics-text"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.ends_with("# EOF\n"), "{body}");
    basic_server.stop().await;
}

#[tokio::test]
async fn excess_scrapes_get_503_at_once_and_succeed_after_release() {
    let gate = Gate::closed();
    let _open_on_exit = OpenOnDrop(Arc::clone(&gate));
    let protection = protection(ServerConfig::new().with_max_concurrent_scrapes(2));
    let server = start(gated_registry(Some(&gate)), protection.clone());
    let addr = server.addr;

    // Two scrapes hold both slots, blocked in the collector.
    let in_flight: Vec<_> = (0..2)
        .map(|_| tokio::spawn(async move { scrape(addr, &[]).await }))
        .collect();
    gate.wait_for(2, false).await;
    assert_eq!(protection.scrapes_in_flight(), 2);

    // The third is answered at once, without rendering.
    let (status, headers, body) = tokio::time::timeout(PATIENCE, scrape(addr, &[]))
        .await
        .expect("the excess scrape must not wait for a slot");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["retry-after"], "1");
    assert!(body.starts_with("too many concurrent scrapes: 2"), "{body}");
    assert_eq!(gate.entered(), 2, "the excess scrape rendered");

    gate.open();
    for scrape in in_flight {
        let (status, _, body) = tokio::time::timeout(PATIENCE, scrape)
            .await
            .unwrap()
            .unwrap();
        assert_ok_body(status, &body);
    }
    // Slots are free again: the next scrapes render.
    for _ in 0..3 {
        let (status, _, body) = scrape(addr, &[]).await;
        assert_ok_body(status, &body);
    }
    assert_eq!(gate.entered(), 5);
    assert_eq!(protection.scrapes_in_flight(), 0);
    server.stop().await;
}

#[tokio::test]
async fn auth_is_checked_before_a_slot_is_taken() {
    let gate = Gate::closed();
    let _open_on_exit = OpenOnDrop(Arc::clone(&gate));
    let protection =
        protection(with_auth(AuthConfig::bearer(TOKEN)).with_max_concurrent_scrapes(1));
    let server = start(gated_registry(Some(&gate)), protection);
    let addr = server.addr;
    let held =
        tokio::spawn(async move { scrape(addr, &[("authorization", &bearer(TOKEN))]).await });
    gate.wait_for(1, false).await;
    // With every slot taken, a scrape without credentials is still a 401.
    let (status, _, _) = scrape(addr, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = scrape(addr, &[("authorization", &bearer(TOKEN))]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    gate.open();
    let (status, _, body) = held.await.unwrap();
    assert_ok_body(status, &body);
    server.stop().await;
}

#[tokio::test]
async fn a_render_past_the_timeout_gets_503_and_keeps_its_slot_until_it_ends() {
    let gate = Gate::closed();
    let _open_on_exit = OpenOnDrop(Arc::clone(&gate));
    let timeout = Duration::from_millis(200);
    let protection = protection(
        ServerConfig::new()
            .with_max_concurrent_scrapes(1)
            .with_scrape_timeout_ms(200),
    );
    assert_eq!(protection.scrape_timeout(), timeout);
    let server = start(gated_registry(Some(&gate)), protection.clone());
    let addr = server.addr;

    // The gate stays closed: the render outlives the timeout. The bound is
    // generous: the timeout must fire, not hang.
    let (status, headers, body) = tokio::time::timeout(PATIENCE, scrape(addr, &[]))
        .await
        .expect("the scrape timeout did not fire");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["retry-after"], "1");
    assert!(
        body.starts_with(
            "scrape timed out: rendering the registry took longer than the scrape timeout of 200 ms"
        ),
        "{body}"
    );
    assert_eq!(gate.entered(), 1);

    // The stuck render still holds its slot: scrapes cannot pile up.
    assert_eq!(protection.scrapes_in_flight(), 1);
    let (status, _, body) = scrape(addr, &[]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.starts_with("too many concurrent scrapes: 1"), "{body}");
    assert_eq!(gate.entered(), 1);

    // Once the render really ends, the slot is free and scrapes succeed.
    gate.open();
    gate.wait_for(1, true).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while protection.scrapes_in_flight() != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slot was never released"
        );
        tokio::task::yield_now().await;
    }
    let (status, _, body) = scrape(addr, &[]).await;
    assert_ok_body(status, &body);
    server.stop().await;
}

#[tokio::test]
async fn metrics_router_with_applies_the_same_protection() {
    let gate = Gate::closed();
    let _open_on_exit = OpenOnDrop(Arc::clone(&gate));
    let protection =
        protection(with_auth(AuthConfig::basic(USER, PASSWORD)).with_max_concurrent_scrapes(1));
    let app = metrics_router_with(gated_registry(Some(&gate)), protection);
    let request = |auth: Option<Vec<u8>>, path: &str| {
        let builder = Request::builder().uri(path);
        let builder = match auth {
            Some(value) => builder.header("authorization", value),
            None => builder,
        };
        builder.body(axum::body::Body::empty()).unwrap()
    };
    let call = |request: Request<axum::body::Body>| {
        let app = app.clone();
        async move {
            let response = app.oneshot(request).await.unwrap();
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (status, headers, String::from_utf8(body.to_vec()).unwrap())
        }
    };

    let (status, headers, _) = call(request(None, "/metrics")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        headers["www-authenticate"],
        "Basic realm=\"metrics\", charset=\"UTF-8\""
    );
    let (status, _, _) = call(request(Some(basic(USER, "nope")), "/metrics")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = call(request(Some(basic(USER, PASSWORD)), "/other")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let held = tokio::spawn(call(request(Some(basic(USER, PASSWORD)), "/metrics")));
    gate.wait_for(1, false).await;
    let (status, headers, _) = call(request(Some(basic(USER, PASSWORD)), "/metrics")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["retry-after"], "1");
    gate.open();
    let (status, _, body) = tokio::time::timeout(PATIENCE, held).await.unwrap().unwrap();
    assert_ok_body(status, &body);
}

#[tokio::test]
async fn from_config_reads_the_token_file() {
    let dir = incident_metrics_testing::scratch_dir("protection");
    let file = dir.join("token");
    std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
    let config = ServerConfig::new()
        .with_max_concurrent_scrapes(3)
        .with_scrape_timeout_ms(1500)
        .with_auth(Some(AuthConfig::bearer_file(&file)));
    let protection = Protection::from_config(&config).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(protection.max_concurrent_scrapes(), 3);
    assert_eq!(protection.scrape_timeout(), Duration::from_millis(1500));
    let debug = format!("{protection:?}");
    assert!(!debug.contains(TOKEN), "{debug}");
    assert!(debug.contains("bearer token <redacted>"), "{debug}");

    let server = start(gated_registry(None), protection);
    let (status, _, body) = scrape(server.addr, &[("authorization", &bearer(TOKEN))]).await;
    assert_ok_body(status, &body);
    let (status, _, _) = scrape(server.addr, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    server.stop().await;

    let missing = ServerConfig::new().with_auth(Some(AuthConfig::bearer_file(dir.join("gone"))));
    let message = Protection::from_config(&missing).unwrap_err().to_string();
    assert!(
        message.starts_with("cannot read `server.auth.bearer_token_file`"),
        "{message}"
    );
}

#[test]
fn invalid_settings_are_errors_that_name_the_setting() {
    let message = |config: ServerConfig| Protection::from_config(&config).unwrap_err().to_string();
    assert!(message(with_auth(AuthConfig::bearer(""))).contains("the token is empty"));
    assert!(message(with_auth(AuthConfig::basic("", "p"))).contains("username"));
    assert!(message(with_auth(AuthConfig::basic("a:b", "p"))).contains("cannot contain `:`"));
    assert!(message(with_auth(AuthConfig::basic("u", ""))).contains("password is empty"));
    assert!(
        message(ServerConfig::new().with_max_concurrent_scrapes(0))
            .contains("server.max_concurrent_scrapes")
    );
    assert!(
        message(ServerConfig::new().with_scrape_timeout_ms(0)).contains("server.scrape_timeout_ms")
    );
    let basic = format!("{:?}", basic_protection());
    assert!(
        basic.contains("basic as prometheus, password <redacted>"),
        "{basic}"
    );
    assert!(!basic.contains(PASSWORD), "{basic}");
}
