//! Streaming calls: the duration and the active-streams gauge run to the end
//! of the stream, cancelled streams are counted as `CANCELLED` and release
//! the gauge, and messages are counted per direction.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Harness, method, status};
use incident_metrics_grpc_testproto::echo::EchoRequest;
use tokio_stream::StreamExt;

fn request(count: u32) -> EchoRequest {
    EchoRequest {
        text: "s".to_owned(),
        count,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_stream_to_the_end() {
    let h = Harness::start().await;
    let mut client = h.client().await;
    let mut stream = client.server_stream(request(5)).await.unwrap().into_inner();
    let m = method("ServerStream");
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first.index, 0);
    let mut n = 1;
    while let Some(reply) = stream.next().await {
        reply.unwrap();
        n += 1;
    }
    assert_eq!(n, 5);
    h.wait_for("grpc_streams_active", &m, 0.0).await;
    assert_eq!(
        h.value("grpc_requests_total", &status("ServerStream", "OK")),
        1.0
    );
    assert_eq!(
        h.value("grpc_client_requests_total", &status("ServerStream", "OK")),
        1.0
    );
    assert_eq!(h.value("grpc_request_duration_seconds_count", &m), 1.0);
    assert_eq!(
        h.value("grpc_client_request_duration_seconds_count", &m),
        1.0
    );
    assert_eq!(h.value("grpc_messages_sent_total", &m), 5.0);
    assert_eq!(h.value("grpc_client_messages_received_total", &m), 5.0);
    assert_eq!(h.value("grpc_messages_received_total", &m), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_cancelled_server_streams_return_the_gauge_to_zero() {
    const STREAMS: usize = 50;
    let h = Harness::start().await;
    let mut client = h.client().await;
    let m = method("ServerStream");
    let mut open = Vec::new();
    for _ in 0..STREAMS {
        // count 0: one reply, then the stream stays open forever.
        let mut stream = client.server_stream(request(0)).await.unwrap().into_inner();
        stream.next().await.unwrap().unwrap();
        open.push(stream);
    }
    assert_eq!(h.value("grpc_streams_active", &m), STREAMS as f64);
    drop(open);
    h.wait_for("grpc_streams_active", &m, 0.0).await;
    let cancelled = status("ServerStream", "CANCELLED");
    h.wait_for("grpc_requests_total", &cancelled, STREAMS as f64)
        .await;
    assert_eq!(
        h.value("grpc_client_requests_total", &cancelled),
        STREAMS as f64
    );
    assert_eq!(h.value("grpc_requests_started_total", &m), STREAMS as f64);
    assert_eq!(
        h.value("grpc_request_duration_seconds_count", &m),
        STREAMS as f64
    );
    assert_eq!(h.value("grpc_messages_sent_total", &m), STREAMS as f64);
    assert_eq!(
        h.value("grpc_client_messages_received_total", &m),
        STREAMS as f64
    );
    let text = h.text();
    assert!(!text.contains("ServerStream\",status=\"OK\""), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_stream_counts_each_message() {
    let h = Harness::start().await;
    let mut client = h.client().await;
    let requests = tokio_stream::iter((0..7).map(request));
    let reply = client.client_stream(requests).await.unwrap().into_inner();
    assert_eq!(reply.index, 7);
    let m = method("ClientStream");
    h.wait_for("grpc_streams_active", &m, 0.0).await;
    assert_eq!(
        h.value("grpc_requests_total", &status("ClientStream", "OK")),
        1.0
    );
    assert_eq!(
        h.value("grpc_client_requests_total", &status("ClientStream", "OK")),
        1.0
    );
    assert_eq!(h.value("grpc_messages_received_total", &m), 7.0);
    assert_eq!(h.value("grpc_client_messages_sent_total", &m), 7.0);
    assert_eq!(h.value("grpc_messages_sent_total", &m), 1.0);
    assert_eq!(h.value("grpc_client_messages_received_total", &m), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bidi_stream_counts_both_directions() {
    let h = Harness::start().await;
    let mut client = h.client().await;
    let requests = tokio_stream::iter((0..4).map(request));
    let mut replies = client.bidi_stream(requests).await.unwrap().into_inner();
    let mut n = 0;
    while let Some(reply) = replies.next().await {
        reply.unwrap();
        n += 1;
    }
    assert_eq!(n, 4);
    let m = method("BidiStream");
    h.wait_for("grpc_streams_active", &m, 0.0).await;
    assert_eq!(
        h.value("grpc_requests_total", &status("BidiStream", "OK")),
        1.0
    );
    assert_eq!(h.value("grpc_messages_received_total", &m), 4.0);
    assert_eq!(h.value("grpc_messages_sent_total", &m), 4.0);
    assert_eq!(h.value("grpc_client_messages_sent_total", &m), 4.0);
    assert_eq!(h.value("grpc_client_messages_received_total", &m), 4.0);
}
