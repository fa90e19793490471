//! Measuring: the service's CPU time and this process's resident memory
//! from `/proc`, latency histograms, medians and ratios.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::error::LoadgenError;

/// The name of the service's runtime threads (at most 15 bytes: `comm`).
pub(crate) const SERVER_THREADS: &str = "loadgen-server";
/// Latency histograms: microseconds, 1 µs to 60 s, 3 significant digits.
const HIST_MAX_US: u64 = 60_000_000;

/// A latency histogram: microseconds, 1 µs to 60 s.
pub(crate) fn new_hist() -> Result<Histogram<u64>, LoadgenError> {
    Histogram::new_with_bounds(1, HIST_MAX_US, 3)
        .map_err(|e| LoadgenError::Histogram(e.to_string()))
}

/// Records `elapsed` into `hist`, clamped to its bounds.
pub(crate) fn record(hist: &mut Histogram<u64>, elapsed: Duration) {
    let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    hist.saturating_record(us.clamp(1, HIST_MAX_US));
}

/// Adds `other` into `hist`.
pub(crate) fn add(hist: &mut Histogram<u64>, other: &Histogram<u64>) -> Result<(), LoadgenError> {
    hist.add(other)
        .map_err(|e| LoadgenError::Histogram(e.to_string()))
}

/// The quantile `q` of `hist` in microseconds, 0 when it is empty.
pub(crate) fn us(hist: &Histogram<u64>, q: f64) -> u64 {
    if hist.is_empty() {
        0
    } else {
        hist.value_at_quantile(q)
    }
}

/// Microseconds, or milliseconds from 10 ms on.
pub(crate) fn fmt_us(v: u64) -> String {
    if v >= 10_000 {
        format!("{:.1} ms", v as f64 / 1000.0)
    } else {
        format!("{v} µs")
    }
}

/// A histogram's requests, rate and quantiles, for the JSON.
pub(crate) fn latency_json(hist: &Histogram<u64>, seconds: f64) -> Value {
    json!({
        "requests": hist.len(),
        "rps": hist.len() as f64 / seconds.max(1e-9),
        "p50_us": us(hist, 0.5),
        "p99_us": us(hist, 0.99),
        "p999_us": us(hist, 0.999),
        "max_us": hist.max(),
    })
}

/// The resident memory of this process (`VmRSS` of `/proc/self/status`).
pub(crate) fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The on-CPU time of the service's runtime threads (named
/// [`SERVER_THREADS`]), from `/proc/self/task/*/schedstat`, in nanoseconds.
pub(crate) fn server_cpu_ns() -> Option<u64> {
    let mut total = None;
    for entry in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let path = entry.path();
        let Ok(comm) = std::fs::read_to_string(path.join("comm")) else {
            continue;
        };
        if comm.trim_end() != SERVER_THREADS {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(path.join("schedstat")) else {
            continue;
        };
        if let Some(ns) = stat
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
        {
            total = Some(total.unwrap_or(0) + ns);
        }
    }
    total
}

/// The 1, 5 and 15-minute load averages, or `unknown`.
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// The median, 0 for no values.
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The median of the rounds' ratios `on[i] / off[i]` (phases of one round
/// share an index); the ratio of the medians when the two do not pair up.
pub(crate) fn paired_ratio(on: &[f64], off: &[f64]) -> f64 {
    if on.len() != off.len() || on.is_empty() {
        return median(on) / median(off).max(1e-9);
    }
    let ratios: Vec<f64> = on.iter().zip(off).map(|(a, b)| a / b.max(1e-9)).collect();
    median(&ratios)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_overhead_pairs_each_round_against_its_own_neighbour() {
        // Round 2 ran in a slow spell of the machine: both modes slowed.
        let on = [100.0, 50.0, 100.0];
        let off = [90.0, 55.0, 100.0];
        // Ratios 1.11, 0.91, 1.0: the median is 1.0, where the medians of
        // the modes (100 vs 90) would claim 11% the other way.
        assert!((paired_ratio(&on, &off) - 1.0).abs() < 1e-12);
        assert!((median(&on) / median(&off) - 100.0 / 90.0).abs() < 1e-12);
        // Phases that do not pair up (no CPU figure for one of them): the
        // ratio of the medians.
        assert!((paired_ratio(&[2.0, 4.0], &[2.0]) - 1.5).abs() < 1e-12);
        assert!((paired_ratio(&[], &[]) - 0.0).abs() < 1e-12);
    }

    #[test]
    fn latencies_read_in_the_unit_that_suits_them() {
        assert_eq!(fmt_us(9_999), "9999 µs");
        assert_eq!(fmt_us(12_345), "12.3 ms");
        let mut hist = new_hist().unwrap();
        assert_eq!(us(&hist, 0.99), 0);
        record(&mut hist, Duration::ZERO);
        record(&mut hist, Duration::from_secs(3600));
        assert_eq!(hist.len(), 2);
        assert_eq!(us(&hist, 0.0), 1);
        assert!(us(&hist, 1.0) >= 59_000_000);
    }
}
