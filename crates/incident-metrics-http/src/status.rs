//! [`CommonStatus`]: the statuses most responses carry, each with a
//! pre-resolved counter per (route, method), found by array index
//! ([`ByLabel`](incident_metrics_core::ByLabel)) instead of a `Family`
//! lookup.

use incident_metrics_catalog::http::HttpStatus;
use incident_metrics_core::label_enum;

label_enum! {
    /// A status with a pre-resolved counter per (route, method); any other
    /// goes through the family (a hashed lookup), which is rare by
    /// definition.
    pub(crate) enum CommonStatus {
        /// `200`.
        S200 => "200",
        /// `201`.
        S201 => "201",
        /// `202`.
        S202 => "202",
        /// `204`.
        S204 => "204",
        /// `206`.
        S206 => "206",
        /// `301`.
        S301 => "301",
        /// `302`.
        S302 => "302",
        /// `303`.
        S303 => "303",
        /// `304`.
        S304 => "304",
        /// `307`.
        S307 => "307",
        /// `308`.
        S308 => "308",
        /// `400`.
        S400 => "400",
        /// `401`.
        S401 => "401",
        /// `403`.
        S403 => "403",
        /// `404`.
        S404 => "404",
        /// `405`.
        S405 => "405",
        /// `406`.
        S406 => "406",
        /// `408`.
        S408 => "408",
        /// `409`.
        S409 => "409",
        /// `410`.
        S410 => "410",
        /// `411`.
        S411 => "411",
        /// `412`.
        S412 => "412",
        /// `413`.
        S413 => "413",
        /// `414`.
        S414 => "414",
        /// `415`.
        S415 => "415",
        /// `416`.
        S416 => "416",
        /// `422`.
        S422 => "422",
        /// `429`.
        S429 => "429",
        /// `431`.
        S431 => "431",
        /// `500`.
        S500 => "500",
        /// `501`.
        S501 => "501",
        /// `502`.
        S502 => "502",
        /// `503`.
        S503 => "503",
        /// `504`.
        S504 => "504",
        /// The request was dropped before any response.
        Cancelled => "cancelled",
    }
}

impl CommonStatus {
    /// The common status of `status`, if it is one.
    #[inline]
    pub(crate) fn of(status: HttpStatus) -> Option<Self> {
        match status {
            HttpStatus::Code(code) => Self::of_code(code),
            HttpStatus::Cancelled => Some(Self::Cancelled),
            // `HttpStatus` may grow: new values take the family path.
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    #[inline]
    fn of_code(code: u16) -> Option<Self> {
        // A `match` on integers compiles to a jump table or a short search.
        Some(match code {
            200 => CommonStatus::S200,
            201 => CommonStatus::S201,
            202 => CommonStatus::S202,
            204 => CommonStatus::S204,
            206 => CommonStatus::S206,
            301 => CommonStatus::S301,
            302 => CommonStatus::S302,
            303 => CommonStatus::S303,
            304 => CommonStatus::S304,
            307 => CommonStatus::S307,
            308 => CommonStatus::S308,
            400 => CommonStatus::S400,
            401 => CommonStatus::S401,
            403 => CommonStatus::S403,
            404 => CommonStatus::S404,
            405 => CommonStatus::S405,
            406 => CommonStatus::S406,
            408 => CommonStatus::S408,
            409 => CommonStatus::S409,
            410 => CommonStatus::S410,
            411 => CommonStatus::S411,
            412 => CommonStatus::S412,
            413 => CommonStatus::S413,
            414 => CommonStatus::S414,
            415 => CommonStatus::S415,
            416 => CommonStatus::S416,
            422 => CommonStatus::S422,
            429 => CommonStatus::S429,
            431 => CommonStatus::S431,
            500 => CommonStatus::S500,
            501 => CommonStatus::S501,
            502 => CommonStatus::S502,
            503 => CommonStatus::S503,
            504 => CommonStatus::S504,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use incident_metrics_core::LabelEnum;

    #[test]
    fn each_common_status_is_found_by_its_code() {
        for status in CommonStatus::ALL {
            let parsed = match status.as_str() {
                "cancelled" => HttpStatus::Cancelled,
                code => HttpStatus::code(code.parse().unwrap()),
            };
            assert_eq!(CommonStatus::of(parsed), Some(*status), "{status:?}");
        }
        for rare in [100, 203, 418, 451, 599, 999] {
            assert_eq!(CommonStatus::of(HttpStatus::code(rare)), None, "{rare}");
        }
    }
}
