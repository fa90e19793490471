//! [`CardinalityLimiter`]: a cap on the distinct values of one open label.

use std::fmt;

use incident_metrics_catalog::LimitMetrics;
use incident_metrics_core::{LabelTable, SharedStr};

/// The value that every value past a label's limit is folded into: core's
/// [`OVERFLOW_VALUE`](incident_metrics_core::OVERFLOW_VALUE), the value
/// every label of a family's overflow series takes as well.
pub use incident_metrics_core::OVERFLOW_VALUE;

/// Admits the first `max_values` distinct values of one label and folds
/// every later one into [`OVERFLOW_VALUE`], counting each folded
/// observation in `label_values_folded_total{label}`.
///
/// This limits the distinct *values of one label*, before a label set is
/// formed. Each family also has a limit on its *series*
/// ([`BoundedFamily`](incident_metrics_core::BoundedFamily), configured by
/// `cardinality_limit`): it caps the combinations of limited values, and
/// counts what it folds in `metrics_cardinality_overflow_total{family}`.
///
/// The values live in core's [`LabelTable`], the one lookup table of the
/// toolkit: a value seen before is found without a lock or an allocation;
/// a new value is copied once, when it is admitted. [`OVERFLOW_VALUE`]
/// itself is always accepted and takes no place.
///
/// # Examples
///
/// ```
/// use incident_metrics_catalog::Catalog;
/// use incident_metrics_core::{MetricsConfig, Registry};
/// use incident_metrics_trackers::CardinalityLimiter;
///
/// let mut registry = Registry::new(&MetricsConfig::new())?;
/// let metrics = Catalog::register(&mut registry)?;
/// let models = CardinalityLimiter::new("llm_model", 2, &metrics.limits);
/// assert_eq!(models.limit("gpt-4o"), "gpt-4o");
/// assert_eq!(models.limit("claude-3-5-haiku"), "claude-3-5-haiku");
/// assert_eq!(models.limit("mistral-large"), "other"); // past the cap
/// assert_eq!(models.limit("gpt-4o"), "gpt-4o"); // admitted values stay
/// assert_eq!(models.folded(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct CardinalityLimiter {
    label: &'static str,
    values: LabelTable<()>,
}

impl CardinalityLimiter {
    /// A limiter for the label named `label` (as it appears in
    /// `label_values_folded_total{label}`, e.g. `llm_model`) admitting at
    /// most `max_values` distinct values. Creates the folded-count series,
    /// at zero.
    pub fn new(label: &'static str, max_values: usize, limits: &LimitMetrics) -> Self {
        Self {
            label,
            values: LabelTable::new(max_values, limits.label_values_folded.counter(label)),
        }
    }

    /// The label value to record for `value`: `value` itself if it is (or
    /// can still be) admitted, [`OVERFLOW_VALUE`] otherwise.
    #[inline]
    pub fn limit(&self, value: &str) -> &SharedStr {
        let [limited] = self.values.get_or_insert_with([value], |_| ()).keys();
        limited
    }

    /// The label this limiter guards.
    pub fn label(&self) -> &'static str {
        self.label
    }

    /// The number of values admitted so far.
    pub fn admitted(&self) -> usize {
        self.values.len()
    }

    /// The number of observations folded so far.
    pub fn folded(&self) -> u64 {
        self.values.folded()
    }
}

impl fmt::Debug for CardinalityLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardinalityLimiter")
            .field("label", &self.label)
            .field("values", &self.values)
            .finish()
    }
}
