//! `POST /api/v1/alerts/alertmanager` against the running service: a firing
//! alert opens an incident with the mapped severity, title, labels and
//! generator URL; Alertmanager's re-sends fold into it; the resolved alert
//! resolves it; the answer survives a restart; bad payloads answer `400`
//! naming the field, `401` without the token, `413` past the bounds; and
//! the alert and on-call families count it all.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use http::{Method, StatusCode};
use serde_json::{Value, json};

const PREFIX: &str = "llm_incident_manager_";

fn webhook(status: &str, alerts: Value, truncated: u64) -> String {
    json!({
        "version": "4",
        "groupKey": "{}:{alertname=\"ApiDown\"}",
        "truncatedAlerts": truncated,
        "status": status,
        "receiver": "oncall",
        "groupLabels": {"alertname": "ApiDown"},
        "commonLabels": {"alertname": "ApiDown", "severity": "critical"},
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093",
        "alerts": alerts,
    })
    .to_string()
}

fn alert(status: &str) -> Value {
    json!({
        "status": status,
        "labels": {"alertname": "ApiDown", "severity": "critical", "job": "api", "instance": "a:1"},
        "annotations": {"summary": "The API is down", "description": "No answer for 5 minutes."},
        "startsAt": "2026-12-03T08:00:00Z",
        "endsAt": if status == "resolved" { "2026-12-03T08:10:00Z" } else { "0001-01-01T00:00:00Z" },
        "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=up+%3D%3D+0",
        "fingerprint": "c0ffee0123456789"
    })
}

async fn post(app_base: &str, body: &str, headers: &[(&str, &str)]) -> (StatusCode, Value) {
    let (status, _, body) = request(
        Method::POST,
        &format!("{app_base}/api/v1/alerts/alertmanager"),
        Some(body),
        headers,
    )
    .await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn m(series: &str) -> String {
    format!("{PREFIX}{series}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_open_fold_and_resolve_one_incident_and_are_counted() {
    let config = config("");
    let store = config.storage.path.clone();
    let app = start(config).await;
    let base = base(&app);

    // Firing: one incident, mapped.
    let (status, answer) = post(&base, &webhook("firing", json!([alert("firing")]), 0), &[]).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["received"], 1);
    let id = answer["opened"][0].as_str().unwrap().to_owned();
    let (_, incident) = get_json(&format!("{base}/api/v1/incidents/{id}")).await;
    assert_eq!(incident["severity"], "critical");
    assert_eq!(incident["title"], "ApiDown: The API is down");
    assert_eq!(incident["description"], "No answer for 5 minutes.");
    assert_eq!(incident["source"], "alertmanager");
    assert_eq!(incident["origin"], "alertmanager");
    assert_eq!(incident["fingerprint"], "c0ffee0123456789");
    assert_eq!(incident["labels"]["instance"], "a:1");
    assert_eq!(
        incident["generator_url"],
        "http://127.0.0.1:9090/graph?g0.expr=up+%3D%3D+0"
    );

    // Alertmanager's re-sends (and repeat notifications) fold into it.
    for _ in 0..3 {
        let (status, answer) =
            post(&base, &webhook("firing", json!([alert("firing")]), 0), &[]).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["deduplicated"][0], id.as_str());
        assert_eq!(answer["opened"], json!([]));
    }
    // An API incident with the same fingerprint is not the alert's.
    let api =
        json!({"title": "t", "severity": "low", "source": "s", "fingerprint": "c0ffee0123456789"});
    let (status, created) = post_json(&format!("{base}/api/v1/incidents"), &api.to_string()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["origin"], "api");

    // Resolved: the incident resolves; resolving twice changes nothing.
    for round in 0..2 {
        let (status, answer) = post(
            &base,
            &webhook("resolved", json!([alert("resolved")]), 0),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        if round == 0 {
            assert_eq!(answer["resolved"][0], id.as_str());
        } else {
            assert_eq!(answer["resolved"], json!([]));
        }
    }
    let (_, incident) = get_json(&format!("{base}/api/v1/incidents/{id}")).await;
    assert_eq!(incident["status"], "resolved");
    assert_eq!(incident["duplicate_count"], 3);

    // A webhook whose alerts Alertmanager truncated is counted.
    let (status, _) = post(&base, &webhook("firing", json!([]), 4), &[]).await;
    assert_eq!(status, StatusCode::OK);

    let text = scrape(app.http_addr()).await;
    let v = |series: &str| value(&text, &m(series));
    assert_eq!(
        v(r#"alerts_received_total{receiver="oncall",status="firing"}"#),
        4.0
    );
    assert_eq!(
        v(r#"alerts_received_total{receiver="oncall",status="resolved"}"#),
        2.0
    );
    assert_eq!(v(r#"alerts_truncated_total{receiver="oncall"}"#), 4.0);
    assert_eq!(
        v(r#"incidents_opened_total{severity="critical",source="alertmanager"}"#),
        1.0
    );
    assert_eq!(
        v(r#"incidents_opened_total{severity="low",source="api"}"#),
        1.0
    );
    assert_eq!(
        v(r#"incidents_active_by_source{source="alertmanager"}"#),
        0.0
    );
    assert_eq!(v(r#"incidents_active_by_source{source="api"}"#), 1.0);
    assert_eq!(
        v(r#"incident_time_to_resolve_seconds_count{severity="critical",source="alertmanager"}"#),
        1.0
    );
    assert_eq!(v("incidents_deduplicated_total"), 3.0);

    // Answered is stored: after a restart on the same file, the incident is
    // there with its labels, and the gauges are rebuilt by source.
    app.shutdown().await.unwrap();
    let mut again = common::config("");
    again.storage.path = store;
    let app = start(again).await;
    let base = common::base(&app);
    let (_, incident) = get_json(&format!("{base}/api/v1/incidents/{id}")).await;
    assert_eq!(incident["labels"]["job"], "api");
    assert_eq!(incident["origin"], "alertmanager");
    let text = scrape(app.http_addr()).await;
    assert_eq!(
        value(&text, &m(r#"incidents_active_by_source{source="api"}"#)),
        1.0
    );
    // Firing again after the resolve opens a new incident.
    let (_, answer) = post(&base, &webhook("firing", json!([alert("firing")]), 0), &[]).await;
    assert_ne!(answer["opened"][0], id.as_str());
    assert_eq!(answer["opened"].as_array().unwrap().len(), 1);
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_payloads_name_the_field_and_the_bounds_hold() {
    let dir = incident_metrics_testing::scratch_dir("am-token");
    let token_file = dir.join("token");
    std::fs::write(&token_file, "s3cret-token\n").unwrap();
    let app = start(config(&format!(
        "[alertmanager]\nbearer_token_file = {:?}\nmax_alerts = 2\nbody_limit_bytes = 4096\n",
        token_file.display().to_string()
    )))
    .await;
    let base = base(&app);
    let auth = [("authorization", "Bearer s3cret-token")];
    let one = webhook("firing", json!([alert("firing")]), 0);

    // 401 without the token or with another; WWW-Authenticate says Bearer.
    let (status, headers, _) = request(
        Method::POST,
        &format!("{base}/api/v1/alerts/alertmanager"),
        Some(&one),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let (status, _) = post(&base, &one, &[("authorization", "Bearer wrong")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, answer) = post(&base, &one, &auth).await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    // 400 naming the field.
    for (body, field) in [
        ("not json".to_owned(), "body"),
        (
            json!({"version": "4", "receiver": "r", "status": "firing"}).to_string(),
            "alerts",
        ),
        (
            webhook("firing", json!([{"status": "pending", "labels": {}}]), 0),
            "alerts[0].status",
        ),
        (
            webhook(
                "firing",
                json!([{"status": "firing", "labels": {"a": 1}}]),
                0,
            ),
            "alerts[0].labels.a",
        ),
        (
            json!({"version": "2", "receiver": "r", "status": "firing", "alerts": []}).to_string(),
            "version",
        ),
    ] {
        let (status, answer) = post(&base, &body, &auth).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        let message = answer["error"].as_str().unwrap();
        assert!(message.starts_with(&format!("{field}:")), "{message}");
    }

    // 413 past max_alerts, and past the route's body limit.
    let three = webhook(
        "firing",
        json!([alert("firing"), alert("firing"), alert("firing")]),
        0,
    );
    let (status, answer) = post(&base, &three, &auth).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("max_alerts"));
    let mut big = alert("firing");
    big["annotations"]["description"] = Value::from("x".repeat(8192));
    let (status, _) = post(&base, &webhook("firing", json!([big]), 0), &auth).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    // Nothing of the refused webhooks was stored: one incident only.
    let (_, list) = get_json(&format!("{base}/api/v1/incidents")).await;
    assert_eq!(list["incidents"].as_array().unwrap().len(), 1, "{list}");
    app.shutdown().await.unwrap();
}

#[test]
fn a_token_file_that_cannot_be_read_is_refused_by_validate() {
    let e = llm_incident_manager::Config::from_toml_str(
        "[alertmanager]\nbearer_token_file = \"/nonexistent/alertmanager-token\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("alertmanager.bearer_token_file"), "{e}");
}

/// A webhook of one firing alert with fingerprint `n`.
fn numbered(n: usize) -> String {
    let mut one = alert("firing");
    one["fingerprint"] = Value::from(format!("{n:016x}"));
    one["labels"]["instance"] = Value::from(format!("host-{n}"));
    webhook("firing", json!([one]), 0)
}

/// The real binary on a real file store, SIGKILLed while Alertmanager's
/// webhooks arrive: every answered alert's incident is there after the
/// restart, and Alertmanager's re-send of every webhook (answered or cut)
/// leaves exactly one incident per alert.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_webhooks_arrive_loses_no_answered_alert() {
    let dir = incident_metrics_testing::scratch_dir("am-crash");
    let db = dir.join("incidents.db");
    let start_binary = || {
        let (guard, lines) = spawn_binary(
            &[
                "--http-addr",
                "127.0.0.1:0",
                "--grpc-addr",
                "127.0.0.1:0",
                "--db",
                db.to_str().unwrap(),
            ],
            &[],
            2,
        );
        (guard, listening(&lines[0], "http"))
    };
    let (mut guard, http) = start_binary();
    let base = format!("http://{http}");

    // Webhooks one after another (at most 2000) until the kill cuts them.
    let poster = tokio::spawn({
        let base = base.clone();
        async move {
            let mut answered = Vec::new();
            for n in 0..2000 {
                let url = format!("{base}/api/v1/alerts/alertmanager");
                let request = http::Request::post(&url)
                    .header("content-type", "application/json")
                    .body(http_body_util::Full::new(bytes::Bytes::from(numbered(n))))
                    .unwrap();
                let Ok(Ok(response)) = tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    client().request(request),
                )
                .await
                else {
                    break; // killed
                };
                if response.status() != StatusCode::OK {
                    break;
                }
                answered.push(n);
            }
            answered
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    // SIGKILL, by the child's pid.
    guard.0.kill().unwrap();
    guard.0.wait().unwrap();
    let answered = poster.await.unwrap();
    assert!(
        !answered.is_empty(),
        "no webhook was answered before the kill"
    );
    let posted = answered.len() + 1; // the one the kill may have cut

    let (_guard, http) = start_binary();
    let base = format!("http://{http}");
    let fingerprints = |list: &Value| -> Vec<String> {
        list["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["origin"] == "alertmanager")
            .map(|i| i["fingerprint"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, list) = get_json(&format!("{base}/api/v1/incidents?limit=1000")).await;
    let stored = fingerprints(&list);
    // The gauges are rebuilt from the store, by source.
    let (_, _, text) = request(Method::GET, &format!("{base}/metrics"), None, &[]).await;
    let text = String::from_utf8(text.to_vec()).unwrap();
    assert_eq!(
        value(
            &text,
            &m(r#"incidents_active_by_source{source="alertmanager"}"#)
        ),
        stored.len() as f64
    );
    assert_eq!(
        value(&text, &m(r#"incidents_active{severity="critical"}"#)),
        stored.len() as f64
    );
    for n in &answered {
        assert!(
            stored.contains(&format!("{n:016x}")),
            "alert {n} was answered 200 and is not stored"
        );
    }
    // Alertmanager sends every webhook again: nothing opens twice.
    for n in 0..posted {
        let (status, answer) = post(&base, &numbered(n), &[]).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        if answered.contains(&n) {
            assert_eq!(
                answer["opened"],
                json!([]),
                "alert {n} opened again: {answer}"
            );
        }
    }
    let (_, list) = get_json(&format!("{base}/api/v1/incidents?limit=1000")).await;
    let mut stored = fingerprints(&list);
    let all = stored.len();
    stored.sort();
    stored.dedup();
    assert_eq!(stored.len(), all, "an alert has two incidents");
    assert_eq!(all, posted);
    eprintln!(
        "{} webhooks answered before the SIGKILL, all stored; {posted} re-sent, one incident each",
        answered.len()
    );
}
