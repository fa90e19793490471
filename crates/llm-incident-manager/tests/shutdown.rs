//! Graceful shutdown: the built binary prints its two lines, serves, and
//! exits 0 on SIGINT and SIGTERM; in-flight requests finish first.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::*;
use http::StatusCode;
use serde_json::json;

/// Starts the binary on ephemeral ports and reads its two `listening on`
/// lines.
fn spawn_default() -> (ChildGuard, SocketAddr, SocketAddr) {
    let (guard, lines) = spawn_binary(
        &["--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0"],
        &[],
        2,
    );
    let http = listening(&lines[0], "http");
    let grpc = listening(&lines[1], "grpc");
    (guard, http, grpc)
}

fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_exit(guard: &mut ChildGuard, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = guard.0.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the service did not exit in time"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

async fn binary_exits_zero_on(sig: &str) {
    // Both lines announce a parseable address (`listening` checks).
    let (mut guard, http, _grpc) = spawn_default();
    let body = json!({"title": "from the binary", "severity": "critical", "source": "bin"});
    let (status, _) = post_json(
        &format!("http://{http}/api/v1/incidents"),
        &body.to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let text = scrape(http).await;
    assert_eq!(
        value(
            &text,
            "llm_incident_manager_incidents_total{severity=\"critical\",status=\"open\"}"
        ),
        1.0
    );
    signal(&guard.0, sig);
    let status = wait_exit(&mut guard, Duration::from_secs(20));
    assert_eq!(status.code(), Some(0), "exit status {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_exits_zero_on_sigint() {
    binary_exits_zero_on("-INT").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_exits_zero_on_sigterm() {
    binary_exits_zero_on("-TERM").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_requests_finish_and_new_connections_are_refused() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = start(config("")).await;
    let http_addr = app.http_addr();
    // A create whose body is half sent when the shutdown starts.
    let body = json!({"title": "in flight", "severity": "low", "source": "s"}).to_string();
    let (first, rest) = body.split_at(body.len() / 2);
    let mut client = tokio::net::TcpStream::connect(http_addr).await.unwrap();
    client
        .write_all(
            format!(
                "POST /api/v1/incidents HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\n\r\n{first}",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    // The server has the request in hand before the shutdown starts.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let handle = app.shutdown_handle();
    let stopped = tokio::spawn(app.wait());
    handle.trigger();
    // New connections are refused once the listener is closed.
    let refused = eventually(Duration::from_secs(10), || async move {
        tokio::net::TcpStream::connect(http_addr).await.is_err()
    })
    .await;
    assert!(refused, "the listener still accepts after shutdown");
    client.write_all(rest.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), client.read_to_end(&mut answer))
        .await
        .expect("in-flight request cut")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    tokio::time::timeout(Duration::from_secs(15), stopped)
        .await
        .expect("shutdown timed out")
        .unwrap()
        .unwrap();
}
