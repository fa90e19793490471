//! [`Pushgateway`]: push, add and delete a registry's metrics on a
//! Prometheus Pushgateway.

use bytes::Bytes;
use http::header::{CONTENT_TYPE, USER_AGENT};
use http::{HeaderValue, Method, Request, Uri};
use http_body_util::Full;
use incident_metrics_core::Registry;

use super::client::{self, Failure, HttpClient, parse_http_uri};
use crate::{ClientTlsConfig, Error, Format, PushgatewayConfig, Result, render};

/// A grouping key on a Prometheus Pushgateway (`job` plus further labels)
/// and the three things to do with it, for batch jobs and short-lived
/// commands that end before anyone could scrape them:
///
/// - [`push`](Self::push) (`PUT`): replaces every metric of the group with
///   the registry's;
/// - [`add`](Self::add) (`POST`): replaces only the families the registry
///   holds, keeping the group's others;
/// - [`delete`](Self::delete) (`DELETE`): removes the group.
///
/// The body is Prometheus text 0.0.4. The grouping key is escaped as the
/// Pushgateway documents: a value holding `/`, and an empty value, go in the
/// `@base64` form (URL-safe base64, `=` for the empty value), anything else
/// percent-encoded. `http://` and `https://` (verified as the
/// [`PushgatewayConfig`]'s `tls` table says).
///
/// Its one builder is [`from_config`](Self::from_config): every setting
/// lives in [`PushgatewayConfig`] (the `[push.pushgateway]` table).
///
/// # Examples
///
/// A short-lived command pushing its results before it exits:
///
/// ```no_run
/// use incident_metrics_core::prometheus_client::metrics::gauge::Gauge;
/// use incident_metrics_core::{FamilySpec, MetricKind, MetricsConfig, Registry};
/// use incident_metrics_exporter::{Pushgateway, PushgatewayConfig};
///
/// const ROWS: FamilySpec = FamilySpec {
///     name: "backup_rows",
///     help: "Rows the last backup wrote",
///     kind: MetricKind::Gauge,
///     unit: None,
///     labels: &[],
/// };
///
/// #[tokio::main(flavor = "current_thread")]
/// async fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let mut registry = Registry::new(&MetricsConfig::new())?;
///     let rows = Gauge::<i64>::default();
///     registry.register(&ROWS, rows.clone())?;
///     rows.set(1234); // ... the job's work ...
///
///     let config = PushgatewayConfig::new("http://127.0.0.1:9091", "nightly_backup")
///         .with_grouping_label("instance", "db-1");
///     let gateway = Pushgateway::from_config(&config)?;
///     gateway.push(&registry).await?;
///     Ok(())
/// }
/// ```
#[derive(Clone, Debug)]
pub struct Pushgateway {
    config: PushgatewayConfig,
    uri: Uri,
    client: HttpClient,
}

impl Pushgateway {
    /// The group a [`PushgatewayConfig`] (the `[push.pushgateway]` table)
    /// describes, with its client.
    ///
    /// # Errors
    ///
    /// The errors of [`PushgatewayConfig::validate`] (bad URL, empty job,
    /// bad or repeated grouping label, bad timeout, incomplete `tls`);
    /// [`Error::TlsFile`] or [`Error::TlsConfig`] for TLS files
    /// (`[push.pushgateway.tls]`) that cannot be used.
    ///
    /// # Examples
    ///
    /// ```
    /// use incident_metrics_exporter::{Pushgateway, PushgatewayConfig};
    ///
    /// let config = PushgatewayConfig::new("http://pg:9091", "backup")
    ///     .with_grouping_label("path", "/var/lib")
    ///     .with_grouping_label("shard", "");
    /// let gateway = Pushgateway::from_config(&config)?;
    /// assert_eq!(
    ///     gateway.url(),
    ///     "http://pg:9091/metrics/job/backup/path@base64/L3Zhci9saWI/shard@base64/="
    /// );
    /// # Ok::<(), incident_metrics_exporter::Error>(())
    /// ```
    pub fn from_config(config: &PushgatewayConfig) -> Result<Self> {
        config.validate()?;
        let full = format!(
            "{}/metrics/{}",
            config.url().trim_end_matches('/'),
            grouping_path(config.job(), config.grouping())
        );
        let uri = parse_http_uri("push.pushgateway.url", &full)?;
        Ok(Self {
            config: config.clone(),
            uri,
            client: HttpClient::new(config.tls().unwrap_or(&ClientTlsConfig::new()))?,
        })
    }

    /// The settings it was built from.
    pub fn config(&self) -> &PushgatewayConfig {
        &self.config
    }

    /// The grouping key's URL.
    pub fn url(&self) -> String {
        self.uri.to_string()
    }

    /// Replaces every metric of the group with `registry`'s (`PUT`).
    ///
    /// # Errors
    ///
    /// [`Error::Render`] when the registry fails to render;
    /// [`Error::PushRequest`], [`Error::PushTimeout`] or
    /// [`Error::PushRejected`] when the Pushgateway cannot be reached, does
    /// not answer in time, or refuses the metrics (for example when they
    /// clash with another group's).
    pub async fn push(&self, registry: &Registry) -> Result<()> {
        let body = render(registry, Format::Prometheus)?;
        self.send(Method::PUT, Some(body)).await
    }

    /// Replaces the group's metrics of the families `registry` holds,
    /// keeping its others (`POST`).
    ///
    /// # Errors
    ///
    /// As [`push`](Self::push).
    pub async fn add(&self, registry: &Registry) -> Result<()> {
        let body = render(registry, Format::Prometheus)?;
        self.send(Method::POST, Some(body)).await
    }

    /// Removes the group and all its metrics (`DELETE`).
    ///
    /// # Errors
    ///
    /// As [`push`](Self::push), rendering aside.
    pub async fn delete(&self) -> Result<()> {
        self.send(Method::DELETE, None).await
    }

    async fn send(&self, method: Method, body: Option<String>) -> Result<()> {
        let method_name = match method {
            Method::PUT => "PUT",
            Method::POST => "POST",
            _ => "DELETE",
        };
        let has_body = body.is_some();
        let mut request = Request::new(Full::new(Bytes::from(body.unwrap_or_default())));
        *request.method_mut() = method;
        *request.uri_mut() = self.uri.clone();
        let headers = request.headers_mut();
        if has_body {
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static(Format::Prometheus.content_type()),
            );
        }
        headers.insert(USER_AGENT, HeaderValue::from_static(client::USER_AGENT));
        let timeout = self.config.timeout();
        match self.client.send(request, timeout).await {
            Ok(answer) if answer.status.is_success() => Ok(()),
            Ok(answer) => Err(Error::PushRejected {
                method: method_name,
                url: self.url(),
                status: answer.status.as_u16(),
                body: answer.body.trim().to_owned(),
            }),
            Err(Failure::Timeout) => Err(Error::PushTimeout {
                method: method_name,
                url: self.url(),
                timeout,
            }),
            Err(Failure::Transport(source)) => Err(Error::PushRequest {
                method: method_name,
                url: self.url(),
                source,
            }),
        }
    }
}

/// The grouping key as a URL path, after `/metrics/`: `job/<job>` then
/// `<name>/<value>` per label, as client_golang writes it.
pub(crate) fn grouping_path(job: &str, grouping: &[(String, String)]) -> String {
    let mut path = String::new();
    for (name, value) in std::iter::once(("job", job)).chain(
        grouping
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str())),
    ) {
        if !path.is_empty() {
            path.push('/');
        }
        path.push_str(name);
        if value.is_empty() {
            // The Pushgateway's documented form of an empty value.
            path.push_str("@base64/=");
        } else if value.contains('/') {
            path.push_str("@base64/");
            path.push_str(&base64_url(value.as_bytes()));
        } else {
            path.push('/');
            percent_encode(value, &mut path);
        }
    }
    path
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(value: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in value.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

/// RFC 4648 URL-safe base64 without padding (Go's `RawURLEncoding`).
fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            let index = (n >> (18 - 6 * i)) & 0x3f;
            out.push(char::from(ALPHABET[index as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn base64_matches_rfc_4648_url_safe_without_padding() {
        // RFC 4648 section 10 vectors, padding removed.
        for (input, expected) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_url(input.as_bytes()), expected, "{input}");
        }
        // The URL-safe alphabet: `-` and `_` instead of `+` and `/`.
        assert_eq!(base64_url(&[0xfb, 0xff]), "-_8");
        // The Pushgateway README's example.
        assert_eq!(base64_url(b"/var/tmp"), "L3Zhci90bXA");
    }

    #[test]
    fn grouping_keys_escape_as_the_pushgateway_documents() {
        assert_eq!(grouping_path("backup", &[]), "job/backup");
        assert_eq!(
            grouping_path("a/b", &pairs(&[("instance", "x")])),
            "job@base64/YS9i/instance/x"
        );
        assert_eq!(
            grouping_path("j", &pairs(&[("path", "/var/tmp"), ("empty", "")])),
            "job/j/path@base64/L3Zhci90bXA/empty@base64/="
        );
        assert_eq!(
            grouping_path("j", &pairs(&[("v", "a b?c#d%e&f=g+ü~._-")])),
            "job/j/v/a%20b%3Fc%23d%25e%26f%3Dg%2B%C3%BC~._-"
        );
    }

    #[test]
    fn builds_and_checks_the_url() {
        let build = |c: PushgatewayConfig| Pushgateway::from_config(&c);
        let base = PushgatewayConfig::new("http://pg:9091/prefix/", "j");
        let g = build(base.clone()).unwrap();
        assert_eq!(g.url(), "http://pg:9091/prefix/metrics/job/j");
        assert_eq!(g.config(), &base);
        assert!(build(PushgatewayConfig::new("https://pg:9091", "j")).is_ok());
        let e = build(PushgatewayConfig::new("http://pg:9091", "")).unwrap_err();
        assert!(matches!(e, Error::InvalidJob { .. }), "{e}");
        let e = build(PushgatewayConfig::new("pg:9091", "j")).unwrap_err();
        assert!(matches!(e, Error::InvalidUrl { .. }), "{e}");
        let e = build(base.clone().with_grouping_label("job", "x")).unwrap_err();
        assert!(matches!(e, Error::InvalidLabelName { .. }), "{e}");
        let e = build(base.clone().with_grouping_label("a-b", "x")).unwrap_err();
        assert!(matches!(e, Error::Core(_)), "{e}");
        let e = build(base.with_timeout_seconds(0.0)).unwrap_err();
        assert!(matches!(e, Error::InvalidDuration { .. }), "{e}");
    }
}
