//! Incident families. Severity and status are closed sets, so every series
//! exists from the start (at zero) and is found by array index.

use incident_metrics_core::prometheus_client::encoding::EncodeLabelSet;
use incident_metrics_core::prometheus_client::metrics::counter::Counter;
use incident_metrics_core::prometheus_client::metrics::gauge::Gauge;
use incident_metrics_core::{
    ByLabel, FamilySpec, Histogram, MetricKind, Registry, Result, Unit, buckets, label_enum,
};

use crate::family::{self, CounterFamily, GaugeFamily, HistogramFamily};

label_enum! {
    /// The severity of an incident.
    pub enum Severity {
        /// Service down or data at risk.
        Critical => "critical",
        /// Major degradation.
        High => "high",
        /// Partial degradation.
        Medium => "medium",
        /// Minor issue.
        Low => "low",
        /// For information only.
        Info => "info",
    }
}

label_enum! {
    /// The outcome recorded when an incident is processed.
    pub enum IncidentStatus {
        /// Created and open.
        Open => "open",
        /// Acknowledged by a responder.
        Acknowledged => "acknowledged",
        /// Resolved.
        Resolved => "resolved",
        /// Folded into an open incident with the same fingerprint.
        Deduplicated => "deduplicated",
        /// Processing failed.
        Failed => "failed",
    }
}

label_enum! {
    /// An escalation level; policies deeper than five levels count as 5.
    pub enum EscalationLevel {
        /// First level.
        L1 => "1",
        /// Second level.
        L2 => "2",
        /// Third level.
        L3 => "3",
        /// Fourth level.
        L4 => "4",
        /// Fifth level and beyond.
        L5 => "5",
    }
}

label_enum! {
    /// Where an incident came from: the service's own API (REST or gRPC), or
    /// an Alertmanager webhook.
    pub enum IncidentSource {
        /// Created through the REST or gRPC API.
        Api => "api",
        /// Opened by an alert from Alertmanager's webhook.
        Alertmanager => "alertmanager",
    }
}

impl EscalationLevel {
    /// The level for a 1-based number; 0 counts as 1 and anything above 5 as 5.
    pub fn from_number(level: u32) -> Self {
        match level {
            0 | 1 => Self::L1,
            2 => Self::L2,
            3 => Self::L3,
            4 => Self::L4,
            _ => Self::L5,
        }
    }
}

/// Labels of `incidents_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IncidentLabels {
    /// The incident's severity.
    pub severity: Severity,
    /// The processing outcome.
    pub status: IncidentStatus,
}

/// Labels of the per-severity families.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SeverityLabels {
    /// The incident's severity.
    pub severity: Severity,
}

/// Labels of the per-source families.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    /// Where the incident came from.
    pub source: IncidentSource,
}

/// Labels of the families by severity and source.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SeveritySourceLabels {
    /// The incident's severity.
    pub severity: Severity,
    /// Where the incident came from.
    pub source: IncidentSource,
}

/// Labels of `incident_escalations_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EscalationLabels {
    /// The level escalated to.
    pub level: EscalationLevel,
}

/// `incidents_total`.
pub const INCIDENTS: FamilySpec = FamilySpec {
    name: "incidents",
    help: "Total number of incidents processed, by severity and outcome",
    kind: MetricKind::Counter,
    unit: None,
    labels: &["severity", "status"],
};

/// `incidents_active`.
pub const ACTIVE: FamilySpec = FamilySpec {
    name: "incidents_active",
    help: "Number of incidents open now, by severity",
    kind: MetricKind::Gauge,
    unit: None,
    labels: &["severity"],
};

/// `incident_processing_duration_seconds`.
pub const PROCESSING_DURATION: FamilySpec = FamilySpec {
    name: "incident_processing_duration",
    help: "Time taken to process an incident, by severity",
    kind: MetricKind::Histogram,
    unit: Some(Unit::Seconds),
    labels: &["severity"],
};

/// `incidents_deduplicated_total`.
pub const DEDUPLICATED: FamilySpec = FamilySpec {
    name: "incidents_deduplicated",
    help: "Total number of incoming incidents folded into an open incident",
    kind: MetricKind::Counter,
    unit: None,
    labels: &[],
};

/// `incidents_correlated_total`.
pub const CORRELATED: FamilySpec = FamilySpec {
    name: "incidents_correlated",
    help: "Total number of incidents linked to a related incident",
    kind: MetricKind::Counter,
    unit: None,
    labels: &[],
};

/// `incident_escalations_total`.
pub const ESCALATIONS: FamilySpec = FamilySpec {
    name: "incident_escalations",
    help: "Total number of incident escalations, by level reached",
    kind: MetricKind::Counter,
    unit: None,
    labels: &["level"],
};

/// `incidents_pruned_total`.
pub const PRUNED: FamilySpec = FamilySpec {
    name: "incidents_pruned",
    help: "Total number of resolved incidents deleted by the retention policy",
    kind: MetricKind::Counter,
    unit: None,
    labels: &[],
};

/// `incidents_opened_total`.
pub const OPENED: FamilySpec = FamilySpec {
    name: "incidents_opened",
    help: "Total number of incidents opened (duplicates folded into an open incident not included), by severity and source",
    kind: MetricKind::Counter,
    unit: None,
    labels: &["severity", "source"],
};

/// `incidents_active_by_source`.
pub const ACTIVE_BY_SOURCE: FamilySpec = FamilySpec {
    name: "incidents_active_by_source",
    help: "Number of incidents open or acknowledged now, by source",
    kind: MetricKind::Gauge,
    unit: None,
    labels: &["source"],
};

/// `incident_time_to_acknowledge_seconds`.
pub const TIME_TO_ACKNOWLEDGE: FamilySpec = FamilySpec {
    name: "incident_time_to_acknowledge",
    help: "Time from an incident's creation to its acknowledgement, by severity and source",
    kind: MetricKind::Histogram,
    unit: Some(Unit::Seconds),
    labels: &["severity", "source"],
};

/// `incident_time_to_resolve_seconds`.
pub const TIME_TO_RESOLVE: FamilySpec = FamilySpec {
    name: "incident_time_to_resolve",
    help: "Time from an incident's creation to its resolution, by severity and source",
    kind: MetricKind::Histogram,
    unit: Some(Unit::Seconds),
    labels: &["severity", "source"],
};

/// The incident families, with every series resolved to a handle.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct IncidentMetrics {
    /// `incidents_total{severity, status}`.
    pub incidents: CounterFamily<IncidentLabels>,
    /// `incidents_active{severity}`.
    pub active: GaugeFamily<SeverityLabels>,
    /// `incident_processing_duration_seconds{severity}`.
    pub processing_duration: HistogramFamily<SeverityLabels>,
    /// `incidents_deduplicated_total`.
    pub deduplicated: Counter,
    /// `incidents_correlated_total`.
    pub correlated: Counter,
    /// `incident_escalations_total{level}`.
    pub escalations: CounterFamily<EscalationLabels>,
    /// `incidents_pruned_total`.
    pub pruned: Counter,
    /// `incidents_opened_total{severity, source}`.
    pub opened: CounterFamily<SeveritySourceLabels>,
    /// `incidents_active_by_source{source}`.
    pub active_by_source: GaugeFamily<SourceLabels>,
    /// `incident_time_to_acknowledge_seconds{severity, source}`.
    pub time_to_acknowledge: HistogramFamily<SeveritySourceLabels>,
    /// `incident_time_to_resolve_seconds{severity, source}`.
    pub time_to_resolve: HistogramFamily<SeveritySourceLabels>,
    by_outcome: ByLabel<Severity, ByLabel<IncidentStatus, Counter>>,
    active_by_severity: ByLabel<Severity, Gauge>,
    duration_by_severity: ByLabel<Severity, Histogram>,
    escalations_by_level: ByLabel<EscalationLevel, Counter>,
    opened_by: ByLabel<Severity, ByLabel<IncidentSource, Counter>>,
    active_by_source_handles: ByLabel<IncidentSource, Gauge>,
    acknowledge_by: ByLabel<Severity, ByLabel<IncidentSource, Histogram>>,
    resolve_by: ByLabel<Severity, ByLabel<IncidentSource, Histogram>>,
}

impl IncidentMetrics {
    /// Registers the incident families and creates every series at zero.
    ///
    /// # Errors
    ///
    /// Any registration error.
    pub fn register(registry: &mut Registry) -> Result<Self> {
        let incidents = family::counter::<IncidentLabels>(registry, &INCIDENTS)?;
        let active = family::gauge::<SeverityLabels>(registry, &ACTIVE)?;
        let processing_duration = family::histogram::<SeverityLabels>(
            registry,
            &PROCESSING_DURATION,
            buckets::TASK_DURATION_SECONDS,
        )?;
        let deduplicated = Counter::default();
        registry.register(&DEDUPLICATED, deduplicated.clone())?;
        let correlated = Counter::default();
        registry.register(&CORRELATED, correlated.clone())?;
        let escalations = family::counter::<EscalationLabels>(registry, &ESCALATIONS)?;
        let pruned = Counter::default();
        registry.register(&PRUNED, pruned.clone())?;
        let opened = family::counter::<SeveritySourceLabels>(registry, &OPENED)?;
        let active_by_source = family::gauge::<SourceLabels>(registry, &ACTIVE_BY_SOURCE)?;
        let time_to_acknowledge = family::histogram::<SeveritySourceLabels>(
            registry,
            &TIME_TO_ACKNOWLEDGE,
            buckets::RESPONSE_TIME_SECONDS,
        )?;
        let time_to_resolve = family::histogram::<SeveritySourceLabels>(
            registry,
            &TIME_TO_RESOLVE,
            buckets::RESPONSE_TIME_SECONDS,
        )?;

        let by_outcome = ByLabel::new(|severity| {
            ByLabel::new(|status| {
                incidents
                    .get_or_create(&IncidentLabels { severity, status })
                    .clone()
            })
        });
        let active_by_severity =
            ByLabel::new(|severity| active.get_or_create(&SeverityLabels { severity }).clone());
        let duration_by_severity = ByLabel::new(|severity| {
            processing_duration
                .get_or_create(&SeverityLabels { severity })
                .clone()
        });
        let escalations_by_level = ByLabel::new(|level| {
            escalations
                .get_or_create(&EscalationLabels { level })
                .clone()
        });
        let opened_by = ByLabel::new(|severity| {
            ByLabel::new(|source| {
                opened
                    .get_or_create(&SeveritySourceLabels { severity, source })
                    .clone()
            })
        });
        let active_by_source_handles = ByLabel::new(|source| {
            active_by_source
                .get_or_create(&SourceLabels { source })
                .clone()
        });
        let acknowledge_by = ByLabel::new(|severity| {
            ByLabel::new(|source| {
                time_to_acknowledge
                    .get_or_create(&SeveritySourceLabels { severity, source })
                    .clone()
            })
        });
        let resolve_by = ByLabel::new(|severity| {
            ByLabel::new(|source| {
                time_to_resolve
                    .get_or_create(&SeveritySourceLabels { severity, source })
                    .clone()
            })
        });
        Ok(Self {
            incidents,
            active,
            processing_duration,
            deduplicated,
            correlated,
            escalations,
            pruned,
            opened,
            active_by_source,
            time_to_acknowledge,
            time_to_resolve,
            by_outcome,
            active_by_severity,
            duration_by_severity,
            escalations_by_level,
            opened_by,
            active_by_source_handles,
            acknowledge_by,
            resolve_by,
        })
    }

    /// The `incidents_total` counter for one severity and outcome.
    #[inline]
    pub fn incidents(&self, severity: Severity, status: IncidentStatus) -> &Counter {
        self.by_outcome.get(severity).get(status)
    }

    /// The `incidents_active` gauge for one severity.
    #[inline]
    pub fn active(&self, severity: Severity) -> &Gauge {
        self.active_by_severity.get(severity)
    }

    /// The processing-duration histogram for one severity.
    #[inline]
    pub fn processing_duration(&self, severity: Severity) -> &Histogram {
        self.duration_by_severity.get(severity)
    }

    /// The `incidents_opened_total` counter for one severity and source.
    #[inline]
    pub fn opened(&self, severity: Severity, source: IncidentSource) -> &Counter {
        self.opened_by.get(severity).get(source)
    }

    /// The `incidents_active_by_source` gauge for one source.
    #[inline]
    pub fn active_by_source(&self, source: IncidentSource) -> &Gauge {
        self.active_by_source_handles.get(source)
    }

    /// The time-to-acknowledge histogram for one severity and source.
    #[inline]
    pub fn time_to_acknowledge(&self, severity: Severity, source: IncidentSource) -> &Histogram {
        self.acknowledge_by.get(severity).get(source)
    }

    /// The time-to-resolve histogram for one severity and source.
    #[inline]
    pub fn time_to_resolve(&self, severity: Severity, source: IncidentSource) -> &Histogram {
        self.resolve_by.get(severity).get(source)
    }

    /// The escalation counter for one level.
    #[inline]
    pub fn escalations(&self, level: EscalationLevel) -> &Counter {
        self.escalations_by_level.get(level)
    }
}
