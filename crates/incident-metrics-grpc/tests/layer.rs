//! The layer driven in-process through `ServiceBuilder` + `service_fn`:
//! fallback labels, status classification, drops and framing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::convert::Infallible;
use std::task::Poll;

use common::{FramesBody, drain, poll_once, sample};
use http::{Request, Response, StatusCode};
use incident_metrics_catalog::test_util::TestMetrics;
use incident_metrics_core::{MetricsConfig, OVERFLOW_VALUE};
use incident_metrics_grpc::{GrpcMetricsLayer, RequestBody};
use proptest::prelude::*;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

fn registry(config: &MetricsConfig) -> TestMetrics {
    TestMetrics::new(config).unwrap()
}

fn text(registry: &TestMetrics) -> String {
    let mut text = String::new();
    incident_metrics_core::prometheus_client::encoding::text::encode(
        &mut text,
        registry.registry().as_prometheus(),
    )
    .unwrap();
    text
}

fn request(path: &str) -> Request<FramesBody> {
    Request::builder()
        .uri(path)
        .body(FramesBody::grpc(&[3], &[], None))
        .unwrap()
}

/// Runs one call whose answer `respond` builds; drains the response body.
fn call(registry: &TestMetrics, path: &str, respond: impl Fn() -> Response<FramesBody> + Clone) {
    let svc = ServiceBuilder::new()
        .layer(GrpcMetricsLayer::server(registry.catalog()))
        .service(service_fn(
            move |mut req: Request<RequestBody<FramesBody>>| {
                let respond = respond.clone();
                async move {
                    drain(req.body_mut());
                    Ok::<_, Infallible>(respond())
                }
            },
        ));
    let mut fut = Box::pin(svc.oneshot(request(path)));
    let Poll::Ready(Ok(mut response)) = poll_once(&mut fut) else {
        panic!("not ready");
    };
    drain(response.body_mut());
}

fn ok_answer() -> Response<FramesBody> {
    Response::new(FramesBody::grpc(&[1, 2], &[], Some(0)))
}

#[test]
fn malformed_paths_are_folded_into_other_and_counted() {
    let r = registry(&MetricsConfig::new());
    let bad = [
        "/",
        "/no-slash",
        "/a.b/c.d",
        "/a..b/c",
        "/svc/method/extra",
        "/svc/",
        "/%20/x",
    ];
    for path in bad {
        call(&r, path, ok_answer);
    }
    let t = text(&r);
    let labels = format!("service=\"{OVERFLOW_VALUE}\",method=\"{OVERFLOW_VALUE}\",status=\"OK\"");
    assert_eq!(
        sample(&t, "grpc_requests_total", &labels),
        bad.len() as f64,
        "{t}"
    );
    // Each call folded is counted in the one fold counter.
    assert_eq!(
        sample(&t, "label_values_folded_total", "label=\"grpc_method\""),
        bad.len() as f64,
        "{t}"
    );
    // No other series was created.
    assert_eq!(
        t.matches("llm_incident_manager_grpc_requests_total{")
            .count(),
        1,
        "{t}"
    );
}

#[test]
fn http_failures_map_as_the_grpc_spec_says() {
    let r = registry(&MetricsConfig::new());
    for (http_status, code) in [
        (503, "UNAVAILABLE"),
        (404, "UNIMPLEMENTED"),
        (401, "UNAUTHENTICATED"),
        (500, "UNKNOWN"),
    ] {
        call(&r, "/pkg.Svc/Http", move || {
            let mut response = Response::new(FramesBody::default());
            *response.status_mut() = StatusCode::from_u16(http_status).unwrap();
            response
        });
        let t = text(&r);
        let labels = format!("service=\"pkg.Svc\",method=\"Http\",status=\"{code}\"");
        assert_eq!(
            sample(&t, "grpc_requests_total", &labels),
            1.0,
            "{http_status}: {t}"
        );
    }
}

#[test]
fn trailers_only_answers_and_trailers_give_the_status() {
    let r = registry(&MetricsConfig::new());
    call(&r, "/pkg.Svc/M", || {
        let mut response = Response::new(FramesBody::default());
        response
            .headers_mut()
            .insert("grpc-status", http::HeaderValue::from_static("5"));
        response
    });
    call(&r, "/pkg.Svc/M", || {
        Response::new(FramesBody::grpc(&[4], &[], Some(7)))
    });
    // A body that ends without grpc-status is a protocol error.
    call(&r, "/pkg.Svc/M", || {
        Response::new(FramesBody::grpc(&[4], &[], None))
    });
    let t = text(&r);
    let s = |code: &str| {
        sample(
            &t,
            "grpc_requests_total",
            &format!("service=\"pkg.Svc\",method=\"M\",status=\"{code}\""),
        )
    };
    assert_eq!(s("NOT_FOUND"), 1.0, "{t}");
    assert_eq!(s("PERMISSION_DENIED"), 1.0, "{t}");
    assert_eq!(s("INTERNAL"), 1.0, "{t}");
    let m = "service=\"pkg.Svc\",method=\"M\"";
    assert_eq!(sample(&t, "grpc_streams_active", m), 0.0);
    assert_eq!(sample(&t, "grpc_messages_sent_total", m), 2.0);
    assert_eq!(sample(&t, "grpc_messages_received_total", m), 3.0);
}

#[test]
fn inner_errors_are_unknown_and_drops_are_cancelled() {
    let r = registry(&MetricsConfig::new());
    let layer = GrpcMetricsLayer::server(r.catalog());
    let m = "service=\"pkg.Svc\",method=\"M\"";
    let status = |code: &str| format!("{m},status=\"{code}\"");

    // The inner service fails.
    let mut failing = ServiceBuilder::new()
        .layer(layer.clone())
        .service(service_fn(|_req: Request<RequestBody<FramesBody>>| async {
            Err::<Response<FramesBody>, _>("transport broke")
        }));
    let mut fut = Box::pin(failing.call(request("/pkg.Svc/M")));
    assert!(matches!(poll_once(&mut fut), Poll::Ready(Err(_))));
    assert_eq!(
        sample(&text(&r), "grpc_requests_total", &status("UNKNOWN")),
        1.0
    );

    // The future is dropped before the answer.
    let mut pending = ServiceBuilder::new()
        .layer(layer.clone())
        .service(service_fn(|_req: Request<RequestBody<FramesBody>>| {
            std::future::pending::<Result<Response<FramesBody>, Infallible>>()
        }));
    let mut fut = Box::pin(pending.call(request("/pkg.Svc/M")));
    assert!(poll_once(&mut fut).is_pending());
    assert_eq!(sample(&text(&r), "grpc_streams_active", m), 1.0);
    drop(fut);
    assert_eq!(sample(&text(&r), "grpc_streams_active", m), 0.0);
    assert_eq!(
        sample(&text(&r), "grpc_requests_total", &status("CANCELLED")),
        1.0
    );

    // The response body is dropped before its end.
    let mut streaming = ServiceBuilder::new().layer(layer).service(service_fn(
        |_req: Request<RequestBody<FramesBody>>| async {
            Ok::<_, Infallible>(Response::new(FramesBody::grpc(&[1, 1, 1], &[], Some(0))))
        },
    ));
    let mut fut = Box::pin(streaming.call(request("/pkg.Svc/M")));
    let Poll::Ready(Ok(response)) = poll_once(&mut fut) else {
        panic!("not ready");
    };
    assert_eq!(sample(&text(&r), "grpc_streams_active", m), 1.0);
    drop(response);
    let t = text(&r);
    assert_eq!(sample(&t, "grpc_streams_active", m), 0.0);
    assert_eq!(sample(&t, "grpc_requests_total", &status("CANCELLED")), 2.0);
    assert_eq!(sample(&t, "grpc_requests_total", &status("OK")), 0.0);
    assert_eq!(sample(&t, "grpc_requests_started_total", m), 3.0);
    assert_eq!(sample(&t, "grpc_request_duration_seconds_count", m), 3.0);
}

#[test]
fn disabled_config_records_nothing_and_sampling_spares_counts() {
    let r = registry(&MetricsConfig::new().with_enabled(false));
    call(&r, "/pkg.Svc/M", ok_answer);
    assert!(!text(&r).contains("method=\"M\""));

    let r = registry(&MetricsConfig::new().with_sample_rate(0.0));
    for _ in 0..5 {
        call(&r, "/pkg.Svc/M", ok_answer);
    }
    let t = text(&r);
    let m = "service=\"pkg.Svc\",method=\"M\"";
    assert_eq!(
        sample(&t, "grpc_requests_total", &format!("{m},status=\"OK\"")),
        5.0
    );
    assert_eq!(sample(&t, "grpc_request_duration_seconds_count", m), 0.0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn messages_split_anyhow_across_frames_are_counted_exactly(
        sizes in proptest::collection::vec(0usize..300, 0..12),
        cuts in proptest::collection::vec(0usize..4000, 0..20),
    ) {
        let r = registry(&MetricsConfig::new());
        let mut cuts = cuts;
        cuts.sort_unstable();
        let (s, c) = (sizes.clone(), cuts.clone());
        call(&r, "/pkg.Svc/Split", move || Response::new(FramesBody::grpc(&s, &c, Some(0))));
        let t = text(&r);
        let m = "service=\"pkg.Svc\",method=\"Split\"";
        prop_assert_eq!(sample(&t, "grpc_messages_sent_total", m), sizes.len() as f64);
        prop_assert_eq!(sample(&t, "grpc_requests_total", &format!("{m},status=\"OK\"")), 1.0);
    }
}
