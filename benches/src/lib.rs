//! Criterion benches of the incident-metrics toolkit; see `benches/benches/`.
