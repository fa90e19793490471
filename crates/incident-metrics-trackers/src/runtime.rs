//! [`RuntimeCollector`]: process and tokio runtime metrics, read at scrape
//! time.

use std::fmt;

use incident_metrics_core::Registry;
use incident_metrics_core::prometheus_client::collector::Collector;
use incident_metrics_core::prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use incident_metrics_core::prometheus_client::metrics::counter::ConstCounter;
use incident_metrics_core::prometheus_client::metrics::gauge::ConstGauge;
use incident_metrics_core::prometheus_client::registry::Unit;

/// Process and runtime metrics computed at each scrape (a prometheus-client
/// [`Collector`]); nothing runs between scrapes.
///
/// On Linux it reads `/proc` and reports the process families under the
/// names client_golang and the other official clients use:
///
/// | family | type | source |
/// |---|---|---|
/// | `process_cpu_seconds_total` | counter | `/proc/self/stat` utime + stime (at 100 ticks per second, as Prometheus' procfs assumes) |
/// | `process_resident_memory_bytes` | gauge | `VmRSS` of `/proc/self/status` |
/// | `process_virtual_memory_bytes` | gauge | `VmSize` of `/proc/self/status` |
/// | `process_open_fds` | gauge | entries of `/proc/self/fd` |
/// | `process_max_fds` | gauge | soft `Max open files` of `/proc/self/limits` |
/// | `process_start_time_seconds` | gauge | start time since the epoch, from `/proc/self/stat` and `btime` of `/proc/stat` |
/// | `process_threads` | gauge | `/proc/self/stat` |
///
/// Elsewhere the process families are absent; a file that cannot be read
/// leaves out only the families it feeds, never the scrape.
///
/// With the `tokio` feature and a runtime handle
/// (`with_tokio`), it adds the runtime metrics stable
/// tokio exposes: `tokio_workers`, `tokio_alive_tasks` and
/// `tokio_global_queue_depth` (gauges).
///
/// `uptime_seconds` is not repeated here: the catalog's
/// [`SystemMetrics`](incident_metrics_catalog::SystemMetrics) already
/// computes it at scrape time.
///
/// # Names and the registry prefix
///
/// prometheus-client puts a registry's prefix in front of its collectors'
/// names too. Registered into the service's registry (namespace
/// `llm_incident_manager`), the families come out as
/// `llm_incident_manager_process_cpu_seconds_total` and so on, which keeps
/// the contract's rule that every name starts with the prefix. Registered
/// into a registry built with an empty namespace, they carry exactly the
/// standard names above.
///
/// # Examples
///
/// ```
/// use incident_metrics_core::{MetricsConfig, Registry};
/// use incident_metrics_trackers::RuntimeCollector;
///
/// let mut registry = Registry::new(&MetricsConfig::new().with_namespace(""))?;
/// RuntimeCollector::new().register(&mut registry);
/// let mut text = String::new();
/// incident_metrics_core::prometheus_client::encoding::text::encode(&mut text, registry.as_prometheus())?;
/// if cfg!(target_os = "linux") {
///     assert!(text.contains("# TYPE process_cpu_seconds counter\n"));
///     assert!(text.contains("\nprocess_threads "));
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct RuntimeCollector {
    #[cfg(feature = "tokio")]
    tokio: Option<tokio::runtime::Handle>,
}

impl RuntimeCollector {
    /// A collector of the process families.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same collector, also reporting the runtime of `handle`.
    #[cfg(feature = "tokio")]
    #[must_use]
    pub fn with_tokio(mut self, handle: tokio::runtime::Handle) -> Self {
        self.tokio = Some(handle);
        self
    }

    /// The same collector, also reporting the tokio runtime this is called
    /// from, if any.
    #[cfg(feature = "tokio")]
    #[must_use]
    pub fn with_current_tokio(mut self) -> Self {
        self.tokio = tokio::runtime::Handle::try_current().ok();
        self
    }

    /// Registers the collector into `registry`.
    pub fn register(self, registry: &mut Registry) {
        registry.register_collector(Box::new(self));
    }
}

impl fmt::Debug for RuntimeCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RuntimeCollector");
        #[cfg(feature = "tokio")]
        d.field("tokio", &self.tokio.is_some());
        d.finish()
    }
}

fn counter(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    value: f64,
) -> fmt::Result {
    let metric = ConstCounter::new(value);
    let metric_encoder = encoder.encode_descriptor(name, help, unit, metric.metric_type())?;
    metric.encode(metric_encoder)
}

fn gauge(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    value: f64,
) -> fmt::Result {
    let metric = ConstGauge::new(value);
    let metric_encoder = encoder.encode_descriptor(name, help, unit, metric.metric_type())?;
    metric.encode(metric_encoder)
}

impl Collector for RuntimeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let stats = ProcessStats::read();
        let seconds = Unit::Seconds;
        let bytes = Unit::Bytes;
        if let Some(v) = stats.cpu_seconds {
            counter(
                &mut encoder,
                "process_cpu",
                "Total user and system CPU time spent in seconds",
                Some(&seconds),
                v,
            )?;
        }
        if let Some(v) = stats.resident_memory_bytes {
            gauge(
                &mut encoder,
                "process_resident_memory",
                "Resident memory size in bytes",
                Some(&bytes),
                v,
            )?;
        }
        if let Some(v) = stats.virtual_memory_bytes {
            gauge(
                &mut encoder,
                "process_virtual_memory",
                "Virtual memory size in bytes",
                Some(&bytes),
                v,
            )?;
        }
        if let Some(v) = stats.open_fds {
            gauge(
                &mut encoder,
                "process_open_fds",
                "Number of open file descriptors",
                None,
                v,
            )?;
        }
        if let Some(v) = stats.max_fds {
            gauge(
                &mut encoder,
                "process_max_fds",
                "Maximum number of open file descriptors",
                None,
                v,
            )?;
        }
        if let Some(v) = stats.start_time_seconds {
            gauge(
                &mut encoder,
                "process_start_time",
                "Start time of the process since unix epoch in seconds",
                Some(&seconds),
                v,
            )?;
        }
        if let Some(v) = stats.threads {
            gauge(
                &mut encoder,
                "process_threads",
                "Number of OS threads in the process",
                None,
                v,
            )?;
        }
        #[cfg(feature = "tokio")]
        if let Some(handle) = &self.tokio {
            let m = handle.metrics();
            // usize -> f64 is exact below 2^53.
            #[allow(clippy::cast_precision_loss)]
            let values = [
                (
                    "tokio_workers",
                    "Number of worker threads of the tokio runtime",
                    m.num_workers() as f64,
                ),
                (
                    "tokio_alive_tasks",
                    "Number of tasks alive in the tokio runtime",
                    m.num_alive_tasks() as f64,
                ),
                (
                    "tokio_global_queue_depth",
                    "Number of tasks waiting in the tokio runtime's global queue",
                    m.global_queue_depth() as f64,
                ),
            ];
            for (name, help, value) in values {
                gauge(&mut encoder, name, help, None, value)?;
            }
        }
        Ok(())
    }
}

/// One reading of the process statistics; each is `None` when its source
/// could not be read.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ProcessStats {
    pub(crate) cpu_seconds: Option<f64>,
    pub(crate) resident_memory_bytes: Option<f64>,
    pub(crate) virtual_memory_bytes: Option<f64>,
    pub(crate) open_fds: Option<f64>,
    pub(crate) max_fds: Option<f64>,
    pub(crate) start_time_seconds: Option<f64>,
    pub(crate) threads: Option<f64>,
}

/// Clock ticks per second of `/proc/*/stat`: `USER_HZ`, 100 on every
/// Linux architecture Prometheus' own procfs reader supports (it hard-codes
/// it too).
#[cfg(any(target_os = "linux", test))]
const USER_HZ: f64 = 100.0;

impl ProcessStats {
    #[cfg(target_os = "linux")]
    fn read() -> Self {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        let stat = read("/proc/self/stat").and_then(|s| StatFields::parse(&s));
        let status = read("/proc/self/status");
        let status_kb = |key: &str| status.as_deref().and_then(|s| status_kb(s, key));
        let btime = read("/proc/stat").and_then(|s| boot_time(&s));
        Self {
            cpu_seconds: stat.map(|s| s.cpu_seconds()),
            resident_memory_bytes: status_kb("VmRSS:").map(|kb| kb * 1024.0),
            virtual_memory_bytes: status_kb("VmSize:").map(|kb| kb * 1024.0),
            #[allow(clippy::cast_precision_loss)]
            open_fds: std::fs::read_dir("/proc/self/fd")
                .ok()
                .map(|d| d.count() as f64),
            max_fds: read("/proc/self/limits").and_then(|s| max_open_files(&s)),
            start_time_seconds: stat.zip(btime).map(|(s, b)| b + s.start_ticks / USER_HZ),
            threads: stat.map(|s| s.threads),
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn read() -> Self {
        Self::default()
    }
}

/// The fields of `/proc/self/stat` this collector reads.
#[derive(Clone, Copy, Debug, PartialEq)]
struct StatFields {
    utime: f64,
    stime: f64,
    threads: f64,
    start_ticks: f64,
}

impl StatFields {
    /// Parses `/proc/<pid>/stat`. The command name (field 2) is in
    /// parentheses and may hold spaces and parentheses, so fields are
    /// counted from the last `)`.
    #[cfg(any(target_os = "linux", test))]
    fn parse(stat: &str) -> Option<Self> {
        let rest = &stat[stat.rfind(')')? + 1..];
        // After `)`: field 3 (state) is index 0, so field n is n - 3.
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3)?.parse::<f64>().ok();
        Some(Self {
            utime: field(14)?,
            stime: field(15)?,
            threads: field(20)?,
            start_ticks: field(22)?,
        })
    }

    fn cpu_seconds(&self) -> f64 {
        (self.utime + self.stime) / USER_HZ
    }
}

/// A `kB` value of `/proc/<pid>/status`, e.g. `VmRSS:     1234 kB`.
#[cfg(any(target_os = "linux", test))]
fn status_kb(status: &str, key: &str) -> Option<f64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `btime` of `/proc/stat`: the boot time in seconds since the epoch.
#[cfg(any(target_os = "linux", test))]
fn boot_time(stat: &str) -> Option<f64> {
    stat.lines()
        .find_map(|line| line.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

/// The soft limit of `Max open files` in `/proc/<pid>/limits`.
#[cfg(any(target_os = "linux", test))]
fn max_open_files(limits: &str) -> Option<f64> {
    let soft = limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))?
        .split_whitespace()
        .next()?;
    if soft == "unlimited" {
        return Some(f64::INFINITY);
    }
    soft.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        let stat = "4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194560 1000 0 0 0 \
                    250 50 0 0 20 0 7 0 123400 104857600 2560 18446744073709551615";
        let s = StatFields::parse(stat).unwrap();
        assert_eq!(s.utime, 250.0);
        assert_eq!(s.stime, 50.0);
        assert_eq!(s.cpu_seconds(), 3.0);
        assert_eq!(s.threads, 7.0);
        assert_eq!(s.start_ticks, 123_400.0);
        assert_eq!(StatFields::parse("garbage"), None);

        let status = "Name:\tx\nVmSize:\t  20480 kB\nVmRSS:\t    1024 kB\n";
        assert_eq!(status_kb(status, "VmRSS:"), Some(1024.0));
        assert_eq!(status_kb(status, "VmSize:"), Some(20480.0));
        assert_eq!(status_kb(status, "VmSwap:"), None);

        assert_eq!(boot_time("cpu 1 2 3\nbtime 1700000000\n"), Some(1.7e9));
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(max_open_files(limits), Some(1024.0));
        assert_eq!(
            max_open_files(
                "Max open files            unlimited            unlimited            files\n"
            ),
            Some(f64::INFINITY)
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_process() {
        let s = ProcessStats::read();
        assert!(s.resident_memory_bytes.unwrap() > 0.0);
        assert!(s.virtual_memory_bytes.unwrap() >= s.resident_memory_bytes.unwrap());
        assert!(s.threads.unwrap() >= 1.0);
        assert!(s.open_fds.unwrap() >= 3.0);
        assert!(s.max_fds.unwrap() >= s.open_fds.unwrap());
        assert!(s.cpu_seconds.unwrap() >= 0.0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let start = s.start_time_seconds.unwrap();
        assert!(
            start <= now + 1.0 && start > now - 86_400.0 * 365.0,
            "{start} vs {now}"
        );
    }
}
