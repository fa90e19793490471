//! [`RemoteWriteBuilder`], [`RemoteWrite`] and [`RemoteWriteHandle`]: a
//! Prometheus remote-write 1.0 sender.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use http::{HeaderName, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::Full;
use incident_metrics_core::prometheus_client::metrics::counter::Counter;
use incident_metrics_core::prometheus_client::metrics::gauge::Gauge;
use incident_metrics_core::{FamilySpec, MetricKind, Registry, RemoteWriteConfig, Unit};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use super::backoff::Backoff;
use super::client::{self, Answer, Failure, HttpClient, parse_http_uri};
use super::queue::{Queued, SampleQueue};
use super::snapshot::Snapshotter;
use super::wire::{Sample, TimeSeries, WriteRequest, encode_body};
use crate::{Error, Result};

/// The sender's own families, registered by [`RemoteWriteBuilder::register`]
/// under the registry's namespace (for example
/// `llm_incident_manager_remote_write_samples_sent_total`).
pub const REMOTE_WRITE_FAMILIES: [FamilySpec; 6] = [
    counter(
        "remote_write_samples_sent",
        "Samples the remote-write receiver accepted",
    ),
    counter(
        "remote_write_samples_failed",
        "Samples the remote-write receiver rejected with a 4xx answer other than 429, not retried",
    ),
    counter(
        "remote_write_samples_dropped",
        "Samples dropped unsent because the remote-write queue was full or the sender stopped",
    ),
    counter(
        "remote_write_retries",
        "Remote-write requests retried after a 5xx or 429 answer, a timeout or a connection failure",
    ),
    FamilySpec {
        name: "remote_write_queue_length",
        help: "Samples waiting in the remote-write queue, the request in flight included",
        kind: MetricKind::Gauge,
        unit: None,
        labels: &[],
    },
    FamilySpec {
        name: "remote_write_last_success_timestamp",
        help: "Unix time of the last request the remote-write receiver accepted",
        kind: MetricKind::Gauge,
        unit: Some(Unit::Seconds),
        labels: &[],
    },
];

const fn counter(name: &'static str, help: &'static str) -> FamilySpec {
    FamilySpec {
        name,
        help,
        kind: MetricKind::Counter,
        unit: None,
        labels: &[],
    }
}

/// The shortest wait before a retry, unless set otherwise.
const DEFAULT_MIN_BACKOFF: Duration = Duration::from_millis(50);

/// The remote-write protocol version header's value for 1.0.
const PROTOCOL_VERSION: &str = "0.1.0";

/// Sets up a Prometheus remote-write 1.0 sender: where to send, how often,
/// how much to hold while the receiver is away.
///
/// Every interval the sender renders the registry, reads back its samples
/// (histograms as their `_bucket`, `_sum` and `_count` series), stamps them
/// with the snapshot time in milliseconds, adds the external labels and
/// queues them. It sends the queue in order, at most
/// `max_samples_per_request` samples per `POST`: a protobuf `WriteRequest`,
/// snappy-compressed (block format), with the headers the specification
/// asks for (`Content-Encoding: snappy`, `Content-Type:
/// application/x-protobuf`, `X-Prometheus-Remote-Write-Version: 0.1.0`).
///
/// - A `2xx` answer counts the samples as sent.
/// - A `5xx` or `429` answer, a timeout or a connection failure keeps them
///   and retries after a capped exponential backoff with jitter, as
///   Prometheus's own sender does: the wait before each retry has a floor
///   that doubles from the minimum backoff (50 ms) up to `max_backoff`; a
///   `Retry-After` above the floor is honoured (up to `max_backoff`), and
///   `Retry-After: 0`, a date in the past, a missing or an unreadable value
///   wait the floor, so a receiver in trouble is never hammered.
/// - Any other answer (`4xx`: the receiver refuses the data) drops them and
///   counts them as failed: sending them again would fail again.
/// - When the queue is full, the oldest samples are dropped first and
///   counted: an outage of up to `queue_capacity / series × interval` loses
///   nothing.
///
/// `http://` and `https://` receivers: an `https://` one is verified
/// against the platform's roots, or as [`with_tls`](Self::with_tls) says
/// (a CA file, a client certificate); a TLS failure counts as a failed
/// attempt and is retried, never sent in plain text.
///
/// Set it up in two steps, because the sender's own families must be
/// registered while the registry is still `&mut`:
/// [`register`](Self::register) them, then, once every family is
/// registered and the registry is shared, [`RemoteWrite::start`] the sender.
///
/// # Examples
///
/// ```no_run
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// use incident_metrics_core::{MetricsConfig, Registry};
/// use incident_metrics_exporter::RemoteWriteBuilder;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let mut registry = Registry::new(&MetricsConfig::new())?;
/// // ... register the service's families ...
/// let sender = RemoteWriteBuilder::new("http://127.0.0.1:9090/api/v1/write")
///     .with_interval(Duration::from_secs(15))
///     .with_external_label("instance", "api-1")
///     .register(&mut registry)?;
/// let handle = sender.start(Arc::new(registry))?;
/// // ... serve ...
/// let stats = handle.stop().await; // sends what is queued, then stops
/// assert_eq!(stats.samples_failed, 0);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct RemoteWriteBuilder {
    config: RemoteWriteConfig,
    min_backoff: Duration,
    flush_timeout: Option<Duration>,
    tls: crate::ClientTlsConfig,
}

impl RemoteWriteBuilder {
    /// A sender to `url` (such as `http://127.0.0.1:9090/api/v1/write`)
    /// with the defaults of [`RemoteWriteConfig::new`].
    pub fn new(url: impl Into<String>) -> Self {
        Self::from_config(&RemoteWriteConfig::new(url))
    }

    /// A sender configured by the `[push.remote_write]` section of a
    /// [`MetricsConfig`](incident_metrics_core::MetricsConfig).
    ///
    /// # Examples
    ///
    /// ```
    /// use incident_metrics_core::{MetricsConfig, Registry};
    /// use incident_metrics_exporter::RemoteWriteBuilder;
    ///
    /// let config = MetricsConfig::from_toml_str(
    ///     "[push.remote_write]\nurl = \"http://vm:8428/api/v1/write\"\ninterval_seconds = 30",
    /// )?;
    /// let mut registry = Registry::new(&config)?;
    /// let builder = RemoteWriteBuilder::from_config(config.push().remote_write().unwrap());
    /// let sender = builder.register(&mut registry)?;
    /// assert_eq!(sender.url(), "http://vm:8428/api/v1/write");
    /// assert_eq!(registry.families().len(), 6); // the sender's own families
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_config(config: &RemoteWriteConfig) -> Self {
        Self {
            tls: crate::ClientTlsConfig::from_settings(config.tls()),
            config: config.clone(),
            min_backoff: DEFAULT_MIN_BACKOFF,
            flush_timeout: None,
        }
    }

    /// Sets how `https://` receivers are verified (the platform's roots by
    /// default) and the client certificate shown to them.
    pub fn with_tls(mut self, tls: crate::ClientTlsConfig) -> Self {
        self.tls = tls;
        self
    }

    /// Sets the time between snapshots (15 s).
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.config = self.config.with_interval_seconds(interval.as_secs_f64());
        self
    }

    /// Sets the time one request may take (10 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.config = self.config.with_timeout_seconds(timeout.as_secs_f64());
        self
    }

    /// Sets how many samples are held while the receiver is away (100 000).
    pub fn with_queue_capacity(mut self, samples: usize) -> Self {
        self.config = self.config.with_queue_capacity(samples);
        self
    }

    /// Sets the most samples per request (2 000).
    pub fn with_max_samples_per_request(mut self, samples: usize) -> Self {
        self.config = self.config.with_max_samples_per_request(samples);
        self
    }

    /// Adds a label to every series sent that lacks one of that name.
    pub fn with_external_label(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.config = self.config.with_external_label(name, value);
        self
    }

    /// Adds an HTTP header to every request, such as `X-Scope-OrgID` (the
    /// tenant of Mimir and Cortex) or `THANOS-TENANT`.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.config = self.config.with_header(name, value);
        self
    }

    /// Sets the longest wait between retries (5 s).
    pub fn with_max_backoff(mut self, max: Duration) -> Self {
        self.config = self.config.with_max_backoff_seconds(max.as_secs_f64());
        self
    }

    /// Sets the shortest wait between retries (50 ms), the first step of
    /// the exponential backoff.
    pub fn with_min_backoff(mut self, min: Duration) -> Self {
        self.min_backoff = min;
        self
    }

    /// Sets how long stopping may spend sending what is queued (the
    /// request timeout by default); what is left then is dropped and
    /// counted.
    pub fn with_flush_timeout(mut self, timeout: Duration) -> Self {
        self.flush_timeout = Some(timeout);
        self
    }

    /// Checks the settings and registers the sender's own families
    /// ([`REMOTE_WRITE_FAMILIES`]) into `registry`.
    ///
    /// # Errors
    ///
    /// [`Error::PushConfig`] for a setting that
    /// [`RemoteWriteConfig::validate`] refuses (bad URL, interval, timeout,
    /// backoff, queue size, external label, header) or a family that cannot be
    /// registered (a second sender in the same registry);
    /// [`Error::TlsFile`] or [`Error::TlsConfig`] for TLS files that cannot
    /// be used.
    pub fn register(self, registry: &mut Registry) -> Result<RemoteWrite> {
        let config_error = |source| Error::PushConfig { source };
        self.config.validate().map_err(config_error)?;
        let url = self.config.url();
        let uri = parse_http_uri("push.remote_write.url", url)?;
        let client = HttpClient::new(&self.tls)?;
        let headers = self
            .config
            .headers()
            .iter()
            .map(|(name, value)| {
                let invalid = |reason| Error::PushConfig {
                    source: incident_metrics_core::Error::InvalidHeader {
                        field: "push.remote_write.headers",
                        name: name.clone(),
                        reason,
                    },
                };
                Ok((
                    HeaderName::try_from(name.as_str())
                        .map_err(|_| invalid("not a header name"))?,
                    HeaderValue::try_from(value.as_str())
                        .map_err(|_| invalid("not a header value"))?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let metrics = SenderMetrics::default();
        let [sent, failed, dropped, retries, queue_length, last_success] = &REMOTE_WRITE_FAMILIES;
        registry
            .register(sent, metrics.sent.clone())
            .map_err(config_error)?;
        registry
            .register(failed, metrics.failed.clone())
            .map_err(config_error)?;
        registry
            .register(dropped, metrics.dropped.clone())
            .map_err(config_error)?;
        registry
            .register(retries, metrics.retries.clone())
            .map_err(config_error)?;
        registry
            .register(queue_length, metrics.queue_length.clone())
            .map_err(config_error)?;
        registry
            .register(last_success, metrics.last_success.clone())
            .map_err(config_error)?;
        Ok(RemoteWrite {
            flush_timeout: self.flush_timeout.unwrap_or_else(|| self.config.timeout()),
            config: self.config,
            min_backoff: self.min_backoff,
            uri,
            headers,
            metrics,
            client,
        })
    }
}

/// A remote-write sender whose families are registered, ready to
/// [`start`](Self::start). Built by [`RemoteWriteBuilder::register`].
#[derive(Debug)]
pub struct RemoteWrite {
    config: RemoteWriteConfig,
    min_backoff: Duration,
    flush_timeout: Duration,
    uri: Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
    metrics: SenderMetrics,
    client: HttpClient,
}

impl RemoteWrite {
    /// The receiver's URL.
    pub fn url(&self) -> &str {
        self.config.url()
    }

    /// Starts sending snapshots of `registry` (the one the families were
    /// registered into) on a tokio task: the first snapshot at once, then
    /// one every interval.
    ///
    /// # Errors
    ///
    /// [`Error::NoRuntime`] outside a tokio runtime.
    pub fn start(self, registry: Arc<Registry>) -> Result<RemoteWriteHandle> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let (stop, stopped) = oneshot::channel();
        let metrics = self.metrics.clone();
        let worker = Worker {
            snapshotter: Snapshotter::new(self.config.external_labels().to_vec()),
            queue: SampleQueue::new(self.config.queue_capacity()),
            backoff: Backoff::new(self.min_backoff, self.config.max_backoff()),
            client: self.client,
            last_timestamp_ms: 0,
            registry,
            uri: self.uri,
            headers: self.headers,
            config: self.config,
            flush_timeout: self.flush_timeout,
            metrics: self.metrics,
        };
        let task = runtime.spawn(worker.run(stopped));
        Ok(RemoteWriteHandle {
            stop: Some(stop),
            task,
            metrics,
        })
    }
}

/// Controls a running remote-write sender.
///
/// [`stop`](Self::stop) it to send what is queued and end it. Dropping the
/// handle stops the sender too, and it flushes in the background.
#[derive(Debug)]
pub struct RemoteWriteHandle {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    metrics: SenderMetrics,
}

impl RemoteWriteHandle {
    /// The sender's counts so far.
    pub fn stats(&self) -> RemoteWriteStats {
        self.metrics.stats()
    }

    /// Takes a last snapshot, sends what is queued (for at most the flush
    /// timeout, retrying as usual), drops and counts what is left, and ends
    /// the sender. Returns the final counts.
    pub async fn stop(mut self) -> RemoteWriteStats {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // The task never panics; a cancelled runtime ends it early.
        let _ = (&mut self.task).await;
        self.metrics.stats()
    }
}

/// The counts of a remote-write sender, as its own families report them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct RemoteWriteStats {
    /// Snapshots of the registry taken.
    pub snapshots: u64,
    /// Samples the receiver accepted.
    pub samples_sent: u64,
    /// Samples the receiver rejected for good (`4xx` other than `429`).
    pub samples_failed: u64,
    /// Samples dropped unsent (queue full, or left when stopping).
    pub samples_dropped: u64,
    /// Requests retried.
    pub retries: u64,
    /// Samples queued now, the request in flight included.
    pub queue_length: u64,
    /// Unix time in seconds of the last accepted request, 0 before the first.
    pub last_success_unix_seconds: f64,
}

/// The sender's own metrics (shared with the registry) and snapshot count.
#[derive(Clone, Debug, Default)]
struct SenderMetrics {
    sent: Counter,
    failed: Counter,
    dropped: Counter,
    retries: Counter,
    queue_length: Gauge,
    last_success: Gauge<f64, AtomicU64>,
    snapshots: Arc<AtomicU64>,
}

impl SenderMetrics {
    fn stats(&self) -> RemoteWriteStats {
        RemoteWriteStats {
            snapshots: self.snapshots.load(Ordering::Relaxed),
            samples_sent: self.sent.get(),
            samples_failed: self.failed.get(),
            samples_dropped: self.dropped.get(),
            retries: self.retries.get(),
            queue_length: u64::try_from(self.queue_length.get()).unwrap_or(0),
            last_success_unix_seconds: self.last_success.get(),
        }
    }
}

/// What became of a request.
#[derive(Debug)]
enum Outcome {
    Accepted,
    /// Send again, after the given delay if the receiver named one.
    Retry(Option<Duration>),
    Rejected,
}

type Sending = Pin<Box<dyn Future<Output = Outcome> + Send>>;

/// What woke the sender.
enum Event {
    Stop,
    Answered(Outcome),
    RetryDue,
    Tick,
}

/// The sender's task state.
struct Worker {
    registry: Arc<Registry>,
    snapshotter: Snapshotter,
    queue: SampleQueue,
    backoff: Backoff,
    client: HttpClient,
    uri: Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
    config: RemoteWriteConfig,
    flush_timeout: Duration,
    metrics: SenderMetrics,
    last_timestamp_ms: i64,
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("uri", &self.uri)
            .finish_non_exhaustive()
    }
}

impl Worker {
    async fn run(mut self, mut stop: oneshot::Receiver<()>) {
        let mut ticker = tokio::time::interval(self.config.interval());
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut in_flight: Option<(Vec<Queued>, Sending)> = None;
        let mut retry_at: Option<Instant> = None;
        loop {
            if in_flight.is_none() && retry_at.is_none() {
                in_flight = self.start_batch();
            }
            let event = {
                let answered = async {
                    match in_flight.as_mut() {
                        Some((_, sending)) => sending.await,
                        None => std::future::pending().await,
                    }
                };
                let retry_due = async {
                    match retry_at {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    biased;
                    // A dropped handle stops the sender as `stop` does.
                    _ = &mut stop => Event::Stop,
                    outcome = answered => Event::Answered(outcome),
                    () = retry_due => Event::RetryDue,
                    _ = ticker.tick() => Event::Tick,
                }
            };
            match event {
                Event::Stop => break,
                Event::Answered(outcome) => {
                    if let Some((batch, _)) = in_flight.take() {
                        retry_at = self.settle(batch, outcome);
                    }
                }
                Event::RetryDue => retry_at = None,
                Event::Tick => self.snapshot().await,
            }
        }
        self.flush(in_flight).await;
    }

    /// Sends what is queued after a last snapshot, until the queue is empty
    /// or the flush timeout passes; drops and counts the rest.
    async fn flush(&mut self, mut in_flight: Option<(Vec<Queued>, Sending)>) {
        let deadline = Instant::now() + self.flush_timeout;
        self.snapshot().await;
        loop {
            if in_flight.is_none() {
                in_flight = self.start_batch();
            }
            let Some((batch, sending)) = in_flight.take() else {
                break;
            };
            let Ok(outcome) = tokio::time::timeout_at(deadline, sending).await else {
                let dropped = self.queue.return_batch(batch);
                self.metrics.dropped.inc_by(dropped as u64);
                break;
            };
            if let Some(at) = self.settle(batch, outcome) {
                if at >= deadline {
                    break;
                }
                tokio::time::sleep_until(at).await;
            }
        }
        let left = self.queue.clear();
        self.metrics.dropped.inc_by(left as u64);
        self.update_queue_length();
    }

    /// Queues a snapshot of the registry, rendered on tokio's blocking pool
    /// so that a large registry never holds up the runtime's other tasks.
    async fn snapshot(&mut self) {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        // Strictly increasing, so that no two snapshots share a timestamp
        // even if the clock steps back.
        let timestamp_ms = now_ms.max(self.last_timestamp_ms.saturating_add(1));
        let mut snapshotter = std::mem::take(&mut self.snapshotter);
        let registry = Arc::clone(&self.registry);
        let taken = tokio::task::spawn_blocking(move || {
            let samples = snapshotter.take(&registry);
            (snapshotter, samples)
        })
        .await;
        // The closure does not panic; if the pool is gone (the runtime is
        // shutting down), start over with a fresh snapshotter.
        let Ok((snapshotter, samples)) = taken else {
            self.snapshotter = Snapshotter::new(self.config.external_labels().to_vec());
            return;
        };
        self.snapshotter = snapshotter;
        // A registry that fails to render (a custom metric's `encode` errs)
        // gives no snapshot this time; the next tick tries again.
        let Ok(samples) = samples else {
            return;
        };
        self.last_timestamp_ms = timestamp_ms;
        let dropped = self
            .queue
            .push(samples.into_iter().map(|(series, value)| Queued {
                series,
                value,
                timestamp_ms,
            }));
        self.metrics.dropped.inc_by(dropped as u64);
        self.metrics.snapshots.fetch_add(1, Ordering::Relaxed);
        self.update_queue_length();
    }

    /// Takes the oldest waiting samples and starts sending them.
    fn start_batch(&mut self) -> Option<(Vec<Queued>, Sending)> {
        if self.queue.nothing_waiting() {
            return None;
        }
        let batch = self.queue.take_batch(self.config.max_samples_per_request());
        let Ok(body) = encode_body(&build_request(&batch)) else {
            // Only a body over 4 GiB fails to compress: it can never be sent.
            self.metrics.failed.inc_by(batch.len() as u64);
            self.queue.finish_batch(batch.len());
            return None;
        };
        let request = write_request(&self.uri, &self.headers, body);
        let client = self.client.clone();
        let timeout = self.config.timeout();
        let sending: Sending =
            Box::pin(async move { outcome(client.send(request, timeout).await) });
        Some((batch, sending))
    }

    /// Accounts for the answer to `batch`; returns when to retry, if so.
    fn settle(&mut self, batch: Vec<Queued>, outcome: Outcome) -> Option<Instant> {
        let n = batch.len() as u64;
        let retry_at = match outcome {
            Outcome::Accepted => {
                self.metrics.sent.inc_by(n);
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                self.metrics.last_success.set(now.as_secs_f64());
                self.backoff.reset();
                self.queue.finish_batch(batch.len());
                None
            }
            Outcome::Rejected => {
                self.metrics.failed.inc_by(n);
                self.queue.finish_batch(batch.len());
                None
            }
            Outcome::Retry(after) => {
                self.metrics.retries.inc();
                let dropped = self.queue.return_batch(batch);
                self.metrics.dropped.inc_by(dropped as u64);
                let delay = self.backoff.next_delay(after);
                Some(Instant::now() + delay)
            }
        };
        self.update_queue_length();
        retry_at
    }

    fn update_queue_length(&self) {
        self.metrics
            .queue_length
            .set(i64::try_from(self.queue.len()).unwrap_or(i64::MAX));
    }
}

/// Groups a batch into series, each with its samples in time order, sorted
/// by labels.
fn build_request(batch: &[Queued]) -> WriteRequest {
    let mut index = HashMap::<*const _, usize>::new();
    let mut timeseries: Vec<TimeSeries> = Vec::new();
    for queued in batch {
        let i = *index.entry(Arc::as_ptr(&queued.series)).or_insert_with(|| {
            timeseries.push(TimeSeries {
                labels: queued.series.to_vec(),
                samples: Vec::new(),
            });
            timeseries.len() - 1
        });
        if let Some(series) = timeseries.get_mut(i) {
            series.samples.push(Sample {
                value: queued.value,
                timestamp: queued.timestamp_ms,
            });
        }
    }
    // Stable: series with equal labels keep their order.
    timeseries.sort_by(|a, b| a.labels.cmp(&b.labels));
    WriteRequest { timeseries }
}

/// The `POST` of one compressed `WriteRequest`, with the configured
/// `extra` headers (which cannot name the protocol's own).
fn write_request(
    uri: &Uri,
    extra: &[(HeaderName, HeaderValue)],
    body: Vec<u8>,
) -> Request<Full<Bytes>> {
    let mut request = Request::new(Full::new(Bytes::from(body)));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = uri.clone();
    let headers = request.headers_mut();
    for (name, value) in extra {
        headers.insert(name.clone(), value.clone());
    }
    headers.insert(CONTENT_ENCODING, HeaderValue::from_static("snappy"));
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-protobuf"),
    );
    headers.insert(
        "x-prometheus-remote-write-version",
        HeaderValue::from_static(PROTOCOL_VERSION),
    );
    headers.insert(USER_AGENT, HeaderValue::from_static(client::USER_AGENT));
    request
}

/// Sorts an answer (or its absence) into accepted, retry or rejected.
fn outcome(answer: std::result::Result<Answer, Failure>) -> Outcome {
    let answer = match answer {
        Ok(answer) => answer,
        Err(Failure::Timeout | Failure::Transport(_)) => return Outcome::Retry(None),
    };
    if answer.status.is_success() {
        Outcome::Accepted
    } else if answer.status.is_server_error() || answer.status == StatusCode::TOO_MANY_REQUESTS {
        let after = answer
            .headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after(v, SystemTime::now()));
        Outcome::Retry(after)
    } else {
        Outcome::Rejected
    }
}

/// A `Retry-After` value (RFC 9110 section 10.2.3): delay seconds or an
/// HTTP date, a date in the past reading as zero; `None` when it is neither.
/// The backoff raises whatever this gives to its floor.
fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::push::snapshot::Series;
    use crate::push::wire::Label;

    fn series(name: &str, extra: Option<(&str, &str)>) -> Series {
        let mut labels = vec![Label {
            name: "__name__".into(),
            value: name.into(),
        }];
        if let Some((k, v)) = extra {
            labels.push(Label {
                name: k.into(),
                value: v.into(),
            });
        }
        labels.into()
    }

    fn answer(status: u16, retry_after: Option<&str>) -> std::result::Result<Answer, Failure> {
        let mut headers = http::HeaderMap::new();
        if let Some(v) = retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from_str(v).unwrap());
        }
        Ok(Answer {
            status: StatusCode::from_u16(status).unwrap(),
            headers,
            body: String::new(),
        })
    }

    #[test]
    fn answers_are_sorted_as_the_spec_says() {
        assert!(matches!(outcome(answer(200, None)), Outcome::Accepted));
        assert!(matches!(outcome(answer(204, None)), Outcome::Accepted));
        for status in [500, 502, 503] {
            assert!(matches!(
                outcome(answer(status, None)),
                Outcome::Retry(None)
            ));
        }
        assert!(matches!(
            outcome(answer(429, Some("3"))),
            Outcome::Retry(Some(d)) if d == Duration::from_secs(3)
        ));
        for status in [400, 401, 404, 413] {
            assert!(
                matches!(outcome(answer(status, None)), Outcome::Rejected),
                "{status}"
            );
        }
        assert!(matches!(
            outcome(Err(Failure::Timeout)),
            Outcome::Retry(None)
        ));
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = UNIX_EPOCH + Duration::from_secs(1_445_412_480); // Wed, 21 Oct 2015 07:28:00 GMT
        assert_eq!(retry_after("0", now), Some(Duration::ZERO));
        assert_eq!(retry_after(" 120 ", now), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        // A date in the past reads as zero (the floor then applies).
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        for bad in ["", "-1", "soon", "1.5", "99999999999999999999999"] {
            assert_eq!(retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn batches_group_samples_by_series_in_order() {
        let b = series("b", None);
        let a = series("a", Some(("x", "1")));
        let batch: Vec<_> = [(&b, 1.0, 10), (&a, 2.0, 10), (&b, 3.0, 20), (&a, 4.0, 20)]
            .into_iter()
            .map(|(s, value, timestamp_ms)| Queued {
                series: Arc::clone(s),
                value,
                timestamp_ms,
            })
            .collect();
        let request = build_request(&batch);
        assert_eq!(request.timeseries.len(), 2);
        assert_eq!(request.timeseries[0].labels[0].value, "a");
        let a_samples: Vec<_> = request.timeseries[0]
            .samples
            .iter()
            .map(|s| (s.value, s.timestamp))
            .collect();
        assert_eq!(a_samples, [(2.0, 10), (4.0, 20)]);
        assert_eq!(request.timeseries[1].samples.len(), 2);
    }

    #[test]
    fn requests_carry_the_spec_headers() {
        let uri: Uri = "http://127.0.0.1:9/api/v1/write".parse().unwrap();
        let tenant = (
            HeaderName::from_static("x-scope-orgid"),
            HeaderValue::from_static("t1"),
        );
        let request = write_request(&uri, &[tenant], vec![1, 2]);
        assert_eq!(request.headers()["x-scope-orgid"], "t1");
        assert_eq!(request.method(), Method::POST);
        assert_eq!(request.headers()["content-encoding"], "snappy");
        assert_eq!(request.headers()["content-type"], "application/x-protobuf");
        assert_eq!(
            request.headers()["x-prometheus-remote-write-version"],
            "0.1.0"
        );
    }

    #[test]
    fn register_checks_the_settings() {
        let mut registry = Registry::new(&incident_metrics_core::MetricsConfig::new()).unwrap();
        let e = RemoteWriteBuilder::new("https://mimir/api/v1/push")
            .with_tls(crate::ClientTlsConfig::new().with_ca_file("/nonexistent/ca.pem"))
            .register(&mut registry)
            .unwrap_err();
        assert!(matches!(e, Error::TlsFile { .. }), "{e}");
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
        let e = RemoteWriteBuilder::new("http://p/x")
            .with_interval(Duration::ZERO)
            .register(&mut registry)
            .unwrap_err();
        assert!(e.to_string().contains("interval_seconds"), "{e}");
        let e = RemoteWriteBuilder::new("http://p/x")
            .with_header("Content-Type", "text/plain")
            .register(&mut registry)
            .unwrap_err();
        assert!(e.to_string().contains("push.remote_write.headers"), "{e}");
        assert!(registry.families().is_empty());
        RemoteWriteBuilder::new("http://p/x")
            .register(&mut registry)
            .unwrap();
        let e = RemoteWriteBuilder::new("http://p/x")
            .register(&mut registry)
            .unwrap_err();
        assert!(e.to_string().contains("already registered"), "{e}");
    }

    #[test]
    fn start_needs_a_runtime() {
        let mut registry = Registry::new(&incident_metrics_core::MetricsConfig::new()).unwrap();
        let sender = RemoteWriteBuilder::new("http://127.0.0.1:9/x")
            .register(&mut registry)
            .unwrap();
        let e = sender.start(Arc::new(registry)).unwrap_err();
        assert!(matches!(e, Error::NoRuntime), "{e}");
    }

    /// A receiver on 127.0.0.1 answering with `statuses` in turn (then
    /// 204), recording each request's headers and decoded body.
    async fn fake_receiver(
        statuses: Vec<(u16, Option<&'static str>)>,
    ) -> (
        String,
        Arc<std::sync::Mutex<Vec<(http::HeaderMap, WriteRequest)>>>,
    ) {
        use hyper::server::conn::http1;
        use hyper::service::service_fn;
        use hyper_util::rt::TokioIo;
        use prost::Message as _;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api/v1/write", listener.local_addr().unwrap());
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let statuses = Arc::new(std::sync::Mutex::new(std::collections::VecDeque::from(
            statuses,
        )));
        let recorded = Arc::clone(&seen);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (seen, statuses) = (Arc::clone(&recorded), Arc::clone(&statuses));
                let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                    let (seen, statuses) = (Arc::clone(&seen), Arc::clone(&statuses));
                    async move {
                        use http_body_util::BodyExt as _;
                        let (parts, body) = request.into_parts();
                        let body = body.collect().await.unwrap().to_bytes();
                        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
                        let decoded = WriteRequest::decode(raw.as_slice()).unwrap();
                        seen.lock().unwrap().push((parts.headers, decoded));
                        let (status, retry_after) =
                            statuses.lock().unwrap().pop_front().unwrap_or((204, None));
                        let mut response = http::Response::new(Full::new(Bytes::new()));
                        *response.status_mut() = StatusCode::from_u16(status).unwrap();
                        if let Some(after) = retry_after {
                            response
                                .headers_mut()
                                .insert(RETRY_AFTER, HeaderValue::from_static(after));
                        }
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
            }
        });
        (url, seen)
    }

    #[tokio::test]
    async fn retries_5xx_and_429_drops_and_counts_4xx_and_flushes_on_stop() {
        use incident_metrics_core::MetricsConfig;

        let (url, seen) = fake_receiver(vec![(503, None), (429, Some("0")), (400, None)]).await;
        let mut registry = Registry::new(&MetricsConfig::new().with_namespace("svc")).unwrap();
        let jobs = Counter::<u64>::default();
        registry
            .register(&counter("jobs", "Jobs run"), jobs.clone())
            .unwrap();
        jobs.inc_by(3);
        let sender = RemoteWriteBuilder::new(url)
            .with_interval(Duration::from_secs(3_600))
            .with_min_backoff(Duration::from_millis(1))
            .with_max_backoff(Duration::from_millis(10))
            .with_external_label("instance", "i-1")
            .with_header("X-Scope-OrgID", "tenant-1")
            .register(&mut registry)
            .unwrap();
        let handle = sender.start(Arc::new(registry)).unwrap();
        // The first snapshot: 503 and 429 are retried, 400 drops it.
        let deadline = Instant::now() + Duration::from_secs(30);
        while handle.stats().samples_failed == 0 {
            assert!(Instant::now() < deadline, "{:?}", handle.stats());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        jobs.inc();
        // Stopping takes a last snapshot and sends it.
        let stats = handle.stop().await;
        let per_snapshot = 7; // `jobs` and the sender's six families
        assert_eq!(stats.snapshots, 2, "{stats:?}");
        assert_eq!(stats.retries, 2, "{stats:?}");
        assert_eq!(stats.samples_failed, per_snapshot, "{stats:?}");
        assert_eq!(stats.samples_sent, per_snapshot, "{stats:?}");
        assert_eq!(stats.samples_dropped, 0, "{stats:?}");
        assert_eq!(stats.queue_length, 0, "{stats:?}");
        assert!(stats.last_success_unix_seconds > 1.0e9, "{stats:?}");

        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 4);
        for (headers, _) in seen.iter() {
            assert_eq!(headers["content-encoding"], "snappy");
            assert_eq!(headers["content-type"], "application/x-protobuf");
            assert_eq!(headers["x-prometheus-remote-write-version"], "0.1.0");
            assert_eq!(headers["x-scope-orgid"], "tenant-1");
        }
        // The same batch three times, then the last snapshot.
        assert_eq!(seen[0].1, seen[1].1);
        assert_eq!(seen[1].1, seen[2].1);
        let jobs_series = |request: &WriteRequest| {
            request
                .timeseries
                .iter()
                .find(|s| s.labels.iter().any(|l| l.value == "svc_jobs_total"))
                .cloned()
                .unwrap()
        };
        let first = jobs_series(&seen[0].1);
        let last = jobs_series(&seen[3].1);
        let names: Vec<_> = first.labels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["__name__", "instance"]);
        assert_eq!(first.samples[0].value, 3.0);
        assert_eq!(last.samples[0].value, 4.0);
        assert!(last.samples[0].timestamp > first.samples[0].timestamp);
        // Series are sorted by their labels.
        let order: Vec<_> = seen[3]
            .1
            .timeseries
            .iter()
            .map(|s| s.labels.clone())
            .collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted);
    }
}
