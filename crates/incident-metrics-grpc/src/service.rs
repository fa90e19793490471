//! [`GrpcMetricsService`]: the tower service the layer builds.

use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use crate::body::{MessageTally, RequestBody, ResponseBody};
use crate::future::ResponseFuture;
use crate::map::{KeepRequestBody, MapRequestBody};
use crate::recorder::Recorder;
use crate::status;

/// The service built by [`GrpcMetricsLayer`](crate::GrpcMetricsLayer):
/// records each call, then hands it to the inner service with a counting
/// request body ([`RequestBody`], or what the layer's
/// [`MapRequestBody`] makes of it) and returns the response with a
/// [`ResponseBody`].
#[derive(Clone, Debug)]
pub struct GrpcMetricsService<S, M = KeepRequestBody> {
    inner: S,
    recorder: Recorder,
    map: M,
}

impl<S, M> GrpcMetricsService<S, M> {
    pub(crate) fn new(inner: S, recorder: Recorder, map: M) -> Self {
        Self {
            inner,
            recorder,
            map,
        }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, M, B, ResBody> Service<Request<B>> for GrpcMetricsService<S, M>
where
    M: MapRequestBody<B>,
    S: Service<Request<M::Body>, Response = Response<ResBody>>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let timeout = status::timeout(request.headers());
        let trace = self.recorder.trace(request.headers());
        let guard = self
            .recorder
            .start_path(request.uri().path(), timeout, trace);
        let tally = guard
            .handles()
            .map(|h| MessageTally::new(h.request_messages.clone()));
        let map = &self.map;
        let request = request.map(|body| map.map_body(RequestBody::new(body, tally)));
        ResponseFuture::new(self.inner.call(request), guard)
    }
}
