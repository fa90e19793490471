//! Dense slots for the statuses most responses carry, so that counting one
//! is an array index instead of a `Family` lookup.

use incident_metrics_catalog::http::HttpStatus;

/// The codes that get a pre-resolved counter per route and method; any other
/// code goes through the family (a hashed lookup), which is rare by definition.
pub(crate) const COMMON_CODES: [u16; 34] = [
    200, 201, 202, 204, 206, 301, 302, 303, 304, 307, 308, 400, 401, 403, 404, 405, 406, 408, 409,
    410, 411, 412, 413, 414, 415, 416, 422, 429, 431, 500, 501, 502, 503, 504,
];

/// The slot of `cancelled`, after the common codes.
const CANCELLED_SLOT: usize = COMMON_CODES.len();

/// The number of slots.
pub(crate) const SLOTS: usize = COMMON_CODES.len() + 1;

/// The slot of `status`, if it has one.
#[inline]
pub(crate) fn slot(status: HttpStatus) -> Option<usize> {
    match status {
        HttpStatus::Code(code) => code_slot(code),
        HttpStatus::Cancelled => Some(CANCELLED_SLOT),
        // `HttpStatus` may grow: new values take the family path.
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

#[inline]
fn code_slot(code: u16) -> Option<usize> {
    // A `match` on integers compiles to a jump table or a short search.
    let slot = match code {
        200 => 0,
        201 => 1,
        202 => 2,
        204 => 3,
        206 => 4,
        301 => 5,
        302 => 6,
        303 => 7,
        304 => 8,
        307 => 9,
        308 => 10,
        400 => 11,
        401 => 12,
        403 => 13,
        404 => 14,
        405 => 15,
        406 => 16,
        408 => 17,
        409 => 18,
        410 => 19,
        411 => 20,
        412 => 21,
        413 => 22,
        414 => 23,
        415 => 24,
        416 => 25,
        422 => 26,
        429 => 27,
        431 => 28,
        500 => 29,
        501 => 30,
        502 => 31,
        503 => 32,
        504 => 33,
        _ => return None,
    };
    Some(slot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_dense_and_match_the_table() {
        for (i, code) in COMMON_CODES.iter().enumerate() {
            assert_eq!(slot(HttpStatus::code(*code)), Some(i), "{code}");
        }
        assert_eq!(slot(HttpStatus::Cancelled), Some(SLOTS - 1));
        for rare in [100, 203, 418, 451, 599, 999] {
            assert_eq!(slot(HttpStatus::code(rare)), None, "{rare}");
        }
    }
}
