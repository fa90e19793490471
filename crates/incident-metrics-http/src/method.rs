//! From `http::Method` to the catalog's bounded [`Method`] label.

use incident_metrics_catalog::http::Method;

/// The label for a request method: the nine standard methods by name, any
/// other (extension) method `OTHER`. Compares enum tags, not strings.
#[inline]
pub(crate) fn method_label(method: &http::Method) -> Method {
    // Most frequent first; each comparison is a tag check for standard methods.
    if *method == http::Method::GET {
        Method::Get
    } else if *method == http::Method::POST {
        Method::Post
    } else if *method == http::Method::PUT {
        Method::Put
    } else if *method == http::Method::DELETE {
        Method::Delete
    } else if *method == http::Method::PATCH {
        Method::Patch
    } else if *method == http::Method::HEAD {
        Method::Head
    } else if *method == http::Method::OPTIONS {
        Method::Options
    } else if *method == http::Method::CONNECT {
        Method::Connect
    } else if *method == http::Method::TRACE {
        Method::Trace
    } else {
        Method::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use incident_metrics_core::LabelEnum;

    #[test]
    fn standard_methods_map_by_name_and_others_fold() {
        for m in Method::ALL.iter().filter(|m| **m != Method::Other) {
            let parsed = http::Method::from_bytes(m.as_str().as_bytes()).unwrap();
            assert_eq!(method_label(&parsed), *m);
        }
        for other in ["PROPFIND", "get", "BREW"] {
            let parsed = http::Method::from_bytes(other.as_bytes()).unwrap();
            assert_eq!(method_label(&parsed), Method::Other);
        }
    }
}
