//! Body wrappers that count the bytes of each frame as it streams and
//! finish recording when the body ends or is dropped.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::record::{CountBytes, Record, RequestSize};

pin_project! {
    /// The request body handed to the inner service: the original body,
    /// whose received bytes are counted into `http_request_size_bytes`.
    ///
    /// The size is observed when the body reports its end or is dropped
    /// (a handler that never reads the body received 0 bytes). Frames,
    /// errors, [`size_hint`](Body::size_hint) and
    /// [`is_end_stream`](Body::is_end_stream) pass through unchanged.
    pub struct RequestBody<B> {
        #[pin]
        inner: B,
        size: Option<RequestSize>,
    }
}

impl<B> RequestBody<B> {
    pub(crate) fn new(inner: B, size: Option<RequestSize>) -> Self {
        Self { inner, size }
    }

    /// The wrapped body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }

    /// The wrapped body, mutably.
    pub fn get_mut(&mut self) -> &mut B {
        &mut self.inner
    }

    /// The wrapped body; its size is observed now.
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
        poll_counting(this.inner, this.size, cx)
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

impl<B> fmt::Debug for RequestBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBody")
            .field("recording", &self.size.is_some())
            .finish_non_exhaustive()
    }
}

pin_project! {
    /// The response body handed back to the server: the inner service's
    /// body, whose sent bytes are counted into `http_response_size_bytes`.
    ///
    /// Recording finishes (size and, by default, duration observed,
    /// `http_connections_active` decremented) right after the frame that
    /// ends the body, on the end of the stream, on an error, or when the
    /// body is dropped, whichever comes first: a client that goes away
    /// mid-stream is timed and sized up to that point. Frames,
    /// [`size_hint`](Body::size_hint) and [`is_end_stream`](Body::is_end_stream)
    /// pass through unchanged.
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        record: Option<Record>,
    }
}

impl<B: Body> ResponseBody<B> {
    /// The body of a response whose head `record` counted.
    #[inline]
    pub(crate) fn new(inner: B, mut record: Option<Record>) -> Self {
        if inner.is_end_stream() {
            // Empty body: the server may never poll it; finish now.
            record = None;
        }
        Self { inner, record }
    }
}

impl<B> ResponseBody<B> {
    /// The wrapped body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }

    /// The wrapped body, mutably.
    pub fn get_mut(&mut self) -> &mut B {
        &mut self.inner
    }

    /// The wrapped body; recording finishes now.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B: Body> Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        poll_counting(this.inner, this.record, cx)
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

impl<B> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody")
            .field("recording", &self.record.is_some())
            .finish_non_exhaustive()
    }
}

/// What `poll_frame` answers for a body `B`.
type PolledFrame<B> = Poll<Option<Result<Frame<<B as Body>::Data>, <B as Body>::Error>>>;

/// One frame of a counted body: the bytes of a data frame go to `record`,
/// and `record` is dropped (finishing it) right after the frame that ends
/// the body, on an error, or at the end of the stream.
#[inline]
fn poll_counting<B: Body, R: CountBytes>(
    mut inner: Pin<&mut B>,
    record: &mut Option<R>,
    cx: &mut Context<'_>,
) -> PolledFrame<B> {
    let frame = ready!(inner.as_mut().poll_frame(cx));
    match &frame {
        Some(Ok(f)) => {
            if let (Some(record), Some(data)) = (record.as_mut(), f.data_ref()) {
                record.add_bytes(data.remaining());
            }
            if inner.is_end_stream() {
                *record = None;
            }
        }
        Some(Err(_)) | None => *record = None,
    }
    Poll::Ready(frame)
}
