//! What an answered incident owes is carried out by the outbox's workers,
//! never by the request: a client that hangs up and a gRPC deadline that
//! passes lose no page; acknowledge and the on-call times; a full store
//! answers `507` / `RESOURCE_EXHAUSTED`, keeps serving reads, and takes
//! creates again once room is freed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use common::*;
use llm_incident_manager::grpc::pb;
use serde_json::json;
use tokio::io::AsyncWriteExt;

/// A receiver for webhooks (`/hook`) and playbook calls (`/step`), and an
/// OpenAI-compatible endpoint that holds each call for `llm_delay`.
fn receiver(seen: &Seen, llm_delay: Duration) -> Router {
    recorder(seen, &["/hook", "/step"]).route(
        "/v1/chat/completions",
        post(move || async move {
            tokio::time::sleep(llm_delay).await;
            axum::Json(json!({
                "choices": [{"message": {"role": "assistant", "content": "network"}}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1}
            }))
        }),
    )
}

fn owed_config(addr: std::net::SocketAddr) -> String {
    format!(
        r#"
        [llm]
        provider = "openai"
        base_url = "http://{addr}/v1"
        stream = false
        timeout_ms = 5000

        [notifications]
        channels = ["webhook"]
        [notifications.webhook]
        url = "http://{addr}/hook"
        initial_backoff_ms = 20

        [[playbooks]]
        name = "page"
        severities = ["critical"]
        steps = [{{ type = "http", url = "http://{addr}/step" }}]
        "#
    )
}

/// Waits (10 s at most) until the receiver has seen a `created` webhook and
/// a playbook call for the incident titled `title`.
async fn owed_work_arrives(seen: &Seen, title: &str) {
    let ok = eventually(Duration::from_secs(10), || {
        let seen = seen.clone();
        let title = title.to_owned();
        async move {
            let all = seen.all();
            let hook = all.iter().any(|(path, key, body)| {
                path == "/hook"
                    && body["title"] == title.as_str()
                    && body["event"] == "created"
                    && key.ends_with(":created:webhook")
            });
            let step = all
                .iter()
                .any(|(path, _, body)| path == "/step" && body["title"] == title.as_str());
            hook && step
        }
    })
    .await;
    assert!(
        ok,
        "no created webhook and playbook call for {title:?}: {:?}",
        seen.all()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_owed_even_when_the_client_goes_away() {
    let seen = Seen::default();
    // Each LLM call takes 2 s: the analysis must not hold anything up.
    let (addr, _stub) = serve_stub(receiver(&seen, Duration::from_secs(2))).await;
    let app = start(config(&owed_config(addr))).await;

    // A REST create whose client hangs up right after sending it.
    let body = json!({"title": "hung up", "severity": "critical", "source": "rest"}).to_string();
    let mut client = tokio::net::TcpStream::connect(app.http_addr())
        .await
        .unwrap();
    client
        .write_all(
            format!(
                "POST /api/v1/incidents HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    drop(client);

    // A gRPC create with a 100 ms deadline.
    let mut grpc = grpc_client(app.grpc_addr()).await;
    let mut request = tonic::Request::new(pb::CreateIncidentRequest {
        title: "short deadline".to_owned(),
        description: String::new(),
        severity: pb::Severity::Critical.into(),
        source: "grpc".to_owned(),
        fingerprint: String::new(),
    });
    request.set_timeout(Duration::from_millis(100));
    let answered = grpc.create_incident(request).await;
    // Answered OK well within the deadline: nothing waits for the LLM.
    assert!(answered.is_ok(), "{answered:?}");

    owed_work_arrives(&seen, "hung up").await;
    owed_work_arrives(&seen, "short deadline").await;
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledge_stops_escalation_and_times_the_response() {
    let app = start(config(
        "[incidents.escalation]\ndelays_ms = [1000]\nseverities = [\"critical\"]\n",
    ))
    .await;
    let base = base(&app);
    let a = create(&app, "paged", "critical", "ack-a").await;
    let b = create(&app, "left alone", "critical", "ack-b").await;
    let a_id = a["id"].as_str().unwrap();
    let b_id = b["id"].as_str().unwrap();

    let url = |id: &str, what: &str| format!("{base}/api/v1/incidents/{id}/{what}");
    let (status, acked) = post_json(&url(a_id, "acknowledge"), "").await;
    assert_eq!(status, StatusCode::OK, "{acked}");
    assert_eq!(acked["status"], "acknowledged");
    assert!(acked["acknowledged_at_ms"].as_i64().unwrap() >= a["created_at_ms"].as_i64().unwrap());
    // Again: unchanged.
    let (status, again) = post_json(&url(a_id, "acknowledge"), "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, acked);
    let (status, _) = post_json(&url("no-such-id", "acknowledge"), "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Past the delay only the unacknowledged one escalates.
    let t = b["created_at_ms"]
        .as_i64()
        .unwrap()
        .max(a["created_at_ms"].as_i64().unwrap());
    let taken = app.manager().escalate_due(t + 1500).await.unwrap();
    assert_eq!(taken, 1);
    let (_, got) = get_json(&format!("{base}/api/v1/incidents/{a_id}")).await;
    assert_eq!(got["escalation_level"], 0);
    let (_, got) = get_json(&format!("{base}/api/v1/incidents/{b_id}")).await;
    assert_eq!(got["escalation_level"], 1);

    // Resolved: acknowledging is refused, REST and gRPC alike.
    let (status, _) = post_json(&url(a_id, "resolve"), "").await;
    assert_eq!(status, StatusCode::OK);
    let (status, refused) = post_json(&url(a_id, "acknowledge"), "").await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert!(refused["error"].as_str().unwrap().contains("resolved"));
    let mut grpc = grpc_client(app.grpc_addr()).await;
    let err = grpc
        .acknowledge_incident(pb::AcknowledgeIncidentRequest {
            id: a_id.to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    let err = grpc
        .acknowledge_incident(pb::AcknowledgeIncidentRequest {
            id: "nope".to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    let acked = grpc
        .acknowledge_incident(pb::AcknowledgeIncidentRequest {
            id: b_id.to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(acked.status(), pb::Status::Acknowledged);

    let text = scrape(app.http_addr()).await;
    let m = |s: &str| value(&text, &format!("llm_incident_manager_{s}"));
    assert_eq!(
        m("incidents_total{severity=\"critical\",status=\"acknowledged\"}"),
        2.0
    );
    assert_eq!(
        m("incidents_total{severity=\"critical\",status=\"resolved\"}"),
        1.0
    );
    assert_eq!(
        m("incident_time_to_acknowledge_seconds_count{severity=\"critical\",source=\"api\"}"),
        2.0
    );
    assert_eq!(
        m("incident_time_to_resolve_seconds_count{severity=\"critical\",source=\"api\"}"),
        1.0
    );
    // Acknowledged is still active; resolved is not.
    assert_eq!(m("incidents_active{severity=\"critical\"}"), 1.0);

    // The list filters by the new status.
    let (_, list) = get_json(&format!("{base}/api/v1/incidents?status=acknowledged")).await;
    let ids: Vec<&str> = list["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![b_id]);
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_store_answers_507_keeps_reads_and_recovers_once_room_is_freed() {
    let app = start(config(
        "playbooks = []\n[storage]\nmax_size_bytes = 262144\n[incidents]\nmax_correlated = 0\n",
    ))
    .await;
    let base = base(&app);
    let description = "d".repeat(8000);
    let mut stored = Vec::new();
    let mut full = None;
    for n in 0..200 {
        let body = json!({
            "title": format!("filler {n}"),
            "description": description,
            "severity": "low",
            "source": format!("fill-{n}"),
        });
        let (status, answer) =
            post_json(&format!("{base}/api/v1/incidents"), &body.to_string()).await;
        if status == StatusCode::CREATED {
            stored.push(answer);
        } else {
            full = Some((status, answer));
            break;
        }
    }
    let (status, answer) = full.expect("the store never filled");
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE, "{answer}");
    let message = answer["error"].as_str().unwrap();
    assert!(message.contains("store is full"), "{message}");
    assert!(message.contains("storage.max_size_bytes"), "{message}");
    assert!(!message.to_lowercase().contains("sqlite"), "{message}");
    assert!(stored.len() > 5, "{}", stored.len());

    // gRPC says the same.
    let mut grpc = grpc_client(app.grpc_addr()).await;
    let err = grpc
        .create_incident(pb::CreateIncidentRequest {
            title: "one more".to_owned(),
            description: description.clone(),
            severity: pb::Severity::Low.into(),
            source: "grpc-fill".to_owned(),
            fingerprint: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");

    // Counted, as an error and as failed storage operations.
    let text = scrape(app.http_addr()).await;
    assert!(
        value(
            &text,
            "llm_incident_manager_errors_total{component=\"storage\",error_type=\"full\"}"
        ) >= 2.0
    );

    // Reads keep working, and resolving still works (its reserve).
    let (status, _) = get_json(&format!("{base}/api/v1/incidents?limit=5")).await;
    assert_eq!(status, StatusCode::OK);
    let half = stored.len() / 2;
    for incident in &stored[..half] {
        let id = incident["id"].as_str().unwrap();
        let (status, _) = post_json(&format!("{base}/api/v1/incidents/{id}/resolve"), "").await;
        assert_eq!(status, StatusCode::OK);
    }
    // Retention prunes them (as the periodic runner would a month later),
    // and creates succeed again.
    let later = stored[0]["created_at_ms"].as_i64().unwrap() + 31 * 86_400_000;
    let pruned = app.manager().prune(later).await.unwrap();
    assert_eq!(pruned, u64::try_from(half).unwrap());
    let body = json!({"title": "after the prune", "severity": "low", "source": "again", "description": description});
    let (status, answer) = post_json(&format!("{base}/api/v1/incidents"), &body.to_string()).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    // Nothing stored before was damaged.
    for incident in &stored[half..] {
        let id = incident["id"].as_str().unwrap();
        let (status, got) = get_json(&format!("{base}/api/v1/incidents/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(got["description"].as_str().unwrap().len(), 8000);
    }
    let text = scrape(app.http_addr()).await;
    assert_eq!(
        value(&text, "llm_incident_manager_incidents_pruned_total"),
        f64::from(u32::try_from(half).unwrap())
    );
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_stored_caps_the_incidents() {
    let app = start(config("playbooks = []\n[incidents]\nmax_stored = 3\n")).await;
    for n in 0..3 {
        create(&app, &format!("kept {n}"), "info", &format!("cap-{n}")).await;
    }
    let body = json!({"title": "one too many", "severity": "info", "source": "cap-x"});
    let (status, answer) = post_json(
        &format!("{}/api/v1/incidents", base(&app)),
        &body.to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("incidents.max_stored = 3")
    );
    let text = scrape(app.http_addr()).await;
    assert_eq!(
        value(
            &text,
            "llm_incident_manager_errors_total{component=\"storage\",error_type=\"max_stored\"}"
        ),
        1.0
    );
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_are_pages_with_a_cursor() {
    let app = start(config("playbooks = []\n[incidents]\nmax_correlated = 0\n")).await;
    let base = base(&app);
    let mut want = Vec::new();
    for n in 0..7 {
        let created = create(&app, &format!("page {n}"), "info", &format!("page-{n}")).await;
        want.push(created["id"].as_str().unwrap().to_owned());
    }
    let mut got = Vec::new();
    let mut pages = 0;
    let mut url = format!("{base}/api/v1/incidents?limit=3");
    loop {
        let (status, page) = get_json(&url).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        got.extend(
            page["incidents"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => url = format!("{base}/api/v1/incidents?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(got, want);
    assert_eq!(pages, 3);
    let mut bad = BTreeMap::new();
    for query in [
        "limit=0",
        "limit=1001",
        "limit=x",
        "cursor=nope",
        "status=closed",
    ] {
        let (status, answer) = get_json(&format!("{base}/api/v1/incidents?{query}")).await;
        bad.insert(query, (status, answer["error"].is_string()));
    }
    for (query, (status, has_error)) in bad {
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert!(has_error, "{query}");
    }

    // gRPC pages the same way.
    let mut grpc = grpc_client(app.grpc_addr()).await;
    let mut got = Vec::new();
    let mut token = String::new();
    loop {
        let page = grpc
            .list_incidents(pb::ListIncidentsRequest {
                page_size: 4,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        got.extend(page.incidents.into_iter().map(|i| i.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(got, want);
    let err = grpc
        .list_incidents(pb::ListIncidentsRequest {
            page_token: "garbage".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    app.shutdown().await.unwrap();
}
