//! [`OpenTelemetrySource`]: the exemplar source that reads the trace of the
//! current `tracing-opentelemetry` span (feature `opentelemetry`).

use incident_metrics_core::{ExemplarSource, HeaderLookup, TraceContext};
use opentelemetry::trace::TraceContextExt;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// An [`ExemplarSource`] that reads the trace of the current
/// [`tracing`] span as the `tracing-opentelemetry` layer knows it, instead
/// of the request's headers: for services whose tracing (a
/// `tower_http::trace::TraceLayer` outside the metrics layer, an
/// OpenTelemetry propagator that extracts the caller's context, or a span
/// of their own) already runs the request inside an OpenTelemetry span.
///
/// It returns that span's trace id and span id when the span is sampled,
/// and `None` outside any span, in a span that the `tracing-opentelemetry`
/// layer does not track (no such layer in the subscriber), or when the
/// OpenTelemetry sampler dropped the trace. The layer calls it in its
/// `call`, so the span must be entered around the metrics layer's `call`
/// (as `TraceLayer` does for the services inside it).
///
/// Reading the span's context makes `tracing-opentelemetry` build its
/// OpenTelemetry span at that point if it has not yet (as
/// [`OpenTelemetrySpanExt::context`] always does), and clones an
/// OpenTelemetry `Context` (an `Arc`): a few allocations per request, only
/// while exemplars are on.
///
/// # Examples
///
/// ```
/// use incident_metrics_catalog::Catalog;
/// use incident_metrics_core::{ExemplarSource, MetricsConfig, Registry};
/// use incident_metrics_http::{HttpMetricsLayer, OpenTelemetrySource};
///
/// let mut registry = Registry::new(&MetricsConfig::new().with_exemplars(true))?;
/// let catalog = Catalog::register(&mut registry)?;
/// let layer = HttpMetricsLayer::new(&catalog).with_exemplar_source(OpenTelemetrySource);
///
/// // Outside any span there is no trace.
/// let no_headers: &[(&str, &str)] = &[];
/// assert!(OpenTelemetrySource.trace_context(&no_headers).is_none());
/// # drop(layer);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenTelemetrySource;

impl OpenTelemetrySource {
    /// The sampled trace of the current span, if any (what
    /// [`trace_context`](ExemplarSource::trace_context) returns, without
    /// headers): also for code outside a layer, such as an LLM call's
    /// tracker (`LlmCallTracker::with_trace`).
    pub fn current() -> Option<TraceContext> {
        let span = tracing::Span::current();
        if span.is_disabled() {
            return None;
        }
        let context = span.context();
        let otel_span = context.span();
        let span_context = otel_span.span_context();
        if !span_context.is_valid() || !span_context.is_sampled() {
            return None;
        }
        TraceContext::new(
            span_context.trace_id().to_bytes(),
            span_context.span_id().to_bytes(),
            true,
        )
    }
}

impl ExemplarSource for OpenTelemetrySource {
    fn trace_context(&self, _headers: &dyn HeaderLookup) -> Option<TraceContext> {
        Self::current()
    }
}
