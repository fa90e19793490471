//! Unary calls through a real tonic server and client: exact counts per
//! status, on both sides, and an exposition promtool accepts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Harness, method, promtool_check, status};
use incident_metrics_grpc_testproto::echo::EchoRequest;

fn request(text: &str) -> EchoRequest {
    EchoRequest {
        text: text.to_owned(),
        count: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unary_ok_not_found_invalid_argument_are_counted_exactly() {
    let h = Harness::start().await;
    let mut client = h.client().await;

    for _ in 0..3 {
        client.unary(request("ok")).await.unwrap();
    }
    for _ in 0..2 {
        let err = client.unary(request("not_found")).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::NotFound);
    }
    let err = client.unary(request("invalid")).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);

    for (side, prefix) in [
        ("server", "grpc_requests_total"),
        ("client", "grpc_client_requests_total"),
    ] {
        assert_eq!(h.value(prefix, &status("Unary", "OK")), 3.0, "{side}");
        assert_eq!(
            h.value(prefix, &status("Unary", "NOT_FOUND")),
            2.0,
            "{side}"
        );
        assert_eq!(
            h.value(prefix, &status("Unary", "INVALID_ARGUMENT")),
            1.0,
            "{side}"
        );
    }
    let m = method("Unary");
    // The server's count is recorded when its response stream ends, which
    // the client may see a moment before; everything else is exact at once.
    h.wait_for("grpc_streams_active", &m, 0.0).await;
    assert_eq!(h.value("grpc_requests_started_total", &m), 6.0);
    assert_eq!(h.value("grpc_client_requests_started_total", &m), 6.0);
    assert_eq!(h.value("grpc_request_duration_seconds_count", &m), 6.0);
    assert_eq!(
        h.value("grpc_client_request_duration_seconds_count", &m),
        6.0
    );
    assert_eq!(h.value("grpc_messages_received_total", &m), 6.0);
    assert_eq!(h.value("grpc_client_messages_sent_total", &m), 6.0);
    // Only the successful calls answer with a message.
    assert_eq!(h.value("grpc_messages_sent_total", &m), 3.0);
    assert_eq!(h.value("grpc_client_messages_received_total", &m), 3.0);

    let text = h.text();
    assert!(!text.contains("status=\"CANCELLED\""), "{text}");
    promtool_check(&h.prometheus_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_method_is_unimplemented_under_its_name() {
    // A path the server does not serve: tonic answers UNIMPLEMENTED
    // (trailers-only); the names are valid, so they are kept.
    let h = Harness::start().await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", h.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let codec = tonic_prost::ProstCodec::<EchoRequest, EchoRequest>::default();
    let path = http::uri::PathAndQuery::from_static("/test.echo.v1.Echo/Missing");
    let err = grpc
        .unary(tonic::Request::new(request("ok")), path, codec)
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented);
    h.wait_for(
        "grpc_requests_total",
        &status("Missing", "UNIMPLEMENTED"),
        1.0,
    )
    .await;
    assert_eq!(h.value("grpc_streams_active", &method("Missing")), 0.0);
}
