//! How the layer is mounted in axum, and what each composition counts: the
//! table in the crate docs (`incident_metrics_http`, "Where to put the
//! layer"), checked one row at a time.
//!
//! Every case drives the same mix of requests (matched routes, a `405`,
//! unmatched paths, a handler that panics, `/health` and `/metrics`) and
//! compares the whole `http_requests_total` family with what the docs
//! promise: every request under its template or `unmatched`; every request
//! under `unmatched` where a composition cannot see the template; and, for
//! the compositions that lose requests whatever the layer does, exactly the
//! documented loss.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::convert::Infallible;
use std::panic::AssertUnwindSafe;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use futures_util::FutureExt;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use incident_metrics_catalog::test_util::TestMetrics;
use incident_metrics_core::MetricsConfig;
use incident_metrics_http::{HttpMetricsLayer, RouteTemplates};
use tower::{Service, ServiceBuilder, ServiceExt};

/// One request of the mix and what the client saw (`None`: the handler
/// panicked and the panic reached the caller).
async fn send<S, B>(service: &S, method: &str, uri: &str) -> Option<u16>
where
    S: Service<Request<Body>, Response = Response<B>, Error = Infallible> + Clone,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    quiet_panics();
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    let response = AssertUnwindSafe(service.clone().oneshot(request))
        .catch_unwind()
        .await
        .ok()?
        .unwrap();
    let status = response.status().as_u16();
    response.into_body().collect().await.unwrap();
    Some(status)
}

/// Keeps the panics of `/boom` (on purpose) out of the test output; any
/// other panic is reported as usual.
fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let on_purpose = info
                .payload()
                .downcast_ref::<&str>()
                .is_some_and(|m| m.contains("(on purpose)"));
            if !on_purpose {
                report(info);
            }
        }));
    });
}

/// The mix every case is driven with: (method, path, what the client
/// sees), the same whatever the composition (`None`: a panic).
const MIX: &[(&str, &str, Option<u16>)] = &[
    ("GET", "/api/v1/incidents/1", Some(200)),
    ("GET", "/api/v1/incidents/2", Some(200)),
    ("GET", "/api/v1/incidents/3", Some(200)),
    ("POST", "/api/v1/incidents", Some(201)),
    ("DELETE", "/api/v1/incidents", Some(405)),
    ("GET", "/no/such/route", Some(404)),
    ("GET", "/api/v2/incidents", Some(404)),
    ("GET", "/boom", None),
    ("GET", "/health", Some(200)),
    ("GET", "/metrics", Some(200)),
];

/// Sends [`MIX`] once, checking what the client saw.
async fn drive<S, B>(service: &S)
where
    S: Service<Request<Body>, Response = Response<B>, Error = Infallible> + Clone,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    for &(method, uri, expected) in MIX {
        assert_eq!(send(service, method, uri).await, expected, "{method} {uri}");
    }
}

/// What a composition that sees every template records for [`MIX`]:
/// `/health` and `/metrics` are excluded by the configuration.
const EVERY_REQUEST: &[(&str, &str, &str, u64)] = &[
    ("DELETE", "/api/v1/incidents", "405", 1),
    ("GET", "/api/v1/incidents/{id}", "200", 3),
    ("GET", "/boom", "500", 1),
    ("GET", "unmatched", "404", 2),
    ("POST", "/api/v1/incidents", "201", 1),
];

/// Every series of `http_requests_total`, sorted: (method, path, status, count).
fn requests(registry: &TestMetrics) -> Vec<(String, String, String, u64)> {
    let text = common::render(registry);
    let label = |line: &str, name: &str| {
        let start = line.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        line[start..start + line[start..].find('"').unwrap()].to_owned()
    };
    let mut series: Vec<_> = text
        .lines()
        .filter(|l| l.starts_with("llm_incident_manager_http_requests_total{"))
        .map(|l| {
            (
                label(l, "method"),
                label(l, "path"),
                label(l, "status"),
                l.rsplit(' ').next().unwrap().parse().unwrap(),
            )
        })
        .collect();
    series.sort();
    series
}

/// Asserts the whole `http_requests_total` family, and that no request is
/// left in flight.
fn assert_counted(registry: &TestMetrics, expected: &[(&str, &str, &str, u64)]) {
    let mut expected: Vec<_> = expected
        .iter()
        .map(|&(m, p, s, n)| (m.to_owned(), p.to_owned(), s.to_owned(), n))
        .collect();
    expected.sort();
    assert_eq!(requests(registry), expected);
    let http = &registry.catalog().http;
    assert_eq!(http.connections_active.get(), 0);
    assert_eq!(http.requests_in_flight.get(), 0);
}

/// [`EVERY_REQUEST`] without the unmatched ones.
fn without_unmatched() -> Vec<(&'static str, &'static str, &'static str, u64)> {
    EVERY_REQUEST
        .iter()
        .copied()
        .filter(|&(_, path, _, _)| path != "unmatched")
        .collect()
}

fn registry() -> TestMetrics {
    common::registry(&MetricsConfig::new())
}

fn layer(registry: &TestMetrics) -> HttpMetricsLayer {
    HttpMetricsLayer::new(registry.catalog())
}

/// The incident routes of the mix.
fn incidents() -> Router {
    Router::new()
        .route("/api/v1/incidents/{id}", get(|| async { "incident" }))
        .route(
            "/api/v1/incidents",
            axum::routing::post(|| async { StatusCode::CREATED }),
        )
}

/// The other routes of the mix: a handler that panics, and `/health`.
fn others() -> Router {
    Router::new()
        .route(
            "/boom",
            get(|| async {
                if true {
                    panic!("handler panicked (on purpose)");
                }
            }),
        )
        .route("/health", get(|| async { "ok" }))
}

/// A stand-in for the exporter's `metrics_router`: one route at `/metrics`.
fn metrics_router() -> Router {
    Router::new().route("/metrics", get(|| async { "# EOF\n" }))
}

/// Every route of the mix in one router.
fn app() -> Router {
    incidents().merge(others())
}

#[tokio::test]
async fn layer_after_merge_counts_every_request() {
    let registry = registry();
    let router = app().merge(metrics_router()).layer(layer(&registry));
    drive(&router).await;
    assert_counted(&registry, EVERY_REQUEST);
}

#[tokio::test]
async fn merge_after_layer_loses_the_unmatched_requests_and_the_merged_routes() {
    let registry = registry();
    // The fallback that answers after `merge` is the merged router's, which
    // the layer never wrapped; so are the merged routes.
    let router = app()
        .layer(layer(&registry))
        .merge(metrics_router())
        .merge(Router::new().route("/late", get(|| async { "late" })));
    drive(&router).await;
    assert_eq!(send(&router, "GET", "/late").await, Some(200));
    assert_counted(&registry, &without_unmatched());
}

#[tokio::test]
async fn merging_a_layered_router_into_an_unlayered_one_counts_every_request() {
    // Not a composition to copy, but what axum does: the fallback of the
    // router merged last (both default) is kept, and that one is wrapped.
    let registry = registry();
    let router = metrics_router().merge(app().layer(layer(&registry)));
    drive(&router).await;
    assert_counted(&registry, EVERY_REQUEST);
}

#[tokio::test]
async fn nest_inside_the_layered_router_keeps_the_full_template() {
    let registry = registry();
    let api = Router::new()
        .route("/incidents/{id}", get(|| async { "incident" }))
        .route(
            "/incidents",
            axum::routing::post(|| async { StatusCode::CREATED }),
        );
    let router = Router::new()
        .nest("/api/v1", api)
        .merge(others())
        .merge(metrics_router())
        .layer(layer(&registry));
    drive(&router).await;
    assert_counted(&registry, EVERY_REQUEST);
}

#[tokio::test]
async fn a_layer_on_the_nested_router_only_counts_its_routes() {
    let registry = registry();
    let api = Router::new()
        .route("/incidents/{id}", get(|| async { "incident" }))
        .route(
            "/incidents",
            axum::routing::post(|| async { StatusCode::CREATED }),
        )
        .layer(layer(&registry));
    let router = Router::new()
        .nest("/api/v1", api)
        .merge(others())
        .merge(metrics_router());
    drive(&router).await;
    assert_counted(
        &registry,
        &[
            ("DELETE", "/api/v1/incidents", "405", 1),
            ("GET", "/api/v1/incidents/{id}", "200", 3),
            ("POST", "/api/v1/incidents", "201", 1),
        ],
    );
}

/// A service that is not an axum router, nested at `/files`.
fn files() -> impl Service<
    Request<Body>,
    Response = Response<Body>,
    Error = Infallible,
    Future = impl Send + 'static,
> + Clone
+ Send
+ Sync
+ 'static {
    tower::service_fn(|request: Request<Body>| async move {
        let status = if request.uri().path() == "/missing" {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::OK
        };
        Ok::<_, Infallible>(
            Response::builder()
                .status(status)
                .body(Body::from("file"))
                .unwrap(),
        )
    })
}

#[tokio::test]
async fn nest_service_counts_paths_under_the_prefix_as_unmatched() {
    let registry = registry();
    let router = app()
        .nest_service("/files", files())
        .merge(metrics_router())
        .layer(layer(&registry));
    drive(&router).await;
    // axum gives a nested service no `MatchedPath` below its prefix (only
    // the prefix itself is a route): counted, under `unmatched`.
    for uri in ["/files/a.txt", "/files/css/site.css", "/files/missing"] {
        assert!(send(&router, "GET", uri).await.is_some());
    }
    assert_eq!(send(&router, "GET", "/files").await, Some(200));
    let mut expected = EVERY_REQUEST.to_vec();
    expected.retain(|&(_, path, _, _)| path != "unmatched");
    expected.extend([
        ("GET", "unmatched", "404", 3),
        ("GET", "unmatched", "200", 2),
        ("GET", "/files", "200", 1),
    ]);
    assert_counted(&registry, &expected);
}

#[tokio::test]
async fn a_custom_fallback_is_counted_as_unmatched() {
    let registry = registry();
    let router = app()
        .fallback(|| async { (StatusCode::NOT_FOUND, "nothing here") })
        .merge(metrics_router())
        .layer(layer(&registry));
    drive(&router).await;
    assert_counted(&registry, EVERY_REQUEST);
}

#[tokio::test]
async fn a_fallback_service_is_counted_as_unmatched_with_its_status() {
    let registry = registry();
    // A fallback service that answers `200` to most paths, as a static file
    // server or a single-page app does: still `unmatched`, never the raw path.
    let router = app()
        .fallback_service(tower::service_fn(|request: Request<Body>| async move {
            let status = if request.uri().path().starts_with("/api/") {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::OK
            };
            Ok::<_, Infallible>((status, "index.html"))
        }))
        .merge(metrics_router())
        .layer(layer(&registry));
    for &(method, uri, expected) in MIX {
        let expected = if uri == "/no/such/route" {
            Some(200)
        } else {
            expected
        };
        assert_eq!(send(&router, method, uri).await, expected, "{uri}");
    }
    let mut expected = without_unmatched();
    expected.extend([
        ("GET", "unmatched", "200", 1),
        ("GET", "unmatched", "404", 1),
    ]);
    assert_counted(&registry, &expected);
}

#[tokio::test]
async fn a_fallback_set_after_the_layer_is_not_counted() {
    let registry = registry();
    let router = app()
        .merge(metrics_router())
        .layer(layer(&registry))
        .fallback(|| async { StatusCode::NOT_FOUND });
    drive(&router).await;
    assert_counted(&registry, &without_unmatched());
}

#[tokio::test]
async fn route_layer_counts_the_routes_and_their_405s_but_not_unmatched_requests() {
    let registry = registry();
    // `route_layer` wraps each route (its `405` answer included), never
    // the fallback: unmatched requests do not reach the layer.
    let router = app().merge(metrics_router()).route_layer(layer(&registry));
    drive(&router).await;
    assert_counted(&registry, &without_unmatched());
}

#[tokio::test]
async fn a_service_builder_around_the_router_counts_every_request_as_unmatched() {
    let registry = registry();
    // Outside the router no route has been matched yet: no template, so
    // every request is `unmatched`, and none is lost. Exclusions then go by
    // the raw path.
    let service = ServiceBuilder::new()
        .layer(layer(&registry))
        .service(app().merge(metrics_router()));
    drive(&service).await;
    assert_counted(
        &registry,
        &[
            ("DELETE", "unmatched", "405", 1),
            ("GET", "unmatched", "200", 3),
            ("GET", "unmatched", "404", 2),
            ("GET", "unmatched", "500", 1),
            ("POST", "unmatched", "201", 1),
        ],
    );
}

#[tokio::test]
async fn a_service_builder_with_route_templates_counts_every_request_by_template() {
    let registry = registry();
    let templates = RouteTemplates::new([
        "/api/v1/incidents",
        "/api/v1/incidents/{id}",
        "/boom",
        "/health",
        "/metrics",
    ]);
    let service = ServiceBuilder::new()
        .layer(layer(&registry).with_path_classifier(templates))
        .service(app().merge(metrics_router()));
    drive(&service).await;
    assert_counted(&registry, EVERY_REQUEST);
}

#[tokio::test]
async fn two_routers_each_with_its_own_layer_count_every_request_once() {
    let registry = registry();
    // Each route is wrapped once; the fallback kept by `merge` is that of
    // the router merged last, which is wrapped too.
    let router = incidents()
        .merge(metrics_router())
        .layer(layer(&registry))
        .merge(others().layer(layer(&registry)));
    drive(&router).await;
    assert_counted(&registry, EVERY_REQUEST);
}

#[tokio::test]
async fn a_second_layer_around_layered_routers_counts_every_request_twice() {
    let registry = registry();
    let router = incidents()
        .merge(metrics_router())
        .layer(layer(&registry))
        .merge(others().layer(layer(&registry)))
        .layer(layer(&registry));
    drive(&router).await;
    let twice: Vec<_> = EVERY_REQUEST
        .iter()
        .map(|&(m, p, s, n)| (m, p, s, 2 * n))
        .collect();
    assert_counted(&registry, &twice);
}
