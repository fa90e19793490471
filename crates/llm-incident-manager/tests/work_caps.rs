//! The caps on work a client can start: at most `llm.max_in_flight` LLM
//! calls at once and at most `limits.max_active_playbooks` playbook runs at
//! once; the rest wait in the durable outbox (counted), and creates never
//! wait for either.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::routing::post;
use common::*;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

/// An OpenAI-compatible stub whose calls wait for a permit of `gate`;
/// counts the calls in progress and the most seen at once.
#[derive(Clone)]
struct Held {
    gate: Arc<Semaphore>,
    now: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
    done: Arc<AtomicUsize>,
}

impl Held {
    fn new() -> Self {
        Self {
            gate: Arc::new(Semaphore::new(0)),
            now: Arc::default(),
            most: Arc::default(),
            done: Arc::default(),
        }
    }

    fn router(&self) -> Router {
        let held = self.clone();
        Router::new().route(
            "/v1/chat/completions",
            post(move |Json(request): Json<Value>| {
                let held = held.clone();
                async move {
                    let n = held.now.fetch_add(1, Ordering::SeqCst) + 1;
                    held.most.fetch_max(n, Ordering::SeqCst);
                    held.gate.acquire().await.unwrap().forget();
                    held.now.fetch_sub(1, Ordering::SeqCst);
                    held.done.fetch_add(1, Ordering::SeqCst);
                    let system = request["messages"][0]["content"].as_str().unwrap_or("");
                    let answer = if system.starts_with("Classify") {
                        "network"
                    } else {
                        "Links are down."
                    };
                    Json(json!({
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}}],
                        "usage": {"prompt_tokens": 20, "completion_tokens": 3, "total_tokens": 23}
                    }))
                }
            }),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llm_calls_in_flight_are_capped_and_creates_do_not_wait_for_them() {
    const INCIDENTS: usize = 8;
    const CAP: usize = 2;
    let held = Held::new();
    let (stub, _guard) = serve_stub(held.router()).await;
    let app = start(config(&format!(
        "[llm]\nprovider = \"openai\"\nbase_url = \"http://{stub}/v1\"\nmodel = \"gpt-4o-mini\"\n\
         stream = false\nmax_in_flight = {CAP}\ntimeout_ms = 60000\n"
    )))
    .await;

    // Every create answers while no LLM call has been let through.
    let mut ids = Vec::new();
    for n in 0..INCIDENTS {
        let created = create(&app, &format!("held {n}"), "low", &format!("src-{n}")).await;
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(held.done.load(Ordering::SeqCst), 0);
    assert!(
        eventually(Duration::from_secs(10), || async {
            held.now.load(Ordering::SeqCst) == CAP
        })
        .await,
        "the first {CAP} calls never started"
    );

    // Let the calls through one at a time: never more than the cap at once.
    let calls = INCIDENTS * 2; // classify, then summarise
    for released in 1..=calls {
        held.gate.add_permits(1);
        assert!(
            eventually(Duration::from_secs(10), || async {
                held.done.load(Ordering::SeqCst) >= released
            })
            .await,
            "call {released} did not finish"
        );
    }
    for id in &ids {
        let incident = analysed(&app, id).await;
        assert_eq!(incident["classification"], "network", "{incident}");
    }
    assert_eq!(held.most.load(Ordering::SeqCst), CAP);
    assert_eq!(held.done.load(Ordering::SeqCst), calls);
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn playbook_runs_are_capped_and_the_excess_waits_counted() {
    const INCIDENTS: usize = 3;
    let app = start(config(
        "[limits]\nmax_active_playbooks = 1\n\
         [[playbooks]]\nname = \"slow\"\nseverities = [\"critical\"]\n\
         steps = [{ type = \"wait\", ms = 700 }, { type = \"annotate\", note = \"done\" }]\n",
    ))
    .await;
    for n in 0..INCIDENTS {
        create(
            &app,
            &format!("capped {n}"),
            "critical",
            &format!("src-{n}"),
        )
        .await;
    }
    // Sampled until every run is done (bounded): never more than one active,
    // and the others seen waiting in `playbooks_pending`.
    let mut most_active = 0.0_f64;
    let mut most_pending = 0.0_f64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let finished = loop {
        let text = scrape(app.http_addr()).await;
        most_active = most_active.max(value(&text, "llm_incident_manager_playbooks_active"));
        most_pending = most_pending.max(value(&text, "llm_incident_manager_playbooks_pending"));
        let done = value(
            &text,
            "llm_incident_manager_playbook_executions_total{playbook=\"slow\",status=\"success\"}",
        );
        if done == INCIDENTS as f64 {
            break true;
        }
        if tokio::time::Instant::now() >= deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(finished, "the playbook runs did not all finish");
    assert_eq!(most_active, 1.0);
    assert!(
        most_pending >= 1.0,
        "no run was seen waiting: {most_pending}"
    );
    let text = scrape(app.http_addr()).await;
    assert_eq!(value(&text, "llm_incident_manager_playbooks_pending"), 0.0);
    app.shutdown().await.unwrap();
}
