//! `Config::with_env_vars` (the facade's, which hands each variable to
//! the recording, server or push part) on arbitrary variables (one `NAME=value`
//! a line, `INCIDENT_METRICS_` prefixed to every name): `Ok` with a usable
//! configuration, or an `Err` with a message; never a panic.

#![no_main]

use incident_metrics::Config;
use incident_metrics_core::Registry;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let vars: Vec<(String, String)> = text
        .lines()
        .map(|line| {
            let (name, value) = line.split_once('=').unwrap_or((line, ""));
            (format!("INCIDENT_METRICS_{name}"), value.to_owned())
        })
        .collect();
    match Config::new().with_env_vars(vars) {
        Ok(config) => {
            assert!(config.validate().is_ok());
            assert!(Registry::new(config.metrics()).is_ok());
            if let Some(rw) = config.push().remote_write() {
                let _ = (rw.interval(), rw.timeout(), rw.max_backoff(), rw.min_backoff());
                let _ = rw.flush_timeout();
            }
        }
        Err(e) => assert!(!e.to_string().trim().is_empty()),
    }
});
