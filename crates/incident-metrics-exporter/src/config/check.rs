//! The checks the push settings share: durations, sizes, label sets, URLs.

use std::collections::HashSet;
use std::time::Duration;

use crate::{Error, Result};

/// `value` seconds as a `Duration`, or `default` seconds when `value` is
/// negative, not finite or too large.
pub(super) fn seconds(value: f64, default: f64) -> Duration {
    Duration::try_from_secs_f64(value)
        .or_else(|_| Duration::try_from_secs_f64(default))
        .unwrap_or_default()
}

/// Checks `min <= value <= max`, where a `min` of 0 is exclusive.
pub(super) fn check_seconds(field: &'static str, value: f64, min: f64, max: f64) -> Result<()> {
    let above_min = if min == 0.0 {
        value > 0.0
    } else {
        value >= min
    };
    if above_min && value <= max {
        Ok(())
    } else {
        Err(Error::InvalidDuration {
            field,
            value,
            min,
            max,
        })
    }
}

pub(super) fn check_size(field: &'static str, value: usize, max: usize) -> Result<()> {
    if (1..=max).contains(&value) {
        Ok(())
    } else {
        Err(Error::InvalidSize {
            field,
            value,
            min: 1,
            max,
        })
    }
}

pub(super) fn check_label_set(
    field: &'static str,
    labels: &[(String, String)],
    reserved: &[&str],
) -> Result<()> {
    let mut seen = HashSet::new();
    for (name, _) in labels {
        incident_metrics_core::validate_label_name(field, name)?;
        if reserved.contains(&name.as_str()) {
            return Err(Error::InvalidLabelName {
                field,
                name: name.clone(),
                reason: "this label is set elsewhere (the job has its own field)",
            });
        }
        if !seen.insert(name.as_str()) {
            return Err(Error::DuplicateLabel {
                field,
                name: name.clone(),
            });
        }
    }
    Ok(())
}

pub(super) fn check_url(field: &'static str, url: &str, allow_query: bool) -> Result<()> {
    match url_problem(url, allow_query) {
        None => Ok(()),
        Some(reason) => Err(Error::InvalidUrl {
            field,
            url: url.to_owned(),
            reason,
        }),
    }
}

/// Why `url` is not an `http://` or `https://` URL with a host, if it is not.
fn url_problem(url: &str, allow_query: bool) -> Option<&'static str> {
    if url.is_empty() {
        return Some("give the URL, such as \"http://host:9090/api/v1/write\"");
    }
    if url
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || !c.is_ascii())
    {
        return Some("the URL must not hold whitespace, control or non-ASCII characters");
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Some("the URL must start with http:// or https://");
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Some("the URL must start with http:// or https://");
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.contains('@') {
        return Some("credentials in the URL are not supported; leave out `user:password@`");
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        match v6.split_once(']') {
            Some((host, after)) if !host.is_empty() => match after {
                "" => (host, None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None => return Some("the URL's host is malformed"),
                },
            },
            _ => return Some("the URL's IPv6 host is malformed; use [::1]:9090"),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Some("the URL has no host");
    }
    if let Some(port) = port
        && (!matches!(port.parse::<u32>(), Ok(1..=65535))
            || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return Some("the URL's port must be a number from 1 to 65535");
    }
    if tail.contains('#') {
        return Some("the URL must not hold a fragment (`#...`)");
    }
    if !allow_query && tail.contains('?') {
        return Some(
            "the URL must not hold a query string: the grouping key is appended as a path",
        );
    }
    None
}
