//! Histogram bucket layouts: validation and the presets the catalog uses.
//!
//! Bucket bounds are the upper bounds (`le`) of the finite buckets; the
//! `+Inf` bucket is always added by the histogram and must not be listed.
//! The presets follow the OpenTelemetry semantic conventions where one
//! exists (HTTP server duration, GenAI client metrics).

use crate::{Error, Result};

/// HTTP server request duration in seconds, as advised by the OpenTelemetry
/// HTTP semantic conventions (`http.server.request.duration`).
pub const HTTP_DURATION_SECONDS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// RPC duration in seconds; the HTTP layout, since OpenTelemetry advises the
/// same boundaries for `rpc.server.duration`.
pub const RPC_DURATION_SECONDS: &[f64] = HTTP_DURATION_SECONDS;

/// GenAI operation duration in seconds (`gen_ai.client.operation.duration`):
/// 0.01 s doubling up to 81.92 s.
pub const GENAI_DURATION_SECONDS: &[f64] = &[
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

/// GenAI token usage per call (`gen_ai.client.token.usage`): powers of 4 from
/// 1 to 67 108 864.
pub const GENAI_TOKENS: &[f64] = &[
    1.0,
    4.0,
    16.0,
    64.0,
    256.0,
    1024.0,
    4096.0,
    16384.0,
    65536.0,
    262_144.0,
    1_048_576.0,
    4_194_304.0,
    16_777_216.0,
    67_108_864.0,
];

/// GenAI time to first token in seconds (`gen_ai.server.time_to_first_token`).
pub const GENAI_TIME_TO_FIRST_TOKEN_SECONDS: &[f64] = &[
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// GenAI time per output token in seconds (`gen_ai.server.time_per_output_token`).
pub const GENAI_TIME_PER_OUTPUT_TOKEN_SECONDS: &[f64] = &[
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5,
];

/// Message and body sizes in bytes: 64 B multiplied by 4 up to 16 MiB.
pub const SIZE_BYTES: &[f64] = &[
    64.0,
    256.0,
    1024.0,
    4096.0,
    16384.0,
    65536.0,
    262_144.0,
    1_048_576.0,
    4_194_304.0,
    16_777_216.0,
];

/// Background work that may take minutes (incident processing, playbooks,
/// notification delivery), in seconds.
pub const TASK_DURATION_SECONDS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// Human response times (time to acknowledge, time to resolve), from 10 s
/// to 24 h, in seconds.
pub const RESPONSE_TIME_SECONDS: &[f64] = &[
    10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14_400.0, 28_800.0,
    43_200.0, 86_400.0,
];

/// Storage operations, which are usually sub-millisecond, in seconds.
pub const STORAGE_DURATION_SECONDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// The most finite buckets a layout may have; more is almost always a mistake
/// that multiplies series.
pub const MAX_BUCKETS: usize = 64;

/// Checks a bucket layout for `family`.
///
/// # Errors
///
/// [`Error::InvalidBuckets`] when the layout is empty, longer than
/// [`MAX_BUCKETS`], holds a non-finite bound (NaN or ±infinity; `+Inf` is
/// implicit), or is not strictly increasing.
///
/// # Examples
///
/// ```
/// use incident_metrics_core::buckets::{validate, HTTP_DURATION_SECONDS};
///
/// assert!(validate("http_request_duration_seconds", HTTP_DURATION_SECONDS).is_ok());
/// assert!(validate("x", &[1.0, 0.5]).is_err());
/// ```
pub fn validate(family: &str, bounds: &[f64]) -> Result<()> {
    let fail = |reason: String| {
        Err(Error::InvalidBuckets {
            family: family.to_owned(),
            reason,
        })
    };
    if bounds.is_empty() {
        return fail("give at least one finite upper bound; `+Inf` is added for you".into());
    }
    if bounds.len() > MAX_BUCKETS {
        return fail(format!(
            "{} buckets is more than the {MAX_BUCKETS} allowed; every bucket is a series",
            bounds.len()
        ));
    }
    if let Some((i, b)) = bounds.iter().enumerate().find(|(_, b)| !b.is_finite()) {
        return fail(format!(
            "bound {i} is {b}: bounds must be finite numbers (`+Inf` is added for you)"
        ));
    }
    if let Some(i) = bounds.windows(2).position(|w| w[0] >= w[1]) {
        return fail(format!(
            "bounds must be strictly increasing, but bound {} ({}) is not above bound {} ({})",
            i + 1,
            bounds[i + 1],
            i,
            bounds[i]
        ));
    }
    Ok(())
}

/// `count` bounds starting at `start`, each `factor` times the previous one.
///
/// # Errors
///
/// [`Error::InvalidBuckets`] when `start` is not positive and finite, `factor`
/// is not above 1, or the result would not be a valid layout.
///
/// # Examples
///
/// ```
/// let b = incident_metrics_core::buckets::exponential("x", 1.0, 2.0, 4)?;
/// assert_eq!(b, vec![1.0, 2.0, 4.0, 8.0]);
/// # Ok::<(), incident_metrics_core::Error>(())
/// ```
pub fn exponential(family: &str, start: f64, factor: f64, count: usize) -> Result<Vec<f64>> {
    if !(start.is_finite() && start > 0.0 && factor.is_finite() && factor > 1.0) {
        return Err(Error::InvalidBuckets {
            family: family.to_owned(),
            reason: format!(
                "exponential buckets need a positive start and a factor above 1, not start {start} and factor {factor}"
            ),
        });
    }
    let bounds: Vec<f64> = std::iter::successors(Some(start), |b| Some(b * factor))
        .take(count)
        .collect();
    validate(family, &bounds)?;
    Ok(bounds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid() {
        for (name, b) in [
            ("http", HTTP_DURATION_SECONDS),
            ("genai", GENAI_DURATION_SECONDS),
            ("tokens", GENAI_TOKENS),
            ("ttft", GENAI_TIME_TO_FIRST_TOKEN_SECONDS),
            ("tpot", GENAI_TIME_PER_OUTPUT_TOKEN_SECONDS),
            ("size", SIZE_BYTES),
            ("task", TASK_DURATION_SECONDS),
            ("storage", STORAGE_DURATION_SECONDS),
        ] {
            validate(name, b).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        assert_eq!(GENAI_DURATION_SECONDS.last(), Some(&81.92));
        assert_eq!(GENAI_TOKENS.last(), Some(&67_108_864.0));
        assert_eq!(HTTP_DURATION_SECONDS.first(), Some(&0.005));
        assert_eq!(HTTP_DURATION_SECONDS.last(), Some(&10.0));
    }

    #[test]
    fn rejects_bad_layouts() {
        let msg = |b: &[f64]| validate("fam", b).unwrap_err().to_string();
        assert!(msg(&[]).contains("at least one"));
        assert!(msg(&[1.0, f64::NAN]).contains("finite"));
        assert!(msg(&[1.0, f64::INFINITY]).contains("finite"));
        assert!(msg(&[2.0, 1.0]).contains("strictly increasing"));
        assert!(msg(&[1.0, 1.0]).contains("strictly increasing"));
        assert!(msg(&[0.0; 65]).contains("more than"));
        assert!(validate("fam", &[1.0]).is_ok());
        assert!(msg(&[2.0, 1.0]).starts_with("invalid buckets for `fam`"));
    }

    #[test]
    fn exponential_layouts() {
        assert_eq!(
            exponential("x", 0.01, 2.0, 14).map(|v| v.len()).ok(),
            Some(14)
        );
        assert!(exponential("x", 0.0, 2.0, 3).is_err());
        assert!(exponential("x", 1.0, 1.0, 3).is_err());
        assert!(exponential("x", 1.0, 2.0, 0).is_err());
    }
}
