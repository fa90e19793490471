//! Build information and uptime.

use std::time::Instant;

use incident_metrics_core::prometheus_client::encoding::EncodeLabelSet;
use incident_metrics_core::{
    ComputedGauge, FamilySpec, MetricKind, Registry, Result, SharedStr, Unit,
};

use crate::family::{self, GaugeFamily};

/// What `build_info` reports.
///
/// # Examples
///
/// ```
/// use incident_metrics_catalog::system::BuildInfo;
///
/// let info = BuildInfo::from_build().with_version("2.3.4");
/// assert_eq!(info.version(), "2.3.4");
/// assert!(!info.commit().is_empty()); // a git hash, or "unknown" without git
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildInfo {
    version: String,
    commit: String,
    build_timestamp: String,
}

impl BuildInfo {
    /// The values recorded when this crate was built: its version, the git
    /// commit of the checkout (`unknown` without git, or the value of
    /// `INCIDENT_METRICS_BUILD_COMMIT`), and the build time in RFC 3339 UTC
    /// (`SOURCE_DATE_EPOCH` when set, for reproducible builds).
    pub fn from_build() -> Self {
        Self {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            commit: env!("INCIDENT_METRICS_GIT_COMMIT").to_owned(),
            build_timestamp: env!("INCIDENT_METRICS_BUILD_TIMESTAMP").to_owned(),
        }
    }

    /// Explicit values, for a service that records its own.
    pub fn new(
        version: impl Into<String>,
        commit: impl Into<String>,
        build_timestamp: impl Into<String>,
    ) -> Self {
        Self {
            version: version.into(),
            commit: commit.into(),
            build_timestamp: build_timestamp.into(),
        }
    }

    /// The same information with another version (a service passes
    /// `env!("CARGO_PKG_VERSION")`).
    #[must_use]
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// The version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The git commit.
    pub fn commit(&self) -> &str {
        &self.commit
    }

    /// The build time.
    pub fn build_timestamp(&self) -> &str {
        &self.build_timestamp
    }
}

impl Default for BuildInfo {
    fn default() -> Self {
        Self::from_build()
    }
}

/// Labels of `build_info`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildInfoLabels {
    /// The version.
    pub version: SharedStr,
    /// The git commit.
    pub commit: SharedStr,
    /// The build time.
    pub build_timestamp: SharedStr,
}

/// `build_info`.
pub const BUILD_INFO: FamilySpec = FamilySpec {
    name: "build_info",
    help: "Build information of the running binary; the value is always 1",
    kind: MetricKind::Gauge,
    unit: None,
    labels: &["version", "commit", "build_timestamp"],
};

/// `uptime_seconds`.
pub const UPTIME: FamilySpec = FamilySpec {
    name: "uptime",
    help: "Time since the metrics were set up, computed at scrape time",
    kind: MetricKind::Gauge,
    unit: Some(Unit::Seconds),
    labels: &[],
};

/// Build information and uptime.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SystemMetrics {
    /// `build_info{version, commit, build_timestamp}`, one series at 1.
    pub build_info: GaugeFamily<BuildInfoLabels>,
    /// `uptime_seconds`, read from the clock at each scrape.
    pub uptime: ComputedGauge,
}

impl SystemMetrics {
    /// Registers `build_info` (set to 1 for `info`) and `uptime_seconds`
    /// (counting from now).
    ///
    /// # Errors
    ///
    /// Any registration error.
    pub fn register(registry: &mut Registry, info: &BuildInfo) -> Result<Self> {
        let build_info = family::gauge::<BuildInfoLabels>(registry, &BUILD_INFO)?;
        build_info
            .get_or_create(&BuildInfoLabels {
                version: info.version.as_str().into(),
                commit: info.commit.as_str().into(),
                build_timestamp: info.build_timestamp.as_str().into(),
            })
            .set(1);
        let start = Instant::now();
        let uptime = ComputedGauge::new(move || start.elapsed().as_secs_f64());
        registry.register(&UPTIME, uptime.clone())?;
        Ok(Self { build_info, uptime })
    }
}
