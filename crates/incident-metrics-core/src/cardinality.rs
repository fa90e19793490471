//! Cardinality limits in the configuration: `cardinality_limit` (the
//! series limit of every family, default
//! [`DEFAULT_CARDINALITY_LIMIT`](crate::DEFAULT_CARDINALITY_LIMIT)) and
//! the per-family `cardinality_limits` overrides, from code, TOML and
//! `INCIDENT_METRICS_CARDINALITY_LIMIT[_<FAMILY>]`.
//!
//! [`BoundedFamily`](crate::BoundedFamily) enforces a family's limit, and
//! the [`LabelTable`](crate::LabelTable)s of the layers take theirs from
//! the limits of the families they feed.

use std::collections::BTreeMap;

use crate::{Error, MetricsConfig, Result};

impl MetricsConfig {
    /// Sets the most series any one family may hold before new label sets
    /// are folded into its overflow series (`cardinality_limit`, default
    /// [`DEFAULT_CARDINALITY_LIMIT`](crate::DEFAULT_CARDINALITY_LIMIT)).
    ///
    /// # Examples
    ///
    /// ```
    /// use incident_metrics_core::MetricsConfig;
    ///
    /// let config = MetricsConfig::new()
    ///     .with_cardinality_limit(500)
    ///     .with_family_cardinality_limit("llm_requests", 100);
    /// config.validate()?;
    /// assert_eq!(config.cardinality_limit_for("llm_requests"), 100);
    /// assert_eq!(config.cardinality_limit_for("http_requests"), 500);
    /// assert!(MetricsConfig::new().with_cardinality_limit(0).validate().is_err());
    /// # Ok::<(), incident_metrics_core::Error>(())
    /// ```
    #[must_use]
    pub fn with_cardinality_limit(mut self, limit: usize) -> Self {
        self.cardinality_limit = limit;
        self
    }

    /// Overrides the limit of one family (an entry of the
    /// `cardinality_limits` table), named as in the exposition without the
    /// namespace and without `_total`, unit included: `llm_requests`,
    /// `http_request_duration_seconds`.
    #[must_use]
    pub fn with_family_cardinality_limit(
        mut self,
        family: impl Into<String>,
        limit: usize,
    ) -> Self {
        self.cardinality_limits.insert(family.into(), limit);
        self
    }

    /// The limit of every family without an override.
    pub fn cardinality_limit(&self) -> usize {
        self.cardinality_limit
    }

    /// The limit of `family` (named as in
    /// [`with_family_cardinality_limit`](Self::with_family_cardinality_limit)).
    pub fn cardinality_limit_for(&self, family: &str) -> usize {
        self.cardinality_limits
            .get(family)
            .copied()
            .unwrap_or(self.cardinality_limit)
    }

    /// The per-family overrides.
    pub fn cardinality_limit_overrides(&self) -> &BTreeMap<String, usize> {
        &self.cardinality_limits
    }
}

/// Checks the limits of a configuration: none may be zero, and every
/// override must name a well-formed family. Whether an override names a
/// *registered* family is known only once registration is over; see
/// [`Registry::check_cardinality_limits`].
pub(crate) fn validate(config: &MetricsConfig) -> Result<()> {
    if config.cardinality_limit == 0 {
        return Err(Error::InvalidCardinalityLimit {
            field: "cardinality_limit".to_owned(),
            value: 0,
        });
    }
    for (family, limit) in &config.cardinality_limits {
        crate::name::validate_metric_name(family)?;
        if *limit == 0 {
            return Err(Error::InvalidCardinalityLimit {
                field: format!("cardinality_limits.{family}"),
                value: 0,
            });
        }
    }
    Ok(())
}

/// Applies `INCIDENT_METRICS_CARDINALITY_LIMIT` (`name` is the variable
/// without the prefix) and `INCIDENT_METRICS_CARDINALITY_LIMIT_<FAMILY>`.
pub(crate) fn set_env(
    config: &mut MetricsConfig,
    name: &str,
    value: &str,
) -> std::result::Result<(), String> {
    let family = match name.strip_prefix("CARDINALITY_LIMIT") {
        Some("") => None,
        Some(rest) => match rest.strip_prefix('_') {
            Some(family) if !family.is_empty() => Some(family.to_ascii_lowercase()),
            _ => {
                return Err(
                    "unknown variable; use CARDINALITY_LIMIT or CARDINALITY_LIMIT_<FAMILY>".into(),
                );
            }
        },
        None => return Err("not a cardinality limit variable".into()),
    };
    let limit = value
        .trim()
        .parse::<usize>()
        .map_err(|e| format!("not a whole number ({e}); give a number of series such as 2000"))?;
    match family {
        Some(family) => {
            config.cardinality_limits.insert(family, limit);
        }
        None => config.cardinality_limit = limit,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_toml_and_env() {
        let c = MetricsConfig::new();
        assert_eq!(c.cardinality_limit(), 2000);
        assert_eq!(c.cardinality_limit_for("llm_requests"), 2000);
        assert!(c.cardinality_limit_overrides().is_empty());

        let c = MetricsConfig::from_toml_str(
            "cardinality_limit = 300\n[cardinality_limits]\nllm_requests = 50\n",
        )
        .unwrap();
        assert_eq!(c.cardinality_limit(), 300);
        assert_eq!(c.cardinality_limit_for("llm_requests"), 50);
        assert_eq!(c.cardinality_limit_for("llm_tokens"), 300);

        let c = MetricsConfig::new()
            .with_env_vars([
                ("INCIDENT_METRICS_CARDINALITY_LIMIT", " 700 "),
                ("INCIDENT_METRICS_CARDINALITY_LIMIT_HTTP_REQUESTS", "9"),
            ])
            .unwrap();
        assert_eq!(c.cardinality_limit(), 700);
        assert_eq!(c.cardinality_limit_for("http_requests"), 9);
    }

    #[test]
    fn zero_and_malformed_limits_are_refused_with_the_field() {
        let e = MetricsConfig::new()
            .with_cardinality_limit(0)
            .validate()
            .unwrap_err();
        assert!(
            matches!(e, Error::InvalidCardinalityLimit { ref field, value: 0 } if field == "cardinality_limit"),
            "{e}"
        );
        assert!(e.to_string().contains("at least 1"), "{e}");

        let e =
            MetricsConfig::from_toml_str("[cardinality_limits]\nllm_requests = 0\n").unwrap_err();
        assert!(
            e.to_string()
                .contains("`cardinality_limits.llm_requests` 0"),
            "{e}"
        );

        let e = MetricsConfig::new()
            .with_family_cardinality_limit("llm-requests", 5)
            .validate()
            .unwrap_err();
        assert!(
            matches!(e, Error::InvalidMetricName { ref name, .. } if name == "llm-requests"),
            "{e}"
        );

        let e = MetricsConfig::new()
            .with_env_vars([("INCIDENT_METRICS_CARDINALITY_LIMIT", "many")])
            .unwrap_err();
        assert!(
            e.to_string().contains("INCIDENT_METRICS_CARDINALITY_LIMIT"),
            "{e}"
        );
        assert!(e.to_string().contains("not a whole number"), "{e}");

        let e = MetricsConfig::new()
            .with_env_vars([("INCIDENT_METRICS_CARDINALITY_LIMITS", "5")])
            .unwrap_err();
        assert!(e.to_string().contains("CARDINALITY_LIMIT_<FAMILY>"), "{e}");

        let e = MetricsConfig::from_toml_str("cardinality_limit = -1\n").unwrap_err();
        assert!(matches!(e, Error::ConfigParse { .. }), "{e}");
    }
}
