//! gRPC metrics for tonic servers and clients: a tower layer, and a RAII
//! guard for code outside tower.
//!
//! [`GrpcMetricsLayer`] records every call into the gRPC families of
//! [`incident_metrics_catalog::GrpcMetrics`]:
//!
//! | family (after the prefix) | server | client |
//! |---|---|---|
//! | calls started | `grpc_requests_started_total` | `grpc_client_requests_started_total` |
//! | calls handled, by status | `grpc_requests_total` | `grpc_client_requests_total` |
//! | duration to the end of the response stream | `grpc_request_duration_seconds` | `grpc_client_request_duration_seconds` |
//! | calls in progress | `grpc_streams_active` | |
//! | messages received | `grpc_messages_received_total` | `grpc_client_messages_received_total` |
//! | messages sent | `grpc_messages_sent_total` | `grpc_client_messages_sent_total` |
//!
//! all labelled `service` and `method` (from `/package.Service/Method`) and
//! the handled count also `status`, the canonical code name (`OK`,
//! `NOT_FOUND`) the client saw. Counts are exact; only the duration
//! histogram follows the configured sample rate. Messages are counted from
//! the gRPC length prefixes as the bodies stream past, without buffering or
//! decoding. See [`GrpcMetricsLayer`] for how the status is found, and
//! [`GrpcRequestMetrics`], [`RequestGuard`] and [`instrument_grpc!`] for the
//! manual API.
//!
//! # The status recorded
//!
//! | what happens | server records | client records |
//! |---|---|---|
//! | trailers (or a trailers-only answer) carry `grpc-status: N` | code `N` | code `N` |
//! | an answer with an HTTP status other than 200 and no `grpc-status` | the gRPC spec's mapping (`404` → `UNIMPLEMENTED`, `503` → `UNAVAILABLE`, ...) | the same |
//! | the response stream ends without `grpc-status`, or fails | `INTERNAL` | `INTERNAL` |
//! | the response future or body is dropped first (client cancelled) | `CANCELLED` | `CANCELLED` |
//! | the inner service fails (no answer at all) | `UNKNOWN` | `UNKNOWN` |
//! | any of the last three, or `CANCELLED`, after the `grpc-timeout` deadline | `DEADLINE_EXCEEDED` | `DEADLINE_EXCEEDED` |
//! | the handler panics | `INTERNAL` | see below |
//!
//! tonic reports deadlines as `CANCELLED`; both layers record them as the
//! gRPC specification names them. Each side judges by its own clock: the
//! server's deadline starts when the request arrives, so a client that gives
//! up exactly at its deadline may reach the server just before the server's
//! deadline passes, and the server then records `CANCELLED`. A panicking
//! handler is recorded `INTERNAL` once by the call's guard (core's
//! [`PanicFlag`](incident_metrics_core::PanicFlag), as in the HTTP layer;
//! the panic is never caught) and unwinds on unchanged:
//! tonic (without a catch-panic layer) resets the stream, so the client sees
//! `CANCELLED`, and a client layer records the failed channel call as
//! `UNKNOWN` (it would need the `h2` types to read the reset reason).
//!
//! # Where to put the layer
//!
//! On the server, once, on `tonic::transport::Server::builder().layer(..)`:
//! it wraps every service added to the builder (yours, `tonic-health`,
//! `tonic-reflection`) and tonic's own answer to a path no service serves,
//! so every call is counted once, and a call to an unknown service or
//! method (or a malformed path, under `other`/`other`, counted in
//! `label_values_folded_total{label="grpc_method"}`) as `UNIMPLEMENTED`. On a client, around the channel
//! (`ServiceBuilder::new().layer(GrpcMetricsLayer::client(..)).service(channel)`),
//! shared by every generated client built on it. `tests/composition.rs`
//! checks both, with health and reflection beside the service. A layer on
//! one service only (`tower::Layer::layer` on a generated server before
//! `add_service`) sees only that service's calls.
//!
//! On the path of a call the layer does a few atomic operations: each
//! method's handles are resolved once into core's
//! [`LabelTable`](incident_metrics_core::LabelTable), then found by a short
//! seeded hash of the names without a lock or an allocation; a unary call
//! allocates nothing in the layer.
//!
//! # Exemplars
//!
//! Off by default; with `exemplars = true` in the
//! [`MetricsConfig`](incident_metrics_core::MetricsConfig), a call whose
//! `traceparent` metadata entry (W3C Trace Context) is valid and sampled
//! leaves its trace (`trace_id`, `span_id`, the value, a timestamp) as the
//! exemplar of its `grpc_requests_total` (or `grpc_client_requests_total`)
//! series and of its duration bucket, in the OpenMetrics answer only.
//! [`GrpcMetricsLayer::with_exemplar_source`] reads the trace from
//! elsewhere; [`GrpcRequestMetrics::start_request_traced`] takes it by hand.
//! Off, no metadata is read for it: one branch per call.
//!
//! This crate knows no protobuf types and does not depend on tonic: it reads
//! `grpc-status` as a number. It registers nothing by itself: the caller
//! registers the catalog and passes the handles in.
//!
//! # Examples
//!
//! A tonic server and a client channel, both measured:
//!
//! ```
//! use incident_metrics_catalog::Catalog;
//! use incident_metrics_core::{MetricsConfig, Registry};
//! use incident_metrics_grpc::GrpcMetricsLayer;
//! use incident_metrics_grpc_testproto::echo::echo_client::EchoClient;
//! use incident_metrics_grpc_testproto::echo::echo_server::EchoServer;
//! use incident_metrics_grpc_testproto::echo::EchoRequest;
//! use incident_metrics_grpc_testproto::TestEcho;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mut registry = Registry::new(&MetricsConfig::new())?;
//! let catalog = Catalog::register(&mut registry)?;
//!
//! // Server: one layer on the tonic server.
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! let server = tonic::transport::Server::builder()
//!     .layer(GrpcMetricsLayer::server(&catalog))
//!     .add_service(EchoServer::new(TestEcho))
//!     .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener));
//! tokio::spawn(server);
//!
//! // Client: the same layer, client side, around the channel.
//! let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
//!     .connect()
//!     .await?;
//! let channel = tower::ServiceBuilder::new()
//!     .layer(
//!         GrpcMetricsLayer::client(&catalog)
//!             .map_request_body(|body| tonic::body::Body::new(body)),
//!     )
//!     .service(channel);
//! let mut client = EchoClient::new(channel);
//!
//! let request = EchoRequest { text: "not_found".into(), count: 0 };
//! let status = client.unary(request).await.unwrap_err();
//! assert_eq!(status.code(), tonic::Code::NotFound);
//!
//! let mut text = String::new();
//! incident_metrics_core::prometheus_client::encoding::text::encode(
//!     &mut text,
//!     registry.as_prometheus(),
//! )?;
//! let labels = r#"{service="test.echo.v1.Echo",method="Unary",status="NOT_FOUND"}"#;
//! assert!(text.contains(&format!("llm_incident_manager_grpc_requests_total{labels} 1\n")));
//! assert!(text.contains(&format!("llm_incident_manager_grpc_client_requests_total{labels} 1\n")));
//! assert!(text.contains(
//!     r#"llm_incident_manager_grpc_messages_received_total{service="test.echo.v1.Echo",method="Unary"} 1"#
//! ));
//! # Ok(())
//! # }
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//!
//! This crate has no optional features.

mod body;
mod framing;
mod future;
mod guard;
mod handles;
mod interceptor;
mod layer;
mod macros;
mod map;
mod path;
mod recorder;
mod service;
mod status;

#[doc(hidden)]
pub mod __private;

pub use body::{RequestBody, ResponseBody};
pub use future::ResponseFuture;
pub use guard::RequestGuard;
pub use incident_metrics_catalog::grpc::GrpcCode;
pub use interceptor::GrpcRequestMetrics;
pub use layer::GrpcMetricsLayer;
pub use map::{KeepRequestBody, MapRequestBody, MapRequestBodyWith};
pub use service::GrpcMetricsService;
