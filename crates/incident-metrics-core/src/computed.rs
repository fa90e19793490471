//! [`ComputedGauge`]: a gauge whose value is computed at scrape time.

use std::fmt;
use std::sync::Arc;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// A gauge whose value is read from a function at every scrape, such as an
/// uptime or a queue length owned by someone else. Nothing runs between
/// scrapes.
///
/// # Examples
///
/// ```
/// use incident_metrics_core::ComputedGauge;
/// use std::time::Instant;
///
/// let start = Instant::now();
/// let uptime = ComputedGauge::new(move || start.elapsed().as_secs_f64());
/// assert!(uptime.value() >= 0.0);
/// ```
#[derive(Clone)]
pub struct ComputedGauge {
    read: Arc<dyn Fn() -> f64 + Send + Sync>,
}

impl ComputedGauge {
    /// A gauge reading its value from `read` at each scrape.
    pub fn new(read: impl Fn() -> f64 + Send + Sync + 'static) -> Self {
        Self {
            read: Arc::new(read),
        }
    }

    /// The value now.
    pub fn value(&self) -> f64 {
        (self.read)()
    }
}

impl fmt::Debug for ComputedGauge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ComputedGauge")
            .field("value", &self.value())
            .finish()
    }
}

impl TypedMetric for ComputedGauge {
    const TYPE: MetricType = MetricType::Gauge;
}

impl EncodeMetric for ComputedGauge {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), fmt::Error> {
        encoder.encode_gauge(&self.value())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Gauge
    }
}
