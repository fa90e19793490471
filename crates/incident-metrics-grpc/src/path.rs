//! The gRPC request path, `/package.Service/Method`, split into the
//! `service` and `method` labels.

/// The longest service or method name taken as a label value.
pub(crate) const MAX_NAME_LEN: usize = 128;

/// Splits `/service/method` at its second slash, without checking the names.
/// This is the per-call step: names already in the method table were checked
/// when they entered it ([`is_valid`]).
#[inline]
pub(crate) fn split(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix('/')?;
    let slash = rest.as_bytes().iter().position(|b| *b == b'/')?;
    Some((rest.get(..slash)?, rest.get(slash + 1..)?))
}

/// Whether `service` and `method` may become label values: a dotted protobuf
/// service name (`incident.v1.IncidentService`) and a protobuf identifier
/// (`CreateIncident`), each at most [`MAX_NAME_LEN`] bytes.
pub(crate) fn is_valid(service: &str, method: &str) -> bool {
    fn ident_byte(b: u8) -> bool {
        b.is_ascii_alphanumeric() || b == b'_'
    }
    let s = service.as_bytes();
    let m = method.as_bytes();
    (1..=MAX_NAME_LEN).contains(&s.len())
        && (1..=MAX_NAME_LEN).contains(&m.len())
        && s.iter().all(|b| ident_byte(*b) || *b == b'.')
        && s.first() != Some(&b'.')
        && s.last() != Some(&b'.')
        && !service.contains("..")
        && m.iter().all(|b| ident_byte(*b))
}

/// The labels for a request path: `(service, method)`, or `None` when the
/// path is not a well-formed gRPC path.
#[cfg(test)]
pub(crate) fn parse(path: &str) -> Option<(&str, &str)> {
    split(path).filter(|(s, m)| is_valid(s, m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_well_formed_paths() {
        assert_eq!(
            parse("/incident.v1.IncidentService/CreateIncident"),
            Some(("incident.v1.IncidentService", "CreateIncident"))
        );
        assert_eq!(parse("/Svc/M"), Some(("Svc", "M")));
    }

    #[test]
    fn rejects_malformed_paths() {
        for bad in [
            "",
            "/",
            "//",
            "/svc",
            "/svc/",
            "//method",
            "svc/method",
            "/svc/method/extra",
            "/svc/method?x=1",
            "/.svc/m",
            "/svc./m",
            "/a..b/m",
            "/svc/me.thod",
            "/sv c/m",
            "/svc/mé",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        let long = format!("/{}/m", "s".repeat(MAX_NAME_LEN + 1));
        assert_eq!(parse(&long), None);
    }

    proptest! {
        #[test]
        fn valid_names_round_trip(
            service in "[a-z][a-z0-9_]{0,10}(\\.[A-Za-z][A-Za-z0-9_]{0,10}){0,3}",
            method in "[A-Za-z_][A-Za-z0-9_]{0,30}",
        ) {
            let path = format!("/{service}/{method}");
            prop_assert_eq!(parse(&path), Some((service.as_str(), method.as_str())));
        }

        #[test]
        fn any_input_is_handled(path in "\\PC{0,80}") {
            if let Some((s, m)) = parse(&path) {
                prop_assert_eq!(format!("/{s}/{m}"), path.clone());
                prop_assert!(is_valid(s, m));
                prop_assert!(s.len() <= MAX_NAME_LEN && m.len() <= MAX_NAME_LEN);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(path in "[/a-z.]{0,12}") {
            let _ = parse(&path);
        }
    }
}
