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
//!   the listener stops accepting until one closes.
//!
//! Graceful shutdown works as with `axum::serve(..).with_graceful_shutdown`:
//! once the shutdown future completes, the listener closes, idle
//! connections close, and the in-flight requests finish before
//! [`serve_http`] returns.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
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
    /// idle keep-alive connection waits for its next request, and the
    /// longest a new gRPC connection may stay silent. Default 10 000.
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
        Ok(())
    }
}

/// Serves `router` on `listener` over HTTP/1.1 with `limits` until
/// `shutdown` completes, then stops accepting, lets the in-flight requests
/// finish and returns.
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
    let connections = std::sync::Arc::new(Semaphore::new(
        limits.max_connections.clamp(1, MAX_CONNECTIONS),
    ));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // A slot first: at the limit, nothing is accepted until a
        // connection ends (the semaphore is never closed).
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = std::sync::Arc::clone(&connections).acquire_owned() => match slot {
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
        let connection = builder.serve_connection(TokioIo::new(stream), service.clone());
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that misbehaves ends only its own connection.
            let _ = connection.await;
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// The gRPC listener's connections, as tonic's `serve_with_incoming` takes
/// them: TCP_NODELAY set (without it small HTTP/2 frames can wait on Nagle
/// and delayed ACKs: the load generator saw a fifth of the gRPC throughput
/// and a 46 ms p99), and only the connections whose client sends its first
/// bytes within [`Limits::header_read_timeout_ms`]. One that stays silent
/// is closed: hyper's HTTP/2 server would wait for its connection preface
/// forever. At most [`Limits::max_connections`] connections wait for their
/// first bytes at once; past that, accepting pauses.
pub fn grpc_incoming(
    listener: TcpListener,
    limits: &Limits,
) -> impl futures_util::Stream<Item = std::io::Result<TcpStream>> + Send + 'static {
    use futures_util::StreamExt;
    let first_bytes = limits.header_read_timeout();
    tokio_stream::wrappers::TcpListenerStream::new(listener)
        .map(move |accepted| async move {
            let tcp = match accepted {
                Ok(tcp) => tcp,
                Err(e) => return Some(Err(e)),
            };
            let _ = tcp.set_nodelay(true);
            let mut first = [0_u8; 1];
            match tokio::time::timeout(first_bytes, tcp.peek(&mut first)).await {
                Ok(Ok(n)) if n > 0 => Some(Ok(tcp)),
                // Silent past the timeout, closed, or failed: dropped.
                _ => None,
            }
        })
        .buffer_unordered(limits.max_connections.clamp(1, MAX_CONNECTIONS))
        .filter_map(std::future::ready)
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        e.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    )
}
