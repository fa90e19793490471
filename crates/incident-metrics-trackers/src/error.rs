//! [`Error`], the one error type of this crate.

use std::path::PathBuf;

/// What can go wrong while setting up trackers. Recording never fails.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A price is NaN, infinite or negative.
    #[error("invalid price for model {model:?}: {reason}")]
    InvalidPrice {
        /// The model the price was given for.
        model: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A configuration value is out of range.
    #[error("invalid tracker configuration: {field}: {reason}")]
    InvalidConfig {
        /// The field, as spelt in TOML.
        field: &'static str,
        /// What is wrong with it and what to change.
        reason: String,
    },
    /// An LLM budget is NaN, infinite or negative, or given for a label
    /// pair folded into `other`.
    #[error("invalid budget for provider {provider:?}, model {model:?}: {reason}")]
    InvalidBudget {
        /// The provider the budget was given for.
        provider: String,
        /// The model the budget was given for.
        model: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The TOML text could not be parsed into a configuration.
    #[error("cannot parse tracker configuration: {0}")]
    Toml(#[from] toml::de::Error),
    /// The configuration file could not be read.
    #[error("cannot read tracker configuration {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },
}

/// This crate's `Result`.
pub type Result<T> = std::result::Result<T, Error>;
