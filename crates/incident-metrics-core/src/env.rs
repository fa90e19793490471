//! How every part of the toolkit reads its `INCIDENT_METRICS_*` variables
//! and label tables, so that one environment has one syntax: the
//! recording configuration here, the exporter's server and push settings,
//! the facade's composed `Config`.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The process's environment variables that are Unicode: a variable that
/// is not cannot be one of ours, so it is skipped rather than refused.
pub fn vars() -> impl Iterator<Item = (String, String)> {
    std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
}

/// A switch: `true`, `1`, `yes`, `on` or `false`, `0`, `no`, `off`, in any
/// case; the error says what to write instead.
///
/// # Errors
///
/// Any other text.
///
/// # Examples
///
/// ```
/// use incident_metrics_core::env::parse_bool;
///
/// assert_eq!(parse_bool(" Yes "), Ok(true));
/// assert_eq!(parse_bool("off"), Ok(false));
/// assert!(parse_bool("maybe").is_err());
/// ```
pub fn parse_bool(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("use `true` or `false`".to_owned()),
    }
}

/// A comma-separated list, each item trimmed, empty items dropped.
///
/// # Examples
///
/// ```
/// use incident_metrics_core::env::split_list;
///
/// let items: Vec<String> = split_list(" /health, ,/ready ").collect();
/// assert_eq!(items, ["/health", "/ready"]);
/// ```
pub fn split_list(value: &str) -> impl Iterator<Item = String> + '_ {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Comma-separated `name=value` pairs, each side trimmed, in the order
/// given.
///
/// # Errors
///
/// An item without `=`, named in the message.
///
/// # Examples
///
/// ```
/// use incident_metrics_core::env::parse_pairs;
///
/// let pairs = parse_pairs("env=staging, region = eu")?;
/// assert_eq!(pairs[1], ("region".to_owned(), "eu".to_owned()));
/// assert!(parse_pairs("env").unwrap_err().contains("name=value"));
/// # Ok::<(), String>(())
/// ```
pub fn parse_pairs(value: &str) -> Result<Vec<(String, String)>, String> {
    split_list(value)
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => Ok((k.trim().to_owned(), v.trim().to_owned())),
            None => Err(format!("{pair:?} is not a `name=value` pair")),
        })
        .collect()
}

/// A TOML table of labels (`name = "value"`) as pairs sorted by name, for
/// `#[serde(deserialize_with = "...")]`. A table cannot repeat a key, so no
/// duplicate can come from a file.
///
/// # Errors
///
/// The deserializer's, for anything but a table of strings.
pub fn deserialize_labels<'de, D>(deserializer: D) -> Result<Vec<(String, String)>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let map = BTreeMap::<String, String>::deserialize(deserializer)?;
    Ok(map.into_iter().collect())
}
