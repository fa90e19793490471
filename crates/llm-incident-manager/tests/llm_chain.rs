//! The provider chain (`[[llm.providers]]`) and the LLM families against a
//! local OpenAI-compatible stub on 127.0.0.1 that streams with usage
//! (`stream_options.include_usage`), finish reasons, rate-limit headers and
//! cached-token details, and that can fail (500), stall (no answer) and
//! recover: each family moves by exactly what the stub sent; the chain falls
//! over to the next provider and back after the cool-down; a stalled
//! provider costs at most its timeout per call, and creates never wait.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::convert::Infallible;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use common::*;
use serde_json::{Value, json};

/// How the stub answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Mode {
    /// A streamed (or JSON) answer with usage, finish reason and headers.
    Answer = 0,
    /// `500` with an error body.
    Fail = 1,
    /// Accepts the request and never answers.
    Stall = 2,
}

/// The answer's words, one streamed chunk each.
const CLASSIFY_WORDS: &[&str] = &["net", "work"];
const SUMMARY_WORDS: &[&str] = &["Links ", "are ", "down ", "in ", "eu-west."];
const PROMPT_TOKENS: u64 = 20;
const COMPLETION_TOKENS: u64 = 3;
const CACHED_TOKENS: u64 = 8;

/// A stub whose mode can change while it runs, counting the requests.
#[derive(Clone)]
struct Stub {
    mode: Arc<AtomicU8>,
    requests: Arc<AtomicU64>,
    /// Headers added to every answer (rate limits).
    headers: Arc<Mutex<Vec<(&'static str, String)>>>,
}

impl Stub {
    fn new(mode: Mode) -> Self {
        Self {
            mode: Arc::new(AtomicU8::new(mode as u8)),
            requests: Arc::default(),
            headers: Arc::default(),
        }
    }

    fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }

    fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    fn with_headers(self, headers: &[(&'static str, &str)]) -> Self {
        self.set_headers(headers);
        self
    }

    fn set_headers(&self, headers: &[(&'static str, &str)]) {
        *self.headers.lock().unwrap() =
            headers.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    }

    fn router(&self) -> Router {
        let stub = self.clone();
        Router::new().route(
            "/v1/chat/completions",
            post(move |body: String| {
                let stub = stub.clone();
                async move { stub.answer(&body).await }
            }),
        )
    }

    async fn answer(&self, body: &str) -> Response {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let request: Value = serde_json::from_str(body).unwrap();
        let mode = self.mode.load(Ordering::SeqCst);
        if mode == Mode::Stall as u8 {
            // Never answers within any test's timeout (bounded all the same).
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        if mode == Mode::Fail as u8 {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"error": {"message": "down"}})),
            )
                .into_response();
        }
        let classify = request["messages"][0]["content"]
            .as_str()
            .unwrap_or("")
            .starts_with("Classify");
        let (words, reason) = if classify {
            (CLASSIFY_WORDS, "stop")
        } else {
            (SUMMARY_WORDS, "length")
        };
        let usage = json!({
            "prompt_tokens": PROMPT_TOKENS,
            "completion_tokens": COMPLETION_TOKENS,
            "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
            "prompt_tokens_details": {"cached_tokens": CACHED_TOKENS},
        });
        let mut builder = Response::builder();
        for (name, value) in self.headers.lock().unwrap().iter() {
            builder = builder.header(*name, value);
        }
        if request["stream"] != true {
            return builder
                .header("content-type", "application/json")
                .body(Body::from(
                    json!({
                        "choices": [{"index": 0, "finish_reason": reason,
                                     "message": {"role": "assistant", "content": words.concat()}}],
                        "usage": usage,
                    })
                    .to_string(),
                ))
                .unwrap();
        }
        // What the provider asked for: usage in the last chunk.
        assert_eq!(request["stream_options"]["include_usage"], true);
        let mut events = vec![json!({"choices": [{"index": 0, "delta": {"role": "assistant"}}]})];
        for w in words {
            events.push(json!({"choices": [{"index": 0, "delta": {"content": w}}]}));
        }
        events.push(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}));
        events.push(json!({"choices": [], "usage": usage}));
        let mut frames: Vec<String> = events.iter().map(|e| format!("data: {e}\n\n")).collect();
        frames.push("data: [DONE]\n\n".to_owned());
        let stream = tokio_stream::iter(
            frames
                .into_iter()
                .map(|e| Ok::<_, Infallible>(Bytes::from(e))),
        );
        builder
            .header("content-type", "text/event-stream")
            .body(Body::from_stream(stream))
            .unwrap()
    }
}

fn openai_table(name: &str, addr: std::net::SocketAddr, timeout_ms: u64, extra: &str) -> String {
    format!(
        "[[llm.providers]]\nname = \"{name}\"\nprovider = \"openai\"\n\
         base_url = \"http://{addr}/v1\"\nmodel = \"stub-model\"\napi_key = \"k\"\n\
         timeout_ms = {timeout_ms}\n{extra}"
    )
}

const OFFLINE_TABLE: &str = "[[llm.providers]]\nprovider = \"offline\"\n";

/// One series of the service's namespace.
fn m(text: &str, series: &str) -> f64 {
    value(text, &format!("llm_incident_manager_{series}"))
}

/// Creates an incident and waits until its analysis (both calls) is stored.
async fn create_analysed(app: &llm_incident_manager::RunningApp, title: &str) -> Value {
    let created = create(app, title, "high", "netmon").await;
    let id = created["id"].as_str().unwrap().to_owned();
    let url = format!("{}/api/v1/incidents/{id}", base(app));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, incident) = get_json(&url).await;
        if !incident["summary"].is_null() {
            return incident;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "incident {id} not analysed in 20 s: {incident}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_answers_move_each_family_by_what_the_stub_sent() {
    let stub = Stub::new(Mode::Answer).with_headers(&[
        ("x-ratelimit-remaining-requests", "499"),
        ("x-ratelimit-limit-requests", "500"),
        ("x-ratelimit-remaining-tokens", "149000.5"),
        ("x-ratelimit-limit-tokens", "150000"),
    ]);
    let (addr, _guard) = serve_stub(stub.router()).await;
    let app = start(config(&format!(
        "playbooks = []\n[llm.prices.stub-model]\ninput_per_million = 1000.0\n\
         output_per_million = 2000.0\n{}",
        openai_table("primary", addr, 5_000, "budget_usd = 1.0\n")
    )))
    .await;
    // Before any call: the budget is set, the provider shown healthy.
    let text = scrape(app.http_addr()).await;
    let labels = "provider=\"primary\",model=\"stub-model\"";
    assert_eq!(m(&text, &format!("llm_budget_usd{{{labels}}}")), 1.0);
    assert_eq!(
        m(&text, &format!("llm_budget_remaining_usd{{{labels}}}")),
        1.0
    );
    assert_eq!(sample(&text, &state("primary")), Some(0.0));

    let incident = create_analysed(&app, "links down").await;
    assert_eq!(incident["classification"], "network");
    assert_eq!(incident["summary"], "Links are down in eu-west.");
    assert_eq!(stub.requests(), 2);

    let text = scrape(app.http_addr()).await;
    for op in ["classification", "summarization"] {
        assert_eq!(
            m(
                &text,
                &format!("llm_requests_total{{{labels},operation=\"{op}\"}}")
            ),
            1.0
        );
    }
    assert_eq!(
        m(
            &text,
            &format!("llm_tokens_total{{{labels},type=\"input\"}}")
        ),
        (2 * PROMPT_TOKENS) as f64
    );
    assert_eq!(
        m(
            &text,
            &format!("llm_tokens_total{{{labels},type=\"output\"}}")
        ),
        (2 * COMPLETION_TOKENS) as f64
    );
    assert_eq!(
        m(
            &text,
            &format!("llm_time_to_first_token_seconds_count{{{labels}}}")
        ),
        2.0
    );
    // One gap per streamed chunk after the first: (2 - 1) + (5 - 1).
    let gaps = (CLASSIFY_WORDS.len() - 1 + SUMMARY_WORDS.len() - 1) as f64;
    assert_eq!(
        m(
            &text,
            &format!("llm_inter_token_latency_seconds_count{{{labels}}}")
        ),
        gaps
    );
    // Queued once per analysis (its first call).
    assert_eq!(
        m(
            &text,
            &format!("llm_queue_duration_seconds_count{{{labels}}}")
        ),
        1.0
    );
    for reason in ["stop", "length"] {
        assert_eq!(
            m(
                &text,
                &format!("llm_finish_reasons_total{{{labels},reason=\"{reason}\"}}")
            ),
            1.0,
            "{reason}"
        );
    }
    assert_eq!(
        m(&text, &format!("llm_cache_read_tokens_total{{{labels}}}")),
        (2 * CACHED_TOKENS) as f64
    );
    assert_eq!(
        m(
            &text,
            &format!("llm_request_tokens_sum{{{labels},type=\"cache_read\"}}")
        ),
        (2 * CACHED_TOKENS) as f64
    );
    assert_eq!(
        m(
            &text,
            &format!("llm_request_tokens_count{{{labels},type=\"input\"}}")
        ),
        2.0
    );
    let limits = [("requests", 499.0, 500.0), ("tokens", 149_000.5, 150_000.0)];
    for (kind, remaining, limit) in limits {
        assert_eq!(
            m(
                &text,
                &format!("llm_rate_limit_remaining{{{labels},kind=\"{kind}\"}}")
            ),
            remaining
        );
        assert_eq!(
            m(
                &text,
                &format!("llm_rate_limit_limit{{{labels},kind=\"{kind}\"}}")
            ),
            limit
        );
    }
    assert_eq!(
        sample(
            &text,
            "llm_incident_manager_llm_requests_in_flight{provider=\"primary\"}"
        ),
        Some(0.0)
    );
    assert_eq!(sample(&text, &state("primary")), Some(0.0));
    // 2 × (20 × 1000 + 3 × 2000) / 1e6 spent of the 1.0 budget.
    let remaining = m(&text, &format!("llm_budget_remaining_usd{{{labels}}}"));
    assert!((remaining - (1.0 - 0.052)).abs() < 1e-9, "{remaining}");
    assert!(!text.contains("llm_fallbacks_total{"), "no fallback taken");

    // Headers absent, or not non-negative numbers: the gauges keep their
    // last values.
    stub.set_headers(&[
        ("x-ratelimit-remaining-requests", "-1"),
        ("x-ratelimit-limit-requests", "many"),
        ("x-ratelimit-remaining-tokens", "NaN"),
    ]);
    create_analysed(&app, "links down again").await;
    assert_eq!(stub.requests(), 4);
    let text = scrape(app.http_addr()).await;
    assert_eq!(
        m(
            &text,
            &format!("llm_requests_total{{{labels},operation=\"summarization\"}}")
        ),
        2.0
    );
    for (kind, remaining, limit) in limits {
        assert_eq!(
            m(
                &text,
                &format!("llm_rate_limit_remaining{{{labels},kind=\"{kind}\"}}")
            ),
            remaining
        );
        assert_eq!(
            m(
                &text,
                &format!("llm_rate_limit_limit{{{labels},kind=\"{kind}\"}}")
            ),
            limit
        );
    }
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unstreamed_answers_report_finish_reasons_and_cached_tokens() {
    let stub = Stub::new(Mode::Answer);
    let (addr, _guard) = serve_stub(stub.router()).await;
    let app = start(config(&format!(
        "playbooks = []\n{}",
        openai_table("primary", addr, 5_000, "stream = false\n")
    )))
    .await;
    create_analysed(&app, "links down").await;
    let text = scrape(app.http_addr()).await;
    let labels = "provider=\"primary\",model=\"stub-model\"";
    for reason in ["stop", "length"] {
        assert_eq!(
            m(
                &text,
                &format!("llm_finish_reasons_total{{{labels},reason=\"{reason}\"}}")
            ),
            1.0
        );
    }
    assert_eq!(
        m(&text, &format!("llm_cache_read_tokens_total{{{labels}}}")),
        (2 * CACHED_TOKENS) as f64
    );
    // Not streamed: no first token, no gaps; no headers: no rate-limit series.
    assert_eq!(
        m(
            &text,
            &format!("llm_time_to_first_token_seconds_count{{{labels}}}")
        ),
        0.0
    );
    assert_eq!(
        m(
            &text,
            &format!("llm_inter_token_latency_seconds_count{{{labels}}}")
        ),
        0.0
    );
    assert!(
        !text.contains("llm_rate_limit_remaining{"),
        "no header, no gauge"
    );
    app.shutdown().await.unwrap();
}

/// `llm_provider_state{provider}`, as a series name.
fn state(provider: &str) -> String {
    format!("llm_incident_manager_llm_provider_state{{provider=\"{provider}\"}}")
}

/// `llm_fallbacks_total{from, to, outcome}` of the service.
fn fallbacks(text: &str, from: &str, to: &str, outcome: &str) -> f64 {
    m(
        text,
        &format!("llm_fallbacks_total{{from=\"{from}\",to=\"{to}\",outcome=\"{outcome}\"}}"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fallback_counts_with_the_outcome_of_the_call_it_moved_to() {
    // Two failing providers, then offline; a threshold too high to mark
    // either down.
    let (a, b) = (Stub::new(Mode::Fail), Stub::new(Mode::Fail));
    let (a_addr, _a) = serve_stub(a.router()).await;
    let (b_addr, _b) = serve_stub(b.router()).await;
    let app = start(config(&format!(
        "playbooks = []\n[llm]\nfailure_threshold = 10\n{}{}{OFFLINE_TABLE}",
        openai_table("a", a_addr, 5_000, ""),
        openai_table("b", b_addr, 5_000, ""),
    )))
    .await;
    create_analysed(&app, "links down").await;
    assert_eq!((a.requests(), b.requests()), (2, 2));
    let text = scrape(app.http_addr()).await;
    assert_eq!(fallbacks(&text, "a", "b", "failure"), 2.0);
    assert_eq!(fallbacks(&text, "b", "offline", "success"), 2.0);
    assert_eq!(fallbacks(&text, "a", "offline", "success"), 0.0);
    assert_eq!(sample(&text, &state("a")), Some(1.0), "degraded");
    assert_eq!(sample(&text, &state("b")), Some(1.0), "degraded");
    assert_eq!(sample(&text, &state("offline")), Some(0.0));
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_provider_is_down_a_call_tries_the_one_that_failed_longest_ago() {
    let (a, b) = (Stub::new(Mode::Fail), Stub::new(Mode::Fail));
    let (a_addr, _a) = serve_stub(a.router()).await;
    let (b_addr, _b) = serve_stub(b.router()).await;
    let app = start(config(&format!(
        "playbooks = []\n[llm]\nmax_in_flight = 1\nfailure_threshold = 1\ncooldown_ms = 60000\n{}{}",
        openai_table("a", a_addr, 5_000, ""),
        openai_table("b", b_addr, 5_000, ""),
    )))
    .await;
    let errors = "llm_incident_manager_errors_total{component=\"llm\",error_type=\"server_error\"}";
    // Classification: a fails (down), b fails (down). Summary: both down,
    // a failed longest ago: a alone.
    create(&app, "links down", "high", "netmon").await;
    wait_for_sample(app.http_addr(), errors, 3.0).await;
    assert_eq!((a.requests(), b.requests()), (2, 1));
    // Next analysis: b failed longest ago now, then a.
    create(&app, "links down again", "high", "netmon").await;
    let text = wait_for_sample(app.http_addr(), errors, 5.0).await;
    assert_eq!((a.requests(), b.requests()), (3, 2));
    assert_eq!(
        fallbacks(&text, "a", "b", "failure"),
        1.0,
        "only after a call failed"
    );
    assert_eq!(sample(&text, &state("a")), Some(2.0));
    assert_eq!(sample(&text, &state("b")), Some(2.0));
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_falls_over_to_the_next_provider_and_back_after_the_cooldown() {
    // Threshold 2: the classification's and the summary's failures of the
    // first incident mark `primary` down; a cool-down of 3 s is far longer
    // than the second incident's analysis by the offline provider.
    let stub = Stub::new(Mode::Fail);
    let (addr, _guard) = serve_stub(stub.router()).await;
    let app = start(config(&format!(
        "playbooks = []\n[llm]\ncooldown_ms = 3000\nfailure_threshold = 2\n{}{OFFLINE_TABLE}",
        openai_table("primary", addr, 5_000, "")
    )))
    .await;
    let primary = "provider=\"primary\",model=\"stub-model\"";
    let offline = "provider=\"offline\",model=\"offline-keywords-v1\"";

    // 1. Both calls fail on `primary` (500) and fall over to `offline`.
    let first = create_analysed(&app, "database replica lag").await;
    assert_eq!(first["classification"], "database", "answered by offline");
    assert_eq!(stub.requests(), 2);
    let down_at = Instant::now();
    let text = scrape(app.http_addr()).await;
    assert_eq!(
        m(
            &text,
            &format!("llm_errors_total{{{primary},error_type=\"server_error\"}}")
        ),
        2.0
    );
    assert_eq!(
        m(
            &text,
            &format!("llm_requests_total{{{offline},operation=\"classification\"}}")
        ),
        1.0
    );
    assert_eq!(fallbacks(&text, "primary", "offline", "success"), 2.0);
    assert_eq!(sample(&text, &state("primary")), Some(2.0), "down");
    assert_eq!(sample(&text, &state("offline")), Some(0.0));

    // 2. `primary` is down: skipped, no request reaches it, even though it
    // has recovered meanwhile.
    stub.set(Mode::Answer);
    let second = create_analysed(&app, "dns unreachable").await;
    assert_eq!(second["classification"], "network");
    assert!(
        down_at.elapsed() < Duration::from_millis(3000),
        "the second analysis took past the cool-down; the skip was not observed"
    );
    assert_eq!(stub.requests(), 2, "a provider that is down is skipped");
    let text = scrape(app.http_addr()).await;
    assert_eq!(
        m(
            &text,
            &format!("llm_requests_total{{{offline},operation=\"classification\"}}")
        ),
        2.0
    );
    assert_eq!(
        fallbacks(&text, "primary", "offline", "success"),
        2.0,
        "skipping a provider that is down is no fallback"
    );
    assert_eq!(sample(&text, &state("primary")), Some(2.0), "still down");

    // 3. After the cool-down, the next call tries `primary` again: it
    // answers, it is healthy, and the rest of the chain is not used.
    tokio::time::sleep(Duration::from_millis(3000).saturating_sub(down_at.elapsed())).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let third = create_analysed(&app, "links down").await;
    assert_eq!(third["classification"], "network");
    assert_eq!(third["summary"], "Links are down in eu-west.");
    assert_eq!(stub.requests(), 4, "tried again after the cool-down");
    let text = scrape(app.http_addr()).await;
    assert_eq!(
        m(
            &text,
            &format!("llm_requests_total{{{primary},operation=\"summarization\"}}")
        ),
        2.0
    );
    assert_eq!(
        m(
            &text,
            &format!("llm_requests_total{{{offline},operation=\"summarization\"}}")
        ),
        2.0
    );
    assert_eq!(sample(&text, &state("primary")), Some(0.0), "healthy again");
    assert_eq!(fallbacks(&text, "primary", "offline", "success"), 2.0);
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_provider_costs_at_most_its_timeout_and_creates_never_wait() {
    const TIMEOUT_MS: u64 = 1000;
    let stub = Stub::new(Mode::Stall);
    let (addr, _guard) = serve_stub(stub.router()).await;
    let app = start(config(&format!(
        "playbooks = []\n[llm]\ncooldown_ms = 60000\nfailure_threshold = 2\n{}{OFFLINE_TABLE}",
        openai_table("primary", addr, TIMEOUT_MS, "")
    )))
    .await;
    let primary = "provider=\"primary\",model=\"stub-model\"";

    let begun = Instant::now();
    let created = create(&app, "links down", "high", "netmon").await;
    let create_took = begun.elapsed();
    assert!(created["classification"].is_null());
    let id = created["id"].as_str().unwrap();
    let url = format!("{}/api/v1/incidents/{id}", base(&app));
    assert!(
        eventually(Duration::from_secs(20), || async {
            !get_json(&url).await.1["summary"].is_null()
        })
        .await,
        "never analysed"
    );
    let analysed_took = begun.elapsed();
    eprintln!(
        "stalled primary ({TIMEOUT_MS} ms timeout): create answered in {create_took:?}, \
         analysis (2 calls, each falling over to offline) stored after {analysed_took:?}"
    );
    // The create did not wait for the stalled provider.
    assert!(
        create_took < Duration::from_millis(TIMEOUT_MS),
        "create took {create_took:?}"
    );
    assert_eq!(stub.requests(), 2);

    // Each call to it cost its timeout, not more (the histogram's sum over
    // its count; 250 ms of slack for a loaded machine).
    let text = scrape(app.http_addr()).await;
    let errors = m(
        &text,
        &format!("llm_errors_total{{{primary},error_type=\"timeout\"}}"),
    );
    assert_eq!(errors, 2.0);
    let (mut sum, mut count) = (0.0, 0.0);
    for op in ["classification", "summarization"] {
        sum += m(
            &text,
            &format!("llm_request_duration_seconds_sum{{{primary},operation=\"{op}\"}}"),
        );
        count += m(
            &text,
            &format!("llm_request_duration_seconds_count{{{primary},operation=\"{op}\"}}"),
        );
    }
    assert_eq!(count, 2.0);
    assert_eq!(sample(&text, &state("primary")), Some(2.0), "down");
    assert_eq!(fallbacks(&text, "primary", "offline", "success"), 2.0);
    let per_call = sum / count;
    eprintln!("stalled primary: {per_call:.3} s per call on average");
    assert!(
        per_call >= TIMEOUT_MS as f64 / 1000.0 && per_call < TIMEOUT_MS as f64 / 1000.0 + 0.25,
        "a stalled call cost {per_call} s"
    );

    // Down now (two timeouts): the next analysis skips it and costs nothing.
    let begun = Instant::now();
    create_analysed(&app, "links down again").await;
    let skipped_took = begun.elapsed();
    eprintln!("primary down: the next analysis took {skipped_took:?}");
    assert_eq!(stub.requests(), 2, "skipped while down");
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_time_is_the_wait_in_the_outbox_before_the_first_call() {
    // One analysis at a time; each takes two 500 ms timeouts on the stalled
    // provider (never marked down) before offline answers, so the second
    // incident's analysis waits about a second in the outbox.
    const TIMEOUT_MS: u64 = 500;
    let stub = Stub::new(Mode::Stall);
    let (addr, _guard) = serve_stub(stub.router()).await;
    let app = start(config(&format!(
        "playbooks = []\n[llm]\nmax_in_flight = 1\nfailure_threshold = 100\n{}{OFFLINE_TABLE}",
        openai_table("primary", addr, TIMEOUT_MS, "")
    )))
    .await;
    let first = create(&app, "links down", "high", "netmon").await;
    let second = create(&app, "dns unreachable", "high", "netmon").await;
    for incident in [&first, &second] {
        let url = format!(
            "{}/api/v1/incidents/{}",
            base(&app),
            incident["id"].as_str().unwrap()
        );
        assert!(
            eventually(Duration::from_secs(20), || async {
                !get_json(&url).await.1["summary"].is_null()
            })
            .await,
            "never analysed"
        );
    }
    let text = scrape(app.http_addr()).await;
    let labels = "provider=\"primary\",model=\"stub-model\"";
    assert_eq!(
        m(
            &text,
            &format!("llm_queue_duration_seconds_count{{{labels}}}")
        ),
        2.0,
        "once per analysis, on the provider of its first call"
    );
    let waited = m(
        &text,
        &format!("llm_queue_duration_seconds_sum{{{labels}}}"),
    );
    eprintln!("queue time of two analyses, one at a time: {waited:.3} s in all");
    // The second waited for the first's two timeouts (a lower bound only).
    assert!(
        waited >= 2.0 * TIMEOUT_MS as f64 / 1000.0 - 0.05,
        "queued {waited} s"
    );
    app.shutdown().await.unwrap();
}
