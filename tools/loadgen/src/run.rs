//! The order of a run: start the services, warm up, alternate the modes
//! round by round, scrape under load, check, measure the create rate,
//! report, stop.

use std::time::Duration;

use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::runtime::Runtime;

use crate::checks::{Check, check_counts, scrape_text};
use crate::client::{Clients, Counts, HttpClient, connect_clients};
use crate::error::LoadgenError;
use crate::measure::{
    SERVER_THREADS, add, fmt_us, load_average, new_hist, rss_bytes, server_cpu_ns, us,
};
use crate::options::Options;
use crate::phase::{CreateRate, PhaseResult, create_rate, run_phase};
use crate::report::{Memory, Mode, RSS_BOUND_BYTES, Results, ScrapeUnderLoad};
use crate::target::{Target, remove_stores, start_target, stop_target, store_bytes};

/// Resident bytes per byte of SQLite page (page count × page size) that an
/// in-memory store takes: page headers, the page cache and the allocator's
/// overhead. The whole resident growth measured 1.43 to 1.47 × the new
/// pages over three default runs with 33 to 58 MiB of them.
pub(crate) const STORE_MEMORY_FACTOR: f64 = 1.5;
/// The bound on the p99 latency of a scrape under load (generous: a scrape
/// renders and gzips every family, on a machine shared with the load).
pub(crate) const SCRAPE_P99_BOUND: Duration = Duration::from_secs(1);
/// The request p99 with a concurrent scrape loop must be within this factor
/// of the p99 without, plus [`P99_SLACK`].
pub(crate) const P99_FACTOR: f64 = 3.0;
/// Absolute slack on top of [`P99_FACTOR`], for the noise of small values.
pub(crate) const P99_SLACK: Duration = Duration::from_millis(10);

/// One of the two services under load, with its clients (kept across its
/// phases: keep-alive connections, and each client's open incidents).
struct Side {
    target: Target,
    clients: Option<Clients>,
}

/// The two services, metrics on and off, and what their clients counted.
struct Bench<'a> {
    server_rt: &'a Runtime,
    client_rt: &'a Runtime,
    on: Side,
    off: Side,
    /// The client's counts of the metrics-on service, checked exactly.
    on_counts: Counts,
    /// The metrics-off service's clients' counts: only failures matter.
    off_failures: Counts,
}

impl<'a> Bench<'a> {
    fn start(
        options: &Options,
        server_rt: &'a Runtime,
        client_rt: &'a Runtime,
    ) -> Result<Self, LoadgenError> {
        let on = server_rt.block_on(start_target(true, options.memory_store, "on"))?;
        let off = server_rt.block_on(start_target(false, options.memory_store, "off"))?;
        let n = options.concurrency;
        let on_clients = client_rt.block_on(connect_clients(&on, n, 0))?;
        let off_clients = client_rt.block_on(connect_clients(&off, n, n))?;
        Ok(Self {
            server_rt,
            client_rt,
            on: Side {
                target: on,
                clients: Some(on_clients),
            },
            off: Side {
                target: off,
                clients: Some(off_clients),
            },
            on_counts: Counts::default(),
            off_failures: Counts::default(),
        })
    }

    /// One phase on the metrics-on (`on`) or metrics-off service, keeping
    /// its clients and what they counted.
    fn phase(
        &mut self,
        on: bool,
        duration: Duration,
        scrape: bool,
    ) -> Result<PhaseResult, LoadgenError> {
        let side = if on { &mut self.on } else { &mut self.off };
        let clients = side.clients.take().ok_or_else(|| {
            LoadgenError::Histogram("the clients of a target are in use".to_owned())
        })?;
        let url = scrape.then(|| format!("http://{}/metrics", side.target.http));
        let cpu_before = server_cpu_ns();
        let (mut result, clients) =
            self.client_rt
                .block_on(run_phase(&side.target, clients, duration, url))?;
        result.server_cpu_ns = cpu_before
            .zip(server_cpu_ns())
            .map(|(b, a)| a.saturating_sub(b));
        side.clients = Some(clients);
        if on {
            self.on_counts.merge(&result.counts);
        } else {
            self.off_failures.merge(&result.counts);
        }
        Ok(result)
    }

    /// `rounds` pairs of phases, the order alternating: on, off, off, on, ...
    fn rounds(&mut self, rounds: usize, duration: Duration) -> Result<(Mode, Mode), LoadgenError> {
        let mut mode_on = Mode::new()?;
        let mut mode_off = Mode::new()?;
        for round in 0..rounds {
            let order = if round % 2 == 0 {
                [true, false]
            } else {
                [false, true]
            };
            for on in order {
                let result = self.phase(on, duration, false)?;
                if on {
                    mode_on.add(&result)?;
                } else {
                    mode_off.add(&result)?;
                }
            }
        }
        Ok((mode_on, mode_off))
    }

    /// The size of both services' stores.
    fn store_bytes(&self) -> u64 {
        store_bytes(&[&self.on.target, &self.off.target])
    }

    /// The checks of what the services said: exact counts, no failure on
    /// the metrics-off service, no `/metrics` there.
    fn service_checks(&self) -> Result<Vec<Check>, LoadgenError> {
        let counts = &self.on_counts;
        let wrong = self
            .client_rt
            .block_on(check_counts(&self.on.target, counts))?;
        let created: u64 = counts
            .incidents
            .iter()
            .filter(|((_, s), _)| s == "open")
            .map(|(_, v)| v)
            .sum();
        let off = &self.off_failures;
        let off_status = self.client_rt.block_on(async {
            let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
            scrape_text(&client, &format!("http://{}/metrics", self.off.target.http)).await
        })?;
        Ok(vec![
            Check {
                name: "service counters equal the client's counts; gauges back to 0",
                ok: wrong.is_empty(),
                detail: if wrong.is_empty() {
                    format!(
                        "{} requests, {created} incidents created, {} deduplicated",
                        counts.requests(),
                        counts.deduplicated
                    )
                } else {
                    wrong.join("; ")
                },
            },
            Check {
                name: "no client request failed on the metrics-off service",
                ok: off.failures == 0,
                detail: match &off.first_failure {
                    Some(f) => format!("{} failures; the first: {f}", off.failures),
                    None => format!("{} requests", off.requests()),
                },
            },
            Check {
                name: "metrics-off service serves no /metrics",
                ok: off_status.0 == http::StatusCode::NOT_FOUND,
                detail: format!("/metrics answered {}", off_status.0),
            },
        ])
    }

    /// Closes the clients (their connections), then stops the services.
    fn stop(mut self, creates: Target) {
        self.on.clients = None;
        self.off.clients = None;
        for target in [self.on.target, self.off.target, creates] {
            self.server_rt.block_on(stop_target(target));
        }
    }
}

/// The server runtime (its threads named [`SERVER_THREADS`], so that their
/// CPU time can be read) and the client runtime.
fn runtimes(cores: usize) -> Result<(Runtime, Runtime), LoadgenError> {
    let build = |name: &str| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cores)
            .thread_name(name)
            .enable_all()
            .build()
            .map_err(LoadgenError::Runtime)
    };
    Ok((build(SERVER_THREADS)?, build("loadgen-client")?))
}

fn print_header(options: &Options, cores: usize, load_start: &str) {
    println!("== loadgen ==");
    println!(
        "phases of {:.1} s, {} rounds of on/off, {} clients (half REST, half gRPC), warm-up {:.1} s, {cores} cores, load average {}",
        options.duration.as_secs_f64(),
        options.rounds,
        options.concurrency,
        options.warmup.as_secs_f64(),
        load_start
    );
    println!(
        "stores: {}",
        if options.memory_store {
            "in memory (--memory-store)"
        } else {
            "SQLite files (WAL, synchronous=FULL, group commit), the service's default"
        }
    );
}

/// Runs everything; `Ok(true)` when every check passed.
pub(crate) fn run(options: &Options) -> Result<bool, LoadgenError> {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    let (server_rt, client_rt) = runtimes(cores)?;
    let load_start = load_average();
    print_header(options, cores, &load_start);
    let mut bench = Bench::start(options, &server_rt, &client_rt)?;

    // Warm-up, then the resident memory to compare against.
    bench.phase(true, options.warmup, false)?;
    bench.phase(false, options.warmup, false)?;
    let rss_before = rss_bytes();
    let store_before = bench.store_bytes();

    let (on, off) = bench.rounds(options.rounds, options.duration)?;

    // Scrape under load: the same load on the metrics-on service without,
    // then with, a concurrent 10/s scrape loop.
    let quiet = bench.phase(true, options.duration * 2, false)?;
    let scraped = bench.phase(true, options.duration * 2, true)?;

    let mut checks = bench.service_checks()?;
    // Memory: after everything, against after the warm-up.
    let memory = Memory {
        rss_before,
        rss_after: rss_bytes(),
        store_before,
        store_after: bench.store_bytes(),
    };
    checks.push(memory_check(&memory));

    // The create rate, after the memory was measured: a service of its
    // own (metrics on, the same store kind), every request a new incident.
    let creates_target = server_rt.block_on(start_target(true, options.memory_store, "creates"))?;
    let creates = client_rt.block_on(create_rate(
        &creates_target,
        options.concurrency,
        options.duration * 2,
    ))?;
    checks.push(create_check(&creates));
    let scrape = scrape_under_load(quiet, scraped)?;
    checks.extend(scrape_checks(&scrape, options.quick));

    let results = Results {
        options,
        cores,
        load_start,
        on,
        off,
        scrape,
        creates,
        memory,
        checks,
    };
    results.print();
    if let Some(path) = &options.json {
        results.write_json(path)?;
    }
    bench.stop(creates_target);
    if !options.memory_store {
        remove_stores();
    }
    client_rt.shutdown_timeout(Duration::from_secs(5));
    server_rt.shutdown_timeout(Duration::from_secs(5));
    Ok(results.ok())
}

fn memory_check(m: &Memory) -> Check {
    let store_growth = m.store_after.saturating_sub(m.store_before);
    let mib = |b: u64| b as f64 / 1048576.0;
    let (ok, detail) = match (m.rss_before, m.rss_after) {
        (Some(before), Some(after)) => (
            after as f64
                <= before as f64
                    + store_growth as f64 * STORE_MEMORY_FACTOR
                    + RSS_BOUND_BYTES as f64,
            format!(
                "{:.1} MiB after warm-up, {:.1} MiB after the run: growth {:+.1} MiB, of which the SQLite stores {:.1} MiB (bound: {STORE_MEMORY_FACTOR} x stores + {:.0} MiB)",
                mib(before),
                mib(after),
                mib(after) - mib(before),
                mib(store_growth),
                mib(RSS_BOUND_BYTES)
            ),
        ),
        _ => (
            false,
            "not measured: /proc/self/status has no VmRSS".to_owned(),
        ),
    };
    Check {
        name: "resident memory within bound",
        ok,
        detail,
    }
}

fn create_check(creates: &CreateRate) -> Check {
    Check {
        name: "every create of the create-rate phase answered 201",
        ok: creates.failures == 0 && creates.created > 0,
        detail: match &creates.first_failure {
            Some(f) => format!("{} failures; the first: {f}", creates.failures),
            None => format!("{} incidents created", creates.created),
        },
    }
}

/// The scrape-under-load phases' figures: the scrapes' latencies and each
/// phase's p99 over both protocols.
fn scrape_under_load(
    quiet: PhaseResult,
    scraped: PhaseResult,
) -> Result<ScrapeUnderLoad, LoadgenError> {
    let scrapes = match &scraped.scrapes {
        Some(h) => h.clone(),
        None => new_hist()?,
    };
    let p99_all = |phase: &PhaseResult| -> Result<u64, LoadgenError> {
        let mut all = phase.http.clone();
        add(&mut all, &phase.grpc)?;
        Ok(us(&all, 0.99))
    };
    Ok(ScrapeUnderLoad {
        p99_quiet: p99_all(&quiet)?,
        p99_scraped: p99_all(&scraped)?,
        quiet,
        scraped,
        scrapes,
    })
}

fn scrape_checks(s: &ScrapeUnderLoad, quick: bool) -> [Check; 2] {
    let scrape_bound = if quick {
        // The tests run a debug build.
        SCRAPE_P99_BOUND * 2
    } else {
        SCRAPE_P99_BOUND
    };
    let scrape_p99 = Duration::from_micros(us(&s.scrapes, 0.99));
    let p99_allowed = (s.p99_quiet as f64 * P99_FACTOR) as u64
        + u64::try_from(P99_SLACK.as_micros()).unwrap_or(0);
    [
        Check {
            name: "scrape p99 under load within bound",
            ok: !s.scrapes.is_empty()
                && s.scraped.scrape_failures == 0
                && scrape_p99 <= scrape_bound,
            detail: format!(
                "{} scrapes, {} failed, p99 {} (bound {})",
                s.scrapes.len(),
                s.scraped.scrape_failures,
                fmt_us(us(&s.scrapes, 0.99)),
                fmt_us(u64::try_from(scrape_bound.as_micros()).unwrap_or(u64::MAX))
            ),
        },
        Check {
            name: "request p99 with a 10/s scrape loop within bound",
            ok: s.p99_scraped <= p99_allowed,
            detail: format!(
                "p99 {} with scraping, {} without (allowed {P99_FACTOR}x + {} ms = {})",
                fmt_us(s.p99_scraped),
                fmt_us(s.p99_quiet),
                P99_SLACK.as_millis(),
                fmt_us(p99_allowed)
            ),
        },
    ]
}
