//! The HTTP/1.1 client both push paths share: hyper-util's pooled client
//! on the crate's TLS connector (`http://` in plain text, `https://` over
//! TLS, never one for the other), with a timeout per request.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::{Error, Result};

/// How much of an answer's body is kept (it is only shown in errors).
const MAX_ANSWER_BYTES: usize = 4096;

/// The `User-Agent` of every push request.
pub(crate) const USER_AGENT: &str =
    concat!("incident-metrics-exporter/", env!("CARGO_PKG_VERSION"));

/// An answer: status, headers and the start of the body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    #[cfg_attr(
        not(feature = "remote-write"),
        expect(dead_code, reason = "only remote-write reads `Retry-After`")
    )]
    pub(crate) headers: HeaderMap,
    #[cfg_attr(
        not(any(feature = "pushgateway", feature = "remote-write")),
        expect(
            dead_code,
            reason = "the Pushgateway client reports the body, remote-write reads a refusal of native histograms in it"
        )
    )]
    pub(crate) body: String,
}

/// Why no answer came.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The timeout passed first.
    Timeout,
    /// Connecting, sending or receiving failed.
    Transport(
        #[cfg_attr(
            not(feature = "pushgateway"),
            expect(dead_code, reason = "only the Pushgateway client reports the cause")
        )]
        Box<dyn std::error::Error + Send + Sync>,
    ),
}

/// A pooled HTTP and HTTPS client; cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct HttpClient {
    inner: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl HttpClient {
    /// A client verifying servers as `tls` says.
    pub(crate) fn new(tls: &crate::ClientTlsConfig) -> Result<Self> {
        let connector = tls.https_connector()?;
        let inner = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        Ok(Self { inner })
    }

    /// Sends `request` and reads the answer, all within `timeout`.
    pub(crate) async fn send(
        &self,
        request: Request<Full<Bytes>>,
        timeout: Duration,
    ) -> Result<Answer, Failure> {
        let exchange = async {
            let response = self
                .inner
                .request(request)
                .await
                .map_err(|e| Failure::Transport(crate::tls::describe_error(&e).into()))?;
            let (parts, body) = response.into_parts();
            // Only the start of the body matters, and only for messages.
            let body = match Limited::new(body, MAX_ANSWER_BYTES).collect().await {
                Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
                Err(_) => String::new(),
            };
            Ok(Answer {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or(Err(Failure::Timeout))
    }
}

/// Parses a validated push URL (`http://` or `https://`).
pub(crate) fn parse_http_uri(field: &'static str, url: &str) -> Result<Uri> {
    let uri: Uri = url.parse().map_err(|_| Error::InvalidUrl {
        field,
        url: url.to_owned(),
        reason: "the URL is malformed",
    })?;
    if uri.scheme() != Some(&http::uri::Scheme::HTTP)
        && uri.scheme() != Some(&http::uri::Scheme::HTTPS)
    {
        return Err(Error::InvalidUrl {
            field,
            url: url.to_owned(),
            reason: "the URL must start with http:// or https://",
        });
    }
    Ok(uri)
}
