//! [`GrpcMetricsLayer`]: the tower layer.

use std::sync::Arc;

use incident_metrics_catalog::Catalog;
use incident_metrics_core::ExemplarSource;
use tower_layer::Layer;

use crate::body::RequestBody;
use crate::handles::Side;
use crate::map::{KeepRequestBody, MapRequestBodyWith};
use crate::recorder::Recorder;
use crate::service::GrpcMetricsService;

/// A tower [`Layer`] that records gRPC calls into the catalog's gRPC
/// families, for a tonic server ([`server`](Self::server)) or a tonic client
/// channel ([`client`](Self::client)).
///
/// Per call it counts the start, the end with the status code the client saw
/// (from `grpc-status` in a trailers-only answer or in the trailers, mapped
/// from the HTTP status of a non-gRPC answer, `CANCELLED` when the response
/// stream is dropped before its end, `UNKNOWN` when the inner service fails
/// and `INTERNAL` when the response stream fails; any of these three, or a
/// `CANCELLED` status, is `DEADLINE_EXCEEDED` once the call's `grpc-timeout`
/// has passed, since tonic reports deadlines as `CANCELLED`), the duration to the end of
/// the response stream, the active streams (server), and the messages in each
/// direction, read from the gRPC length prefixes as the bodies pass.
///
/// `service` and `method` come from the path `/package.Service/Method`.
/// The layer labels as many distinct methods as the gRPC families'
/// cardinality limits allow (the largest of them: `cardinality_limit`, or
/// the families' entries in `cardinality_limits`); a malformed path, and
/// every method past that, is counted under `other`/`other`
/// ([`OVERFLOW_VALUE`](incident_metrics_core::OVERFLOW_VALUE)), each such
/// call counted in `label_values_folded_total{label="grpc_method"}`. Each
/// method's handles are resolved once into core's
/// [`LabelTable`](incident_metrics_core::LabelTable) and found again without
/// a lock or an allocation. Cloning the layer is cheap and clones share
/// that table.
///
/// A server handler that panics is recorded as `INTERNAL`; the panic then
/// unwinds on (tonic resets the stream, so the client itself sees
/// `CANCELLED` unless a catch-panic layer inside this one turns the panic into
/// an answer).
///
/// # Examples
///
/// See the [crate documentation](crate) for a server and a client.
#[derive(Clone, Debug)]
pub struct GrpcMetricsLayer<M = KeepRequestBody> {
    recorder: Recorder,
    map: M,
}

impl GrpcMetricsLayer {
    /// A layer for a server (`tonic::transport::Server::builder().layer(..)`),
    /// recording into `grpc_requests_total`, `grpc_request_duration_seconds`,
    /// `grpc_streams_active`, `grpc_requests_started_total`,
    /// `grpc_messages_received_total` and `grpc_messages_sent_total`.
    /// The configuration the catalog was registered under
    /// ([`Catalog::config`]) gives the sample rate of the duration histogram
    /// and the on/off switch. The facade's `Metrics::grpc_server_layer` is
    /// this call.
    pub fn server(catalog: &Catalog) -> Self {
        Self {
            recorder: Recorder::new(&catalog.grpc, catalog.config(), Side::Server),
            map: KeepRequestBody,
        }
    }

    /// A layer for a client channel, recording into the `grpc_client_*`
    /// families. A tonic `Channel` takes only `tonic::body::Body`, so wrap it
    /// with [`map_request_body`](Self::map_request_body). The facade's
    /// `Metrics::grpc_client_layer` is this call.
    pub fn client(catalog: &Catalog) -> Self {
        Self {
            recorder: Recorder::new(&catalog.grpc, catalog.config(), Side::Client),
            map: KeepRequestBody,
        }
    }
}

impl<M> GrpcMetricsLayer<M> {
    /// Sets where the layer finds a call's trace while exemplars are on
    /// (`exemplars = true` in the catalog's configuration): by default
    /// [`TraceparentSource`](incident_metrics_core::TraceparentSource), the
    /// W3C `traceparent` metadata entry when valid and sampled. With
    /// exemplars off the source is never called.
    ///
    /// # Examples
    ///
    /// ```
    /// use incident_metrics_catalog::Catalog;
    /// use incident_metrics_core::{MetricsConfig, Registry, TraceparentSource};
    /// use incident_metrics_grpc::GrpcMetricsLayer;
    ///
    /// let mut registry = Registry::new(&MetricsConfig::new().with_exemplars(true))?;
    /// let catalog = Catalog::register(&mut registry)?;
    /// let layer = GrpcMetricsLayer::server(&catalog).with_exemplar_source(TraceparentSource);
    /// # let _ = layer;
    /// # Ok::<(), incident_metrics_core::Error>(())
    /// ```
    #[must_use]
    pub fn with_exemplar_source(self, source: impl ExemplarSource) -> Self {
        Self {
            recorder: self.recorder.with_exemplar_source(Arc::new(source)),
            map: self.map,
        }
    }

    /// Converts the counting request body into the inner service's body
    /// type with `f`: `|body| tonic::body::Body::new(body)` for a tonic
    /// `Channel`.
    pub fn map_request_body<F, B, O>(self, f: F) -> GrpcMetricsLayer<MapRequestBodyWith<F>>
    where
        F: Fn(RequestBody<B>) -> O,
    {
        GrpcMetricsLayer {
            recorder: self.recorder,
            map: MapRequestBodyWith(f),
        }
    }
}

impl<S, M: Clone> Layer<S> for GrpcMetricsLayer<M> {
    type Service = GrpcMetricsService<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetricsService::new(inner, self.recorder.clone(), self.map.clone())
    }
}
