//! The report: what each mode measured, the printed sections (parsed by
//! `scripts/bench-compare`'s readers and the tests: keep their wording),
//! and the JSON that `bench-report` reads.

use std::path::Path;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::checks::Check;
use crate::error::LoadgenError;
use crate::measure::{add, fmt_us, latency_json, load_average, median, new_hist, paired_ratio, us};
use crate::options::Options;
use crate::phase::{CreateRate, PhaseResult};

/// The resident-memory growth allowed from after the warm-up to after the
/// run, beyond [`STORE_MEMORY_FACTOR`](crate::run::STORE_MEMORY_FACTOR) × the growth of the SQLite stores
/// (they keep every resolved incident: the load resolves one request in
/// ten).
pub(crate) const RSS_BOUND_BYTES: u64 = 32 * 1024 * 1024;

/// Everything measured for one mode.
pub(crate) struct Mode {
    rps: Vec<f64>,
    cpu_per_request: Vec<f64>,
    http: Histogram<u64>,
    grpc: Histogram<u64>,
    seconds: f64,
}

impl Mode {
    pub(crate) fn new() -> Result<Self, LoadgenError> {
        Ok(Self {
            rps: Vec::new(),
            cpu_per_request: Vec::new(),
            http: new_hist()?,
            grpc: new_hist()?,
            seconds: 0.0,
        })
    }

    /// Adds one measured phase.
    pub(crate) fn add(&mut self, phase: &PhaseResult) -> Result<(), LoadgenError> {
        self.rps.push(phase.rps());
        self.cpu_per_request.extend(phase.cpu_per_request());
        add(&mut self.http, &phase.http)?;
        add(&mut self.grpc, &phase.grpc)?;
        self.seconds += phase.elapsed.as_secs_f64();
        Ok(())
    }

    fn json(&self) -> Value {
        json!({
            "rps_median": median(&self.rps),
            "rps_phases": self.rps,
            "server_cpu_ns_per_request_median": median(&self.cpu_per_request),
            "server_cpu_ns_per_request_phases": self.cpu_per_request,
            "http": latency_json(&self.http, self.seconds),
            "grpc": latency_json(&self.grpc, self.seconds),
        })
    }

    fn print(&self, name: &str) {
        println!(
            "metrics {name:<3}  median {:>9.0} req/s   phases {}",
            median(&self.rps),
            self.rps
                .iter()
                .map(|r| format!("{r:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!(
            "  service CPU per request: median {:.1} µs   phases {}",
            median(&self.cpu_per_request) / 1000.0,
            self.cpu_per_request
                .iter()
                .map(|c| format!("{:.1}", c / 1000.0))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for (proto, hist) in [("rest", &self.http), ("grpc", &self.grpc)] {
            println!(
                "  {proto:<4}  {:>9.0} req/s  p50 {:>9}  p99 {:>9}  p99.9 {:>9}  ({} requests)",
                hist.len() as f64 / self.seconds.max(1e-9),
                fmt_us(us(hist, 0.5)),
                fmt_us(us(hist, 0.99)),
                fmt_us(us(hist, 0.999)),
                hist.len()
            );
        }
    }
}

/// The resident memory and the stores' size after the warm-up and after
/// the run.
pub(crate) struct Memory {
    pub(crate) rss_before: Option<u64>,
    pub(crate) rss_after: Option<u64>,
    pub(crate) store_before: u64,
    pub(crate) store_after: u64,
}

/// The two scrape-under-load phases and what they measured.
pub(crate) struct ScrapeUnderLoad {
    pub(crate) quiet: PhaseResult,
    pub(crate) scraped: PhaseResult,
    /// The scrapes' latencies (empty when none succeeded).
    pub(crate) scrapes: Histogram<u64>,
    /// The p99 of every request without and with scrapes, microseconds.
    pub(crate) p99_quiet: u64,
    pub(crate) p99_scraped: u64,
}

/// Everything a run measured and checked.
pub(crate) struct Results<'a> {
    pub(crate) options: &'a Options,
    pub(crate) cores: usize,
    pub(crate) load_start: String,
    pub(crate) on: Mode,
    pub(crate) off: Mode,
    pub(crate) scrape: ScrapeUnderLoad,
    pub(crate) creates: CreateRate,
    pub(crate) memory: Memory,
    pub(crate) checks: Vec<Check>,
}

/// The ratios and overheads of metrics on against off.
struct Overhead {
    ratio: f64,
    ratio_of_medians: f64,
    overhead: f64,
    cpu_on: f64,
    cpu_off: f64,
    cpu_ratio: f64,
    cpu_overhead: f64,
}

impl Overhead {
    fn of(on: &Mode, off: &Mode) -> Self {
        let ratio = paired_ratio(&on.rps, &off.rps);
        let cpu_ratio = paired_ratio(&on.cpu_per_request, &off.cpu_per_request);
        Self {
            ratio,
            ratio_of_medians: median(&on.rps) / median(&off.rps).max(1e-9),
            overhead: (1.0 - ratio) * 100.0,
            cpu_on: median(&on.cpu_per_request),
            cpu_off: median(&off.cpu_per_request),
            cpu_ratio,
            cpu_overhead: (cpu_ratio - 1.0) * 100.0,
        }
    }
}

impl Results<'_> {
    /// Whether every check passed.
    pub(crate) fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }

    /// Prints the report's sections, from `== throughput and latency ==` to
    /// `== checks ==`.
    pub(crate) fn print(&self) {
        println!("== throughput and latency ==");
        self.on.print("on");
        self.off.print("off");
        self.print_overhead(&Overhead::of(&self.on, &self.off));
        self.print_create_rate();
        self.print_scrape_under_load();
        println!("== checks ==");
        for check in &self.checks {
            println!(
                "{} {}: {}",
                if check.ok { "ok  " } else { "FAIL" },
                check.name,
                check.detail
            );
        }
    }

    fn print_overhead(&self, o: &Overhead) {
        println!("== metrics overhead ==");
        println!(
            "throughput ratio on/off = {:.4} (median of {} rounds' ratios; of the medians: {:.4}): metrics cost {:.2}% of throughput (target: under 3%: {})",
            o.ratio,
            self.on.rps.len(),
            o.ratio_of_medians,
            o.overhead,
            if o.overhead < 3.0 { "met" } else { "not met" }
        );
        println!(
            "service CPU per request on/off = {:.1} µs / {:.1} µs (medians), {:.4} (median of the rounds' ratios): metrics cost {:.2}% of the service's CPU (less sensitive to other load on the machine)",
            o.cpu_on / 1000.0,
            o.cpu_off / 1000.0,
            o.cpu_ratio,
            o.cpu_overhead
        );
    }

    fn print_create_rate(&self) {
        let creates = &self.creates;
        println!("== create rate ==");
        println!(
            "{:.0} creates/s: {} new incidents in {:.1} s from {} REST clients, each one transaction with its outbox rows (analysis, notifications) on {}; p50 {}  p99 {}",
            creates.per_second(),
            creates.created,
            creates.elapsed.as_secs_f64(),
            self.options.concurrency,
            if self.options.memory_store {
                "an in-memory store"
            } else {
                "a SQLite file (WAL, synchronous=FULL, group commit)"
            },
            fmt_us(us(&creates.latency, 0.5)),
            fmt_us(us(&creates.latency, 0.99)),
        );
    }

    fn print_scrape_under_load(&self) {
        let s = &self.scrape;
        println!("== scrape under load ==");
        for (name, result) in [
            ("without scrapes", &s.quiet),
            ("with 10/s scrapes", &s.scraped),
        ] {
            println!(
                "{name:<18} {:>9.0} req/s  rest p99 {:>9}  grpc p99 {:>9}",
                result.rps(),
                fmt_us(us(&result.http, 0.99)),
                fmt_us(us(&result.grpc, 0.99))
            );
        }
        println!(
            "scrape latency (OpenMetrics, gzip): p50 {}  p99 {}  max {}  ({} scrapes)",
            fmt_us(us(&s.scrapes, 0.5)),
            fmt_us(us(&s.scrapes, 0.99)),
            fmt_us(s.scrapes.max()),
            s.scrapes.len()
        );
    }

    /// The results as JSON, the form `bench-report` reads.
    fn json(&self) -> Value {
        let o = self.options;
        let overhead = Overhead::of(&self.on, &self.off);
        json!({
            "options": {
                "duration_s": o.duration.as_secs_f64(),
                "concurrency": o.concurrency,
                "rounds": o.rounds,
                "warmup_s": o.warmup.as_secs_f64(),
                "quick": o.quick,
                "cores": self.cores,
            },
            "load_average": self.load_start,
            "load_average_end": load_average(),
            "metrics_on": self.on.json(),
            "metrics_off": self.off.json(),
            "throughput_ratio": overhead.ratio,
            "throughput_ratio_of_medians": overhead.ratio_of_medians,
            "overhead_percent": overhead.overhead,
            "cpu_ratio": overhead.cpu_ratio,
            "cpu_overhead_percent": overhead.cpu_overhead,
            "create_rate": {
                "creates_per_second": self.creates.per_second(),
                "created": self.creates.created,
                "seconds": self.creates.elapsed.as_secs_f64(),
                "failures": self.creates.failures,
                "p50_us": us(&self.creates.latency, 0.5),
                "p99_us": us(&self.creates.latency, 0.99),
            },
            "scrape_under_load": self.scrape_json(),
            "rss": {
                "before_bytes": self.memory.rss_before,
                "after_bytes": self.memory.rss_after,
                "bound_bytes": RSS_BOUND_BYTES,
                "store_before_bytes": self.memory.store_before,
                "store_after_bytes": self.memory.store_after,
            },
            "checks": self.checks.iter().map(|c| json!({
                "name": c.name, "ok": c.ok, "detail": c.detail,
            })).collect::<Vec<_>>(),
            "ok": self.ok(),
        })
    }

    fn scrape_json(&self) -> Value {
        let s = &self.scrape;
        let phase = |p: &PhaseResult, p99: u64| {
            json!({
                "rps": p.rps(),
                "http": latency_json(&p.http, p.elapsed.as_secs_f64()),
                "grpc": latency_json(&p.grpc, p.elapsed.as_secs_f64()),
                "p99_us": p99,
            })
        };
        json!({
            "without": phase(&s.quiet, s.p99_quiet),
            "with": phase(&s.scraped, s.p99_scraped),
            "scrapes": s.scrapes.len(),
            "scrape_failures": s.scraped.scrape_failures,
            "scrape_p50_us": us(&s.scrapes, 0.5),
            "scrape_p99_us": us(&s.scrapes, 0.99),
            "scrape_max_us": s.scrapes.max(),
        })
    }

    /// Writes the JSON to `path` and says so.
    pub(crate) fn write_json(&self, path: &Path) -> Result<(), LoadgenError> {
        let text = serde_json::to_string_pretty(&self.json()).unwrap_or_default();
        std::fs::write(path, text + "\n").map_err(|source| LoadgenError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        println!("results written to {}", path.display());
        Ok(())
    }
}
