//! Zero allocations per unary call in the layer, in steady state: the
//! request, the inner service and the answer are built outside the count.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::convert::Infallible;
use std::task::Poll;

use common::{FramesBody, drain, poll_once};
use http::{Request, Response};
use incident_metrics_catalog::test_util::TestMetrics;
use incident_metrics_core::MetricsConfig;
use incident_metrics_grpc::{GrpcMetricsLayer, RequestBody};
use tower::{Layer, Service};

fn inner(
    mut req: Request<RequestBody<FramesBody>>,
) -> std::future::Ready<Result<Response<FramesBody>, Infallible>> {
    // Reading the request body runs the layer's counting: measured.
    drain(req.body_mut());
    let mut response = None;
    allocation_counter::opt_out(|| {
        response = Some(Response::new(FramesBody::grpc(&[16], &[], Some(0))));
    });
    std::future::ready(Ok(response.unwrap()))
}

fn one_call<S>(svc: &mut S)
where
    S: Service<
            Request<FramesBody>,
            Response = Response<incident_metrics_grpc::ResponseBody<FramesBody>>,
        >,
    S::Future: Unpin,
    S::Error: std::fmt::Debug,
{
    let mut req = None;
    allocation_counter::opt_out(|| {
        let mut r = Request::builder()
            .uri("/incident.v1.IncidentService/CreateIncident")
            .body(FramesBody::grpc(&[32], &[], None))
            .unwrap();
        r.headers_mut()
            .insert("grpc-timeout", http::HeaderValue::from_static("5S"));
        req = Some(r);
    });
    let mut fut = svc.call(req.unwrap());
    let Poll::Ready(Ok(mut response)) = poll_once(&mut fut) else {
        panic!("not ready");
    };
    drain(response.body_mut());
    drop(response);
}

#[test]
fn a_unary_call_allocates_nothing_in_the_layer() {
    let registry = TestMetrics::new(&MetricsConfig::new()).unwrap();
    let layer = GrpcMetricsLayer::server(registry.catalog());
    let mut svc = layer.layer(tower::service_fn(inner));

    // The first call resolves the method's handles and the OK series; the
    // clock calibrates once.
    for _ in 0..3 {
        one_call(&mut svc);
    }
    let info = allocation_counter::measure(|| {
        for _ in 0..100 {
            one_call(&mut svc);
        }
    });
    assert_eq!(info.count_total, 0, "{info:?}");

    let mut text = String::new();
    incident_metrics_core::prometheus_client::encoding::text::encode(
        &mut text,
        registry.registry().as_prometheus(),
    )
    .unwrap();
    assert!(text.contains(
        "llm_incident_manager_grpc_requests_total{service=\"incident.v1.IncidentService\",\
         method=\"CreateIncident\",status=\"OK\"} 103\n"
    ));
    assert!(text.contains(
        "llm_incident_manager_grpc_messages_received_total{service=\"incident.v1.IncidentService\",\
         method=\"CreateIncident\"} 103\n"
    ));
}

#[test]
fn the_manual_guard_allocates_nothing_either() {
    let registry = TestMetrics::new(&MetricsConfig::new()).unwrap();
    let interceptor = incident_metrics_grpc::GrpcRequestMetrics::server(registry.catalog());
    interceptor.start_request("pkg.Svc", "M").success();
    let info = allocation_counter::measure(|| {
        for _ in 0..100 {
            interceptor.start_request("pkg.Svc", "M").success();
        }
    });
    assert_eq!(info.count_total, 0, "{info:?}");
}
