//! The exporter's configuration: how `/metrics` is served and guarded
//! ([`ServerConfig`], [`AuthConfig`]), how the registry is pushed
//! ([`PushConfig`]: [`RemoteWriteConfig`], [`PushgatewayConfig`]) and the
//! TLS of both ([`ClientTlsConfig`], [`ServerTlsConfig`]).
//!
//! Each type is plain, validated data with `with_*` setters, read from TOML
//! (serde: the `[server]` and `[push]` tables of the toolkit's file) and from
//! `INCIDENT_METRICS_*` environment variables (`with_env_vars`), and is the
//! one builder of what it configures: [`Protection::from_config`](crate::Protection::from_config),
//! [`RemoteWriteConfig::register`](crate::RemoteWriteConfig::register),
//! [`Pushgateway::from_config`](crate::Pushgateway::from_config). The
//! facade crate's `Config` composes them with the core's `MetricsConfig`.
//! None of it needs a feature: the types always compile, so that a file
//! naming them parses wherever the toolkit is used.

mod check;
mod push;
mod pushgateway;
mod remote_write;
mod server;
mod tls;

pub use push::{
    MAX_PUSH_INTERVAL_SECONDS, MAX_PUSH_TIMEOUT_SECONDS, MAX_QUEUE_CAPACITY,
    MIN_PUSH_INTERVAL_SECONDS, PushConfig,
};
pub use pushgateway::PushgatewayConfig;
pub use remote_write::RemoteWriteConfig;
pub use server::{
    AuthConfig, Credentials, DEFAULT_MAX_CONCURRENT_SCRAPES, DEFAULT_SCRAPE_TIMEOUT_MS,
    MAX_CONCURRENT_SCRAPES_LIMIT, MAX_SCRAPE_TIMEOUT_MS, Secret, ServerConfig,
};
pub use tls::{ClientTlsConfig, ServerTlsConfig};

use incident_metrics_core::ENV_PREFIX;
use incident_metrics_core::env::{
    deserialize_labels, parse_bool, parse_pairs, vars as process_env,
};

use crate::{Error, Result};

/// Applies the `INCIDENT_METRICS_*` variables of `vars` that `apply` knows
/// (it answers `None` for a name that is not its own), then returns the
/// first error, naming the variable.
fn apply_env<I, K, V>(
    vars: I,
    mut apply: impl FnMut(&str, &str) -> Option<std::result::Result<(), String>>,
) -> Result<()>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    for (key, value) in vars {
        let (key, value) = (key.as_ref(), value.as_ref());
        let Some(name) = key.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if let Some(Err(reason)) = apply(name, value) {
            return Err(Error::InvalidEnv {
                var: key.to_owned(),
                value: value.to_owned(),
                reason,
            });
        }
    }
    Ok(())
}

fn parse_seconds(value: &str) -> std::result::Result<f64, String> {
    value
        .trim()
        .parse()
        .map_err(|e| format!("not a number ({e}); give a number of seconds"))
}

fn parse_size(value: &str) -> std::result::Result<usize, String> {
    value
        .trim()
        .parse()
        .map_err(|e| format!("not a whole number ({e})"))
}
