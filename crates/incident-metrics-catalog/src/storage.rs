//! Storage families.

use incident_metrics_core::prometheus_client::encoding::EncodeLabelSet;
use incident_metrics_core::{
    FamilySpec, MetricKind, Registry, Result, SharedStr, Unit, buckets, label_enum,
};

use crate::family::{self, CounterFamily, GaugeFamily, HistogramFamily};

label_enum! {
    /// The kind of storage operation.
    pub enum StorageOperation {
        /// Read one record.
        Get => "get",
        /// Write a new record.
        Insert => "insert",
        /// Change a record.
        Update => "update",
        /// Remove a record.
        Delete => "delete",
        /// Read many records.
        List => "list",
        /// Run a query.
        Query => "query",
        /// Commit a transaction (where a durable store waits for the disk).
        Commit => "commit",
        /// Anything else (migrations, compaction).
        Other => "other",
    }
}

/// Labels of the per-operation storage families.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StorageLabels {
    /// The operation.
    pub operation: StorageOperation,
    /// The backend, e.g. `sqlite`.
    pub backend: SharedStr,
}

/// Labels of `storage_size_bytes`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BackendLabels {
    /// The backend.
    pub backend: SharedStr,
}

/// `storage_operations_total`.
pub const OPERATIONS: FamilySpec = FamilySpec {
    name: "storage_operations",
    help: "Total number of storage operations, by operation and backend",
    kind: MetricKind::Counter,
    unit: None,
    labels: &["operation", "backend"],
};

/// `storage_operation_duration_seconds`.
pub const OPERATION_DURATION: FamilySpec = FamilySpec {
    name: "storage_operation_duration",
    help: "Time taken by a storage operation, by operation and backend",
    kind: MetricKind::Histogram,
    unit: Some(Unit::Seconds),
    labels: &["operation", "backend"],
};

/// `storage_size_bytes`.
pub const SIZE: FamilySpec = FamilySpec {
    name: "storage_size",
    help: "Size of the stored data, by backend",
    kind: MetricKind::Gauge,
    unit: Some(Unit::Bytes),
    labels: &["backend"],
};

/// The storage families.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StorageMetrics {
    /// `storage_operations_total{operation, backend}`.
    pub operations: CounterFamily<StorageLabels>,
    /// `storage_operation_duration_seconds{operation, backend}`.
    pub operation_duration: HistogramFamily<StorageLabels>,
    /// `storage_size_bytes{backend}`.
    pub size_bytes: GaugeFamily<BackendLabels>,
}

impl StorageMetrics {
    /// Registers the storage families.
    ///
    /// # Errors
    ///
    /// Any registration error.
    pub fn register(registry: &mut Registry) -> Result<Self> {
        Ok(Self {
            operations: family::counter(registry, &OPERATIONS)?,
            operation_duration: family::histogram(
                registry,
                &OPERATION_DURATION,
                buckets::STORAGE_DURATION_SECONDS,
            )?,
            size_bytes: family::gauge(registry, &SIZE)?,
        })
    }
}
