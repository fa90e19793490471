//! Criterion benches of the incident-metrics toolkit, side by side with the
//! crates users would pick instead; see `benches/benches/`:
//!
//! - `baseline`: the floors (an atomic add, a bucket search and add, clocks);
//! - `counters`, `histograms`: labelled and unlabelled recording, ours
//!   against prometheus-client, prometheus, metrics and measured;
//! - `contention`: two threads on one series and on distinct series;
//! - `http_layer`, `grpc_layer`, `trackers`: per-request and per-pair costs;
//! - `scrape`: encoding 1,000 to 100,000 series in both text formats, gzip too;
//! - `memory`: retained heap per series.
//!
//! `scripts/bench-compare` runs them all in one run and the `bench-report`
//! binary writes `docs/performance.md` from the results.
