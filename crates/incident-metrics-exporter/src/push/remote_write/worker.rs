//! The sender's task: takes snapshots, sends them in batches, retries with
//! backoff, and flushes when stopped.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::RETRY_AFTER;
use http::{HeaderName, HeaderValue, StatusCode, Uri};
use incident_metrics_core::Registry;
use tokio::sync::oneshot;
use tokio::time::{Instant, MissedTickBehavior};

use super::families::SenderMetrics;
use super::request::{build_request, write_request};
use crate::RemoteWriteConfig;
use crate::push::backoff::Backoff;
use crate::push::client::{Answer, Failure, HttpClient};
use crate::push::queue::{Queued, SampleQueue};
use crate::push::snapshot::Snapshotter;
use crate::push::wire::encode_body;

/// What became of a request.
#[derive(Debug)]
pub(super) enum Outcome {
    Accepted,
    /// Send again, after the given delay if the receiver named one.
    Retry(Option<Duration>, Cause),
    Rejected,
}

/// Why a request is to be sent again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Cause {
    /// No answer: a timeout or a connection failure (an outage).
    Unreachable,
    /// A `429` answer.
    Busy,
    /// A `5xx` answer.
    Status,
    /// A `5xx` answer saying "native histograms are disabled".
    NativeRefused,
}

/// How many `5xx` answers in a row a request carrying native histograms
/// gets before its native histograms are dropped (the rest is retried).
pub(super) const NATIVE_RETRY_LIMIT: u32 = 3;

/// What Prometheus answers (`500`) to native histograms when it runs
/// without `--enable-feature=native-histograms`.
const NATIVE_DISABLED: &str = "native histograms are disabled";

type Sending = Pin<Box<dyn Future<Output = Outcome> + Send>>;

/// What woke the sender.
enum Event {
    Stop,
    Answered(Outcome),
    RetryDue,
    Tick,
}

/// The sender's task state.
pub(super) struct Worker {
    pub(super) registry: Arc<Registry>,
    pub(super) snapshotter: Snapshotter,
    pub(super) queue: SampleQueue,
    pub(super) backoff: Backoff,
    pub(super) client: HttpClient,
    pub(super) uri: Uri,
    pub(super) headers: Vec<(HeaderName, HeaderValue)>,
    pub(super) config: RemoteWriteConfig,
    pub(super) flush_timeout: Duration,
    pub(super) metrics: SenderMetrics,
    pub(super) last_timestamp_ms: i64,
    /// `5xx` answers in a row to requests carrying native histograms.
    pub(super) native_failures: u32,
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("uri", &self.uri)
            .finish_non_exhaustive()
    }
}

impl Worker {
    pub(super) async fn run(mut self, mut stop: oneshot::Receiver<()>) {
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
            let native = self.config.native_histograms()
                && !self.metrics.native_disabled.load(Ordering::Relaxed);
            self.snapshotter = Snapshotter::new(self.config.external_labels().to_vec())
                .with_structured(self.config.exemplars(), native);
            return;
        };
        self.snapshotter = snapshotter;
        // A registry that fails to render (a custom metric's `encode` errs)
        // gives no snapshot this time; the next tick tries again.
        let Ok(samples) = samples else {
            return;
        };
        self.last_timestamp_ms = timestamp_ms;
        let dropped = self.queue.push(samples.into_iter().map(|point| Queued {
            series: point.series,
            value: point.value,
            timestamp_ms,
            exemplar: point.exemplar,
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
    fn settle(&mut self, mut batch: Vec<Queued>, outcome: Outcome) -> Option<Instant> {
        let n = batch.len() as u64;
        // An answer other than a retry ends a run of 5xx answers.
        if !matches!(outcome, Outcome::Retry(..)) {
            self.native_failures = 0;
        }
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
            Outcome::Retry(after, cause) => {
                self.metrics.retries.inc();
                self.give_up_native(&mut batch, cause);
                let dropped = self.queue.return_batch(batch);
                self.metrics.dropped.inc_by(dropped as u64);
                let delay = self.backoff.next_delay(after);
                Some(Instant::now() + delay)
            }
        };
        self.update_queue_length();
        retry_at
    }

    /// Drops the native histograms of a `batch` about to be retried when
    /// the receiver refused them (for good, the sender then sending no
    /// more) or answered `5xx` [`NATIVE_RETRY_LIMIT`] times in a row; counts
    /// them.
    fn give_up_native(&mut self, batch: &mut Vec<Queued>, cause: Cause) {
        if !batch.iter().any(Queued::is_native) {
            return;
        }
        if matches!(cause, Cause::Unreachable | Cause::Busy) {
            return;
        }
        self.native_failures += 1;
        if cause != Cause::NativeRefused && self.native_failures < NATIVE_RETRY_LIMIT {
            return;
        }
        self.native_failures = 0;
        let before = batch.len();
        batch.retain(|q| !q.is_native());
        let mut dropped = before - batch.len();
        self.queue.finish_batch(dropped);
        if cause == Cause::NativeRefused {
            self.metrics.native_disabled.store(true, Ordering::Relaxed);
            self.snapshotter.stop_native();
            dropped += self.queue.drop_native();
        }
        self.metrics.native_dropped.inc_by(dropped as u64);
    }

    fn update_queue_length(&self) {
        self.metrics
            .queue_length
            .set(i64::try_from(self.queue.len()).unwrap_or(i64::MAX));
    }
}

/// Sorts an answer (or its absence) into accepted, retry or rejected.
fn outcome(answer: std::result::Result<Answer, Failure>) -> Outcome {
    let answer = match answer {
        Ok(answer) => answer,
        Err(Failure::Timeout | Failure::Transport(_)) => {
            return Outcome::Retry(None, Cause::Unreachable);
        }
    };
    if answer.status.is_success() {
        Outcome::Accepted
    } else if answer.status.is_server_error() || answer.status == StatusCode::TOO_MANY_REQUESTS {
        let after = answer
            .headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after(v, SystemTime::now()));
        let cause = if !answer.status.is_server_error() {
            Cause::Busy
        } else if answer.body.contains(NATIVE_DISABLED) {
            Cause::NativeRefused
        } else {
            Cause::Status
        };
        Outcome::Retry(after, cause)
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

    fn answer(status: u16, retry_after: Option<&str>) -> std::result::Result<Answer, Failure> {
        answer_with(status, retry_after, "")
    }

    fn answer_with(
        status: u16,
        retry_after: Option<&str>,
        body: &str,
    ) -> std::result::Result<Answer, Failure> {
        let mut headers = http::HeaderMap::new();
        if let Some(v) = retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from_str(v).unwrap());
        }
        Ok(Answer {
            status: StatusCode::from_u16(status).unwrap(),
            headers,
            body: body.to_owned(),
        })
    }

    #[test]
    fn answers_are_sorted_as_the_spec_says() {
        assert!(matches!(outcome(answer(200, None)), Outcome::Accepted));
        assert!(matches!(outcome(answer(204, None)), Outcome::Accepted));
        for status in [500, 502, 503] {
            assert!(matches!(
                outcome(answer(status, None)),
                Outcome::Retry(None, Cause::Status)
            ));
        }
        assert!(matches!(
            outcome(answer(429, Some("3"))),
            Outcome::Retry(Some(d), Cause::Busy) if d == Duration::from_secs(3)
        ));
        // Prometheus 2.42 without --enable-feature=native-histograms.
        assert!(matches!(
            outcome(answer_with(500, None, "native histograms are disabled\n")),
            Outcome::Retry(None, Cause::NativeRefused)
        ));
        assert!(matches!(
            outcome(answer_with(429, None, "native histograms are disabled")),
            Outcome::Retry(None, Cause::Busy)
        ));
        for status in [400, 401, 404, 413] {
            assert!(
                matches!(outcome(answer(status, None)), Outcome::Rejected),
                "{status}"
            );
        }
        assert!(matches!(
            outcome(Err(Failure::Timeout)),
            Outcome::Retry(None, Cause::Unreachable)
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
}
