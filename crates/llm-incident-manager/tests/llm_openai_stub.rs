//! The OpenAI-compatible provider against a local stub that speaks the chat
//! completions API (streamed and not): tokens, cost from the price table,
//! time to first token, and errors by kind.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use common::*;
use serde_json::{Value, json};

/// The `Authorization` header and JSON body of one request.
type SeenRequest = (Option<String>, Value);

#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<SeenRequest>>>);

fn stub(seen: Seen, fail_with: Option<StatusCode>) -> Router {
    Router::new().route(
        "/v1/chat/completions",
        post(move |headers: HeaderMap, body: String| {
            let seen = seen.clone();
            async move {
                let request: Value = serde_json::from_str(&body).unwrap();
                let auth = headers
                    .get("authorization")
                    .map(|v| v.to_str().unwrap().to_owned());
                seen.0.lock().unwrap().push((auth, request.clone()));
                if let Some(status) = fail_with {
                    return (status, Json(json!({"error": {"message": "slow down"}}))).into_response();
                }
                let system = request["messages"][0]["content"].as_str().unwrap_or("");
                let answer = if system.starts_with("Classify") {
                    "network"
                } else {
                    "Links are down in eu-west."
                };
                if request["stream"] == true {
                    let words: Vec<String> = answer
                        .split_inclusive(' ')
                        .map(str::to_owned)
                        .collect();
                    let mut events = vec![format!(
                        "data: {}\n\n",
                        json!({"choices": [{"index": 0, "delta": {"role": "assistant"}}]})
                    )];
                    for w in words {
                        events.push(format!(
                            "data: {}\n\n",
                            json!({"choices": [{"index": 0, "delta": {"content": w}}]})
                        ));
                    }
                    events.push(format!(
                        "data: {}\n\n",
                        json!({"choices": [], "usage": {"prompt_tokens": 20, "completion_tokens": 3, "total_tokens": 23}})
                    ));
                    events.push("data: [DONE]\n\n".to_owned());
                    let stream = tokio_stream::iter(
                        events.into_iter().map(|e| Ok::<_, Infallible>(Bytes::from(e))),
                    );
                    Response::builder()
                        .header("content-type", "text/event-stream")
                        .body(Body::from_stream(stream))
                        .unwrap()
                } else {
                    Json(json!({
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}}],
                        "usage": {"prompt_tokens": 20, "completion_tokens": 3, "total_tokens": 23}
                    }))
                    .into_response()
                }
            }
        }),
    )
}

use axum::Json;

fn llm_config(addr: std::net::SocketAddr, stream: bool) -> String {
    format!(
        "playbooks = []\n[llm]\nprovider = \"openai\"\nbase_url = \"http://{addr}/v1\"\n\
         model = \"stub-model\"\napi_key = \"test-key\"\nstream = {stream}\n\
         [llm.prices.stub-model]\ninput_per_million = 1000.0\noutput_per_million = 2000.0\n"
    )
}

const LABELS: &str = "provider=\"openai\",model=\"stub-model\"";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_calls_count_tokens_cost_and_time_to_first_token() {
    let seen = Seen::default();
    let (addr, _stub) = serve_stub(stub(seen.clone(), None)).await;
    let app = start(config(&llm_config(addr, true))).await;
    let created = create(&app, "links down", "high", "netmon").await;
    // The analysis is the outbox worker's, after the answer.
    let incident = analysed(&app, created["id"].as_str().unwrap()).await;
    assert_eq!(incident["classification"], "network");
    assert_eq!(incident["summary"], "Links are down in eu-west.");

    let requests = seen.0.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    for (auth, body) in &requests {
        assert_eq!(auth.as_deref(), Some("Bearer test-key"));
        assert_eq!(body["model"], "stub-model");
        assert_eq!(body["stream"], true);
        assert!(
            body["messages"][1]["content"]
                .as_str()
                .unwrap()
                .contains("links down")
        );
    }

    let text = scrape(app.http_addr()).await;
    let m = |s: &str| value(&text, &format!("llm_incident_manager_{s}"));
    assert_eq!(
        m(&format!(
            "llm_requests_total{{{LABELS},operation=\"classification\"}}"
        )),
        1.0
    );
    assert_eq!(
        m(&format!(
            "llm_requests_total{{{LABELS},operation=\"summarization\"}}"
        )),
        1.0
    );
    assert_eq!(
        m(&format!("llm_tokens_total{{{LABELS},type=\"input\"}}")),
        40.0
    );
    assert_eq!(
        m(&format!("llm_tokens_total{{{LABELS},type=\"output\"}}")),
        6.0
    );
    // 2 × (20 × 1.0 + 3 × 2.0) / 1000
    let cost = m(&format!("llm_cost_usd_total{{{LABELS}}}"));
    assert!((cost - 0.052).abs() < 1e-9, "cost {cost}");
    assert_eq!(
        m(&format!(
            "llm_time_to_first_token_seconds_count{{{LABELS}}}"
        )),
        2.0
    );
    assert_eq!(
        m(&format!(
            "llm_errors_total{{{LABELS},error_type=\"rate_limited\"}}"
        )),
        0.0
    );
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unstreamed_calls_use_the_reported_usage() {
    let seen = Seen::default();
    let (addr, _stub) = serve_stub(stub(seen.clone(), None)).await;
    let app = start(config(&llm_config(addr, false))).await;
    let created = create(&app, "links down", "high", "netmon").await;
    let incident = analysed(&app, created["id"].as_str().unwrap()).await;
    assert_eq!(incident["classification"], "network");
    let text = scrape(app.http_addr()).await;
    let m = |s: &str| value(&text, &format!("llm_incident_manager_{s}"));
    assert_eq!(
        m(&format!("llm_tokens_total{{{LABELS},type=\"input\"}}")),
        40.0
    );
    assert_eq!(
        m(&format!(
            "llm_time_to_first_token_seconds_count{{{LABELS}}}"
        )),
        0.0
    );
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_errors_are_counted_by_kind_and_do_not_fail_the_incident() {
    let seen = Seen::default();
    let (addr, _stub) = serve_stub(stub(seen.clone(), Some(StatusCode::TOO_MANY_REQUESTS))).await;
    let app = start(config(&llm_config(addr, true))).await;
    let incident = create(&app, "links down", "high", "netmon").await;
    assert!(incident["classification"].is_null());
    // Both calls of the analysis fail; the incident is kept without it.
    let text = wait_for_sample(
        app.http_addr(),
        &format!("llm_incident_manager_llm_errors_total{{{LABELS},error_type=\"rate_limited\"}}"),
        2.0,
    )
    .await;
    let m = |s: &str| value(&text, &format!("llm_incident_manager_{s}"));
    assert_eq!(
        m(&format!(
            "llm_errors_total{{{LABELS},error_type=\"rate_limited\"}}"
        )),
        2.0
    );
    assert_eq!(
        m(&format!(
            "llm_requests_total{{{LABELS},operation=\"classification\"}}"
        )),
        1.0
    );
    assert_eq!(
        m("errors_total{component=\"llm\",error_type=\"rate_limited\"}"),
        2.0
    );
    drop(_stub);
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_provider_is_a_network_error() {
    // Bind and drop a listener: nothing listens on that port any more.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let app = start(config(&llm_config(addr, true))).await;
    create(&app, "links down", "high", "netmon").await;
    // The analysis is the outbox worker's, after the create answered.
    let series =
        format!("llm_incident_manager_llm_errors_total{{{LABELS},error_type=\"network\"}}");
    let text = wait_for_sample(app.http_addr(), &series, 2.0).await;
    assert_eq!(value(&text, &series), 2.0);
    app.shutdown().await.unwrap();
}
