//! The kit's Alertmanager configuration passes `amtool check-config`, routes
//! every alert of the kit's rules to one receiver, and that receiver is a
//! webhook to the service's `/api/v1/alerts/alertmanager` on the address
//! Prometheus scrapes, with `send_resolved: true` and at most 1000 alerts
//! per webhook. The commented `http_config` (bearer token, TLS) stays valid
//! once uncommented.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Command;

use common::*;
use xtask::kit::{self, workspace_root};

/// The service's webhook route (the contract's REST table).
const WEBHOOK_PATH: &str = "/api/v1/alerts/alertmanager";
/// The most alerts the service takes in one webhook.
const SERVICE_MAX_ALERTS: u64 = 1000;

/// amtool, or `None` (outside CI) when it is not installed.
fn amtool() -> Option<PathBuf> {
    incident_metrics_testing::program("amtool", "apt-get install -y prometheus-alertmanager")
}

/// `amtool check-config` on `file`: whether it passed, and its report.
fn check_config(amtool: &std::path::Path, file: &std::path::Path) -> (bool, String) {
    let output = Command::new(amtool)
        .args([OsStr::new("check-config"), file.as_os_str()])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", amtool.display()));
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), report)
}

/// The value of `key: value` on a line (comments and quotes removed).
fn value_of(line: &str, key: &str) -> Option<String> {
    let rest = line
        .trim()
        .trim_start_matches("- ")
        .strip_prefix(key)?
        .strip_prefix(':')?;
    let rest = rest.split(" #").next().unwrap_or_default().trim();
    Some(rest.trim_matches(|c| c == '"' || c == '\'').to_owned())
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The receiver of the top-level route, read line by line (the kit's file
/// keeps to the plain block style; amtool checks the YAML itself).
fn route_receiver(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("route:"))
        .expect("a top-level `route:`");
    lines[start + 1..]
        .iter()
        .take_while(|l| l.trim().is_empty() || l.starts_with(' ') || l.starts_with('#'))
        .filter(|l| indent(l) == 2)
        .find_map(|l| value_of(l, "receiver"))
        .expect("the route names a receiver")
}

/// The uncommented lines of the receiver named `name`, from its `- name:`
/// line to the next receiver or top-level key.
fn receiver_block(text: &str, name: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("receivers:"))
        .expect("a top-level `receivers:`");
    let mut block = Vec::new();
    let mut inside = false;
    for line in &lines[start + 1..] {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if !line.starts_with(' ') {
            break;
        }
        if line.trim_start().starts_with("- name:") && indent(line) == 2 {
            inside = value_of(line, "name").as_deref() == Some(name);
            continue;
        }
        if inside {
            block.push((*line).to_owned());
        }
    }
    assert!(!block.is_empty(), "no receiver named {name}");
    block
}

#[test]
fn amtool_check_config_passes() {
    let Some(amtool) = amtool() else { return };
    let config = workspace_root().join(kit::ALERTMANAGER_CONFIG);
    let report = run_ok(&amtool, &[OsStr::new("check-config"), config.as_os_str()]);
    assert!(report.contains("SUCCESS"), "{report}");
    assert!(report.contains(" - 1 receivers"), "{report}");
}

#[test]
fn amtool_rejects_a_broken_config() {
    // The check above would be worthless if amtool accepted anything: the
    // kit's file with `send_resolved` made a string must fail.
    let Some(amtool) = amtool() else { return };
    let text = read(kit::ALERTMANAGER_CONFIG);
    let broken = text.replace("send_resolved: true", "send_resolved: sometimes");
    assert_ne!(broken, text, "no `send_resolved: true` to break");
    let scratch = Scratch::new("alertmanager-broken");
    let file = scratch.path().join("alertmanager.yml");
    std::fs::write(&file, broken).unwrap();
    let (passed, report) = check_config(&amtool, &file);
    assert!(!passed, "amtool accepted a broken file:\n{report}");
}

#[test]
fn the_route_sends_to_the_services_webhook_with_resolved_alerts() {
    let text = read(kit::ALERTMANAGER_CONFIG);
    let receiver = route_receiver(&text);
    let block = receiver_block(&text, &receiver);
    let keys: Vec<&str> = block
        .iter()
        .filter(|l| indent(l) == 4)
        .map(|l| l.trim().split(':').next().unwrap_or_default())
        .collect();
    assert_eq!(
        keys,
        ["webhook_configs"],
        "receiver {receiver} should be one webhook and nothing else"
    );
    let urls: Vec<String> = block.iter().filter_map(|l| value_of(l, "url")).collect();
    assert_eq!(urls.len(), 1, "receiver {receiver}: {urls:?}");
    let url = &urls[0];
    assert!(
        url.ends_with(WEBHOOK_PATH),
        "receiver {receiver} posts to {url}, not to {WEBHOOK_PATH}"
    );
    // The address Prometheus scrapes (the service's REST port) is the one
    // Alertmanager posts to.
    let scraped = read(kit::PROMETHEUS_CONFIG);
    let host = url
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .split('/')
        .next()
        .unwrap();
    assert!(
        scraped.contains(&format!("\"{host}\"")),
        "{url}: {} does not scrape {host}",
        kit::PROMETHEUS_CONFIG
    );
    let value = |key: &str| {
        block
            .iter()
            .find_map(|l| value_of(l, key))
            .unwrap_or_else(|| panic!("receiver {receiver} sets no {key}"))
    };
    assert_eq!(
        value("send_resolved"),
        "true",
        "resolved alerts must be sent"
    );
    let max_alerts: u64 = value("max_alerts").parse().unwrap();
    assert!(
        (1..=SERVICE_MAX_ALERTS).contains(&max_alerts),
        "max_alerts {max_alerts}: the service takes 1 to {SERVICE_MAX_ALERTS} alerts per webhook"
    );
}

#[test]
fn every_kit_alert_routes_to_the_service() {
    let Some(amtool) = amtool() else { return };
    let text = read(kit::ALERTMANAGER_CONFIG);
    let receiver = route_receiver(&text);
    let config = workspace_root().join(kit::ALERTMANAGER_CONFIG);
    let alerts: Vec<String> = kit::rules(&read(kit::ALERT_RULES))
        .into_iter()
        .filter(|r| r.kind == "alert")
        .map(|r| r.name)
        .collect();
    assert!(alerts.len() >= 10, "{alerts:?}");
    let config_flag = format!("--config.file={}", config.display());
    let verify = format!("--verify.receivers={receiver}");
    for alert in &alerts {
        for severity in ["critical", "warning"] {
            let alertname = format!("alertname={alert}");
            let severity = format!("severity={severity}");
            run_ok(
                &amtool,
                &[
                    OsStr::new("config"),
                    OsStr::new("routes"),
                    OsStr::new("test"),
                    OsStr::new(&config_flag),
                    OsStr::new(&verify),
                    OsStr::new(&alertname),
                    OsStr::new("job=llm-incident-manager"),
                    OsStr::new(&severity),
                ],
            );
        }
    }
}

#[test]
fn the_commented_http_config_is_valid_once_uncommented() {
    let Some(amtool) = amtool() else { return };
    let text = read(kit::ALERTMANAGER_CONFIG);
    let mut uncommented = Vec::new();
    let mut in_block = false;
    let mut found = false;
    for line in text.lines() {
        let body = line.trim_start();
        let pad = &line[..indent(line)];
        if body == "# http_config:" {
            in_block = true;
            found = true;
            uncommented.push(format!("{pad}http_config:"));
            continue;
        }
        if in_block {
            if let Some(rest) = body.strip_prefix("#   ") {
                uncommented.push(format!("{pad}  {rest}"));
                continue;
            }
            in_block = false;
        }
        uncommented.push(line.to_owned());
    }
    assert!(found, "no commented `# http_config:` block");
    let uncommented = uncommented.join("\n");
    for key in [
        "authorization:",
        "type: Bearer",
        "credentials_file:",
        "tls_config:",
    ] {
        assert!(
            uncommented.lines().any(|l| l.trim().starts_with(key)),
            "the uncommented block lacks {key}:\n{uncommented}"
        );
    }
    let scratch = Scratch::new("alertmanager-http-config");
    let file = scratch.path().join("alertmanager.yml");
    std::fs::write(&file, &uncommented).unwrap();
    let (passed, report) = check_config(&amtool, &file);
    assert!(passed, "{report}\n--- uncommented ---\n{uncommented}");
}
