//! The layer where the docs mount it on tonic: once on `Server::builder()`
//! in front of several services (the echo service, health and reflection),
//! and on a client channel. Every call is counted once on each side, under
//! its service and method, with the code the client saw: calls to an
//! unknown service, an unknown method and a malformed path (under
//! `other`/`other`) as `UNIMPLEMENTED`, none lost.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::Harness;
use http::uri::PathAndQuery;
use incident_metrics_grpc_testproto::TestEcho;
use incident_metrics_grpc_testproto::echo::echo_server::EchoServer;
use incident_metrics_grpc_testproto::echo::{EchoReply, EchoRequest};
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

/// The echo service, health and reflection, as a service mounts them.
fn routes() -> tonic::service::Routes {
    let (_reporter, health) = tonic_health::server::health_reporter();
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .unwrap();
    let mut routes = tonic::service::RoutesBuilder::default();
    routes
        .add_service(health)
        .add_service(reflection)
        .add_service(EchoServer::new(TestEcho));
    routes.routes()
}

/// A unary echo call to any path, through the measured channel.
async fn call(h: &Harness, path: &'static str) -> Result<EchoReply, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(h.channel().await);
    grpc.ready().await.unwrap();
    let request = tonic::Request::new(EchoRequest {
        text: "ok".into(),
        count: 0,
    });
    grpc.unary(
        request,
        PathAndQuery::from_static(path),
        tonic_prost::ProstCodec::<EchoRequest, EchoReply>::default(),
    )
    .await
    .map(tonic::Response::into_inner)
}

/// Every sample of `family` (after the prefix), as `{labels} value`, sorted.
fn samples(h: &Harness, family: &str) -> Vec<String> {
    let prefix = format!("llm_incident_manager_{family}{{");
    let mut lines: Vec<String> = h
        .text()
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(|l| format!("{{{l}"))
        .collect();
    lines.sort();
    lines
}

/// What both sides record for the calls of the test, sorted.
const CALLS: &[(&str, &str, &str, u32)] = &[
    ("grpc.health.v1.Health", "Check", "NOT_FOUND", 1),
    ("grpc.health.v1.Health", "Check", "OK", 1),
    (
        "grpc.reflection.v1.ServerReflection",
        "ServerReflectionInfo",
        "OK",
        1,
    ),
    ("other", "other", "UNIMPLEMENTED", 1),
    ("test.echo.v1.Echo", "Nope", "UNIMPLEMENTED", 1),
    ("test.echo.v1.Echo", "ServerStream", "OK", 1),
    ("test.echo.v1.Echo", "Unary", "NOT_FOUND", 1),
    ("test.echo.v1.Echo", "Unary", "OK", 3),
    ("test.echo.v1.Nope", "Unary", "UNIMPLEMENTED", 1),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_server_layer_and_a_client_layer_count_every_call_once() {
    let h = Harness::start_with(routes()).await;

    // The echo service: unary calls, a failure, a server stream.
    let mut echo = h.client().await;
    for _ in 0..3 {
        let request = EchoRequest {
            text: "ok".into(),
            count: 0,
        };
        assert_eq!(echo.unary(request).await.unwrap().into_inner().text, "ok");
    }
    let request = EchoRequest {
        text: "not_found".into(),
        count: 0,
    };
    assert_eq!(
        echo.unary(request).await.unwrap_err().code(),
        Code::NotFound
    );
    let request = EchoRequest {
        text: "s".into(),
        count: 2,
    };
    let mut stream = echo.server_stream(request).await.unwrap().into_inner();
    let mut replies = 0;
    while stream.message().await.unwrap().is_some() {
        replies += 1;
    }
    assert_eq!(replies, 2);

    // Health beside it: the server as a whole, and a service it does not know.
    let mut health = HealthClient::new(h.channel().await);
    let check = |service: &str| HealthCheckRequest {
        service: service.to_owned(),
    };
    assert_eq!(
        health.check(check("")).await.unwrap().into_inner().status,
        1
    );
    let unknown = health.check(check("test.echo.v1.Nope")).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);

    // Reflection beside it: a bidirectional stream, read to its end.
    let mut reflection = ServerReflectionClient::new(h.channel().await);
    let list = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection
        .server_reflection_info(tokio_stream::iter([list]))
        .await
        .unwrap()
        .into_inner();
    let mut services = Vec::new();
    while let Some(answer) = answers.message().await.unwrap() {
        if let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response {
            services.extend(list.service.into_iter().map(|s| s.name));
        }
    }
    assert!(
        services.contains(&"grpc.health.v1.Health".to_owned()),
        "{services:?}"
    );

    // An unknown service, an unknown method, a malformed path: tonic answers
    // UNIMPLEMENTED from behind the layer, and the layer counts them.
    for path in [
        "/test.echo.v1.Nope/Unary",
        "/test.echo.v1.Echo/Nope",
        "/nope",
    ] {
        assert_eq!(
            call(&h, path).await.unwrap_err().code(),
            Code::Unimplemented,
            "{path}"
        );
    }

    // The server records a call when its answer ends: wait (bounded) for
    // each, then compare the whole families, server and client.
    for &(service, method, status, n) in CALLS {
        let labels = format!("service=\"{service}\",method=\"{method}\",status=\"{status}\"");
        h.wait_for("grpc_requests_total", &labels, f64::from(n))
            .await;
        h.wait_for("grpc_client_requests_total", &labels, f64::from(n))
            .await;
    }
    let expected: Vec<String> = CALLS
        .iter()
        .map(|(service, method, status, n)| {
            format!("{{service=\"{service}\",method=\"{method}\",status=\"{status}\"}} {n}")
        })
        .collect();
    assert_eq!(samples(&h, "grpc_requests_total"), expected);
    assert_eq!(samples(&h, "grpc_client_requests_total"), expected);

    // Started equals handled, per method, on both sides; nothing in progress.
    let mut started: Vec<(String, u32)> = Vec::new();
    for &(service, method, _, n) in CALLS {
        let labels = format!("{{service=\"{service}\",method=\"{method}\"}}");
        match started.iter_mut().find(|(l, _)| *l == labels) {
            Some((_, total)) => *total += n,
            None => started.push((labels, n)),
        }
    }
    let mut started: Vec<String> = started.iter().map(|(l, n)| format!("{l} {n}")).collect();
    started.sort();
    assert_eq!(samples(&h, "grpc_requests_started_total"), started);
    assert_eq!(samples(&h, "grpc_client_requests_started_total"), started);
    for line in samples(&h, "grpc_streams_active") {
        assert!(line.ends_with(" 0"), "{line}");
    }
}
