//! Project tasks for the incident-metrics workspace, and the tests of the
//! operator kit under `deploy/`.
//!
//! - `cargo run -p xtask -- metrics-reference` writes `docs/metrics.md` from
//!   the catalog ([`reference`](mod@reference)); `cargo test -p xtask` fails when the
//!   committed file and the catalog disagree, or when a family or label has
//!   no description in [`table`].
//! - The tests under `xtask/tests/` run the real programs on the operator
//!   kit: `promtool check rules` and `promtool test rules` on the rule files,
//!   promtool's PromQL parser on every dashboard query, and (given the
//!   service) Prometheus and VictoriaMetrics scraping the LLM Incident
//!   Manager.
//!
//! This crate is not published and nothing depends on it.

pub mod kit;
pub mod modules;
pub mod promql;
pub mod reference;
pub mod table;

/// The code blocks of `docs/getting-started.md`, compiled as doctests so
/// that the guide cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../docs/getting-started.md")]
pub struct GettingStarted;

/// The code blocks of `docs/security.md`, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/security.md")]
pub struct Security;

/// The code blocks of `docs/exemplars.md`, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/exemplars.md")]
pub struct Exemplars;
