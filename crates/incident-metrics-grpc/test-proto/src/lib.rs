//! A tiny gRPC service (`test.echo.v1.Echo`) for the tests, examples and
//! benches of `incident-metrics-grpc`, generated at build time by protox and
//! tonic-prost-build, so nothing needs a system `protoc`. Not published:
//! users of the metrics crate never build it.

mod service;

pub use service::{ReplyStream, TestEcho};

/// The generated messages, client and server of `test.echo.v1`.
#[allow(
    missing_docs,
    unreachable_pub,
    missing_debug_implementations,
    clippy::all,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    rust_2018_idioms
)]
pub mod echo {
    tonic::include_proto!("test.echo.v1");
}
