//! Prometheus naming rules for metric names, label names and HTTP paths.

/// Why `name` is not a valid metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`), if it is not.
pub(crate) fn metric_name_problem(name: &str) -> Option<&'static str> {
    let mut bytes = name.bytes();
    match bytes.next() {
        None => return Some("metric names must not be empty"),
        Some(b) if !(b.is_ascii_alphabetic() || b == b'_' || b == b':') => {
            return Some("metric names must start with a letter, `_` or `:`");
        }
        Some(_) => {}
    }
    if bytes.any(|b| !(b.is_ascii_alphanumeric() || b == b'_' || b == b':')) {
        return Some("metric names may only hold ASCII letters, digits, `_` and `:`");
    }
    None
}

/// Why `name` is not a valid label name (`[a-zA-Z_][a-zA-Z0-9_]*`, no `__` prefix), if it is not.
pub(crate) fn label_name_problem(name: &str) -> Option<&'static str> {
    let mut bytes = name.bytes();
    match bytes.next() {
        None => return Some("label names must not be empty"),
        Some(b) if !(b.is_ascii_alphabetic() || b == b'_') => {
            return Some("label names must start with an ASCII letter or `_`");
        }
        Some(_) => {}
    }
    if bytes.any(|b| !(b.is_ascii_alphanumeric() || b == b'_')) {
        return Some("label names may only hold ASCII letters, digits and `_`");
    }
    if name.starts_with("__") {
        return Some("label names starting with `__` are reserved for Prometheus");
    }
    None
}

/// Why `path` is not an absolute HTTP path usable as an endpoint, if it is not.
pub(crate) fn http_path_problem(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        return Some("use an absolute path such as \"/metrics\"");
    }
    if !path.starts_with('/') {
        return Some("the path must be absolute, starting with `/`");
    }
    if path.contains(['?', '#']) {
        return Some("give the path alone, without a query string or fragment");
    }
    if path
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Some("the path must not hold spaces or control characters");
    }
    None
}

/// Checks a metric name, returning the crate error on failure.
///
/// # Errors
///
/// [`Error::InvalidMetricName`](crate::Error::InvalidMetricName) when `name`
/// breaks the Prometheus naming rules.
pub fn validate_metric_name(name: &str) -> crate::Result<()> {
    match metric_name_problem(name) {
        None => Ok(()),
        Some(reason) => Err(crate::Error::InvalidMetricName {
            name: name.to_owned(),
            reason,
        }),
    }
}

/// Checks a label name, returning the crate error on failure.
///
/// `field` names where the label was found (a configuration field or a
/// metric name) so that the message says what to change.
///
/// # Errors
///
/// [`Error::InvalidLabelName`](crate::Error::InvalidLabelName) when `name`
/// breaks the Prometheus rules or starts with the reserved `__`.
pub fn validate_label_name(field: &str, name: &str) -> crate::Result<()> {
    match label_name_problem(name) {
        None => Ok(()),
        Some(reason) => Err(crate::Error::InvalidLabelName {
            field: field.to_owned(),
            name: name.to_owned(),
            reason,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names() {
        for ok in ["a", "_a", ":a", "llm_incident_manager", "a:b_c9"] {
            assert_eq!(metric_name_problem(ok), None, "{ok}");
        }
        for bad in ["", "9a", "a-b", "a b", "é", "a.b"] {
            assert!(metric_name_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn label_names() {
        for ok in ["a", "_a", "env", "Region_2"] {
            assert_eq!(label_name_problem(ok), None, "{ok}");
        }
        for bad in ["", "9a", "a-b", "a:b", "__name__", "__x", "é"] {
            assert!(label_name_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn http_paths() {
        assert_eq!(http_path_problem("/metrics"), None);
        assert_eq!(http_path_problem("/"), None);
        for bad in ["", "metrics", "/a?b=1", "/a#x", "/a b", "/a\n"] {
            assert!(http_path_problem(bad).is_some(), "{bad:?}");
        }
    }
}
