//! `loadgen` itself: its quick mode passes every check and prints every
//! section of the report (`scripts/bench-compare` and `bench-report` read
//! them), and a bad flag exits 2 with what to change.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Runs `loadgen` with `args`, killed after `limit`.
fn run_loadgen(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "loadgen still running after {limit:?}; stdout:\n{}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn quick_run_passes_its_checks_and_prints_every_section() {
    let dir = std::env::temp_dir().join(format!("loadgen-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json_path = dir.join("results.json");
    let out = run_loadgen(
        &["--quick", "--json", json_path.to_str().unwrap()],
        Duration::from_secs(120),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "loadgen failed ({:?})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    for section in [
        "== loadgen ==",
        "== throughput and latency ==",
        "metrics on ",
        "metrics off ",
        "== metrics overhead ==",
        "throughput ratio on/off = ",
        "== scrape under load ==",
        "scrape latency (OpenMetrics, gzip): p50 ",
        "== create rate ==",
        " creates/s: ",
        "== checks ==",
        "ok   service counters equal the client's counts; gauges back to 0",
        "ok   no client request failed on the metrics-off service",
        "ok   metrics-off service serves no /metrics: /metrics answered 404",
        "ok   resident memory within bound",
        "ok   scrape p99 under load within bound",
        "ok   request p99 with a 10/s scrape loop within bound",
        "ok   every create of the create-rate phase answered 201",
        "loadgen: all checks passed",
    ] {
        assert!(stdout.contains(section), "no {section:?} in:\n{stdout}");
    }
    assert!(!stdout.contains("FAIL"), "{stdout}");

    let json: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(json["ok"], Value::Bool(true));
    assert_eq!(json["options"]["quick"], Value::Bool(true));
    assert_eq!(json["options"]["rounds"], 1);
    assert_eq!(json["options"]["concurrency"], 4);
    let checks = json["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 7);
    let created = json["create_rate"]["created"].as_u64().unwrap();
    assert!(created > 0, "no incident created in the create-rate phase");
    assert!(json["create_rate"]["creates_per_second"].as_f64().unwrap() > 0.0);
    assert!(checks.iter().all(|c| c["ok"] == Value::Bool(true)));
    for mode in ["metrics_on", "metrics_off"] {
        for proto in ["http", "grpc"] {
            let requests = json[mode][proto]["requests"].as_u64().unwrap();
            assert!(requests > 0, "{mode} {proto}: no requests");
        }
        assert_eq!(json[mode]["rps_phases"].as_array().unwrap().len(), 1);
    }
    // One round: the median of the rounds' ratios is that round's ratio,
    // which is also the ratio of the medians.
    let ratio = json["throughput_ratio"].as_f64().unwrap();
    let on = json["metrics_on"]["rps_median"].as_f64().unwrap();
    let off = json["metrics_off"]["rps_median"].as_f64().unwrap();
    assert!((ratio - on / off).abs() < 1e-9);
    assert!((json["throughput_ratio_of_medians"].as_f64().unwrap() - on / off).abs() < 1e-9);
    let overhead = json["overhead_percent"].as_f64().unwrap();
    assert!((overhead - (1.0 - ratio) * 100.0).abs() < 1e-9);
    assert!(json["scrape_under_load"]["scrapes"].as_u64().unwrap() > 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_flags_exit_2_with_what_to_change() {
    let out = run_loadgen(&["--concurrency", "1"], Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--concurrency wants a whole number from 2 to 1024, not \"1\""),
        "{stderr}"
    );
    let out = run_loadgen(&["--nope"], Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(2));
    let out = run_loadgen(&["--help"], Duration::from_secs(30));
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--duration SECS",
        "--concurrency N",
        "--rounds N",
        "--warmup SECS",
        "--json PATH",
        "--quick",
        "--memory-store",
    ] {
        assert!(help.contains(flag), "{flag} not in --help:\n{help}");
    }
}
