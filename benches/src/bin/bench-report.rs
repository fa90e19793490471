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
//!
//! The report is data: [`SECTIONS`] lists each section's title, its prose
//! and tables in order (each [`Table`] names the benches it shows), and the
//! targets its figures are held to ([`Target`], judged by a [`Rule`]);
//! [`render`] writes any section, and the targets met or missed are
//! gathered into the summary at the top.

use std::collections::BTreeMap;
use std::error::Error;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

const USAGE: &str =
    "usage: bench-report <criterion-dir> <memory.txt> <machine.txt> <out.md> [<loadgen.json>]";

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

/// Everything the report is made from.
struct Inputs {
    run: Run,
    /// The `memory` bench's retained bytes per series, by (kind, library).
    memory: BTreeMap<(String, String), f64>,
    /// The load generator's JSON, or why there is none.
    loadgen: std::result::Result<serde_json::Value, String>,
}

impl Inputs {
    fn memory(&self, kind: &str, lib: &str) -> Option<f64> {
        self.memory.get(&(kind.to_owned(), lib.to_owned())).copied()
    }
}

/// The `memory` bench's lines `retained_bytes_per_series <kind> <lib> <bytes>`.
fn parse_memory(text: &str) -> Result<BTreeMap<(String, String), f64>> {
    let mut mem = BTreeMap::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if let ["retained_bytes_per_series", kind, lib, bytes] = parts.as_slice() {
            mem.insert(((*kind).to_owned(), (*lib).to_owned()), bytes.parse()?);
        }
    }
    Ok(mem)
}

/// The targets, filled in while the sections are written.
#[derive(Default)]
struct Targets {
    rows: Vec<(String, String, &'static str)>,
    /// The row of the reference service's overhead, always last.
    service: Option<String>,
}

impl Targets {
    fn add(&mut self, target: &str, measured: String, ok: bool) {
        self.rows.push((target.to_owned(), measured, mark(ok)));
    }

    /// The summary table, placed at the top of the report.
    fn summary(&self) -> Result<String> {
        let mut summary = String::new();
        writeln!(summary, "## Targets (issue 7) in this run")?;
        writeln!(summary)?;
        writeln!(summary, "| target | measured | |")?;
        writeln!(summary, "|---|---|---|")?;
        for (t, m, ok) in &self.rows {
            writeln!(summary, "| {t} | {m} | {ok} |")?;
        }
        if let Some(row) = &self.service {
            writeln!(summary, "{row}")?;
        }
        writeln!(summary)?;
        Ok(summary)
    }
}

// ---------------------------------------------------------------------------
// The report as data.

/// `(bench id or key, label)` rows of a table.
type Rows = &'static [(&'static str, &'static str)];

/// One section of the report: a `##` title, then prose and tables in order,
/// then the targets its benches are held to.
struct Section {
    title: &'static str,
    blocks: &'static [Block],
    targets: &'static [Target],
}

/// A part of a section.
enum Block {
    /// A paragraph.
    Prose(&'static str),
    /// A table (or a paragraph of figures) from the measurements.
    Table(Table),
}

/// Which benches a table shows, and how.
enum Table {
    /// `| operation | median |`, the rows under `baseline/`.
    Floors(Rows),
    /// Libraries doing the same work: median, CI, ratio to the floor and to
    /// ours (ids under `group`).
    Compare {
        group: &'static str,
        floor: &'static str,
        ours: &'static str,
        rows: Rows,
    },
    /// Core `Histogram::observe`, previous against current, per value.
    CoreObserve(Rows),
    /// One thread against two on the same and on distinct series.
    Contention(Rows),
    /// One HTTP request through axum, added cost over the bare router.
    HttpOneshot(Rows),
    /// The same on a plain tower stack, as a paragraph.
    HttpServiceFn,
    /// gRPC calls bare and with the layer, by group.
    Grpc(Rows),
    /// Every bench under `tracker_start_finish/`.
    Trackers,
    /// Scrape encoding: per series count, format and library.
    Scrape {
        sizes: &'static [&'static str],
        formats: Rows,
    },
    /// Retained heap per series, per kind and library.
    Memory(&'static [&'static str]),
    /// The histogram state alone, previous against current, as a paragraph.
    HistogramState,
    /// A list of files and what each asserts.
    Files(Rows),
    /// The reference service under load, from the load generator's JSON.
    ServiceUnderLoad,
}

/// A target in the summary, shown when its rule's figures and every bench
/// of `needs` (benches shown beside it in the original table) are there.
struct Target {
    name: &'static str,
    needs: &'static [&'static str],
    rule: Rule,
}

/// How a target is measured and judged.
enum Rule {
    /// `ours <= factor × floor`: "1.20x (a vs b)".
    WithinFloor {
        ours: &'static str,
        floor: &'static str,
        factor: f64,
    },
    /// `anchor >= factor × ours`: "15.0x (anchor vs ours)".
    SlowerBy {
        ours: &'static str,
        anchor: &'static str,
        factor: f64,
    },
    /// `ours < anchor`: "a vs b".
    Faster {
        ours: &'static str,
        anchor: &'static str,
    },
    /// Two threads on distinct series within `factor` of one thread, the
    /// padded floor beside (ids under `contention/`).
    Distinct { id: &'static str, factor: f64 },
    /// The HTTP layer's added cost through axum within `bound_ns`, the cost
    /// on a plain tower stack beside.
    HttpAdded { bound_ns: f64 },
    /// `with - bare < bound_ns`.
    AddedUnder {
        bare: &'static str,
        with: &'static str,
        bound_ns: f64,
    },
    /// The slowest bench under `prefix` below `bound_ns` (shown when any ran).
    Slowest { prefix: &'static str, bound_ns: f64 },
    /// `ours <= 1.03 × anchor`: the same encoder, 3% allowed for noise.
    AsFast {
        ours: &'static str,
        anchor: &'static str,
    },
    /// `large / small <= max` for ten times the series.
    Linear {
        small: &'static str,
        large: &'static str,
        max: f64,
    },
    /// Retained heap per series of `kind`: ours no more than
    /// prometheus-client's.
    Heap { kind: &'static str },
}

const LIBS: Rows = &[
    ("ours", "**ours**"),
    ("prometheus_client", "prometheus-client"),
    ("prometheus", "prometheus"),
    ("metrics_exporter_prometheus", "metrics-exporter-prometheus"),
];

const SECTIONS: &[Section] = &[
    Section {
        title: "Floors",
        blocks: &[Block::Table(Table::Floors(&[
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
        ]))],
        targets: &[],
    },
    Section {
        title: "Counter increment",
        blocks: &[
            Block::Prose(
                "Unlabelled: one counter handle held by the caller (the `metrics_macro` \
                 row looks the key up on each call, as `counter!` does).",
            ),
            Block::Table(Table::Compare {
                group: "counter/unlabelled",
                floor: "floor_atomic_add",
                ours: "ours_handle",
                rows: &[
                    ("floor_atomic_add", "floor: atomic add"),
                    ("ours_handle", "**ours** (handle)"),
                    ("prometheus_client", "prometheus-client `Counter`"),
                    ("prometheus", "prometheus `IntCounter`"),
                    ("metrics_handle", "metrics `Counter` handle"),
                    ("metrics_macro", "metrics `counter!`"),
                    ("measured", "measured `Counter`"),
                ],
            }),
            Block::Prose(
                "Labelled: `incidents_total{severity, status}`, label values picked at \
                 run time. Ours: `IncidentMetrics::incidents(severity, status).inc()` (two \
                 array indexes); prometheus-client: `Family::get_or_create(&labels).inc()`; \
                 prometheus: `with_label_values(&[..]).inc()`; metrics: \
                 `counter!(name, labels..).increment(1)`; measured: `CounterVec::inc(group)`.",
            ),
            Block::Table(Table::Compare {
                group: "counter/labelled",
                floor: "floor_atomic_add",
                ours: "ours_typed_handle",
                rows: &[
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
            }),
        ],
        targets: &[
            Target {
                name: "labelled counter: ours <= 1.5x the atomic add",
                needs: &[],
                rule: Rule::WithinFloor {
                    ours: "counter/labelled/ours_typed_handle",
                    floor: "counter/labelled/floor_atomic_add",
                    factor: 1.5,
                },
            },
            Target {
                name: "labelled counter: >= 15x faster than prometheus-client `Family` (derived enum label struct)",
                needs: &["counter/labelled/floor_atomic_add"],
                rule: Rule::SlowerBy {
                    ours: "counter/labelled/ours_typed_handle",
                    anchor: "counter/labelled/prometheus_client_family",
                    factor: 15.0,
                },
            },
            Target {
                name: "labelled counter: >= 15x faster than prometheus-client `Family` (string pairs)",
                needs: &["counter/labelled/floor_atomic_add"],
                rule: Rule::SlowerBy {
                    ours: "counter/labelled/ours_typed_handle",
                    anchor: "counter/labelled/prometheus_client_family_strings",
                    factor: 15.0,
                },
            },
        ],
    },
    Section {
        title: "Labelled histogram observe",
        blocks: &[
            Block::Prose(
                "`incident_processing_duration_seconds{severity}`, 15 bounds (the \
                 catalog's task-duration layout) for every library, value 0.042. The \
                 floor finds the bucket and adds one to it (no sum, no label lookup).",
            ),
            Block::Table(Table::Compare {
                group: "histogram/labelled_observe",
                floor: "floor_bucket_add",
                ours: "ours_typed_handle",
                rows: &[
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
            }),
            Block::Prose(
                "Core `Histogram::observe` before and after this change (no label lookup; \
                 `previous` is the former implementation, kept in `benches/benches/common`):",
            ),
            Block::Table(Table::CoreObserve(&[("value", "0.042"), ("zero", "0.0")])),
        ],
        targets: &[
            Target {
                name: "labelled histogram: ours <= 2x the bucket floor",
                needs: &["histogram/labelled_observe/measured"],
                rule: Rule::WithinFloor {
                    ours: "histogram/labelled_observe/ours_typed_handle",
                    floor: "histogram/labelled_observe/floor_bucket_add",
                    factor: 2.0,
                },
            },
            Target {
                name: "labelled histogram: faster than measured",
                needs: &["histogram/labelled_observe/floor_bucket_add"],
                rule: Rule::Faster {
                    ours: "histogram/labelled_observe/ours_typed_handle",
                    anchor: "histogram/labelled_observe/measured",
                },
            },
        ],
    },
    Section {
        title: "Two threads: one series and distinct series",
        blocks: &[
            Block::Prose(
                "Time per operation of the slower of two threads started together, \
                 against the same loop on one thread. `distinct / one` near 1 means no \
                 false sharing; `same / one` is the price of two cores writing one cache \
                 line, which no design avoids.",
            ),
            Block::Table(Table::Contention(CONTENTION_ROWS)),
        ],
        targets: &[
            Target {
                name: "two threads, distinct series, **ours** counter (typed handles): within 1.3x of one thread",
                needs: &["contention/ours_counter/two_threads_same"],
                rule: Rule::Distinct {
                    id: "ours_counter",
                    factor: 1.3,
                },
            },
            Target {
                name: "two threads, distinct series, **ours** histogram (typed handles): within 1.3x of one thread",
                needs: &["contention/ours_histogram/two_threads_same"],
                rule: Rule::Distinct {
                    id: "ours_histogram",
                    factor: 1.3,
                },
            },
        ],
    },
    Section {
        title: "One HTTP request through the layer",
        blocks: &[
            Block::Prose(
                "One in-process request (`oneshot` on an axum `Router`, body read to \
                 the end). `noop_layer` is what axum's `Router::layer` costs for any \
                 layer; `wrap_bodies` adds axum's boxing of wrapped bodies, as for any \
                 byte-counting layer.",
            ),
            Block::Table(Table::HttpOneshot(&[
                ("bare", "bare router"),
                ("noop_layer", "no-op layer (axum's per-layer cost)"),
                ("wrap_bodies", "body-wrapping layer recording nothing"),
                ("incident_metrics_http", "**ours** `HttpMetricsLayer`"),
                ("axum_prometheus", "axum-prometheus `PrometheusMetricLayer`"),
            ])),
            Block::Table(Table::HttpServiceFn),
        ],
        targets: &[
            Target {
                name: "HTTP layer adds <= 150 ns over the bare router",
                needs: &[],
                rule: Rule::HttpAdded { bound_ns: 150.0 },
            },
            Target {
                name: "HTTP layer under 0.5 ms per request (spec)",
                needs: &[],
                rule: Rule::AddedUnder {
                    bare: "http_layer/oneshot/bare",
                    with: "http_layer/oneshot/incident_metrics_http",
                    bound_ns: 500_000.0,
                },
            },
        ],
    },
    Section {
        title: "One gRPC unary call through the layer",
        blocks: &[
            Block::Table(Table::Grpc(&[
                (
                    "grpc_unary_in_process",
                    "tonic-generated `EchoServer`, unary",
                ),
                ("grpc_layer_trivial_inner", "trivial inner service"),
            ])),
            Block::Prose(
                "No anchor here: no maintained Prometheus layer for tonic exists among the \
                 anchors, so the bare call is the comparison.",
            ),
        ],
        targets: &[Target {
            name: "gRPC layer under 0.3 ms per call (spec)",
            needs: &[],
            rule: Rule::AddedUnder {
                bare: "grpc_unary_in_process/bare",
                with: "grpc_unary_in_process/with_layer",
                bound_ns: 300_000.0,
            },
        }],
    },
    Section {
        title: "Trackers: one start/finish pair",
        blocks: &[Block::Table(Table::Trackers)],
        targets: &[Target {
            name: "trackers under 0.1 ms per start/finish (spec)",
            needs: &[],
            rule: Rule::Slowest {
                prefix: "tracker_start_finish/",
                bound_ns: 100_000.0,
            },
        }],
    },
    Section {
        title: "Scrape encoding",
        blocks: &[
            Block::Prose(
                "A counter family `http_requests_total{method, path, status}` with N \
                 series. Ours is `incident_metrics_exporter::render` (and \
                 `encode_response` with gzip); prometheus-client is its own encoder on \
                 its own registry; `prometheus` and `metrics-exporter-prometheus` write \
                 only the 0.0.4 text. `x p-c` divides by prometheus-client's time for the \
                 same format.",
            ),
            Block::Table(Table::Scrape {
                sizes: &["1000", "10000", "100000"],
                formats: &[
                    ("openmetrics", "OpenMetrics"),
                    ("prometheus_text", "Prometheus 0.0.4"),
                    ("openmetrics_gzip", "OpenMetrics + gzip"),
                    ("prometheus_text_gzip", "Prometheus 0.0.4 + gzip"),
                ],
            }),
        ],
        targets: &[
            Target {
                name: "scrape 10,000 series, OpenMetrics: at least as fast as prometheus-client",
                needs: &[],
                rule: Rule::AsFast {
                    ours: "scrape/10000/openmetrics/ours",
                    anchor: "scrape/10000/openmetrics/prometheus_client",
                },
            },
            Target {
                name: "scrape OpenMetrics: linear from 10,000 to 100,000 series (10x)",
                needs: &[],
                rule: Rule::Linear {
                    small: "scrape/10000/openmetrics/ours",
                    large: "scrape/100000/openmetrics/ours",
                    max: 12.0,
                },
            },
            Target {
                name: "scrape 10,000 series, Prometheus 0.0.4: at least as fast as prometheus-client",
                needs: &[],
                rule: Rule::AsFast {
                    ours: "scrape/10000/prometheus_text/ours",
                    anchor: "scrape/10000/prometheus_text/prometheus_client",
                },
            },
            Target {
                name: "scrape Prometheus 0.0.4: linear from 10,000 to 100,000 series (10x)",
                needs: &[],
                rule: Rule::Linear {
                    small: "scrape/10000/prometheus_text/ours",
                    large: "scrape/100000/prometheus_text/ours",
                    max: 12.0,
                },
            },
        ],
    },
    Section {
        title: "Retained heap per series",
        blocks: &[
            Block::Prose(
                "Bytes still allocated after creating 10,000 labelled series (three labels, \
                 one of them a distinct path per series) and recording once into each, \
                 divided by 10,000; counted by `allocation-counter`'s global allocator \
                 (`benches/benches/memory.rs`). Histograms use the same 15 bounds.",
            ),
            Block::Table(Table::Memory(&["counter", "histogram"])),
            Block::Table(Table::HistogramState),
        ],
        targets: &[
            Target {
                name: "retained heap per counter series no more than prometheus-client",
                needs: &[],
                rule: Rule::Heap { kind: "counter" },
            },
            Target {
                name: "retained heap per histogram series no more than prometheus-client",
                needs: &[],
                rule: Rule::Heap { kind: "histogram" },
            },
        ],
    },
    Section {
        title: "Zero allocations per recorded event",
        blocks: &[
            Block::Prose(
                "Asserted by tests with a counting global allocator (`allocation-counter`), \
                 run by `cargo test`, not by this script:",
            ),
            Block::Table(Table::Files(&[
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
            ])),
        ],
        targets: &[],
    },
    Section {
        title: "Reference service under load",
        blocks: &[Block::Table(Table::ServiceUnderLoad)],
        targets: &[],
    },
];

const CONTENTION_ROWS: Rows = &[
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
];

// ---------------------------------------------------------------------------
// Rendering.

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (criterion, memory, machine, output, loadgen) = match args.as_slice() {
        [c, m, mc, o] => (c, m, mc, o, None),
        [c, m, mc, o, l] => (c, m, mc, o, Some(l)),
        _ => return Err(USAGE.into()),
    };
    let loadgen = read_loadgen(loadgen.map(String::as_str));
    let run = Run::load(Path::new(criterion))?;
    let memory = std::fs::read_to_string(memory).unwrap_or_default();
    let machine = std::fs::read_to_string(machine)?;
    let notes_path = PathBuf::from(env_or("BENCH_NOTES", "benches/performance-notes.md"));
    let notes = std::fs::read_to_string(&notes_path).unwrap_or_default();
    let inputs = Inputs {
        run,
        memory: parse_memory(&memory)?,
        loadgen,
    };
    std::fs::write(output, report(&inputs, &machine, &notes)?)?;
    Ok(())
}

/// The load generator's JSON; a missing or unreadable file leaves the
/// target open, with why.
fn read_loadgen(path: Option<&str>) -> std::result::Result<serde_json::Value, String> {
    match path {
        None => Err("loadgen was not run".to_owned()),
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {path}: {e}"))
            .and_then(|t| {
                serde_json::from_str(&t).map_err(|e| format!("cannot parse {path}: {e}"))
            }),
    }
}

/// The whole report: the introduction, the machine, the targets' summary,
/// every section of [`SECTIONS`], then the notes.
fn report(inputs: &Inputs, machine: &str, notes: &str) -> Result<String> {
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
    let summary_at = o.len();
    let mut targets = Targets::default();
    for section in SECTIONS {
        render(o, inputs, section, &mut targets)?;
    }
    if !notes.is_empty() {
        writeln!(o, "{}", notes.trim_end())?;
        writeln!(o)?;
    }
    out.insert_str(summary_at, &targets.summary()?);
    Ok(out)
}

/// Renders one section and records its targets.
fn render(o: &mut String, inputs: &Inputs, section: &Section, targets: &mut Targets) -> Result<()> {
    writeln!(o, "## {}", section.title)?;
    writeln!(o)?;
    for block in section.blocks {
        match block {
            Block::Prose(text) => {
                writeln!(o, "{text}")?;
                writeln!(o)?;
            }
            Block::Table(table) => table.render(o, inputs, targets)?,
        }
    }
    let run = &inputs.run;
    for target in section.targets {
        if target.needs.iter().all(|id| run.ns(id).is_some())
            && let Some((measured, ok)) = target.rule.measure(inputs)
        {
            targets.add(target.name, measured, ok);
        }
    }
    Ok(())
}

impl Table {
    fn render(&self, o: &mut String, inputs: &Inputs, targets: &mut Targets) -> Result<()> {
        let run = &inputs.run;
        match self {
            Self::Floors(rows) => floors(o, run, rows),
            Self::Compare {
                group,
                floor,
                ours,
                rows,
            } => compare_table(o, run, group, floor, ours, rows),
            Self::CoreObserve(rows) => core_observe(o, run, rows),
            Self::Contention(rows) => contention(o, run, rows),
            Self::HttpOneshot(rows) => http_oneshot(o, run, rows),
            Self::HttpServiceFn => http_service_fn(o, run),
            Self::Grpc(rows) => grpc(o, run, rows),
            Self::Trackers => trackers(o, run),
            Self::Scrape { sizes, formats } => scrape(o, run, sizes, formats),
            Self::Memory(kinds) => memory(o, inputs, kinds),
            Self::HistogramState => histogram_state(o, inputs),
            Self::Files(rows) => files(o, rows),
            Self::ServiceUnderLoad => {
                targets.service = Some(service_under_load(o, &inputs.loadgen)?);
                Ok(())
            }
        }
    }
}

impl Rule {
    /// The measured text and whether the target is met; `None` when the
    /// figures are missing.
    fn measure(&self, inputs: &Inputs) -> Option<(String, bool)> {
        let ns = |id: &str| inputs.run.ns(id);
        Some(match *self {
            Self::WithinFloor {
                ours,
                floor,
                factor,
            } => {
                let (ours, floor) = (ns(ours)?, ns(floor)?);
                (
                    format!("{} ({} vs {})", ratio(ours, floor), time(ours), time(floor)),
                    ours <= factor * floor,
                )
            }
            Self::SlowerBy {
                ours,
                anchor,
                factor,
            } => {
                let (ours, anchor) = (ns(ours)?, ns(anchor)?);
                (
                    format!("{:.1}x ({} vs {})", anchor / ours, time(anchor), time(ours)),
                    anchor >= factor * ours,
                )
            }
            Self::Faster { ours, anchor } => {
                let (ours, anchor) = (ns(ours)?, ns(anchor)?);
                (format!("{} vs {}", time(ours), time(anchor)), ours < anchor)
            }
            Self::Distinct { id, factor } => distinct(&inputs.run, id, factor)?,
            Self::HttpAdded { bound_ns } => http_added_target(&inputs.run, bound_ns)?,
            Self::AddedUnder {
                bare,
                with,
                bound_ns,
            } => {
                let added = ns(with)? - ns(bare)?;
                (time(added), added < bound_ns)
            }
            Self::Slowest { prefix, bound_ns } => slowest(&inputs.run, prefix, bound_ns)?,
            Self::AsFast { ours, anchor } => {
                let (ours, anchor) = (ns(ours)?, ns(anchor)?);
                (
                    format!(
                        "{} vs {} ({}; the same encoder, 3% allowed for noise)",
                        time(ours),
                        time(anchor),
                        ratio(ours, anchor),
                    ),
                    ours <= anchor * 1.03,
                )
            }
            Self::Linear { small, large, max } => {
                let growth = ns(large)? / ns(small)?;
                (
                    format!("{growth:.1}x the time for 10x the series"),
                    growth <= max,
                )
            }
            Self::Heap { kind } => {
                let ours = inputs.memory(kind, "ours")?;
                let pc = inputs.memory(kind, "prometheus_client")?;
                (format!("{ours:.0} vs {pc:.0} bytes"), ours <= pc)
            }
        })
    }
}

/// Two threads on distinct series against one thread, for `contention/{id}`.
fn distinct(run: &Run, id: &str, factor: f64) -> Option<(String, bool)> {
    let get = |id: &str, k: &str| run.ns(&format!("contention/{id}/{k}"));
    let (one, distinct) = (get(id, "one_thread")?, get(id, "two_threads_distinct")?);
    let floor = get("floor_atomic_add", "two_threads_distinct")
        .zip(get("floor_atomic_add", "one_thread"))
        .map(|(d, o)| d / o);
    Some((
        format!(
            "{} (the padded floor: {})",
            ratio(distinct, one),
            floor.map_or_else(|| "n/a".to_owned(), |f| format!("{f:.2}x"))
        ),
        distinct <= factor * one,
    ))
}

/// The HTTP layer's added cost through axum against `bound_ns`, with the
/// cost on a plain tower stack beside.
fn http_added_target(run: &Run, bound_ns: f64) -> Option<(String, bool)> {
    let added = http_added(run);
    let plain = run.ns("http_layer/service_fn/incident_metrics_http")?
        - run.ns("http_layer/service_fn/bare")?;
    Some((
        format!(
            "{} through axum, {} on a plain tower stack",
            added.map_or_else(|| "n/a".to_owned(), time),
            time(plain)
        ),
        added.is_some_and(|a| a <= bound_ns),
    ))
}

/// The slowest bench under `prefix` against `bound_ns`; `None` when none ran.
fn slowest(run: &Run, prefix: &str, bound_ns: f64) -> Option<(String, bool)> {
    let worst = run
        .0
        .iter()
        .filter(|(id, _)| id.starts_with(prefix))
        .map(|(_, e)| e.median)
        .fold(0.0, f64::max);
    (worst > 0.0).then(|| (format!("slowest {}", time(worst)), worst < bound_ns))
}

fn floors(o: &mut String, run: &Run, rows: Rows) -> Result<()> {
    writeln!(o, "| operation | median |")?;
    writeln!(o, "|---|---:|")?;
    for (id, label) in rows {
        if let Some(ns) = run.ns(&format!("baseline/{id}")) {
            writeln!(o, "| {label} | {} |", time(ns))?;
        }
    }
    writeln!(o)?;
    Ok(())
}

/// A table of libraries doing the same work: median, confidence interval,
/// ratio to the floor and to ours.
fn compare_table(
    o: &mut String,
    run: &Run,
    group: &str,
    floor: &str,
    ours: &str,
    rows: Rows,
) -> Result<()> {
    let floor_ns = run.ns(&format!("{group}/{floor}"));
    let ours_ns = run.ns(&format!("{group}/{ours}"));
    writeln!(
        o,
        "| variant | median | 95% CI of median | x floor | x ours |"
    )?;
    writeln!(o, "|---|---:|---:|---:|---:|")?;
    for (id, label) in rows {
        let Some(e) = run.get(&format!("{group}/{id}")) else {
            writeln!(o, "| {label} | not run | | | |")?;
            continue;
        };
        writeln!(
            o,
            "| {label} | {} | {} .. {} | {} | {} |",
            time(e.median),
            time(e.low),
            time(e.high),
            floor_ns.map_or_else(String::new, |f| ratio(e.median, f)),
            ours_ns.map_or_else(String::new, |o| ratio(e.median, o)),
        )?;
    }
    writeln!(o)?;
    Ok(())
}

fn core_observe(o: &mut String, run: &Run, rows: Rows) -> Result<()> {
    writeln!(o, "| value | previous | current | current / previous |")?;
    writeln!(o, "|---|---:|---:|---:|")?;
    for (v, label) in rows {
        if let (Some(p), Some(c)) = (
            run.ns(&format!("histogram/core_observe/previous/{v}")),
            run.ns(&format!("histogram/core_observe/current/{v}")),
        ) {
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
    Ok(())
}

fn contention(o: &mut String, run: &Run, rows: Rows) -> Result<()> {
    writeln!(
        o,
        "| series | one thread | two, same series | two, distinct series | same / one | distinct / one |"
    )?;
    writeln!(o, "|---|---:|---:|---:|---:|---:|")?;
    for (id, label) in rows {
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
        }
    }
    writeln!(o)?;
    Ok(())
}

/// What the HTTP layer adds over the bare router, through axum.
fn http_added(run: &Run) -> Option<f64> {
    let bare = run.ns("http_layer/oneshot/bare")?;
    run.ns("http_layer/oneshot/incident_metrics_http")
        .map(|o| o - bare)
}

fn http_oneshot(o: &mut String, run: &Run, rows: Rows) -> Result<()> {
    writeln!(o, "| variant | median | added over bare | x ours (added) |")?;
    writeln!(o, "|---|---:|---:|---:|")?;
    let bare = run.ns("http_layer/oneshot/bare");
    let ours_added = http_added(run);
    for (id, label) in rows {
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
    Ok(())
}

fn http_service_fn(o: &mut String, run: &Run) -> Result<()> {
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
    }
    Ok(())
}

fn grpc(o: &mut String, run: &Run, rows: Rows) -> Result<()> {
    writeln!(o, "| call | bare | with `GrpcMetricsLayer` | added |")?;
    writeln!(o, "|---|---:|---:|---:|")?;
    for (group, label) in rows {
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
        }
    }
    writeln!(o)?;
    Ok(())
}

fn trackers(o: &mut String, run: &Run) -> Result<()> {
    writeln!(o, "| tracker | median |")?;
    writeln!(o, "|---|---:|")?;
    for (id, e) in run
        .0
        .range("tracker_start_finish/".to_owned().."tracker_start_finish0".to_owned())
    {
        let name = id.trim_start_matches("tracker_start_finish/");
        writeln!(o, "| {name} | {} |", time(e.median))?;
    }
    writeln!(o)?;
    Ok(())
}

fn scrape(o: &mut String, run: &Run, sizes: &[&str], formats: Rows) -> Result<()> {
    for n in sizes {
        writeln!(o, "### {n} series")?;
        writeln!(o)?;
        writeln!(
            o,
            "| format | library | median | bytes | per series | x p-c |"
        )?;
        writeln!(o, "|---|---|---:|---:|---:|---:|")?;
        let per: f64 = n.parse::<f64>()?;
        for (f, flabel) in formats {
            let pc = run.ns(&format!("scrape/{n}/{f}/prometheus_client"));
            for (l, llabel) in LIBS {
                let Some(e) = run.get(&format!("scrape/{n}/{f}/{l}")) else {
                    continue;
                };
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
    Ok(())
}

fn memory(o: &mut String, inputs: &Inputs, kinds: &[&str]) -> Result<()> {
    writeln!(o, "| kind | library | bytes per series | x p-c |")?;
    writeln!(o, "|---|---|---:|---:|")?;
    for kind in kinds {
        let pc = inputs.memory(kind, "prometheus_client");
        for (l, llabel) in LIBS {
            if let Some(b) = inputs.memory(kind, l) {
                writeln!(
                    o,
                    "| {kind} | {llabel} | {b:.0} | {} |",
                    pc.map_or_else(String::new, |p| ratio(b, p))
                )?;
            }
        }
    }
    writeln!(o)?;
    Ok(())
}

fn histogram_state(o: &mut String, inputs: &Inputs) -> Result<()> {
    let state = |lib: &str| inputs.memory("histogram_state", lib);
    if let (Some(prev), Some(cur)) = (state("previous"), state("ours")) {
        writeln!(
            o,
            "The histogram state alone (no labels, no map entry; 15 bounds, the \
             8-byte `Vec` slot holding each handle included): {prev:.0} bytes with the \
             previous core layout, {cur:.0} bytes with the current one."
        )?;
        writeln!(o)?;
    }
    Ok(())
}

fn files(o: &mut String, rows: Rows) -> Result<()> {
    for (path, what) in rows {
        writeln!(o, "- `{path}`: {what}")?;
    }
    writeln!(o)?;
    Ok(())
}

// ---------------------------------------------------------------------------
// The reference service under load, from the load generator's JSON.

/// Microseconds from the loadgen JSON, formatted.
fn us_field(v: &serde_json::Value) -> String {
    v.as_f64()
        .map_or_else(|| "?".to_owned(), |us| time(us * 1e3))
}

/// A number from the loadgen JSON, NaN when absent.
fn num(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// Writes the section's body from the load generator's JSON; returns the
/// targets row "metrics cost under 3% of throughput".
fn service_under_load(
    o: &mut String,
    loadgen: &std::result::Result<serde_json::Value, String>,
) -> Result<String> {
    const TARGET: &str = "metrics cost under 3% of the reference service's throughput";
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
    service_intro(o, j)?;
    service_modes(o, j)?;
    service_ratio(o, j)?;
    service_scrape(o, &j["scrape_under_load"])?;
    service_checks(o, j)?;
    let (measured, ok) = service_measured(j);
    Ok(format!("| {TARGET} | {measured} | {} |", mark(ok)))
}

fn service_intro(o: &mut String, j: &serde_json::Value) -> Result<()> {
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
        num(&opts["duration_s"]),
        num(&opts["warmup_s"]),
        j["load_average"].as_str().unwrap_or("?"),
    )?;
    writeln!(o)?;
    Ok(())
}

/// The table of both modes: throughput, CPU per request, latencies.
fn service_modes(o: &mut String, j: &serde_json::Value) -> Result<()> {
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
                    .map(|v| format!("{:.0}", num(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        writeln!(
            o,
            "| {name} | {:.0} | {phases} | {} | {} | {} | {} | {} | {} | {} |",
            num(&m["rps_median"]),
            us_field(&serde_json::json!(
                num(&m["server_cpu_ns_per_request_median"]) / 1e3
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
    Ok(())
}

fn service_ratio(o: &mut String, j: &serde_json::Value) -> Result<()> {
    let ratio = num(&j["throughput_ratio"]);
    let overhead = num(&j["overhead_percent"]);
    let cpu_overhead = num(&j["cpu_overhead_percent"]);
    writeln!(
        o,
        "Throughput ratio on/off: **{ratio:.4}** (the median of the rounds' ratios, each \
         round's two phases back to back; the ratio of the two medians above is {:.4}), \
         so metrics cost **{overhead:.2}%** of throughput. A ratio above 1 means the \
         difference is below this run's noise. The service's CPU per request (the \
         median of the rounds' ratios): metrics add **{cpu_overhead:.2}%**.",
        num(&j["throughput_ratio_of_medians"])
    )?;
    writeln!(o)?;
    Ok(())
}

/// Scrape under load: the table without and with scrapes, the scrapes'
/// latency.
fn service_scrape(o: &mut String, s: &serde_json::Value) -> Result<()> {
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
            num(&m["rps"]),
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
    Ok(())
}

fn service_checks(o: &mut String, j: &serde_json::Value) -> Result<()> {
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
    Ok(())
}

/// The overhead target's measured text, and whether it is met (under 3%
/// with every loadgen check passed).
fn service_measured(j: &serde_json::Value) -> (String, bool) {
    let opts = &j["options"];
    let overhead = num(&j["overhead_percent"]);
    let checks_ok = j["ok"].as_bool() == Some(true);
    let measured = format!(
        "{:.2}% (on/off ratio {:.4}, the median of {} rounds' ratios of phases of {} s each; medians {:.0} vs {:.0} req/s; service CPU per request {:+.2}%){}",
        overhead,
        num(&j["throughput_ratio"]),
        opts["rounds"],
        num(&opts["duration_s"]),
        num(&j["metrics_on"]["rps_median"]),
        num(&j["metrics_off"]["rps_median"]),
        num(&j["cpu_overhead_percent"]),
        if checks_ok {
            "; every loadgen check passed"
        } else {
            "; a loadgen check FAILED"
        },
    );
    (measured, overhead < 3.0 && checks_ok)
}

fn env_or(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_owned())
}
