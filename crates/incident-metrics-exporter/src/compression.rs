//! [`Compression`]: how a response body is encoded on the wire.

use std::io::Write;

use bytes::Bytes;
use flate2::write::GzEncoder;

use crate::{Error, Result};

/// The content coding of a response body.
///
/// Pick one from a scraper's `Accept-Encoding` header with
/// [`negotiate_encoding`](crate::negotiate_encoding).
///
/// # Examples
///
/// ```
/// use incident_metrics_exporter::Compression;
///
/// assert_eq!(Compression::Gzip.content_encoding(), Some("gzip"));
/// assert_eq!(Compression::Identity.content_encoding(), None);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Compression {
    /// The body as rendered.
    #[default]
    Identity,
    /// The body gzipped (RFC 1952), announced as `Content-Encoding: gzip`.
    Gzip,
}

impl Compression {
    /// The `Content-Encoding` header value, or `None` for the identity.
    pub const fn content_encoding(self) -> Option<&'static str> {
        match self {
            Self::Identity => None,
            Self::Gzip => Some("gzip"),
        }
    }

    /// Encodes `body` with this coding.
    pub(crate) fn apply(self, body: Vec<u8>) -> Result<Bytes> {
        match self {
            Self::Identity => Ok(Bytes::from(body)),
            Self::Gzip => gzip(&body).map(Bytes::from),
        }
    }
}

/// Gzips `data` at the default level. Writing to a `Vec` cannot fail, so an
/// error here means the compressor itself failed.
fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    // Exposition text usually shrinks to a fifth or less.
    let mut encoder = GzEncoder::new(
        Vec::with_capacity(data.len() / 4),
        flate2::Compression::default(),
    );
    encoder
        .write_all(data)
        .and_then(|()| encoder.finish())
        .map_err(|source| Error::Compress { source })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::io::Read;

    use super::*;

    fn gunzip(data: &[u8]) -> String {
        let mut text = String::new();
        flate2::read::GzDecoder::new(data)
            .read_to_string(&mut text)
            .unwrap();
        text
    }

    #[test]
    fn gzip_round_trips() {
        let text = "# HELP a_total A.\n# TYPE a_total counter\na_total 1\n".repeat(100);
        let compressed = Compression::Gzip.apply(text.clone().into_bytes()).unwrap();
        assert_eq!(&compressed[..2], &[0x1f, 0x8b], "gzip magic bytes");
        assert!(compressed.len() < text.len() / 4);
        assert_eq!(gunzip(&compressed), text);
    }

    #[test]
    fn empty_body_gzips_to_a_valid_stream() {
        let compressed = Compression::Gzip.apply(Vec::new()).unwrap();
        assert!(!compressed.is_empty());
        assert_eq!(gunzip(&compressed), "");
    }

    #[test]
    fn identity_keeps_the_bytes() {
        let body = Compression::Identity
            .apply("ü\n".to_owned().into_bytes())
            .unwrap();
        assert_eq!(&body[..], "ü\n".as_bytes());
    }
}
