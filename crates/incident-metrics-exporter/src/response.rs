//! [`encode_response`]: a whole `/metrics` answer, headers included.

use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, VARY};
#[cfg(any(feature = "axum", feature = "server"))]
use http::{HeaderMap, HeaderName};
use http::{HeaderValue, Response, StatusCode};
use incident_metrics_core::Registry;

use crate::{negotiate_encoding, negotiate_format, render_bytes};

/// The `Vary` value of every answer: the body depends on both headers.
const VARY_VALUE: &str = "Accept, Accept-Encoding";

/// Renders `registry` into a complete HTTP answer for a scrape whose
/// `Accept` and `Accept-Encoding` header values are `accept` and
/// `accept_encoding`.
///
/// The format comes from [`negotiate_format`] and the compression from
/// [`negotiate_encoding`]. A successful answer is `200 OK` with
/// `Content-Type` set to the format's [`content_type`](crate::Format::content_type),
/// `Content-Encoding: gzip` when the body is gzipped, `Content-Length`, and
/// `Vary: Accept, Accept-Encoding` so that caches keep the variants apart.
///
/// It never fails and never panics: when rendering or compressing fails,
/// the answer is `500 Internal Server Error` with a `text/plain` body saying
/// what failed, which makes Prometheus mark the target down rather than
/// store a partial scrape.
///
/// This runs the whole render on the calling thread; in async code, call it
/// from `tokio::task::spawn_blocking` as the [`metrics_router`](crate::metrics_router)
/// and [`MetricsServer`](crate::MetricsServer) do.
///
/// # Examples
///
/// ```
/// use incident_metrics_core::{MetricsConfig, Registry};
/// use incident_metrics_exporter::encode_response;
///
/// let registry = Registry::new(&MetricsConfig::new())?;
/// let response = encode_response(&registry, Some("application/openmetrics-text"), None);
/// assert_eq!(response.status(), 200);
/// assert_eq!(
///     response.headers()["content-type"],
///     "application/openmetrics-text; version=1.0.0; charset=utf-8"
/// );
/// assert_eq!(response.headers()["vary"], "Accept, Accept-Encoding");
/// assert_eq!(response.body().as_ref(), b"# EOF\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn encode_response(
    registry: &Registry,
    accept: Option<&str>,
    accept_encoding: Option<&str>,
) -> Response<Bytes> {
    let format = negotiate_format(accept);
    let compression = negotiate_encoding(accept_encoding);
    let body = match render_bytes(registry, format).and_then(|body| compression.apply(body)) {
        Ok(body) => body,
        Err(error) => {
            return text_response(StatusCode::INTERNAL_SERVER_ERROR, format!("{error}\n"));
        }
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Some(coding) = compression.content_encoding() {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static(coding));
    }
    finish(response)
}

/// A plain-text answer, for errors (`404`, `405`, `500`).
pub(crate) fn text_response(status: StatusCode, message: String) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(message));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    finish(response)
}

/// Adds `Content-Length` and `Vary`.
fn finish(mut response: Response<Bytes>) -> Response<Bytes> {
    let length = HeaderValue::from(response.body().len());
    let headers = response.headers_mut();
    headers.insert(CONTENT_LENGTH, length);
    headers.insert(VARY, HeaderValue::from_static(VARY_VALUE));
    response
}

/// All values of the header `name`, joined with `, ` as RFC 9110 allows for
/// list headers. Values that are not visible ASCII are left out, so that a
/// header holding only such bytes counts as absent.
#[cfg(any(feature = "axum", feature = "server"))]
fn header_list(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let mut values = headers.get_all(name).iter().filter_map(|v| v.to_str().ok());
    let first = values.next()?;
    Some(values.fold(first.to_owned(), |mut list, value| {
        list.push_str(", ");
        list.push_str(value);
        list
    }))
}

/// Renders on tokio's blocking pool, so that a large registry never holds up
/// the threads that serve requests. A panic in a metric's `encode` becomes a
/// `500` answer.
#[cfg(any(feature = "axum", feature = "server"))]
pub(crate) async fn render_blocking(
    registry: std::sync::Arc<Registry>,
    headers: &HeaderMap,
) -> Response<Bytes> {
    let job = render_job(registry, headers);
    match tokio::task::spawn_blocking(job).await {
        Ok(response) => response,
        Err(error) => join_error_response(&error),
    }
}

/// The work of one scrape, ready for `spawn_blocking`: the negotiation
/// headers are read now, the registry rendered when it runs.
#[cfg(any(feature = "axum", feature = "server"))]
pub(crate) fn render_job(
    registry: std::sync::Arc<Registry>,
    headers: &HeaderMap,
) -> impl FnOnce() -> Response<Bytes> + Send + 'static {
    let accept = header_list(headers, &http::header::ACCEPT);
    let accept_encoding = header_list(headers, &http::header::ACCEPT_ENCODING);
    move || encode_response(&registry, accept.as_deref(), accept_encoding.as_deref())
}

/// The `500` answer for a render task that did not return.
#[cfg(any(feature = "axum", feature = "server"))]
pub(crate) fn join_error_response(error: &tokio::task::JoinError) -> Response<Bytes> {
    let reason = if error.is_panic() {
        "a metric panicked while encoding; check custom `EncodeMetric` and `Collector` implementations"
    } else {
        "the runtime is shutting down; retry the scrape"
    };
    text_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("failed to render the registry: {reason}\n"),
    )
}

#[cfg(all(test, any(feature = "axum", feature = "server")))]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn header_lists_are_joined() {
        let mut headers = HeaderMap::new();
        assert_eq!(header_list(&headers, &http::header::ACCEPT), None);
        headers.append(
            http::header::ACCEPT,
            HeaderValue::from_static("text/plain;q=0.1"),
        );
        headers.append(
            http::header::ACCEPT,
            HeaderValue::from_static("application/openmetrics-text"),
        );
        assert_eq!(
            header_list(&headers, &http::header::ACCEPT).as_deref(),
            Some("text/plain;q=0.1, application/openmetrics-text")
        );
        headers.insert(
            http::header::ACCEPT_ENCODING,
            HeaderValue::from_bytes(b"gz\xffip").unwrap(),
        );
        assert_eq!(header_list(&headers, &http::header::ACCEPT_ENCODING), None);
    }
}
