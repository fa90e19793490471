//! VictoriaMetrics (the Debian package) scrapes the service with the kit's
//! own `prometheus.yml` (`-promscrape.config`, unknown sections skipped with
//! `-promscrape.config.strictParse=false`) and its query API reads the same
//! exact counts as Prometheus, and every series the service exposes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod support;

use std::time::Duration;

use support::*;

/// The number of sample lines of a Prometheus text exposition.
fn series_in(exposition: &str) -> usize {
    exposition
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count()
}

#[test]
fn victoriametrics_scrapes_the_kit_config_and_reads_the_same_counts() {
    let Some(program) = incident_metrics_testing::program(
        "victoria-metrics",
        "apt-get install -y victoria-metrics",
    ) else {
        return;
    };
    let service = Service::start();
    let rounds = 3;
    for n in 0..rounds {
        service.round(n);
    }

    let dir = scratch("victoriametrics");
    let config = dir.join("prometheus.yml");
    std::fs::write(&config, kit_config(service.http_addr())).unwrap();
    let addr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let args = vec![
        format!("-promscrape.config={}", config.display()),
        "-promscrape.config.strictParse=false".to_owned(),
        format!("-httpListenAddr={addr}"),
        format!("-storageDataPath={}", dir.join("data").display()),
        // Show the newest samples at once, and never a cached answer.
        "-search.latencyOffset=0s".to_owned(),
        "-search.disableCache".to_owned(),
    ];
    let mut vm = Scraper::spawn(&program, &args, dir, addr);
    vm.wait_ready("/health");

    let up = format!("up{{job=\"{JOB}\"}}");
    eventually(
        Duration::from_secs(60),
        "VictoriaMetrics did not scrape the service",
        || (vm.value(&up) == Some(1.0)).then_some(()),
        || format!("{:?}\n--- log ---\n{}", vm.query(&up), vm.log()),
    );
    for (query, want) in Service::expected_counts(rounds) {
        eventually(
            Duration::from_secs(60),
            &format!("`{query}` did not reach {want}"),
            || (vm.value(&query) == Some(want)).then_some(()),
            || format!("{:?}", vm.query(&query)),
        );
    }

    // Every series of the service's exposition is stored (the background
    // work of the traffic, notifications and playbooks, settles first).
    let stored = "count({__name__=~\"llm_incident_manager_.+\"})";
    eventually(
        Duration::from_secs(60),
        "VictoriaMetrics does not hold every series the service exposes",
        || {
            let want = series_in(&service.scrape()) as f64;
            (vm.value(stored) == Some(want)).then_some(())
        },
        || {
            format!(
                "VictoriaMetrics holds {:?}, the service exposes {}",
                vm.value(stored),
                series_in(&service.scrape())
            )
        },
    );
}
