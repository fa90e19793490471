//! [`ModelPrice`] and [`PriceTable`]: what LLM tokens cost.

use std::collections::BTreeMap;

use crate::{Error, Result};

/// The price of one model in US dollars per million input (prompt) tokens
/// and per million output (completion) tokens.
///
/// # Examples
///
/// ```
/// use incident_metrics_trackers::ModelPrice;
///
/// let gpt4 = ModelPrice::new(30.0, 60.0)?;
/// // 1 000 input tokens at $30/M plus 500 output tokens at $60/M.
/// assert!((gpt4.cost(1_000, 500) - 0.06).abs() < 1e-12);
/// assert!(ModelPrice::new(f64::NAN, 1.0).is_err());
/// assert!(ModelPrice::new(-1.0, 1.0).is_err());
/// # Ok::<(), incident_metrics_trackers::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModelPrice {
    input_per_million: f64,
    output_per_million: f64,
}

impl ModelPrice {
    /// A price in USD per million input and per million output tokens.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPrice`] when either is NaN, infinite or negative.
    pub fn new(input_per_million: f64, output_per_million: f64) -> Result<Self> {
        Self::checked("", input_per_million, output_per_million)
    }

    fn checked(model: &str, input: f64, output: f64) -> Result<Self> {
        for value in [input, output] {
            if !value.is_finite() || value < 0.0 {
                return Err(Error::InvalidPrice {
                    model: model.to_owned(),
                    reason: "prices must be finite and not negative (USD per million tokens)",
                });
            }
        }
        Ok(Self {
            input_per_million: input,
            output_per_million: output,
        })
    }

    const fn known(input_per_million: f64, output_per_million: f64) -> Self {
        Self {
            input_per_million,
            output_per_million,
        }
    }

    /// USD per million input tokens.
    pub fn input_per_million(&self) -> f64 {
        self.input_per_million
    }

    /// USD per million output tokens.
    pub fn output_per_million(&self) -> f64 {
        self.output_per_million
    }

    /// The cost in USD of one call; always finite and not negative.
    #[inline]
    pub fn cost(&self, input_tokens: u64, output_tokens: u64) -> f64 {
        // u64 -> f64 loses precision only past 2^53 tokens.
        #[allow(clippy::cast_precision_loss)]
        let cost = (input_tokens as f64 * self.input_per_million
            + output_tokens as f64 * self.output_per_million)
            / 1_000_000.0;
        cost
    }
}

/// The built-in prices, in USD per million input and output tokens.
///
/// Taken from the providers' public list prices (OpenAI, Anthropic and
/// Google pricing pages) as of 2025-06, standard tier, no batch or cache
/// discounts. **Prices change**: treat this table as an example and load
/// your own ([`PriceTable::from_toml_str`], or the `[prices]` table of
/// [`TrackerConfig`](crate::TrackerConfig)).
pub const DEFAULT_PRICES: &[(&str, f64, f64)] = &[
    ("gpt-4", 30.0, 60.0),
    ("gpt-4-turbo", 10.0, 30.0),
    ("gpt-4o", 2.5, 10.0),
    ("gpt-4o-mini", 0.15, 0.6),
    ("gpt-4.1", 2.0, 8.0),
    ("gpt-4.1-mini", 0.4, 1.6),
    ("gpt-3.5-turbo", 0.5, 1.5),
    ("o3-mini", 1.1, 4.4),
    ("claude-3-opus", 15.0, 75.0),
    ("claude-3-5-sonnet", 3.0, 15.0),
    ("claude-3-5-haiku", 0.8, 4.0),
    ("claude-3-haiku", 0.25, 1.25),
    ("claude-sonnet-4", 3.0, 15.0),
    ("claude-opus-4", 15.0, 75.0),
    ("gemini-1.5-pro", 1.25, 5.0),
    ("gemini-1.5-flash", 0.075, 0.3),
    ("gemini-2.0-flash", 0.1, 0.4),
];

/// Prices per model name.
///
/// A model is found by its exact name or else by the longest known name
/// that it starts with followed by `-`, so that dated snapshots such as
/// `gpt-4o-2024-08-06` take the price of `gpt-4o` (and not of `gpt-4`).
///
/// # Examples
///
/// ```
/// use incident_metrics_trackers::{ModelPrice, PriceTable};
///
/// let prices = PriceTable::from_toml_str(
///     r#"
///     "my-model" = { input = 1.0, output = 2.0 }
///     "gpt-4o" = { input = 2.0, output = 8.0 }   # overrides the default
///     "#,
/// )?;
/// assert_eq!(prices.get("my-model"), Some(ModelPrice::new(1.0, 2.0)?));
/// assert_eq!(prices.get("gpt-4o-2024-08-06"), Some(ModelPrice::new(2.0, 8.0)?));
/// assert_eq!(prices.get("gpt-4-0613"), Some(ModelPrice::new(30.0, 60.0)?));
/// assert_eq!(prices.get("unknown"), None);
/// # Ok::<(), incident_metrics_trackers::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct PriceTable {
    prices: BTreeMap<String, ModelPrice>,
}

/// One price as spelt in TOML: `{ input = 2.5, output = 10.0 }`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPrice {
    input: f64,
    output: f64,
}

impl PriceTable {
    /// A table with no prices: calls of every model cost nothing.
    pub fn empty() -> Self {
        Self {
            prices: BTreeMap::new(),
        }
    }

    /// The built-in table, [`DEFAULT_PRICES`].
    pub fn builtin() -> Self {
        Self {
            prices: DEFAULT_PRICES
                .iter()
                .map(|(model, input, output)| {
                    ((*model).to_owned(), ModelPrice::known(*input, *output))
                })
                .collect(),
        }
    }

    /// The built-in table with the models of `text` added or replaced.
    /// `text` is TOML mapping model names to `{ input, output }` in USD per
    /// million tokens.
    ///
    /// # Errors
    ///
    /// [`Error::Toml`] when the text is not such a table,
    /// [`Error::InvalidPrice`] for a NaN, infinite or negative price.
    pub fn from_toml_str(text: &str) -> Result<Self> {
        let raw: BTreeMap<String, RawPrice> = toml::from_str(text)?;
        Self::builtin().with_raw(raw)
    }

    pub(crate) fn with_raw(mut self, raw: BTreeMap<String, RawPrice>) -> Result<Self> {
        for (model, price) in raw {
            let price = ModelPrice::checked(&model, price.input, price.output)?;
            self.prices.insert(model, price);
        }
        Ok(self)
    }

    /// The same table with `model` priced at `price`.
    #[must_use]
    pub fn with_price(mut self, model: impl Into<String>, price: ModelPrice) -> Self {
        self.prices.insert(model.into(), price);
        self
    }

    /// The price of `model`: exact name first, then the longest known name
    /// it starts with followed by `-`.
    pub fn get(&self, model: &str) -> Option<ModelPrice> {
        if let Some(price) = self.prices.get(model) {
            return Some(*price);
        }
        self.prices
            .iter()
            .filter(|(name, _)| {
                model.len() > name.len()
                    && model.starts_with(name.as_str())
                    && model.as_bytes().get(name.len()) == Some(&b'-')
            })
            .max_by_key(|(name, _)| name.len())
            .map(|(_, price)| *price)
    }

    /// The number of models priced.
    pub fn len(&self) -> usize {
        self.prices.len()
    }

    /// Whether no model is priced.
    pub fn is_empty(&self) -> bool {
        self.prices.is_empty()
    }
}

impl Default for PriceTable {
    /// The built-in table.
    fn default() -> Self {
        Self::builtin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn cost_matches_hand_computed_figures() {
        let t = PriceTable::builtin();
        // gpt-4o: 1 200 in x $2.50/M = 0.003; 350 out x $10/M = 0.0035.
        assert!(close(t.get("gpt-4o").unwrap().cost(1_200, 350), 0.0065));
        // gpt-4o-mini: 1M in x 0.15 + 1M out x 0.60 = 0.75.
        assert!(close(
            t.get("gpt-4o-mini").unwrap().cost(1_000_000, 1_000_000),
            0.75
        ));
        // claude-3-5-sonnet: 10 000 in x $3/M = 0.03; 2 000 out x $15/M = 0.03.
        assert!(close(
            t.get("claude-3-5-sonnet-20241022")
                .unwrap()
                .cost(10_000, 2_000),
            0.06
        ));
        assert!(close(t.get("gpt-4").unwrap().cost(0, 0), 0.0));
    }

    #[test]
    fn longest_dash_prefix_wins() {
        let t = PriceTable::builtin();
        assert_eq!(t.get("gpt-4o-mini-2024-07-18"), t.get("gpt-4o-mini"));
        assert_eq!(t.get("gpt-4-0613"), t.get("gpt-4"));
        assert_eq!(t.get("gpt-4x"), None);
        assert_eq!(t.get("gpt"), None);
    }

    #[test]
    fn refuses_bad_prices_and_toml() {
        assert!(PriceTable::from_toml_str(r#"m = { input = -1.0, output = 1.0 }"#).is_err());
        assert!(PriceTable::from_toml_str(r#"m = { input = nan, output = 1.0 }"#).is_err());
        assert!(PriceTable::from_toml_str(r#"m = { input = inf, output = 1.0 }"#).is_err());
        assert!(PriceTable::from_toml_str(r#"m = { input = 1.0 }"#).is_err());
        assert!(PriceTable::from_toml_str(r#"m = { input = 1.0, output = 1.0, x = 1 }"#).is_err());
        let e = PriceTable::from_toml_str(r#"m = { input = -1.0, output = 1.0 }"#).unwrap_err();
        assert!(e.to_string().contains("\"m\""), "{e}");
    }
}
