//! The OpenAI-compatible provider caps every answer body at
//! `llm.max_response_bytes`: against a local stub that streams up to 1 GiB
//! (an event stream, a JSON answer, an error answer, or one that declares a
//! 1 GiB `Content-Length`), each call fails within 1 s of the stub passing
//! the bound, the stub stops when the client hangs up, the process's
//! resident memory grows by less than 20 MiB, and the service counts the
//! failures as `error_type="response_too_large"`.
//!
//! One test function, so that no other test in this binary allocates while
//! the resident set is measured.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::response::Response;
use axum::routing::post;
use common::*;
use llm_incident_manager::config::{LlmConfig, ProviderConfig};
use llm_incident_manager::llm::{LlmError, LlmProvider, LlmRequest, OpenAiProvider, Task};

/// What the stub streams at most.
const GIB: u64 = 1 << 30;
/// The bound under test: the default, 4 MiB.
const CAP: u64 = LlmConfig::DEFAULT_MAX_RESPONSE_BYTES;
const CHUNK: usize = 64 * 1024;
const MIB: u64 = 1 << 20;

/// What the stub saw of one answer.
#[derive(Default)]
struct Run {
    /// Bytes handed to the server so far.
    sent: AtomicU64,
    /// When the bytes handed out first passed [`CAP`].
    passed_cap: Mutex<Option<Instant>>,
    /// Whether the server dropped the stream (the client hung up or it
    /// ended).
    stopped: AtomicBool,
}

/// Counts what the stream hands out and notes when it is dropped.
struct Streamer {
    run: Arc<Run>,
    chunk: Bytes,
}

impl Drop for Streamer {
    fn drop(&mut self) {
        self.run.stopped.store(true, Ordering::SeqCst);
    }
}

/// An answer body of 1 GiB: `prefix`, then `chunk` repeated.
fn endless(run: Arc<Run>, prefix: &'static str, chunk: Bytes) -> Body {
    let streamer = Streamer { run, chunk };
    let head = futures_util::stream::once(async move { Ok::<_, Infallible>(Bytes::from(prefix)) });
    let tail = futures_util::stream::unfold(streamer, |streamer| async move {
        let sent = streamer
            .run
            .sent
            .fetch_add(streamer.chunk.len() as u64, Ordering::SeqCst)
            + streamer.chunk.len() as u64;
        if sent > GIB {
            return None;
        }
        if sent > CAP {
            streamer
                .run
                .passed_cap
                .lock()
                .unwrap()
                .get_or_insert_with(Instant::now);
        }
        let chunk = streamer.chunk.clone();
        Some((Ok::<_, Infallible>(chunk), streamer))
    });
    Body::from_stream(futures_util::StreamExt::chain(head, tail))
}

/// The stub: `/{mode}/v1/chat/completions` answers by `mode`; each answer's
/// run is kept in `runs`.
fn stub(runs: Arc<Mutex<Vec<Arc<Run>>>>) -> Router {
    let sse_chunk = {
        let event = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}\n\n";
        let mut chunk = event.repeat(CHUNK / event.len());
        chunk.truncate(CHUNK);
        // Whole events only.
        let whole = chunk.rfind("\n\n").map_or(0, |i| i + 2);
        chunk.truncate(whole);
        Bytes::from(chunk)
    };
    let filler = Bytes::from(vec![b' '; CHUNK]);
    Router::new().route(
        "/{mode}/v1/chat/completions",
        post(move |Path(mode): Path<String>| {
            let run = Arc::new(Run::default());
            runs.lock().unwrap().push(Arc::clone(&run));
            let (sse_chunk, filler) = (sse_chunk.clone(), filler.clone());
            async move {
                let builder = Response::builder();
                match mode.as_str() {
                    "sse" => builder
                        .header("content-type", "text/event-stream")
                        .body(endless(run, "", sse_chunk)),
                    "json" => builder
                        .header("content-type", "application/json")
                        .body(endless(run, "{\"choices\": [", filler)),
                    "error" => builder.status(503).body(endless(run, "overloaded", filler)),
                    // A declared length past the cap: nothing need be read.
                    _ => builder
                        .header("content-type", "application/json")
                        .header("content-length", GIB.to_string())
                        .body(endless(run, "", filler)),
                }
                .unwrap()
            }
        }),
    )
}

/// The process's resident set and its peak so far, in bytes.
fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .unwrap_or_else(|| panic!("no {name} in /proc/self/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn provider(addr: std::net::SocketAddr, mode: &str, stream: bool) -> OpenAiProvider {
    let mut config = ProviderConfig::default();
    config.base_url = format!("http://{addr}/{mode}/v1");
    config.model = "stub-model".to_owned();
    config.stream = stream;
    OpenAiProvider::new(&config)
}

/// Waits (bounded) for the stub to stop streaming `run`.
async fn wait_stopped(run: &Run, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !run.stopped.load(Ordering::SeqCst) {
        assert!(
            Instant::now() < deadline,
            "{what}: the stub is still streaming 10 s after the call failed ({} MiB sent)",
            run.sent.load(Ordering::SeqCst) / MIB
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_body_is_capped() {
    let runs = Arc::new(Mutex::new(Vec::new()));
    let (addr, _stub) = serve_stub(stub(Arc::clone(&runs))).await;
    let request = LlmRequest::new(Task::Classify, "links down");

    // Warm up the runtime, the client and the tokenizer before measuring.
    let _ = provider(addr, "declared", false)
        .complete(&request, &mut || {})
        .await;
    let _ = llm_incident_manager::llm::count_tokens("warm up");
    let (rss_before, hwm_before) = rss();

    for (mode, stream) in [("sse", true), ("json", false), ("error", true)] {
        let provider = provider(addr, mode, stream);
        let result = provider.complete(&request, &mut || {}).await;
        let failed_at = Instant::now();
        let run = Arc::clone(runs.lock().unwrap().last().unwrap());
        wait_stopped(&run, mode).await;
        let sent = run.sent.load(Ordering::SeqCst);
        match mode {
            "error" => {
                // Only the start of an error body is read: the call fails
                // with the status, long before the cap.
                let Err(LlmError::Status { status, body }) = &result else {
                    panic!("error: {result:?}");
                };
                assert_eq!(*status, 503);
                assert!(
                    body.len() <= 512 && body.starts_with("overloaded"),
                    "{body}"
                );
                assert!(sent < GIB / 4, "error: the stub sent {} MiB", sent / MIB);
            }
            _ => {
                assert!(
                    matches!(result, Err(LlmError::ResponseTooLarge { limit: CAP })),
                    "{mode}: {result:?}"
                );
                let passed = run
                    .passed_cap
                    .lock()
                    .unwrap()
                    .expect("the stub passed the cap");
                let late = failed_at.saturating_duration_since(passed);
                assert!(
                    late < Duration::from_secs(1),
                    "{mode}: the call failed {late:?} after the stub passed the cap"
                );
                // The kernel's socket buffers hold a few MiB at most.
                assert!(
                    sent < CAP + 64 * MIB,
                    "{mode}: the stub sent {} MiB before the client hung up",
                    sent / MIB
                );
                eprintln!(
                    "{mode}: failed {late:?} after the stub passed {} MiB; the stub sent {} MiB in all",
                    CAP / MIB,
                    sent / MIB
                );
            }
        }
    }
    // A declared `Content-Length` past the cap fails before the body is read.
    let result = provider(addr, "declared", false)
        .complete(&request, &mut || {})
        .await;
    assert!(
        matches!(result, Err(LlmError::ResponseTooLarge { limit: CAP })),
        "declared: {result:?}"
    );

    let (rss_after, hwm_after) = rss();
    let (grew, peak_grew) = (
        rss_after.saturating_sub(rss_before),
        hwm_after.saturating_sub(hwm_before),
    );
    eprintln!(
        "VmRSS {} KiB -> {} KiB (+{} KiB), VmHWM {} KiB -> {} KiB (+{} KiB)",
        rss_before / 1024,
        rss_after / 1024,
        grew / 1024,
        hwm_before / 1024,
        hwm_after / 1024,
        peak_grew / 1024
    );
    assert!(grew < 20 * MIB, "VmRSS grew by {} KiB", grew / 1024);
    assert!(
        peak_grew < 20 * MIB,
        "VmHWM (peak RSS) grew by {} KiB",
        peak_grew / 1024
    );

    // Through the service: both analysis calls of a create fail as
    // `response_too_large`, are counted, and the incident is still created.
    let app = start(config(&format!(
        "playbooks = []\n[llm]\nprovider = \"openai\"\nbase_url = \"http://{addr}/sse/v1\"\n\
         model = \"stub-model\"\nmax_response_bytes = 65536\n"
    )))
    .await;
    let incident = create(&app, "links down", "high", "netmon").await;
    assert!(incident["classification"].is_null(), "{incident}");
    // The analysis runs after the answer, from the outbox.
    let text = wait_for_sample(
        app.http_addr(),
        "llm_incident_manager_llm_errors_total{provider=\"openai\",model=\"stub-model\",error_type=\"response_too_large\"}",
        2.0,
    )
    .await;
    assert_eq!(
        value(
            &text,
            "llm_incident_manager_errors_total{component=\"llm\",error_type=\"response_too_large\"}"
        ),
        2.0
    );
    app.shutdown().await.unwrap();
}
