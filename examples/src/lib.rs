//! Examples of the incident-metrics toolkit; see `examples/README.md`.
