//! Hostile input against the real service on 127.0.0.1:0: bodies over the
//! limit, malformed and deeply nested JSON, invalid UTF-8, header floods,
//! slow clients (slowloris, a stalled body) and gRPC messages over the size
//! limit. Each answers a clear error (or, where hyper decides, a closed
//! connection), the service keeps serving, and every stored incident is
//! still there, unchanged.
//!
//! Raw TCP is used wherever a client library would refuse to send the bytes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use http::{Method, StatusCode};
use llm_incident_manager::RunningApp;
use llm_incident_manager::grpc::pb;
use pb::incident_service_client::IncidentServiceClient;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::Code;
use tonic::transport::Channel;

/// Short timeouts so the slow-client tests stay quick.
const TIMEOUT_MS: u64 = 1_000;

fn hostile_config(extra: &str) -> llm_incident_manager::Config {
    config(&format!(
        "[limits]\nheader_read_timeout_ms = {TIMEOUT_MS}\nbody_read_timeout_ms = {TIMEOUT_MS}\n{extra}"
    ))
}

/// Creates three incidents (low and medium: no playbook or escalation
/// touches them afterwards) and returns them as `GET` answers them.
async fn seed(app: &RunningApp) -> Vec<Value> {
    let mut seeded = Vec::new();
    let mut ids = Vec::new();
    for (i, severity) in ["low", "medium", "info"].into_iter().enumerate() {
        // One source each: correlation links incidents of one source.
        let created = create(
            app,
            &format!("seeded incident {i}"),
            severity,
            &format!("seed-{i}"),
        )
        .await;
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    for id in ids {
        // Once the analysis worker is done with it, the incident stays as
        // it is unless a client changes it.
        seeded.push(analysed(app, &id).await);
    }
    seeded
}

/// Every seeded incident is still there, unchanged, the list holds exactly
/// `extra` more, and a new incident can still be created.
async fn assert_intact(app: &RunningApp, seeded: &[Value], extra: usize) {
    for before in seeded {
        let id = before["id"].as_str().unwrap();
        let (status, after) = get_json(&format!("{}/api/v1/incidents/{id}", base(app))).await;
        assert_eq!(status, StatusCode::OK, "{id} is gone");
        assert_eq!(&after, before, "{id} changed");
    }
    let (status, list) = get_json(&format!("{}/api/v1/incidents", base(app))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        list["incidents"].as_array().unwrap().len(),
        seeded.len() + extra,
        "{list}"
    );
    let fresh = create(app, "created after the hostile input", "low", "after").await;
    assert_eq!(fresh["deduplicated"], Value::Bool(false));
}

/// What a raw exchange produced: the bytes read and how the read ended.
#[derive(Debug)]
struct Raw {
    bytes: Vec<u8>,
    /// `None`: end of stream; `Some(kind)`: the read failed (a reset).
    error: Option<std::io::ErrorKind>,
}

impl Raw {
    /// The status of the first response, if one arrived.
    fn status(&self) -> Option<u16> {
        let text = std::str::from_utf8(self.bytes.get(..12)?).ok()?;
        text.strip_prefix("HTTP/1.1 ")?.parse().ok()
    }

    /// The body of the first response.
    fn body(&self) -> &[u8] {
        let at = self
            .bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("no end of head");
        &self.bytes[at + 4..]
    }

    fn json(&self) -> Value {
        serde_json::from_slice(self.body()).unwrap_or_else(|e| {
            panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(self.body()))
        })
    }
}

/// Reads until end of stream or an error, for at most 20 s.
async fn read_to_end(stream: &mut (impl AsyncReadExt + Unpin)) -> Raw {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => panic!(
                "the server neither answered nor closed within 20 s; read so far: {:?}",
                String::from_utf8_lossy(&bytes)
            ),
            Ok(Ok(0)) => return Raw { bytes, error: None },
            Ok(Ok(n)) => bytes.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => {
                return Raw {
                    bytes,
                    error: Some(e.kind()),
                };
            }
        }
    }
}

/// Sends `request` on a new connection (writing concurrently with reading,
/// so a server that answers early is heard) and reads until it closes.
async fn raw(addr: SocketAddr, request: Vec<u8>) -> Raw {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let writer = tokio::spawn(async move {
        // The server may close before taking everything: not an error here.
        let _ = write.write_all(&request).await;
        write
    });
    let raw = read_to_end(&mut read).await;
    drop(writer.await.unwrap());
    raw
}

fn post_raw(path: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

fn error_message(value: &Value) -> &str {
    let message = value["error"].as_str().unwrap_or_else(|| panic!("{value}"));
    assert!(!message.is_empty());
    message
}

async fn health_ok(app: &RunningApp) {
    let (status, _, _) = request(Method::GET, &format!("{}/health", base(app)), None, &[]).await;
    assert_eq!(status, StatusCode::OK);
}

fn http_count(text: &str, method: &str, path: &str, status: u16) -> f64 {
    value(
        text,
        &format!(
            "llm_incident_manager_http_requests_total{{method=\"{method}\",path=\"{path}\",status=\"{status}\"}}"
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_answer_413_with_a_json_error() {
    let app = start(hostile_config("")).await;
    let seeded = seed(&app).await;
    let url = format!("{}/api/v1/incidents", base(&app));

    // Over the 64 KiB default, with an honest Content-Length.
    let big = format!(
        "{{\"title\":\"t\",\"severity\":\"low\",\"source\":\"s\",\"description\":\"{}\"}}",
        "x".repeat(70 * 1024)
    );
    let (status, value) = post_json(&url, &big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(error_message(&value).contains("length limit"), "{value}");

    // Over the limit in chunks, without a Content-Length: the limit still
    // holds while streaming.
    let mut chunked = b"POST /api/v1/incidents HTTP/1.1\r\nHost: test\r\n\
        Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        .to_vec();
    for _ in 0..20 {
        chunked.extend_from_slice(format!("{:x}\r\n{}\r\n", 8192, "y".repeat(8192)).as_bytes());
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let answer = raw(app.http_addr(), chunked).await;
    assert_eq!(answer.status(), Some(413), "{answer:?}");
    error_message(&answer.json());

    // Exactly at the limit is read and served (the padding is an unknown
    // field, which the API ignores).
    let mut at_limit = format!(
        "{{\"title\":\"t\",\"severity\":\"low\",\"source\":\"s\",\"padding\":\"{}\"}}",
        "x".repeat(64 * 1024)
    );
    at_limit.truncate(64 * 1024 - 2);
    at_limit.push_str("\"}");
    assert_eq!(at_limit.len(), 64 * 1024);
    let (status, value) = post_json(&url, &at_limit).await;
    assert_eq!(status, StatusCode::CREATED, "{value}");

    let text = scrape(app.http_addr()).await;
    assert_eq!(
        http_count(&text, "POST", "/api/v1/incidents", 413),
        2.0,
        "{text}"
    );
    health_ok(&app).await;
    assert_intact(&app, &seeded, 1).await;
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_deeply_nested_json_answer_400_or_422() {
    let app = start(hostile_config("")).await;
    let seeded = seed(&app).await;
    let url = format!("{}/api/v1/incidents", base(&app));

    for (body, want) in [
        ("", StatusCode::BAD_REQUEST),
        ("{", StatusCode::BAD_REQUEST),
        ("{\"title\": ", StatusCode::BAD_REQUEST),
        ("{\"title\": \"a\",}", StatusCode::BAD_REQUEST),
        ("nul", StatusCode::BAD_REQUEST),
        ("\u{0}\u{1}\u{2}", StatusCode::BAD_REQUEST),
        ("[]", StatusCode::UNPROCESSABLE_ENTITY),
        (
            "{\"title\": 5, \"severity\": \"low\", \"source\": \"s\"}",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("{\"title\": \"t\"}", StatusCode::UNPROCESSABLE_ENTITY),
        (
            "{\"title\": \"\", \"severity\": \"low\", \"source\": \"s\"}",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "{\"title\": \"t\", \"severity\": \"apocalyptic\", \"source\": \"s\"}",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let (status, value) = post_json(&url, body).await;
        assert_eq!(status, want, "{body:?}: {value}");
        error_message(&value);
    }

    // 100,000 levels do not fit under the 64 KiB limit: 413.
    let deep = format!("{{\"extra\":{}", "[".repeat(100_000));
    let (status, value) = post_json(&url, &deep).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    error_message(&value);

    // As deep as fits exactly at the limit, unclosed, in an unknown field
    // (skipped without recursion by serde_json) and in a typed field
    // (refused at the first bracket): a clean error, no stack overflow.
    for (field, open, want, says) in [
        (
            "extra",
            "[",
            StatusCode::BAD_REQUEST,
            "EOF while parsing a list",
        ),
        (
            "extra",
            "{\"a\":",
            StatusCode::BAD_REQUEST,
            "EOF while parsing",
        ),
        (
            "title",
            "[",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid type: sequence",
        ),
    ] {
        let mut deep = format!("{{\"{field}\":");
        while deep.len() + open.len() <= 64 * 1024 {
            deep.push_str(open);
        }
        deep.push_str(&" ".repeat(64 * 1024 - deep.len()));
        assert_eq!(deep.len(), 64 * 1024);
        let (status, value) = post_json(&url, &deep).await;
        assert_eq!(status, want, "{value}");
        assert!(error_message(&value).contains(says), "{value}");
    }

    let text = scrape(app.http_addr()).await;
    assert_eq!(
        http_count(&text, "POST", "/api/v1/incidents", 400),
        8.0,
        "{text}"
    );
    assert_eq!(
        http_count(&text, "POST", "/api/v1/incidents", 422),
        6.0,
        "{text}"
    );
    assert_eq!(
        http_count(&text, "POST", "/api/v1/incidents", 413),
        1.0,
        "{text}"
    );
    assert_intact(&app, &seeded, 0).await;
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_nested_100_000_deep_under_a_raised_limit_is_refused_or_skipped_without_overflow() {
    let app = start(hostile_config("").tap_body_limit(1024 * 1024)).await;
    let seeded = seed(&app).await;
    let url = format!("{}/api/v1/incidents", base(&app));
    let valid = "\"title\":\"deep\",\"severity\":\"low\",\"source\":\"deep\"";
    for (deep, want, says) in [
        (
            format!("{{\"extra\":{}", "[".repeat(100_000)),
            StatusCode::BAD_REQUEST,
            "EOF while parsing a list",
        ),
        (
            format!("{{\"extra\":{}", "{\"a\":".repeat(100_000)),
            StatusCode::BAD_REQUEST,
            "EOF while parsing",
        ),
        (
            format!(
                "{{\"title\":{}{}}}",
                "[".repeat(100_000),
                "]".repeat(100_000)
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid type: sequence",
        ),
    ] {
        let (status, value) = post_json(&url, &deep).await;
        assert_eq!(status, want, "{value}");
        assert!(error_message(&value).contains(says), "{value}");
    }
    // Balanced and in an unknown field, 100,000 deep is skipped (serde_json
    // skips ignored values without recursing) and the incident is created.
    let balanced = format!(
        "{{{valid},\"extra\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let (status, value) = post_json(&url, &balanced).await;
    assert_eq!(status, StatusCode::CREATED, "{value}");
    assert_eq!(value["title"], "deep");
    health_ok(&app).await;
    assert_intact(&app, &seeded, 1).await;
    app.shutdown().await.unwrap();
}

/// Sets `body_limit_bytes` on a test configuration.
trait TapBodyLimit {
    fn tap_body_limit(self, limit: usize) -> Self;
}

impl TapBodyLimit for llm_incident_manager::Config {
    fn tap_body_limit(mut self, limit: usize) -> Self {
        self.body_limit_bytes = limit;
        self
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_in_body_path_and_headers_is_refused_cleanly() {
    let app = start(hostile_config("")).await;
    let seeded = seed(&app).await;
    let addr = app.http_addr();

    // In the body: serde_json refuses it.
    let answer = raw(
        addr,
        post_raw(
            "/api/v1/incidents",
            b"{\"title\":\"\xff\xfe\xfd\",\"severity\":\"low\",\"source\":\"s\"}",
        ),
    )
    .await;
    assert_eq!(answer.status(), Some(400), "{answer:?}");
    assert!(
        error_message(&answer.json()).contains("invalid"),
        "{answer:?}"
    );

    // Raw bytes in the path: hyper refuses the request line, with no body.
    let answer = raw(
        addr,
        b"GET /api/v1/incidents/\xff\xfe HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
            .to_vec(),
    )
    .await;
    assert_eq!(answer.status(), Some(400), "{answer:?}");

    // Percent-encoded invalid UTF-8 in the path reaches the router: the
    // path parameter is refused with a JSON error.
    for path in ["/api/v1/incidents/%FF%FE", "/api/v1/incidents/%FF/resolve"] {
        let method = if path.ends_with("resolve") {
            "POST"
        } else {
            "GET"
        };
        let answer = raw(
            addr,
            format!("{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .into_bytes(),
        )
        .await;
        assert_eq!(answer.status(), Some(400), "{path}: {answer:?}");
        assert!(
            error_message(&answer.json()).contains("UTF-8"),
            "{answer:?}"
        );
    }

    // A header value with bytes over 0x7F is legal HTTP (obs-text): it is
    // carried, not refused, and the service ignores it.
    let answer = raw(
        addr,
        b"GET /health HTTP/1.1\r\nHost: test\r\nX-Junk: \xff\xfe\xc3\x28\r\nConnection: close\r\n\r\n"
            .to_vec(),
    )
    .await;
    assert_eq!(answer.status(), Some(200), "{answer:?}");
    // On the metrics endpoint, an unreadable Accept falls back to the
    // Prometheus text format.
    let answer = raw(
        addr,
        b"GET /metrics HTTP/1.1\r\nHost: test\r\nAccept: \xff\xfe\r\nConnection: close\r\n\r\n"
            .to_vec(),
    )
    .await;
    assert_eq!(answer.status(), Some(200), "{answer:?}");
    assert!(
        String::from_utf8_lossy(&answer.bytes).contains("content-type: text/plain; version=0.0.4"),
        "{answer:?}"
    );
    // Control characters in a header value are not legal: 400 from hyper.
    let answer = raw(
        addr,
        b"GET /health HTTP/1.1\r\nHost: test\r\nX-Junk: a\x01b\r\nConnection: close\r\n\r\n"
            .to_vec(),
    )
    .await;
    assert_eq!(answer.status(), Some(400), "{answer:?}");
    // Invalid UTF-8 in a header name: 400 from hyper.
    let answer = raw(
        addr,
        b"GET /health HTTP/1.1\r\nHost: test\r\nX-\xff: a\r\nConnection: close\r\n\r\n".to_vec(),
    )
    .await;
    assert_eq!(answer.status(), Some(400), "{answer:?}");

    let text = scrape(addr).await;
    assert_eq!(
        http_count(&text, "POST", "/api/v1/incidents", 400),
        1.0,
        "{text}"
    );
    assert_eq!(
        http_count(&text, "GET", "/api/v1/incidents/{id}", 400),
        1.0,
        "{text}"
    );
    assert_eq!(
        http_count(&text, "POST", "/api/v1/incidents/{id}/resolve", 400),
        1.0,
        "{text}"
    );
    health_ok(&app).await;
    assert_intact(&app, &seeded, 0).await;
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_floods_answer_431_and_the_service_keeps_serving() {
    let app = start(hostile_config("")).await;
    let seeded = seed(&app).await;
    let addr = app.http_addr();

    // 101 headers (one over max_headers = 100), small enough that hyper has
    // read them all: a clean 431.
    let mut request = b"GET /api/v1/incidents HTTP/1.1\r\nHost: test\r\n".to_vec();
    for i in 0..100 {
        request.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    request.extend_from_slice(b"Connection: close\r\n\r\n");
    let answer = raw(addr, request).await;
    assert_eq!(answer.status(), Some(431), "{answer:?}");
    assert_eq!(answer.error, None);

    // Exactly 100 headers pass.
    let mut request = b"GET /api/v1/incidents HTTP/1.1\r\nHost: test\r\n".to_vec();
    for i in 0..98 {
        request.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    request.extend_from_slice(b"Connection: close\r\n\r\n");
    let answer = raw(addr, request).await;
    assert_eq!(answer.status(), Some(200), "{answer:?}");

    // Thousands of headers, and one huge header: hyper answers 431 once the
    // count or max_header_bytes is exceeded and closes; having left the rest
    // unread, the close may reach us as a reset after the 431.
    let mut thousands = b"GET /api/v1/incidents HTTP/1.1\r\nHost: test\r\n".to_vec();
    for i in 0..5_000 {
        thousands.extend_from_slice(format!("X-Flood-{i}: value-{i}\r\n").as_bytes());
    }
    thousands.extend_from_slice(b"\r\n");
    let mut huge = b"GET /api/v1/incidents HTTP/1.1\r\nHost: test\r\nX-Huge: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 1024 * 1024));
    huge.extend_from_slice(b"\r\n\r\n");
    for (name, request) in [("thousands", thousands), ("huge", huge)] {
        let answer = raw(addr, request).await;
        assert_eq!(answer.status(), Some(431), "{name}: {answer:?}");
        assert!(
            String::from_utf8_lossy(&answer.bytes).contains("\r\nconnection: close\r\n"),
            "{name}: {answer:?}"
        );
        assert!(
            matches!(
                answer.error,
                None | Some(std::io::ErrorKind::ConnectionReset)
            ),
            "{name}: {answer:?}"
        );
        health_ok(&app).await;
    }

    // A head just over max_header_bytes (32 KiB) in one header.
    let mut over = b"GET /api/v1/incidents HTTP/1.1\r\nHost: test\r\nX-Big: ".to_vec();
    over.extend(std::iter::repeat_n(b'b', 32 * 1024));
    over.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
    let answer = raw(addr, over).await;
    assert_eq!(answer.status(), Some(431), "{answer:?}");

    // hyper answers the 431s before the router: the HTTP layer never sees
    // them. It saw the one request with 100 headers.
    let text = scrape(addr).await;
    assert!(!text.contains("status=\"431\""), "{text}");
    assert_eq!(
        http_count(&text, "GET", "/api/v1/incidents", 200),
        1.0,
        "{text}"
    );
    health_ok(&app).await;
    assert_intact(&app, &seeded, 0).await;
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_client_is_disconnected_after_the_header_timeout_while_others_are_served() {
    let app = start(hostile_config("")).await;
    let seeded = seed(&app).await;
    let addr = app.http_addr();

    let started = Instant::now();
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: test\r\n")
        .await
        .unwrap();
    // Keeps trickling header lines (never the blank line) until the server
    // closes: trickling must not extend the deadline.
    let (mut slow_read, mut slow_write) = slow.into_split();
    let trickle = tokio::spawn(async move {
        for i in 0..200 {
            if slow_write
                .write_all(format!("X-Slow-{i}: 1\r\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        slow_write
    });
    let closed = tokio::spawn(async move {
        let raw = read_to_end(&mut slow_read).await;
        (raw, started.elapsed())
    });

    // Meanwhile other clients are served.
    let mut served = 0;
    while !closed.is_finished() && served < 200 {
        health_ok(&app).await;
        let id = seeded[0]["id"].as_str().unwrap();
        let (status, _) = get_json(&format!("{}/api/v1/incidents/{id}", base(&app))).await;
        assert_eq!(status, StatusCode::OK);
        served += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (answer, elapsed) = closed.await.unwrap();
    trickle.abort();
    assert!(
        served >= 3,
        "only {served} requests served during the slowloris"
    );
    // Disconnected without an answer, not before the timeout (a few
    // milliseconds for clock granularity), well before the trickle ends.
    assert!(answer.bytes.is_empty(), "{answer:?}");
    assert!(
        elapsed >= Duration::from_millis(TIMEOUT_MS - 10),
        "closed after {elapsed:?}, before the {TIMEOUT_MS} ms timeout"
    );
    assert!(
        elapsed < Duration::from_millis(TIMEOUT_MS) + Duration::from_secs(8),
        "closed only after {elapsed:?}"
    );

    health_ok(&app).await;
    assert_intact(&app, &seeded, 0).await;
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_that_sends_nothing_is_closed_after_the_header_timeout() {
    let app = start(hostile_config("")).await;
    let started = Instant::now();
    let mut idle = TcpStream::connect(app.http_addr()).await.unwrap();
    let answer = read_to_end(&mut idle).await;
    let elapsed = started.elapsed();
    assert!(answer.bytes.is_empty(), "{answer:?}");
    assert!(
        elapsed >= Duration::from_millis(TIMEOUT_MS - 10),
        "{elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_millis(TIMEOUT_MS) + Duration::from_secs(8),
        "{elapsed:?}"
    );
    health_ok(&app).await;
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_connection_that_sends_nothing_is_closed_after_the_header_timeout() {
    let app = start(hostile_config("")).await;
    let started = Instant::now();
    let mut silent = TcpStream::connect(app.grpc_addr()).await.unwrap();
    // While it waits, a real client is served on the same listener.
    let mut client = grpc_connect(&app).await;
    client
        .create_incident(grpc_incident("while silent", "d".to_owned()))
        .await
        .unwrap();
    let answer = read_to_end(&mut silent).await;
    let elapsed = started.elapsed();
    assert!(answer.bytes.is_empty(), "{answer:?}");
    assert!(
        elapsed >= Duration::from_millis(TIMEOUT_MS - 10),
        "{elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_millis(TIMEOUT_MS) + Duration::from_secs(8),
        "{elapsed:?}"
    );
    // A connection that has spoken is not cut by that timeout.
    tokio::time::sleep(Duration::from_millis(TIMEOUT_MS + 200)).await;
    client
        .create_incident(grpc_incident("after", "d".to_owned()))
        .await
        .unwrap();
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_answers_408_after_the_body_timeout() {
    let app = start(hostile_config("")).await;
    let seeded = seed(&app).await;
    let addr = app.http_addr();

    // Announces 200 bytes, sends 10, then stalls.
    let started = Instant::now();
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    stalled
        .write_all(
            b"POST /api/v1/incidents HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
              Content-Length: 200\r\n\r\n{\"title\":",
        )
        .await
        .unwrap();
    let (mut read, write) = stalled.into_split();
    // Meanwhile other clients are served.
    health_ok(&app).await;
    let answer = read_to_end(&mut read).await;
    let elapsed = started.elapsed();
    drop(write);
    assert_eq!(answer.status(), Some(408), "{answer:?}");
    assert!(
        error_message(&answer.json()).contains("body_read_timeout_ms"),
        "{answer:?}"
    );
    assert!(
        elapsed >= Duration::from_millis(TIMEOUT_MS - 10),
        "{elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_millis(TIMEOUT_MS) + Duration::from_secs(8),
        "{elapsed:?}"
    );

    // A body trickled a byte at a time hits the same hard deadline.
    let started = Instant::now();
    let mut trickling = TcpStream::connect(addr).await.unwrap();
    trickling
        .write_all(
            b"POST /api/v1/incidents HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
              Content-Length: 1000\r\n\r\n",
        )
        .await
        .unwrap();
    let (mut read, mut write) = trickling.into_split();
    let trickle = tokio::spawn(async move {
        for _ in 0..1000 {
            if write.write_all(b" ").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        write
    });
    let answer = read_to_end(&mut read).await;
    let elapsed = started.elapsed();
    trickle.abort();
    assert_eq!(answer.status(), Some(408), "{answer:?}");
    assert!(
        elapsed >= Duration::from_millis(TIMEOUT_MS - 10),
        "{elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_millis(TIMEOUT_MS) + Duration::from_secs(8),
        "{elapsed:?}"
    );

    let text = scrape(addr).await;
    assert_eq!(
        http_count(&text, "POST", "/api/v1/incidents", 408),
        2.0,
        "{text}"
    );
    health_ok(&app).await;
    assert_intact(&app, &seeded, 0).await;
    app.shutdown().await.unwrap();
}

async fn grpc_channel(app: &RunningApp) -> Channel {
    Channel::from_shared(format!("http://{}", app.grpc_addr()))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .unwrap()
}

async fn grpc_connect(app: &RunningApp) -> IncidentServiceClient<Channel> {
    IncidentServiceClient::new(grpc_channel(app).await)
}

fn grpc_incident(title: &str, description: String) -> pb::CreateIncidentRequest {
    pb::CreateIncidentRequest {
        title: title.to_owned(),
        description,
        severity: pb::Severity::Low.into(),
        source: "grpc-hostile".to_owned(),
        fingerprint: String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_messages_over_the_size_limit_answer_out_of_range() {
    let app = start(hostile_config("grpc_max_message_bytes = 65536")).await;
    let seeded = seed(&app).await;
    let mut client = grpc_connect(&app).await;

    // Under the limit: served (16 KiB is the longest description).
    let fits = client
        .create_incident(grpc_incident("fits", "d".repeat(16 * 1024)))
        .await
        .unwrap()
        .into_inner();
    assert!(!fits.deduplicated);

    for size in [65 * 1024, 4 * 1024 * 1024] {
        let refused = client
            .create_incident(grpc_incident("too big", "d".repeat(size)))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::OutOfRange, "{refused:?}");
        assert!(
            refused.message().contains("message length too large"),
            "{refused:?}"
        );
    }

    // The same connection keeps being served.
    let after = client
        .create_incident(grpc_incident("after", "small".to_owned()))
        .await
        .unwrap()
        .into_inner();
    assert!(!after.deduplicated);
    let text = scrape(app.http_addr()).await;
    let series = |status: &str| {
        value(
            &text,
            &format!(
                "llm_incident_manager_grpc_requests_total{{service=\"incident.v1.IncidentService\",method=\"CreateIncident\",status=\"{status}\"}}"
            ),
        )
    };
    assert_eq!(series("OUT_OF_RANGE"), 2.0, "{text}");
    assert_eq!(series("OK"), 2.0, "{text}");
    assert_intact(&app, &seeded, 2).await;
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_grpc_limit_is_one_mebibyte() {
    let app = start(hostile_config("")).await;
    let mut client = grpc_connect(&app).await;
    let refused = client
        .create_incident(grpc_incident("too big", "d".repeat(1024 * 1024 + 1)))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::OutOfRange, "{refused:?}");
    let (status, _) = get_json(&format!("{}/api/v1/incidents", base(&app))).await;
    assert_eq!(status, StatusCode::OK);
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_obey_the_same_grpc_limit() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    let app = start(hostile_config("grpc_max_message_bytes = 65536")).await;
    let mut health = HealthClient::new(grpc_channel(&app).await);
    let refused = health
        .check(HealthCheckRequest {
            service: "s".repeat(65 * 1024),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::OutOfRange, "{refused:?}");
    // A real check on the same channel is still answered.
    let serving = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        serving.status,
        i32::from(tonic_health::pb::health_check_response::ServingStatus::Serving)
    );
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_header_count_limit_is_enforced() {
    let app = start(hostile_config("max_headers = 10")).await;
    let request = |count: usize| {
        // `Host` and `Connection` count too.
        let mut request = b"GET /api/v1/incidents HTTP/1.1\r\nHost: test\r\n".to_vec();
        for i in 0..count - 2 {
            request.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
        }
        request.extend_from_slice(b"Connection: close\r\n\r\n");
        request
    };
    assert_eq!(raw(app.http_addr(), request(10)).await.status(), Some(200));
    assert_eq!(raw(app.http_addr(), request(11)).await.status(), Some(431));
    health_ok(&app).await;
    app.shutdown().await.unwrap();
}

/// Reads one keep-alive response (head and `Content-Length` body) from
/// `stream`, for at most `within`; `None` when nothing at all arrived.
async fn read_response(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let deadline = tokio::time::Instant::now() + within;
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(at) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&bytes[..at]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if bytes.len() >= at + 4 + length {
                return Some(String::from_utf8_lossy(&bytes).into_owned());
            }
        }
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => bytes.extend_from_slice(&buf[..n]),
            Ok(_) => panic!("closed early: {:?}", String::from_utf8_lossy(&bytes)),
            Err(_) if bytes.is_empty() => return None,
            Err(_) => panic!("half an answer: {:?}", String::from_utf8_lossy(&bytes)),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_connections_a_new_client_waits_until_a_connection_closes() {
    // A long header timeout: the held connections must not time out here.
    let app = start(config(
        "[limits]\nmax_connections = 2\nheader_read_timeout_ms = 30000",
    ))
    .await;
    let addr = app.http_addr();
    let get = b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n";

    // Two keep-alive connections, answered once each and kept open.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(get).await.unwrap();
        let answer = read_response(&mut stream, Duration::from_secs(10)).await;
        assert!(answer.unwrap().starts_with("HTTP/1.1 200"));
        held.push(stream);
    }

    // A third: the kernel completes its handshake, the service does not
    // take it while both slots are held.
    let mut third = TcpStream::connect(addr).await.unwrap();
    third.write_all(get).await.unwrap();
    assert_eq!(
        read_response(&mut third, Duration::from_millis(500)).await,
        None,
        "served past max_connections"
    );

    // One held connection closes: the third is taken and answered.
    drop(held.remove(0));
    let answer = read_response(&mut third, Duration::from_secs(10)).await;
    assert!(answer.unwrap().starts_with("HTTP/1.1 200"));
    // The other held connection still works.
    held[0].write_all(get).await.unwrap();
    let answer = read_response(&mut held[0], Duration::from_secs(10)).await;
    assert!(answer.unwrap().starts_with("HTTP/1.1 200"));
    app.shutdown().await.unwrap();
}

#[test]
fn max_connections_out_of_range_is_refused_with_the_key() {
    for bad in ["0", "1048577"] {
        let e = llm_incident_manager::Config::from_toml_str(&format!(
            "[limits]\nmax_connections = {bad}\n"
        ))
        .and_then(|c| c.validate().map(|()| c))
        .unwrap_err();
        assert!(e.to_string().contains("limits.max_connections"), "{e}");
    }
}
