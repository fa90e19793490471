//! The loop closed with the programs from Debian: the service, a real
//! Prometheus that scrapes it and evaluates the shipped rule files, and a
//! real Alertmanager (`prometheus-alertmanager`) on the shipped
//! configuration, routing to the service's webhook.
//!
//! The test drives the condition of a shipped alert,
//! `LlmIncidentManagerCriticalIncidentsActive` (more than 3 critical
//! incidents open), with its `for:` shortened in the test's own copy of
//! `deploy/prometheus/alert_rules.yml` and Alertmanager's timers shortened
//! in its copy of `deploy/alertmanager/alertmanager.yml`. It asserts that
//! the alert's incident appears with the mapped severity and title within
//! 60 s, that Alertmanager's repeat notifications fold into it rather than
//! open a second one, and that once the condition clears the incident is
//! resolved and `incident_time_to_resolve_seconds` has one more
//! observation.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use http::Method;
use incident_metrics_testing::{free_port, program, scratch_dir};
use serde_json::Value;

const ALERT: &str = "LlmIncidentManagerCriticalIncidentsActive";
const PREFIX: &str = "llm_incident_manager_";

/// A program of the loop; killed when the test ends. Its output goes to a
/// file whose tail a failure prints.
struct Program {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Program {
    fn spawn(name: &'static str, binary: &Path, args: &[String], dir: &Path) -> Self {
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(binary)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        Self { name, child, log }
    }

    fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(15);
        format!(
            "--- {} ({}) ---\n{}",
            self.name,
            self.log.display(),
            lines[from..].join("\n")
        )
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn deploy(path: &str) -> String {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(path);
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// `text` with `from` replaced by `to`, which must occur exactly once (the
/// shipped file changed shape otherwise: say so rather than test something
/// else).
fn replace_once(text: &str, what: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "{what}: expected exactly one {from:?} to replace"
    );
    text.replacen(from, to, 1)
}

/// The shipped alert rules with the `for:` of [`ALERT`] shortened to 1 s.
fn alert_rules() -> String {
    let rules = deploy("prometheus/alert_rules.yml");
    let start = rules
        .find(&format!("- alert: {ALERT}\n"))
        .unwrap_or_else(|| panic!("{ALERT} is not in deploy/prometheus/alert_rules.yml"));
    let end = rules[start + 1..]
        .find("- alert: ")
        .map_or(rules.len(), |i| start + 1 + i);
    let block = &rules[start..end];
    let for_line = block
        .lines()
        .find(|l| l.trim_start().starts_with("for: "))
        .unwrap_or_else(|| panic!("{ALERT} has no `for:`"));
    let shortened = block.replacen(for_line, "        for: 1s", 1);
    format!("{}{shortened}{}", &rules[..start], &rules[end..])
}

/// Every incident of [`ALERT`] (REST list, one page of up to 1000).
async fn alert_incidents(base: &str) -> Vec<Value> {
    let (_, list) = get_json(&format!("{base}/api/v1/incidents?limit=1000")).await;
    list["incidents"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|i| i["origin"] == "alertmanager" && i["labels"]["alertname"] == ALERT)
        .collect()
}

async fn ttr_count(app: &llm_incident_manager::RunningApp) -> f64 {
    let text = scrape(app.http_addr()).await;
    value(
        &text,
        &format!(
            "{PREFIX}incident_time_to_resolve_seconds_count{{severity=\"critical\",source=\"alertmanager\"}}"
        ),
    )
}

/// Polls `check` every 250 ms for at most `limit`; on time out, fails with
/// `what` and the programs' logs.
async fn wait_until<F, Fut, T>(
    limit: Duration,
    what: &str,
    programs: &[&Program],
    mut check: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        if Instant::now() >= deadline {
            let logs: Vec<String> = programs.iter().map(|p| p.tail()).collect();
            panic!("{what} within {limit:?}\n{}", logs.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shipped_alert_opens_folds_and_resolves_one_incident_through_alertmanager() {
    let Some(prometheus_bin) = program("prometheus", "apt-get install -y prometheus") else {
        return;
    };
    let Some(alertmanager_bin) = program(
        "prometheus-alertmanager",
        "apt-get install -y prometheus-alertmanager",
    ) else {
        return;
    };
    let app = start(config("")).await;
    let base = base(&app);
    let dir = scratch_dir("lim-alert-loop");

    // Alertmanager on the shipped configuration, pointed at this service,
    // with its timers in seconds rather than minutes and hours.
    let am = deploy("alertmanager/alertmanager.yml");
    let am = replace_once(
        &am,
        "alertmanager.yml",
        "http://127.0.0.1:8080/api/v1/alerts/alertmanager",
        &format!("http://{}/api/v1/alerts/alertmanager", app.http_addr()),
    );
    let am = replace_once(&am, "alertmanager.yml", "group_wait: 30s", "group_wait: 1s");
    let am = replace_once(
        &am,
        "alertmanager.yml",
        "group_interval: 5m",
        "group_interval: 1s",
    );
    let am = replace_once(
        &am,
        "alertmanager.yml",
        "repeat_interval: 4h",
        "repeat_interval: 2s",
    );
    std::fs::write(dir.join("alertmanager.yml"), am).unwrap();
    let am_addr = format!("127.0.0.1:{}", free_port());
    let alertmanager = Program::spawn(
        "alertmanager",
        &alertmanager_bin,
        &[
            format!("--config.file={}", dir.join("alertmanager.yml").display()),
            format!("--storage.path={}", dir.join("am-data").display()),
            format!("--web.listen-address={am_addr}"),
            "--cluster.listen-address=".to_owned(),
        ],
        &dir,
    );

    // Prometheus on the shipped rule files (the alert's `for:` shortened),
    // scraping the service and evaluating every second, sending to
    // Alertmanager.
    std::fs::write(
        dir.join("recording_rules.yml"),
        deploy("prometheus/recording_rules.yml"),
    )
    .unwrap();
    std::fs::write(dir.join("alert_rules.yml"), alert_rules()).unwrap();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - recording_rules.yml\n  - alert_rules.yml\n\
             alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{am_addr}']\n\
             scrape_configs:\n  - job_name: llm-incident-manager\n    metrics_path: /metrics\n\
             \x20   static_configs:\n      - targets: ['{}']\n",
            app.http_addr()
        ),
    )
    .unwrap();
    let prom_addr = format!("127.0.0.1:{}", free_port());
    let prometheus = Program::spawn(
        "prometheus",
        &prometheus_bin,
        &[
            format!("--config.file={}", dir.join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", dir.join("prom-data").display()),
            format!("--web.listen-address={prom_addr}"),
            // Re-send firing alerts to Alertmanager every second (1 m by
            // default), so that its view of them stays fresh.
            "--rules.alert.resend-delay=1s".to_owned(),
        ],
        &dir,
    );
    let programs = [&prometheus, &alertmanager];
    assert_eq!(ttr_count(&app).await, 0.0);

    // The condition: four critical incidents open (the threshold is 3).
    let started = Instant::now();
    let mut api_ids = Vec::new();
    for n in 0..4 {
        let created = create(&app, &format!("loop test {n}"), "critical", "loop-test").await;
        api_ids.push(created["id"].as_str().unwrap().to_owned());
    }

    // The alert's incident appears, mapped from the shipped rule's labels.
    let incident = wait_until(
        Duration::from_secs(60),
        "no incident of the alert",
        &programs,
        || async { alert_incidents(&base).await.into_iter().next() },
    )
    .await;
    let opened_after = started.elapsed();
    assert_eq!(incident["severity"], "critical", "{incident}");
    assert_eq!(incident["source"], "alertmanager");
    let title = incident["title"].as_str().unwrap();
    assert!(
        title.starts_with(&format!("{ALERT}: ")) && title.ends_with("critical incidents are open"),
        "{title}"
    );
    assert_eq!(incident["labels"]["job"], "llm-incident-manager");
    assert!(
        incident["generator_url"]
            .as_str()
            .unwrap()
            .contains(&prom_addr.replace("127.0.0.1", "")),
        "{incident}"
    );
    let id = incident["id"].as_str().unwrap().to_owned();

    // Alertmanager's repeat notifications (every 2 s here) fold into it.
    let folded = wait_until(
        Duration::from_secs(30),
        "no repeat notification folded into the alert's incident",
        &programs,
        || async {
            let (_, i) = get_json(&format!("{base}/api/v1/incidents/{id}")).await;
            (i["duplicate_count"].as_u64().unwrap_or(0) >= 2).then_some(i)
        },
    )
    .await;
    assert_eq!(folded["status"], "open");
    assert_eq!(
        alert_incidents(&base).await.len(),
        1,
        "a second incident opened"
    );

    // The condition clears: the four are resolved; the alert resolves, and
    // Alertmanager's resolved notification resolves its incident.
    for api_id in &api_ids {
        let (status, _, _) = request(
            Method::POST,
            &format!("{base}/api/v1/incidents/{api_id}/resolve"),
            Some(""),
            &[],
        )
        .await;
        assert!(status.is_success());
    }
    let cleared = Instant::now();
    wait_until(
        Duration::from_secs(60),
        "the alert's incident was not resolved",
        &programs,
        || async {
            let (_, i) = get_json(&format!("{base}/api/v1/incidents/{id}")).await;
            (i["status"] == "resolved").then_some(())
        },
    )
    .await;
    let resolved_after = cleared.elapsed();
    assert_eq!(ttr_count(&app).await, 1.0);
    let incidents = alert_incidents(&base).await;
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    let text = scrape(app.http_addr()).await;
    assert!(
        value(
            &text,
            &format!(
                "{PREFIX}alerts_received_total{{receiver=\"llm-incident-manager\",status=\"firing\"}}"
            )
        ) >= 3.0
    );
    assert!(
        value(
            &text,
            &format!(
                "{PREFIX}alerts_received_total{{receiver=\"llm-incident-manager\",status=\"resolved\"}}"
            )
        ) >= 1.0
    );
    eprintln!(
        "the alert's incident opened {opened_after:.1?} after the condition began, folded {} \
         repeats, and was resolved {resolved_after:.1?} after the condition cleared",
        folded["duplicate_count"]
    );
    app.shutdown().await.unwrap();
}
