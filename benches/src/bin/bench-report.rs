//! `bench-report`: turns one run of the comparison benches into
//! `docs/performance.md`.
//!
//! It reads criterion's `new/benchmark.json` and `new/estimates.json` under
//! a criterion directory (medians, and output sizes recorded as
//! throughput), the lines the `memory` bench printed, and a short text
//! describing the machine, and writes one Markdown table per topic with
//! ratios to the floor and to each anchor. With the JSON that the reference
//! service's load generator wrote (`loadgen --json`), it also fills the
//! "metrics cost under 3%" target and writes a section on the service under
//! load. `scripts/bench-compare` runs the benches, the load generator, and
//! then this.
//!
//! Usage: `bench-report <criterion-dir> <memory.txt> <machine.txt> <out.md> [<loadgen.json>]`

use std::collections::BTreeMap;
use std::error::Error;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// One benchmark's median and, where recorded, its output size.
#[derive(Clone, Copy, Debug)]
struct Estimate {
    /// Median time per iteration, nanoseconds.
    median: f64,
    /// Lower and upper bound of the median's 95% confidence interval.
    low: f64,
    high: f64,
    /// Bytes produced per iteration (scrape benches).
    bytes: Option<u64>,
}

/// Every estimate of the run, by criterion's full id.
struct Run(BTreeMap<String, Estimate>);

impl Run {
    fn load(dir: &Path) -> Result<Self> {
        let mut found = BTreeMap::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d)? {
                let path = entry?.path();
                if path.is_dir() {
                    if path.file_name().is_some_and(|n| n == "new") {
                        if let Some((id, e)) = read_one(&path)? {
                            found.insert(id, e);
                        }
                    } else {
                        stack.push(path);
                    }
                }
            }
        }
        Ok(Self(found))
    }

    fn get(&self, id: &str) -> Option<Estimate> {
        self.0.get(id).copied()
    }

    fn ns(&self, id: &str) -> Option<f64> {
        self.get(id).map(|e| e.median)
    }
}

fn read_one(dir: &Path) -> Result<Option<(String, Estimate)>> {
    let bench = dir.join("benchmark.json");
    let est = dir.join("estimates.json");
    if !bench.exists() || !est.exists() {
        return Ok(None);
    }
    let bench: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(bench)?)?;
    let est: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(est)?)?;
    let Some(id) = bench["full_id"].as_str() else {
        return Ok(None);
    };
    let median = &est["median"];
    let (Some(m), Some(low), Some(high)) = (
        median["point_estimate"].as_f64(),
        median["confidence_interval"]["lower_bound"].as_f64(),
        median["confidence_interval"]["upper_bound"].as_f64(),
    ) else {
        return Ok(None);
    };
    let bytes = bench["throughput"]["Bytes"].as_u64();
    Ok(Some((
        id.to_owned(),
        Estimate {
            median: m,
            low,
            high,
            bytes,
        },
    )))
}

/// A time in the unit that suits it.
fn time(ns: f64) -> String {
    if ns < 1_000.0 {
        format!("{ns:.1} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

fn ratio(a: f64, b: f64) -> String {
    format!("{:.2}x", a / b)
}

fn mark(ok: bool) -> &'static str {
    if ok { "met" } else { "**missed**" }
}

/// The targets, filled in while the tables are written.
#[derive(Default)]
struct Targets(Vec<(String, String, &'static str)>);

impl Targets {
    fn add(&mut self, target: &str, measured: String, ok: bool) {
        self.0.push((target.to_owned(), measured, mark(ok)));
    }
}

/// A table of libraries doing the same work: median, confidence interval,
/// ratio to the floor and to ours.
fn compare_table(
    out: &mut String,
    run: &Run,
    group: &str,
    floor: &str,
    ours: &str,
    rows: &[(&str, &str)],
) -> Result<()> {
    let floor_ns = run.ns(&format!("{group}/{floor}"));
    let ours_ns = run.ns(&format!("{group}/{ours}"));
    writeln!(
        out,
        "| variant | median | 95% CI of median | x floor | x ours |"
    )?;
    writeln!(out, "|---|---:|---:|---:|---:|")?;
    for (id, label) in rows {
        let Some(e) = run.get(&format!("{group}/{id}")) else {
            writeln!(out, "| {label} | not run | | | |")?;
            continue;
        };
        writeln!(
            out,
            "| {label} | {} | {} .. {} | {} | {} |",
            time(e.median),
            time(e.low),
            time(e.high),
            floor_ns.map_or_else(String::new, |f| ratio(e.median, f)),
            ours_ns.map_or_else(String::new, |o| ratio(e.median, o)),
        )?;
    }
    writeln!(out)?;
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (criterion, memory, machine, output, loadgen) = match args.as_slice() {
        [c, m, mc, o] => (c, m, mc, o, None),
        [c, m, mc, o, l] => (c, m, mc, o, Some(l)),
        _ => {
            return Err(
                "usage: bench-report <criterion-dir> <memory.txt> <machine.txt> <out.md> [<loadgen.json>]"
                    .into(),
            );
        }
    };
    // A missing or unreadable loadgen file leaves the target open, with why.
    let loadgen: std::result::Result<serde_json::Value, String> = match loadgen {
        None => Err("loadgen was not run".to_owned()),
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {path}: {e}"))
            .and_then(|t| {
                serde_json::from_str(&t).map_err(|e| format!("cannot parse {path}: {e}"))
            }),
    };
    let run = Run::load(Path::new(criterion))?;
    let memory = std::fs::read_to_string(memory).unwrap_or_default();
    let machine = std::fs::read_to_string(machine)?;
    let notes_path = PathBuf::from(env_or("BENCH_NOTES", "benches/performance-notes.md"));
    let notes = std::fs::read_to_string(&notes_path).unwrap_or_default();

    let mut targets = Targets::default();
    let mut out = String::new();
    let o = &mut out;

    writeln!(
        o,
        "# Performance: the toolkit against the crates users would pick instead"
    )?;
    writeln!(o)?;
    writeln!(
        o,
        "Generated by `scripts/bench-compare` from one criterion run: every \
         competitor ran in the same run, on the same machine, on identical work. \
         Times are criterion medians per operation (95% confidence interval of the \
         median beside them). `x floor` divides by the physical floor measured in \
         the same group; `x ours` divides by our figure, so an anchor at `20x` is \
         twenty times slower than ours."
    )?;
    writeln!(o)?;
    writeln!(o, "## Machine and command")?;
    writeln!(o)?;
    writeln!(o, "```text\n{}```", machine)?;
    writeln!(o)?;

    // ---- Targets summary placeholder: filled at the end.
    let summary_at = o.len();

    // ---- Floors.
    writeln!(o, "## Floors")?;
    writeln!(o)?;
    writeln!(o, "| operation | median |")?;
    writeln!(o, "|---|---:|")?;
    for (id, label) in [
        (
            "atomic_add_static",
            "`AtomicU64::fetch_add(1, Relaxed)` on a `static`",
        ),
        ("atomic_add_arc", "the same through an `Arc<AtomicU64>`"),
        (
            "bucket_search_and_add",
            "bucket search (15 bounds) + one `fetch_add`",
        ),
        ("std_instant_now", "`std::time::Instant::now()`"),
        ("quanta_instant_now", "`quanta::Instant::now()`"),
        ("quanta_clock_raw", "`quanta::Clock::raw()` (TSC read)"),
    ] {
        if let Some(ns) = run.ns(&format!("baseline/{id}")) {
            writeln!(o, "| {label} | {} |", time(ns))?;
        }
    }
    writeln!(o)?;

    // ---- Counters.
    writeln!(o, "## Counter increment")?;
    writeln!(o)?;
    writeln!(
        o,
        "Unlabelled: one counter handle held by the caller (the `metrics_macro` \
         row looks the key up on each call, as `counter!` does)."
    )?;
    writeln!(o)?;
    compare_table(
        o,
        &run,
        "counter/unlabelled",
        "floor_atomic_add",
        "ours_handle",
        &[
            ("floor_atomic_add", "floor: atomic add"),
            ("ours_handle", "**ours** (handle)"),
            ("prometheus_client", "prometheus-client `Counter`"),
            ("prometheus", "prometheus `IntCounter`"),
            ("metrics_handle", "metrics `Counter` handle"),
            ("metrics_macro", "metrics `counter!`"),
            ("measured", "measured `Counter`"),
        ],
    )?;
    writeln!(
        o,
        "Labelled: `incidents_total{{severity, status}}`, label values picked at \
         run time. Ours: `IncidentMetrics::incidents(severity, status).inc()` (two \
         array indexes); prometheus-client: `Family::get_or_create(&labels).inc()`; \
         prometheus: `with_label_values(&[..]).inc()`; metrics: \
         `counter!(name, labels..).increment(1)`; measured: `CounterVec::inc(group)`."
    )?;
    writeln!(o)?;
    compare_table(
        o,
        &run,
        "counter/labelled",
        "floor_atomic_add",
        "ours_typed_handle",
        &[
            ("floor_atomic_add", "floor: atomic add"),
            ("ours_typed_handle", "**ours** (typed handle)"),
            (
                "prometheus_client_family",
                "prometheus-client `Family` (derived enum label struct)",
            ),
            (
                "prometheus_client_family_strings",
                "prometheus-client `Family` (string pairs, README style)",
            ),
            ("prometheus", "prometheus `IntCounterVec`"),
            ("metrics_macro", "metrics `counter!`"),
            ("measured", "measured `CounterVec`"),
        ],
    )?;
    if let (Some(ours), Some(floor)) = (
        run.ns("counter/labelled/ours_typed_handle"),
        run.ns("counter/labelled/floor_atomic_add"),
    ) {
        targets.add(
            "labelled counter: ours <= 1.5x the atomic add",
            format!("{} ({} vs {})", ratio(ours, floor), time(ours), time(floor)),
            ours <= 1.5 * floor,
        );
        for (id, label) in [
            ("prometheus_client_family", "derived enum label struct"),
            ("prometheus_client_family_strings", "string pairs"),
        ] {
            if let Some(pc) = run.ns(&format!("counter/labelled/{id}")) {
                targets.add(
                    &format!(
                        "labelled counter: >= 15x faster than prometheus-client `Family` ({label})"
                    ),
                    format!("{:.1}x ({} vs {})", pc / ours, time(pc), time(ours)),
                    pc >= 15.0 * ours,
                );
            }
        }
    }

    // ---- Histograms.
    writeln!(o, "## Labelled histogram observe")?;
    writeln!(o)?;
    writeln!(
        o,
        "`incident_processing_duration_seconds{{severity}}`, 15 bounds (the \
         catalog's task-duration layout) for every library, value 0.042. The \
         floor finds the bucket and adds one to it (no sum, no label lookup)."
    )?;
    writeln!(o)?;
    compare_table(
        o,
        &run,
        "histogram/labelled_observe",
        "floor_bucket_add",
        "ours_typed_handle",
        &[
            ("floor_bucket_add", "floor: bucket search + add"),
            ("ours_typed_handle", "**ours** (typed handle)"),
            (
                "prometheus_client_family",
                "prometheus-client `Family<_, Histogram>` (enum struct)",
            ),
            (
                "prometheus_client_family_strings",
                "prometheus-client `Family<_, Histogram>` (string pairs)",
            ),
            ("prometheus", "prometheus `HistogramVec`"),
            ("metrics_macro", "metrics `histogram!`"),
            ("measured", "measured `HistogramVec`"),
        ],
    )?;
    if let (Some(ours), Some(floor), Some(measured)) = (
        run.ns("histogram/labelled_observe/ours_typed_handle"),
        run.ns("histogram/labelled_observe/floor_bucket_add"),
        run.ns("histogram/labelled_observe/measured"),
    ) {
        targets.add(
            "labelled histogram: ours <= 2x the bucket floor",
            format!("{} ({} vs {})", ratio(ours, floor), time(ours), time(floor)),
            ours <= 2.0 * floor,
        );
        targets.add(
            "labelled histogram: faster than measured",
            format!("{} vs {}", time(ours), time(measured)),
            ours < measured,
        );
    }
    writeln!(
        o,
        "Core `Histogram::observe` before and after this change (no label lookup; \
         `previous` is the former implementation, kept in `benches/benches/common`):"
    )?;
    writeln!(o)?;
    writeln!(o, "| value | previous | current | current / previous |")?;
    writeln!(o, "|---|---:|---:|---:|")?;
    for v in ["value", "zero"] {
        if let (Some(p), Some(c)) = (
            run.ns(&format!("histogram/core_observe/previous/{v}")),
            run.ns(&format!("histogram/core_observe/current/{v}")),
        ) {
            let label = if v == "zero" { "0.0" } else { "0.042" };
            writeln!(
                o,
                "| {label} | {} | {} | {} |",
                time(p),
                time(c),
                ratio(c, p)
            )?;
        }
    }
    writeln!(o)?;

    // ---- Contention.
    writeln!(o, "## Two threads: one series and distinct series")?;
    writeln!(o)?;
    writeln!(
        o,
        "Time per operation of the slower of two threads started together, \
         against the same loop on one thread. `distinct / one` near 1 means no \
         false sharing; `same / one` is the price of two cores writing one cache \
         line, which no design avoids."
    )?;
    writeln!(o)?;
    writeln!(
        o,
        "| series | one thread | two, same series | two, distinct series | same / one | distinct / one |"
    )?;
    writeln!(o, "|---|---:|---:|---:|---:|---:|")?;
    let floor_distinct = {
        let get = |k: &str| run.ns(&format!("contention/floor_atomic_add/{k}"));
        get("two_threads_distinct")
            .zip(get("one_thread"))
            .map(|(d, o)| d / o)
    };
    for (id, label) in [
        ("floor_atomic_add", "floor: atomic add, own cache line each"),
        (
            "adjacent_atomic_add",
            "false sharing: two atomics on one line",
        ),
        ("ours_counter", "**ours** counter (typed handles)"),
        ("ours_histogram", "**ours** histogram (typed handles)"),
        ("previous_histogram", "previous core histogram"),
        (
            "prometheus_client_histogram",
            "prometheus-client `Histogram`",
        ),
    ] {
        let get = |k: &str| run.ns(&format!("contention/{id}/{k}"));
        if let (Some(one), Some(same), Some(distinct)) = (
            get("one_thread"),
            get("two_threads_same"),
            get("two_threads_distinct"),
        ) {
            writeln!(
                o,
                "| {label} | {} | {} | {} | {} | {} |",
                time(one),
                time(same),
                time(distinct),
                ratio(same, one),
                ratio(distinct, one)
            )?;
            if id.starts_with("ours") {
                targets.add(
                    &format!("two threads, distinct series, {label}: within 1.3x of one thread"),
                    format!(
                        "{} (the padded floor: {})",
                        ratio(distinct, one),
                        floor_distinct.map_or_else(|| "n/a".to_owned(), |f| format!("{f:.2}x"))
                    ),
                    distinct <= 1.3 * one,
                );
            }
        }
    }
    writeln!(o)?;

    // ---- HTTP.
    writeln!(o, "## One HTTP request through the layer")?;
    writeln!(o)?;
    writeln!(
        o,
        "One in-process request (`oneshot` on an axum `Router`, body read to \
         the end). `noop_layer` is what axum's `Router::layer` costs for any \
         layer; `wrap_bodies` adds axum's boxing of wrapped bodies, as for any \
         byte-counting layer."
    )?;
    writeln!(o)?;
    writeln!(o, "| variant | median | added over bare | x ours (added) |")?;
    writeln!(o, "|---|---:|---:|---:|")?;
    let bare = run.ns("http_layer/oneshot/bare");
    let ours_added = bare.and_then(|b| {
        run.ns("http_layer/oneshot/incident_metrics_http")
            .map(|o| o - b)
    });
    for (id, label) in [
        ("bare", "bare router"),
        ("noop_layer", "no-op layer (axum's per-layer cost)"),
        ("wrap_bodies", "body-wrapping layer recording nothing"),
        ("incident_metrics_http", "**ours** `HttpMetricsLayer`"),
        ("axum_prometheus", "axum-prometheus `PrometheusMetricLayer`"),
    ] {
        if let (Some(ns), Some(b)) = (run.ns(&format!("http_layer/oneshot/{id}")), bare) {
            writeln!(
                o,
                "| {label} | {} | {} | {} |",
                time(ns),
                time(ns - b),
                ours_added.map_or_else(String::new, |a| ratio(ns - b, a)),
            )?;
        }
    }
    writeln!(o)?;
    if let (Some(b), Some(s)) = (
        run.ns("http_layer/service_fn/bare"),
        run.ns("http_layer/service_fn/incident_metrics_http"),
    ) {
        writeln!(
            o,
            "On a plain tower stack (`service_fn`, no axum boxing): bare {}, ours {}, \
             added {}.",
            time(b),
            time(s),
            time(s - b)
        )?;
        writeln!(o)?;
        targets.add(
            "HTTP layer adds <= 150 ns over the bare router",
            format!(
                "{} through axum, {} on a plain tower stack",
                ours_added.map_or_else(|| "n/a".to_owned(), time),
                time(s - b)
            ),
            ours_added.is_some_and(|a| a <= 150.0),
        );
    }
    if let (Some(b), Some(a)) = (bare, run.ns("http_layer/oneshot/incident_metrics_http")) {
        targets.add(
            "HTTP layer under 0.5 ms per request (spec)",
            time(a - b),
            a - b < 500_000.0,
        );
    }

    // ---- gRPC.
    writeln!(o, "## One gRPC unary call through the layer")?;
    writeln!(o)?;
    writeln!(o, "| call | bare | with `GrpcMetricsLayer` | added |")?;
    writeln!(o, "|---|---:|---:|---:|")?;
    for (group, label) in [
        (
            "grpc_unary_in_process",
            "tonic-generated `EchoServer`, unary",
        ),
        ("grpc_layer_trivial_inner", "trivial inner service"),
    ] {
        if let (Some(b), Some(l)) = (
            run.ns(&format!("{group}/bare")),
            run.ns(&format!("{group}/with_layer")),
        ) {
            writeln!(
                o,
                "| {label} | {} | {} | {} |",
                time(b),
                time(l),
                time(l - b)
            )?;
            if group == "grpc_unary_in_process" {
                targets.add(
                    "gRPC layer under 0.3 ms per call (spec)",
                    time(l - b),
                    l - b < 300_000.0,
                );
            }
        }
    }
    writeln!(o)?;
    writeln!(
        o,
        "No anchor here: no maintained Prometheus layer for tonic exists among the \
         anchors, so the bare call is the comparison."
    )?;
    writeln!(o)?;

    // ---- Trackers.
    writeln!(o, "## Trackers: one start/finish pair")?;
    writeln!(o)?;
    writeln!(o, "| tracker | median |")?;
    writeln!(o, "|---|---:|")?;
    let mut worst: f64 = 0.0;
    for (id, e) in run
        .0
        .range("tracker_start_finish/".to_owned().."tracker_start_finish0".to_owned())
    {
        let name = id.trim_start_matches("tracker_start_finish/");
        writeln!(o, "| {name} | {} |", time(e.median))?;
        worst = worst.max(e.median);
    }
    writeln!(o)?;
    if worst > 0.0 {
        targets.add(
            "trackers under 0.1 ms per start/finish (spec)",
            format!("slowest {}", time(worst)),
            worst < 100_000.0,
        );
    }

    // ---- Scrape.
    writeln!(o, "## Scrape encoding")?;
    writeln!(o)?;
    writeln!(
        o,
        "A counter family `http_requests_total{{method, path, status}}` with N \
         series. Ours is `incident_metrics_exporter::render` (and \
         `encode_response` with gzip); prometheus-client is its own encoder on \
         its own registry; `prometheus` and `metrics-exporter-prometheus` write \
         only the 0.0.4 text. `x p-c` divides by prometheus-client's time for the \
         same format."
    )?;
    writeln!(o)?;
    let libs = [
        ("ours", "**ours**"),
        ("prometheus_client", "prometheus-client"),
        ("prometheus", "prometheus"),
        ("metrics_exporter_prometheus", "metrics-exporter-prometheus"),
    ];
    let formats = [
        ("openmetrics", "OpenMetrics"),
        ("prometheus_text", "Prometheus 0.0.4"),
        ("openmetrics_gzip", "OpenMetrics + gzip"),
        ("prometheus_text_gzip", "Prometheus 0.0.4 + gzip"),
    ];
    for n in ["1000", "10000", "100000"] {
        writeln!(o, "### {n} series")?;
        writeln!(o)?;
        writeln!(
            o,
            "| format | library | median | bytes | per series | x p-c |"
        )?;
        writeln!(o, "|---|---|---:|---:|---:|---:|")?;
        for (f, flabel) in formats {
            let pc = run.ns(&format!("scrape/{n}/{f}/prometheus_client"));
            for (l, llabel) in libs {
                let Some(e) = run.get(&format!("scrape/{n}/{f}/{l}")) else {
                    continue;
                };
                let per: f64 = n.parse::<f64>()?;
                writeln!(
                    o,
                    "| {flabel} | {llabel} | {} | {} | {} | {} |",
                    time(e.median),
                    e.bytes.map_or_else(String::new, |b| b.to_string()),
                    time(e.median / per),
                    pc.map_or_else(String::new, |p| ratio(e.median, p)),
                )?;
            }
        }
        writeln!(o)?;
    }
    for (f, flabel) in [
        ("openmetrics", "OpenMetrics"),
        ("prometheus_text", "Prometheus 0.0.4"),
    ] {
        if let (Some(ours), Some(pc)) = (
            run.ns(&format!("scrape/10000/{f}/ours")),
            run.ns(&format!("scrape/10000/{f}/prometheus_client")),
        ) {
            // Within criterion's noise (3%) counts as "as fast": ours calls
            // the same encoder.
            targets.add(
                &format!("scrape 10,000 series, {flabel}: at least as fast as prometheus-client"),
                format!(
                    "{} vs {} ({}; the same encoder, 3% allowed for noise)",
                    time(ours),
                    time(pc),
                    ratio(ours, pc)
                ),
                ours <= pc * 1.03,
            );
        }
        if let (Some(a), Some(b)) = (
            run.ns(&format!("scrape/10000/{f}/ours")),
            run.ns(&format!("scrape/100000/{f}/ours")),
        ) {
            targets.add(
                &format!("scrape {flabel}: linear from 10,000 to 100,000 series (10x)"),
                format!("{:.1}x the time for 10x the series", b / a),
                b / a <= 12.0,
            );
        }
    }

    // ---- Memory.
    writeln!(o, "## Retained heap per series")?;
    writeln!(o)?;
    writeln!(
        o,
        "Bytes still allocated after creating 10,000 labelled series (three labels, \
         one of them a distinct path per series) and recording once into each, \
         divided by 10,000; counted by `allocation-counter`'s global allocator \
         (`benches/benches/memory.rs`). Histograms use the same 15 bounds."
    )?;
    writeln!(o)?;
    writeln!(o, "| kind | library | bytes per series | x p-c |")?;
    writeln!(o, "|---|---|---:|---:|")?;
    let mut mem: BTreeMap<(String, String), f64> = BTreeMap::new();
    for line in memory.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if let ["retained_bytes_per_series", kind, lib, bytes] = parts.as_slice() {
            mem.insert(((*kind).to_owned(), (*lib).to_owned()), bytes.parse()?);
        }
    }
    for kind in ["counter", "histogram"] {
        let pc = mem
            .get(&(kind.to_owned(), "prometheus_client".to_owned()))
            .copied();
        for (l, llabel) in libs {
            if let Some(b) = mem.get(&(kind.to_owned(), l.to_owned())) {
                writeln!(
                    o,
                    "| {kind} | {llabel} | {b:.0} | {} |",
                    pc.map_or_else(String::new, |p| ratio(*b, p))
                )?;
            }
        }
        if let (Some(ours), Some(pc)) = (mem.get(&(kind.to_owned(), "ours".to_owned())), pc) {
            targets.add(
                &format!("retained heap per {kind} series no more than prometheus-client"),
                format!("{ours:.0} vs {pc:.0} bytes"),
                *ours <= pc,
            );
        }
    }
    writeln!(o)?;
    let state = |lib: &str| {
        mem.get(&("histogram_state".to_owned(), lib.to_owned()))
            .copied()
    };
    if let (Some(prev), Some(cur)) = (state("previous"), state("ours")) {
        writeln!(
            o,
            "The histogram state alone (no labels, no map entry; 15 bounds, the \
             8-byte `Vec` slot holding each handle included): {prev:.0} bytes with the \
             previous core layout, {cur:.0} bytes with the current one."
        )?;
        writeln!(o)?;
    }

    // ---- Allocation tests.
    writeln!(o, "## Zero allocations per recorded event")?;
    writeln!(o)?;
    writeln!(
        o,
        "Asserted by tests with a counting global allocator (`allocation-counter`), \
         run by `cargo test`, not by this script:"
    )?;
    writeln!(o)?;
    for (path, what) in [
        (
            "crates/incident-metrics-catalog/tests/no_alloc.rs",
            "labelled counter and histogram through typed handles",
        ),
        (
            "crates/incident-metrics-http/tests/allocations.rs",
            "one HTTP request through the layer (the inner service's own allocations not counted)",
        ),
        (
            "crates/incident-metrics-grpc/tests/alloc.rs",
            "one unary gRPC call through the layer",
        ),
        (
            "crates/incident-metrics-trackers/tests/no_alloc.rs",
            "each tracker's start/finish",
        ),
    ] {
        writeln!(o, "- `{path}`: {what}")?;
    }
    writeln!(o)?;

    // ---- The reference service under load.
    let overhead_row = service_under_load(o, &loadgen)?;

    if !notes.is_empty() {
        writeln!(o, "{}", notes.trim_end())?;
        writeln!(o)?;
    }

    // ---- Summary, at the top.
    let mut summary = String::new();
    writeln!(summary, "## Targets (issue 7) in this run")?;
    writeln!(summary)?;
    writeln!(summary, "| target | measured | |")?;
    writeln!(summary, "|---|---|---|")?;
    for (t, m, ok) in &targets.0 {
        writeln!(summary, "| {t} | {m} | {ok} |")?;
    }
    writeln!(summary, "{overhead_row}")?;
    writeln!(summary)?;
    out.insert_str(summary_at, &summary);

    std::fs::write(output, out)?;
    Ok(())
}

/// Microseconds from the loadgen JSON, formatted.
fn us_field(v: &serde_json::Value) -> String {
    v.as_f64()
        .map_or_else(|| "?".to_owned(), |us| time(us * 1e3))
}

/// Writes "Reference service under load" from the load generator's JSON;
/// returns the targets row "metrics cost under 3% of throughput".
fn service_under_load(
    o: &mut String,
    loadgen: &std::result::Result<serde_json::Value, String>,
) -> Result<String> {
    const TARGET: &str = "metrics cost under 3% of the reference service's throughput";
    writeln!(o, "## Reference service under load")?;
    writeln!(o)?;
    let j = match loadgen {
        Ok(j) => j,
        Err(why) => {
            writeln!(
                o,
                "Not measured in this run: {why}. Run `cargo run --release -p loadgen`."
            )?;
            writeln!(o)?;
            return Ok(format!("| {TARGET} | not measured: {why} | open |"));
        }
    };
    let f = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
    let opts = &j["options"];
    writeln!(
        o,
        "`cargo run --release -p loadgen` starts the reference service twice in \
         one process (`[metrics] enabled = true` and `false`: no metrics layers, no \
         `/metrics`, trackers off) and drives each with a closed loop of {} clients \
         on 127.0.0.1 (half REST over keep-alive HTTP/1.1, half gRPC; creates with \
         repeating fingerprints, gets, lists of open incidents, resolves), {} rounds \
         of one {} s phase per mode after a {} s warm-up, the order alternating so \
         that machine noise hits both. The overhead of metrics is 1 minus the \
         median of the rounds' on/off throughput ratios: a round's two phases run \
         back to back, so a slow spell of this shared machine (a quarter of the \
         throughput for tens of seconds) hits both, where it could skew the two \
         modes' medians apart. The service's \
         CPU time per request (its runtime threads' `schedstat`) is a second view \
         that other load on the machine disturbs much less. Latencies are the \
         client's (hdrhistogram), request sent to answer read in full. Flags: \
         `--duration`, `--concurrency`, `--rounds`, `--warmup`, `--json`, `--quick`; \
         the service's README describes the run and its checks. Load average at \
         the start: {}.",
        opts["concurrency"],
        opts["rounds"],
        f(&opts["duration_s"]),
        f(&opts["warmup_s"]),
        j["load_average"].as_str().unwrap_or("?"),
    )?;
    writeln!(o)?;
    writeln!(
        o,
        "| metrics | median req/s | phases (req/s) | service CPU per request | REST p50 | REST p99 | REST p99.9 | gRPC p50 | gRPC p99 | gRPC p99.9 |"
    )?;
    writeln!(o, "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")?;
    for (name, key) in [("on", "metrics_on"), ("off", "metrics_off")] {
        let m = &j[key];
        let phases = m["rps_phases"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|v| format!("{:.0}", f(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        writeln!(
            o,
            "| {name} | {:.0} | {phases} | {} | {} | {} | {} | {} | {} | {} |",
            f(&m["rps_median"]),
            us_field(&serde_json::json!(
                f(&m["server_cpu_ns_per_request_median"]) / 1e3
            )),
            us_field(&m["http"]["p50_us"]),
            us_field(&m["http"]["p99_us"]),
            us_field(&m["http"]["p999_us"]),
            us_field(&m["grpc"]["p50_us"]),
            us_field(&m["grpc"]["p99_us"]),
            us_field(&m["grpc"]["p999_us"]),
        )?;
    }
    writeln!(o)?;
    let ratio = f(&j["throughput_ratio"]);
    let overhead = f(&j["overhead_percent"]);
    let cpu_overhead = f(&j["cpu_overhead_percent"]);
    writeln!(
        o,
        "Throughput ratio on/off: **{ratio:.4}** (the median of the rounds' ratios, each \
         round's two phases back to back; the ratio of the two medians above is {:.4}), \
         so metrics cost **{overhead:.2}%** of throughput. A ratio above 1 means the \
         difference is below this run's noise. The service's CPU per request (the \
         median of the rounds' ratios): metrics add **{cpu_overhead:.2}%**.",
        f(&j["throughput_ratio_of_medians"])
    )?;
    writeln!(o)?;
    let s = &j["scrape_under_load"];
    writeln!(
        o,
        "Scrape under load (metrics on, the same load, without and with a concurrent \
         10/s scrape loop asking for OpenMetrics with gzip):"
    )?;
    writeln!(o)?;
    writeln!(o, "| | req/s | REST p99 | gRPC p99 | all requests p99 |")?;
    writeln!(o, "|---|---:|---:|---:|---:|")?;
    for (name, key) in [
        ("without scrapes", "without"),
        ("with 10/s scrapes", "with"),
    ] {
        let m = &s[key];
        writeln!(
            o,
            "| {name} | {:.0} | {} | {} | {} |",
            f(&m["rps"]),
            us_field(&m["http"]["p99_us"]),
            us_field(&m["grpc"]["p99_us"]),
            us_field(&m["p99_us"]),
        )?;
    }
    writeln!(o)?;
    writeln!(
        o,
        "Scrape latency under load: p50 {}, p99 {}, max {} ({} scrapes, {} failed).",
        us_field(&s["scrape_p50_us"]),
        us_field(&s["scrape_p99_us"]),
        us_field(&s["scrape_max_us"]),
        s["scrapes"],
        s["scrape_failures"],
    )?;
    writeln!(o)?;
    writeln!(o, "Checks (the load generator exits 1 when one fails):")?;
    writeln!(o)?;
    if let Some(checks) = j["checks"].as_array() {
        for c in checks {
            writeln!(
                o,
                "- {}: {}: {}",
                if c["ok"].as_bool() == Some(true) {
                    "ok"
                } else {
                    "**FAILED**"
                },
                c["name"].as_str().unwrap_or("?"),
                c["detail"].as_str().unwrap_or(""),
            )?;
        }
    }
    writeln!(o)?;
    let checks_ok = j["ok"].as_bool() == Some(true);
    let measured = format!(
        "{:.2}% (on/off ratio {ratio:.4}, the median of {} rounds' ratios of phases of {} s each; medians {:.0} vs {:.0} req/s; service CPU per request {cpu_overhead:+.2}%){}",
        overhead,
        opts["rounds"],
        f(&opts["duration_s"]),
        f(&j["metrics_on"]["rps_median"]),
        f(&j["metrics_off"]["rps_median"]),
        if checks_ok {
            "; every loadgen check passed"
        } else {
            "; a loadgen check FAILED"
        },
    );
    Ok(format!(
        "| {TARGET} | {measured} | {} |",
        mark(overhead < 3.0 && checks_ok)
    ))
}

fn env_or(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_owned())
}
