//! [`Format`]: the two text exposition formats the exporter writes.

use std::fmt;

/// A text exposition format.
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
}

impl Format {
    /// The `Content-Type` header value of a body in this format.
    pub const fn content_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Self::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
        }
    }

    /// A short name for messages: `OpenMetrics 1.0` or `Prometheus text 0.0.4`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OpenMetrics => "OpenMetrics 1.0",
            Self::Prometheus => "Prometheus text 0.0.4",
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
    }

    fn prometheus_client_content_type() -> &'static str {
        incident_metrics_core::prometheus_client::encoding::prometheus_text::CONTENT_TYPE
    }
}
