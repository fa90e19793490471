//! `loadgen`: drives the reference service over REST and gRPC on 127.0.0.1
//! for a bounded time, with metrics on and off in the same run, and checks
//! what the service's metrics say against what the client counted.
//!
//! ```text
//! cargo run --release -p loadgen -- [--duration SECS] [--concurrency N]
//!     [--rounds N] [--warmup SECS] [--json PATH] [--quick] [--memory-store]
//! ```
//!
//! Each service keeps its incidents in a SQLite file of its own under the
//! system's temporary folder (the service's durable default: WAL,
//! `synchronous=FULL`, group commit), removed at the end; `--memory-store`
//! runs both on `:memory:` stores instead, to measure what durability
//! costs.
//!
//! It starts two services in this process (one with `[metrics] enabled =
//! true`, one with `false`) on one tokio runtime, from the
//! `llm_incident_manager` library (no service binary is spawned or looked
//! for), and runs the clients on a second runtime so that the two do not
//! share a scheduler. Each phase is a closed loop of `--concurrency`
//! clients (half REST over keep-alive hyper connections, half gRPC over
//! tonic channels), each sending the same mix: creates with repeating
//! fingerprints (40%, so storage stays bounded: most are deduplicated),
//! gets by id (30%, one in 50 of an unknown id), lists of the open
//! incidents (20%, bounded by the fingerprints), and resolves (10%). After
//! a warm-up of both services, the phases alternate (on, off, off, on, on,
//! off, ...) `--rounds` times so that machine noise hits both modes. The
//! overhead is taken round by round: each round's two phases run back to
//! back, so a slow spell of the machine (which on a shared 2-core VM moves
//! throughput by a quarter for tens of seconds) hits both, and the report
//! gives the median of the rounds' on/off ratios, beside each mode's median
//! throughput. The same is done for the CPU time of the service's runtime
//! threads per request (`/proc/self/task/*/schedstat`), a figure that other
//! load on the machine disturbs much less than throughput.
//!
//! Last, the create rate: a third service (metrics on, the same kind of
//! store) takes only creates, each a new incident (one transaction with
//! its outbox rows), from `--concurrency` REST clients for twice the phase
//! duration; the report gives creates per second and their latency.
//!
//! Checks (the exit status is 1 when one fails):
//! - the service's `http_requests_total{method,path,status}`,
//!   `grpc_requests_total{service,method,status}`,
//!   `incidents_total{severity,status}` and `incidents_deduplicated_total`
//!   equal the client's counts exactly;
//! - `http_requests_in_flight`, `grpc_streams_active`, `playbooks_active`
//!   and `notification_queue_size` are back to 0;
//! - the metrics-off service answers `/metrics` with 404;
//! - the resident memory after the run is within
//!   [`report::RSS_BOUND_BYTES`] of the resident memory after the warm-up,
//!   beyond [`run::STORE_MEMORY_FACTOR`] × the growth of the two services'
//!   SQLite stores (which keep every resolved incident);
//! - under the same load with a concurrent 10/s scrape loop (OpenMetrics,
//!   gzip), the scrape p99 stays under [`run::SCRAPE_P99_BOUND`] and the
//!   request p99 stays within [`run::P99_FACTOR`] × (+ [`run::P99_SLACK`])
//!   of the p99 without scraping.
//!
//! The overhead target (metrics cost under 3% of throughput) is reported,
//! not checked: one run on a shared machine is too noisy to fail on.
//!
//! The modules, one job each: [`options`] (the command line), [`target`]
//! (starting and stopping the services), [`client`] (the request mix and
//! what the clients counted), [`phase`] (the closed-loop phases and the
//! create-rate phase), [`checks`] (scraping the service and comparing),
//! [`measure`] (CPU, resident memory, histograms, medians), [`report`]
//! (the printed report and the JSON), and [`run`] (the order of it all).

#![forbid(unsafe_code)]
#![allow(clippy::print_stdout)]

mod checks;
mod client;
mod error;
mod measure;
mod options;
mod phase;
mod report;
mod run;
mod target;

use std::process::ExitCode;

use options::{Options, USAGE};

fn main() -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    match run::run(&options) {
        Ok(true) => {
            println!("loadgen: all checks passed");
            ExitCode::SUCCESS
        }
        Ok(false) => {
            eprintln!("loadgen: FAILED: a check did not pass (see == checks == above)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("loadgen: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}
