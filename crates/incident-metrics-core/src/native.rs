//! Native (sparse, exponential) histograms, recorded without a lock.
//!
//! A native histogram counts each observation in the bucket of an
//! exponential layout that holds it: at schema `s` the buckets grow by the
//! factor `2^(2^-s)` and bucket `i` holds the values in
//! `(base^(i-1), base^i]`; values whose magnitude is at most the zero
//! threshold go to the zero bucket. Only the buckets that were hit exist.
//! This is the layout of client_golang and of Prometheus's native histograms
//! (`--enable-feature=native-histograms`), exposed through the protobuf
//! format.
//!
//! # Why a table of atomics
//!
//! client_golang keeps the buckets in a `sync.Map` and switches between two
//! halves of its state under a mutex; prometheus-client's native histogram is
//! a `Mutex`. Ours must record as the classic [`Histogram`](crate::Histogram)
//! does, without a lock. Each series therefore owns one fixed-capacity
//! open-addressing table of `(key, count)` slots, both `AtomicU64`:
//!
//! - a key names a bucket at a *level*: level 0 is the configured schema,
//!   level `l` the schema `schema - l` (the index halved `l` times, as a
//!   resolution reduction does), so a key is (level, sign, index);
//! - an observation finds its key by linear probing from the key's hash and
//!   adds 1 to the count beside it; a key that is not there yet is claimed
//!   with one compare-and-swap of an empty slot (slots are never freed, so a
//!   probe that reaches an empty slot knows the key is absent);
//! - new keys of level `l` may take slots only while the table holds fewer
//!   than `budget(l)` keys (level 0: `max_buckets`, each further level half
//!   of what is left); past it the observation goes to its coarser bucket at
//!   level `l + 1`. The last level is schema -4, whose keys cover every
//!   `f64` in at most [`COARSEST_KEYS`] slots, and the table keeps that many
//!   slots for it: every observation finds a slot;
//! - a key also names the classic bucket the observation falls in, so the
//!   one count beside it counts both buckets: a histogram with native and
//!   classic buckets does one atomic add per observation, not two, and its
//!   classic counts are the sums of its slots per classic bucket (a native
//!   bucket that straddles a classic bound takes one slot per side);
//! - the zero bucket is one more atomic, and an observation counted there
//!   adds to its classic bucket's own count too; the sum is the classic
//!   histogram's, which every native histogram also keeps (with only its
//!   `+Inf` bucket when the classic buckets are off).
//!
//! Encoding reads the table, merges every bucket to the coarsest level
//! present, and halves the resolution further until at most `max_buckets`
//! buckets are populated (client_golang's reduction; it would first widen
//! the zero bucket only when a maximum zero threshold is configured, which
//! we do not offer).
//!
//! The table costs 16 bytes a slot: 512 slots (8 KiB) per series with the
//! default `max_buckets` of 160 and up to 32 classic buckets, allocated when
//! the series is created.
//! Families without native histograms allocate nothing of it.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use prometheus_client::encoding::{MetricEncoder, NativeHistogram, NativeHistogramBuckets};
use serde::Deserialize;

use crate::{Error, MetricsConfig, Result};

/// The default bucket growth factor (client_golang's
/// `NativeHistogramBucketFactor` as commonly set): 1.1, which gives schema 3
/// (a factor of about 1.09 from one bucket to the next).
pub const DEFAULT_NATIVE_BUCKET_FACTOR: f64 = 1.1;

/// The default zero threshold, 2^-128 (client_golang's
/// `DefNativeHistogramZeroThreshold`): above zero, so that Prometheus
/// recognises an empty histogram as native, and below any value a service
/// measures.
pub const DEFAULT_NATIVE_ZERO_THRESHOLD: f64 = f64::from_bits((1023 - 128) << 52);

/// The default maximum number of populated buckets of one native histogram
/// (both signs together); past it the resolution is halved until it fits.
pub const DEFAULT_NATIVE_MAX_BUCKETS: usize = 160;

/// The largest `max_buckets` accepted: it sizes every native series' table.
pub const MAX_NATIVE_MAX_BUCKETS: usize = 4096;

/// The smallest schema Prometheus accepts (a factor of 65536).
const SCHEMA_MIN: i32 = -4;
/// The largest schema Prometheus accepts (a factor of about 1.0027).
const SCHEMA_MAX: i32 = 8;

/// How many keys schema -4 can have for all of `f64` and both signs:
/// frexp exponents -1073..=1024 give indices -67..=64 per sign, plus the
/// index of infinity (65): 133 per sign. Rounded up, with room for
/// threads that race past a level's budget. A table also reserves one more
/// slot per classic bound, for the native bucket that bound splits.
pub const COARSEST_KEYS: usize = 320;

/// Which histogram families have native buckets (`native_histograms`): all
/// of them (`true`), none (`false`, the default), or the named ones.
///
/// In TOML, `native_histograms = true` or
/// `native_histograms = ["http_request_duration_seconds"]`; in the
/// environment, `INCIDENT_METRICS_NATIVE_HISTOGRAMS=true` or a
/// comma-separated list of families.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum NativeHistograms {
    /// Every histogram family (`true`) or none (`false`).
    All(bool),
    /// The families named (without the namespace, unit included:
    /// `http_request_duration_seconds`).
    Families(Vec<String>),
}

impl Default for NativeHistograms {
    fn default() -> Self {
        Self::All(false)
    }
}

impl NativeHistograms {
    fn includes(&self, family: &str) -> bool {
        match self {
            Self::All(all) => *all,
            Self::Families(families) => families.iter().any(|f| f == family),
        }
    }
}

/// The settings of the native part of a histogram: its schema (from the
/// bucket factor), its zero threshold and its maximum bucket count. Cheap to
/// clone.
///
/// # Examples
///
/// ```
/// use incident_metrics_core::NativeConfig;
///
/// let native = NativeConfig::new(1.1, 2f64.powi(-128), 160)?;
/// assert_eq!(native.schema(), 3); // 2^(2^-3) ≈ 1.09 is the largest factor <= 1.1
/// assert_eq!(NativeConfig::new(2.0, 0.0, 10)?.schema(), 0);
/// assert!(NativeConfig::new(1.0, 0.0, 10).is_err());
/// # Ok::<(), incident_metrics_core::Error>(())
/// ```
#[derive(Clone)]
pub struct NativeConfig {
    inner: Arc<Layout>,
}

struct Layout {
    schema: i32,
    zero_threshold: f64,
    max_buckets: usize,
    /// Where a value lies within its power of two.
    fractions: Arc<Fractions>,
}

/// For a positive schema `s`, the `2^s` fractions `2^(j/2^s - 1)`, `j` in
/// `0..2^s`, that split each power of two (client_golang's
/// `nativeHistogramBounds[s]`), with a table that finds how many of them
/// lie below a value's fraction with one comparison instead of a binary
/// search. Empty for the other schemas.
#[derive(Default)]
struct Fractions {
    bounds: Box<[f64]>,
    /// Entry `t`: how many bounds lie below every fraction whose top `s + 1`
    /// mantissa bits are `t`. Two consecutive bounds are further apart
    /// (their ratio is `2^(2^-s)`, above `1 + ln 2 / 2^s`) than such a slice
    /// is wide (`1 / 2^(s + 1)` of the mantissa), so at most one bound lies
    /// inside a slice, and one comparison with it finishes the count.
    below: Box<[u16]>,
    /// `s + 1`.
    bits: u32,
}

impl Fractions {
    fn new(schema: i32) -> Self {
        let bits = match u32::try_from(schema) {
            Ok(schema) if schema > 0 => schema + 1,
            _ => return Self::default(),
        };
        let n = 1_u32 << (bits - 1);
        let bounds: Box<[f64]> = (0..n)
            .map(|j| (f64::from(j) / f64::from(n) - 1.0).exp2())
            .collect();
        let below = (0..1_u64 << bits)
            .map(|t| {
                let lowest = f64::from_bits((1022_u64 << 52) | (t << (52 - bits)));
                // At most 256 bounds.
                u16::try_from(bounds.partition_point(|bound| *bound < lowest)).unwrap_or(u16::MAX)
            })
            .collect();
        Self {
            bounds,
            below,
            bits,
        }
    }

    /// How many bounds lie below `frac` (in `[0.5, 1)`): the
    /// `partition_point` of `bounds`, found in one comparison.
    #[inline(always)]
    fn count_below(&self, frac: f64) -> usize {
        #[allow(clippy::cast_possible_truncation)]
        let slice = ((frac.to_bits() >> (52 - self.bits)) & ((1 << self.bits) - 1)) as usize;
        let below = self.below.get(slice).copied().map_or(0, usize::from);
        below + usize::from(self.bounds.get(below).is_some_and(|bound| *bound < frac))
    }
}

impl Layout {
    /// The size of a series' table (a power of two) and its budgets:
    /// `budget[l]` is the most keys the table may hold when a key of level
    /// `l` claims a slot, the last entry the capacity. The first level may
    /// hold `max_buckets` keys, and the last level always has
    /// [`COARSEST_KEYS`] plus one per classic bound (`classic_bounds`) to
    /// itself: the capacity is at least the sum of the two.
    fn table(&self, classic_bounds: usize) -> (usize, Box<[usize]>) {
        let reserve = COARSEST_KEYS + classic_bounds;
        let capacity = (self.max_buckets + reserve).next_power_of_two();
        let levels = usize::try_from(self.schema - SCHEMA_MIN).unwrap_or(0) + 1;
        let first = self.max_buckets;
        // What the levels between the first and the last may add.
        let spare = capacity - reserve - first;
        let budget = (0..levels)
            .map(|level| {
                if level + 1 == levels {
                    capacity
                } else {
                    // Half of the spare slots, then half of the rest, ...
                    first + spare - (spare >> level.min(63))
                }
            })
            .collect();
        (capacity, budget)
    }
}

impl NativeConfig {
    /// Settings with client_golang's meaning: the schema is the largest
    /// whose growth factor does not exceed `bucket_factor`; values whose
    /// magnitude is at most `zero_threshold` count in the zero bucket; at
    /// most `max_buckets` buckets are exposed.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidNativeHistogram`] when `bucket_factor` is not a finite
    /// number above 1, `zero_threshold` is not a finite number at or above 0,
    /// or `max_buckets` is not in `1..=`[`MAX_NATIVE_MAX_BUCKETS`].
    pub fn new(bucket_factor: f64, zero_threshold: f64, max_buckets: usize) -> Result<Self> {
        check(bucket_factor, zero_threshold, max_buckets)?;
        let schema = pick_schema(bucket_factor);
        Ok(Self {
            inner: Arc::new(Layout {
                schema,
                zero_threshold,
                max_buckets,
                fractions: Arc::new(Fractions::new(schema)),
            }),
        })
    }

    /// The schema: buckets grow by `2^(2^-schema)`.
    pub fn schema(&self) -> i32 {
        self.inner.schema
    }

    /// The zero threshold.
    pub fn zero_threshold(&self) -> f64 {
        self.inner.zero_threshold
    }

    /// The most buckets exposed.
    pub fn max_buckets(&self) -> usize {
        self.inner.max_buckets
    }
}

impl fmt::Debug for NativeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NativeConfig")
            .field("schema", &self.schema())
            .field("zero_threshold", &self.zero_threshold())
            .field("max_buckets", &self.max_buckets())
            .finish()
    }
}

impl PartialEq for NativeConfig {
    fn eq(&self, other: &Self) -> bool {
        self.schema() == other.schema()
            && self.zero_threshold().to_bits() == other.zero_threshold().to_bits()
            && self.max_buckets() == other.max_buckets()
    }
}

fn check(bucket_factor: f64, zero_threshold: f64, max_buckets: usize) -> Result<()> {
    let invalid = |field: &str, reason: String| {
        Err(Error::InvalidNativeHistogram {
            field: field.to_owned(),
            reason,
        })
    };
    if !(bucket_factor.is_finite() && bucket_factor > 1.0) {
        return invalid(
            "native_bucket_factor",
            format!("{bucket_factor} is not a number above 1; use for example 1.1"),
        );
    }
    if !(zero_threshold.is_finite() && zero_threshold >= 0.0) {
        return invalid(
            "native_zero_threshold",
            format!("{zero_threshold} is not a finite number at or above 0; the default is 2^-128"),
        );
    }
    if !(1..=MAX_NATIVE_MAX_BUCKETS).contains(&max_buckets) {
        return invalid(
            "native_max_buckets",
            format!("{max_buckets} is not from 1 to {MAX_NATIVE_MAX_BUCKETS}; the default is 160"),
        );
    }
    Ok(())
}

/// client_golang's `pickSchema`: the largest schema whose factor
/// `2^(2^-schema)` is at most `bucket_factor`, clamped to `-4..=8`.
fn pick_schema(bucket_factor: f64) -> i32 {
    let floor = bucket_factor.log2().log2().floor();
    if floor <= -f64::from(SCHEMA_MAX) {
        SCHEMA_MAX
    } else if floor >= -f64::from(SCHEMA_MIN) {
        SCHEMA_MIN
    } else {
        (SCHEMA_MIN..=SCHEMA_MAX)
            .find(|schema| f64::from(*schema) == -floor)
            .unwrap_or(0)
    }
}

/// `frexp` for a positive finite `v`: `v = frac * 2^exp` with `frac` in
/// `[0.5, 1)`.
#[inline]
fn frexp(v: f64) -> (f64, i32) {
    let bits = v.to_bits();
    // The biased exponent has 11 bits: the cast is exact.
    #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
    let exponent = ((bits >> 52) & 0x7ff) as i32;
    let mantissa = bits & ((1_u64 << 52) - 1);
    if exponent == 0 {
        // Subnormal: scale into the normal range first.
        let (frac, exp) = frexp(v * 2f64.powi(64));
        return (frac, exp - 64);
    }
    (f64::from_bits((1022_u64 << 52) | mantissa), exponent - 1022)
}

/// The index of the bucket holding `v` (positive, not NaN, above the zero
/// threshold) at `schema`, as client_golang computes it; infinity is one
/// past the bucket of `f64::MAX`.
#[inline(always)]
fn bucket_index(schema: i32, fractions: &Fractions, v: f64) -> i32 {
    let infinite = v.is_infinite();
    let (frac, exp) = frexp(if infinite { f64::MAX } else { v });
    let index = if schema > 0 {
        let n = fractions.bounds.len();
        let bucket = fractions.count_below(frac);
        // `n` is at most 256 and `bucket` at most `n`: both fit an i32.
        #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
        let (bucket, n) = (bucket as i32, n as i32);
        bucket + (exp - 1) * n
    } else {
        let key = if frac == 0.5 { exp - 1 } else { exp };
        let shift = -schema;
        let offset = (1_i32 << shift) - 1;
        (key + offset) >> shift
    };
    index + i32::from(infinite)
}

/// The bucket holding bucket `index` one schema lower.
#[inline]
fn coarser(index: i32) -> i32 {
    (index + 1) >> 1
}

/// A key: the classic bucket in bits 40.., level + 1 in bits 33..40, the
/// sign in bit 32, the native index in the low 32 bits. Never 0 (an empty
/// slot). Levels are at most 12 and classic buckets at most
/// [`MAX_BUCKETS`](crate::buckets::MAX_BUCKETS) + 1: both fit.
#[inline]
fn key(classic: usize, level: usize, negative: bool, index: i32) -> u64 {
    #[allow(clippy::cast_sign_loss)]
    let index = u64::from(index as u32);
    ((classic as u64) << 40) | ((level as u64 + 1) << 33) | (u64::from(negative) << 32) | index
}

/// A key's level, sign and native index.
#[inline]
fn unkey(key: u64) -> (usize, bool, i32) {
    #[allow(clippy::cast_possible_truncation)]
    let level = (((key >> 33) & 0x7f) - 1) as usize;
    #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
    let index = key as u32 as i32;
    (level, key & (1 << 32) != 0, index)
}

/// Adds `count`, a slot's with `key`, to its classic bucket's entry of
/// `classic`.
fn add_classic(classic: &mut [u64], key: u64, count: u64) {
    #[allow(clippy::cast_possible_truncation)]
    if let Some(n) = classic.get_mut((key >> 40) as usize) {
        *n = n.saturating_add(count);
    }
}

/// One slot: a key (0 while empty) and its count, 16 bytes.
#[derive(Default)]
struct Slot {
    key: AtomicU64,
    count: AtomicU64,
}

/// The native buckets of one series (see the module docs).
pub(crate) struct NativeBuckets {
    /// What `observe` reads, copied out of `config` so that it is one
    /// pointer away, not three.
    zero_threshold: f64,
    schema: i32,
    first_budget: usize,
    fractions: Arc<Fractions>,
    /// See [`Layout::table`].
    budget: Box<[usize]>,
    config: NativeConfig,
    zero: AtomicU64,
    /// Keys in the table, for the budgets.
    used: AtomicUsize,
    slots: Box<[Slot]>,
}

/// A snapshot of the native part, ready for the encoder.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct NativeSnapshot {
    pub(crate) schema: i32,
    pub(crate) zero_threshold: f64,
    pub(crate) zero_count: u64,
    pub(crate) positive_spans: Vec<(i32, u32)>,
    pub(crate) positive_deltas: Vec<i64>,
    pub(crate) negative_spans: Vec<(i32, u32)>,
    pub(crate) negative_deltas: Vec<i64>,
    /// The zero bucket's count plus every bucket's.
    pub(crate) total: u64,
}

impl NativeBuckets {
    /// The native buckets of a series whose classic part has
    /// `classic_bounds` finite bounds (0 when it keeps only `+Inf`).
    pub(crate) fn new(config: NativeConfig, classic_bounds: usize) -> Self {
        let (capacity, budget) = config.inner.table(classic_bounds);
        let slots = (0..capacity).map(|_| Slot::default()).collect();
        Self {
            zero_threshold: config.inner.zero_threshold,
            schema: config.inner.schema,
            first_budget: budget.first().copied().unwrap_or(0),
            fractions: Arc::clone(&config.inner.fractions),
            budget,
            config,
            zero: AtomicU64::new(0),
            used: AtomicUsize::new(0),
            slots,
        }
    }

    /// Counts `value`, which is not NaN and falls in classic bucket
    /// `classic` (`0..=classic_bounds`). True when a slot counted it, which
    /// counts the classic bucket too; false when the zero bucket did, and
    /// the caller must count the classic bucket itself.
    #[inline]
    pub(crate) fn observe(&self, value: f64, classic: usize) -> bool {
        let magnitude = value.abs();
        if magnitude <= self.zero_threshold {
            self.zero.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let negative = value < 0.0;
        let mut index = bucket_index(self.schema, &self.fractions, magnitude);
        // Level 0, the steady state, without touching the budgets.
        if self.add(key(classic, 0, negative, index), self.first_budget) {
            return true;
        }
        for (level, budget) in self.budget.iter().enumerate().skip(1) {
            index = coarser(index);
            if self.add(key(classic, level, negative, index), *budget) {
                return true;
            }
        }
        // Unreachable by construction (the last level always finds one of
        // its reserved slots); counted rather than lost.
        self.zero.fetch_add(1, Ordering::Relaxed);
        false
    }

    /// Adds 1 to `key`'s count, claiming a slot for it if the table holds
    /// fewer than `budget` keys; false when `key` is absent and may not be
    /// added.
    #[inline(always)]
    fn add(&self, key: u64, budget: usize) -> bool {
        let mask = self.slots.len() - 1;
        // Fibonacci hashing: the top bits of the product, as many as the
        // (power-of-two) table needs.
        let shift = 64 - self.slots.len().trailing_zeros();
        #[allow(clippy::cast_possible_truncation)]
        let mut at = (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize & mask;
        for _ in 0..self.slots.len() {
            let slot = &self.slots[at];
            let mut found = slot.key.load(Ordering::Acquire);
            if found == 0 {
                if self.used.load(Ordering::Relaxed) >= budget {
                    return false;
                }
                match slot
                    .key
                    .compare_exchange(0, key, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => {
                        self.used.fetch_add(1, Ordering::Relaxed);
                        found = key;
                    }
                    Err(current) => found = current,
                }
            }
            if found == key {
                slot.count.fetch_add(1, Ordering::Relaxed);
                return true;
            }
            at = (at + 1) & mask;
        }
        false
    }

    /// Adds what the slots counted of each classic bucket to its entry of
    /// `classic` (`+Inf` last).
    pub(crate) fn add_classic_counts(&self, classic: &mut [u64]) {
        for slot in &self.slots[..] {
            let key = slot.key.load(Ordering::Acquire);
            if key != 0 {
                add_classic(classic, key, slot.count.load(Ordering::Relaxed));
            }
        }
    }

    /// The buckets merged to one schema with at most `max_buckets` of them.
    /// Each slot's count read is also added to its classic bucket's entry of
    /// `classic`, so that both parts come from the same reads.
    pub(crate) fn snapshot(&self, classic: &mut [u64]) -> NativeSnapshot {
        let layout = &*self.config.inner;
        let mut entries = Vec::new();
        let mut coarsest = 0;
        for slot in &self.slots[..] {
            let key = slot.key.load(Ordering::Acquire);
            if key == 0 {
                continue;
            }
            let count = slot.count.load(Ordering::Relaxed);
            if count == 0 {
                continue;
            }
            add_classic(classic, key, count);
            let (level, negative, index) = unkey(key);
            coarsest = coarsest.max(level);
            entries.push((level, negative, index, count));
        }
        let mut schema = layout.schema - i32::try_from(coarsest).unwrap_or(0);
        let mut positive = BTreeMap::new();
        let mut negative = BTreeMap::new();
        for (level, is_negative, mut index, count) in entries {
            for _ in level..coarsest {
                index = coarser(index);
            }
            let side = if is_negative {
                &mut negative
            } else {
                &mut positive
            };
            *side.entry(index).or_insert(0_u64) += count;
        }
        while positive.len() + negative.len() > layout.max_buckets && schema > SCHEMA_MIN {
            positive = reduce(&positive);
            negative = reduce(&negative);
            schema -= 1;
        }
        let zero_count = self.zero.load(Ordering::Relaxed);
        let total = positive
            .values()
            .chain(negative.values())
            .fold(zero_count, |total, n| total.saturating_add(*n));
        let (mut positive_spans, positive_deltas) = spans_and_deltas(&positive);
        let (negative_spans, negative_deltas) = spans_and_deltas(&negative);
        if positive_spans.is_empty()
            && negative_spans.is_empty()
            && layout.zero_threshold == 0.0
            && zero_count == 0
        {
            // client_golang's no-op span: how Prometheus tells an empty
            // native histogram from a classic one when nothing else does.
            positive_spans.push((0, 0));
        }
        NativeSnapshot {
            schema,
            zero_threshold: layout.zero_threshold,
            zero_count,
            positive_spans,
            positive_deltas,
            negative_spans,
            negative_deltas,
            total,
        }
    }
}

/// How many times [`encode`] reads a series again when observations raced
/// its reading.
const CONSISTENT_READS: usize = 16;

/// Encodes a histogram with native buckets: its classic part and a
/// snapshot of `native`. `classic` reads the sum and the counts the classic
/// buckets (finite upper bounds `bounds`, `+Inf` last) keep themselves, the
/// observations the zero bucket counted; the slots' counts are added to
/// them. The text encoders write the classic part only; the protobuf
/// encoder writes both, with one count.
///
/// That count must match both parts: Prometheus checks that a native
/// histogram's count equals its buckets' total, and OpenMetrics parsers that
/// `_count` equals the `+Inf` bucket. The slots are read once for both
/// parts, but an observation in the zero bucket counts twice (there and in
/// its classic bucket), so the classic buckets' own counts are read before
/// and after the slots, and the whole read again (at most
/// [`CONSISTENT_READS`] times, so a scrape never waits on traffic) until
/// they did not move and both totals agree. Observers never wait.
pub(crate) fn encode<S: prometheus_client::encoding::EncodeLabelSet>(
    native: &NativeBuckets,
    bounds: &[f64],
    classic: impl Fn() -> (f64, Vec<u64>),
    exemplars: Option<
        &std::collections::HashMap<usize, prometheus_client::metrics::exemplar::Exemplar<S, f64>>,
    >,
    mut encoder: MetricEncoder<'_>,
) -> std::result::Result<(), fmt::Error> {
    let total = |counts: &[u64]| counts.iter().fold(0, |t: u64, n| t.saturating_add(*n));
    let (mut sum, mut own) = classic();
    let mut counts = own.clone();
    let mut s = native.snapshot(&mut counts);
    for _ in 1..CONSISTENT_READS {
        let (sum_after, own_after) = classic();
        if s.total == total(&counts) && own_after == own {
            break;
        }
        (sum, own) = (sum_after, own_after);
        counts.clone_from(&own);
        s = native.snapshot(&mut counts);
    }
    let count = total(&counts);
    let buckets: Vec<(f64, u64)> = counts
        .iter()
        .enumerate()
        .map(|(i, n)| (bounds.get(i).copied().unwrap_or(f64::INFINITY), *n))
        .collect();
    encoder.encode_histogram_with_native(
        sum,
        count,
        &buckets,
        exemplars,
        NativeHistogram {
            schema: s.schema,
            zero_threshold: s.zero_threshold,
            zero_count: s.zero_count,
            negative: NativeHistogramBuckets {
                spans: &s.negative_spans,
                deltas: &s.negative_deltas,
            },
            positive: NativeHistogramBuckets {
                spans: &s.positive_spans,
                deltas: &s.positive_deltas,
            },
            created: None,
        },
    )
}

/// One resolution reduction: each pair of buckets merged.
fn reduce(buckets: &BTreeMap<i32, u64>) -> BTreeMap<i32, u64> {
    let mut out = BTreeMap::new();
    for (index, count) in buckets {
        *out.entry(coarser(*index)).or_insert(0) += count;
    }
    out
}

/// Prometheus's sparse encoding: spans of consecutive buckets (a gap of one
/// or two empty buckets is cheaper written as zero deltas) and the deltas
/// between consecutive counts.
fn spans_and_deltas(buckets: &BTreeMap<i32, u64>) -> (Vec<(i32, u32)>, Vec<i64>) {
    let mut spans: Vec<(i32, u32)> = Vec::new();
    let mut deltas = Vec::with_capacity(buckets.len());
    let mut previous = 0_i64;
    let mut next_index = 0_i32;
    for (n, (&index, &count)) in buckets.iter().enumerate() {
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        let gap = index - next_index;
        if n == 0 || gap > 2 {
            spans.push((gap, 0));
        } else {
            for _ in 0..gap {
                if let Some((_, len)) = spans.last_mut() {
                    *len += 1;
                }
                deltas.push(-previous);
                previous = 0;
            }
        }
        if let Some((_, len)) = spans.last_mut() {
            *len += 1;
        }
        deltas.push(count - previous);
        previous = count;
        next_index = index + 1;
    }
    (spans, deltas)
}

impl fmt::Debug for NativeBuckets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NativeBuckets")
            .field("config", &self.config)
            .field("zero_count", &self.zero.load(Ordering::Relaxed))
            .field("keys", &self.used.load(Ordering::Relaxed))
            .finish()
    }
}

/// The native-histogram keys of [`MetricsConfig`]: `native_histograms`,
/// `native_only`, `native_bucket_factor`, `native_zero_threshold`,
/// `native_max_buckets`.
impl MetricsConfig {
    /// Turns native buckets on (or off) for every histogram family
    /// (`native_histograms = true`). Classic buckets are kept unless
    /// [`with_native_only`](Self::with_native_only) is set.
    ///
    /// # Examples
    ///
    /// ```
    /// use incident_metrics_core::MetricsConfig;
    ///
    /// let config = MetricsConfig::new().with_native_histograms(true);
    /// assert!(config.native_for("http_request_duration_seconds").is_some());
    /// let config = MetricsConfig::new()
    ///     .with_native_histogram_family("llm_request_duration_seconds")
    ///     .with_native_bucket_factor(1.05);
    /// config.validate()?;
    /// assert_eq!(config.native_for("llm_request_duration_seconds").map(|n| n.schema()), Some(4));
    /// assert!(config.native_for("http_request_duration_seconds").is_none());
    /// assert!(MetricsConfig::new().native_for("http_request_duration_seconds").is_none());
    /// # Ok::<(), incident_metrics_core::Error>(())
    /// ```
    #[must_use]
    pub fn with_native_histograms(mut self, on: bool) -> Self {
        self.native_histograms = NativeHistograms::All(on);
        self
    }

    /// Turns native buckets on for one more family, named without the
    /// namespace, unit included (`http_request_duration_seconds`).
    #[must_use]
    pub fn with_native_histogram_family(mut self, family: impl Into<String>) -> Self {
        let family = family.into();
        match &mut self.native_histograms {
            NativeHistograms::All(true) => {}
            NativeHistograms::All(false) => {
                self.native_histograms = NativeHistograms::Families(vec![family]);
            }
            NativeHistograms::Families(families) => {
                if !families.contains(&family) {
                    families.push(family);
                }
            }
        }
        self
    }

    /// Drops the classic buckets of the families with native buckets
    /// (`native_only`, default false): they keep `_sum`, `_count` and one
    /// `+Inf` bucket, as a client_golang histogram without classic buckets
    /// does. Prometheus without `--enable-feature=native-histograms` then
    /// sees no distribution for them.
    #[must_use]
    pub fn with_native_only(mut self, native_only: bool) -> Self {
        self.native_only = native_only;
        self
    }

    /// Sets the native buckets' growth factor (`native_bucket_factor`,
    /// default [`DEFAULT_NATIVE_BUCKET_FACTOR`]); the schema is the largest
    /// whose factor does not exceed it.
    #[must_use]
    pub fn with_native_bucket_factor(mut self, factor: f64) -> Self {
        self.native_bucket_factor = factor;
        self
    }

    /// Sets the native zero bucket's threshold (`native_zero_threshold`,
    /// default [`DEFAULT_NATIVE_ZERO_THRESHOLD`], 2^-128).
    #[must_use]
    pub fn with_native_zero_threshold(mut self, threshold: f64) -> Self {
        self.native_zero_threshold = threshold;
        self
    }

    /// Sets the most buckets one native histogram exposes
    /// (`native_max_buckets`, default [`DEFAULT_NATIVE_MAX_BUCKETS`]); past
    /// it the resolution is halved until it fits.
    #[must_use]
    pub fn with_native_max_buckets(mut self, max_buckets: usize) -> Self {
        self.native_max_buckets = max_buckets;
        self
    }

    /// Which families have native buckets.
    pub fn native_histograms(&self) -> &NativeHistograms {
        &self.native_histograms
    }

    /// Whether families with native buckets drop their classic buckets.
    pub fn native_only(&self) -> bool {
        self.native_only
    }

    /// The native settings of `family` (named without the namespace, unit
    /// included), or `None` when it has no native buckets or the settings
    /// are invalid ([`validate`](Self::validate) reports those).
    pub fn native_for(&self, family: &str) -> Option<NativeConfig> {
        if !self.native_histograms.includes(family) {
            return None;
        }
        NativeConfig::new(
            self.native_bucket_factor,
            self.native_zero_threshold,
            self.native_max_buckets,
        )
        .ok()
    }
}

impl crate::Registry {
    /// Checks that every family `native_histograms` names is a registered
    /// histogram family, so that a misspelt name is an error rather than a
    /// family silently left classic. Call it once every family is
    /// registered (the facade's `Metrics` does).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidNativeHistogram`] for the first name that is not a
    /// registered histogram family, listing those that are.
    ///
    /// # Examples
    ///
    /// ```
    /// use incident_metrics_core::{MetricsConfig, Registry};
    ///
    /// let config = MetricsConfig::new().with_native_histogram_family("job_duration_seconds");
    /// let registry = Registry::new(&config)?;
    /// let msg = registry.check_native_histograms().unwrap_err().to_string();
    /// assert!(msg.contains("job_duration_seconds"), "{msg}");
    /// # Ok::<(), incident_metrics_core::Error>(())
    /// ```
    pub fn check_native_histograms(&self) -> Result<()> {
        let NativeHistograms::Families(families) = self.config().native_histograms() else {
            return Ok(());
        };
        let histograms: Vec<String> = self
            .families()
            .iter()
            .filter(|f| f.spec.kind == crate::MetricKind::Histogram)
            .map(|f| f.spec.full_name(""))
            .collect();
        match families.iter().find(|f| !histograms.contains(f)) {
            Some(family) => Err(Error::InvalidNativeHistogram {
                field: "native_histograms".to_owned(),
                reason: format!(
                    "{family:?} is not a registered histogram family; name one of {}",
                    histograms.join(", ")
                ),
            }),
            None => Ok(()),
        }
    }
}

/// Checks the native keys: the three parameters, and the family names.
pub(crate) fn validate(config: &MetricsConfig) -> Result<()> {
    check(
        config.native_bucket_factor,
        config.native_zero_threshold,
        config.native_max_buckets,
    )?;
    if let NativeHistograms::Families(families) = &config.native_histograms {
        for family in families {
            crate::name::validate_metric_name(family)?;
        }
    }
    Ok(())
}

/// The variables of the native keys, after the prefix.
pub(crate) const ENV_NAMES: &[&str] = &[
    "NATIVE_HISTOGRAMS",
    "NATIVE_ONLY",
    "NATIVE_BUCKET_FACTOR",
    "NATIVE_ZERO_THRESHOLD",
    "NATIVE_MAX_BUCKETS",
];

/// Applies one `INCIDENT_METRICS_NATIVE_*` variable (`name` without the
/// prefix).
pub(crate) fn set_env(
    config: &mut MetricsConfig,
    name: &str,
    value: &str,
) -> std::result::Result<(), String> {
    let number = |value: &str| {
        value
            .trim()
            .parse::<f64>()
            .map_err(|e| format!("not a number ({e})"))
    };
    match name {
        "NATIVE_HISTOGRAMS" => {
            config.native_histograms = match crate::env::parse_bool(value) {
                Ok(on) => NativeHistograms::All(on),
                Err(_) => NativeHistograms::Families(crate::env::split_list(value).collect()),
            };
        }
        "NATIVE_ONLY" => config.native_only = crate::env::parse_bool(value)?,
        "NATIVE_BUCKET_FACTOR" => config.native_bucket_factor = number(value)?,
        "NATIVE_ZERO_THRESHOLD" => config.native_zero_threshold = number(value)?,
        "NATIVE_MAX_BUCKETS" => {
            config.native_max_buckets = value
                .trim()
                .parse()
                .map_err(|e| format!("not a whole number ({e}); the default is 160"))?;
        }
        _ => {
            return Err(format!(
                "unknown variable; the native histogram ones are {}",
                ENV_NAMES.join(", ")
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(factor: f64, zero: f64, max: usize) -> NativeConfig {
        NativeConfig::new(factor, zero, max).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The upper bound of bucket `index` at `schema`: `2^(index * 2^-schema)`.
    fn upper(schema: i32, index: i32) -> f64 {
        (f64::from(index) * (-f64::from(schema)).exp2()).exp2()
    }

    #[test]
    fn schemas_follow_client_golang() {
        for (factor, schema) in [
            (1.1, 3),
            (2.0, 0),
            (1.0001, 8),
            (1.5, 1),
            (4.0, -1),
            (1e300, -4),
            (1.05, 4),
        ] {
            assert_eq!(config(factor, 0.0, 10).schema(), schema, "{factor}");
        }
    }

    #[test]
    fn bounds_match_client_golangs_table() {
        // nativeHistogramBounds[3] of client_golang.
        let expected = [
            0.5,
            0.545_253_866_332_628_8,
            0.594_603_557_501_360_5,
            0.648_419_777_325_504_8,
            0.707_106_781_186_547_5,
            0.771_105_412_703_970_4,
            0.840_896_415_253_714_5,
            0.917_004_043_204_671_2,
        ];
        let c = config(1.1, 0.0, 10);
        for (got, want) in c.inner.fractions.bounds.iter().zip(expected) {
            assert!((got - want).abs() <= f64::EPSILON, "{got} vs {want}");
        }
    }

    #[test]
    fn indices_put_each_value_in_base_i_minus_1_to_base_i() {
        for schema_factor in [1.1, 1.5, 2.0, 4.0, 65536.0, 1.003] {
            let c = config(schema_factor, 0.0, 10);
            let schema = c.schema();
            for v in [1e-9, 0.001, 0.1, 0.3, 1.0, 1.5, 2.0, 3.0, 7.7, 1000.0, 1e12] {
                let i = bucket_index(schema, &c.inner.fractions, v);
                let (lo, hi) = (upper(schema, i - 1), upper(schema, i));
                let slack = hi * 1e-12;
                assert!(
                    lo - slack <= v && v <= hi + slack,
                    "schema {schema}: {v} in bucket {i} = ({lo}, {hi}]"
                );
            }
            // Exact powers of two are upper bounds.
            assert_eq!(
                bucket_index(schema, &c.inner.fractions, 1.0),
                0,
                "schema {schema}"
            );
        }
    }

    #[test]
    fn the_fraction_table_counts_as_a_binary_search_does() {
        for schema in 1..=SCHEMA_MAX {
            let f = Fractions::new(schema);
            assert_eq!(f.bounds.len(), 1 << schema);
            let mut fracs = Vec::new();
            // Every bound, its neighbours and every slice's edges.
            for b in f.bounds.iter() {
                fracs.extend([*b, b.next_down(), b.next_up()]);
            }
            for t in 0..1_u64 << f.bits {
                let edge = f64::from_bits((1022_u64 << 52) | (t << (52 - f.bits)));
                fracs.extend([edge, edge.next_down(), edge.next_up()]);
            }
            // And mantissas spread over the whole range.
            let mut x = 0x2545_f491_4f6c_dd1d_u64;
            for _ in 0..20_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                fracs.push(f64::from_bits((1022_u64 << 52) | (x >> 12)));
            }
            for frac in fracs.into_iter().filter(|v| (0.5..1.0).contains(v)) {
                assert_eq!(
                    f.count_below(frac),
                    f.bounds.partition_point(|b| *b < frac),
                    "schema {schema}, {frac}"
                );
            }
        }
        assert!(Fractions::new(0).bounds.is_empty());
        assert!(Fractions::new(-4).bounds.is_empty());
    }

    #[test]
    fn frexp_is_exact_for_normals_and_subnormals() {
        for v in [1.0, 0.5, 3.0, 1e-310, 5e-324, f64::MAX, 1e300] {
            let (frac, exp) = frexp(v);
            assert!((0.5..1.0).contains(&frac), "{v}: {frac}");
            // 2^exp alone underflows for subnormals: scale in two steps.
            let shift = if exp < -1000 {
                200
            } else if exp > 1000 {
                -200
            } else {
                0
            };
            assert_eq!(frac * 2f64.powi(exp + shift) * 2f64.powi(-shift), v, "{v}");
        }
    }

    #[test]
    fn reduction_merges_pairs_as_a_schema_change_does() {
        // Bucket i at schema s lies inside bucket ceil(i/2) at s - 1.
        for i in -9..9 {
            let j = coarser(i);
            assert!(upper(2, i) <= upper(1, j) && upper(2, i - 1) >= upper(1, j - 1));
        }
    }

    #[test]
    fn snapshot_encodes_spans_and_deltas() {
        let n = NativeBuckets::new(config(2.0, 0.0, 100), 0);
        // Schema 0: 1 -> 0, 2 -> 1, 3 and 4 -> 2, 100 -> 7; -1 -> 0 negative.
        for v in [1.0, 2.0, 3.0, 4.0, 100.0, -1.0, 0.0] {
            n.observe(v, 0);
        }
        let s = n.snapshot(&mut []);
        assert_eq!(s.schema, 0);
        assert_eq!(s.zero_count, 1);
        assert_eq!(s.positive_spans, vec![(0, 3), (4, 1)]);
        assert_eq!(s.positive_deltas, vec![1, 0, 1, -1]);
        assert_eq!(s.negative_spans, vec![(0, 1)]);
        assert_eq!(s.negative_deltas, vec![1]);
        // A gap of two is written as zero deltas.
        assert_eq!(
            spans_and_deltas(&BTreeMap::from([(1, 2), (4, 3)])),
            (vec![(1, 4)], vec![2, -2, 0, 3])
        );
    }

    #[test]
    fn an_empty_histogram_is_recognisably_native() {
        let s = NativeBuckets::new(config(1.1, 0.0, 10), 0).snapshot(&mut []);
        assert_eq!(s.positive_spans, vec![(0, 0)]);
        let s =
            NativeBuckets::new(config(1.1, DEFAULT_NATIVE_ZERO_THRESHOLD, 10), 0).snapshot(&mut []);
        assert!(s.positive_spans.is_empty());
        assert_eq!(s.zero_threshold, DEFAULT_NATIVE_ZERO_THRESHOLD);
        assert_eq!(DEFAULT_NATIVE_ZERO_THRESHOLD, 2f64.powi(-128));
    }

    fn total(s: &NativeSnapshot) -> i64 {
        // Deltas add up to counts; counts add up to the total.
        let side = |deltas: &[i64]| {
            let mut count = 0;
            deltas
                .iter()
                .map(|d| {
                    count += d;
                    count
                })
                .sum::<i64>()
        };
        side(&s.positive_deltas) + side(&s.negative_deltas) + s.zero_count as i64
    }

    #[test]
    fn past_max_buckets_the_resolution_is_reduced_and_nothing_is_lost() {
        let n = NativeBuckets::new(config(1.1, 0.0, 20), 0);
        let mut v = 1e-6;
        let mut observed = 0;
        while v < 1e6 {
            n.observe(v, 0);
            n.observe(-v, 0);
            observed += 2;
            v *= 1.01;
        }
        let s = n.snapshot(&mut []);
        let buckets: u32 = s
            .positive_spans
            .iter()
            .chain(&s.negative_spans)
            .map(|(_, len)| len)
            .sum();
        assert!(buckets <= 20, "{buckets} buckets");
        assert!(s.schema < 3, "schema {}", s.schema);
        assert_eq!(total(&s), observed);
    }

    #[test]
    fn every_f64_finds_a_slot_even_in_the_smallest_table() {
        let n = NativeBuckets::new(config(1.0001, 0.0, 1), 0);
        let mut observed = 0;
        let mut v = 5e-324_f64;
        while v.is_finite() {
            n.observe(v, 0);
            n.observe(-v, 0);
            observed += 2;
            v *= 1.7;
        }
        n.observe(f64::INFINITY, 0);
        n.observe(f64::NEG_INFINITY, 0);
        observed += 2;
        let s = n.snapshot(&mut []);
        assert_eq!(s.zero_count, 0, "nothing spilled into the zero bucket");
        assert_eq!(total(&s), observed);
        assert_eq!(s.total, observed as u64);
        assert_eq!(s.schema, SCHEMA_MIN);
    }

    #[test]
    fn every_f64_finds_a_slot_with_the_most_classic_bounds_and_each_is_counted_once() {
        // The most classic bounds a histogram may have, spread over both
        // signs, each splitting a schema -4 bucket; the smallest table.
        let mut bounds: Vec<f64> = (0..crate::buckets::MAX_BUCKETS)
            .map(|i| {
                let magnitude = 10f64.powi(i32::try_from(i).unwrap_or(0) * 9 - 280);
                if i % 2 == 0 { magnitude } else { -magnitude }
            })
            .collect();
        bounds.sort_by(f64::total_cmp);
        let n = NativeBuckets::new(config(1.0001, 0.0, 1), bounds.len());
        let mut want = vec![0_u64; bounds.len() + 1];
        let mut observe = |v: f64| {
            let classic = bounds.partition_point(|b| *b < v);
            assert!(n.observe(v, classic), "{v} went to the zero bucket");
            want[classic] += 1;
        };
        let mut v = 5e-324_f64;
        while v.is_finite() {
            observe(v);
            observe(-v);
            // Both sides of the bounds near v.
            observe(v * 1.01);
            observe(-v * 0.99);
            v *= 1.7;
        }
        observe(f64::INFINITY);
        observe(f64::NEG_INFINITY);
        let observed: u64 = want.iter().sum();
        let mut got = vec![0_u64; bounds.len() + 1];
        let s = n.snapshot(&mut got);
        assert_eq!(got, want);
        assert_eq!(s.zero_count, 0);
        assert_eq!(s.total, observed);
        assert_eq!(total(&s), i64::try_from(observed).unwrap_or(-1));
        let mut again = vec![0_u64; bounds.len() + 1];
        n.add_classic_counts(&mut again);
        assert_eq!(again, want);
    }

    #[test]
    fn concurrent_observations_are_exact() {
        let n = NativeBuckets::new(config(1.1, DEFAULT_NATIVE_ZERO_THRESHOLD, 160), 0);
        std::thread::scope(|s| {
            for t in 0..4 {
                let n = &n;
                s.spawn(move || {
                    for i in 0..5_000 {
                        n.observe(f64::from(i % 300 + t) * 0.001, 0);
                    }
                });
            }
        });
        assert_eq!(total(&n.snapshot(&mut [])), 20_000);
    }

    #[test]
    fn config_keys_load_from_toml_and_env_and_are_checked() {
        let c = MetricsConfig::from_toml_str(
            "native_histograms = [\"d_seconds\"]\nnative_only = true\n\
             native_bucket_factor = 2.0\nnative_zero_threshold = 0.0\nnative_max_buckets = 50",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.native_for("d_seconds"), Some(config(2.0, 0.0, 50)));
        assert!(c.native_only());
        assert!(c.native_for("e_seconds").is_none());
        let c = MetricsConfig::from_toml_str("native_histograms = true")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.native_for("e_seconds"),
            Some(config(1.1, DEFAULT_NATIVE_ZERO_THRESHOLD, 160))
        );
        let c = MetricsConfig::new()
            .with_env_vars([
                ("INCIDENT_METRICS_NATIVE_HISTOGRAMS", "a_seconds, b_bytes"),
                ("INCIDENT_METRICS_NATIVE_MAX_BUCKETS", "30"),
            ])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.native_histograms(),
            &NativeHistograms::Families(vec!["a_seconds".into(), "b_bytes".into()])
        );
        assert_eq!(c.native_for("b_bytes").map(|n| n.max_buckets()), Some(30));
        let c = MetricsConfig::new()
            .with_env_vars([("INCIDENT_METRICS_NATIVE_HISTOGRAMS", "true")])
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(c.native_for("x").is_some());
        assert!(MetricsConfig::reads_env(
            "INCIDENT_METRICS_NATIVE_BUCKET_FACTOR"
        ));
        for (var, value, needle) in [
            (
                "INCIDENT_METRICS_NATIVE_BUCKET_FACTOR",
                "1",
                "native_bucket_factor",
            ),
            ("INCIDENT_METRICS_NATIVE_BUCKET_FACTOR", "x", "not a number"),
            (
                "INCIDENT_METRICS_NATIVE_ZERO_THRESHOLD",
                "-1",
                "native_zero_threshold",
            ),
            (
                "INCIDENT_METRICS_NATIVE_MAX_BUCKETS",
                "0",
                "native_max_buckets",
            ),
            (
                "INCIDENT_METRICS_NATIVE_ONLY",
                "sometimes",
                "`true` or `false`",
            ),
            ("INCIDENT_METRICS_NATIVE_HISTOGRAMS", "bad-name", "bad-name"),
            ("INCIDENT_METRICS_NATIVE_SCHEMA", "3", "unknown variable"),
        ] {
            let msg = MetricsConfig::new()
                .with_env_vars([(var, value)])
                .map(|_| String::new())
                .unwrap_or_else(|e| e.to_string());
            assert!(msg.contains(needle), "{var}={value}: {msg}");
        }
    }
}
