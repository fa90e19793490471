//! Examples of the incident-metrics toolkit: `cargo run --example
//! metrics_example`, and [`guide`], the code of `docs/getting-started.md`.

pub mod guide {
    //! Section 3 of `docs/getting-started.md` (the HTTP layer on an axum
    //! router), compiled from the guide itself: `build.rs` copies the block
    //! that follows the guide's marker comment, so that
    //! `tests/getting_started.rs` runs exactly what the guide shows.

    include!(concat!(env!("OUT_DIR"), "/guide.rs"));
}
