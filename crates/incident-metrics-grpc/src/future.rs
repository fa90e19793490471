//! [`ResponseFuture`]: waits for the response head and classifies it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use incident_metrics_catalog::grpc::GrpcCode;
use pin_project_lite::pin_project;

use crate::body::ResponseBody;
use crate::guard::RequestGuard;
use crate::status::{self, Classification};

pin_project! {
    /// The future of [`GrpcMetricsService`](crate::GrpcMetricsService).
    ///
    /// A trailers-only answer or an HTTP failure ends the call here; an
    /// ordinary answer hands the call to its [`ResponseBody`]; an error of
    /// the inner service ends it as `UNKNOWN`; dropping the future first
    /// ends it as `CANCELLED` (or `DEADLINE_EXCEEDED`, past the deadline).
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        guard: Option<RequestGuard>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, guard: RequestGuard) -> Self {
        Self {
            inner,
            guard: Some(guard),
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // A server's unary handler runs inside this poll: if it panics, the
        // guard (dropped with this future) records `INTERNAL`.
        let inner = this.inner;
        let polled = match this.guard.as_mut() {
            Some(guard) => guard.watch(|| inner.poll(cx)),
            None => inner.poll(cx),
        };
        let result = ready!(polled);
        let mut guard = this.guard.take();
        match result {
            Ok(response) => {
                if let Classification::Ready(code) =
                    status::classify(response.status(), response.headers())
                    && let Some(guard) = guard.take()
                {
                    guard.finish(code);
                }
                Poll::Ready(Ok(response.map(|body| ResponseBody::new(body, guard))))
            }
            Err(error) => {
                if let Some(mut guard) = guard {
                    guard.record_failure(GrpcCode::Unknown);
                }
                Poll::Ready(Err(error))
            }
        }
    }
}
