//! [`HttpMetricsService`]: the middleware itself.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use crate::body::{RequestBody, ResponseBody};
use crate::future::ResponseFuture;
use crate::shared::Shared;

/// Records HTTP request metrics around an inner service; built by
/// [`HttpMetricsLayer`](crate::HttpMetricsLayer).
///
/// The inner service receives the request with its body wrapped in a
/// [`RequestBody`] and answers with any body, which is handed on wrapped in
/// a [`ResponseBody`]. Its error type is unchanged.
///
/// # Examples
///
/// A plain tower stack, the route named by a classifier:
///
/// ```
/// use http_body_util::{BodyExt, Full};
/// use incident_metrics_catalog::Catalog;
/// use incident_metrics_core::{MetricsConfig, Registry};
/// use incident_metrics_http::{HttpMetricsLayer, RequestBody, RouteTemplates};
/// use tower::{Layer, ServiceExt};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut registry = Registry::new(&MetricsConfig::new())?;
/// let catalog = Catalog::register(&mut registry)?;
/// let layer = HttpMetricsLayer::new(&catalog)
///     .with_path_classifier(RouteTemplates::new(["/users/{id}"]));
/// let service = layer.layer(tower::service_fn(
///     |_req: http::Request<RequestBody<Full<bytes::Bytes>>>| async {
///         Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(bytes::Bytes::from("hi"))))
///     },
/// ));
///
/// let runtime = tokio::runtime::Builder::new_current_thread().build()?;
/// let request = http::Request::get("/users/7").body(Full::new(bytes::Bytes::new()))?;
/// let response = runtime.block_on(service.oneshot(request))?;
/// let connections = &catalog.http.connections_active;
/// assert_eq!(connections.get(), 1); // until the body ends
/// runtime.block_on(response.into_body().collect())?;
/// assert_eq!(connections.get(), 0);
/// # Ok(())
/// # }
/// ```
pub struct HttpMetricsService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> HttpMetricsService<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone> Clone for HttpMetricsService<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for HttpMetricsService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpMetricsService")
            .field("inner", &self.inner)
            .field("shared", &self.shared)
            .finish()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for HttpMetricsService<S>
where
    S: Service<Request<RequestBody<ReqBody>>, Response = Response<ResBody>>,
    ReqBody: Body,
    ResBody: Body,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The record exists before `call`: if `call` panics, its drop
        // (while unwinding) counts the request as `500`.
        let (record, size) = match self.shared.begin(&request) {
            Some((record, size)) => (Some(record), size),
            None => (None, None),
        };
        let request = request.map(|body| RequestBody::new(body, size));
        ResponseFuture::new(self.inner.call(request), record)
    }
}
