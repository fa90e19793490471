//! The HTTP serve loop, hardened against hostile clients, and [`Limits`],
//! the `[limits]` section of the configuration.
//!
//! `axum::serve` cannot bound how long a client may take to send its
//! headers, so [`serve_http`] drives hyper's HTTP/1 connection builder
//! itself, with:
//!
//! - a header read timeout (slowloris): a client that has not sent a
//!   complete request head within [`Limits::header_read_timeout_ms`] is
//!   disconnected without an answer (hyper closes the connection). The same
//!   timer bounds how long an idle keep-alive connection waits for its next
//!   request;
//! - at most [`Limits::max_headers`] header fields and
//!   [`Limits::max_header_bytes`] bytes of request head (request line and
//!   headers): over either, hyper answers `431 Request Header Fields Too
//!   Large` and closes the connection;
//! - a hard deadline of [`Limits::body_read_timeout_ms`] on reading a request
//!   body, counted from the end of the head: a client that trickles or stalls
//!   its body gets `408` with `{"error": "..."}` from the handler that reads
//!   it;
//! - at most [`Limits::max_connections`] connections at once: at the limit
//!   the listener stops accepting until one closes;
//! - a write timeout of [`Limits::write_timeout_ms`]: a client that stops
//!   reading its answer is disconnected once one write has waited that
//!   long, and its slot is freed;
//! - TLS, when a [`TlsAcceptor`] is given ([`serve_http_tls`]), the
//!   handshake bounded by the header read timeout.
//!
//! The gRPC side ([`grpc_incoming`], [`grpc_server`]) has its own bounds:
//! a connection cap, a handshake deadline, the write timeout, concurrent
//! streams and keepalive pings.
//!
//! Graceful shutdown works as with `axum::serve(..).with_graceful_shutdown`:
//! once the shutdown future completes, the listener closes, idle
//! connections close, and the in-flight requests finish before
//! [`serve_http`] returns.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use incident_metrics::exporter::TlsAcceptor;
use incident_metrics::exporter::tls::ServerTlsStream;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower_http::timeout::RequestBodyDeadline;

/// Hostile-input limits of both servers (`[limits]`).
///
/// The body size limit stays the top-level `body_limit_bytes`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Limits {
    /// The longest a client may take to send a complete request head
    /// (request line and headers), in milliseconds; also the longest an
    /// idle keep-alive connection waits for its next request, the longest
    /// a TLS handshake may take (every listener), and the longest a new
    /// gRPC connection may take, from accept, to finish its TLS handshake
    /// and send its HTTP/2 preface and first SETTINGS frame. Default
    /// 10 000.
    pub header_read_timeout_ms: u64,
    /// The most header fields a request may carry; more answer `431`.
    /// Default 100 (hyper's own default).
    pub max_headers: usize,
    /// The largest request head (request line and headers) in bytes; larger
    /// answers `431`. Default 32 768; at least 8 192.
    pub max_header_bytes: usize,
    /// The longest reading a request body may take, counted from the end
    /// of the head, in milliseconds; a slower body answers `408`. Default
    /// 10 000.
    pub body_read_timeout_ms: u64,
    /// The largest gRPC request message any gRPC service (incidents, health,
    /// reflection) decodes, in bytes; a larger one fails with
    /// `OUT_OF_RANGE`. Default 1 MiB (tonic's own default is 4 MiB).
    pub grpc_max_message_bytes: usize,
    /// The most HTTP connections served at once. At the limit the listener
    /// stops accepting (new clients wait in the kernel's backlog) until a
    /// connection closes, as Go's `netutil.LimitListener` does: many idle
    /// or slowloris connections cannot take every file descriptor. Default
    /// 1000, under the common soft limit of 1024 open files.
    pub max_connections: usize,
    /// The most playbook executions running at once; the others wait in
    /// the durable outbox (counted in `playbooks_pending`). Default 64.
    pub max_active_playbooks: usize,
    /// The most gRPC connections open at once, counted from accept until
    /// the connection closes (TLS handshake, HTTP/2 handshake and every
    /// request after). At the limit the listener stops accepting until one
    /// closes. Default 1000.
    pub grpc_max_connections: usize,
    /// The most concurrent HTTP/2 streams (calls) per gRPC connection,
    /// announced to clients as `SETTINGS_MAX_CONCURRENT_STREAMS`. Default
    /// 200.
    pub grpc_max_concurrent_streams: u32,
    /// How often the gRPC server pings an HTTP/2 connection to see whether
    /// its peer is still there, in milliseconds; 0 turns pings off.
    /// Default 60 000.
    pub http2_keepalive_interval_ms: u64,
    /// How long the gRPC server waits for a ping's answer before it closes
    /// the connection, in milliseconds. Default 20 000.
    pub http2_keepalive_timeout_ms: u64,
    /// The longest one write of an answer may wait on a client that does
    /// not read (HTTP/1 and HTTP/2 alike), in milliseconds: past it the
    /// connection is closed and its slot freed. Default 30 000.
    pub write_timeout_ms: u64,
}

/// hyper's own header count limit, which `max_headers` defaults to.
const HYPER_DEFAULT_MAX_HEADERS: usize = 100;

/// The largest `max_connections` accepted: Linux's default hard limit of
/// open files per process (`fs.nr_open`).
pub const MAX_CONNECTIONS: usize = 1 << 20;

/// The smallest `max_header_bytes` accepted: hyper's smallest read buffer.
pub const MIN_HEADER_BYTES: usize = 8192;

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout_ms: 10_000,
            max_headers: HYPER_DEFAULT_MAX_HEADERS,
            max_header_bytes: 32 * 1024,
            body_read_timeout_ms: 10_000,
            grpc_max_message_bytes: 1024 * 1024,
            max_connections: 1000,
            max_active_playbooks: 64,
            grpc_max_connections: 1000,
            grpc_max_concurrent_streams: 200,
            http2_keepalive_interval_ms: 60_000,
            http2_keepalive_timeout_ms: 20_000,
            write_timeout_ms: 30_000,
        }
    }
}

impl Limits {
    /// The header read timeout as a [`Duration`].
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms)
    }

    /// The body read timeout as a [`Duration`].
    pub fn body_read_timeout(&self) -> Duration {
        Duration::from_millis(self.body_read_timeout_ms)
    }

    /// The write timeout as a [`Duration`].
    pub fn write_timeout(&self) -> Duration {
        Duration::from_millis(self.write_timeout_ms)
    }

    /// Checks every limit; the message names the key and what to change.
    ///
    /// # Errors
    ///
    /// A message naming the first key out of range.
    pub fn validate(&self) -> Result<(), String> {
        if self.header_read_timeout_ms == 0 {
            return Err("limits.header_read_timeout_ms must be positive".to_owned());
        }
        if self.body_read_timeout_ms == 0 {
            return Err("limits.body_read_timeout_ms must be positive".to_owned());
        }
        if self.max_headers == 0 {
            return Err("limits.max_headers must be positive".to_owned());
        }
        if self.max_header_bytes < MIN_HEADER_BYTES {
            return Err(format!(
                "limits.max_header_bytes must be at least {MIN_HEADER_BYTES}, not {}",
                self.max_header_bytes
            ));
        }
        if self.grpc_max_message_bytes == 0 {
            return Err("limits.grpc_max_message_bytes must be positive".to_owned());
        }
        if !(1..=MAX_CONNECTIONS).contains(&self.max_connections) {
            return Err(format!(
                "limits.max_connections must be from 1 to {MAX_CONNECTIONS}, not {}",
                self.max_connections
            ));
        }
        if self.max_active_playbooks == 0 {
            return Err("limits.max_active_playbooks must be positive".to_owned());
        }
        if !(1..=MAX_CONNECTIONS).contains(&self.grpc_max_connections) {
            return Err(format!(
                "limits.grpc_max_connections must be from 1 to {MAX_CONNECTIONS}, not {}",
                self.grpc_max_connections
            ));
        }
        if self.grpc_max_concurrent_streams == 0 {
            return Err("limits.grpc_max_concurrent_streams must be positive".to_owned());
        }
        if self.http2_keepalive_interval_ms > 0 && self.http2_keepalive_timeout_ms == 0 {
            return Err(
                "limits.http2_keepalive_timeout_ms must be positive while pings are on \
                 (http2_keepalive_interval_ms > 0)"
                    .to_owned(),
            );
        }
        if self.write_timeout_ms == 0 {
            return Err("limits.write_timeout_ms must be positive".to_owned());
        }
        Ok(())
    }
}

/// Serves `router` on `listener` over HTTP/1.1 with `limits` until
/// `shutdown` completes, then stops accepting, lets the in-flight requests
/// finish and returns. Plain HTTP; see [`serve_http_tls`].
///
/// `limits` must have passed [`Limits::validate`]; a `max_header_bytes`
/// below [`MIN_HEADER_BYTES`] is raised to it.
///
/// # Errors
///
/// None today: a failed `accept` (out of file descriptors, say) is retried
/// after a pause, as `axum::serve` does, and a failed connection only ends
/// that connection. The `Result` leaves room for listener failures.
pub async fn serve_http<F>(
    listener: TcpListener,
    router: Router,
    limits: &Limits,
    shutdown: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send,
{
    serve_http_tls(listener, router, limits, None, shutdown).await
}

/// As [`serve_http`], over TLS when `tls` is given: each connection's TLS
/// handshake runs on its own task and must finish within
/// [`Limits::header_read_timeout_ms`] (it holds a connection slot
/// meanwhile).
///
/// # Errors
///
/// As [`serve_http`].
pub async fn serve_http_tls<F>(
    listener: TcpListener,
    router: Router,
    limits: &Limits,
    tls: Option<TlsAcceptor>,
    shutdown: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // A client that closes its side after sending a request still gets
        // the request carried out (a create that hangs up is not lost).
        .half_close(true)
        .header_read_timeout(limits.header_read_timeout())
        .max_header_size(limits.max_header_bytes.max(MIN_HEADER_BYTES));
    // hyper parses up to 100 headers on the stack; any other count moves the
    // parse buffer to the heap, so leave its default alone when it is ours.
    if limits.max_headers != HYPER_DEFAULT_MAX_HEADERS {
        builder.max_headers(limits.max_headers.max(1));
    }
    let service =
        TowerToHyperService::new(RequestBodyDeadline::new(router, limits.body_read_timeout()));
    let graceful = GracefulShutdown::new();
    let connections = Arc::new(Semaphore::new(
        limits.max_connections.clamp(1, MAX_CONNECTIONS),
    ));
    let handshake_timeout = limits.header_read_timeout();
    let write_timeout = limits.write_timeout();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // A slot first: at the limit, nothing is accepted until a
        // connection ends (the semaphore is never closed).
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = Arc::clone(&connections).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) if is_connection_error(&e) => continue,
                Err(_) => {
                    // Out of file descriptors or similar: wait, as
                    // `axum::serve` does, rather than spin.
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
        };
        // Small answers go out at once, not after Nagle's delay (as the
        // gRPC listener does too).
        let _ = stream.set_nodelay(true);
        let watcher = graceful.watcher();
        if let Some(tls) = &tls {
            let tls = tls.clone();
            let builder = builder.clone();
            let service = service.clone();
            tokio::spawn(async move {
                let Ok(Ok(stream)) =
                    tokio::time::timeout(handshake_timeout, tls.accept(stream)).await
                else {
                    // A failed or stalled handshake ends only its connection.
                    return;
                };
                let io = Guarded::new(Stream::Tls(Box::new(stream)), write_timeout);
                let connection = builder.serve_connection(TokioIo::new(io), service);
                let _ = watcher.watch(connection).await;
                drop(slot);
            });
            continue;
        }
        let io = Guarded::new(Stream::Plain(stream), write_timeout);
        let connection = builder.serve_connection(TokioIo::new(io), service.clone());
        tokio::spawn(async move {
            // A client that misbehaves ends only its own connection.
            let _ = watcher.watch(connection).await;
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// The tonic server for the gRPC listener, with the bounds of `limits`:
/// `grpc_max_concurrent_streams` streams per connection (announced in
/// `SETTINGS_MAX_CONCURRENT_STREAMS`), HTTP/2 keepalive pings every
/// `http2_keepalive_interval_ms` that close a peer silent for
/// `http2_keepalive_timeout_ms`, and `TCP_NODELAY` (set on accept by
/// [`grpc_incoming`]).
pub fn grpc_server(limits: &Limits) -> tonic::transport::Server {
    let keepalive = (limits.http2_keepalive_interval_ms > 0)
        .then(|| Duration::from_millis(limits.http2_keepalive_interval_ms));
    tonic::transport::Server::builder()
        .max_concurrent_streams(Some(limits.grpc_max_concurrent_streams.max(1)))
        .http2_keepalive_interval(keepalive)
        .http2_keepalive_timeout(Some(Duration::from_millis(
            limits.http2_keepalive_timeout_ms.max(1),
        )))
}

/// The gRPC listener's connections, as tonic's `serve_with_incoming` takes
/// them, bounded:
///
/// - at most [`Limits::grpc_max_connections`] at once, each holding its
///   slot from accept until it closes; at the limit accepting pauses;
/// - a handshake deadline of [`Limits::header_read_timeout_ms`] from
///   accept, covering the TLS handshake (with `tls`) and the client's
///   HTTP/2 connection preface and first SETTINGS frame: a connection that
///   has not sent them in time is closed (hyper's HTTP/2 server would wait
///   for its preface forever). A plain connection reaches hyper only once
///   it has sent a byte, so a silent one is closed without an answer;
/// - [`Limits::write_timeout_ms`] on every write;
/// - TCP_NODELAY (without it small HTTP/2 frames can wait on Nagle and
///   delayed ACKs: the load generator saw a fifth of the gRPC throughput
///   and a 46 ms p99).
///
/// The stream ends when its receiver is dropped (tonic stops accepting at
/// shutdown).
pub fn grpc_incoming(
    listener: TcpListener,
    limits: &Limits,
    tls: Option<TlsAcceptor>,
) -> impl futures_util::Stream<Item = std::io::Result<GrpcConn>> + Send + 'static {
    let slots = Arc::new(Semaphore::new(
        limits.grpc_max_connections.clamp(1, MAX_CONNECTIONS),
    ));
    let handshake_timeout = limits.header_read_timeout();
    let write_timeout = limits.write_timeout();
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<GrpcConn>>(64);
    tokio::spawn(async move {
        loop {
            let slot = tokio::select! {
                () = tx.closed() => break,
                slot = Arc::clone(&slots).acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => break,
                },
            };
            let tcp = tokio::select! {
                () = tx.closed() => break,
                accepted = listener.accept() => match accepted {
                    Ok((tcp, _peer)) => tcp,
                    Err(e) if is_connection_error(&e) => continue,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                },
            };
            let _ = tcp.set_nodelay(true);
            let info = tonic::transport::server::TcpConnectInfo {
                local_addr: tcp.local_addr().ok(),
                remote_addr: tcp.peer_addr().ok(),
            };
            let deadline = tokio::time::Instant::now() + handshake_timeout;
            let conn = move |stream| GrpcConn {
                io: Guarded::new(stream, write_timeout).with_h2_handshake(deadline),
                info,
                _slot: slot,
            };
            match &tls {
                None => {
                    // Handed to hyper only once the client speaks: hyper
                    // sends its SETTINGS at once, and a silent client gets
                    // nothing but the close.
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let mut first = [0_u8; 1];
                        if let Ok(Ok(n)) =
                            tokio::time::timeout_at(deadline, tcp.peek(&mut first)).await
                            && n > 0
                        {
                            let _ = tx.send(Ok(conn(Stream::Plain(tcp)))).await;
                        }
                    });
                }
                Some(tls) => {
                    let tls = tls.clone();
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        if let Ok(Ok(stream)) =
                            tokio::time::timeout_at(deadline, tls.accept(tcp)).await
                        {
                            let _ = tx.send(Ok(conn(Stream::Tls(Box::new(stream))))).await;
                        }
                    });
                }
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

/// One gRPC connection: the (TLS) stream with its timeouts, and the
/// connection slot it holds until it is dropped.
#[derive(Debug)]
pub struct GrpcConn {
    io: Guarded<Stream>,
    info: tonic::transport::server::TcpConnectInfo,
    _slot: OwnedSemaphorePermit,
}

impl tonic::transport::server::Connected for GrpcConn {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.info.clone()
    }
}

impl AsyncRead for GrpcConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for GrpcConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A served connection: plain TCP or TLS over TCP.
#[derive(Debug)]
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<ServerTlsStream<TcpStream>>),
}

macro_rules! on_stream {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            Stream::Plain($s) => {
                let $s = Pin::new($s);
                $e
            }
            Stream::Tls($s) => {
                let $s = Pin::new(&mut **$s);
                $e
            }
        }
    };
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        on_stream!(self, s => s.poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        on_stream!(self, s => s.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        on_stream!(self, s => s.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        on_stream!(self, s => s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        on_stream!(self, s => s.poll_shutdown(cx))
    }
}

/// The HTTP/2 client connection preface (RFC 9113, section 3.4).
const H2_PREFACE_LEN: usize = 24;
/// An HTTP/2 frame header: 3 bytes of length, type, flags, stream id.
const H2_FRAME_HEADER_LEN: usize = 9;

/// An IO with two timers, each armed only while it matters:
///
/// - a write timeout: a write (or flush) that stays pending longer than
///   `write_timeout` (a client that does not read) fails with `TimedOut`,
///   which ends the connection;
/// - optionally, an HTTP/2 handshake deadline: until the client's
///   connection preface and its first frame (SETTINGS) are read, a read
///   that is pending past the deadline fails with `TimedOut`.
#[derive(Debug)]
pub(crate) struct Guarded<IO> {
    io: IO,
    write_timeout: Duration,
    write_timer: Option<Pin<Box<tokio::time::Sleep>>>,
    write_armed: bool,
    handshake: Option<H2Handshake>,
}

#[derive(Debug)]
struct H2Handshake {
    deadline: Pin<Box<tokio::time::Sleep>>,
    head: [u8; H2_PREFACE_LEN + H2_FRAME_HEADER_LEN],
    read: usize,
}

impl H2Handshake {
    /// Notes bytes read; true once the preface and first frame are in.
    fn saw(&mut self, bytes: &[u8]) -> bool {
        for &b in bytes {
            if let Some(slot) = self.head.get_mut(self.read) {
                *slot = b;
            }
            self.read += 1;
        }
        if self.read < self.head.len() {
            return false;
        }
        let [a, b, c] = [
            self.head[H2_PREFACE_LEN],
            self.head[H2_PREFACE_LEN + 1],
            self.head[H2_PREFACE_LEN + 2],
        ];
        let length = (usize::from(a) << 16) | (usize::from(b) << 8) | usize::from(c);
        self.read >= self.head.len() + length
    }
}

impl<IO> Guarded<IO> {
    pub(crate) fn new(io: IO, write_timeout: Duration) -> Self {
        Self {
            io,
            write_timeout,
            write_timer: None,
            write_armed: false,
            handshake: None,
        }
    }

    /// Fails reads pending past `deadline` until the HTTP/2 preface and
    /// first frame are read.
    fn with_h2_handshake(mut self, deadline: tokio::time::Instant) -> Self {
        self.handshake = Some(H2Handshake {
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            head: [0; H2_PREFACE_LEN + H2_FRAME_HEADER_LEN],
            read: 0,
        });
        self
    }

    /// After a write returned `Pending`: arms the timer if it is not armed,
    /// and fails once it has run out.
    fn write_pending(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Error> {
        let timeout = self.write_timeout;
        let timer = self
            .write_timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        if !self.write_armed {
            timer.as_mut().reset(tokio::time::Instant::now() + timeout);
            self.write_armed = true;
        }
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client read nothing within limits.write_timeout_ms",
            )),
            Poll::Pending => Poll::Pending,
        }
    }

    fn written<T>(
        &mut self,
        result: Poll<std::io::Result<T>>,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<T>> {
        match result {
            Poll::Ready(r) => {
                self.write_armed = false;
                Poll::Ready(r)
            }
            Poll::Pending => self.write_pending(cx).map(Err),
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Guarded<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if let Some(handshake) = &mut this.handshake
                    && handshake.saw(&buf.filled()[before..])
                {
                    this.handshake = None;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let expired = this
                    .handshake
                    .as_mut()
                    .is_some_and(|h| h.deadline.as_mut().poll(cx).is_ready());
                if expired {
                    Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "no HTTP/2 preface and SETTINGS within limits.header_read_timeout_ms",
                    )))
                } else {
                    Poll::Pending
                }
            }
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Guarded<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.io).poll_write(cx, buf);
        this.written(result, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.written(result, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.io).poll_flush(cx);
        this.written(result, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.io).poll_shutdown(cx);
        this.written(result, cx)
    }
}

/// What the `listening on` lines end with: ` (tls)` over TLS, nothing
/// otherwise (the plain lines stay as tests parse them).
pub(crate) fn tls_suffix(tls: bool) -> &'static str {
    if tls { " (tls)" } else { "" }
}

/// The acceptor of one listener's TLS settings, announcing `alpn`.
///
/// # Errors
///
/// A message naming `listener` and the file that cannot be used.
pub(crate) fn tls_acceptor(
    listener: &str,
    settings: Option<&incident_metrics::exporter::ServerTlsConfig>,
    alpn: &[u8],
) -> Result<Option<TlsAcceptor>, String> {
    let Some(settings) = settings else {
        return Ok(None);
    };
    settings
        .acceptor(&[alpn])
        .map(Some)
        .map_err(|e| format!("{listener} listener: {e}"))
}

/// Re-reads every acceptor's files on SIGHUP until `stop` turns true; the
/// connections already open keep their certificates. A failed reload
/// keeps the previous certificate and says why on stderr.
#[cfg(unix)]
pub(crate) fn reload_on_sighup(
    acceptors: Vec<(&'static str, TlsAcceptor)>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::signal::unix::{SignalKind, signal};
    if acceptors.is_empty() {
        return;
    }
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        return;
    };
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                got = hangups.recv() => {
                    if got.is_none() {
                        break;
                    }
                    for (name, acceptor) in &acceptors {
                        if let Err(e) = acceptor.reload() {
                            report_reload_failure(name, &e.to_string());
                        }
                    }
                }
            }
        }
    });
}

/// Without SIGHUP, certificates are still re-read when their files change.
#[cfg(not(unix))]
pub(crate) fn reload_on_sighup(
    _acceptors: Vec<(&'static str, TlsAcceptor)>,
    _stop: tokio::sync::watch::Receiver<bool>,
) {
}

// An operator asked for the reload and must learn that it failed.
#[allow(clippy::print_stderr)]
fn report_reload_failure(listener: &str, error: &str) {
    eprintln!("{listener} listener: TLS reload failed, the previous certificate stays: {error}");
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        e.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    )
}
