//! [`IntoLabel`]: a bounded label given as its enum or as its text.

use incident_metrics_catalog::incident::{EscalationLevel, IncidentStatus, Severity};
use incident_metrics_catalog::llm::{LlmErrorType, LlmFinishReason, LlmOperation};
use incident_metrics_catalog::notification::NotificationStatus;
use incident_metrics_catalog::playbook::PlaybookStatus;
use incident_metrics_catalog::storage::StorageOperation;
use incident_metrics_core::LabelEnum;

/// A value of the bounded label `E`, given as the enum itself (checked at
/// compile time, free) or as its text, as the spec's examples do
/// (`"critical"`, `"completion"`; parsed without allocating).
///
/// Text that names no value gives `None`; each tracker documents what it
/// records then (a catch-all value where the enum has one, otherwise a
/// documented fallback counted in `label_values_folded_total`).
///
/// # Examples
///
/// ```
/// use incident_metrics_catalog::incident::Severity;
/// use incident_metrics_trackers::IntoLabel;
///
/// assert_eq!(IntoLabel::<Severity>::into_label("high"), Some(Severity::High));
/// assert_eq!(Severity::Low.into_label(), Some(Severity::Low));
/// assert_eq!(IntoLabel::<Severity>::into_label("urgent"), None);
/// ```
pub trait IntoLabel<E> {
    /// The value, or `None` for text that names none.
    fn into_label(self) -> Option<E>;
}

macro_rules! into_label {
    ($($e:ty),+ $(,)?) => {$(
        impl IntoLabel<$e> for $e {
            #[inline]
            fn into_label(self) -> Option<$e> {
                Some(self)
            }
        }

        impl IntoLabel<$e> for &str {
            #[inline]
            fn into_label(self) -> Option<$e> {
                <$e as LabelEnum>::from_label(self)
            }
        }
    )+};
}

into_label!(
    Severity,
    IncidentStatus,
    EscalationLevel,
    LlmErrorType,
    StorageOperation,
    PlaybookStatus,
    NotificationStatus,
);

impl IntoLabel<LlmOperation> for LlmOperation {
    #[inline]
    fn into_label(self) -> Option<LlmOperation> {
        Some(self)
    }
}

impl IntoLabel<LlmOperation> for &str {
    /// Accepts the OpenTelemetry spellings too; unknown names are `other`.
    #[inline]
    fn into_label(self) -> Option<LlmOperation> {
        Some(LlmOperation::from_name(self))
    }
}

impl IntoLabel<LlmFinishReason> for LlmFinishReason {
    #[inline]
    fn into_label(self) -> Option<LlmFinishReason> {
        Some(self)
    }
}

impl IntoLabel<LlmFinishReason> for &str {
    /// Accepts the providers' spellings ([`LlmFinishReason::from_name`]);
    /// unknown names are `other`.
    #[inline]
    fn into_label(self) -> Option<LlmFinishReason> {
        Some(LlmFinishReason::from_name(self))
    }
}

impl IntoLabel<EscalationLevel> for u32 {
    /// A 1-based level; 0 counts as 1 and anything above 5 as 5.
    #[inline]
    fn into_label(self) -> Option<EscalationLevel> {
        Some(EscalationLevel::from_number(self))
    }
}
