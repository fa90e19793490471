//! [`TrackerConfig`]: label limits and LLM prices.

use std::collections::BTreeMap;
use std::path::Path;

use crate::price::{PriceTable, RawPrice};
use crate::{Error, Result};

/// The largest limit of distinct values one label may be given.
pub const MAX_LABEL_VALUES: usize = 1024;

/// The largest number of label combinations one handle cache may hold (the
/// product of its labels' limits, each plus one for `other`).
pub const MAX_COMBINATIONS: usize = 65_536;

/// Limits on the open labels the trackers record, and the LLM price table.
///
/// Every open label (a string from outside: provider, model, playbook,
/// channel, backend, component, error type, alert receiver) has a limit of distinct values;
/// values past it are folded into `other` and counted in
/// `label_values_folded_total{label}`.
///
/// # Examples
///
/// ```
/// use incident_metrics_trackers::{ModelPrice, TrackerConfig};
///
/// let config = TrackerConfig::from_toml_str(
///     r#"
///     max_models = 16
///     [prices]
///     "in-house-7b" = { input = 0.1, output = 0.2 }
///     "#,
/// )?;
/// assert_eq!(config.max_models, 16);
/// assert_eq!(config.max_providers, 8); // default
/// assert_eq!(config.prices.get("in-house-7b"), Some(ModelPrice::new(0.1, 0.2)?));
/// assert!(config.prices.get("gpt-4o").is_some()); // built-in prices stay
/// # Ok::<(), incident_metrics_trackers::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct TrackerConfig {
    /// Distinct LLM providers (label `llm_provider`); default 8.
    pub max_providers: usize,
    /// Distinct LLM models (label `llm_model`); default 32.
    pub max_models: usize,
    /// Distinct playbooks (label `playbook`); default 64.
    pub max_playbooks: usize,
    /// Distinct notification channels (label `notification_channel`); default 16.
    pub max_channels: usize,
    /// Distinct storage backends (label `storage_backend`); default 8.
    pub max_backends: usize,
    /// Distinct components of `errors_total` (label `error_component`); default 16.
    pub max_components: usize,
    /// Distinct error types of `errors_total` (label `error_type`); default 32.
    pub max_error_types: usize,
    /// Distinct Alertmanager receivers of `alerts_received_total` (label
    /// `alert_receiver`); default 16.
    pub max_receivers: usize,
    /// LLM prices per model; default [`PriceTable::builtin`].
    pub prices: PriceTable,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            max_providers: 8,
            max_models: 32,
            max_playbooks: 64,
            max_channels: 16,
            max_backends: 8,
            max_components: 16,
            max_error_types: 32,
            max_receivers: 16,
            prices: PriceTable::builtin(),
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    max_providers: Option<usize>,
    max_models: Option<usize>,
    max_playbooks: Option<usize>,
    max_channels: Option<usize>,
    max_backends: Option<usize>,
    max_components: Option<usize>,
    max_error_types: Option<usize>,
    max_receivers: Option<usize>,
    /// Start from the built-in prices (default) or from an empty table.
    builtin_prices: Option<bool>,
    #[serde(default)]
    prices: BTreeMap<String, RawPrice>,
}

impl TrackerConfig {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// The defaults overridden by `text`, TOML with the field names of this
    /// struct, `builtin_prices = false` to start from an empty price table,
    /// and a `[prices]` table of `"model" = { input = .., output = .. }` in
    /// USD per million tokens.
    ///
    /// # Errors
    ///
    /// [`Error::Toml`] for text that is not such a table, and the errors of
    /// [`validate`](Self::validate) and [`PriceTable::from_toml_str`].
    pub fn from_toml_str(text: &str) -> Result<Self> {
        let raw: RawConfig = toml::from_str(text)?;
        let d = Self::default();
        let base = if raw.builtin_prices.unwrap_or(true) {
            PriceTable::builtin()
        } else {
            PriceTable::empty()
        };
        let config = Self {
            max_providers: raw.max_providers.unwrap_or(d.max_providers),
            max_models: raw.max_models.unwrap_or(d.max_models),
            max_playbooks: raw.max_playbooks.unwrap_or(d.max_playbooks),
            max_channels: raw.max_channels.unwrap_or(d.max_channels),
            max_backends: raw.max_backends.unwrap_or(d.max_backends),
            max_components: raw.max_components.unwrap_or(d.max_components),
            max_error_types: raw.max_error_types.unwrap_or(d.max_error_types),
            max_receivers: raw.max_receivers.unwrap_or(d.max_receivers),
            prices: base.with_raw(raw.prices)?,
        };
        config.validate()?;
        Ok(config)
    }

    /// As [`from_toml_str`](Self::from_toml_str), reading the file at `path`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be read, and the errors of
    /// [`from_toml_str`](Self::from_toml_str).
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml_str(&text)
    }

    /// The same configuration with another LLM model limit.
    #[must_use]
    pub fn with_max_models(mut self, max_models: usize) -> Self {
        self.max_models = max_models;
        self
    }

    /// The same configuration with another LLM provider limit.
    #[must_use]
    pub fn with_max_providers(mut self, max_providers: usize) -> Self {
        self.max_providers = max_providers;
        self
    }

    /// The same configuration with another playbook limit.
    #[must_use]
    pub fn with_max_playbooks(mut self, max_playbooks: usize) -> Self {
        self.max_playbooks = max_playbooks;
        self
    }

    /// The same configuration with another notification channel limit.
    #[must_use]
    pub fn with_max_channels(mut self, max_channels: usize) -> Self {
        self.max_channels = max_channels;
        self
    }

    /// The same configuration with another storage backend limit.
    #[must_use]
    pub fn with_max_backends(mut self, max_backends: usize) -> Self {
        self.max_backends = max_backends;
        self
    }

    /// The same configuration with another error component limit.
    #[must_use]
    pub fn with_max_components(mut self, max_components: usize) -> Self {
        self.max_components = max_components;
        self
    }

    /// The same configuration with another error type limit.
    #[must_use]
    pub fn with_max_error_types(mut self, max_error_types: usize) -> Self {
        self.max_error_types = max_error_types;
        self
    }

    /// The same configuration with another Alertmanager receiver limit.
    #[must_use]
    pub fn with_max_receivers(mut self, max_receivers: usize) -> Self {
        self.max_receivers = max_receivers;
        self
    }

    /// The same configuration with another price table.
    #[must_use]
    pub fn with_prices(mut self, prices: PriceTable) -> Self {
        self.prices = prices;
        self
    }

    /// Checks every limit.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] when a limit is above [`MAX_LABEL_VALUES`],
    /// or when the limits of two labels cached together (provider × model,
    /// component × error type) allow more than [`MAX_COMBINATIONS`].
    pub fn validate(&self) -> Result<()> {
        let limits = [
            ("max_providers", self.max_providers),
            ("max_models", self.max_models),
            ("max_playbooks", self.max_playbooks),
            ("max_channels", self.max_channels),
            ("max_backends", self.max_backends),
            ("max_components", self.max_components),
            ("max_error_types", self.max_error_types),
            ("max_receivers", self.max_receivers),
        ];
        for (field, value) in limits {
            if value > MAX_LABEL_VALUES {
                return Err(Error::InvalidConfig {
                    field,
                    reason: format!("{value} is above the largest limit, {MAX_LABEL_VALUES}"),
                });
            }
        }
        let pairs = [
            ("max_models", self.max_providers, self.max_models),
            ("max_error_types", self.max_components, self.max_error_types),
        ];
        for (field, a, b) in pairs {
            let n = (a + 1) * (b + 1);
            if n > MAX_COMBINATIONS {
                return Err(Error::InvalidConfig {
                    field,
                    reason: format!(
                        "allows {n} label combinations with its pair, above {MAX_COMBINATIONS}: lower one of them"
                    ),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_toml_overrides() {
        TrackerConfig::default().validate().unwrap();
        let c = TrackerConfig::from_toml_str("builtin_prices = false\nmax_channels = 2").unwrap();
        assert!(c.prices.is_empty());
        assert_eq!(c.max_channels, 2);
    }

    #[test]
    fn refuses_bad_limits_and_unknown_fields() {
        let e = TrackerConfig::from_toml_str("max_models = 5000").unwrap_err();
        assert!(e.to_string().contains("max_models"), "{e}");
        let e =
            TrackerConfig::from_toml_str("max_providers = 1000\nmax_models = 1000").unwrap_err();
        assert!(e.to_string().contains("combinations"), "{e}");
        assert!(TrackerConfig::from_toml_str("max_modles = 5").is_err());
        assert!(matches!(
            TrackerConfig::from_toml_file("/nonexistent/trackers.toml"),
            Err(Error::Io { .. })
        ));
    }
}
