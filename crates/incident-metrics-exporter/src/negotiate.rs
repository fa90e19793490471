//! Content negotiation: [`negotiate_format`] reads `Accept`,
//! [`negotiate_encoding`] reads `Accept-Encoding`.
//!
//! Both follow client_golang (`expfmt.NegotiateIncludingOpenMetrics` on top
//! of `goautoneg.ParseAccept`), so that a scraper gets the same answer from
//! us as from a Go service, with the corrections RFC 9110 asks for and Go
//! leaves out: `q=0` means "not acceptable", type, subtype and parameter
//! names compare case-insensitively, and quoted parameter values are
//! unquoted. Neither function fails or panics: anything they cannot read is
//! ignored, and when nothing usable is left the answer is the default
//! (Prometheus text, no compression).

use crate::{Compression, Format};

/// Picks the exposition format for an `Accept` header value.
///
/// The media ranges are ordered by quality (`q`, default 1), then by
/// specificity (`type/subtype` before `type/*` before `*/*`), keeping header
/// order among equals. The first acceptable range (`q` above 0) that names a
/// format we write wins:
///
/// - `application/openmetrics-text` with no `version`, `version=0.0.1` or
///   `version=1.0.0` gives [`Format::OpenMetrics`] (we always answer 1.0.0,
///   which 0.0.1 parsers read);
/// - `text/plain` with no `version` or `version=0.0.4` gives
///   [`Format::Prometheus`];
/// - `application/vnd.google.protobuf` with
///   `proto=io.prometheus.client.MetricFamily` and `encoding=delimited`
///   gives [`Format::Protobuf`] (Go's `expfmt.Negotiate`; Prometheus lists
///   it first when its native histograms are on). The `text` and
///   `compact-text` protobuf encodings are debugging formats we do not
///   write: they fall through like any other.
///
/// Wildcards (`*/*`, `text/*`) select nothing by themselves, as in Go: they
/// fall through to lower-ranked ranges and finally to the default. No header,
/// an empty or malformed one, or one naming only formats we do not write
/// (`text/plain; version=1.0.0`, `text/html`) gives
/// [`Format::Prometheus`]. A malformed range (no `/`, an invalid token, an
/// unreadable or out-of-range `q`) is skipped without spoiling the others.
///
/// This is client_golang's `expfmt.NegotiateIncludingOpenMetrics`, with
/// the corrections RFC 9110 asks for: a range with `q=0` is refused (Go
/// would still pick it), a `q` outside 0 to 1 makes its range malformed (Go
/// uses it as given), type, subtype and parameter names compare
/// case-insensitively and quoted values are unquoted (Go compares them as
/// written), and ranges of equal rank keep their header order (Go's
/// `sort.Sort` does not promise to). Every header a Prometheus server sends
/// gets the same answer as from Go.
///
/// # Examples
///
/// ```
/// use incident_metrics_exporter::{negotiate_format, Format};
///
/// assert_eq!(negotiate_format(None), Format::Prometheus);
/// assert_eq!(
///     negotiate_format(Some("application/openmetrics-text;version=1.0.0")),
///     Format::OpenMetrics
/// );
/// // What Prometheus 2.x sends: OpenMetrics is preferred.
/// let prometheus = "application/openmetrics-text;version=1.0.0,\
///     application/openmetrics-text;version=0.0.1;q=0.75,\
///     text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
/// assert_eq!(negotiate_format(Some(prometheus)), Format::OpenMetrics);
/// // Prometheus with `--enable-feature=native-histograms`: protobuf first.
/// let native = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;\
///     encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,\
///     text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
/// assert_eq!(negotiate_format(Some(native)), Format::Protobuf);
/// // Refused with q=0: the default answers.
/// assert_eq!(
///     negotiate_format(Some("application/openmetrics-text;q=0")),
///     Format::Prometheus
/// );
/// ```
pub fn negotiate_format(accept: Option<&str>) -> Format {
    let Some(accept) = accept else {
        return Format::default();
    };
    let mut ranges: Vec<MediaRange<'_>> = accept.split(',').filter_map(MediaRange::parse).collect();
    // Stable: header order decides among ranges of equal rank.
    ranges.sort_by(|a, b| {
        b.quality
            .cmp(&a.quality)
            .then(b.specificity().cmp(&a.specificity()))
    });
    ranges
        .iter()
        .filter(|range| range.quality > 0)
        .find_map(MediaRange::format)
        .unwrap_or_default()
}

/// Picks the body compression for an `Accept-Encoding` header value.
///
/// Gzip is chosen when `gzip` (or its alias `x-gzip`) is listed with a `q`
/// above 0, or when it is not listed and `*` is, with a `q` above 0. An
/// explicit `gzip;q=0` refuses it whatever `*` says. Everything else (no
/// header, an empty or malformed one, only other codings, an unreadable `q`)
/// gives [`Compression::Identity`].
///
/// # Examples
///
/// ```
/// use incident_metrics_exporter::{negotiate_encoding, Compression};
///
/// assert_eq!(negotiate_encoding(Some("gzip")), Compression::Gzip);
/// assert_eq!(negotiate_encoding(Some("br, gzip;q=0.5")), Compression::Gzip);
/// assert_eq!(negotiate_encoding(Some("*, gzip;q=0")), Compression::Identity);
/// assert_eq!(negotiate_encoding(None), Compression::Identity);
/// ```
pub fn negotiate_encoding(accept_encoding: Option<&str>) -> Compression {
    let Some(header) = accept_encoding else {
        return Compression::Identity;
    };
    let mut gzip = None;
    let mut any = None;
    for element in header.split(',') {
        let mut parts = element.split(';');
        let coding = trim_ows(parts.next().unwrap_or_default());
        if !is_token(coding) {
            continue;
        }
        let quality = quality_of(parts);
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            gzip.get_or_insert(quality);
        } else if coding == "*" {
            any.get_or_insert(quality);
        }
    }
    match gzip.or(any) {
        Some(quality) if quality > 0 => Compression::Gzip,
        _ => Compression::Identity,
    }
}

/// One media range of an `Accept` header, with its quality in thousandths.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MediaRange<'a> {
    kind: &'a str,
    subtype: &'a str,
    quality: u16,
    version: Option<&'a str>,
    /// The `proto` and `encoding` parameters of a protobuf range.
    proto: Option<&'a str>,
    encoding: Option<&'a str>,
}

impl<'a> MediaRange<'a> {
    /// Parses one comma-separated element; `None` when it is malformed.
    fn parse(element: &'a str) -> Option<Self> {
        let mut parts = element.split(';');
        let range = trim_ows(parts.next().unwrap_or_default());
        let (kind, subtype) = match range.split_once('/') {
            Some((kind, subtype)) => (trim_ows(kind), trim_ows(subtype)),
            // goautoneg reads a lone `*` as `*/*`.
            None if range == "*" => ("*", "*"),
            None => return None,
        };
        if !is_token(kind) || !is_token(subtype) || (kind == "*" && subtype != "*") {
            return None;
        }
        let mut quality = 1000;
        let mut version = None;
        let mut proto = None;
        let mut encoding = None;
        for param in parts {
            // A parameter without `=` is ignored, as goautoneg does.
            let Some((name, value)) = param.split_once('=') else {
                continue;
            };
            let name = trim_ows(name);
            let value = unquote(trim_ows(value));
            if name.eq_ignore_ascii_case("q") {
                quality = parse_quality(value)?;
            } else if name.eq_ignore_ascii_case("version") {
                version = Some(value);
            } else if name.eq_ignore_ascii_case("proto") {
                proto = Some(value);
            } else if name.eq_ignore_ascii_case("encoding") {
                encoding = Some(value);
            }
        }
        Some(Self {
            kind,
            subtype,
            quality,
            version,
            proto,
            encoding,
        })
    }

    /// 2 for `type/subtype`, 1 for `type/*`, 0 for `*/*`.
    fn specificity(&self) -> u8 {
        u8::from(self.kind != "*") + u8::from(self.subtype != "*")
    }

    /// The format this range names, if we write it.
    fn format(&self) -> Option<Format> {
        let is = |kind: &str, subtype: &str| {
            self.kind.eq_ignore_ascii_case(kind) && self.subtype.eq_ignore_ascii_case(subtype)
        };
        if is("application", "openmetrics-text")
            && matches!(self.version, None | Some("" | "0.0.1" | "1.0.0"))
        {
            Some(Format::OpenMetrics)
        } else if is("text", "plain") && matches!(self.version, None | Some("" | "0.0.4")) {
            Some(Format::Prometheus)
        } else if is("application", "vnd.google.protobuf")
            && self.proto == Some("io.prometheus.client.MetricFamily")
            && self.encoding == Some("delimited")
        {
            Some(Format::Protobuf)
        } else {
            None
        }
    }
}

/// The quality of an `Accept-Encoding` element from its parameters; an
/// unreadable `q` counts as 0 (refused), as Go's `ParseFloat` error does.
fn quality_of<'a>(params: impl Iterator<Item = &'a str>) -> u16 {
    params
        .filter_map(|param| param.split_once('='))
        .filter(|(name, _)| trim_ows(name).eq_ignore_ascii_case("q"))
        .last()
        .map_or(1000, |(_, value)| {
            parse_quality(unquote(trim_ows(value))).unwrap_or(0)
        })
}

/// Parses an RFC 9110 `qvalue` (a number from 0 to 1) into thousandths,
/// rounding any positive value up so that it stays acceptable.
fn parse_quality(value: &str) -> Option<u16> {
    let valid = !value.is_empty()
        && value.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && value.bytes().filter(|b| *b == b'.').count() <= 1
        && !value.starts_with('.')
        && !value.ends_with('.');
    if !valid {
        return None;
    }
    let number: f64 = value.parse().ok()?;
    if !(0.0..=1.0).contains(&number) {
        return None;
    }
    // In 0..=1000 by the check above, so the conversion is exact.
    Some((number * 1000.0).ceil() as u16)
}

/// Trims optional whitespace (spaces and tabs) around a header element.
fn trim_ows(text: &str) -> &str {
    text.trim_matches([' ', '\t'])
}

/// Strips the quotes of a quoted-string parameter value.
fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

/// Whether `text` is an RFC 9110 token (the characters of a type, subtype or
/// content coding).
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OM: Format = Format::OpenMetrics;
    const PROM: Format = Format::Prometheus;
    const PB: Format = Format::Protobuf;

    #[test]
    fn format_table() {
        let cases: &[(Option<&str>, Format)] = &[
            (None, PROM),
            (Some(""), PROM),
            (Some("   "), PROM),
            (Some(","), PROM),
            (Some("*/*"), PROM),
            (Some("*"), PROM),
            (Some("text/plain"), PROM),
            (Some("text/plain; version=0.0.4"), PROM),
            (Some("text/plain;version=0.0.4;charset=utf-8"), PROM),
            (Some("application/openmetrics-text"), OM),
            (Some("application/openmetrics-text; version=1.0.0"), OM),
            (Some("application/openmetrics-text; version=0.0.1"), OM),
            (Some("application/openmetrics-text; version=\"1.0.0\""), OM),
            (Some("application/openmetrics-text; version=2.0.0"), PROM),
            (
                Some("application/openmetrics-text; version=1.0.0; charset=utf-8"),
                OM,
            ),
            // Order by q, whatever the header order.
            (Some("text/plain;q=0.5, application/openmetrics-text"), OM),
            (
                Some("application/openmetrics-text;q=0.3, text/plain;q=0.5"),
                PROM,
            ),
            (Some("text/plain, application/openmetrics-text"), PROM),
            (Some("application/openmetrics-text, text/plain"), OM),
            // Wildcards select nothing by themselves and never outrank.
            (Some("*/*, application/openmetrics-text"), OM),
            (Some("*/*;q=1, application/openmetrics-text;q=0.1"), OM),
            (Some("text/*, application/openmetrics-text;q=0.9"), OM),
            (Some("application/*"), PROM),
            // q=0 is "not acceptable".
            (Some("application/openmetrics-text;q=0"), PROM),
            (Some("application/openmetrics-text;q=0.0, text/plain"), PROM),
            (Some("application/openmetrics-text;q=0.001"), OM),
            // Whitespace and case.
            (
                Some("  application/openmetrics-text ;  version = 1.0.0 ; q = 0.9 "),
                OM,
            ),
            (Some("\tapplication/openmetrics-text\t"), OM),
            (Some("APPLICATION/OpenMetrics-Text; VERSION=1.0.0; Q=1"), OM),
            (Some("Text/Plain"), PROM),
            (Some("Text/Plain, application/openmetrics-text"), PROM),
            // Formats we do not write.
            (Some("text/plain; version=1.0.0"), PROM),
            (Some("text/html"), PROM),
            // Protobuf, delimited only, as Go's expfmt.Negotiate.
            (
                Some(
                    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
                ),
                PB,
            ),
            (
                Some(
                    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
                ),
                PB,
            ),
            (
                Some(
                    "Application/Vnd.Google.Protobuf;Proto=\"io.prometheus.client.MetricFamily\";ENCODING=delimited",
                ),
                PB,
            ),
            (
                Some(
                    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,\
                     application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1",
                ),
                PB,
            ),
            // What Prometheus 2.42 sends with --enable-feature=native-histograms.
            (
                Some(
                    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,\
                     application/openmetrics-text;version=1.0.0;q=0.8,\
                     application/openmetrics-text;version=0.0.1;q=0.75,\
                     text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
                ),
                PB,
            ),
            (
                Some(
                    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.3,\
                     application/openmetrics-text;version=1.0.0;q=0.5",
                ),
                OM,
            ),
            (
                Some(
                    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0",
                ),
                PROM,
            ),
            // Encodings and messages we do not write fall through.
            (
                Some(
                    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text",
                ),
                PROM,
            ),
            (
                Some(
                    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=compact-text,\
                     application/openmetrics-text;q=0.1",
                ),
                OM,
            ),
            (
                Some("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily"),
                PROM,
            ),
            (
                Some("application/vnd.google.protobuf;proto=other.Message;encoding=delimited"),
                PROM,
            ),
            (Some("application/vnd.google.protobuf"), PROM),
            // What Prometheus 3 sends by default.
            (
                Some(
                    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,\
                     application/openmetrics-text;version=0.0.1;q=0.4,\
                     text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,\
                     text/plain;version=0.0.4;q=0.2,*/*;q=0.1",
                ),
                OM,
            ),
            // Garbage: malformed ranges are skipped, the rest still count.
            (Some("garbage"), PROM),
            (Some(";;;,,,==="), PROM),
            (Some("application/openmetrics-text/extra"), PROM),
            (Some("/openmetrics-text"), PROM),
            (Some("*/openmetrics-text"), PROM),
            (Some("garbage, application/openmetrics-text"), OM),
            (Some("application/openmetrics-text;q=abc"), PROM),
            (Some("application/openmetrics-text;q=2"), PROM),
            (Some("application/openmetrics-text;q=-1"), PROM),
            (
                Some("application/openmetrics-text;q=NaN, text/plain;q=0.1"),
                PROM,
            ),
            (Some("application/openmetrics-text;q=.5"), PROM),
            (Some("application/openmetrics-text;q"), OM),
            (Some("appli cation/openmetrics-text"), PROM),
            (
                Some("application/openmetrics-text;version=1.0.0;q=0.5;q"),
                OM,
            ),
            (Some("é/ü, application/openmetrics-text"), OM),
        ];
        for (accept, want) in cases {
            assert_eq!(negotiate_format(*accept), *want, "Accept: {accept:?}");
        }
    }

    #[test]
    fn encoding_table() {
        use Compression::{Gzip, Identity};
        let cases: &[(Option<&str>, Compression)] = &[
            (None, Identity),
            (Some(""), Identity),
            (Some("identity"), Identity),
            (Some("gzip"), Gzip),
            (Some("GZIP"), Gzip),
            (Some("x-gzip"), Gzip),
            (Some("gzip, deflate, br"), Gzip),
            (Some("br;q=1.0, gzip;q=0.8, *;q=0.1"), Gzip),
            (Some("  gzip ; q = 0.5 "), Gzip),
            (Some("gzip;q=0"), Identity),
            (Some("gzip;q=0.000"), Identity),
            (Some("gzip;q=0.001"), Gzip),
            (Some("*"), Gzip),
            (Some("*;q=0"), Identity),
            (Some("*, gzip;q=0"), Identity),
            (Some("gzip;q=0, *"), Identity),
            (Some("deflate, br"), Identity),
            (Some("identity;q=1, *;q=0"), Identity),
            (Some("gzip;q=abc"), Identity),
            (Some("gzip;q=1.5"), Identity),
            (Some("gzip deflate"), Identity),
            (Some(",,,"), Identity),
            (Some(";q=1"), Identity),
            (Some("garbage; gzip"), Identity),
            (Some("gzip;level=9"), Gzip),
        ];
        for (header, want) in cases {
            assert_eq!(
                negotiate_encoding(*header),
                *want,
                "Accept-Encoding: {header:?}"
            );
        }
    }

    #[test]
    fn quality_grammar() {
        assert_eq!(parse_quality("1"), Some(1000));
        assert_eq!(parse_quality("1.000"), Some(1000));
        assert_eq!(parse_quality("0.5"), Some(500));
        assert_eq!(parse_quality("0.0001"), Some(1));
        assert_eq!(parse_quality("0"), Some(0));
        for bad in [
            "", ".", ".5", "1.", "1..0", "1.1", "-0", "+1", "inf", "1e0", "0x1",
        ] {
            assert_eq!(parse_quality(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn never_panics_on_odd_bytes() {
        let odd = [
            "\u{0}",
            "ü;q=ü",
            "a/b;=;=",
            "a/b;q=",
            "\"",
            "a/b;v=\"",
            "🦀/🦀",
        ];
        for header in odd {
            assert_eq!(negotiate_format(Some(header)), PROM, "{header:?}");
            assert_eq!(
                negotiate_encoding(Some(header)),
                Compression::Identity,
                "{header:?}"
            );
        }
    }
}
