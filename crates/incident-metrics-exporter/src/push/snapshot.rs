//! A snapshot of a registry as remote-write series: the registry rendered as
//! Prometheus text 0.0.4 and read back into labelled samples.
//!
//! prometheus-client's encoders are the only way into a registry. Of the two
//! text formats, 0.0.4 is the one read back here because it is what a
//! Prometheus scraping the service stores by default, and it carries
//! nothing a sender must strip: no exemplars, no `# EOF`, no `_created`
//! samples (those of a collector writing 0.0.4 by hand are skipped all the
//! same). Histograms come out as their `_bucket`, `_sum` and `_count`
//! series, as remote-write 1.0 sends them.

use std::collections::HashMap;
use std::sync::Arc;

use incident_metrics_core::Registry;

use super::wire::Label;
use crate::{Error, Format, Result, render};

/// One series' labels, `__name__` included, sorted by name as remote-write
/// requires. Shared between snapshots, so that a series is parsed once.
pub(crate) type Series = Arc<[Label]>;

/// Reads registries into samples, remembering each series from the last
/// snapshot so that an unchanged series costs a lookup, not a parse.
#[derive(Debug, Default)]
pub(crate) struct Snapshotter {
    external_labels: Vec<(String, String)>,
    /// The series of the last snapshot, by their text (name and labels).
    known: HashMap<String, Series>,
}

impl Snapshotter {
    /// A snapshotter adding `external_labels` to every series that lacks a
    /// label of the same name.
    pub(crate) fn new(external_labels: Vec<(String, String)>) -> Self {
        Self {
            external_labels,
            known: HashMap::new(),
        }
    }

    /// Every sample of `registry` now.
    pub(crate) fn take(&mut self, registry: &Registry) -> Result<Vec<(Series, f64)>> {
        self.parse(&render(registry, Format::Prometheus)?)
    }

    /// Every sample of a Prometheus 0.0.4 text.
    pub(crate) fn parse(&mut self, text: &str) -> Result<Vec<(Series, f64)>> {
        let mut known = HashMap::with_capacity(self.known.len());
        let mut samples = Vec::with_capacity(self.known.len());
        // The family of the last `# TYPE` line and whether `_created` is
        // metadata in it (counters, histograms, summaries).
        let mut created_is_meta: Option<String> = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut words = rest.split_ascii_whitespace();
                let family = words.next().unwrap_or_default();
                let family = family.strip_suffix("_total").unwrap_or(family);
                created_is_meta = matches!(words.next(), Some("counter" | "histogram" | "summary"))
                    .then(|| format!("{family}_created"));
                continue;
            }
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let bad = |reason| Error::Snapshot {
                line: line.to_owned(),
                reason,
            };
            let end = series_end(line).ok_or_else(|| bad("unterminated label set"))?;
            let (key, rest) = line.split_at(end);
            let mut fields = rest.split_ascii_whitespace();
            let value = fields.next().ok_or_else(|| bad("no value"))?;
            let value: f64 = value
                .parse()
                .map_err(|_| bad("the value is not a number"))?;
            if fields.nth(1).is_some() {
                return Err(bad("more than a value and a timestamp"));
            }
            let name = &key[..key.find('{').unwrap_or(key.len())];
            if name.is_empty() {
                return Err(bad("no metric name"));
            }
            if created_is_meta.as_deref() == Some(name) {
                continue;
            }
            // Move known series (and their keys) over rather than copying.
            let series = if let Some((key, series)) = self.known.remove_entry(key) {
                known.insert(key, Arc::clone(&series));
                series
            } else if let Some(series) = known.get(key) {
                Arc::clone(series)
            } else {
                let series = self.series(name, &key[name.len()..]).map_err(bad)?;
                known.insert(key.to_owned(), Arc::clone(&series));
                series
            };
            samples.push((series, value));
        }
        self.known = known;
        Ok(samples)
    }

    /// Builds the series of `name` with the label set `labels` (`{...}` or
    /// empty), adding the external labels and sorting.
    fn series(&self, name: &str, labels: &str) -> std::result::Result<Series, &'static str> {
        let mut out = vec![Label {
            name: "__name__".to_owned(),
            value: name.to_owned(),
        }];
        if let Some(inner) = labels.strip_prefix('{') {
            parse_labels(inner, &mut out)?;
        }
        for (name, value) in &self.external_labels {
            if !out.iter().any(|l| &l.name == name) {
                out.push(Label {
                    name: name.clone(),
                    value: value.clone(),
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out.into())
    }
}

/// Where the series part of a sample line (name and label set) ends.
fn series_end(line: &str) -> Option<usize> {
    let Some(open) = line.find(['{', ' ']) else {
        return Some(line.len());
    };
    if line.as_bytes()[open] == b' ' {
        return Some(open);
    }
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, b) in line.bytes().enumerate().skip(open + 1) {
        match b {
            _ if escaped => escaped = false,
            b'\\' if in_quotes => escaped = true,
            b'"' => in_quotes = !in_quotes,
            b'}' if !in_quotes => return Some(i + 1),
            _ => {}
        }
    }
    None
}

/// Parses `name="value",...}` (the text after `{`), unescaping values.
fn parse_labels(text: &str, out: &mut Vec<Label>) -> std::result::Result<(), &'static str> {
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches([',', ' ']);
        if rest.starts_with('}') {
            return Ok(());
        }
        let (name, after) = rest.split_once('=').ok_or("a label without `=`")?;
        let after = after
            .strip_prefix('"')
            .ok_or("a label value without quotes")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c @ ('\\' | '"'))) => value.push(c),
                    Some((_, c)) => {
                        value.push('\\');
                        value.push(c);
                    }
                    None => return Err("an unterminated label value"),
                },
                Some((_, c)) => value.push(c),
                None => return Err("an unterminated label value"),
            }
        };
        out.push(Label {
            name: name.trim().to_owned(),
            value,
        });
        rest = &after[end + 1..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(series: &Series) -> Vec<(&str, &str)> {
        series
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect()
    }

    #[test]
    fn reads_samples_labels_and_special_values() {
        let text = "# HELP a_total A.\n# TYPE a_total counter\n\
                    a_total{method=\"GET\",path=\"/a \\\"q\\\" \\\\ b\\nc}{,=\"} 7\n\
                    a_created 1.7e9\n\
                    # TYPE g gauge\ng -1.5e+06\ng_inf{x=\"\"} +Inf\nn NaN\nm -Inf 1700000000000\n";
        let mut s = Snapshotter::new(vec![("instance".into(), "i1".into())]);
        let samples = s.parse(text).unwrap();
        assert_eq!(samples.len(), 5);
        assert_eq!(
            labels(&samples[0].0),
            [
                ("__name__", "a_total"),
                ("instance", "i1"),
                ("method", "GET"),
                ("path", "/a \"q\" \\ b\nc}{,=")
            ]
        );
        assert_eq!(samples[0].1, 7.0);
        assert_eq!(samples[1].1, -1.5e6);
        assert_eq!(samples[2].1, f64::INFINITY);
        assert_eq!(labels(&samples[2].0)[2], ("x", ""));
        assert!(samples[3].1.is_nan());
        assert_eq!(samples[4].1, f64::NEG_INFINITY);
    }

    #[test]
    fn series_labels_win_over_external_ones_and_sort() {
        let mut s = Snapshotter::new(vec![
            ("job".into(), "ext".into()),
            ("Zone".into(), "z".into()),
        ]);
        let samples = s.parse("x{job=\"own\",b=\"1\"} 1\n").unwrap();
        // Byte order: upper-case names sort before `__name__`.
        assert_eq!(
            labels(&samples[0].0),
            [("Zone", "z"), ("__name__", "x"), ("b", "1"), ("job", "own")]
        );
    }

    #[test]
    fn skips_created_only_where_it_is_metadata() {
        let text = "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\nh_created 5\n\
                    # TYPE job_created gauge\njob_created 9\n";
        let names: Vec<_> = Snapshotter::default()
            .parse(text)
            .unwrap()
            .iter()
            .map(|(s, v)| (s[0].value.clone(), *v))
            .collect();
        assert_eq!(
            names,
            [
                ("h_bucket".to_owned(), 2.0),
                ("h_sum".to_owned(), 3.0),
                ("h_count".to_owned(), 2.0),
                ("job_created".to_owned(), 9.0)
            ]
        );
    }

    #[test]
    fn reuses_series_between_snapshots() {
        let mut s = Snapshotter::default();
        let first = s.parse("a{x=\"1\"} 1\nb 2\n").unwrap();
        let second = s.parse("a{x=\"1\"} 5\n").unwrap();
        assert!(Arc::ptr_eq(&first[0].0, &second[0].0));
        assert_eq!(s.known.len(), 1, "forgotten series are dropped");
    }

    #[test]
    fn refuses_malformed_lines_without_panicking() {
        for line in [
            "a{x=\"1\" 1",
            "a{x=1} 1",
            "a",
            "a{x} 1",
            "a x",
            "{x=\"1\"} 1",
            "a 1 2 3",
            "a{x=\"\\",
        ] {
            let e = Snapshotter::default().parse(line);
            assert!(e.is_err(), "{line:?} gave {e:?}");
        }
    }
}
