//! [`render`] and [`render_text`]: a registry as exposition text;
//! [`render_bytes`]: a registry in any format, protobuf included.

use incident_metrics_core::Registry;
use incident_metrics_core::prometheus_client::encoding::{
    prometheus_protobuf, prometheus_text, text,
};

use crate::{Error, Format, Result};

/// Renders every family of `registry` as `format` text.
///
/// Families come out in registration order, each announced with `# HELP`
/// and `# TYPE` (and `# UNIT` in OpenMetrics) even while it has no series.
/// The OpenMetrics text ends with `# EOF`; the Prometheus 0.0.4 text carries
/// no `# UNIT`, no exemplars, no `_created` samples and no `# EOF`, which
/// that format does not know.
///
/// prometheus-client 0.26 writes OpenMetrics help texts unescaped, so
/// [`Registry::register`] refuses help text holding a backslash, a line break
/// or a double quote, and every registered family renders valid text in both
/// formats. Help texts written by collectors
/// ([`Registry::register_collector`]) are not checked: keep them to one line
/// without backslashes or double quotes.
///
/// # Errors
///
/// [`Error::Render`] when a metric or collector fails to encode itself.
/// Writing into a `String` cannot fail, so only a custom metric's `encode`
/// can cause it; the built-in metrics and those of the core crate never do.
/// [`Error::NotText`] for [`Format::Protobuf`], which is binary: use
/// [`render_bytes`].
///
/// # Examples
///
/// ```
/// use incident_metrics_core::prometheus_client::metrics::counter::Counter;
/// use incident_metrics_core::{FamilySpec, MetricKind, MetricsConfig, Registry};
/// use incident_metrics_exporter::{render, Format};
///
/// const JOBS: FamilySpec = FamilySpec {
///     name: "jobs",
///     help: "Jobs run",
///     kind: MetricKind::Counter,
///     unit: None,
///     labels: &[],
/// };
/// let mut registry = Registry::new(&MetricsConfig::new().with_namespace("svc"))?;
/// let jobs = Counter::<u64>::default();
/// registry.register(&JOBS, jobs.clone())?;
/// jobs.inc();
///
/// assert_eq!(
///     render(&registry, Format::OpenMetrics)?,
///     "# HELP svc_jobs Jobs run.\n# TYPE svc_jobs counter\nsvc_jobs_total 1\n# EOF\n"
/// );
/// assert_eq!(
///     render(&registry, Format::Prometheus)?,
///     "# HELP svc_jobs_total Jobs run.\n# TYPE svc_jobs_total counter\nsvc_jobs_total 1\n"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn render(registry: &Registry, format: Format) -> Result<String> {
    // Sized from the previous scrape: no doubling copies of a large text
    // (the scrape bench: 2-15% faster at 100,000 series over three runs,
    // no change at 10,000).
    let mut out = String::with_capacity(registry.exposition_capacity_hint());
    let encoded = match format {
        Format::OpenMetrics => text::encode(&mut out, registry.as_prometheus()),
        Format::Prometheus => prometheus_text::encode(&mut out, registry.as_prometheus()),
        Format::Protobuf => return Err(Error::NotText { format }),
    };
    encoded.map_err(|source| Error::Render { format, source })?;
    registry.note_exposition_len(out.len());
    Ok(out)
}

/// Renders `registry` as Prometheus text 0.0.4, the format every scraper
/// reads (the facade's `gather_metrics()` is this, over the process-wide
/// registry).
///
/// It returns a `Result` rather than a bare `String` on purpose: the only
/// way rendering fails is a metric whose own `encode` errs, and a `String`
/// would have to hide that behind an empty or truncated text, which a
/// scraper would store as "all series gone". With the error in hand the
/// caller can answer `500` (as [`encode_response`](crate::encode_response)
/// does), so that Prometheus marks the target down instead.
///
/// # Errors
///
/// As [`render`].
///
/// # Examples
///
/// ```
/// use incident_metrics_core::{MetricsConfig, Registry};
/// use incident_metrics_exporter::render_text;
///
/// let registry = Registry::new(&MetricsConfig::new())?;
/// assert_eq!(render_text(&registry)?, "");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn render_text(registry: &Registry) -> Result<String> {
    render(registry, Format::Prometheus)
}

/// Renders every family of `registry` in `format`, as bytes: the text
/// formats as [`render`] writes them, [`Format::Protobuf`] as
/// length-delimited `io.prometheus.client.MetricFamily` messages (the body
/// client_golang answers for
/// `application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited`).
///
/// The protobuf answer holds the same families, names, help texts, labels
/// and values as the text answers (counters under their `_total` name, as
/// in Prometheus text 0.0.4); histograms with native buckets (the
/// configuration's `native_histograms`) carry them too, which no text
/// format can.
///
/// # Errors
///
/// As [`render`] for the text formats; [`Error::Protobuf`] when a metric
/// fails to encode itself into protobuf.
///
/// # Examples
///
/// ```
/// use incident_metrics_core::prometheus_client::metrics::counter::Counter;
/// use incident_metrics_core::{FamilySpec, MetricKind, MetricsConfig, Registry};
/// use incident_metrics_exporter::{render_bytes, Format};
///
/// const JOBS: FamilySpec = FamilySpec {
///     name: "jobs",
///     help: "Jobs run",
///     kind: MetricKind::Counter,
///     unit: None,
///     labels: &[],
/// };
/// let mut registry = Registry::new(&MetricsConfig::new().with_namespace("svc"))?;
/// let jobs = Counter::<u64>::default();
/// registry.register(&JOBS, jobs.clone())?;
/// jobs.inc();
///
/// let body = render_bytes(&registry, Format::Protobuf)?;
/// // One length-delimited MetricFamily: its length, then field 1 (the name).
/// assert_eq!(usize::from(body[0]), body.len() - 1);
/// assert_eq!(&body[1..3], &[0x0a, 14]);
/// assert_eq!(&body[3..17], b"svc_jobs_total");
/// assert_eq!(
///     render_bytes(&registry, Format::Prometheus)?,
///     b"# HELP svc_jobs_total Jobs run.\n# TYPE svc_jobs_total counter\nsvc_jobs_total 1\n"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn render_bytes(registry: &Registry, format: Format) -> Result<Vec<u8>> {
    if format.is_text() {
        return render(registry, format).map(String::into_bytes);
    }
    prometheus_protobuf::encode_to_vec(registry.as_prometheus())
        .map_err(|source| Error::Protobuf { format, source })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use incident_metrics_core::prometheus_client::metrics::counter::Counter;
    use incident_metrics_core::prometheus_client::metrics::family::Family;
    use incident_metrics_core::{FamilySpec, MetricKind, MetricsConfig, Registry};

    use super::render;
    use crate::Format;

    const HITS: FamilySpec = FamilySpec {
        name: "hits",
        help: "Hits",
        kind: MetricKind::Counter,
        unit: None,
        labels: &["path"],
    };

    #[test]
    fn the_next_render_is_sized_from_the_last_and_never_regrows() {
        let mut registry = Registry::new(&MetricsConfig::new()).unwrap();
        let hits = Family::<Vec<(String, String)>, Counter>::default();
        registry.register(&HITS, hits.clone()).unwrap();
        for i in 0..500 {
            hits.get_or_create(&vec![("path".to_owned(), format!("/p/{i}"))])
                .inc();
        }
        for format in [Format::OpenMetrics, Format::Prometheus] {
            let first = render(&registry, format).unwrap();
            let hint = first.len() + first.len() / 8;
            assert_eq!(registry.exposition_capacity_hint(), hint);
            let second = render(&registry, format).unwrap();
            assert_eq!(second, first);
            // Reserved exactly the hint and never grew past it.
            assert_eq!(second.capacity(), hint);
        }
    }
}
