//! [`ResponseFuture`]: counts the request when the response head is ready.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use http_body::Body;
use pin_project_lite::pin_project;

use crate::body::ResponseBody;
use crate::record::Record;

pin_project! {
    /// The future of [`HttpMetricsService`](crate::HttpMetricsService).
    ///
    /// When the inner future yields a response, the request is counted with
    /// its status and the body is wrapped in a [`ResponseBody`]. An inner
    /// error is counted as `500` and passed on unchanged. If this future is
    /// dropped first, the request is counted as `cancelled`, or as `500`
    /// when the inner future panicked while being polled.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        record: Option<Record>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, record: Option<Record>) -> Self {
        Self { inner, record }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let inner = this.inner;
        let polled = match this.record.as_mut() {
            Some(record) => record.watch(|| inner.poll(cx)),
            None => inner.poll(cx),
        };
        let result = ready!(polled);
        let record = this.record.take();
        Poll::Ready(match result {
            Ok(response) => {
                let record = record.map(|r| r.respond(response.status().as_u16()));
                Ok(response.map(|body| ResponseBody::new(body, record)))
            }
            Err(error) => {
                if let Some(record) = record {
                    record.fail();
                }
                Err(error)
            }
        })
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("recording", &self.record.is_some())
            .finish_non_exhaustive()
    }
}
