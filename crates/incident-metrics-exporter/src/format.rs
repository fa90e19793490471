//! [`Format`]: the exposition formats the exporter writes (two texts and
//! the protobuf format).

use std::fmt;

/// An exposition format: OpenMetrics text, Prometheus text 0.0.4, or the
/// Prometheus protobuf format.
///
/// Pick one from a scraper's `Accept` header with
/// [`negotiate_format`](crate::negotiate_format), then
/// [`render`](crate::render) it.
///
/// # Examples
///
/// ```
/// use incident_metrics_exporter::Format;
///
/// assert_eq!(
///     Format::Prometheus.content_type(),
///     "text/plain; version=0.0.4; charset=utf-8"
/// );
/// assert_eq!(Format::default(), Format::Prometheus);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// OpenMetrics 1.0 text: `# UNIT` lines, counters typed under their
    /// family name, histograms as `_sum`/`_count`/`_bucket`, ending in `# EOF`.
    OpenMetrics,
    /// Prometheus text format 0.0.4, the default: counters typed under their
    /// `_total` name, no `# UNIT`, no exemplars, no `# EOF`.
    #[default]
    Prometheus,
    /// The Prometheus protobuf format: length-delimited
    /// `io.prometheus.client.MetricFamily` messages, the only format that
    /// carries native histograms. Prometheus asks for it first when started
    /// with `--enable-feature=native-histograms`. Binary: render it with
    /// [`render_bytes`](crate::render_bytes).
    Protobuf,
}

/// The `Content-Type` of [`Format::Protobuf`], as client_golang's
/// `expfmt.FmtProtoDelim` writes it.
const PROTOBUF_CONTENT_TYPE: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

impl Format {
    /// The `Content-Type` header value of a body in this format.
    pub const fn content_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Self::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            Self::Protobuf => PROTOBUF_CONTENT_TYPE,
        }
    }

    /// Whether bodies in this format are text (UTF-8), which
    /// [`render`](crate::render) returns as a `String`.
    pub const fn is_text(self) -> bool {
        !matches!(self, Self::Protobuf)
    }

    /// A short name for messages: `OpenMetrics 1.0`, `Prometheus text 0.0.4`
    /// or `Prometheus protobuf`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OpenMetrics => "OpenMetrics 1.0",
            Self::Prometheus => "Prometheus text 0.0.4",
            Self::Protobuf => "Prometheus protobuf",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_match_the_standards() {
        // The exact strings client_golang's expfmt uses (FmtText, FmtOpenMetrics_1_0_0).
        assert_eq!(
            Format::OpenMetrics.content_type(),
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        );
        assert_eq!(
            Format::Prometheus.content_type(),
            prometheus_client_content_type()
        );
        // client_golang's FmtProtoDelim.
        assert_eq!(
            Format::Protobuf.content_type(),
            "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
        );
        assert!(Format::OpenMetrics.is_text() && Format::Prometheus.is_text());
        assert!(!Format::Protobuf.is_text());
    }

    fn prometheus_client_content_type() -> &'static str {
        incident_metrics_core::prometheus_client::encoding::prometheus_text::CONTENT_TYPE
    }
}
