//! The LLM Incident Manager: the reference service of the incident-metrics
//! toolkit, kept to the outside contract in `shared/CONTRACT.md`.
//!
//! It takes incidents over REST (axum) and gRPC (tonic), deduplicates them
//! by fingerprint (or source and title) while open, correlates incidents of
//! one source within a window, escalates unresolved critical and high
//! incidents in the background, stores them in SQLite, has an LLM provider
//! classify and summarise them (offline by default; any OpenAI-compatible
//! API on request), notifies through bounded per-channel queues (`log`,
//! `webhook`), runs configured playbooks, and serves every metric family of
//! the toolkit on `/metrics`.
//!
//! Tests start it in process:
//!
//! ```no_run
//! use incident_metrics::Metrics;
//! use llm_incident_manager::{App, Config};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = Config::default();
//! config.http_addr = "127.0.0.1:0".parse()?;
//! config.grpc_addr = "127.0.0.1:0".parse()?;
//! let metrics = Metrics::from_config(&config.metrics)?;
//! let app = App::new(config, metrics).start().await?;
//! println!("REST on {}", app.http_addr());
//! app.shutdown().await?;
//! # Ok(()) }
//! ```

pub mod api;
pub mod app;
pub mod config;
pub mod domain;
pub mod grpc;
mod http_client;
pub mod llm;
pub mod manager;
mod metrics_endpoint;
pub mod notify;
pub mod outbox;
mod periodic;
pub mod playbook;
pub mod serve;
pub mod storage;
pub mod telemetry;

pub use app::{App, AppError, RunningApp, ShutdownHandle};
pub use config::{Config, ConfigError, Flags};
pub use domain::{Incident, NewIncident, Severity, Status};
pub use manager::IncidentManager;
