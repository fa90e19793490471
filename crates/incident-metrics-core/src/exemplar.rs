//! Exemplars: the trace a sample came from, stored without a lock.
//!
//! An exemplar links one sample of a counter or of a histogram bucket to the
//! trace of a request that produced it: labels `trace_id` and `span_id`
//! (lower-case hex), the observed value and a timestamp. Prometheus stores
//! them (with `--enable-feature=exemplar-storage`) when it scrapes the
//! OpenMetrics answer, and Grafana links them to the trace.
//!
//! - [`TraceContext`]: a trace id, a span id and the sampled flag, parsed from
//!   a W3C `traceparent` header by [`TraceContext::from_traceparent`] (no
//!   OpenTelemetry dependency).
//! - [`ExemplarSource`]: where a layer finds the trace of a request. It takes
//!   a [`HeaderLookup`], so that this crate knows no HTTP types;
//!   [`TraceparentSource`] (the default) reads `traceparent` and keeps only
//!   sampled traces.
//! - [`ExemplarSlot`]: one exemplar, replaced by newer ones, written and read
//!   without a lock (a sequence lock over atomic words). [`ExemplarCounter`]
//!   holds one per series and [`Histogram`](crate::Histogram) one per bucket,
//!   allocated on the first exemplar, so that a series that never gets one
//!   costs nothing more.
//! - [`TraceLabels`]: the label set written, 63 characters, within the 128
//!   that OpenMetrics allows ([`validate_exemplar_labels`]).
//!
//! prometheus-client's encoders write the exemplars: the OpenMetrics text and
//! the protobuf answer carry them on `_total` and `_bucket` samples; the
//! Prometheus 0.0.4 text, which has no syntax for them, drops them.
//!
//! [`ExemplarCounter`]: crate::ExemplarCounter

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering, fence};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::{EncodeLabel, EncodeLabelSet, LabelSetEncoder};
use prometheus_client::metrics::exemplar::Exemplar;

use crate::{Error, Result};

/// The most characters (label names and values, UTF-8 characters) that the
/// label set of one exemplar may hold (OpenMetrics 1.0, "Exemplars").
pub const EXEMPLAR_LABELS_MAX_CHARS: usize = 128;

/// The name of the W3C Trace Context header that [`TraceparentSource`] reads.
pub const TRACEPARENT_HEADER: &str = "traceparent";

/// How many times a reader retries a slot that a writer is changing before
/// it gives up and reports no exemplar (the next scrape will see it).
const READ_ATTEMPTS: usize = 4;

/// A trace context: a 16-byte trace id, an 8-byte span (parent) id and the
/// sampled flag, as a W3C `traceparent` header carries them.
///
/// Neither id is all zeros (the W3C specification makes such ids invalid).
///
/// # Examples
///
/// ```
/// use incident_metrics_core::TraceContext;
///
/// let trace = TraceContext::from_traceparent(
///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
/// )
/// .unwrap();
/// assert!(trace.is_sampled());
/// assert_eq!(trace.trace_id_hex().as_str(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(trace.span_id_hex().as_str(), "00f067aa0ba902b7");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceContext {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    sampled: bool,
}

impl TraceContext {
    /// A trace context from its ids; `None` when either id is all zeros.
    pub fn new(trace_id: [u8; 16], span_id: [u8; 8], sampled: bool) -> Option<Self> {
        (trace_id != [0; 16] && span_id != [0; 8]).then_some(Self {
            trace_id,
            span_id,
            sampled,
        })
    }

    /// Parses a W3C Trace Context `traceparent` header value
    /// (`version-traceid-parentid-flags`, lower-case hex), as the
    /// specification's processing model says:
    ///
    /// - version `00`: exactly `00-<32 hex>-<16 hex>-<2 hex>`;
    /// - a later version (`01` to `fe`): the same four fields, then either
    ///   nothing or a `-` and fields this parser does not read;
    /// - version `ff`, upper-case hex, all-zero ids, or any other shape:
    ///   `None`.
    ///
    /// Spaces and tabs around the value are ignored. The sampled flag is
    /// bit 0 of the flags; unsampled contexts are returned too (see
    /// [`is_sampled`](Self::is_sampled)).
    pub fn from_traceparent(value: &str) -> Option<Self> {
        let value = value.trim_matches([' ', '\t']).as_bytes();
        if value.len() < 55 {
            return None;
        }
        let version = hex_byte(&value[0..2])?;
        if version == 0xff || value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
            return None;
        }
        match (version, value.get(55)) {
            (_, None) => {}
            (0, Some(_)) => return None,
            (_, Some(b'-')) => {}
            (_, Some(_)) => return None,
        }
        let mut trace_id = [0; 16];
        hex_into(&value[3..35], &mut trace_id)?;
        let mut span_id = [0; 8];
        hex_into(&value[36..52], &mut span_id)?;
        let flags = hex_byte(&value[53..55])?;
        Self::new(trace_id, span_id, flags & 1 == 1)
    }

    /// The trace id.
    pub fn trace_id(&self) -> [u8; 16] {
        self.trace_id
    }

    /// The span id (the `parent-id` of a `traceparent`: the caller's span).
    pub fn span_id(&self) -> [u8; 8] {
        self.span_id
    }

    /// Whether the caller sampled the trace (bit 0 of the flags): only
    /// sampled traces are recorded by a tracing backend, so only they make
    /// useful exemplars.
    pub fn is_sampled(&self) -> bool {
        self.sampled
    }

    /// The trace id as 32 lower-case hex digits, without allocating.
    pub fn trace_id_hex(&self) -> HexId<32> {
        HexId::encode(&self.trace_id)
    }

    /// The span id as 16 lower-case hex digits, without allocating.
    pub fn span_id_hex(&self) -> HexId<16> {
        HexId::encode(&self.span_id)
    }

    /// The exemplar label set of this trace: `trace_id` and `span_id`.
    pub fn labels(&self) -> TraceLabels {
        TraceLabels {
            trace_id: self.trace_id_hex(),
            span_id: self.span_id_hex(),
        }
    }
}

impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceContext")
            .field("trace_id", &self.trace_id_hex().as_str())
            .field("span_id", &self.span_id_hex().as_str())
            .field("sampled", &self.sampled)
            .finish()
    }
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

fn hex_byte(pair: &[u8]) -> Option<u8> {
    match pair {
        [hi, lo] => Some((hex_digit(*hi)? << 4) | hex_digit(*lo)?),
        _ => None,
    }
}

fn hex_into(text: &[u8], out: &mut [u8]) -> Option<()> {
    if text.len() != 2 * out.len() {
        return None;
    }
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *byte = hex_byte(pair)?;
    }
    Some(())
}

/// An id as `N` lower-case hex digits, on the stack.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct HexId<const N: usize>([u8; N]);

impl<const N: usize> HexId<N> {
    fn encode(bytes: &[u8]) -> Self {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [b'0'; N];
        for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
            pair[0] = DIGITS[usize::from(byte >> 4)];
            pair[1] = DIGITS[usize::from(byte & 0xf)];
        }
        Self(out)
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever written.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl<const N: usize> fmt::Debug for HexId<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<const N: usize> fmt::Display for HexId<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The label set of an exemplar: `trace_id` (32 hex digits) and `span_id`
/// (16), 63 characters in all.
///
/// # Examples
///
/// ```
/// use incident_metrics_core::{validate_exemplar_labels, TraceContext};
///
/// let trace = TraceContext::new([0xab; 16], [0x01; 8], true).unwrap();
/// let labels = trace.labels();
/// assert_eq!(labels.trace_id.as_str(), "abababababababababababababababab");
/// validate_exemplar_labels([
///     ("trace_id", labels.trace_id.as_str()),
///     ("span_id", labels.span_id.as_str()),
/// ])?;
/// # Ok::<(), incident_metrics_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceLabels {
    /// The trace id, lower-case hex.
    pub trace_id: HexId<32>,
    /// The span id, lower-case hex.
    pub span_id: HexId<16>,
}

impl EncodeLabelSet for TraceLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> fmt::Result {
        ("trace_id", self.trace_id.as_str()).encode(encoder.encode_label())?;
        ("span_id", self.span_id.as_str()).encode(encoder.encode_label())
    }
}

/// Checks an exemplar's label set against OpenMetrics' limit: at most
/// [`EXEMPLAR_LABELS_MAX_CHARS`] (128) UTF-8 characters of names and
/// values together. Prometheus refuses a longer one, and with it the whole
/// scrape.
///
/// The layers' exemplars ([`TraceLabels`], 63 characters) always pass; use
/// this before building exemplars of your own.
///
/// # Errors
///
/// [`Error::ExemplarLabelsTooLong`] with the count.
///
/// # Examples
///
/// ```
/// use incident_metrics_core::validate_exemplar_labels;
///
/// assert!(validate_exemplar_labels([("user", "ü".repeat(124).as_str())]).is_ok());
/// assert!(validate_exemplar_labels([("user", "ü".repeat(125).as_str())]).is_err());
/// ```
pub fn validate_exemplar_labels<'a>(
    labels: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<()> {
    let chars = labels
        .into_iter()
        .map(|(name, value)| name.chars().count() + value.chars().count())
        .sum();
    if chars > EXEMPLAR_LABELS_MAX_CHARS {
        return Err(Error::ExemplarLabelsTooLong { chars });
    }
    Ok(())
}

/// Reads a request's headers by name, for an [`ExemplarSource`]: the HTTP
/// and gRPC layers pass their request's headers (gRPC metadata are HTTP/2
/// headers) through this trait, so that this crate needs no HTTP types.
pub trait HeaderLookup {
    /// The value of the header `name` (lower-case), when present and
    /// visible ASCII; the first one when repeated.
    fn header(&self, name: &str) -> Option<&str>;
}

impl HeaderLookup for &[(&str, &str)] {
    fn header(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

/// Where a layer finds the trace of a request, to attach it as an exemplar.
///
/// Called once per request, and only while exemplars are on
/// (`exemplars = true`). Return `None` for a request with no trace, or an
/// unsampled one: an exemplar should point at a trace the backend keeps.
///
/// # Examples
///
/// A source that trusts a proxy's own header:
///
/// ```
/// use incident_metrics_core::{ExemplarSource, HeaderLookup, TraceContext};
///
/// #[derive(Debug)]
/// struct ProxyTrace;
///
/// impl ExemplarSource for ProxyTrace {
///     fn trace_context(&self, headers: &dyn HeaderLookup) -> Option<TraceContext> {
///         let value = headers.header("x-proxy-traceparent")?;
///         TraceContext::from_traceparent(value).filter(TraceContext::is_sampled)
///     }
/// }
///
/// let headers: &[(&str, &str)] =
///     &[("x-proxy-traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")];
/// assert!(ProxyTrace.trace_context(&headers).is_some());
/// ```
pub trait ExemplarSource: fmt::Debug + Send + Sync + 'static {
    /// The sampled trace of the request whose headers are `headers`.
    fn trace_context(&self, headers: &dyn HeaderLookup) -> Option<TraceContext>;
}

/// The default [`ExemplarSource`]: the request's W3C `traceparent` header,
/// when it is valid and sampled.
///
/// # Examples
///
/// ```
/// use incident_metrics_core::{ExemplarSource, TraceparentSource};
///
/// let sampled: &[(&str, &str)] =
///     &[("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")];
/// let unsampled: &[(&str, &str)] =
///     &[("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00")];
/// assert!(TraceparentSource.trace_context(&sampled).is_some());
/// assert!(TraceparentSource.trace_context(&unsampled).is_none());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TraceparentSource;

impl ExemplarSource for TraceparentSource {
    #[inline]
    fn trace_context(&self, headers: &dyn HeaderLookup) -> Option<TraceContext> {
        TraceContext::from_traceparent(headers.header(TRACEPARENT_HEADER)?)
            .filter(TraceContext::is_sampled)
    }
}

/// One stored exemplar: its trace, value and time.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct ExemplarSample {
    /// The trace the sample came from.
    pub trace: TraceContext,
    /// The observed value (for a counter, the increment).
    pub value: f64,
    /// When it was observed; `None` for a time before 1970.
    pub timestamp: Option<SystemTime>,
}

impl ExemplarSample {
    /// The exemplar as prometheus-client's encoders take it.
    pub fn to_exemplar(&self) -> Exemplar<TraceLabels, f64> {
        Exemplar::new(self.trace.labels(), self.value, self.timestamp)
    }
}

/// Room for one exemplar, replaced by every newer one, written and read
/// without a lock.
///
/// It is a sequence lock over atomic words: a writer claims the slot by
/// moving its sequence number from even to odd (compare-and-swap), writes
/// the words, and moves it to the next even number. A writer that finds the
/// slot claimed drops its exemplar instead of waiting (a newer one will
/// come). A reader takes the words between two reads of the same even
/// sequence number; after four torn reads it reports no
/// exemplar. Nothing blocks and nothing allocates.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use incident_metrics_core::{ExemplarSlot, TraceContext};
///
/// let slot = ExemplarSlot::new();
/// assert!(slot.load().is_none());
/// let trace = TraceContext::new([1; 16], [2; 8], true).unwrap();
/// let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// assert!(slot.store_at(&trace, 0.25, at));
/// let sample = slot.load().unwrap();
/// assert_eq!((sample.trace, sample.value, sample.timestamp), (trace, 0.25, Some(at)));
/// ```
pub struct ExemplarSlot {
    /// Even: stable (0: never written); odd: a writer is at work.
    seq: AtomicU64,
    /// Trace id (two words), span id, value (`f64` bits), timestamp (ns
    /// since the epoch, plus one; 0 for none).
    words: [AtomicU64; 5],
}

impl ExemplarSlot {
    /// An empty slot.
    pub fn new() -> Self {
        Self {
            seq: AtomicU64::new(0),
            words: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// Stores an exemplar observed now; `false` when another writer held the
    /// slot and this one was dropped.
    #[inline]
    pub fn store(&self, trace: &TraceContext, value: f64) -> bool {
        self.store_at(trace, value, SystemTime::now())
    }

    /// Stores an exemplar observed at `at`; `false` when another writer held
    /// the slot and this one was dropped.
    pub fn store_at(&self, trace: &TraceContext, value: f64, at: SystemTime) -> bool {
        let seq = self.seq.load(Ordering::Relaxed);
        if seq & 1 == 1
            || self
                .seq
                .compare_exchange(
                    seq,
                    seq.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_err()
        {
            return false;
        }
        // The claim (odd) is ordered before every word written below: a
        // reader that sees any of them sees the claim too (its acquire fence
        // pairs with this release fence) and retries.
        fence(Ordering::Release);
        let [hi, lo] = [&trace.trace_id[..8], &trace.trace_id[8..]].map(|half| {
            let mut word = [0; 8];
            word.copy_from_slice(half);
            u64::from_be_bytes(word)
        });
        let nanos = at
            .duration_since(UNIX_EPOCH)
            .ok()
            .and_then(|d| u64::try_from(d.as_nanos()).ok())
            .map_or(0, |n| n.saturating_add(1));
        let values = [
            hi,
            lo,
            u64::from_be_bytes(trace.span_id),
            value.to_bits(),
            nanos,
        ];
        for (word, value) in self.words.iter().zip(values) {
            word.store(value, Ordering::Relaxed);
        }
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
        true
    }

    /// The stored exemplar; `None` when there is none yet, or a writer kept
    /// changing it while this read was tried.
    pub fn load(&self) -> Option<ExemplarSample> {
        for _ in 0..READ_ATTEMPTS {
            let before = self.seq.load(Ordering::Acquire);
            if before == 0 {
                return None;
            }
            if before & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let words: [u64; 5] = std::array::from_fn(|i| self.words[i].load(Ordering::Relaxed));
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) != before {
                std::hint::spin_loop();
                continue;
            }
            let [hi, lo, span, value, nanos] = words;
            let mut trace_id = [0; 16];
            trace_id[..8].copy_from_slice(&hi.to_be_bytes());
            trace_id[8..].copy_from_slice(&lo.to_be_bytes());
            let trace = TraceContext::new(trace_id, span.to_be_bytes(), true)?;
            return Some(ExemplarSample {
                trace,
                value: f64::from_bits(value),
                timestamp: nanos
                    .checked_sub(1)
                    .map(|n| UNIX_EPOCH + Duration::from_nanos(n)),
            });
        }
        None
    }
}

impl Default for ExemplarSlot {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ExemplarSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ExemplarSlot").field(&self.load()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN: &str = "00f067aa0ba902b7";

    fn parse(value: &str) -> Option<TraceContext> {
        TraceContext::from_traceparent(value)
    }

    fn valid(value: &str) -> TraceContext {
        parse(value).unwrap_or_else(|| panic!("{value:?} should parse"))
    }

    #[test]
    fn parses_version_00() {
        let t = valid(&format!("00-{TRACE}-{SPAN}-01"));
        assert_eq!(t.trace_id_hex().as_str(), TRACE);
        assert_eq!(t.span_id_hex().as_str(), SPAN);
        assert!(t.is_sampled());
        assert_eq!(
            t.span_id(),
            [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]
        );
        assert_eq!(t.trace_id()[0], 0x4b);
        // Unsampled: parsed, flag off; the other flag bits do not matter.
        assert!(!valid(&format!("00-{TRACE}-{SPAN}-00")).is_sampled());
        assert!(!valid(&format!("00-{TRACE}-{SPAN}-02")).is_sampled());
        assert!(valid(&format!("00-{TRACE}-{SPAN}-ff")).is_sampled());
        assert!(valid(&format!("00-{TRACE}-{SPAN}-09")).is_sampled());
        // Optional whitespace around a header value.
        assert!(parse(&format!(" \t00-{TRACE}-{SPAN}-01 ")).is_some());
    }

    #[test]
    fn refuses_invalid_ids_and_shapes() {
        let zero_trace = "0".repeat(32);
        let zero_span = "0".repeat(16);
        let cases = [
            format!("00-{zero_trace}-{SPAN}-01"),
            format!("00-{TRACE}-{zero_span}-01"),
            // Upper-case hex anywhere.
            format!("00-{}-{SPAN}-01", TRACE.to_uppercase()),
            format!("00-{TRACE}-{}-01", SPAN.to_uppercase()),
            format!("00-{TRACE}-{SPAN}-0A"),
            format!("0A-{TRACE}-{SPAN}-01"),
            // Version ff is invalid; version 00 allows nothing after the flags.
            format!("ff-{TRACE}-{SPAN}-01"),
            format!("00-{TRACE}-{SPAN}-01-extra"),
            format!("00-{TRACE}-{SPAN}-010"),
            // Wrong lengths and separators.
            format!("00-{TRACE}-{SPAN}-1"),
            format!("00-{}-{SPAN}-01", &TRACE[1..]),
            format!("00-{TRACE}0-{}-01", &SPAN[1..]),
            format!("00_{TRACE}-{SPAN}-01"),
            format!("00-{TRACE}_{SPAN}-01"),
            format!("00-{TRACE}-{SPAN}_01"),
            format!("0-{TRACE}-{SPAN}-01"),
            format!("00-{}g-{SPAN}-01", &TRACE[1..]),
            format!("00-{TRACE}-{SPAN}-0g"),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-".to_owned(),
            String::new(),
            "not a traceparent".to_owned(),
            // Multi-byte characters must not be sliced into.
            format!("00-{}é-{SPAN}-01", &TRACE[2..]),
        ];
        for case in cases {
            assert_eq!(parse(&case), None, "{case:?} must be refused");
        }
    }

    #[test]
    fn future_versions_may_carry_more_fields() {
        let t = valid(&format!(
            "cc-{TRACE}-{SPAN}-01-what-the-future-will-be-like"
        ));
        assert_eq!(t.trace_id_hex().as_str(), TRACE);
        assert!(t.is_sampled());
        assert!(valid(&format!("01-{TRACE}-{SPAN}-00")).trace_id() == t.trace_id());
        // After the flags, a future version needs a `-` before more fields.
        assert_eq!(parse(&format!("cc-{TRACE}-{SPAN}-01.what")), None);
        assert_eq!(parse(&format!("cc-{TRACE}-{SPAN}-0100")), None);
        // Its known fields are still checked.
        assert_eq!(parse(&format!("cc-{TRACE}-{SPAN}-0x-more")), None);
    }

    #[test]
    fn the_traceparent_source_keeps_only_sampled_traces() {
        let sampled = format!("00-{TRACE}-{SPAN}-01");
        let unsampled = format!("00-{TRACE}-{SPAN}-00");
        let headers: &[(&str, &str)] = &[("Traceparent", &sampled)];
        assert!(TraceparentSource.trace_context(&headers).is_some());
        let headers: &[(&str, &str)] = &[("traceparent", &unsampled)];
        assert!(TraceparentSource.trace_context(&headers).is_none());
        let headers: &[(&str, &str)] = &[("tracestate", "x=1")];
        assert!(TraceparentSource.trace_context(&headers).is_none());
    }

    #[test]
    fn label_sets_past_128_characters_are_refused() {
        let t = valid(&format!("00-{TRACE}-{SPAN}-01"));
        let labels = t.labels();
        let ours = [
            ("trace_id", labels.trace_id.as_str()),
            ("span_id", labels.span_id.as_str()),
        ];
        assert_eq!(
            ours.iter()
                .map(|(n, v)| n.chars().count() + v.chars().count())
                .sum::<usize>(),
            63
        );
        assert!(validate_exemplar_labels(ours).is_ok());
        let value = "x".repeat(128 - 4);
        assert!(validate_exemplar_labels([("name", value.as_str())]).is_ok());
        let value = "x".repeat(128 - 3);
        let err = validate_exemplar_labels([("name", value.as_str())])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("129") && err.contains("128"), "{err}");
        // Characters, not bytes.
        let value = "€".repeat(124);
        assert!(validate_exemplar_labels([("name", value.as_str())]).is_ok());
    }

    #[test]
    fn a_slot_keeps_the_newest_exemplar() {
        let slot = ExemplarSlot::new();
        let a = valid(&format!("00-{TRACE}-{SPAN}-01"));
        let b = TraceContext::new([0xff; 16], [0x11; 8], true).unwrap_or_else(|| panic!());
        let t1 = UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789);
        assert!(slot.store_at(&a, 1.5, t1));
        assert!(slot.store_at(&b, -2.0, UNIX_EPOCH));
        let s = slot.load().unwrap_or_else(|| panic!("stored"));
        assert_eq!((s.trace, s.value, s.timestamp), (b, -2.0, Some(UNIX_EPOCH)));
        // A time before the epoch is stored without a timestamp.
        assert!(slot.store_at(&a, 3.0, UNIX_EPOCH - Duration::from_secs(1)));
        let s = slot.load().unwrap_or_else(|| panic!("stored"));
        assert_eq!((s.trace, s.value, s.timestamp), (a, 3.0, None));
        assert_eq!(ExemplarSlot::default().load(), None);
    }

    /// Writers race on one slot while readers read it: every read is one
    /// writer's whole exemplar (its trace id, span id and value agree),
    /// never a mix of two.
    #[test]
    fn concurrent_writers_never_tear_an_exemplar() {
        const WRITERS: u8 = 4;
        const WRITES: u32 = 20_000;
        let slot = ExemplarSlot::new();
        let stored = std::sync::atomic::AtomicU64::new(0);
        let (reads, torn) = std::thread::scope(|s| {
            for w in 1..=WRITERS {
                let (slot, stored) = (&slot, &stored);
                s.spawn(move || {
                    for i in 0..WRITES {
                        let trace = TraceContext::new([w; 16], [w; 8], true)
                            .unwrap_or_else(|| panic!("nonzero"));
                        if slot.store(&trace, f64::from(w) * 1e6 + f64::from(i)) {
                            stored.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
            let reader = s.spawn(|| {
                let (mut reads, mut torn) = (0_u32, 0_u32);
                for _ in 0..50_000 {
                    if let Some(e) = slot.load() {
                        reads += 1;
                        let w = e.trace.trace_id()[0];
                        let whole = e.trace.trace_id() == [w; 16]
                            && e.trace.span_id() == [w; 8]
                            && (e.value / 1e6).floor() == f64::from(w);
                        if !whole {
                            torn += 1;
                        }
                    }
                }
                (reads, torn)
            });
            reader.join().unwrap_or_else(|_| panic!("reader panicked"))
        });
        assert_eq!(torn, 0, "{torn} of {reads} reads mixed two exemplars");
        let stored = stored.load(Ordering::Relaxed);
        assert!(stored >= 1 && stored <= u64::from(WRITERS) * u64::from(WRITES));
        // Quiet again: the last whole exemplar reads back.
        let last = slot.load().unwrap_or_else(|| panic!("written"));
        assert_eq!(last.trace.span_id(), [last.trace.trace_id()[0]; 8]);
        // Every store that reported success moved the sequence by two.
        assert_eq!(slot.seq.load(Ordering::Relaxed), 2 * stored);
    }
}
