//! The HTTP client shared by the OpenAI provider, the webhook channel and
//! playbook `http` steps: hyper-util's pooled client on the toolkit's TLS
//! connector (`incident_metrics::exporter::ClientTlsConfig`), which sends
//! `http://` URLs in plain text and `https://` URLs over TLS (rustls, the
//! platform's roots plus an optional `ca_file`, an optional client
//! certificate), and never one for the other.
//!
//! Its errors name the endpoint and say what went wrong in a sentence (for
//! TLS: unknown authority, expired certificate, name mismatch), so the
//! callers' messages and counters need nothing more.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use incident_metrics::exporter::ClientTlsConfig;
use incident_metrics::exporter::tls::HttpsConnector;

type Inner = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A pooled HTTP and HTTPS client; cheap to clone.
#[derive(Clone)]
pub(crate) struct HttpClient {
    inner: Result<Inner, Arc<str>>,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("usable", &self.inner.is_ok())
            .finish_non_exhaustive()
    }
}

/// A call that got no answer: the endpoint and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientError {
    endpoint: String,
    message: String,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.endpoint, self.message)
    }
}

impl std::error::Error for ClientError {}

impl HttpClient {
    /// Sends `request`; the error names the endpoint (scheme, host, port
    /// and path, never the query) and the cause.
    pub(crate) fn request(
        &self,
        request: http::Request<Full<Bytes>>,
    ) -> impl Future<Output = Result<http::Response<Incoming>, ClientError>> + Send + 'static {
        let endpoint = endpoint(&request);
        let call = match &self.inner {
            Ok(client) => Ok(client.request(request)),
            Err(message) => Err(ClientError {
                endpoint: endpoint.clone(),
                message: message.to_string(),
            }),
        };
        async move {
            call?.await.map_err(|e| ClientError {
                message: incident_metrics::exporter::tls::describe_error(&e),
                endpoint,
            })
        }
    }
}

fn endpoint<B>(request: &http::Request<B>) -> String {
    let uri = request.uri();
    format!(
        "{} {}://{}{}",
        request.method(),
        uri.scheme_str().unwrap_or("http"),
        uri.authority().map(|a| a.as_str()).unwrap_or(""),
        uri.path()
    )
}

/// A client verifying `https://` servers as `tls` says (the platform's
/// roots when `None`).
///
/// # Errors
///
/// A message naming the TLS file that cannot be used.
pub(crate) fn try_new_client(tls: Option<&ClientTlsConfig>) -> Result<HttpClient, String> {
    let defaults = ClientTlsConfig::new();
    let connector = tls
        .unwrap_or(&defaults)
        .https_connector()
        .map_err(|e| e.to_string())?;
    Ok(HttpClient {
        inner: Ok(Client::builder(TokioExecutor::new()).build(connector)),
    })
}

/// As [`try_new_client`], for constructors that cannot fail: a client
/// whose TLS files cannot be used fails every call with that reason (never
/// a fall back to plain text). `App::start` checks the files first
/// ([`check_tls`]), so a running service does not meet this.
pub(crate) fn new_client_with(tls: Option<&ClientTlsConfig>) -> HttpClient {
    try_new_client(tls).unwrap_or_else(|message| HttpClient {
        inner: Err(message.into()),
    })
}

/// A client on the platform's roots, no client certificate.
pub(crate) fn new_client() -> HttpClient {
    new_client_with(None)
}

/// Checks each outbound `tls` table of `config` by building its client,
/// and warns on stderr about each `insecure_skip_verify`.
///
/// # Errors
///
/// A message naming the table and the file that cannot be used.
pub(crate) fn check_tls(config: &crate::config::Config) -> Result<(), String> {
    let chain = config.llm.chain();
    let llm_tables = chain.iter().map(|p| ("llm.tls", p.tls.as_ref()));
    let tables = [
        (
            "notifications.webhook.tls",
            config
                .notifications
                .webhook
                .as_ref()
                .and_then(|w| w.tls.as_ref()),
        ),
        ("playbooks_tls", config.playbooks_tls.as_ref()),
    ];
    for (name, tls) in llm_tables.chain(tables) {
        let Some(tls) = tls else { continue };
        try_new_client(Some(tls)).map_err(|e| format!("{name}: {e}"))?;
        if tls.insecure_skip_verify() {
            warn_insecure(name);
        }
    }
    Ok(())
}

// A start-up warning an operator must see.
#[allow(clippy::print_stderr)]
fn warn_insecure(name: &str) {
    eprintln!(
        "warning: {name}.insecure_skip_verify = true: https servers are not verified; \
         anyone on the path can read and change these calls"
    );
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use incident_metrics::exporter::ServerTlsConfig;
    use incident_metrics_testing::tls::{CertFiles, TestPki};

    /// An HTTPS server presenting `cert` that answers 200 to `POST /hook`.
    async fn serve(cert: &CertFiles) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = ServerTlsConfig::new(&cert.cert, &cert.key)
            .acceptor(&[b"http/1.1"])
            .unwrap();
        let router = axum::Router::new().route("/hook", axum::routing::post(|| async { "ok" }));
        tokio::spawn(async move {
            let limits = crate::serve::Limits::default();
            let _ = crate::serve::serve_http_tls(
                listener,
                router,
                &limits,
                Some(acceptor),
                std::future::pending(),
            )
            .await;
        });
        addr
    }

    /// POSTs to `https://{host}:{port}/hook?secret=x` trusting `pki`'s CA.
    async fn post(pki: &TestPki, cert: &CertFiles, host: &str) -> Result<u16, String> {
        let addr = serve(cert).await;
        let tls = ClientTlsConfig::new().with_ca_file(&pki.ca);
        let client = try_new_client(Some(&tls)).unwrap();
        let request = http::Request::post(format!("https://{host}:{}/hook?secret=x", addr.port()))
            .body(Full::new(Bytes::new()))
            .unwrap();
        client
            .request(request)
            .await
            .map(|r| r.status().as_u16())
            .map_err(|e| e.to_string())
    }

    fn pki() -> TestPki {
        TestPki::new(&incident_metrics_testing::scratch_dir("client-tls"))
    }

    #[tokio::test]
    async fn https_works_with_the_configured_ca() {
        let pki = pki();
        assert_eq!(post(&pki, &pki.server, "localhost").await, Ok(200));
        let _ = std::fs::remove_dir_all(&pki.dir);
    }

    #[tokio::test]
    async fn unknown_ca_names_the_endpoint_and_the_cause() {
        let pki = pki();
        let e = post(&pki, &pki.other_server, "localhost")
            .await
            .unwrap_err();
        assert!(e.starts_with("POST https://localhost:"), "{e}");
        assert!(e.contains("/hook: TLS handshake failed"), "{e}");
        assert!(
            !e.contains("secret"),
            "the query stays out of messages: {e}"
        );
        assert!(e.contains("unknown authority"), "{e}");
        let _ = std::fs::remove_dir_all(&pki.dir);
    }

    #[tokio::test]
    async fn expired_certificate_names_the_endpoint_and_the_cause() {
        let pki = pki();
        let e = post(&pki, &pki.expired, "localhost").await.unwrap_err();
        assert!(e.starts_with("POST https://localhost:"), "{e}");
        assert!(
            e.contains("TLS handshake failed: the server's certificate has expired"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&pki.dir);
    }

    #[tokio::test]
    async fn name_mismatch_names_the_endpoint_and_the_cause() {
        let pki = pki();
        let e = post(&pki, &pki.wrong_name, "localhost").await.unwrap_err();
        assert!(e.starts_with("POST https://localhost:"), "{e}");
        assert!(e.contains("does not match the host name"), "{e}");
        let _ = std::fs::remove_dir_all(&pki.dir);
    }

    #[tokio::test]
    async fn an_unusable_tls_file_fails_every_call_and_sends_nothing() {
        let broken = new_client_with(Some(&ClientTlsConfig::new().with_ca_file("/nonexistent")));
        let request = http::Request::post("https://localhost:1/hook")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let e = broken.request(request).await.unwrap_err().to_string();
        assert!(e.contains("/nonexistent"), "{e}");
    }
}
