//! A configuration that validates always starts: for generated valid
//! configurations, with every numeric key drawn around its boundaries (its
//! smallest and largest accepted values, one step inside them, the
//! default, and values in between), the whole application is built and
//! started on 127.0.0.1:0 (routers, both servers, the metrics endpoint,
//! workers, escalation, playbooks, notifications, an in-memory store),
//! served a few requests, and shut down, and nothing panics anywhere: a
//! panic hook counts panics on every thread, those inside spawned tasks
//! (which tokio would otherwise swallow) included.
//!
//! 200 cases unless `CONFIG_START_CASES` says otherwise (about 10 s on two
//! cores in a debug build).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use incident_metrics::exporter::ServerConfig;
use incident_metrics::{Metrics, MetricsConfig};
use llm_incident_manager::config::{
    LlmConfig, MAX_GRPC_MESSAGE_BYTES, MAX_HEADERS, MAX_QUEUE_CAPACITY, PlaybookConfig, Price,
    ProviderConfig, ProviderKind, StepConfig, WebhookConfig,
};
use llm_incident_manager::serve::{MAX_CONNECTIONS, MIN_HEADER_BYTES};
use llm_incident_manager::{App, Config, Severity};
use proptest::prelude::*;

/// Panics seen on any thread since the hook was installed.
static PANICS: AtomicUsize = AtomicUsize::new(0);
/// Their messages, for the failure report.
static PANIC_MESSAGES: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            if let Ok(mut messages) = PANIC_MESSAGES.lock() {
                messages.push(info.to_string());
            }
            default(info);
        }));
    });
}

/// `lo`, `lo + 1`, `default`, `hi - 1`, `hi`, or anything in between.
fn edges_u64(lo: u64, default: u64, hi: u64) -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(lo),
        Just(lo.saturating_add(1).min(hi)),
        Just(default),
        Just(hi.saturating_sub(1).max(lo)),
        Just(hi),
        lo..=hi,
    ]
}

fn edges_usize(lo: usize, default: usize, hi: usize) -> impl Strategy<Value = usize> {
    edges_u64(lo as u64, default as u64, hi as u64).prop_map(|v| v as usize)
}

fn edges_u32(lo: u32, default: u32, hi: u32) -> impl Strategy<Value = u32> {
    edges_u64(u64::from(lo), u64::from(default), u64::from(hi)).prop_map(|v| v as u32)
}

/// Plain paths, paths that collide with the service's routes, and paths
/// with route syntax or characters the toolkit refuses.
fn endpoint() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("/metrics".to_owned()),
        Just("/".to_owned()),
        Just("/health".to_owned()),
        Just("/api/v1/incidents".to_owned()),
        Just("/api/v1/incidents/{id}".to_owned()),
        "/[a-z0-9/._~%-]{0,12}",
        "/[a-z0-9/:{}*._~%-]{0,12}",
    ]
}

fn severities() -> impl Strategy<Value = Vec<Severity>> {
    prop::sample::subsequence(
        vec![
            Severity::Critical,
            Severity::High,
            Severity::Medium,
            Severity::Low,
            Severity::Info,
        ],
        0..=5,
    )
}

/// A loopback port nothing listens on: outbound calls fail at once.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn step(webhook: bool) -> impl Strategy<Value = StepConfig> {
    let channels = if webhook {
        vec!["log", "webhook"]
    } else {
        vec!["log"]
    };
    prop_oneof![
        prop::sample::select(channels).prop_map(|c| StepConfig::Notify {
            channel: c.to_owned(),
            message: "m".to_owned(),
        }),
        Just(StepConfig::Annotate {
            note: "n".to_owned()
        }),
        edges_u64(0, 5, u64::MAX).prop_map(|ms| StepConfig::Wait { ms }),
        (
            prop::sample::select(vec![
                "POST", "GET", "PUT", "DELETE", "PATCH", "X-CUSTOM", "get"
            ]),
            prop::sample::select(vec!["http", "https"]),
            edges_u64(1, 10_000, u64::MAX),
        )
            .prop_map(|(method, scheme, timeout_ms)| StepConfig::Http {
                url: format!("{scheme}://127.0.0.1:{}/hook", closed_port()),
                method: method.to_owned(),
                timeout_ms,
            }),
    ]
}

fn playbooks(webhook: bool) -> impl Strategy<Value = Vec<PlaybookConfig>> {
    prop::collection::vec(
        (
            severities(),
            prop::collection::vec(step(webhook), 0..4),
            edges_u64(0, 60_000, u64::MAX),
        ),
        0..3,
    )
    .prop_map(|books| {
        books
            .into_iter()
            .enumerate()
            .map(|(i, (severities, steps, timeout_ms))| {
                let mut book = PlaybookConfig::default_page_on_call();
                book.name = format!("p{i}");
                book.severities = severities;
                book.steps = steps;
                book.timeout_ms = timeout_ms;
                book
            })
            .collect()
    })
}

prop_compose! {
    fn limits_part()(
        header_read_timeout_ms in edges_u64(1, 10_000, u64::MAX),
        max_headers in edges_usize(1, 100, MAX_HEADERS),
        max_header_bytes in edges_usize(MIN_HEADER_BYTES, 32 * 1024, usize::MAX),
        body_read_timeout_ms in edges_u64(1, 10_000, u64::MAX),
        grpc_max_message_bytes in edges_usize(1, 1 << 20, MAX_GRPC_MESSAGE_BYTES),
        max_connections in edges_usize(1, 1000, MAX_CONNECTIONS),
    ) -> llm_incident_manager::serve::Limits {
        let mut limits = llm_incident_manager::serve::Limits::default();
        limits.header_read_timeout_ms = header_read_timeout_ms;
        limits.max_headers = max_headers;
        limits.max_header_bytes = max_header_bytes;
        limits.body_read_timeout_ms = body_read_timeout_ms;
        limits.grpc_max_message_bytes = grpc_max_message_bytes;
        limits.max_connections = max_connections;
        limits
    }
}

prop_compose! {
    fn llm_part()(
        openai in any::<bool>(),
        stream in any::<bool>(),
        timeout_ms in edges_u64(0, 30_000, u64::MAX),
        max_response_bytes in edges_u64(
            *LlmConfig::MAX_RESPONSE_BYTES_RANGE.start(),
            LlmConfig::DEFAULT_MAX_RESPONSE_BYTES,
            *LlmConfig::MAX_RESPONSE_BYTES_RANGE.end(),
        ),
        price in prop_oneof![Just(0.0), Just(f64::MIN_POSITIVE), Just(1.5), Just(f64::MAX)],
        chain in any::<bool>(),
        cooldown_ms in edges_u64(
            *LlmConfig::COOLDOWN_MS_RANGE.start(),
            LlmConfig::DEFAULT_COOLDOWN_MS,
            *LlmConfig::COOLDOWN_MS_RANGE.end(),
        ),
        failure_threshold in edges_u64(1, 3, u64::from(u32::MAX)),
    ) -> LlmConfig {
        let mut llm = LlmConfig::default();
        if openai {
            llm.provider = ProviderKind::Openai;
            llm.base_url = format!("http://127.0.0.1:{}/v1", closed_port());
        }
        llm.stream = stream;
        llm.timeout_ms = timeout_ms;
        llm.max_response_bytes = max_response_bytes;
        let table = Price {
            input_per_million: price,
            output_per_million: price,
        };
        llm.prices.insert(llm.model_or_default().to_owned(), table);
        // [[llm.providers]]: the provider above, with a budget, then offline.
        llm.cooldown_ms = cooldown_ms;
        llm.failure_threshold = u32::try_from(failure_threshold).unwrap();
        if chain {
            let mut first = llm.chain().remove(0);
            first.name = "primary".to_owned();
            first.budget_usd = Some(price);
            let mut offline = ProviderConfig::default();
            offline.provider = ProviderKind::Offline;
            llm.providers = vec![first, offline];
        }
        llm
    }
}

/// The keys of the durable store and its outbox.
#[derive(Clone, Debug)]
struct Durability {
    in_memory: bool,
    max_size_bytes: Option<u64>,
    retention_days: u32,
    max_stored: Option<u64>,
    llm_in_flight: usize,
    notify_in_flight: usize,
    max_active_playbooks: usize,
}

prop_compose! {
    fn durability_part()(
        in_memory in any::<bool>(),
        max_size_bytes in prop::option::of(edges_u64(
            llm_incident_manager::config::MIN_STORE_BYTES,
            1 << 30,
            u64::MAX,
        )),
        retention_days in edges_u32(0, 30, u32::MAX),
        max_stored in prop::option::of(edges_u64(1, 1000, u64::MAX)),
        llm_in_flight in edges_usize(1, 4, usize::MAX),
        notify_in_flight in edges_usize(1, 4, usize::MAX),
        max_active_playbooks in edges_usize(1, 64, usize::MAX),
    ) -> Durability {
        Durability {
            in_memory,
            max_size_bytes,
            retention_days,
            max_stored,
            llm_in_flight,
            notify_in_flight,
            max_active_playbooks,
        }
    }
}

prop_compose! {
    fn config()(
        body_limit_bytes in edges_usize(1, 64 * 1024, usize::MAX),
        // Bounded so that a case whose work outlives shutdown (a webhook
        // retry waiting `u64::MAX` ms) ends soon; `u64::MAX` has a test of
        // its own below.
        shutdown_timeout_ms in prop_oneof![Just(0_u64), Just(1), Just(50), Just(300)],
        limits in limits_part(),
        correlation_window_ms in edges_u64(0, 300_000, u64::MAX),
        max_correlated in edges_usize(0, 20, usize::MAX),
        escalation_enabled in any::<bool>(),
        check_interval_ms in edges_u64(1, 5_000, u64::MAX),
        delays_ms in prop::collection::vec(edges_u64(0, 300_000, u64::MAX), 0..4),
        escalating in severities(),
        llm in llm_part(),
        queue_capacity in edges_usize(1, 1024, MAX_QUEUE_CAPACITY),
        webhook in prop::option::of((
            edges_u32(1, 3, u32::MAX),
            edges_u64(0, 200, u64::MAX),
            edges_u64(0, 5_000, u64::MAX),
        )),
        books in any::<bool>().prop_flat_map(playbooks),
        metrics_enabled in prop::bool::weighted(0.8),
        own_metrics_port in any::<bool>(),
        endpoint in endpoint(),
        max_concurrent_scrapes in edges_usize(1, 4, 1024),
        durable in durability_part(),
    ) -> Config {
        let mut config = Config::default();
        // A file store of its own, or memory: never the shared default.
        config.storage.path = if durable.in_memory {
            std::path::PathBuf::from(llm_incident_manager::storage::MEMORY)
        } else {
            incident_metrics_testing::scratch_dir("lim-config-starts").join("incidents.db")
        };
        config.storage.max_size_bytes = durable.max_size_bytes;
        config.incidents.retention_days = durable.retention_days;
        config.incidents.max_stored = durable.max_stored;
        config.llm.max_in_flight = durable.llm_in_flight;
        config.notifications.max_in_flight = durable.notify_in_flight;
        config.http_addr = "127.0.0.1:0".parse().unwrap();
        config.grpc_addr = "127.0.0.1:0".parse().unwrap();
        config.body_limit_bytes = body_limit_bytes;
        config.shutdown_timeout_ms = shutdown_timeout_ms;
        config.limits = limits;
        config.limits.max_active_playbooks = durable.max_active_playbooks;
        config.incidents.correlation_window_ms = correlation_window_ms;
        config.incidents.max_correlated = max_correlated;
        config.incidents.escalation.enabled = escalation_enabled;
        config.incidents.escalation.check_interval_ms = check_interval_ms;
        let mut delays_ms = delays_ms;
        delays_ms.sort_unstable();
        config.incidents.escalation.delays_ms = delays_ms;
        config.incidents.escalation.severities = escalating;
        let llm_in_flight = config.llm.max_in_flight;
        config.llm = llm;
        config.llm.max_in_flight = llm_in_flight;
        config.notifications.queue_capacity = queue_capacity;
        if let Some((max_attempts, initial_backoff_ms, timeout_ms)) = webhook {
            let mut hook = WebhookConfig::default();
            hook.url = format!("http://127.0.0.1:{}/hook", closed_port());
            hook.max_attempts = max_attempts;
            hook.initial_backoff_ms = initial_backoff_ms;
            hook.timeout_ms = timeout_ms;
            config.notifications.webhook = Some(hook);
            config.notifications.channels = vec!["log".to_owned(), "webhook".to_owned()];
        }
        // A playbook may notify `webhook` only when it is configured.
        config.playbooks = books
            .into_iter()
            .map(|mut book| {
                if config.notifications.webhook.is_none() {
                    book.steps.retain(|s| !matches!(s, StepConfig::Notify { channel, .. } if channel == "webhook"));
                }
                book
            })
            .collect();
        let server = ServerConfig::new()
            .with_max_concurrent_scrapes(max_concurrent_scrapes)
            .with_listen_addr(own_metrics_port.then(|| "127.0.0.1:0".parse().unwrap()));
        config.metrics = incident_metrics::Config::new()
            .with_metrics(
                MetricsConfig::new()
                    .with_enabled(metrics_enabled)
                    .with_endpoint(endpoint),
            )
            .with_server(server);
        config
    }
}

/// One GET or POST that may fail (a tiny timeout can close the connection
/// first): only panics count here.
async fn try_request(url: String, body: Option<&'static str>) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut builder = http::Request::builder().uri(url);
    if body.is_some() {
        builder = builder
            .method(http::Method::POST)
            .header("content-type", "application/json");
    }
    let request = builder
        .body(Full::new(Bytes::from_static(body.unwrap_or("").as_bytes())))
        .unwrap();
    if let Ok(Ok(response)) =
        tokio::time::timeout(Duration::from_secs(5), client.request(request)).await
    {
        let _ = tokio::time::timeout(Duration::from_secs(5), response.into_body().collect()).await;
    }
}

/// Starts the whole application on `config`, serves a few requests,
/// shuts it down; panics (counted by the hook) and start-up errors fail.
fn start_serve_stop(config: Config) -> Result<(), String> {
    let endpoint = config.metrics.metrics().endpoint().to_owned();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let outcome = runtime.block_on(async move {
        let metrics = Metrics::from_config(&config.metrics).map_err(|e| e.to_string())?;
        let app = App::new(config, metrics)
            .start()
            .await
            .map_err(|e| format!("a validated configuration failed to start: {e}"))?;
        let base = format!("http://{}", app.http_addr());
        let metrics_base = app
            .metrics_addr()
            .map_or_else(|| base.clone(), |addr: SocketAddr| format!("http://{addr}"));
        try_request(format!("{base}/health"), None).await;
        try_request(
            format!("{base}/api/v1/incidents"),
            Some(r#"{"title":"disk full","severity":"critical","source":"fuzz"}"#),
        )
        .await;
        try_request(format!("{base}/api/v1/incidents"), None).await;
        try_request(format!("{metrics_base}{endpoint}"), None).await;
        tokio::time::timeout(Duration::from_secs(30), app.shutdown())
            .await
            .map_err(|_| "shutdown took over 30 s".to_owned())?
            .map_err(|e| format!("shutdown failed: {e}"))
    });
    runtime.shutdown_timeout(Duration::from_secs(5));
    outcome
}

fn assert_no_panics() {
    let panics = PANICS.load(Ordering::SeqCst);
    assert_eq!(
        panics,
        0,
        "panics: {:?}",
        PANIC_MESSAGES.lock().map(|m| m.clone()).unwrap_or_default()
    );
}

fn cases() -> u32 {
    std::env::var("CONFIG_START_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

/// Configurations that passed `validate` and were started.
static STARTED: AtomicUsize = AtomicUsize::new(0);

#[test]
fn every_valid_configuration_starts_serves_and_stops() {
    count_panics();
    // The strategy's value trees are deep: a debug build needs more than
    // the test thread's 2 MiB of stack to walk them.
    let runner = std::thread::Builder::new()
        .name("config-starts".to_owned())
        .stack_size(64 << 20)
        .spawn(|| {
            let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
                cases: cases(),
                failure_persistence: None,
                max_shrink_iters: 64,
                ..ProptestConfig::default()
            });
            let result = runner.run(&config(), |config| {
                // Only the metrics endpoint is drawn outside the valid
                // range; a configuration it spoils is refused naming it.
                if let Err(e) = config.validate() {
                    let message = e.to_string();
                    prop_assert!(
                        message.contains("endpoint"),
                        "the generator made an invalid configuration: {message}"
                    );
                    return Ok(());
                }
                STARTED.fetch_add(1, Ordering::SeqCst);
                let outcome = start_serve_stop(config);
                prop_assert!(outcome.is_ok(), "{outcome:?}");
                prop_assert_eq!(
                    PANICS.load(Ordering::SeqCst),
                    0,
                    "{:?}",
                    PANIC_MESSAGES.lock().map(|m| m.clone()).unwrap_or_default()
                );
                Ok(())
            });
            result.map_err(|e| e.to_string())
        })
        .unwrap();
    let result = runner.join().expect("the property runner panicked");
    if let Err(e) = result {
        panic!("{e}");
    }
    let started = STARTED.load(Ordering::SeqCst);
    eprintln!(
        "{started} of {} generated configurations validated and were started",
        cases()
    );
    assert!(
        started * 2 >= cases() as usize,
        "only {started} of {} cases validated: the generator is off",
        cases()
    );
    assert_no_panics();
}

/// The largest values where a generated case could not bound its run
/// time: an unbounded shutdown with nothing owed, and the other keys at
/// their largest.
#[test]
fn the_largest_values_start_and_stop() {
    count_panics();
    let mut config = Config::default();
    config.http_addr = "127.0.0.1:0".parse().unwrap();
    config.grpc_addr = "127.0.0.1:0".parse().unwrap();
    config.shutdown_timeout_ms = u64::MAX;
    config.body_limit_bytes = usize::MAX;
    config.limits.header_read_timeout_ms = u64::MAX;
    config.limits.body_read_timeout_ms = u64::MAX;
    config.limits.max_headers = MAX_HEADERS;
    config.limits.max_header_bytes = usize::MAX;
    config.limits.grpc_max_message_bytes = MAX_GRPC_MESSAGE_BYTES;
    config.limits.max_connections = MAX_CONNECTIONS;
    config.incidents.correlation_window_ms = u64::MAX;
    config.incidents.max_correlated = usize::MAX;
    config.incidents.escalation.check_interval_ms = u64::MAX;
    config.incidents.escalation.delays_ms = vec![u64::MAX];
    config.llm.timeout_ms = u64::MAX;
    config.llm.max_response_bytes = *LlmConfig::MAX_RESPONSE_BYTES_RANGE.end();
    config.notifications.queue_capacity = MAX_QUEUE_CAPACITY;
    config.notifications.max_in_flight = usize::MAX;
    config.llm.max_in_flight = usize::MAX;
    config.limits.max_active_playbooks = usize::MAX;
    config.storage.path = incident_metrics_testing::scratch_dir("lim-largest").join("incidents.db");
    config.storage.max_size_bytes = Some(u64::MAX);
    config.incidents.retention_days = u32::MAX;
    config.incidents.max_stored = Some(u64::MAX);
    config.validate().unwrap();
    start_serve_stop(config).unwrap();
    assert_no_panics();
}
