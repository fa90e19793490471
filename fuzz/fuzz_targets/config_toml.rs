//! `Config::from_toml_str` (the facade's whole file: recording keys,
//! `[server]`, `[push]`) on arbitrary text: `Ok` with a usable
//! configuration, or an `Err` with a message; never a panic.

#![no_main]

use incident_metrics::Config;
use incident_metrics_core::Registry;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    match Config::from_toml_str(text) {
        Ok(config) => {
            assert!(config.validate().is_ok());
            assert!(Registry::new(config.metrics()).is_ok());
            if let Some(rw) = config.push().remote_write() {
                let _ = (rw.interval(), rw.timeout(), rw.max_backoff(), rw.min_backoff());
                let _ = rw.flush_timeout();
            }
            if let Some(pg) = config.push().pushgateway() {
                let _ = pg.timeout();
            }
            if let Some(auth) = config.server().auth() {
                let _ = auth.validate();
            }
        }
        Err(e) => assert!(!e.to_string().trim().is_empty()),
    }
});
