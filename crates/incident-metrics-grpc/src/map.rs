//! [`MapRequestBody`]: what the layer hands the inner service as request body.

use crate::body::RequestBody;

/// Turns the counting request body, [`RequestBody<B>`], into the body type
/// the inner service takes.
///
/// A tonic server accepts any body, so the server layer passes
/// [`RequestBody<B>`] as it is ([`KeepRequestBody`]). A tonic client
/// `Channel` accepts only `tonic::body::Body`, so the client layer is told how
/// to convert with
/// [`GrpcMetricsLayer::map_request_body`](crate::GrpcMetricsLayer::map_request_body)
/// (`tonic::body::Body::new`, which boxes the body: one allocation per
/// client call, owed to `Channel`'s signature).
pub trait MapRequestBody<B> {
    /// The body the inner service takes.
    type Body;

    /// Converts the counting body.
    fn map_body(&self, body: RequestBody<B>) -> Self::Body;
}

/// Passes the counting request body on unchanged (the default).
#[derive(Clone, Copy, Debug, Default)]
pub struct KeepRequestBody;

impl<B> MapRequestBody<B> for KeepRequestBody {
    type Body = RequestBody<B>;

    #[inline]
    fn map_body(&self, body: RequestBody<B>) -> RequestBody<B> {
        body
    }
}

/// Converts the counting request body with a function.
#[derive(Clone, Copy, Debug)]
pub struct MapRequestBodyWith<F>(pub(crate) F);

impl<B, F, O> MapRequestBody<B> for MapRequestBodyWith<F>
where
    F: Fn(RequestBody<B>) -> O,
{
    type Body = O;

    #[inline]
    fn map_body(&self, body: RequestBody<B>) -> O {
        (self.0)(body)
    }
}
