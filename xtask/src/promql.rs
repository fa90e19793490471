//! Just enough PromQL lexing to find the metric names an expression uses.

/// The metric names in `expr` that the operator kit must check: every
/// identifier outside string literals that starts with `prefix` (a raw
/// family sample) or contains a `:` (a recording rule's output), in order of
/// appearance, without repeats.
///
/// Label names (`path`, `le`), functions (`rate`), keywords (`by`) and
/// Prometheus' own series (`up`) pass unchecked; durations (`5m`) and numbers
/// are skipped.
///
/// # Examples
///
/// ```
/// let names = xtask::promql::metric_names(
///     r#"sum by (path) (rate(llm_incident_manager_http_requests_total{status=~"5..",x="llm_incident_manager_no"}[5m])) / job:llm_incident_manager_http_requests:rate5m"#,
///     "llm_incident_manager_",
/// );
/// assert_eq!(names, [
///     "llm_incident_manager_http_requests_total",
///     "job:llm_incident_manager_http_requests:rate5m",
/// ]);
/// ```
pub fn metric_names(expr: &str, prefix: &str) -> Vec<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names: Vec<String> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            // A string literal: skip to its closing quote (backslash escapes
            // outside raw backtick strings).
            i += 1;
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\\' && c != '`' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
        } else if c == '#' {
            // A comment, to the end of the line.
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let ident: String = chars[start..i].iter().collect();
            if (ident.starts_with(prefix) || ident.contains(':')) && !names.contains(&ident) {
                names.push(ident);
            }
        } else if c.is_ascii_digit() || c == '.' {
            // A number or a duration such as `5m` or `1h30m`.
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::metric_names;

    #[test]
    fn strings_numbers_and_durations_are_skipped() {
        let expr = r#"histogram_quantile(0.99, sum by (le) (rate(p_a_bucket{path="p_b",m='p_c'}[1h30m]))) > 2e3 # p_d"#;
        assert_eq!(metric_names(expr, "p_"), ["p_a_bucket"]);
    }

    #[test]
    fn recording_rules_are_found_by_their_colon() {
        assert_eq!(
            metric_names("a:b:c offset 5m and on(job) up", "p_"),
            ["a:b:c"]
        );
    }
}
