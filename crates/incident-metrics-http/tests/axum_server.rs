//! A real axum server on 127.0.0.1 with the layer, driven by a real HTTP
//! client (hyper): exact counts per method, path and status after a mixed
//! run, and an exposition that `promtool check metrics` accepts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use bytes::Bytes;
use common::{code, count, observations, sum};
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use incident_metrics_catalog::http::{HttpStatus, Method};
use incident_metrics_catalog::test_util::TestMetrics;
use incident_metrics_core::MetricsConfig;
use incident_metrics_http::HttpMetricsLayer;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;

const INCIDENT: &str = "/api/v1/incidents/{id}";
const INCIDENTS: &str = "/api/v1/incidents";

#[derive(Clone)]
struct App {
    registry: Arc<TestMetrics>,
    /// Told when a `/slow` handler has started.
    started: mpsc::UnboundedSender<()>,
}

async fn incident(Path(id): Path<String>) -> (StatusCode, &'static str) {
    if id == "missing" {
        (StatusCode::NOT_FOUND, "{\"error\":\"not found\"}")
    } else {
        (StatusCode::OK, "{\"id\":\"x\"}")
    }
}

async fn create(body: Bytes) -> (StatusCode, Bytes) {
    (StatusCode::CREATED, body)
}

async fn slow(State(app): State<App>) -> &'static str {
    let _ = app.started.send(());
    std::future::pending().await
}

async fn stream() -> Body {
    Body::from_stream(futures_util::stream::iter(
        (0..8).map(|_| Ok::<_, Infallible>(Bytes::from_static(b"0123456789abcdef"))),
    ))
}

async fn metrics(State(app): State<App>) -> String {
    common::render(&app.registry)
}

async fn panics() -> &'static str {
    panic!("handler panicked")
}

async fn start(registry: Arc<TestMetrics>) -> (SocketAddr, mpsc::UnboundedReceiver<()>) {
    let (started, started_rx) = mpsc::unbounded_channel();
    let layer = HttpMetricsLayer::new(registry.catalog());
    let app = App { registry, started };
    let router = Router::new()
        .route(INCIDENT, get(incident))
        .route(INCIDENTS, post(create).layer(DefaultBodyLimit::max(16)))
        .route("/fail", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
        .route("/panic", get(panics).layer(CatchPanicLayer::new()))
        .route("/panic-raw", get(panics))
        .route("/slow", get(slow))
        .route(
            "/timeout",
            get(slow).layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                Duration::from_millis(20),
            )),
        )
        .route("/stream", get(stream))
        .route("/health", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .layer(layer)
        .with_state(app);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (addr, started_rx)
}

/// One request on a fresh connection: the status and the body, or `None`
/// when the connection failed (the server dropped it).
async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &'static [u8],
) -> Option<(u16, Bytes)> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .body(Full::new(Bytes::from_static(body)))
        .unwrap();
    let res = sender.send_request(req).await.ok()?;
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.ok()?.to_bytes();
    Some((status, body))
}

/// Waits (bounded) until `done` holds; the server finishes its accounting
/// just after the client has seen the last byte.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_run_is_counted_exactly() {
    let registry = Arc::new(common::registry(&MetricsConfig::new()));
    let (addr, mut started) = start(Arc::clone(&registry)).await;
    let h = &registry.catalog().http;

    for i in 0..20 {
        let (status, _) = send(addr, "GET", &format!("/api/v1/incidents/{i}"), b"")
            .await
            .unwrap();
        assert_eq!(status, 200);
    }
    for _ in 0..5 {
        assert_eq!(
            send(addr, "GET", "/api/v1/incidents/missing", b"")
                .await
                .unwrap()
                .0,
            404
        );
    }
    for i in 0..10 {
        assert_eq!(
            send(addr, "GET", &format!("/no/such/{i}"), b"")
                .await
                .unwrap()
                .0,
            404
        );
    }
    for _ in 0..3 {
        assert_eq!(send(addr, "GET", "/fail", b"").await.unwrap().0, 500);
    }
    for _ in 0..4 {
        assert_eq!(send(addr, "GET", "/panic", b"").await.unwrap().0, 500);
    }
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for _ in 0..2 {
        // No panic-catching layer: the connection dies, the client sees no status.
        assert!(send(addr, "GET", "/panic-raw", b"").await.is_none());
    }
    std::panic::set_hook(hook);
    for _ in 0..6 {
        let (status, body) = send(addr, "POST", INCIDENTS, b"{\"title\":\"t\"}")
            .await
            .unwrap();
        assert_eq!((status, body.len()), (201, 13));
    }
    let mut rejection_bytes = 0;
    let big = b"{\"title\":\"far beyond the sixteen byte limit\"}";
    for _ in 0..3 {
        let (status, body) = send(addr, "POST", INCIDENTS, big).await.unwrap();
        assert_eq!(status, 413);
        rejection_bytes += body.len();
    }
    for _ in 0..2 {
        assert_eq!(send(addr, "GET", "/timeout", b"").await.unwrap().0, 408);
        started.recv().await.unwrap();
    }
    for _ in 0..4 {
        let (status, body) = send(addr, "GET", "/stream", b"").await.unwrap();
        assert_eq!((status, body.len()), (200, 128));
    }
    for _ in 0..2 {
        assert_eq!(
            send(addr, "DELETE", "/api/v1/incidents/1", b"")
                .await
                .unwrap()
                .0,
            405
        );
    }
    assert_eq!(
        send(addr, "PROPFIND", "/api/v1/incidents/1", b"")
            .await
            .unwrap()
            .0,
        405
    );
    for _ in 0..5 {
        assert_eq!(send(addr, "GET", "/health", b"").await.unwrap().0, 200);
    }

    // Cancelled: the client goes away while the handler waits.
    for n in 1..=3 {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        let conn = tokio::spawn(conn);
        let req = Request::get("/slow")
            .header("host", "localhost")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let pending = tokio::spawn(async move { sender.send_request(req).await });
        started.recv().await.unwrap();
        pending.abort();
        conn.abort();
        eventually("the cancelled request", || {
            count(h, Method::Get, "/slow", HttpStatus::Cancelled) == n
        })
        .await;
    }
    eventually("every connection to finish", || {
        h.connections_active.get() == 0 && h.requests_in_flight.get() == 0
    })
    .await;

    assert_eq!(code(h, Method::Get, INCIDENT, 200), 20);
    assert_eq!(code(h, Method::Get, INCIDENT, 404), 5);
    assert_eq!(code(h, Method::Get, "unmatched", 404), 10);
    assert_eq!(code(h, Method::Get, "/fail", 500), 3);
    assert_eq!(code(h, Method::Get, "/panic", 500), 4);
    assert_eq!(code(h, Method::Get, "/panic-raw", 500), 2);
    assert_eq!(code(h, Method::Post, INCIDENTS, 201), 6);
    assert_eq!(code(h, Method::Post, INCIDENTS, 413), 3);
    assert_eq!(code(h, Method::Get, "/timeout", 408), 2);
    assert_eq!(code(h, Method::Get, "/stream", 200), 4);
    assert_eq!(code(h, Method::Delete, INCIDENT, 405), 2);
    assert_eq!(code(h, Method::Other, INCIDENT, 405), 1);
    assert_eq!(count(h, Method::Get, "/slow", HttpStatus::Cancelled), 3);
    assert_eq!(code(h, Method::Get, "/health", 200), 0, "excluded");

    // Sizes are the bytes that moved; streams are sized and timed to the end.
    assert_eq!(sum(&h.response_size, Method::Get, "/stream"), 4.0 * 128.0);
    assert_eq!(observations(&h.request_duration, Method::Get, "/stream"), 4);
    assert_eq!(
        sum(&h.request_size, Method::Post, INCIDENTS),
        6.0 * 13.0 + 3.0 * big.len() as f64,
        "the rejected bodies arrived whole, in one frame"
    );
    assert_eq!(
        sum(&h.response_size, Method::Post, INCIDENTS),
        6.0 * 13.0 + rejection_bytes as f64
    );

    // The exposition, as served, passes promtool; scrapes are not counted.
    let (status, text) = send(addr, "GET", "/metrics", b"").await.unwrap();
    assert_eq!(status, 200);
    let text = String::from_utf8(text.to_vec()).unwrap();
    assert_eq!(
        common::total(&text, "llm_incident_manager_http_requests_total"),
        65.0,
        "{text}"
    );
    assert!(!text.contains("path=\"/metrics\""));
    assert!(text.contains("# TYPE llm_incident_manager_http_connections_active gauge"));
    common::promtool_check(&text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_and_cancelled_connections_leave_the_gauges_at_zero() {
    let registry = Arc::new(common::registry(&MetricsConfig::new()));
    let (addr, mut started) = start(Arc::clone(&registry)).await;
    let h = &registry.catalog().http;
    const OK: usize = 300;
    const CANCELLED: usize = 100;

    let ok: Vec<_> = (0..OK)
        .map(|i| {
            tokio::spawn(async move {
                let path = if i.is_multiple_of(2) {
                    "/stream".to_owned()
                } else {
                    format!("/api/v1/incidents/{i}")
                };
                send(addr, "GET", &path, b"").await.unwrap().0
            })
        })
        .collect();
    let mut conns = Vec::new();
    for _ in 0..CANCELLED {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        let req = Request::get("/slow")
            .header("host", "localhost")
            .body(Full::new(Bytes::new()))
            .unwrap();
        conns.push((
            tokio::spawn(conn),
            tokio::spawn(async move { sender.send_request(req).await }),
        ));
    }
    for _ in 0..CANCELLED {
        started.recv().await.unwrap();
    }
    assert!(h.requests_in_flight.get() >= CANCELLED as i64);
    for (conn, req) in conns {
        req.abort();
        conn.abort();
    }
    for task in ok {
        assert_eq!(task.await.unwrap(), 200);
    }
    eventually("the gauges to return to zero", || {
        h.connections_active.get() == 0 && h.requests_in_flight.get() == 0
    })
    .await;
    assert_eq!(
        count(h, Method::Get, "/slow", HttpStatus::Cancelled),
        CANCELLED as u64
    );
    assert_eq!(code(h, Method::Get, "/stream", 200), (OK / 2) as u64);
    assert_eq!(code(h, Method::Get, INCIDENT, 200), (OK / 2) as u64);
}
