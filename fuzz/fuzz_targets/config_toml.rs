//! `MetricsConfig::from_toml_str` on arbitrary text: `Ok` with a usable
//! configuration, or an `Err` with a message; never a panic.

#![no_main]

use incident_metrics_core::{MetricsConfig, Registry};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    match MetricsConfig::from_toml_str(text) {
        Ok(config) => {
            assert!(config.validate().is_ok());
            assert!(Registry::new(&config).is_ok());
            if let Some(rw) = config.push().remote_write() {
                let _ = (rw.interval(), rw.timeout(), rw.max_backoff());
            }
            if let Some(pg) = config.push().pushgateway() {
                let _ = pg.timeout();
            }
        }
        Err(e) => assert!(!e.to_string().trim().is_empty()),
    }
});
