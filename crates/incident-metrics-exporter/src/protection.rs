//! [`Protection`]: authentication, a bound on concurrent scrapes and a
//! scrape timeout in front of the render, shared by
//! [`metrics_router_with`](crate::metrics_router_with) and
//! [`MetricsServer::with_protection`](crate::MetricsServer::with_protection).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http::header::{AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use incident_metrics_core::Registry;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use tokio::sync::Semaphore;

use crate::response::{join_error_response, render_job, text_response};
use crate::{Credentials, Result, ServerConfig};

/// The `Retry-After` of a `503`, in seconds.
const RETRY_AFTER_SECONDS: &str = "1";

/// The realm named in `WWW-Authenticate`.
const REALM: &str = "metrics";

/// What stands between a scrape and the render: optional authentication
/// (a bearer token or HTTP basic auth, compared in constant time), a bound
/// on the scrapes rendering at once, and a scrape timeout. One component
/// for every way of serving, in the manner of client_golang's
/// `HandlerOpts` (`MaxRequestsInFlight`, `Timeout`) and the exporter
/// toolkit's web config.
///
/// [`serve`](Self::serve) answers one scrape, in this order:
///
/// 1. with auth configured, a request without an `Authorization` header, or
///    with wrong credentials, or a malformed one, gets `401 Unauthorized`
///    with `WWW-Authenticate: Bearer realm="metrics"` (or
///    `Basic realm="metrics", charset="UTF-8"`); the answer never says which
///    part was wrong. Secrets are kept only as SHA-256 digests and the
///    digests are compared with [`subtle`], so the comparison takes the same
///    time whatever the input and its length;
/// 2. when [`max_concurrent_scrapes`](Self::max_concurrent_scrapes) renders
///    are running, `503 Service Unavailable` with `Retry-After: 1` at once,
///    without rendering;
/// 3. otherwise the registry is rendered on tokio's blocking pool; past
///    [`scrape_timeout`](Self::scrape_timeout) the answer is `503` with a
///    body saying so. The render cannot be stopped, so it keeps its slot
///    until it really finishes: renders stuck on a blocked collector cannot
///    pile up past the bound.
///
/// Clones share their slots, so one `Protection` cloned into several
/// routers or servers bounds their scrapes together.
///
/// It is built from a [`ServerConfig`] (the `[server]` table), the one
/// place its settings live: [`from_config`](Self::from_config). The
/// defaults ([`new`](Self::new)) are those of [`ServerConfig::new`]: no
/// authentication, 4 concurrent scrapes, a 10 s timeout. `Debug` shows the
/// kind of authentication and the user name, never a secret.
///
/// # Examples
///
/// ```
/// use incident_metrics_exporter::{AuthConfig, Protection, ServerConfig};
///
/// let config = ServerConfig::new()
///     .with_auth(Some(AuthConfig::bearer("0123456789abcdef")))
///     .with_max_concurrent_scrapes(2)
///     .with_scrape_timeout_ms(5_000);
/// let protection = Protection::from_config(&config)?;
/// assert_eq!(protection.max_concurrent_scrapes(), 2);
/// assert_eq!(protection.scrape_timeout().as_secs(), 5);
/// assert!(protection.requires_auth());
/// assert!(!format!("{protection:?}").contains("0123456789abcdef"));
///
/// // An empty token is refused, not accepted silently.
/// let empty = ServerConfig::new().with_auth(Some(AuthConfig::bearer("")));
/// assert!(Protection::from_config(&empty).is_err());
/// # Ok::<(), incident_metrics_exporter::Error>(())
/// ```
#[derive(Clone)]
pub struct Protection {
    auth: Option<Auth>,
    slots: Arc<Semaphore>,
    max_concurrent_scrapes: usize,
    scrape_timeout: Duration,
}

/// The configured credentials, as digests.
#[derive(Clone)]
enum Auth {
    Bearer {
        token: [u8; 32],
    },
    Basic {
        username: String,
        username_digest: [u8; 32],
        password: [u8; 32],
    },
}

impl Default for Protection {
    fn default() -> Self {
        Self::new()
    }
}

impl Protection {
    /// No authentication, at most
    /// [`DEFAULT_MAX_CONCURRENT_SCRAPES`](crate::DEFAULT_MAX_CONCURRENT_SCRAPES)
    /// (4) scrapes at once, a timeout of
    /// [`DEFAULT_SCRAPE_TIMEOUT_MS`](crate::DEFAULT_SCRAPE_TIMEOUT_MS)
    /// (10 s): the protection of [`ServerConfig::new`].
    pub fn new() -> Self {
        let defaults = ServerConfig::new();
        Self::with_limits(
            None,
            defaults.max_concurrent_scrapes(),
            defaults.scrape_timeout(),
        )
    }

    fn with_limits(auth: Option<Auth>, slots: usize, scrape_timeout: Duration) -> Self {
        Self {
            auth,
            slots: Arc::new(Semaphore::new(slots)),
            max_concurrent_scrapes: slots,
            scrape_timeout,
        }
    }

    /// The protection a [`ServerConfig`] describes (the `[server]` table),
    /// with its secret files read now. Each call has slots of its own;
    /// clone the result to share them.
    ///
    /// # Errors
    ///
    /// The errors of [`ServerConfig::validate`] (a limit out of range, an
    /// incomplete `[server.auth]`), and [`Error::SecretRead`](crate::Error::SecretRead) or
    /// [`Error::InvalidServer`](crate::Error::InvalidServer) when a secret file cannot be read or is
    /// empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use incident_metrics_exporter::{AuthConfig, Protection, ServerConfig};
    ///
    /// let config = ServerConfig::new()
    ///     .with_max_concurrent_scrapes(8)
    ///     .with_auth(Some(AuthConfig::basic("prometheus", "s3cr3t")));
    /// let protection = Protection::from_config(&config)?;
    /// assert_eq!(protection.max_concurrent_scrapes(), 8);
    /// assert!(protection.requires_auth());
    /// # Ok::<(), incident_metrics_exporter::Error>(())
    /// ```
    pub fn from_config(config: &ServerConfig) -> Result<Self> {
        config.validate()?;
        let auth = config
            .auth()
            .map(|auth| auth.credentials().map(Auth::from))
            .transpose()?;
        Ok(Self::with_limits(
            auth,
            config.max_concurrent_scrapes(),
            config.scrape_timeout(),
        ))
    }

    /// How many scrapes may render at once.
    pub fn max_concurrent_scrapes(&self) -> usize {
        self.max_concurrent_scrapes
    }

    /// How long a render may take before the scrape is answered `503`.
    pub fn scrape_timeout(&self) -> Duration {
        self.scrape_timeout
    }

    /// How many renders hold a slot now, timed-out ones still running
    /// included.
    pub fn scrapes_in_flight(&self) -> usize {
        self.max_concurrent_scrapes
            .saturating_sub(self.slots.available_permits())
    }

    /// Whether scrapes must authenticate.
    pub fn requires_auth(&self) -> bool {
        self.auth.is_some()
    }

    /// Whether the request's headers carry the configured credentials
    /// (always, without authentication). A missing, repeated or malformed
    /// `Authorization` header is refused; nothing here panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use http::HeaderMap;
    /// use incident_metrics_exporter::{AuthConfig, Protection, ServerConfig};
    ///
    /// let config = ServerConfig::new().with_auth(Some(AuthConfig::basic("prometheus", "s3cr3t")));
    /// let protection = Protection::from_config(&config)?;
    /// let mut headers = HeaderMap::new();
    /// assert!(!protection.is_authorized(&headers));
    /// // base64("prometheus:s3cr3t")
    /// headers.insert("authorization", "Basic cHJvbWV0aGV1czpzM2NyM3Q=".parse().unwrap());
    /// assert!(protection.is_authorized(&headers));
    /// headers.insert("authorization", "Basic !!not base64!!".parse().unwrap());
    /// assert!(!protection.is_authorized(&headers));
    /// # Ok::<(), incident_metrics_exporter::Error>(())
    /// ```
    pub fn is_authorized(&self, headers: &HeaderMap) -> bool {
        let Some(auth) = &self.auth else {
            return true;
        };
        let mut values = headers.get_all(AUTHORIZATION).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return false;
        };
        match auth {
            Auth::Bearer { token } => match parameter(value, "Bearer") {
                Some(presented) => bool::from(digest(presented).ct_eq(token)),
                None => false,
            },
            Auth::Basic {
                username_digest,
                password,
                ..
            } => {
                let Some(decoded) = parameter(value, "Basic").and_then(|p| BASE64.decode(p).ok())
                else {
                    return false;
                };
                let Some(colon) = decoded.iter().position(|b| *b == b':') else {
                    return false;
                };
                let (user, pass) = (&decoded[..colon], &decoded[colon + 1..]);
                // Both compared, whatever the first gave: the time says nothing
                // about which part was wrong.
                bool::from(digest(user).ct_eq(username_digest) & digest(pass).ct_eq(password))
            }
        }
    }

    /// Answers one scrape of `registry` whose request carried `headers`:
    /// `401`, `503`, or the registry rendered as
    /// [`encode_response`](crate::encode_response) does (see the type's
    /// docs for the order). Use it to protect a `/metrics` route of your own
    /// HTTP stack.
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime with time enabled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// use http::HeaderMap;
    /// use incident_metrics_core::{MetricsConfig, Registry};
    /// use incident_metrics_exporter::{AuthConfig, Protection, ServerConfig};
    ///
    /// # let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build()?;
    /// # runtime.block_on(async {
    /// let registry = Arc::new(Registry::new(&MetricsConfig::new())?);
    /// let config = ServerConfig::new().with_auth(Some(AuthConfig::bearer("t0ken")));
    /// let protection = Protection::from_config(&config)?;
    ///
    /// let mut headers = HeaderMap::new();
    /// let denied = protection.serve(Arc::clone(&registry), &headers).await;
    /// assert_eq!(denied.status(), 401);
    /// assert_eq!(denied.headers()["www-authenticate"], "Bearer realm=\"metrics\"");
    ///
    /// headers.insert("authorization", "Bearer t0ken".parse()?);
    /// let scrape = protection.serve(registry, &headers).await;
    /// assert_eq!(scrape.status(), 200);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn serve(&self, registry: Arc<Registry>, headers: &HeaderMap) -> Response<Bytes> {
        if !self.is_authorized(headers) {
            return self.unauthorized();
        }
        let Ok(slot) = Arc::clone(&self.slots).try_acquire_owned() else {
            return unavailable(format!(
                "too many concurrent scrapes: {} are rendering already; retry shortly, or raise \
                 `max_concurrent_scrapes`\n",
                self.max_concurrent_scrapes
            ));
        };
        let job = render_job(registry, headers);
        // The slot moves into the render and is released when it returns,
        // whether or not the scrape is still waiting for it.
        let render = tokio::task::spawn_blocking(move || {
            let response = job();
            drop(slot);
            response
        });
        match tokio::time::timeout(self.scrape_timeout, render).await {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => join_error_response(&error),
            Err(_elapsed) => unavailable(format!(
                "scrape timed out: rendering the registry took longer than the scrape timeout \
                 of {} ms, so a collector may be blocked; the render keeps its slot until it \
                 finishes. Fix the slow collector, or raise `scrape_timeout_ms`\n",
                self.scrape_timeout.as_millis()
            )),
        }
    }

    fn unauthorized(&self) -> Response<Bytes> {
        let (message, challenge) = match &self.auth {
            Some(Auth::Basic { .. }) => (
                "unauthorized: scrape with HTTP basic auth as the configured user\n",
                format!("Basic realm=\"{REALM}\", charset=\"UTF-8\""),
            ),
            _ => (
                "unauthorized: scrape with `Authorization: Bearer <token>` holding the configured \
                 token\n",
                format!("Bearer realm=\"{REALM}\""),
            ),
        };
        let mut response = text_response(StatusCode::UNAUTHORIZED, message.to_owned());
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response.headers_mut().insert(WWW_AUTHENTICATE, value);
        }
        response
    }
}

impl fmt::Debug for Protection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = match &self.auth {
            None => "none".to_owned(),
            Some(Auth::Bearer { .. }) => "bearer token <redacted>".to_owned(),
            Some(Auth::Basic { username, .. }) => {
                format!("basic as {username}, password <redacted>")
            }
        };
        f.debug_struct("Protection")
            .field("auth", &auth)
            .field("max_concurrent_scrapes", &self.max_concurrent_scrapes)
            .field("scrape_timeout", &self.scrape_timeout)
            .field("scrapes_in_flight", &self.scrapes_in_flight())
            .finish()
    }
}

impl From<Credentials> for Auth {
    fn from(credentials: Credentials) -> Self {
        match credentials {
            Credentials::Basic { username, password } => Self::Basic {
                username_digest: digest(username.as_bytes()),
                username,
                password: digest(password.expose().as_bytes()),
            },
            Credentials::Bearer { token } => Self::Bearer {
                token: digest(token.expose().as_bytes()),
            },
        }
    }
}

/// The parameter of an `Authorization` value of `scheme` (compared without
/// regard to case, as RFC 9110 says), trimmed.
fn parameter<'a>(value: &'a HeaderValue, scheme: &str) -> Option<&'a [u8]> {
    let bytes = value.as_bytes();
    let space = bytes.iter().position(|b| *b == b' ')?;
    let (name, rest) = bytes.split_at(space);
    name.eq_ignore_ascii_case(scheme.as_bytes())
        .then(|| rest.trim_ascii())
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn unavailable(message: String) -> Response<Bytes> {
    let mut response = text_response(StatusCode::SERVICE_UNAVAILABLE, message);
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
    response
}
