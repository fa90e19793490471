//! Starting and stopping the services under load: each a
//! `llm_incident_manager` app in this process, on ephemeral ports.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use incident_metrics::Metrics;
use llm_incident_manager::{App, Config, RunningApp};

use crate::error::LoadgenError;

/// The names of the services' store folders: metrics on, off, and the
/// create-rate service.
pub(crate) const STORE_NAMES: [&str; 3] = ["on", "off", "creates"];

/// A running service under test.
pub(crate) struct Target {
    pub(crate) http: SocketAddr,
    pub(crate) grpc: SocketAddr,
    pub(crate) app: RunningApp,
}

/// The service's configuration for the load: ephemeral ports, no log
/// notifications (one stderr line per incident would measure the
/// terminal), no escalation, no correlation window (repeated fingerprints
/// would otherwise link every incident of a source to every other).
fn service_config(metrics_on: bool, store: &Path) -> Result<Config, LoadgenError> {
    // A TOML basic string: Rust's escaping of a path is a valid one.
    let store = format!("{:?}", store.display().to_string());
    Ok(Config::from_toml_str(&format!(
        r#"
        http_addr = "127.0.0.1:0"
        grpc_addr = "127.0.0.1:0"
        [storage]
        path = {store}
        [metrics]
        enabled = {metrics_on}
        [incidents]
        correlation_window_ms = 0
        [incidents.escalation]
        enabled = false
        [notifications]
        channels = []
        "#
    ))?)
}

/// The folder of one target's file store, under the temporary folder.
fn store_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("loadgen-{}-{name}", std::process::id()))
}

/// Starts a service with metrics on or off; `name` names its store folder.
pub(crate) async fn start_target(
    metrics_on: bool,
    memory: bool,
    name: &str,
) -> Result<Target, LoadgenError> {
    let store = if memory {
        PathBuf::from(llm_incident_manager::storage::MEMORY)
    } else {
        // A fresh file each run.
        let _ = std::fs::remove_dir_all(store_dir(name));
        store_dir(name).join("incidents.db")
    };
    let config = service_config(metrics_on, &store)?;
    let metrics = Metrics::from_config(&config.metrics)?;
    let app = App::new(config, metrics).start().await?;
    Ok(Target {
        http: app.http_addr(),
        grpc: app.grpc_addr(),
        app,
    })
}

/// Stops `target`, waiting at most 15 s for it.
pub(crate) async fn stop_target(target: Target) {
    let _ = tokio::time::timeout(Duration::from_secs(15), target.app.shutdown()).await;
}

/// Removes the file stores of every target of this process.
pub(crate) fn remove_stores() {
    for name in STORE_NAMES {
        let _ = std::fs::remove_dir_all(store_dir(name));
    }
}

/// The size of the targets' SQLite stores (page count × page size).
pub(crate) fn store_bytes(targets: &[&Target]) -> u64 {
    targets
        .iter()
        .filter_map(|t| t.app.manager().storage().size_bytes().ok())
        .map(|b| u64::try_from(b).unwrap_or(0))
        .sum()
}
