//! [`RemoteWriteConfig::register`](crate::RemoteWriteConfig::register),
//! [`RemoteWrite`] and [`RemoteWriteHandle`]: a Prometheus remote-write 1.0
//! sender, one file per job:
//!
//! - `handle`: the builder (`RemoteWriteConfig::register`), the registered
//!   sender and the handle of a running one;
//! - `families`: the sender's own metric families;
//! - `worker`: the task that snapshots, sends, retries and flushes;
//! - `request`: a batch as a snappy-compressed protobuf `POST`.

mod families;
mod handle;
mod request;
mod worker;

pub use families::{REMOTE_WRITE_FAMILIES, REMOTE_WRITE_NATIVE_HISTOGRAMS_DROPPED};
pub use handle::{RemoteWrite, RemoteWriteHandle, RemoteWriteStats};

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use bytes::Bytes;
    use http::header::RETRY_AFTER;
    use http::{HeaderValue, Request, StatusCode};
    use http_body_util::Full;
    use incident_metrics_core::Registry;
    use incident_metrics_core::prometheus_client::metrics::counter::Counter;
    use tokio::time::Instant;

    use super::families::counter;
    use crate::push::wire::WriteRequest;
    use crate::{ClientTlsConfig, Error, RemoteWriteConfig};

    #[test]
    fn register_checks_the_settings() {
        let mut registry = Registry::new(&incident_metrics_core::MetricsConfig::new()).unwrap();
        let e = RemoteWriteConfig::new("https://mimir/api/v1/push")
            .with_tls(Some(
                ClientTlsConfig::new().with_ca_file("/nonexistent/ca.pem"),
            ))
            .register(&mut registry)
            .unwrap_err();
        assert!(matches!(e, Error::TlsFile { .. }), "{e}");
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
        let e = RemoteWriteConfig::new("http://p/x")
            .with_interval_seconds(0.0)
            .register(&mut registry)
            .unwrap_err();
        assert!(e.to_string().contains("interval_seconds"), "{e}");
        let e = RemoteWriteConfig::new("http://p/x")
            .with_header("Content-Type", "text/plain")
            .register(&mut registry)
            .unwrap_err();
        assert!(e.to_string().contains("push.remote_write.headers"), "{e}");
        assert!(registry.families().is_empty());
        RemoteWriteConfig::new("http://p/x")
            .register(&mut registry)
            .unwrap();
        let e = RemoteWriteConfig::new("http://p/x")
            .register(&mut registry)
            .unwrap_err();
        assert!(e.to_string().contains("already registered"), "{e}");
    }

    #[test]
    fn start_needs_a_runtime() {
        let mut registry = Registry::new(&incident_metrics_core::MetricsConfig::new()).unwrap();
        let sender = RemoteWriteConfig::new("http://127.0.0.1:9/x")
            .register(&mut registry)
            .unwrap();
        let e = sender.start(Arc::new(registry)).unwrap_err();
        assert!(matches!(e, Error::NoRuntime), "{e}");
    }

    /// What a fake receiver answers: status, `Retry-After`, body.
    type Answer = (u16, Option<&'static str>, &'static str);

    /// A receiver on 127.0.0.1 answering with `statuses` in turn (then
    /// 204), recording each request's headers and decoded body.
    async fn fake_receiver(
        statuses: Vec<(u16, Option<&'static str>)>,
    ) -> (
        String,
        Arc<std::sync::Mutex<Vec<(http::HeaderMap, WriteRequest)>>>,
    ) {
        let statuses = std::sync::Mutex::new(std::collections::VecDeque::from(statuses));
        receiver(move |_| {
            let (status, after) = statuses.lock().unwrap().pop_front().unwrap_or((204, None));
            (status, after, "")
        })
        .await
    }

    /// A receiver on 127.0.0.1 answering each request as `answer` says,
    /// recording each request's headers and decoded body.
    async fn receiver(
        answer: impl Fn(&WriteRequest) -> Answer + Send + Sync + 'static,
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
        let answer = Arc::new(answer);
        let recorded = Arc::clone(&seen);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (seen, answer) = (Arc::clone(&recorded), Arc::clone(&answer));
                let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                    let (seen, answer) = (Arc::clone(&seen), Arc::clone(&answer));
                    async move {
                        use http_body_util::BodyExt as _;
                        let (parts, body) = request.into_parts();
                        let body = body.collect().await.unwrap().to_bytes();
                        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
                        let decoded = WriteRequest::decode(raw.as_slice()).unwrap();
                        let (status, retry_after, text) = answer(&decoded);
                        seen.lock().unwrap().push((parts.headers, decoded));
                        let mut response =
                            http::Response::new(Full::new(Bytes::from_static(text.as_bytes())));
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

    /// A registry (namespace `svc`) with one native histogram, observed
    /// once, registered with a sender for `url` sending native histograms.
    fn native_source(url: String) -> (Registry, super::RemoteWrite) {
        native_source_with(url, true)
    }

    /// As [`native_source`], sending native histograms and exemplars as
    /// `on` says.
    fn native_source_with(url: String, on: bool) -> (Registry, super::RemoteWrite) {
        use incident_metrics_core::{FamilySpec, HistogramBuilder, MetricKind, NativeConfig};

        let mut registry =
            Registry::new(&incident_metrics_core::MetricsConfig::new().with_namespace("svc"))
                .unwrap();
        let spec = FamilySpec {
            name: "wait_seconds",
            help: "Waits",
            kind: MetricKind::Histogram,
            unit: None,
            labels: &[],
        };
        let wait = registry
            .register_histogram(&spec, &[1.0], |bounds| {
                Ok(HistogramBuilder::new("wait_seconds", bounds)?
                    .with_native(NativeConfig::new(1.1, 2f64.powi(-128), 160)?)
                    .build())
            })
            .unwrap();
        let trace = incident_metrics_core::TraceContext::from_traceparent(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .unwrap();
        wait.observe_with_exemplar(0.3, &trace);
        let sender = RemoteWriteConfig::new(url)
            .with_interval_seconds(3_600.0)
            .with_min_backoff_seconds(0.001)
            .with_max_backoff_seconds(0.01)
            .with_native_histograms(on)
            .with_exemplars(on)
            .register(&mut registry)
            .unwrap();
        (registry, sender)
    }

    fn histograms(request: &WriteRequest) -> usize {
        request.timeseries.iter().map(|s| s.histograms.len()).sum()
    }

    fn samples(request: &WriteRequest) -> usize {
        request.timeseries.iter().map(|s| s.samples.len()).sum()
    }

    #[tokio::test]
    async fn without_the_keys_requests_carry_only_float_samples() {
        let (url, seen) = receiver(|_| (204, None, "")).await;
        let (registry, sender) = native_source_with(url, false);
        // The sender's six families, not the native-histogram counter.
        assert_eq!(registry.families().len(), 1 + 6);
        let stats = sender.start(Arc::new(registry)).unwrap().stop().await;
        assert_eq!(stats.samples_sent, stats.snapshots * 10, "{stats:?}");
        let seen = seen.lock().unwrap();
        assert!(!seen.is_empty());
        for (_, request) in seen.iter() {
            assert_eq!(histograms(request), 0);
            assert!(request.timeseries.iter().all(|s| s.exemplars.is_empty()));
        }
    }

    #[tokio::test]
    async fn with_the_keys_requests_carry_native_histograms_and_exemplars() {
        let (url, seen) = receiver(|_| (204, None, "")).await;
        let (registry, sender) = native_source_with(url, true);
        assert_eq!(registry.families().len(), 1 + 7);
        let stats = sender.start(Arc::new(registry)).unwrap().stop().await;
        assert_eq!(stats.native_histograms_dropped, 0, "{stats:?}");
        let seen = seen.lock().unwrap();
        let native = seen[0]
            .1
            .timeseries
            .iter()
            .find(|s| !s.histograms.is_empty())
            .unwrap();
        assert_eq!(native.labels[0].value, "svc_wait_seconds");
        assert!(native.histograms[0].timestamp > 0);
        assert_eq!(native.exemplars.len(), 1);
        assert_eq!(native.exemplars[0].value, 0.3);
        let bucket = seen[0]
            .1
            .timeseries
            .iter()
            .find(|s| {
                s.labels
                    .iter()
                    .any(|l| l.value == "svc_wait_seconds_bucket")
                    && s.labels.iter().any(|l| l.name == "le" && l.value == "1")
            })
            .unwrap();
        assert_eq!(bucket.exemplars.len(), 1);
        assert!(bucket.exemplars[0].timestamp > 0);
    }

    #[tokio::test]
    async fn a_receiver_without_native_histograms_gets_them_once_then_never() {
        // Prometheus 2.42 without --enable-feature=native-histograms.
        let (url, seen) = receiver(|request| {
            if histograms(request) > 0 {
                (500, None, "native histograms are disabled\n")
            } else {
                (204, None, "")
            }
        })
        .await;
        let (registry, sender) = native_source(url);
        let handle = sender.start(Arc::new(registry)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while handle.stats().samples_sent == 0 {
            assert!(Instant::now() < deadline, "{:?}", handle.stats());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let stats = handle.stop().await;
        assert!(stats.native_histograms_disabled, "{stats:?}");
        assert_eq!(stats.native_histograms_dropped, 1, "{stats:?}");
        assert_eq!(stats.retries, 1, "{stats:?}");
        assert_eq!(stats.samples_failed, 0, "{stats:?}");
        assert_eq!(stats.samples_dropped, 0, "{stats:?}");
        assert_eq!(stats.queue_length, 0, "{stats:?}");
        // The classic series: 4 of the histogram (`_bucket` 1 and +Inf,
        // `_sum`, `_count`), 1 of each of the sender's 7 families.
        assert_eq!(stats.samples_sent, 2 * 11, "{stats:?}");
        let seen = seen.lock().unwrap();
        // The refused request, its classic series again, the last snapshot
        // (taken without native histograms).
        assert_eq!(seen.len(), 3);
        assert_eq!(histograms(&seen[0].1), 1);
        assert_eq!(samples(&seen[0].1), samples(&seen[1].1));
        assert_eq!(histograms(&seen[1].1), 0);
        assert_eq!(histograms(&seen[2].1), 0);
        assert_eq!(samples(&seen[2].1), 11);
    }

    #[tokio::test]
    async fn native_histograms_answered_5xx_three_times_are_dropped_from_that_request() {
        let (url, seen) = receiver(|request| {
            if histograms(request) > 0 {
                (503, None, "busy")
            } else {
                (204, None, "")
            }
        })
        .await;
        let (registry, sender) = native_source(url);
        let handle = sender.start(Arc::new(registry)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while handle.stats().samples_sent == 0 {
            assert!(Instant::now() < deadline, "{:?}", handle.stats());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let stats = handle.stop().await;
        // Not turned off: the last snapshot carries its native histogram,
        // refused three times too.
        assert!(!stats.native_histograms_disabled, "{stats:?}");
        assert_eq!(stats.native_histograms_dropped, 2, "{stats:?}");
        assert_eq!(
            stats.retries,
            2 * super::worker::NATIVE_RETRY_LIMIT as u64,
            "{stats:?}"
        );
        assert_eq!(stats.samples_sent, 2 * 11, "{stats:?}");
        assert_eq!(stats.samples_dropped, 0, "{stats:?}");
        let seen = seen.lock().unwrap();
        let with_native = seen.iter().filter(|(_, r)| histograms(r) > 0).count();
        assert_eq!(with_native, 2 * super::worker::NATIVE_RETRY_LIMIT as usize);
        assert_eq!(
            seen.len(),
            2 * (super::worker::NATIVE_RETRY_LIMIT as usize + 1)
        );
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
        let sender = RemoteWriteConfig::new(url)
            .with_interval_seconds(3_600.0)
            .with_min_backoff_seconds(0.001)
            .with_max_backoff_seconds(0.01)
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
