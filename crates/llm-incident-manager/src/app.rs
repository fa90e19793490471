//! [`App`]: builds every part of the service from a [`Config`] and its
//! [`Metrics`], binds both listeners first, then serves until told
//! to stop; [`RunningApp`] holds the bound addresses and the shutdown
//! trigger, for `main` and for tests that start the service in process.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use incident_metrics::trackers::Trackers;
use incident_metrics::{Metrics, Registry};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::alertmanager::AlertIntake;
use crate::api::{ApiState, routes};
use crate::config::Config;
use crate::grpc::{GrpcService, pb};
use crate::llm::Analyzer;
use crate::manager::{IncidentError, IncidentManager, Routing};
use crate::notify::{NotificationHandler, channels, settle_channels};
use crate::outbox::{AnalysisHandler, Dispatcher, Signals, Wake};
use crate::playbook::PlaybookHandler;
use crate::storage::{Storage, StorageError, WorkKind};

/// Why the service could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The database could not be opened.
    #[error("cannot open storage: {0}")]
    Storage(#[from] StorageError),
    /// The stored incidents could not be read.
    #[error("cannot load incidents: {0}")]
    Incidents(#[from] IncidentError),
    /// The trackers could not be set up.
    #[error("cannot set up metrics: {0}")]
    Telemetry(#[from] incident_metrics::SetupError),
    /// The metrics endpoint's protection or listener could not be set up.
    #[error("metrics endpoint: {0}")]
    Metrics(#[from] incident_metrics::exporter::Error),
    /// A TLS file (listener certificate, key or CA, or an outbound `tls`
    /// table's) cannot be used.
    #[error("tls: {0}")]
    Tls(String),
    /// The Alertmanager receiver's token cannot be read or used.
    #[error("alertmanager: {0}")]
    Alertmanager(String),
    /// Server reflection could not be set up.
    #[error("grpc reflection: {0}")]
    Reflection(String),
    /// A server failed while serving.
    #[error("{server} server failed: {message}")]
    Serve {
        /// `http` or `grpc`.
        server: &'static str,
        /// What happened.
        message: String,
    },
}

/// The service before it starts.
#[derive(Debug)]
pub struct App {
    config: Config,
    metrics: Metrics,
    announce: bool,
}

impl App {
    /// The service for `config`, recording into `metrics`.
    pub fn new(config: Config, metrics: Metrics) -> Self {
        Self {
            config,
            metrics,
            announce: false,
        }
    }

    /// Print `http listening on ADDR` and `grpc listening on ADDR` to stdout
    /// once both listeners are bound, then `metrics listening on ADDR` when
    /// `/metrics` has a listener of its own (what the binary does).
    #[must_use]
    pub fn announce(mut self, announce: bool) -> Self {
        self.announce = announce;
        self
    }

    /// Builds every part, binds both listeners, and starts serving in the
    /// background.
    ///
    /// # Errors
    ///
    /// [`AppError`] when storage cannot open or a listener cannot bind.
    pub async fn start(self) -> Result<RunningApp, AppError> {
        let Self {
            config,
            metrics,
            announce,
        } = self;
        // `[metrics] enabled = false`: no metrics layer, no `/metrics`, and
        // the trackers do no work.
        let metrics_on = metrics.config().enabled();
        let telemetry = crate::telemetry::trackers(&metrics, &config.llm)?;
        let registry = metrics.registry().clone();

        // The tokenizer's vocabulary takes a moment to load: not on a request.
        let _ = tokio::task::spawn_blocking(crate::llm::warm_up).await;

        // TLS files are read before anything binds: a bad one stops the
        // start with a message naming it.
        crate::http_client::check_tls(&config).map_err(AppError::Tls)?;
        let http_tls =
            crate::serve::tls_acceptor("http", config.tls.for_http().as_ref(), b"http/1.1")
                .map_err(AppError::Tls)?;
        let grpc_tls = crate::serve::tls_acceptor("grpc", config.tls.for_grpc().as_ref(), b"h2")
            .map_err(AppError::Tls)?;
        let metrics_tls = crate::serve::tls_acceptor(
            "metrics",
            config.tls.for_metrics(&config.metrics).as_ref(),
            b"http/1.1",
        )
        .map_err(AppError::Tls)?;

        // The Alertmanager receiver, with its token read now: a file that
        // cannot be read stops the start with a message naming it.
        let token = config
            .alertmanager
            .bearer_token()
            .map_err(|e| AppError::Alertmanager(e.to_string()))?;
        let alerts = Arc::new(
            AlertIntake::new(config.alertmanager.clone(), token.as_deref())
                .map_err(|e| AppError::Alertmanager(e.to_string()))?,
        );

        let storage = Arc::new(Storage::open(&config.storage, telemetry.clone())?);
        if announce && storage.in_memory() {
            eprintln!(
                "warning: the store is in memory (--db :memory:): incidents and the work they \
                 owe are lost when the service stops"
            );
        }
        let wake = Wake::default();
        let manager = Arc::new(
            IncidentManager::new(
                Arc::clone(&storage),
                Routing::from_config(&config),
                telemetry.clone(),
                config.incidents.clone(),
                wake.clone(),
            )
            .await?,
        );
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (cut_tx, cut_rx) = watch::channel(false);
        let workers = start_workers(
            &config,
            &storage,
            &telemetry,
            &wake,
            &Signals {
                stop: shutdown_rx.clone(),
                cut: cut_rx,
            },
        )
        .await?;
        // Bind both listeners before anything serves.
        let http_listener = TcpListener::bind(config.http_addr)
            .await
            .map_err(|source| AppError::Bind {
                addr: config.http_addr,
                source,
            })?;
        let grpc_listener = TcpListener::bind(config.grpc_addr)
            .await
            .map_err(|source| AppError::Bind {
                addr: config.grpc_addr,
                source,
            })?;
        let http_addr = http_listener
            .local_addr()
            .map_err(|source| AppError::Bind {
                addr: config.http_addr,
                source,
            })?;
        let grpc_addr = grpc_listener
            .local_addr()
            .map_err(|source| AppError::Bind {
                addr: config.grpc_addr,
                source,
            })?;
        // `[metrics.server]`: the /metrics guard, and its own listener if set.
        let metrics_endpoint = crate::metrics_endpoint::MetricsEndpoint::bind(
            &registry,
            config.metrics.server(),
            metrics_tls.clone(),
        )?;
        let metrics_addr = metrics_endpoint.addr();
        if announce {
            announce_listeners(http_addr, grpc_addr, http_tls.is_some(), grpc_tls.is_some());
            crate::metrics_endpoint::announce(metrics_addr, metrics_endpoint.is_tls());
        }

        crate::serve::reload_on_sighup(
            [
                ("http", &http_tls),
                ("grpc", &grpc_tls),
                ("metrics", &metrics_tls),
            ]
            .into_iter()
            .filter_map(|(name, tls)| Some((name, tls.clone()?)))
            .collect(),
            shutdown_rx.clone(),
        );

        // HTTP.
        let router = routes::router(
            ApiState {
                manager: manager.clone(),
                registry: registry.clone(),
                protection: metrics_endpoint.protection(),
                alerts: alerts.clone(),
            },
            config.body_limit_bytes,
            config.metrics.server().listen_addr().is_none(),
        );
        // Outermost: every request is counted under its route template,
        // `/health` and `/metrics` excluded by the metrics configuration.
        // Not installed at all when metrics are off.
        let router = if metrics_on {
            router.layer(metrics.http_layer())
        } else {
            router
        };
        let mut http_stop = shutdown_rx.clone();
        let limits = config.limits.clone();
        let http = tokio::spawn(async move {
            crate::serve::serve_http_tls(http_listener, router, &limits, http_tls, async move {
                let _ = http_stop.wait_for(|s| *s).await;
            })
            .await
            .map_err(|e| AppError::Serve {
                server: "http",
                message: e.to_string(),
            })
        });

        // gRPC: the incident service, health and reflection.
        // Every gRPC service decodes at most `grpc_max_message_bytes` per
        // message (tonic's default is 4 MiB).
        let max_message = config.limits.grpc_max_message_bytes;
        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_serving::<pb::incident_service_server::IncidentServiceServer<GrpcService>>()
            .await;
        let health_service = health_service.max_decoding_message_size(max_message);
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .map_err(|e| AppError::Reflection(e.to_string()))?
            .max_decoding_message_size(max_message);
        let incident_service = GrpcService::new(manager.clone(), shutdown_rx.clone())
            .into_server()
            .max_decoding_message_size(max_message);
        // The metrics layer is not installed at all when metrics are off.
        let grpc_layer = metrics_on.then(|| metrics.grpc_server_layer());
        let mut grpc_routes = tonic::service::RoutesBuilder::default();
        grpc_routes
            .add_service(health_service)
            .add_service(reflection)
            .add_service(incident_service);
        let grpc_routes = grpc_routes.routes();
        let mut grpc_stop = shutdown_rx.clone();
        let limits = config.limits.clone();
        let grpc = tokio::spawn(async move {
            let incoming = crate::serve::grpc_incoming(grpc_listener, &limits, grpc_tls);
            let stop = async move {
                let _ = grpc_stop.wait_for(|s| *s).await;
            };
            let served = match grpc_layer {
                Some(layer) => {
                    crate::serve::grpc_server(&limits)
                        .layer(layer)
                        .add_routes(grpc_routes)
                        .serve_with_incoming_shutdown(incoming, stop)
                        .await
                }
                None => {
                    crate::serve::grpc_server(&limits)
                        .add_routes(grpc_routes)
                        .serve_with_incoming_shutdown(incoming, stop)
                        .await
                }
            };
            served.map_err(|e| AppError::Serve {
                server: "grpc",
                message: e.to_string(),
            })
        });

        let metrics_server = metrics_endpoint.spawn(shutdown_rx.clone());

        // Escalation and retention.
        let periodic = tokio::spawn(manager.clone().run_periodic(
            Duration::from_millis(config.incidents.escalation.check_interval_ms),
            shutdown_rx.clone(),
        ));

        // `storage_size_bytes`, read again at most a second after a write
        // (not inside every write: see `SIZE_REFRESH_INTERVAL`).
        let size_refresh = metrics_on.then(|| {
            tokio::spawn(
                Arc::clone(manager.storage())
                    .run_size_refresh(crate::storage::SIZE_REFRESH_INTERVAL, shutdown_rx.clone()),
            )
        });

        let supervisor = tokio::spawn(supervise(Supervised {
            http,
            grpc,
            metrics_server,
            periodic,
            size_refresh,
            workers,
            cut: cut_tx,
            storage,
            announce,
            health,
            stop: shutdown_rx,
            trigger: shutdown_tx.clone(),
            timeout: Duration::from_millis(config.shutdown_timeout_ms),
        }));

        Ok(RunningApp {
            http_addr,
            grpc_addr,
            metrics_addr,
            shutdown: shutdown_tx,
            supervisor,
            manager,
            registry,
        })
    }
}

// The contract asks for exactly these two lines on stdout (` (tls)` added
// over TLS).
#[allow(clippy::print_stdout)]
fn announce_listeners(http: SocketAddr, grpc: SocketAddr, http_tls: bool, grpc_tls: bool) {
    use crate::serve::tls_suffix;
    use std::io::Write;
    println!("http listening on {http}{}", tls_suffix(http_tls));
    println!("grpc listening on {grpc}{}", tls_suffix(grpc_tls));
    let _ = std::io::stdout().flush();
}

struct Supervised {
    http: JoinHandle<Result<(), AppError>>,
    grpc: JoinHandle<Result<(), AppError>>,
    metrics_server: Option<JoinHandle<Result<(), incident_metrics::exporter::Error>>>,
    periodic: JoinHandle<()>,
    size_refresh: Option<JoinHandle<()>>,
    workers: Vec<JoinHandle<()>>,
    cut: watch::Sender<bool>,
    storage: Arc<Storage>,
    announce: bool,
    health: tonic_health::server::HealthReporter,
    stop: watch::Receiver<bool>,
    trigger: watch::Sender<bool>,
    timeout: Duration,
}

fn flatten(
    server: &'static str,
    joined: Result<Result<(), AppError>, tokio::task::JoinError>,
) -> Result<(), AppError> {
    match joined {
        Ok(result) => result,
        Err(e) => Err(AppError::Serve {
            server,
            message: e.to_string(),
        }),
    }
}

/// Starts the outbox's workers: the analyses (at most `llm.max_in_flight`
/// at once), one dispatcher per notification channel (at most
/// `notifications.max_in_flight` each), and the playbooks (at most
/// `limits.max_active_playbooks`). Rows of channels no longer configured
/// are dropped first, counted.
async fn start_workers(
    config: &Config,
    storage: &Arc<Storage>,
    telemetry: &Trackers,
    wake: &Wake,
    signals: &Signals,
) -> Result<Vec<JoinHandle<()>>, AppError> {
    let mut workers = Vec::new();
    let analyzer = Analyzer::new(&config.llm, telemetry.clone())?;
    workers.push(tokio::spawn(
        Dispatcher {
            storage: Arc::clone(storage),
            kind: WorkKind::Analysis,
            target: None,
            max_in_flight: config.llm.max_in_flight,
            handler: Arc::new(AnalysisHandler {
                storage: Arc::clone(storage),
                analyzer,
                telemetry: telemetry.clone(),
            }),
            notify: wake.register(),
            telemetry: telemetry.clone(),
        }
        .run(signals.clone()),
    ));
    let channels = channels(&config.notifications);
    let configured: Vec<&str> = channels.iter().map(|(name, _)| *name).collect();
    let pending = settle_channels(storage, &configured, telemetry).await?;
    for (name, delivery) in channels {
        let queued = pending
            .iter()
            .find(|(channel, _)| channel == name)
            .map_or(0, |(_, n)| *n);
        let handler = NotificationHandler::new(
            name,
            delivery,
            Arc::clone(storage),
            telemetry.clone(),
            queued,
        );
        workers.push(tokio::spawn(
            Dispatcher {
                storage: Arc::clone(storage),
                kind: WorkKind::Notification,
                target: Some(name.to_owned()),
                max_in_flight: config.notifications.max_in_flight,
                handler: Arc::new(handler),
                notify: wake.register(),
                telemetry: telemetry.clone(),
            }
            .run(signals.clone()),
        ));
    }
    let playbooks_owed: i64 = storage
        .pending_work()?
        .iter()
        .filter(|(kind, _, _)| kind == WorkKind::Playbook.as_str())
        .map(|(_, _, n)| *n)
        .sum();
    workers.push(tokio::spawn(
        Dispatcher {
            storage: Arc::clone(storage),
            kind: WorkKind::Playbook,
            target: None,
            max_in_flight: config.limits.max_active_playbooks,
            handler: Arc::new(
                PlaybookHandler::new(
                    config.playbooks.clone(),
                    Arc::clone(storage),
                    telemetry.clone(),
                    wake.clone(),
                    playbooks_owed,
                )
                .with_tls(config.playbooks_tls.as_ref()),
            ),
            notify: wake.register(),
            telemetry: telemetry.clone(),
        }
        .run(signals.clone()),
    ));
    Ok(workers)
}

/// The last line of a stop: how much owed work stays in the outbox for the
/// next start (the binary prints it; tests that start the service in
/// process do not).
fn report_pending(storage: &Storage, announce: bool) {
    let line = match storage.pending_work() {
        Ok(rows) => {
            let count = |kind: WorkKind| -> i64 {
                rows.iter()
                    .filter(|(k, _, _)| k == kind.as_str())
                    .map(|(_, _, n)| *n)
                    .sum()
            };
            format!(
                "llm-incident-manager: stopped; pending in the outbox for the next start: \
                 {} notifications, {} playbook runs, {} analyses",
                count(WorkKind::Notification),
                count(WorkKind::Playbook),
                count(WorkKind::Analysis)
            )
        }
        Err(e) => format!("llm-incident-manager: stopped; cannot count the pending work: {e}"),
    };
    if announce {
        eprintln!("{line}");
    }
}

/// Waits for the shutdown trigger (or a server failure), then stops in
/// order: listeners and in-flight requests, the periodic runner, the
/// outbox's workers (deliveries in progress finish until the timeout; the
/// rest stays in the outbox), and last the store, with every write
/// committed.
async fn supervise(mut s: Supervised) -> Result<(), AppError> {
    let mut http_done = None;
    let mut grpc_done = None;
    tokio::select! {
        _ = s.stop.wait_for(|v| *v) => {}
        r = &mut s.http => { http_done = Some(flatten("http", r)); }
        r = &mut s.grpc => { grpc_done = Some(flatten("grpc", r)); }
    }
    s.trigger.send_replace(true);
    s.health
        .set_not_serving::<pb::incident_service_server::IncidentServiceServer<GrpcService>>()
        .await;
    let deadline = tokio::time::Instant::now() + s.timeout;
    let mut first_error = None;
    for (name, handle, done) in [
        ("http", &mut s.http, http_done),
        ("grpc", &mut s.grpc, grpc_done),
    ] {
        let result = match done {
            Some(result) => result,
            None => match tokio::time::timeout_at(deadline, &mut *handle).await {
                Ok(joined) => flatten(name, joined),
                Err(_) => {
                    // In-flight requests outlived the timeout: cut them.
                    handle.abort();
                    Ok(())
                }
            },
        };
        if let Err(e) = result {
            first_error.get_or_insert(e);
        }
    }
    if let Err(e) = join_metrics(s.metrics_server.take(), deadline).await {
        first_error.get_or_insert(e);
    }
    for task in [Some(s.periodic), s.size_refresh.take()]
        .into_iter()
        .flatten()
    {
        let _ = tokio::time::timeout_at(deadline, task).await;
    }
    // The workers took no new work since the stop: deliveries in progress
    // finish until the deadline, then are cut and stay in the outbox.
    let mut workers = s.workers;
    for worker in &mut workers {
        if tokio::time::timeout_at(deadline, &mut *worker)
            .await
            .is_err()
        {
            break;
        }
    }
    s.cut.send_replace(true);
    for mut worker in workers.into_iter().filter(|w| !w.is_finished()) {
        if tokio::time::timeout(Duration::from_secs(1), &mut worker)
            .await
            .is_err()
        {
            worker.abort();
        }
    }
    // Every write handed over is committed before the process ends.
    let storage = Arc::clone(&s.storage);
    let _ = tokio::task::spawn_blocking(move || storage.close()).await;
    report_pending(&s.storage, s.announce);
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Waits for the metrics listener to stop until `deadline`, then cuts it.
async fn join_metrics(
    handle: Option<JoinHandle<Result<(), incident_metrics::exporter::Error>>>,
    deadline: tokio::time::Instant,
) -> Result<(), AppError> {
    let Some(mut handle) = handle else {
        return Ok(());
    };
    match tokio::time::timeout_at(deadline, &mut handle).await {
        Ok(Ok(result)) => result.map_err(AppError::from),
        Ok(Err(e)) => Err(AppError::Serve {
            server: "metrics",
            message: e.to_string(),
        }),
        Err(_) => {
            // Scrapes in flight outlived the shutdown timeout: cut them.
            handle.abort();
            Ok(())
        }
    }
}

/// The running service.
#[derive(Debug)]
pub struct RunningApp {
    http_addr: SocketAddr,
    grpc_addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    supervisor: JoinHandle<Result<(), AppError>>,
    manager: Arc<IncidentManager>,
    registry: Arc<Registry>,
}

impl RunningApp {
    /// The bound REST address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The bound gRPC address.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// The bound address of the metrics listener, when `[metrics.server]
    /// listen_addr` (or `--metrics-addr`) gives `/metrics` a port of its own.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The incident manager (for tests).
    pub fn manager(&self) -> &Arc<IncidentManager> {
        &self.manager
    }

    /// The metrics registry.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// A handle that starts the shutdown (from a signal handler, say).
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.shutdown.clone())
    }

    /// Waits until the service has stopped (after a shutdown trigger or a
    /// server failure), with every queue drained.
    ///
    /// # Errors
    ///
    /// The first server failure.
    pub async fn wait(self) -> Result<(), AppError> {
        match self.supervisor.await {
            Ok(result) => result,
            Err(e) => Err(AppError::Serve {
                server: "supervisor",
                message: e.to_string(),
            }),
        }
    }

    /// Triggers the shutdown and waits for it.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    pub async fn shutdown(self) -> Result<(), AppError> {
        self.shutdown.send_replace(true);
        self.wait().await
    }
}

/// Starts the graceful shutdown of a [`RunningApp`].
#[derive(Clone, Debug)]
pub struct ShutdownHandle(watch::Sender<bool>);

impl ShutdownHandle {
    /// Starts the shutdown; calling it again does nothing more.
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }
}
