//! [`MetricsServer`]: a standalone `/metrics` server on hyper, for services
//! without axum.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::ALLOW;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use incident_metrics_core::Registry;

use crate::response::{render_blocking, text_response};
use crate::{Error, Protection, Result};

/// How long to pause accepting after an error that is not about one
/// connection (such as running out of file descriptors), so that the loop
/// does not spin while the cause lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A standalone HTTP/1.1 server answering scrapes on the registry's endpoint
/// ([`MetricsConfig::endpoint`](incident_metrics_core::MetricsConfig::endpoint),
/// `/metrics` by default).
///
/// [`bind`](Self::bind) binds the socket at once, so a busy or forbidden
/// address is an error before anything runs, and [`local_addr`](Self::local_addr)
/// tells which port the system chose for port 0. Serving answers:
///
/// - `GET` or `HEAD` on the endpoint: [`encode_response`](crate::encode_response),
///   rendered on tokio's blocking pool;
/// - another method on the endpoint: `405 Method Not Allowed` with
///   `Allow: GET, HEAD`;
/// - any other path: `404 Not Found`.
///
/// It writes nothing to stdout or stderr. Errors accepting a connection are
/// tolerated: the server goes on accepting (pausing briefly when the error
/// is not about one connection, such as running out of file descriptors).
///
/// # Examples
///
/// ```no_run
/// use std::sync::Arc;
///
/// use incident_metrics_core::{MetricsConfig, Registry};
/// use incident_metrics_exporter::MetricsServer;
///
/// async fn run(shutdown: impl Future<Output = ()>) -> Result<(), Box<dyn std::error::Error>> {
///     let registry = Arc::new(Registry::new(&MetricsConfig::new())?);
///     // Bind first: a busy port is an error here, before anything runs.
///     let server = MetricsServer::bind("127.0.0.1:9100".parse()?, registry)?;
///     assert_eq!(server.local_addr().port(), 9100);
///     server.serve_with_shutdown(shutdown).await?;
///     Ok(())
/// }
/// ```
pub struct MetricsServer {
    listener: TcpListener,
    local_addr: SocketAddr,
    registry: Arc<Registry>,
    protection: Option<Protection>,
    #[cfg(feature = "tls")]
    tls: Option<crate::TlsAcceptor>,
}

/// How long a client may take over the TLS handshake.
#[cfg(feature = "tls")]
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl MetricsServer {
    /// Binds a listening socket on `addr` for serving `registry`.
    ///
    /// This needs no async runtime: it can run in `main` before one is
    /// built.
    ///
    /// # Errors
    ///
    /// [`Error::Bind`], naming `addr`, when the socket cannot be bound (the
    /// address is in use, not local, or needs privileges) or set up.
    pub fn bind(addr: SocketAddr, registry: Arc<Registry>) -> Result<Self> {
        let bind_error = |source| Error::Bind { addr, source };
        let listener = TcpListener::bind(addr).map_err(bind_error)?;
        // tokio requires a non-blocking socket.
        listener.set_nonblocking(true).map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        Ok(Self {
            listener,
            local_addr,
            registry,
            protection: None,
            #[cfg(feature = "tls")]
            tls: None,
        })
    }

    /// Serves over TLS (HTTP/1.1 announced by ALPN) with the certificate of
    /// `tls`, re-read when its files change; with a client CA, scrapers
    /// must show a certificate it signed. A client that has not finished
    /// its handshake within 10 seconds is disconnected.
    ///
    /// # Errors
    ///
    /// [`Error::TlsFile`] or [`Error::TlsConfig`] when the certificate, key
    /// or client CA cannot be used.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::sync::Arc;
    ///
    /// use incident_metrics_core::{MetricsConfig, Registry};
    /// use incident_metrics_exporter::{MetricsServer, ServerTlsConfig};
    ///
    /// let registry = Arc::new(Registry::new(&MetricsConfig::new())?);
    /// let server = MetricsServer::bind("127.0.0.1:9100".parse()?, registry)?
    ///     .with_tls(&ServerTlsConfig::new("metrics.pem", "metrics.key"))?;
    /// assert!(server.is_tls());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "tls")]
    pub fn with_tls(mut self, tls: &crate::ServerTlsConfig) -> Result<Self> {
        self.tls = Some(tls.acceptor(&[b"http/1.1"])?);
        Ok(self)
    }

    /// Serves over TLS with an acceptor built beforehand (one shared with
    /// other listeners, or one the caller reloads on SIGHUP).
    #[cfg(feature = "tls")]
    #[must_use]
    pub fn with_tls_acceptor(mut self, acceptor: crate::TlsAcceptor) -> Self {
        self.tls = Some(acceptor);
        self
    }

    /// Whether the server speaks TLS.
    pub fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }

    /// Puts scrapes behind `protection`: authentication, a bound on
    /// concurrent scrapes and a scrape timeout, answered `401` and `503` as
    /// [`Protection::serve`] says. Without it every scrape is rendered.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// use incident_metrics_core::{MetricsConfig, Registry};
    /// use incident_metrics_exporter::{AuthConfig, MetricsServer, Protection, ServerConfig};
    ///
    /// let registry = Arc::new(Registry::new(&MetricsConfig::new())?);
    /// let config = ServerConfig::new().with_auth(Some(AuthConfig::bearer("t0ken")));
    /// let server = MetricsServer::bind("127.0.0.1:0".parse()?, registry)?
    ///     .with_protection(Protection::from_config(&config)?);
    /// assert!(format!("{server:?}").contains("bearer token <redacted>"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_protection(mut self, protection: Protection) -> Self {
        self.protection = Some(protection);
        self
    }

    /// The address the socket is bound to, with the port the system chose
    /// when port 0 was asked for.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until the task is dropped. See
    /// [`serve_with_shutdown`](Self::serve_with_shutdown).
    ///
    /// # Errors
    ///
    /// As [`serve_with_shutdown`](Self::serve_with_shutdown).
    pub async fn serve(self) -> Result<()> {
        self.serve_with_shutdown(std::future::pending()).await
    }

    /// Serves until `signal` completes, then stops accepting, lets the
    /// requests in flight finish, closes idle connections, and returns.
    ///
    /// Run it on a tokio runtime with I/O and time enabled
    /// (`#[tokio::main]` enables both). The wait for requests in flight has
    /// no deadline of its own (a client that stalls while sending its
    /// headers is cut off after 30 seconds); to bound it, wrap this future
    /// in `tokio::time::timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Serve`] when the socket cannot be registered with the
    /// runtime. Nothing after that is an error: failed connections and
    /// failed accepts are dropped and serving goes on.
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime, or in one without I/O or time
    /// enabled, as every tokio socket does.
    pub async fn serve_with_shutdown<F>(self, signal: F) -> Result<()>
    where
        F: Future<Output = ()>,
    {
        let Self {
            listener,
            local_addr,
            registry,
            protection,
            #[cfg(feature = "tls")]
            tls,
        } = self;
        let listener =
            tokio::net::TcpListener::from_std(listener).map_err(|source| Error::Serve {
                addr: local_addr,
                source,
            })?;
        let graceful = GracefulShutdown::new();
        let mut signal = pin!(signal);
        loop {
            tokio::select! {
                biased;
                () = &mut signal => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _peer)) => {
                        let registry = Arc::clone(&registry);
                        let protection = protection.clone();
                        let service = service_fn(move |request| {
                            let registry = Arc::clone(&registry);
                            let protection = protection.clone();
                            async move {
                                Ok::<_, Infallible>(answer(registry, protection, request).await)
                            }
                        });
                        let watcher = graceful.watcher();
                        #[cfg(feature = "tls")]
                        if let Some(tls) = &tls {
                            let tls = tls.clone();
                            tokio::spawn(async move {
                                let handshake = tokio::time::timeout(
                                    TLS_HANDSHAKE_TIMEOUT,
                                    tls.accept(stream),
                                );
                                // A failed handshake concerns only its client.
                                if let Ok(Ok(stream)) = handshake.await {
                                    let connection = http1::Builder::new()
                                        .timer(TokioTimer::new())
                                        .serve_connection(TokioIo::new(stream), service);
                                    let _ = watcher.watch(connection).await;
                                }
                            });
                            continue;
                        }
                        let connection = http1::Builder::new()
                            .timer(TokioTimer::new())
                            .serve_connection(TokioIo::new(stream), service);
                        tokio::spawn(async move {
                            // A failed connection concerns only its client.
                            let _ = watcher.watch(connection).await;
                        });
                    }
                    Err(error) if is_connection_error(&error) => {}
                    Err(_) => tokio::select! {
                        biased;
                        () = &mut signal => break,
                        () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                    },
                },
            }
        }
        drop(listener);
        graceful.shutdown().await;
        Ok(())
    }
}

impl fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsServer")
            .field("local_addr", &self.local_addr)
            .field("endpoint", &self.registry.config().endpoint())
            .field("protection", &self.protection)
            .field("tls", &self.is_tls())
            .finish_non_exhaustive()
    }
}

/// Answers one request.
async fn answer(
    registry: Arc<Registry>,
    protection: Option<Protection>,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let endpoint = registry.config().endpoint();
    let response = if request.uri().path() != endpoint {
        text_response(
            StatusCode::NOT_FOUND,
            format!("not found: metrics are served at {endpoint}\n"),
        )
    } else if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = text_response(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("method not allowed: scrape {endpoint} with GET or HEAD\n"),
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        response
    } else if let Some(protection) = protection {
        protection.serve(registry, request.headers()).await
    } else {
        render_blocking(registry, request.headers()).await
    };
    // hyper leaves the body out of answers to HEAD and keeps the headers.
    response.map(Full::new)
}

/// Whether an accept error concerns only the connection being accepted, so
/// that the next accept may well succeed at once.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}
