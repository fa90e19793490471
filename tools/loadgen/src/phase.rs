//! The load phases: a closed loop of every client for a bounded time (with
//! a concurrent scrape loop when asked), and the create-rate phase.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use http::{Method, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use tokio::task::{JoinError, JoinHandle};

use crate::checks::scrape_openmetrics_gzip;
use crate::client::{ClientState, Clients, Counts, HttpClient, Step, http_call};
use crate::error::LoadgenError;
use crate::measure::{add, new_hist, record};
use crate::target::Target;

/// The scrape loop's period (10/s).
const SCRAPE_PERIOD: Duration = Duration::from_millis(100);
/// The most requests one client sends in one phase (the time bound comes
/// first in practice).
const MAX_REQUESTS_PER_CLIENT: u64 = 10_000_000;

/// One phase's results.
pub(crate) struct PhaseResult {
    pub(crate) elapsed: Duration,
    pub(crate) http: Histogram<u64>,
    pub(crate) grpc: Histogram<u64>,
    pub(crate) counts: Counts,
    pub(crate) scrapes: Option<Histogram<u64>>,
    pub(crate) scrape_failures: u64,
    /// On-CPU time of the service's runtime threads during the phase.
    pub(crate) server_cpu_ns: Option<u64>,
}

impl PhaseResult {
    /// The service's CPU time per request, in nanoseconds.
    pub(crate) fn cpu_per_request(&self) -> Option<f64> {
        let n = self.http.len() + self.grpc.len();
        self.server_cpu_ns
            .filter(|_| n > 0)
            .map(|ns| ns as f64 / n as f64)
    }

    /// Requests per second, both protocols.
    pub(crate) fn rps(&self) -> f64 {
        let n = self.http.len() + self.grpc.len();
        n as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// What one client task hands back: its client, its state, its latencies.
type ClientTask<C> = JoinHandle<(C, ClientState, Histogram<u64>)>;

fn joined(e: JoinError) -> LoadgenError {
    LoadgenError::Histogram(format!("a client: {e}"))
}

/// Runs the closed loop of every client for `duration` (each client also
/// bounded by [`MAX_REQUESTS_PER_CLIENT`]), with a concurrent 10/s scrape
/// loop of `scrape` when given.
pub(crate) async fn run_phase(
    target: &Target,
    clients: Clients,
    duration: Duration,
    scrape: Option<String>,
) -> Result<(PhaseResult, Clients), LoadgenError> {
    let start = Instant::now();
    let deadline = start + duration;
    let base = format!("http://{}", target.http);
    let mut http_tasks = Vec::new();
    for (client, state) in clients.http {
        http_tasks.push(spawn_client(client, state, base.clone(), deadline)?);
    }
    let mut grpc_tasks = Vec::new();
    for (client, state) in clients.grpc {
        grpc_tasks.push(spawn_client(client, state, base.clone(), deadline)?);
    }
    let scraper = match scrape {
        Some(url) => Some(spawn_scraper(url, duration, deadline)?),
        None => None,
    };

    let mut result = PhaseResult {
        elapsed: Duration::ZERO,
        http: new_hist()?,
        grpc: new_hist()?,
        counts: Counts::default(),
        scrapes: None,
        scrape_failures: 0,
        server_cpu_ns: None,
    };
    let back = Clients {
        http: collect(http_tasks, &mut result.http, &mut result.counts).await?,
        grpc: collect(grpc_tasks, &mut result.grpc, &mut result.counts).await?,
    };
    result.elapsed = start.elapsed();
    if let Some(scraper) = scraper {
        let (hist, failures) = scraper.await.map_err(joined)?;
        result.scrapes = Some(hist);
        result.scrape_failures = failures;
    }
    Ok((result, back))
}

/// Spawns one client's closed loop: request after request of the mix
/// until `deadline` (or [`MAX_REQUESTS_PER_CLIENT`], or a failed request),
/// each timed.
fn spawn_client<C: Step>(
    mut client: C,
    mut state: ClientState,
    base: String,
    deadline: Instant,
) -> Result<ClientTask<C>, LoadgenError> {
    let mut hist = new_hist()?;
    Ok(tokio::spawn(async move {
        for _ in 0..MAX_REQUESTS_PER_CLIENT {
            let t0 = Instant::now();
            if t0 >= deadline {
                break;
            }
            let ok = client.step(&base, &mut state).await;
            record(&mut hist, t0.elapsed());
            if !ok {
                break;
            }
        }
        (client, state, hist)
    }))
}

/// Waits for the client tasks, adding their latencies into `hist` and their
/// counts into `counts`; the clients, with their counts reset.
async fn collect<C>(
    tasks: Vec<ClientTask<C>>,
    hist: &mut Histogram<u64>,
    counts: &mut Counts,
) -> Result<Vec<(C, ClientState)>, LoadgenError> {
    let mut back = Vec::new();
    for task in tasks {
        let (client, mut state, client_hist) = task.await.map_err(joined)?;
        add(hist, &client_hist)?;
        counts.merge(&state.counts);
        state.counts = Counts::default();
        back.push((client, state));
    }
    Ok(back)
}

/// Spawns the 10/s scrape loop of `url` (OpenMetrics, gzip) until
/// `deadline`: the scrapes' latencies and the failed scrapes.
fn spawn_scraper(
    url: String,
    duration: Duration,
    deadline: Instant,
) -> Result<JoinHandle<(Histogram<u64>, u64)>, LoadgenError> {
    let mut hist = new_hist()?;
    Ok(tokio::spawn(async move {
        let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
        let mut tick = tokio::time::interval(SCRAPE_PERIOD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failures = 0u64;
        let max_scrapes = duration.as_millis() / SCRAPE_PERIOD.as_millis() + 2;
        for _ in 0..max_scrapes {
            tick.tick().await;
            if Instant::now() >= deadline {
                break;
            }
            let t0 = Instant::now();
            match scrape_openmetrics_gzip(&client, &url).await {
                Ok(_) => record(&mut hist, t0.elapsed()),
                Err(_) => failures += 1,
            }
        }
        (hist, failures)
    }))
}

/// What the create-rate phase measured.
pub(crate) struct CreateRate {
    pub(crate) created: u64,
    pub(crate) failures: u64,
    pub(crate) first_failure: Option<String>,
    pub(crate) elapsed: Duration,
    pub(crate) latency: Histogram<u64>,
}

impl CreateRate {
    /// New incidents per second.
    pub(crate) fn per_second(&self) -> f64 {
        self.created as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// `concurrency` REST clients, each creating new incidents (a fingerprint
/// of its own every time, severity `low`, so no playbook) one after the
/// other for `duration`.
pub(crate) async fn create_rate(
    target: &Target,
    concurrency: usize,
    duration: Duration,
) -> Result<CreateRate, LoadgenError> {
    let started = Instant::now();
    let deadline = started + duration;
    let url = format!("http://{}/api/v1/incidents", target.http);
    let mut tasks = Vec::new();
    for client_id in 0..concurrency {
        let latency = new_hist()?;
        tasks.push(tokio::spawn(create_loop(
            client_id,
            url.clone(),
            deadline,
            latency,
        )));
    }
    let mut rate = CreateRate {
        created: 0,
        failures: 0,
        first_failure: None,
        elapsed: Duration::ZERO,
        latency: new_hist()?,
    };
    for task in tasks {
        let one = task
            .await
            .map_err(|e| LoadgenError::Histogram(format!("a create client panicked: {e}")))?;
        rate.created += one.created;
        rate.failures += one.failures;
        if rate.first_failure.is_none() {
            rate.first_failure = one.first_failure;
        }
        add(&mut rate.latency, &one.latency)?;
    }
    rate.elapsed = started.elapsed();
    Ok(rate)
}

/// One create-rate client: new incidents one after the other until
/// `deadline`.
async fn create_loop(
    client_id: usize,
    url: String,
    deadline: Instant,
    mut latency: Histogram<u64>,
) -> CreateRate {
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let (mut created, mut failures, mut first_failure) = (0_u64, 0_u64, None);
    let mut n = 0_u64;
    while Instant::now() < deadline && n < MAX_REQUESTS_PER_CLIENT {
        let body = json!({
            "title": format!("create rate {client_id} {n}"),
            "severity": "low",
            "source": format!("loadgen-creates-{client_id}"),
            "fingerprint": format!("creates-{client_id}-{n}"),
        })
        .to_string();
        n += 1;
        let sent = Instant::now();
        match http_call(&client, Method::POST, url.clone(), Some(body)).await {
            Ok((StatusCode::CREATED, _)) => {
                record(&mut latency, sent.elapsed());
                created += 1;
            }
            other => {
                failures += 1;
                first_failure.get_or_insert_with(|| match other {
                    Ok((status, body)) => {
                        format!("{status}: {}", String::from_utf8_lossy(&body))
                    }
                    Err(e) => e,
                });
            }
        }
    }
    CreateRate {
        created,
        failures,
        first_failure,
        elapsed: Duration::ZERO,
        latency,
    }
}
