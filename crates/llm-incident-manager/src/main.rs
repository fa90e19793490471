//! `llm-incident-manager`: starts the service on its embedded defaults, a
//! TOML file (`--config`) and flags, prints the `listening on` lines (two,
//! or three with a metrics listener),
//! and stops cleanly on SIGINT or SIGTERM.

use std::process::ExitCode;

use incident_metrics::catalog::system::BuildInfo;
use llm_incident_manager::{App, Config, Flags};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("llm-incident-manager: {e}");
            ExitCode::FAILURE
        }
    }
}

// `--help` and `--version` answer on stdout, as command-line tools do.
#[allow(clippy::print_stdout)]
async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let flags = Flags::parse(std::env::args().skip(1))?;
    if flags.help {
        print!("{}", llm_incident_manager::config::USAGE);
        return Ok(());
    }
    if flags.version {
        println!("llm-incident-manager {}", env!("CARGO_PKG_VERSION"));
        return Ok(());
    }
    let config = Config::load(&flags)?;
    // Metrics first: every family is registered before anything records.
    let info = BuildInfo::from_build().with_version(env!("CARGO_PKG_VERSION"));
    let metrics = llm_incident_manager::telemetry::metrics(&config.metrics, &info)?;

    let app = App::new(config, metrics).announce(true).start().await?;
    let shutdown = app.shutdown_handle();
    tokio::spawn(async move {
        wait_for_signal().await;
        eprintln!("llm-incident-manager: shutting down");
        shutdown.trigger();
    });
    app.wait().await?;
    Ok(())
}

/// SIGINT (Ctrl-C) or SIGTERM.
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
