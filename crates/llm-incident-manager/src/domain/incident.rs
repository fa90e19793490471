//! The incident model and the validation of new incidents.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use incident_metrics::catalog::incident::{IncidentSource, Severity as MetricSeverity};
use serde::{Deserialize, Serialize};

/// The longest title accepted, in characters.
pub const MAX_TITLE_CHARS: usize = 256;
/// The longest description accepted, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 16 * 1024;
/// The longest source or fingerprint accepted, in characters.
pub const MAX_FIELD_CHARS: usize = 256;

/// How bad an incident is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Service down or data at risk.
    Critical,
    /// Major degradation.
    High,
    /// Partial degradation.
    Medium,
    /// Minor issue.
    Low,
    /// For information only.
    Info,
}

impl Severity {
    /// Every severity, most severe first.
    pub const ALL: [Self; 5] = [
        Self::Critical,
        Self::High,
        Self::Medium,
        Self::Low,
        Self::Info,
    ];

    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::High => "high",
            Self::Medium => "medium",
            Self::Low => "low",
            Self::Info => "info",
        }
    }

    /// Parses the contract's spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|sev| sev.as_str() == s)
    }

    /// The metrics catalog's label value.
    pub fn metric(self) -> MetricSeverity {
        match self {
            Self::Critical => MetricSeverity::Critical,
            Self::High => MetricSeverity::High,
            Self::Medium => MetricSeverity::Medium,
            Self::Low => MetricSeverity::Low,
            Self::Info => MetricSeverity::Info,
        }
    }
}

/// Where an incident stands: open, then acknowledged by a responder (no
/// longer escalated), then resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Open.
    Open,
    /// Acknowledged by a responder: still active, no longer escalated.
    Acknowledged,
    /// Resolved.
    Resolved,
}

impl Status {
    /// Every status, in lifecycle order.
    pub const ALL: [Self; 3] = [Self::Open, Self::Acknowledged, Self::Resolved];

    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Acknowledged => "acknowledged",
            Self::Resolved => "resolved",
        }
    }

    /// Parses the contract's spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// Open or acknowledged: counted in `incidents_active`, and folding in
    /// duplicates.
    pub fn is_active(self) -> bool {
        self != Self::Resolved
    }
}

/// Where an incident came from: the service's own API (REST or gRPC), or
/// an alert from Alertmanager's webhook. The `source` label of the
/// incident families (`incidents_opened_total`, `incidents_active_by_source`,
/// the time to acknowledge and to resolve).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Created through the REST or gRPC API.
    #[default]
    Api,
    /// Opened by a firing alert from Alertmanager.
    Alertmanager,
}

impl Origin {
    /// Every origin.
    pub const ALL: [Self; 2] = [Self::Api, Self::Alertmanager];

    /// The answer's spelling, and the metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Alertmanager => "alertmanager",
        }
    }

    /// The metrics catalog's label value.
    pub fn metric(self) -> IncidentSource {
        match self {
            Self::Api => IncidentSource::Api,
            Self::Alertmanager => IncidentSource::Alertmanager,
        }
    }
}

/// One incident, as stored and as answered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[non_exhaustive]
pub struct Incident {
    /// Unique id.
    pub id: String,
    /// Short title, 1 to 256 characters.
    pub title: String,
    /// Free text.
    pub description: String,
    /// Severity.
    pub severity: Severity,
    /// Open or resolved.
    pub status: Status,
    /// The reporting system.
    pub source: String,
    /// The caller's fingerprint, if any.
    pub fingerprint: Option<String>,
    /// The deduplication key: the fingerprint, or the source and the title.
    #[serde(skip)]
    pub dedup_key: String,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    /// Milliseconds since the Unix epoch.
    pub updated_at_ms: i64,
    /// Milliseconds since the Unix epoch, once acknowledged.
    #[serde(default)]
    pub acknowledged_at_ms: Option<i64>,
    /// Milliseconds since the Unix epoch, once resolved.
    pub resolved_at_ms: Option<i64>,
    /// 0 until the first escalation.
    pub escalation_level: u32,
    /// Incidents correlated with this one.
    pub correlated_ids: Vec<String>,
    /// The LLM provider's classification.
    pub classification: Option<String>,
    /// The LLM provider's summary.
    pub summary: Option<String>,
    /// Duplicate reports folded into this incident.
    pub duplicate_count: u32,
    /// Notes added by playbooks.
    pub annotations: Vec<String>,
    /// Where the incident came from: `api` or `alertmanager`.
    #[serde(default)]
    pub origin: Origin,
    /// The alert's labels, for an incident opened by Alertmanager; empty
    /// (and left out of the answer) otherwise.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The alert's `generatorURL` (the Prometheus expression that fired),
    /// for an incident opened by Alertmanager; left out otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_url: Option<String>,
    /// When the escalation task looks at this incident next (milliseconds
    /// since the Unix epoch): stored in its own indexed column, not in the
    /// record, and not answered.
    #[serde(skip)]
    pub escalate_at_ms: Option<i64>,
}

/// A request to create an incident, before validation. Unknown JSON fields
/// are ignored, so that clients may send more than the contract names.
///
/// Its OpenAPI schema states the same bounds as the validation that
/// follows; "not blank" is a `pattern` that asks for one character outside
/// Unicode's `White_Space` set, which is what `str::trim` removes.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[non_exhaustive]
pub struct NewIncident {
    /// 1 to 256 characters.
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = "[^\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
    )]
    pub title: String,
    /// Optional free text.
    #[serde(default)]
    #[schema(max_length = 16384)]
    pub description: Option<String>,
    /// `critical`, `high`, `medium`, `low` or `info`.
    #[schema(value_type = Severity)]
    pub severity: String,
    /// The reporting system.
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = "[^\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
    )]
    pub source: String,
    /// Optional deduplication fingerprint.
    #[serde(default)]
    #[schema(max_length = 256)]
    pub fingerprint: Option<String>,
}

impl NewIncident {
    /// A request with the required fields.
    pub fn new(
        title: impl Into<String>,
        severity: impl Into<String>,
        source: impl Into<String>,
    ) -> Self {
        Self {
            title: title.into(),
            description: None,
            severity: severity.into(),
            source: source.into(),
            fingerprint: None,
        }
    }

    /// With a description.
    #[must_use]
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// With a fingerprint.
    #[must_use]
    pub fn with_fingerprint(mut self, fingerprint: impl Into<String>) -> Self {
        self.fingerprint = Some(fingerprint.into());
        self
    }
}

/// A validated request.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ValidIncident {
    pub(crate) title: String,
    pub(crate) description: String,
    pub(crate) severity: Severity,
    pub(crate) source: String,
    pub(crate) fingerprint: Option<String>,
    pub(crate) origin: Origin,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) generator_url: Option<String>,
}

impl ValidIncident {
    /// The key duplicates fold on: an alert's fingerprint for Alertmanager
    /// (its own namespace, so that an API fingerprint never folds into an
    /// alert's incident), else the caller's fingerprint, else the source
    /// and the title.
    pub(crate) fn dedup_key(&self) -> String {
        match (self.origin, &self.fingerprint) {
            (Origin::Alertmanager, Some(fp)) => alert_dedup_key(fp),
            (_, Some(fp)) => format!("fp:{fp}"),
            (_, None) => format!("st:{}\u{1f}{}", self.source, self.title),
        }
    }
}

/// The deduplication key of the incident of the alert with `fingerprint`.
/// The store counts alert-backed incidents by this prefix
/// ([`crate::storage::Storage::active_counts`]): no other key starts with
/// `am:`.
pub(crate) fn alert_dedup_key(fingerprint: &str) -> String {
    format!("am:{fingerprint}")
}

/// Why a request was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ValidationError {
    /// The field.
    pub field: &'static str,
    /// What is wrong.
    pub reason: String,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> ValidationError {
    ValidationError {
        field,
        reason: reason.into(),
    }
}

impl NewIncident {
    pub(crate) fn validate(self) -> Result<ValidIncident, ValidationError> {
        let title_len = self.title.chars().count();
        if self.title.trim().is_empty() || title_len > MAX_TITLE_CHARS {
            return Err(invalid(
                "title",
                format!("must be 1 to {MAX_TITLE_CHARS} characters, not blank"),
            ));
        }
        let severity = Severity::parse(&self.severity).ok_or_else(|| {
            invalid(
                "severity",
                "must be one of critical, high, medium, low, info",
            )
        })?;
        if self.source.trim().is_empty() || self.source.chars().count() > MAX_FIELD_CHARS {
            return Err(invalid(
                "source",
                format!("must be 1 to {MAX_FIELD_CHARS} characters"),
            ));
        }
        let description = self.description.unwrap_or_default();
        if description.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(invalid(
                "description",
                format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
            ));
        }
        let fingerprint = match self.fingerprint {
            Some(fp) if fp.is_empty() => None,
            Some(fp) if fp.chars().count() > MAX_FIELD_CHARS => {
                return Err(invalid(
                    "fingerprint",
                    format!("must be at most {MAX_FIELD_CHARS} characters"),
                ));
            }
            other => other,
        };
        Ok(ValidIncident {
            title: self.title,
            description,
            severity,
            source: self.source,
            fingerprint,
            origin: Origin::Api,
            labels: BTreeMap::new(),
            generator_url: None,
        })
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A new random id in the UUID v4 layout, from std's randomly seeded hasher
/// and a process-wide counter.
pub(crate) fn new_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut a = std::collections::hash_map::RandomState::new().build_hasher();
    a.write_u64(n);
    a.write_i64(now_ms());
    let hi = a.finish();
    let mut b = std::collections::hash_map::RandomState::new().build_hasher();
    b.write_u64(hi ^ n);
    let lo = b.finish();
    let hi = (hi & 0xffff_ffff_ffff_0fff) | 0x4000;
    let lo = (lo & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(NewIncident::new("t", "high", "s").validate().is_ok());
        assert_eq!(
            NewIncident::new("", "high", "s")
                .validate()
                .unwrap_err()
                .field,
            "title"
        );
        assert_eq!(
            NewIncident::new("x".repeat(257), "high", "s")
                .validate()
                .unwrap_err()
                .field,
            "title"
        );
        assert!(
            NewIncident::new("x".repeat(256), "high", "s")
                .validate()
                .is_ok()
        );
        assert_eq!(
            NewIncident::new("t", "urgent", "s")
                .validate()
                .unwrap_err()
                .field,
            "severity"
        );
        assert_eq!(
            NewIncident::new("t", "low", "")
                .validate()
                .unwrap_err()
                .field,
            "source"
        );
    }

    #[test]
    fn dedup_keys() {
        let a = NewIncident::new("t", "high", "s").validate().unwrap();
        let b = NewIncident::new("t", "low", "s")
            .with_fingerprint("f")
            .validate()
            .unwrap();
        assert_ne!(a.dedup_key(), b.dedup_key());
    }

    #[test]
    fn ids_are_unique_and_shaped() {
        let ids: std::collections::HashSet<_> = (0..1000).map(|_| new_id()).collect();
        assert_eq!(ids.len(), 1000);
        let id = new_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
    }
}
