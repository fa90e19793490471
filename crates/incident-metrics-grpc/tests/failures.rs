//! A handler that panics and a deadline that passes, through a real server
//! and client: each call is counted once, with an honest status.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Harness, method, status};
use incident_metrics_grpc_testproto::echo::EchoRequest;

fn request(text: &str) -> EchoRequest {
    EchoRequest {
        text: text.to_owned(),
        count: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_is_counted_once_as_internal() {
    let h = Harness::start().await;
    let mut client = h.client().await;
    // tonic has no catch-panic layer here: the stream is reset, and the
    // client sees CANCELLED (RST_STREAM CANCEL).
    let err = client.unary(request("panic")).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Cancelled, "{err:?}");
    let m = method("Unary");
    h.wait_for("grpc_streams_active", &m, 0.0).await;
    // The server records the panic as INTERNAL, once.
    assert_eq!(
        h.value("grpc_requests_total", &status("Unary", "INTERNAL")),
        1.0
    );
    assert_eq!(
        h.value("grpc_requests_total", &status("Unary", "CANCELLED")),
        0.0
    );
    assert_eq!(h.value("grpc_request_duration_seconds_count", &m), 1.0);
    // The client records the failed transport as UNKNOWN (no answer, no
    // status; reading the RST_STREAM reason would take the h2 types).
    let text = h.text();
    let client_total: f64 = ["OK", "CANCELLED", "UNKNOWN", "INTERNAL", "UNAVAILABLE"]
        .iter()
        .map(|s| common::sample(&text, "grpc_client_requests_total", &status("Unary", s)))
        .sum();
    assert_eq!(client_total, 1.0, "{text}");
    assert_eq!(
        h.value("grpc_client_requests_total", &status("Unary", "UNKNOWN")),
        1.0,
        "{text}"
    );

    // The server goes on serving.
    client.unary(request("ok")).await.unwrap();
    assert_eq!(h.value("grpc_requests_total", &status("Unary", "OK")), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passed_deadline_is_deadline_exceeded() {
    let h = Harness::start().await;
    let mut client = h.client().await;
    let mut req = tonic::Request::new(request("hang"));
    req.set_timeout(Duration::from_millis(50));
    let err = client.unary(req).await.unwrap_err();
    // tonic reports the deadline (its channel enforces grpc-timeout too) as
    // CANCELLED ...
    assert_eq!(err.code(), tonic::Code::Cancelled, "{err:?}");
    let m = method("Unary");
    h.wait_for("grpc_streams_active", &m, 0.0).await;
    // ... which the client layer, whose own timer fired, records as the gRPC
    // spec names it. The server layer judges by its own clock, started when
    // the request arrived: the client's reset and the server's deadline come
    // within one transit time of each other, so the server records one
    // terminal status, DEADLINE_EXCEEDED or (when the reset wins) CANCELLED.
    let text = h.text();
    let server_exceeded = h.value("grpc_requests_total", &status("Unary", "DEADLINE_EXCEEDED"));
    let server_cancelled = h.value("grpc_requests_total", &status("Unary", "CANCELLED"));
    assert_eq!(server_exceeded + server_cancelled, 1.0, "{text}");
    assert_eq!(
        h.value(
            "grpc_client_requests_total",
            &status("Unary", "DEADLINE_EXCEEDED")
        ),
        1.0,
        "{}",
        h.text()
    );
    assert_eq!(h.value("grpc_requests_started_total", &m), 1.0);
    assert!(
        h.value("grpc_client_requests_total", &status("Unary", "CANCELLED")) == 0.0,
        "{text}"
    );
}
