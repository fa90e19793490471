//! The sender's builder ([`RemoteWriteConfig::register`]), the registered
//! sender ([`RemoteWrite`]) and the handle of a running one
//! ([`RemoteWriteHandle`]).

use std::sync::Arc;

use http::{HeaderName, HeaderValue, Uri};
use incident_metrics_core::Registry;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::families::SenderMetrics;
use super::worker::Worker;
use crate::push::backoff::Backoff;
use crate::push::client::{HttpClient, parse_http_uri};
use crate::push::queue::SampleQueue;
use crate::push::snapshot::Snapshotter;
use crate::{Error, RemoteWriteConfig, Result};

impl RemoteWriteConfig {
    /// Checks the settings and registers the sender's own families
    /// ([`REMOTE_WRITE_FAMILIES`](crate::REMOTE_WRITE_FAMILIES)) into
    /// `registry`; then, once every family is registered and the registry
    /// is shared, [`RemoteWrite::start`] the sender. Two steps, because the
    /// families must be registered while the registry is still `&mut`.
    ///
    /// # Errors
    ///
    /// The errors of [`validate`](Self::validate) (bad URL, interval,
    /// timeout, backoff, queue size, external label, header);
    /// [`Error::TlsFile`] or [`Error::TlsConfig`] for TLS files that cannot
    /// be used; [`Error::Core`] for families that cannot be registered (a
    /// second sender in the same registry).
    ///
    /// # Examples
    ///
    /// ```
    /// use incident_metrics_core::{MetricsConfig, Registry};
    /// use incident_metrics_exporter::PushConfig;
    ///
    /// let push: PushConfig = toml::from_str(
    ///     "[remote_write]\nurl = \"http://vm:8428/api/v1/write\"\ninterval_seconds = 30",
    /// )?;
    /// let mut registry = Registry::new(&MetricsConfig::new())?;
    /// let sender = push.remote_write().unwrap().register(&mut registry)?;
    /// assert_eq!(sender.url(), "http://vm:8428/api/v1/write");
    /// assert_eq!(registry.families().len(), 6); // the sender's own families
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn register(&self, registry: &mut Registry) -> Result<RemoteWrite> {
        self.validate()?;
        let uri = parse_http_uri("push.remote_write.url", self.url())?;
        let client = HttpClient::new(self.tls().unwrap_or(&crate::ClientTlsConfig::new()))?;
        let headers = self
            .headers()
            .iter()
            .map(|(name, value)| {
                let invalid = |reason| Error::InvalidHeader {
                    field: "push.remote_write.headers",
                    name: name.clone(),
                    reason,
                };
                Ok((
                    HeaderName::try_from(name.as_str())
                        .map_err(|_| invalid("not a header name"))?,
                    HeaderValue::try_from(value.as_str())
                        .map_err(|_| invalid("not a header value"))?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let metrics = SenderMetrics::register(registry, self.native_histograms())?;
        Ok(RemoteWrite {
            config: self.clone(),
            uri,
            headers,
            metrics,
            client,
        })
    }
}

/// A Prometheus remote-write 1.0 sender whose families are registered,
/// ready to [`start`](Self::start). Built by
/// [`RemoteWriteConfig::register`], its one builder.
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
///   that doubles from `min_backoff` (50 ms) up to `max_backoff`; a
///   `Retry-After` above the floor is honoured (up to `max_backoff`), and
///   `Retry-After: 0`, a date in the past, a missing or an unreadable value
///   wait the floor, so a receiver in trouble is never hammered.
/// - Any other answer (`4xx`: the receiver refuses the data) drops them and
///   counts them as failed: sending them again would fail again.
/// - With `native_histograms` on, a request carrying native histograms
///   that the receiver answers `5xx` with "native histograms are disabled"
///   in the body (Prometheus without `--enable-feature=native-histograms`
///   answers `500` so, for every such request) is not retried as it is:
///   its native histograms are dropped and counted in
///   `remote_write_native_histograms_dropped_total`, the rest is retried
///   as usual, and the sender sends no more native histograms (it drops
///   those queued, counted too, and takes snapshots without them) until it
///   is restarted ([`RemoteWriteStats::native_histograms_disabled`]); the
///   classic `_bucket`, `_sum` and `_count` series keep going. Any other
///   `5xx` answered three times in a row to requests carrying native
///   histograms drops that request's native histograms the same way
///   (counted, the rest retried) without turning them off, so a receiver
///   that refuses them with another message cannot hold up the queue.
/// - When the queue is full, the oldest samples are dropped first and
///   counted: an outage of up to `queue_capacity / series × interval` loses
///   nothing.
///
/// `http://` and `https://` receivers: an `https://` one is verified
/// against the platform's roots, or as the `tls` table says (a CA file, a
/// client certificate); a TLS failure counts as a failed attempt and is
/// retried, never sent in plain text.
///
/// # Examples
///
/// ```no_run
/// use std::sync::Arc;
///
/// use incident_metrics_core::{MetricsConfig, Registry};
/// use incident_metrics_exporter::RemoteWriteConfig;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let mut registry = Registry::new(&MetricsConfig::new())?;
/// // ... register the service's families ...
/// let sender = RemoteWriteConfig::new("http://127.0.0.1:9090/api/v1/write")
///     .with_interval_seconds(15.0)
///     .with_external_label("instance", "api-1")
///     .register(&mut registry)?;
/// let handle = sender.start(Arc::new(registry))?;
/// // ... serve ...
/// let stats = handle.stop().await; // sends what is queued, then stops
/// assert_eq!(stats.samples_failed, 0);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct RemoteWrite {
    config: RemoteWriteConfig,
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
            snapshotter: Snapshotter::new(self.config.external_labels().to_vec())
                .with_structured(self.config.exemplars(), self.config.native_histograms()),
            native_failures: 0,
            queue: SampleQueue::new(self.config.queue_capacity()),
            backoff: Backoff::new(self.config.min_backoff(), self.config.max_backoff()),
            client: self.client,
            last_timestamp_ms: 0,
            registry,
            uri: self.uri,
            headers: self.headers,
            flush_timeout: self.config.flush_timeout(),
            config: self.config,
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
    /// Native histograms dropped unsent because the receiver refused them
    /// (`native_histograms` on only).
    pub native_histograms_dropped: u64,
    /// Whether the sender stopped sending native histograms, the receiver
    /// having answered that they are disabled (until the sender restarts).
    pub native_histograms_disabled: bool,
}
