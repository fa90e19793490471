//! The REST API's OpenAPI 3.1 document, served at `/api/v1/openapi.json`,
//! describes every route, and `schemathesis` (a fuzzer no one here wrote,
//! from PyPI) finds nothing wrong with the running binary when it drives
//! the API with that document: no `5xx`, no answer outside the document
//! (statuses, content types, headers, bodies against the schemas), valid
//! requests accepted, invalid ones refused; afterwards the incidents created
//! before the run still read back the same, across a restart too, and the
//! service still serves `/health`.
//!
//! The number of cases per operation is `SCHEMATHESIS_MAX_EXAMPLES` (150
//! by default: about 15 s on two idle cores, under 90 s on a busy CI box);
//! the run is killed after 5 minutes. Without `schemathesis` (or `st`) on
//! `PATH` the fuzzing part is skipped with a notice, unless `CI=true`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

/// What `.ci/run` installs.
const INSTALL: &str = "python3 -m pip install schemathesis==4.32.5";

/// Every route the API port serves, with the metrics endpoint on it.
const ROUTES: [(&str, &str); 9] = [
    ("/api/v1/incidents", "post"),
    ("/api/v1/alerts/alertmanager", "post"),
    ("/api/v1/incidents", "get"),
    ("/api/v1/incidents/{id}", "get"),
    ("/api/v1/incidents/{id}/resolve", "post"),
    ("/api/v1/incidents/{id}/acknowledge", "post"),
    ("/health", "get"),
    ("/metrics", "get"),
    ("/api/v1/openapi.json", "get"),
];

/// The fields no request can change once an incident exists.
const FIXED_FIELDS: [&str; 7] = [
    "id",
    "title",
    "description",
    "severity",
    "source",
    "fingerprint",
    "created_at_ms",
];

fn schemathesis() -> Option<PathBuf> {
    let on_path = |name: &str| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|candidate| candidate.is_file())
        })
    };
    on_path("schemathesis")
        .or_else(|| on_path("st"))
        .or_else(|| incident_metrics_testing::program("schemathesis", INSTALL))
}

fn max_examples() -> u32 {
    std::env::var("SCHEMATHESIS_MAX_EXAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150)
}

fn spawn(db: &Path) -> (ChildGuard, String) {
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
    let http = listening(&lines[0], "http");
    (guard, format!("http://{http}"))
}

/// Stops the binary with SIGTERM; it must exit 0 within 30 s.
fn stop(mut guard: ChildGuard) {
    let status = Command::new("kill")
        .args(["-TERM", &guard.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = guard.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the service did not stop in 30 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "the service exited with {status}");
}

/// Checks that the document is OpenAPI 3.1, names every route, and gives
/// every error status the `{"error": "..."}` shape.
fn check_document(doc: &Value) {
    assert_eq!(doc["openapi"], "3.1.0", "{doc}");
    let paths = doc["paths"].as_object().expect("paths");
    for (path, method) in ROUTES {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is not described"
        );
    }
    let mut described = 0;
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            described += 1;
            let responses = operation["responses"].as_object().unwrap();
            assert!(!responses.is_empty(), "{method} {path}: no responses");
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    if path == "/metrics" {
                        continue; // the exporter answers its errors in text
                    }
                    let schema = &response["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(
                        schema, "#/components/schemas/ErrorBody",
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
    assert_eq!(described, ROUTES.len(), "routes described: {paths:?}");
    let error = &doc["components"]["schemas"]["ErrorBody"];
    assert_eq!(error["required"], json!(["error"]), "{error}");
}

/// Runs schemathesis against `base` with the served document; its output
/// goes to `dir`. Panics with the output's tail when it finds a problem.
fn run_schemathesis(program: &Path, base: &str, dir: &Path) {
    // `413` is how this API refuses a body over `body_limit_bytes` (64 KiB):
    // a rejection like `400` and `422`, which schemathesis does not list by
    // default for schema-violating requests; and a body the schema allows
    // can still be over it in bytes (the schema counts characters: 16 384
    // four-byte characters in a description), which the document says.
    let config = dir.join("schemathesis.toml");
    std::fs::write(
        &config,
        "[checks.negative_data_rejection]\n\
         expected-statuses = [400, 404, 405, 406, 413, 415, 422]\n\
         [checks.positive_data_acceptance]\n\
         expected-statuses = [\"2xx\", \"3xx\", 401, 403, 404, 409, 413, 429, \"5xx\"]\n",
    )
    .unwrap();
    let log = dir.join("schemathesis.log");
    let out = std::fs::File::create(&log).unwrap();
    let mut child = Command::new(program)
        .arg("--config-file")
        .arg(&config)
        .args([
            "run",
            &format!("{base}/api/v1/openapi.json"),
            "--checks",
            "all",
            "--max-examples",
            &max_examples().to_string(),
            "--generation-database",
            "none",
            "--request-timeout",
            "30",
            "--output-truncate",
            "true",
            "--no-color",
        ])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(300);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("schemathesis ran over 5 minutes; see {}", log.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    let summary: String = output
        .lines()
        .filter(|l| !l.trim().is_empty())
        .rev()
        .take(40)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .map(|l| format!("{}\n", l.chars().take(400).collect::<String>()))
        .collect();
    assert!(
        status.success(),
        "schemathesis found problems ({status}):\n{summary}\n(whole output: {})",
        log.display()
    );
    eprintln!(
        "schemathesis passed in {:.0?}:\n{summary}",
        started.elapsed()
    );
}

async fn read_back(base: &str, before: &[Value]) {
    let (status, health) = get_json(&format!("{base}/health")).await;
    assert_eq!(status, 200, "{health}");
    for incident in before {
        let id = incident["id"].as_str().unwrap();
        let (status, now) = get_json(&format!("{base}/api/v1/incidents/{id}")).await;
        assert_eq!(status, 200, "{id}: {now}");
        for field in FIXED_FIELDS {
            assert_eq!(now[field], incident[field], "{id}: {field} changed");
        }
    }
    let (status, list) = get_json(&format!("{base}/api/v1/incidents")).await;
    assert_eq!(status, 200, "{list}");
    let listed: Vec<&str> = list["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["id"].as_str())
        .collect();
    for incident in before {
        assert!(listed.contains(&incident["id"].as_str().unwrap()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_and_the_store_survives() {
    let dir = incident_metrics_testing::scratch_dir("schemathesis");
    let db = dir.join("incidents.db");
    let (guard, base) = spawn(&db);

    let (status, doc) = get_json(&format!("{base}/api/v1/openapi.json")).await;
    assert_eq!(status, 200);
    check_document(&doc);

    // Incidents that exist before the fuzzer comes.
    let mut before = Vec::new();
    for (i, severity) in ["critical", "high", "medium", "low", "info"]
        .iter()
        .cycle()
        .take(20)
        .enumerate()
    {
        let body = json!({
            "title": format!("before the fuzzer {i}"),
            "description": format!("incident {i} with some text: é ✓ \"quoted\""),
            "severity": severity,
            "source": "schemathesis-test",
            "fingerprint": format!("pre-fuzz-{i}-{}", std::process::id()),
        });
        let (status, created) =
            post_json(&format!("{base}/api/v1/incidents"), &body.to_string()).await;
        assert_eq!(status, 201, "{created}");
        before.push(created);
    }

    if let Some(program) = schemathesis() {
        let (program, base_url, work) = (program, base.clone(), dir.clone());
        let run = tokio::task::spawn_blocking(move || run_schemathesis(&program, &base_url, &work));
        if let Err(e) = run.await {
            std::panic::resume_unwind(e.into_panic());
        }
    }

    read_back(&base, &before).await;
    // And from the file, after a clean stop.
    stop(guard);
    let (guard, base) = spawn(&db);
    read_back(&base, &before).await;
    stop(guard);
    let _ = std::fs::remove_dir_all(&dir);
}
