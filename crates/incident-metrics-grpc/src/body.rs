//! The body wrappers: message counting on both bodies, and the end of the
//! call (status from the trailers, or cancelled on drop) on the response.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use incident_metrics_catalog::grpc::GrpcCode;
use incident_metrics_core::prometheus_client::metrics::counter::Counter;
use pin_project_lite::pin_project;

use crate::framing::FrameCounter;
use crate::guard::RequestGuard;
use crate::status;

/// Counts the gRPC messages in the data frames of a body.
#[derive(Debug)]
pub(crate) struct MessageTally {
    counter: Counter,
    framing: FrameCounter,
}

impl MessageTally {
    pub(crate) fn new(counter: Counter) -> Self {
        Self {
            counter,
            framing: FrameCounter::default(),
        }
    }

    #[inline]
    fn data<D: bytes::Buf>(&mut self, data: &D) {
        let n = self.framing.feed_buf(data);
        if n > 0 {
            self.counter.inc_by(n);
        }
    }
}

/// The code of a response whose body ended without `grpc-status`: a
/// protocol error, `INTERNAL` as the gRPC clients report it.
const MISSING_STATUS: GrpcCode = GrpcCode::Internal;

pin_project! {
    /// The request body as the inner service sees it: the original body,
    /// counting the gRPC messages that pass (received on a server, sent on
    /// a client). Frames pass unchanged.
    #[derive(Debug)]
    pub struct RequestBody<B> {
        #[pin]
        inner: B,
        tally: Option<MessageTally>,
    }
}

impl<B> RequestBody<B> {
    pub(crate) fn new(inner: B, tally: Option<MessageTally>) -> Self {
        Self { inner, tally }
    }

    /// The wrapped body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }

    /// The wrapped body, without counting.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B: Body> Body for RequestBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if let (Some(Ok(frame)), Some(tally)) = (&frame, this.tally)
            && let Some(data) = frame.data_ref()
        {
            tally.data(data);
        }
        Poll::Ready(frame)
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    #[inline]
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

pin_project! {
    /// The response body: the original body, counting the gRPC messages
    /// that pass (sent by a server, received by a client) and ending the
    /// call when the stream ends: with the `grpc-status` of the trailers,
    /// `INTERNAL` if the stream ends without one or fails, `CANCELLED` if
    /// the body is dropped first. Frames pass unchanged.
    #[derive(Debug)]
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        guard: Option<RequestGuard>,
        framing: FrameCounter,
    }
}

impl<B> ResponseBody<B> {
    /// Counts messages into the guard's method, while the call is open (a
    /// trailers-only answer, finished at its head, carries no messages).
    pub(crate) fn new(inner: B, guard: Option<RequestGuard>) -> Self {
        Self {
            inner,
            guard,
            framing: FrameCounter::default(),
        }
    }

    /// The wrapped body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }
}

fn finish(guard: &mut Option<RequestGuard>, code: GrpcCode) {
    if let Some(mut guard) = guard.take() {
        guard.record(code);
    }
}

fn trailers_code(trailers: &HeaderMap) -> GrpcCode {
    status::from_headers(trailers).unwrap_or(MISSING_STATUS)
}

impl<B: Body> Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        // A server's streaming handler runs inside this poll: if it panics,
        // the guard (dropped with this body) records `INTERNAL`.
        let inner = this.inner.as_mut();
        let polled = match this.guard.as_mut() {
            Some(guard) => guard.watch(|| inner.poll_frame(cx)),
            None => inner.poll_frame(cx),
        };
        let frame = ready!(polled);
        match &frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    if let Some(handles) = this.guard.as_ref().and_then(RequestGuard::handles) {
                        let n = this.framing.feed_buf(data);
                        if n > 0 {
                            handles.response_messages.inc_by(n);
                        }
                    }
                } else if let Some(trailers) = frame.trailers_ref() {
                    finish(this.guard, trailers_code(trailers));
                }
                // The consumer may never poll again once the stream says it
                // has ended (tower-http's trace body does the same).
                if this.guard.is_some() && this.inner.is_end_stream() {
                    finish(this.guard, MISSING_STATUS);
                }
            }
            Some(Err(_)) => {
                if let Some(mut guard) = this.guard.take() {
                    guard.record_failure(GrpcCode::Internal);
                }
            }
            None => finish(this.guard, MISSING_STATUS),
        }
        Poll::Ready(frame)
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    #[inline]
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
