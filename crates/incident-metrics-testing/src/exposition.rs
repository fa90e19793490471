//! A strict reader of the text expositions the toolkit writes: Prometheus
//! text 0.0.4 and OpenMetrics 1.0 text, read into [`Sample`]s (name,
//! labels, value, and the timestamp and exemplar when present).
//!
//! It is the one exposition parser of the workspace's tests and of
//! `loadgen`: strict enough that a test built on it fails on malformed
//! output (names and label names checked, exactly one space between the
//! parts of a sample, only the escapes `\\`, `\"` and `\n`, no repeated
//! label, nothing after `# EOF`), and complete enough for what a real
//! scrape holds: comments (`# HELP`, `# TYPE`, `# UNIT`, free comments),
//! blank lines, timestamps and exemplars after ` # `.
//!
//! It does not judge a family's samples against each other (bucket order,
//! `_count` against the buckets): Python's OpenMetrics parser
//! ([`crate::parse_openmetrics`]) and promtool
//! ([`crate::promtool_check_metrics`]) do that.
//!
//! # Examples
//!
//! ```
//! use incident_metrics_testing::exposition;
//!
//! let text = concat!(
//!     "# TYPE jobs counter\n",
//!     "# HELP jobs Jobs run.\n",
//!     "jobs_total{queue=\"a \\\"b\\\"\"} 4 # {trace_id=\"7\"} 1 1700000000.5\n",
//!     "# EOF\n",
//! );
//! let parsed = exposition::parse(text)?;
//! assert!(parsed.eof);
//! assert_eq!(parsed.value("jobs_total", &[("queue", "a \"b\"")]), Some(4.0));
//! let exemplar = parsed.samples[0].exemplar.as_ref().map(|e| e.value);
//! assert_eq!(exemplar, Some(1.0));
//! # Ok::<(), exposition::ParseError>(())
//! ```

use std::fmt;

/// Label pairs in the order they were written.
pub type Labels = Vec<(String, String)>;

/// The metric types a `# TYPE` line may name (both formats).
const TYPES: [&str; 9] = [
    "counter",
    "gauge",
    "histogram",
    "summary",
    "info",
    "stateset",
    "gaugehistogram",
    "unknown",
    "untyped",
];

/// One sample line.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The sample's name, suffix included (`http_requests_total`,
    /// `..._bucket`).
    pub name: String,
    /// The labels, unescaped, in the order written.
    pub labels: Labels,
    /// The value.
    pub value: f64,
    /// The value exactly as written (`4`, `+Inf`, `1.5e-7`), for checks of
    /// the text an encoder chose and of integers beyond `f64`'s precision.
    pub value_text: String,
    /// The timestamp, when one follows the value (milliseconds in
    /// Prometheus text, seconds in OpenMetrics: as written).
    pub timestamp: Option<f64>,
    /// The exemplar written after ` # `, if any.
    pub exemplar: Option<Exemplar>,
}

impl Sample {
    /// The value of the label `name`, if the sample has it.
    ///
    /// ```
    /// # use incident_metrics_testing::exposition::{Line, parse_line};
    /// let Line::Sample(s) = parse_line("up{job=\"a\"} 1")? else { unreachable!() };
    /// assert_eq!(s.label("job"), Some("a"));
    /// assert_eq!(s.label("instance"), None);
    /// # Ok::<(), incident_metrics_testing::exposition::ParseError>(())
    /// ```
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the sample has exactly these labels, in any order.
    pub fn has_labels(&self, labels: &[(&str, &str)]) -> bool {
        self.labels.len() == labels.len() && labels.iter().all(|(k, v)| self.label(k) == Some(*v))
    }
}

/// An OpenMetrics exemplar: `# {labels} value [timestamp]` after a sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Exemplar {
    /// The exemplar's labels, in the order written.
    pub labels: Labels,
    /// The exemplar's value.
    pub value: f64,
    /// The exemplar's timestamp, if written.
    pub timestamp: Option<f64>,
}

/// What one line of an exposition is.
#[derive(Clone, Debug, PartialEq)]
pub enum Line {
    /// A sample.
    Sample(Sample),
    /// `# HELP name text` (the text as written, escapes kept).
    Help {
        /// The family's name.
        name: String,
        /// The help text, possibly empty.
        text: String,
    },
    /// `# TYPE name type`, the type one of the two formats' types.
    Type {
        /// The family's name.
        name: String,
        /// The type (`counter`, `gauge`, ...).
        kind: String,
    },
    /// `# UNIT name unit` (OpenMetrics).
    Unit {
        /// The family's name.
        name: String,
        /// The unit (`seconds`, `bytes`, ...).
        unit: String,
    },
    /// `# EOF`, the end of an OpenMetrics exposition.
    Eof,
    /// Any other line starting with `#` (allowed in Prometheus text only).
    Comment(String),
    /// An empty line (allowed in Prometheus text only).
    Blank,
}

/// A parsed exposition.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Exposition {
    /// Every sample, in order.
    pub samples: Vec<Sample>,
    /// Whether the text ended with `# EOF` (OpenMetrics).
    pub eof: bool,
}

impl Exposition {
    /// The value of the sample `name` with exactly `labels` (in any order).
    ///
    /// ```
    /// let parsed = incident_metrics_testing::exposition::parse("a{x=\"1\",y=\"2\"} 3\n")?;
    /// assert_eq!(parsed.value("a", &[("y", "2"), ("x", "1")]), Some(3.0));
    /// assert_eq!(parsed.value("a", &[("x", "1")]), None);
    /// # Ok::<(), incident_metrics_testing::exposition::ParseError>(())
    /// ```
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| s.name == name && s.has_labels(labels))
            .map(|s| s.value)
    }

    /// The samples whose name ends with `suffix`: a family's samples
    /// whatever the registry's namespace prefix.
    ///
    /// ```
    /// let parsed = incident_metrics_testing::exposition::parse("ns_up 1\nns_down 0\n")?;
    /// assert_eq!(parsed.with_suffix("_up").count(), 1);
    /// # Ok::<(), incident_metrics_testing::exposition::ParseError>(())
    /// ```
    pub fn with_suffix<'a>(&'a self, suffix: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples
            .iter()
            .filter(move |s| s.name.ends_with(suffix))
    }
}

/// Why a text is not a well-formed exposition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The 1-based number of the line at fault.
    pub number: usize,
    /// The line at fault.
    pub line: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}: {:?}", self.number, self.reason, self.line)
    }
}

impl std::error::Error for ParseError {}

/// Parses a whole exposition (either format).
///
/// Blank lines and free comments are accepted (Prometheus text allows
/// them); every other line must be well-formed. The text must end with a
/// line break, except right after `# EOF`, and nothing may follow `# EOF`.
///
/// # Errors
///
/// The first malformed line, with its number and what is wrong with it.
///
/// ```
/// use incident_metrics_testing::exposition::parse;
///
/// assert!(parse("a 1\n# EOF\n")?.eof);
/// assert!(parse("a 1").is_err()); // no final line break
/// assert!(parse("# EOF\na 1\n").is_err());
/// assert!(parse("a{b=\"c\"}  1\n").is_err()); // two spaces
/// # Ok::<(), incident_metrics_testing::exposition::ParseError>(())
/// ```
pub fn parse(text: &str) -> Result<Exposition, ParseError> {
    let mut exposition = Exposition::default();
    let body = text.strip_suffix('\n').unwrap_or(text);
    if body.is_empty() {
        return Ok(exposition);
    }
    for (i, line) in body.split('\n').enumerate() {
        let at = |reason: String| ParseError {
            number: i + 1,
            line: line.to_owned(),
            reason,
        };
        if exposition.eof {
            return Err(at("text after `# EOF`".to_owned()));
        }
        match parse_line(line).map_err(|e| at(e.reason))? {
            Line::Sample(sample) => exposition.samples.push(sample),
            Line::Eof => exposition.eof = true,
            _ => {}
        }
    }
    if !text.ends_with('\n') && !exposition.eof {
        let number = body.split('\n').count();
        return Err(ParseError {
            number,
            line: body.rsplit('\n').next().unwrap_or_default().to_owned(),
            reason: "text must end with a line break".to_owned(),
        });
    }
    Ok(exposition)
}

/// Parses one line (without its line break).
///
/// # Errors
///
/// When the line is not a well-formed comment or sample; the error's
/// `number` is 1.
///
/// ```
/// use incident_metrics_testing::exposition::{Line, parse_line};
///
/// assert_eq!(parse_line("# EOF")?, Line::Eof);
/// assert!(matches!(parse_line("# TYPE up gauge")?, Line::Type { .. }));
/// assert!(parse_line("# TYPE up bogus").is_err());
/// let Line::Sample(s) = parse_line("up{x=\"a\\nb\"} -Inf 1700000000")? else { unreachable!() };
/// assert_eq!((s.label("x"), s.value, s.timestamp), (Some("a\nb"), f64::NEG_INFINITY, Some(1.7e9)));
/// # Ok::<(), incident_metrics_testing::exposition::ParseError>(())
/// ```
pub fn parse_line(line: &str) -> Result<Line, ParseError> {
    let at = |reason: String| ParseError {
        number: 1,
        line: line.to_owned(),
        reason,
    };
    if line.is_empty() {
        return Ok(Line::Blank);
    }
    if line.starts_with('#') {
        return parse_comment(line).map_err(at);
    }
    parse_sample(line).map(Line::Sample).map_err(at)
}

/// Parses a sample value: a decimal number, or (case-insensitively, as the
/// OpenMetrics ABNF has it) `NaN`, `Inf`, `+Inf`, `-Inf`, `Infinity`.
///
/// # Errors
///
/// When `text` is none of those (`1.2.3`, `infinite`, `0x1`, ``).
///
/// ```
/// use incident_metrics_testing::exposition::parse_value;
///
/// assert_eq!(parse_value("1e-7"), Ok(1e-7));
/// assert_eq!(parse_value("+Inf"), Ok(f64::INFINITY));
/// assert!(parse_value("NaN")?.is_nan());
/// assert!(parse_value("1.2.3").is_err());
/// # Ok::<(), String>(())
/// ```
pub fn parse_value(text: &str) -> Result<f64, String> {
    let lower = text.to_ascii_lowercase();
    let (sign, body) = match lower.as_bytes().first() {
        Some(b'+') => (1.0, &lower[1..]),
        Some(b'-') => (-1.0, &lower[1..]),
        _ => (1.0, lower.as_str()),
    };
    if body == "inf" || body == "infinity" {
        return Ok(sign * f64::INFINITY);
    }
    if lower == "nan" {
        return Ok(f64::NAN);
    }
    // [sign] digits [. digits] [e [sign] digits], or [sign] . digits ...
    let (mantissa, exponent) = match body.split_once('e') {
        Some((m, e)) => (m, Some(e)),
        None => (body, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = digits(int) && digits(frac) && !(int.is_empty() && frac.is_empty());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    if !mantissa_ok || !exponent_ok {
        return Err(format!("not a sample value: {text:?}"));
    }
    text.parse::<f64>()
        .map_err(|e| format!("not a sample value: {text:?}: {e}"))
}

/// Whether `s` is a metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Whether `s` is a label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_comment(line: &str) -> Result<Line, String> {
    if line == "# EOF" {
        return Ok(Line::Eof);
    }
    let Some(comment) = line.strip_prefix("# ") else {
        return Ok(Line::Comment(line.to_owned()));
    };
    let (keyword, rest) = comment.split_once(' ').unwrap_or((comment, ""));
    if !matches!(keyword, "HELP" | "TYPE" | "UNIT") {
        return Ok(Line::Comment(line.to_owned()));
    }
    let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
    if !is_metric_name(name) {
        return Err(format!("bad metric name {name:?} in # {keyword}"));
    }
    let name = name.to_owned();
    match keyword {
        "HELP" => Ok(Line::Help {
            name,
            text: text.to_owned(),
        }),
        "TYPE" if TYPES.contains(&text) => Ok(Line::Type {
            name,
            kind: text.to_owned(),
        }),
        "UNIT" if is_label_name(text) => Ok(Line::Unit {
            name,
            unit: text.to_owned(),
        }),
        _ => Err(format!("bad # {keyword} {text:?}")),
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or_else(|| "no value".to_owned())?;
    let name = &line[..name_end];
    if !is_metric_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        let (parsed, tail) = parse_labels(after)?;
        labels = parsed;
        rest = tail;
    }
    let rest = rest
        .strip_prefix(' ')
        .ok_or_else(|| "no single space before the value".to_owned())?;
    let (main, exemplar) = match rest.split_once(" # ") {
        Some((main, exemplar)) => (main, Some(parse_exemplar(exemplar)?)),
        None => (rest, None),
    };
    let (value_text, timestamp) = value_and_timestamp(main)?;
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value: parse_value(value_text)?,
        value_text: value_text.to_owned(),
        timestamp,
        exemplar,
    })
}

/// `value` or `value timestamp`, separated by exactly one space.
fn value_and_timestamp(text: &str) -> Result<(&str, Option<f64>), String> {
    let mut parts = text.split(' ');
    let value = parts.next().unwrap_or_default();
    let timestamp = parts.next();
    if parts.next().is_some() || value.is_empty() || timestamp == Some("") {
        return Err(format!("not `value [timestamp]`: {text:?}"));
    }
    let timestamp = timestamp.map(parse_timestamp).transpose()?;
    Ok((value, timestamp))
}

fn parse_timestamp(text: &str) -> Result<f64, String> {
    match parse_value(text) {
        Ok(t) if t.is_finite() => Ok(t),
        _ => Err(format!("not a timestamp: {text:?}")),
    }
}

/// `{labels} value [timestamp]`, after a sample's ` # `.
fn parse_exemplar(text: &str) -> Result<Exemplar, String> {
    let after = text
        .strip_prefix('{')
        .ok_or_else(|| format!("an exemplar starts with `{{`: {text:?}"))?;
    let (labels, rest) = parse_labels(after)?;
    let rest = rest
        .strip_prefix(' ')
        .ok_or_else(|| "no single space before the exemplar's value".to_owned())?;
    let (value, timestamp) = value_and_timestamp(rest)?;
    Ok(Exemplar {
        labels,
        value: parse_value(value)?,
        timestamp,
    })
}

/// The labels after an opening `{`, through the closing `}`; the text after
/// it. Label pairs are separated by single commas with no trailing comma.
fn parse_labels(after_brace: &str) -> Result<(Labels, &str), String> {
    let mut labels: Labels = Vec::new();
    let mut chars = after_brace.char_indices().peekable();
    loop {
        if let Some(&(i, '}')) = chars.peek() {
            return Ok((labels, &after_brace[i + 1..]));
        }
        if !labels.is_empty() {
            match chars.next() {
                Some((_, ',')) => {}
                other => {
                    return Err(format!(
                        "expected `,` between labels, got {:?}",
                        other.map(|(_, c)| c)
                    ));
                }
            }
        }
        let mut key = String::new();
        loop {
            match chars.next() {
                Some((_, '=')) => break,
                Some((_, c)) => key.push(c),
                None => return Err("unterminated label set".to_owned()),
            }
        }
        if !is_label_name(&key) {
            return Err(format!("bad label name {key:?}"));
        }
        if chars.next().map(|(_, c)| c) != Some('"') {
            return Err(format!("no opening quote for label {key:?}"));
        }
        let value = read_label_value(&mut chars)?;
        if labels.iter().any(|(k, _)| *k == key) {
            return Err(format!("label {key:?} repeated"));
        }
        labels.push((key, value));
    }
}

/// Reads a label value after its opening quote, through its closing quote,
/// unescaping `\\`, `\"` and `\n`; refuses any other escape, a raw newline
/// and a missing closing quote.
fn read_label_value(chars: &mut impl Iterator<Item = (usize, char)>) -> Result<String, String> {
    let mut value = String::new();
    loop {
        match chars.next().map(|(_, c)| c) {
            Some('"') => return Ok(value),
            Some('\\') => match chars.next().map(|(_, c)| c) {
                Some('\\') => value.push('\\'),
                Some('"') => value.push('"'),
                Some('n') => value.push('\n'),
                other => return Err(format!("bad escape {other:?}")),
            },
            Some('\n') => return Err("raw newline in a label value".to_owned()),
            Some(c) => value.push(c),
            None => return Err("unterminated label value".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(line: &str) -> Sample {
        match parse_line(line) {
            Ok(Line::Sample(s)) => s,
            other => panic!("{line:?}: {other:?}"),
        }
    }

    fn pairs(labels: &[(&str, &str)]) -> Labels {
        labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_sample_reads_name_labels_value_and_its_text() {
        let s = sample("svc_a{v=\"q\\\"\\\\\\n\",w=\"}, # \"} -Inf");
        assert_eq!(s.name, "svc_a");
        assert_eq!(s.labels, pairs(&[("v", "q\"\\\n"), ("w", "}, # ")]));
        assert_eq!(s.value, f64::NEG_INFINITY);
        assert_eq!(s.value_text, "-Inf");
        assert_eq!((s.timestamp, s.exemplar), (None, None));
        let s = sample("up 18446744073709551615");
        assert_eq!(s.value_text, "18446744073709551615");
        assert!(s.labels.is_empty());
        assert!(sample("a{} 1").labels.is_empty());
    }

    #[test]
    fn timestamps_and_exemplars_after_the_value() {
        let s = sample("a_bucket{le=\"0.5\"} 3 1700000000.25 # {trace_id=\"ab\"} 0.4 1700000000");
        assert_eq!(s.value, 3.0);
        assert_eq!(s.timestamp, Some(1_700_000_000.25));
        assert_eq!(
            s.exemplar,
            Some(Exemplar {
                labels: pairs(&[("trace_id", "ab")]),
                value: 0.4,
                timestamp: Some(1_700_000_000.0),
            })
        );
        let s = sample("a_total 7 # {} 1");
        assert_eq!(s.timestamp, None);
        assert_eq!(
            s.exemplar.map(|e| (e.labels.len(), e.value)),
            Some((0, 1.0))
        );
    }

    #[test]
    fn malformed_samples_are_refused() {
        for bad in [
            "svc_a{v=\"x} 1",
            "svc_a{v=\"\\x\"} 1",
            "svc_a{v=x} 1",
            "svc_a{v=\"x\"}  1",
            "svc_a{v=\"x\"} 1 2 3",
            "svc_a{v=\"x\"} 1 ",
            "svc_a{v=\"x\"v=\"y\"} 1",
            "svc_a{v=\"x\",v=\"y\"} 1",
            "svc_a{v=\"x\",} 1",
            "svc_a{9=\"x\"} 1",
            "svc-a 1",
            "svc_a 1.2.3",
            "svc_a infinite",
            "svc_a 1 NaN",
            "svc_a 1 # 2",
            "svc_a 1 # {x=\"y\"}",
            "svc_a ",
            "svc_a",
            " svc_a 1",
        ] {
            assert!(parse_line(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn comments_are_read_and_checked() {
        assert_eq!(
            parse_line("# HELP a_b Some help.").ok(),
            Some(Line::Help {
                name: "a_b".to_owned(),
                text: "Some help.".to_owned()
            })
        );
        assert_eq!(
            parse_line("# UNIT a_seconds seconds").ok(),
            Some(Line::Unit {
                name: "a_seconds".to_owned(),
                unit: "seconds".to_owned()
            })
        );
        assert_eq!(
            parse_line("# just words").ok(),
            Some(Line::Comment("# just words".to_owned()))
        );
        assert_eq!(parse_line("").ok(), Some(Line::Blank));
        for bad in [
            "# TYPE a bogus",
            "# HELP 9a x",
            "# UNIT a",
            "# TYPE a-b gauge",
        ] {
            assert!(parse_line(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_whole_exposition_and_where_it_fails() {
        let text = "# HELP a A.\n# TYPE a gauge\na 1\n\n# free\nb{x=\"y\"} 2\n";
        let parsed = parse(text).unwrap();
        assert!(!parsed.eof);
        assert_eq!(parsed.samples.len(), 2);
        assert_eq!(parsed.value("b", &[("x", "y")]), Some(2.0));
        assert_eq!(parsed.value("b", &[]), None);
        assert_eq!(parse("").unwrap(), Exposition::default());
        assert!(parse("# EOF").unwrap().eof);
        let err = parse("a 1\nb{ 2\nc 3\n").unwrap_err();
        assert_eq!((err.number, err.line.as_str()), (2, "b{ 2"));
        assert!(err.to_string().starts_with("line 2: "), "{err}");
        let err = parse("a 1\n# EOF\n\n").unwrap_err();
        assert_eq!(err.reason, "text after `# EOF`");
        let err = parse("a 1\nb 2").unwrap_err();
        assert_eq!((err.number, err.line.as_str()), (2, "b 2"));
    }

    #[test]
    fn values_follow_the_openmetrics_grammar() {
        for (text, want) in [
            ("0", 0.0),
            ("-0.5", -0.5),
            (".5", 0.5),
            ("5.", 5.0),
            ("1E+3", 1000.0),
            ("+inf", f64::INFINITY),
            ("-Infinity", f64::NEG_INFINITY),
        ] {
            assert_eq!(parse_value(text), Ok(want), "{text}");
        }
        for bad in ["", ".", "e3", "1e", "0x10", "1_000", "nan1", "--1"] {
            assert!(parse_value(bad).is_err(), "{bad:?} accepted");
        }
    }
}
