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
//!
//! With exemplars or native histograms asked for (`exemplars`,
//! `native_histograms` of the remote-write settings), the text cannot carry
//! them, so the snapshot is taken from prometheus-client's protobuf encoder
//! instead (`io.prometheus.client.MetricFamily`, structured): the same
//! classic series with the same values (a test compares both ways), plus
//! counters' and buckets' exemplars and each native histogram's schema,
//! zero bucket, spans and deltas. Without either setting the text path
//! stays, unchanged.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;

use incident_metrics_core::Registry;
use incident_metrics_core::prometheus_client::encoding::prometheus_protobuf::{
    self, prometheus_data_model as pb,
};

use super::wire::{self, Label};
use crate::{Error, Format, Result, render};

/// One series' labels, `__name__` included, sorted by name as remote-write
/// requires. Shared between snapshots, so that a series is parsed once.
pub(crate) type Series = Arc<[Label]>;

/// What one series holds at a snapshot: a float sample or a native
/// histogram (its timestamp set when it is sent).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    /// A float sample.
    Float(f64),
    /// A native histogram.
    Native(Box<wire::Histogram>),
}

/// One series' value at a snapshot, with the exemplar to send beside it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Point {
    pub(crate) series: Series,
    pub(crate) value: Value,
    /// An exemplar new since the last snapshot; a timestamp of 0 means
    /// "the sample's".
    pub(crate) exemplar: Option<Box<wire::Exemplar>>,
}

/// Reads registries into samples, remembering each series from the last
/// snapshot so that an unchanged series costs a lookup, not a parse.
#[derive(Debug, Default)]
pub(crate) struct Snapshotter {
    external_labels: Vec<(String, String)>,
    /// The series of the last snapshot, by their text (name and labels).
    known: HashMap<String, Series>,
    /// Send exemplars (the structured path).
    exemplars: bool,
    /// Send native histograms (the structured path).
    native: bool,
    /// The series of the last structured snapshot.
    known_structured: HashSet<Series>,
    /// The exemplar each series carried at the last structured snapshot.
    last_exemplars: HashMap<Series, wire::Exemplar>,
}

impl Snapshotter {
    /// A snapshotter adding `external_labels` to every series that lacks a
    /// label of the same name.
    pub(crate) fn new(external_labels: Vec<(String, String)>) -> Self {
        Self {
            external_labels,
            ..Self::default()
        }
    }

    /// Sends exemplars and native histograms as asked: either one takes
    /// the snapshot from the structured protobuf encoder.
    pub(crate) fn with_structured(mut self, exemplars: bool, native: bool) -> Self {
        self.exemplars = exemplars;
        self.native = native;
        self
    }

    /// Sends no more native histograms (the receiver refused them).
    pub(crate) fn stop_native(&mut self) {
        self.native = false;
    }

    /// Every series of `registry` now.
    pub(crate) fn take(&mut self, registry: &Registry) -> Result<Vec<Point>> {
        if self.exemplars || self.native {
            let families =
                prometheus_protobuf::encode(registry.as_prometheus()).map_err(|source| {
                    Error::Render {
                        format: Format::Protobuf,
                        source,
                    }
                })?;
            return Ok(self.structured(&families));
        }
        let samples = self.parse(&render(registry, Format::Prometheus)?)?;
        Ok(samples
            .into_iter()
            .map(|(series, value)| Point {
                series,
                value: Value::Float(value),
                exemplar: None,
            })
            .collect())
    }

    /// Every series of `families` (prometheus-client's structured
    /// protobuf snapshot), in the order the text path gives the classic
    /// ones; a native histogram follows its classic series.
    pub(crate) fn structured(&mut self, families: &[pb::MetricFamily]) -> Vec<Point> {
        let mut out = Builder {
            snapshotter: self,
            known: HashSet::new(),
            exemplars: HashMap::new(),
            points: Vec::new(),
        };
        out.known.reserve(out.snapshotter.known_structured.len());
        out.points.reserve(out.snapshotter.known_structured.len());
        for family in families {
            let name = family.name.as_str();
            for metric in &family.metric {
                out.metric(name, family.r#type(), metric);
            }
        }
        let Builder {
            known,
            exemplars,
            points,
            ..
        } = out;
        self.known_structured = known;
        self.last_exemplars = exemplars;
        points
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

/// One structured snapshot in the making.
struct Builder<'a> {
    snapshotter: &'a Snapshotter,
    /// The series of this snapshot.
    known: HashSet<Series>,
    /// The exemplar each series carries now.
    exemplars: HashMap<Series, wire::Exemplar>,
    points: Vec<Point>,
}

impl Builder<'_> {
    fn metric(&mut self, name: &str, kind: pb::MetricType, metric: &pb::Metric) {
        let labels = metric.label.as_slice();
        match kind {
            pb::MetricType::Counter => {
                if let Some(counter) = &metric.counter {
                    let exemplar = counter.exemplar.as_ref();
                    self.float(name, "", labels, None, counter.value, exemplar);
                }
            }
            pb::MetricType::Gauge => {
                if let Some(gauge) = &metric.gauge {
                    self.float(name, "", labels, None, gauge.value, None);
                }
            }
            pb::MetricType::Untyped => {
                if let Some(untyped) = &metric.untyped {
                    self.float(name, "", labels, None, untyped.value, None);
                }
            }
            pb::MetricType::Summary => {
                if let Some(summary) = &metric.summary {
                    for q in &summary.quantile {
                        let quantile = ("quantile", go_float(q.quantile));
                        self.float(name, "", labels, Some(quantile), q.value, None);
                    }
                    self.float(name, "_sum", labels, None, summary.sample_sum, None);
                    let count = summary.sample_count as f64;
                    self.float(name, "_count", labels, None, count, None);
                }
            }
            pb::MetricType::Histogram | pb::MetricType::GaugeHistogram => {
                if let Some(histogram) = &metric.histogram {
                    self.histogram(name, labels, histogram);
                }
            }
        }
    }

    /// A histogram's classic series as the 0.0.4 text writes them
    /// (`_bucket` with `le` as client_golang formats it, a `+Inf` bucket
    /// even when the encoder leaves it out, `_sum`, `_count`), then its
    /// native histogram when it has one and they are asked for.
    fn histogram(&mut self, name: &str, labels: &[pb::LabelPair], h: &pb::Histogram) {
        let count = count_of(h.sample_count, h.sample_count_float);
        let mut inf_seen = false;
        for bucket in &h.bucket {
            inf_seen |= bucket.upper_bound == f64::INFINITY;
            let le = ("le", go_float(bucket.upper_bound));
            let value = count_of(bucket.cumulative_count, bucket.cumulative_count_float);
            let exemplar = bucket.exemplar.as_ref();
            self.float(name, "_bucket", labels, Some(le), value, exemplar);
        }
        if !inf_seen {
            self.float(
                name,
                "_bucket",
                labels,
                Some(("le", "+Inf".to_owned())),
                count,
                None,
            );
        }
        self.float(name, "_sum", labels, None, h.sample_sum, None);
        self.float(name, "_count", labels, None, count, None);
        if !self.snapshotter.native {
            return;
        }
        let Some(native) = native_histogram(h) else {
            return;
        };
        // The newest of the buckets' exemplars (a series takes them in time
        // order, so one per snapshot).
        let newest = h
            .bucket
            .iter()
            .filter_map(|b| b.exemplar.as_ref())
            .chain(&h.exemplars)
            .max_by_key(|e| e.timestamp.as_ref().map(|t| (t.seconds, t.nanos)));
        let series = self.series(name, "", labels, None);
        self.push(series, Value::Native(Box::new(native)), newest);
    }

    fn float(
        &mut self,
        name: &str,
        suffix: &str,
        labels: &[pb::LabelPair],
        extra: Option<(&'static str, String)>,
        value: f64,
        exemplar: Option<&pb::Exemplar>,
    ) {
        let series = self.series(name, suffix, labels, extra);
        self.push(series, Value::Float(value), exemplar);
    }

    /// Adds a point; its exemplar goes only when it changed since the last
    /// snapshot, except on a native histogram's series, where it goes with
    /// every snapshot: Prometheus (2.42) appends a series' exemplars before
    /// its histograms and drops those of a series it does not hold yet, so
    /// the first one sent is lost; it ignores repeats.
    fn push(&mut self, series: Series, value: Value, exemplar: Option<&pb::Exemplar>) {
        let native = matches!(value, Value::Native(_));
        let exemplar = exemplar
            .filter(|_| self.snapshotter.exemplars)
            .map(remote_exemplar)
            .and_then(|exemplar| {
                let unchanged =
                    !native && self.snapshotter.last_exemplars.get(&series) == Some(&exemplar);
                self.exemplars.insert(Arc::clone(&series), exemplar.clone());
                (!unchanged).then(|| Box::new(exemplar))
            });
        self.points.push(Point {
            series,
            value,
            exemplar,
        });
    }

    /// The series `name` + `suffix` with `labels`, the `extra` label
    /// (`le`, `quantile`) and the external labels, sorted; the same `Arc`
    /// as at the last snapshot when it is known.
    fn series(
        &mut self,
        name: &str,
        suffix: &str,
        labels: &[pb::LabelPair],
        extra: Option<(&'static str, String)>,
    ) -> Series {
        let mut out = Vec::with_capacity(labels.len() + 2 + self.snapshotter.external_labels.len());
        out.push(Label {
            name: "__name__".to_owned(),
            value: format!("{name}{suffix}"),
        });
        out.extend(labels.iter().map(|l| Label {
            name: l.name.clone(),
            value: l.value.clone(),
        }));
        if let Some((name, value)) = extra {
            out.push(Label {
                name: name.to_owned(),
                value,
            });
        }
        for (name, value) in &self.snapshotter.external_labels {
            if !out.iter().any(|l| &l.name == name) {
                out.push(Label {
                    name: name.clone(),
                    value: value.clone(),
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        if let Some(series) = self.known.get(out.as_slice()) {
            return Arc::clone(series);
        }
        let series = match self.snapshotter.known_structured.get(out.as_slice()) {
            Some(series) => Arc::clone(series),
            None => Series::from(out),
        };
        self.known.insert(Arc::clone(&series));
        series
    }
}

/// A count, the float one when it is set (as the protobuf says).
fn count_of(int: u64, float: f64) -> f64 {
    if float > 0.0 { float } else { int as f64 }
}

/// The remote-write native histogram of `h`, when it has native buckets
/// with integer counts (the only ones this crate's histograms have).
fn native_histogram(h: &pb::Histogram) -> Option<wire::Histogram> {
    let has_native = h.schema != 0
        || h.zero_threshold > 0.0
        || h.zero_count > 0
        || !h.positive_span.is_empty()
        || !h.negative_span.is_empty();
    let float_counts = h.sample_count_float > 0.0
        || h.zero_count_float > 0.0
        || !h.positive_count.is_empty()
        || !h.negative_count.is_empty();
    if !has_native || float_counts {
        return None;
    }
    let spans = |spans: &[pb::BucketSpan]| {
        spans
            .iter()
            .map(|s| wire::BucketSpan {
                offset: s.offset,
                length: s.length,
            })
            .collect()
    };
    Some(wire::Histogram {
        count: Some(wire::histogram::Count::CountInt(h.sample_count)),
        sum: h.sample_sum,
        schema: h.schema,
        zero_threshold: h.zero_threshold,
        zero_count: Some(wire::histogram::ZeroCount::ZeroCountInt(h.zero_count)),
        negative_spans: spans(&h.negative_span),
        negative_deltas: h.negative_delta.clone(),
        positive_spans: spans(&h.positive_span),
        positive_deltas: h.positive_delta.clone(),
        reset_hint: 0,
        timestamp: 0,
    })
}

/// A protobuf exemplar as remote-write sends it: its timestamp in
/// milliseconds, 0 (the sample's) when it has none.
fn remote_exemplar(e: &pb::Exemplar) -> wire::Exemplar {
    let timestamp = e.timestamp.as_ref().map_or(0, |t| {
        t.seconds
            .saturating_mul(1_000)
            .saturating_add(i64::from(t.nanos) / 1_000_000)
    });
    wire::Exemplar {
        labels: e
            .label
            .iter()
            .map(|l| Label {
                name: l.name.clone(),
                value: l.value.clone(),
            })
            .collect(),
        value: e.value,
        timestamp,
    }
}

/// `v` as client_golang writes an `le` or `quantile` label (Go's
/// `strconv.FormatFloat(v, 'g', -1, 64)`), as prometheus-client's text
/// encoder does, so that both paths give the same series.
fn go_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    if v.fract() == 0.0 && v.abs() < 1e6 {
        #[allow(clippy::cast_possible_truncation, reason = "whole and below 1e6")]
        return (v as i64).to_string();
    }
    if (1e-4..1e6).contains(&v.abs()) {
        return v.to_string();
    }
    let sci = format!("{v:e}");
    let Some((mantissa, exponent)) = sci.split_once('e') else {
        return sci;
    };
    let Ok(exponent) = exponent.parse::<i32>() else {
        return sci;
    };
    let mut out = String::with_capacity(sci.len() + 2);
    let _ = write!(out, "{mantissa}e{exponent:+03}");
    out
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

    /// A registry with every kind the service registers: counters (one
    /// with an exemplar, one with an odd label value), a gauge, a classic
    /// histogram with an exemplar and one with native buckets too.
    fn mixed_registry() -> Registry {
        use incident_metrics_core::prometheus_client::metrics::counter::Counter;
        use incident_metrics_core::prometheus_client::metrics::family::Family;
        use incident_metrics_core::prometheus_client::metrics::gauge::Gauge;
        use incident_metrics_core::{
            ExemplarCounter, FamilySpec, Histogram, HistogramBuilder, MetricKind, MetricsConfig,
            NativeConfig, TraceContext, Unit,
        };
        use std::time::{Duration, UNIX_EPOCH};

        let spec = |name, kind, unit, labels| FamilySpec {
            name,
            help: "A test family",
            kind,
            unit,
            labels,
        };
        let config = MetricsConfig::new()
            .with_namespace("svc")
            .with_global_label("env", "ci");
        let mut registry = Registry::new(&config).unwrap();
        let trace = TraceContext::from_traceparent(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .unwrap();
        let at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let jobs = ExemplarCounter::default();
        registry
            .register(&spec("jobs", MetricKind::Counter, None, &[]), jobs.clone())
            .unwrap();
        jobs.inc_by(2);
        jobs.inc_with_exemplar_at(&trace, at);
        let requests = Family::<Vec<(String, String)>, Counter>::default();
        registry
            .register(
                &spec("requests", MetricKind::Counter, None, &["path"]),
                requests.clone(),
            )
            .unwrap();
        requests
            .get_or_create(&vec![("path".to_owned(), "/a \"q\" \\ b\nü".to_owned())])
            .inc_by(5);
        let temperature = Gauge::<i64>::default();
        registry
            .register(
                &spec("temperature", MetricKind::Gauge, None, &[]),
                temperature.clone(),
            )
            .unwrap();
        temperature.set(-7);
        let classic = registry
            .register_histogram(
                &spec("latency", MetricKind::Histogram, Some(Unit::Seconds), &[]),
                &[0.1, 1.0, 2.5e6],
                |bounds| Histogram::new("latency_seconds", bounds),
            )
            .unwrap();
        classic.observe(0.05);
        classic.observe_with_exemplar_at(0.5, &trace, at);
        let native = registry
            .register_histogram(
                &spec("wait", MetricKind::Histogram, Some(Unit::Seconds), &[]),
                &[1.0],
                |bounds| {
                    Ok(HistogramBuilder::new("wait_seconds", bounds)?
                        .with_native(NativeConfig::new(1.1, 2f64.powi(-128), 160)?)
                        .build())
                },
            )
            .unwrap();
        for v in [0.0, 0.3, 0.3, 3.0] {
            native.observe(v);
        }
        native.observe_with_exemplar_at(-2.0, &trace, at);
        registry
    }

    fn floats(points: &[Point]) -> Vec<(Vec<(&str, &str)>, f64)> {
        points
            .iter()
            .filter_map(|p| match p.value {
                Value::Float(v) => Some((labels(&p.series), v)),
                Value::Native(_) => None,
            })
            .collect()
    }

    #[test]
    fn both_paths_give_the_same_classic_samples() {
        let registry = mixed_registry();
        let external = vec![("instance".to_owned(), "i1".to_owned())];
        let text = Snapshotter::new(external.clone()).take(&registry).unwrap();
        assert!(text.iter().all(|p| p.exemplar.is_none()));
        assert!(text.iter().all(|p| matches!(p.value, Value::Float(_))));
        for (exemplars, native) in [(true, false), (false, true), (true, true)] {
            let structured = Snapshotter::new(external.clone())
                .with_structured(exemplars, native)
                .take(&registry)
                .unwrap();
            assert_eq!(floats(&structured), floats(&text), "{exemplars} {native}");
            let natives = structured.len() - text.len();
            assert_eq!(natives, usize::from(native), "{exemplars} {native}");
            assert_eq!(
                structured.iter().any(|p| p.exemplar.is_some()),
                exemplars,
                "{exemplars} {native}"
            );
        }
        // `le` as the text writes it, `+Inf` included.
        let les: Vec<_> = floats(&text)
            .into_iter()
            .filter(|(l, _)| l.contains(&("__name__", "svc_latency_seconds_bucket")))
            .map(|(l, v)| (l.iter().find(|(k, _)| *k == "le").unwrap().1, v))
            .collect();
        assert_eq!(
            les,
            [("0.1", 1.0), ("1", 2.0), ("2.5e+06", 2.0), ("+Inf", 2.0)]
        );
    }

    #[test]
    fn the_structured_path_carries_native_histograms_and_new_exemplars() {
        let registry = mixed_registry();
        let mut s = Snapshotter::default().with_structured(true, true);
        let first = s.take(&registry).unwrap();
        let native: Vec<_> = first
            .iter()
            .filter_map(|p| match &p.value {
                Value::Native(h) => Some((labels(&p.series), h, &p.exemplar)),
                Value::Float(_) => None,
            })
            .collect();
        assert_eq!(native.len(), 1);
        let (series, h, exemplar) = &native[0];
        assert_eq!(series, &[("__name__", "svc_wait_seconds"), ("env", "ci")]);
        assert_eq!(h.count, Some(wire::histogram::Count::CountInt(5)));
        assert_eq!(h.sum, 1.6);
        assert_eq!(h.schema, 3);
        assert_eq!(h.zero_threshold, 2f64.powi(-128));
        assert_eq!(
            h.zero_count,
            Some(wire::histogram::ZeroCount::ZeroCountInt(1))
        );
        let total = |deltas: &[i64]| {
            let mut count = 0;
            deltas
                .iter()
                .map(|d| {
                    count += d;
                    count
                })
                .sum::<i64>()
        };
        assert_eq!(total(&h.positive_deltas), 3);
        assert_eq!(total(&h.negative_deltas), 1);
        let exemplar = exemplar
            .as_ref()
            .expect("the native series carries the exemplar");
        assert_eq!(exemplar.value, -2.0);
        assert_eq!(exemplar.timestamp, 1_700_000_000_123);
        let trace: Vec<_> = exemplar
            .labels
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect();
        assert_eq!(
            trace,
            [
                ("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"),
                ("span_id", "00f067aa0ba902b7")
            ]
        );
        let with_exemplars: Vec<_> = first
            .iter()
            .filter(|p| p.exemplar.is_some())
            .map(|p| p.series[0].value.as_str())
            .collect();
        assert_eq!(
            with_exemplars,
            [
                "svc_jobs_total",
                "svc_latency_seconds_bucket",
                "svc_wait_seconds_bucket",
                "svc_wait_seconds"
            ]
        );
        // An exemplar goes once, but with every snapshot on a native
        // series; the series are the same `Arc`s.
        let second = s.take(&registry).unwrap();
        let again: Vec<_> = second
            .iter()
            .filter(|p| p.exemplar.is_some())
            .map(|p| p.series[0].value.as_str())
            .collect();
        assert_eq!(again, ["svc_wait_seconds"]);
        assert!(
            first
                .iter()
                .zip(&second)
                .all(|(a, b)| Arc::ptr_eq(&a.series, &b.series))
        );
        // Without native histograms, none.
        s.stop_native();
        let third = s.take(&registry).unwrap();
        assert_eq!(third.len(), first.len() - 1);
    }

    #[test]
    fn go_float_formats_as_client_golang() {
        for (v, text) in [
            (0.0, "0"),
            (1.0, "1"),
            (0.1, "0.1"),
            (2.5e6, "2.5e+06"),
            (1e-5, "1e-05"),
            (123_456.5, "123456.5"),
            (-3.0, "-3"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(go_float(v), text, "{v}");
        }
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
