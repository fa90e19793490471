//! The remote-write sender backs off as Prometheus's own sender does when
//! the receiver answers `503` with `Retry-After: 0`, with no `Retry-After`
//! or with an unreadable one: each retry waits at least its floor (the
//! minimum backoff, doubling up to the maximum), so five `503`s take at
//! least the sum of the first five floors. Against a stub receiver on
//! 127.0.0.1 that records when each request arrives.

#![cfg(feature = "remote-write")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use incident_metrics_core::{MetricsConfig, Registry};
use incident_metrics_exporter::RemoteWriteConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const MIN_BACKOFF: Duration = Duration::from_millis(40);
const MAX_BACKOFF: Duration = Duration::from_millis(400);
/// How many `503`s the stub answers before it accepts.
const FAILURES: usize = 5;

/// A receiver answering the first [`FAILURES`] requests `503` with
/// `retry_after` (if any) as its `Retry-After`, then `204`; it records the
/// instant each request's head arrived.
async fn stub(retry_after: Option<&'static str>) -> (String, Arc<Mutex<Vec<Instant>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/v1/write", listener.local_addr().unwrap());
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&arrivals);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, Arc::clone(&seen), retry_after));
        }
    });
    (url, arrivals)
}

/// Serves one HTTP/1.1 connection: reads each request (head and
/// `Content-Length` body) and answers it.
async fn serve(
    mut stream: TcpStream,
    arrivals: Arc<Mutex<Vec<Instant>>>,
    retry_after: Option<&'static str>,
) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        // One request: the head, then its body.
        let head_end = loop {
            if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().unwrap());
        while buffer.len() < head_end + length {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        buffer.drain(..head_end + length);
        let n = {
            let mut arrivals = arrivals.lock().unwrap();
            arrivals.push(Instant::now());
            arrivals.len()
        };
        let answer = if n <= FAILURES {
            let header = retry_after.map_or(String::new(), |v| format!("Retry-After: {v}\r\n"));
            format!("HTTP/1.1 503 Service Unavailable\r\n{header}Content-Length: 0\r\n\r\n")
        } else {
            "HTTP/1.1 204 No Content\r\n\r\n".to_owned()
        };
        if stream.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// The sum of the first `n` floors: `min, 2 min, 4 min, ...` capped at
/// `max`.
fn sum_of_floors(n: u32) -> Duration {
    (0..n)
        .map(|i| (MIN_BACKOFF * 2u32.pow(i)).min(MAX_BACKOFF))
        .sum()
}

async fn five_503s_take_at_least_the_sum_of_the_floors(retry_after: Option<&'static str>) {
    let (url, arrivals) = stub(retry_after).await;
    let mut registry = Registry::new(&MetricsConfig::new()).unwrap();
    let sender = RemoteWriteConfig::new(url)
        .with_interval_seconds(3_600.0)
        .with_min_backoff_seconds(MIN_BACKOFF.as_secs_f64())
        .with_max_backoff_seconds(MAX_BACKOFF.as_secs_f64())
        .register(&mut registry)
        .unwrap();
    let handle = sender.start(Arc::new(registry)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while handle.stats().samples_sent == 0 {
        assert!(
            Instant::now() < deadline,
            "Retry-After {retry_after:?}: the sender never got through: {:?}",
            handle.stats()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stats = handle.stop().await;
    assert_eq!(stats.retries, FAILURES as u64, "{stats:?}");
    let arrivals = arrivals.lock().unwrap().clone();
    assert!(arrivals.len() > FAILURES, "{arrivals:?}");
    let floors = sum_of_floors(FAILURES as u32);
    let mut gaps = Vec::new();
    for (i, pair) in arrivals.windows(2).take(FAILURES).enumerate() {
        let gap = pair[1] - pair[0];
        let floor = (MIN_BACKOFF * 2u32.pow(i as u32)).min(MAX_BACKOFF);
        assert!(
            gap >= floor,
            "Retry-After {retry_after:?}: retry {} came {gap:?} after the 503, before its floor {floor:?}",
            i + 1
        );
        gaps.push(gap);
    }
    let total = arrivals[FAILURES] - arrivals[0];
    assert!(
        total >= floors,
        "Retry-After {retry_after:?}: five 503s took {total:?}, less than the floors' sum {floors:?} (gaps {gaps:?})"
    );
    eprintln!(
        "Retry-After {retry_after:?}: five 503s took {total:?} (floors sum to {floors:?}; gaps {gaps:?})"
    );
}

#[tokio::test]
async fn retry_after_zero_waits_the_floor() {
    five_503s_take_at_least_the_sum_of_the_floors(Some("0")).await;
}

#[tokio::test]
async fn a_missing_retry_after_waits_the_floor() {
    five_503s_take_at_least_the_sum_of_the_floors(None).await;
}

#[tokio::test]
async fn an_unreadable_retry_after_waits_the_floor() {
    five_503s_take_at_least_the_sum_of_the_floors(Some("soon")).await;
}

#[tokio::test]
async fn a_retry_after_date_in_the_past_waits_the_floor() {
    five_503s_take_at_least_the_sum_of_the_floors(Some("Thu, 01 Jan 1970 00:00:00 GMT")).await;
}

#[tokio::test]
async fn a_retry_after_above_the_floor_is_honoured() {
    // One second is above every floor but capped at `MAX_BACKOFF`: each
    // retry waits the maximum.
    let (url, arrivals) = stub(Some("1")).await;
    let mut registry = Registry::new(&MetricsConfig::new()).unwrap();
    let sender = RemoteWriteConfig::new(url)
        .with_interval_seconds(3_600.0)
        .with_min_backoff_seconds(MIN_BACKOFF.as_secs_f64())
        .with_max_backoff_seconds(MAX_BACKOFF.as_secs_f64())
        .register(&mut registry)
        .unwrap();
    let handle = sender.start(Arc::new(registry)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while handle.stats().samples_sent == 0 {
        assert!(Instant::now() < deadline, "{:?}", handle.stats());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    handle.stop().await;
    let arrivals = arrivals.lock().unwrap().clone();
    for pair in arrivals.windows(2).take(FAILURES) {
        assert!(pair[1] - pair[0] >= MAX_BACKOFF, "{arrivals:?}");
    }
}
