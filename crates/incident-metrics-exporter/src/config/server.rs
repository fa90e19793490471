//! [`ServerConfig`]: how the metrics endpoint is protected and where it
//! listens (the `[server]` table of the toolkit's file, `[metrics.server]`
//! in the reference service's file), and [`AuthConfig`]: who may scrape.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ServerTlsConfig, apply_env, process_env};
use crate::{Error, Result};

/// At most this many scrapes render at once unless configured otherwise.
pub const DEFAULT_MAX_CONCURRENT_SCRAPES: usize = 4;

/// The largest `max_concurrent_scrapes` accepted.
pub const MAX_CONCURRENT_SCRAPES_LIMIT: usize = 1024;

/// A scrape may render for this many milliseconds unless configured
/// otherwise (Prometheus's own default `scrape_timeout` is 10 s).
pub const DEFAULT_SCRAPE_TIMEOUT_MS: u64 = 10_000;

/// The longest `scrape_timeout_ms` accepted (10 minutes).
pub const MAX_SCRAPE_TIMEOUT_MS: u64 = 600_000;

/// The suffixes (after `INCIDENT_METRICS_`) of the variables that set
/// [`ServerConfig`].
const SERVER_ENV: &[&str] = &[
    "SERVER_LISTEN_ADDR",
    "SERVER_MAX_CONCURRENT_SCRAPES",
    "SERVER_SCRAPE_TIMEOUT_MS",
    "SERVER_TLS_CERT_FILE",
    "SERVER_TLS_KEY_FILE",
    "SERVER_TLS_CLIENT_CA_FILE",
    "SERVER_TLS_RELOAD_CHECK_INTERVAL_MS",
    "BEARER_TOKEN",
    "BEARER_TOKEN_FILE",
    "BASIC_AUTH_USERNAME",
    "BASIC_AUTH_PASSWORD",
    "BASIC_AUTH_PASSWORD_FILE",
];

/// A secret string (a token or a password): compared and used, never shown.
/// Its `Debug` form is `Secret("<redacted>")`.
///
/// # Examples
///
/// ```
/// use incident_metrics_exporter::Secret;
///
/// let token = Secret::new("s3cr3t");
/// assert_eq!(token.expose(), "s3cr3t");
/// assert_eq!(format!("{token:?}"), r#"Secret("<redacted>")"#);
/// ```
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the code that checks credentials.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(\"<redacted>\")")
    }
}

/// How the metrics endpoint is served: an optional listener of its own,
/// optional authentication and TLS, a bound on concurrent scrapes and a
/// scrape timeout. This is the `[server]` table of the toolkit's file
/// (`[metrics.server]` in the reference service's file), and the one
/// builder of a [`Protection`](crate::Protection)
/// ([`Protection::from_config`](crate::Protection::from_config)).
///
/// | key | variable (after `INCIDENT_METRICS_`) | default | meaning |
/// |---|---|---|---|
/// | `listen_addr` | `SERVER_LISTEN_ADDR` | none | serve the endpoint on this address alone (not on the API port) |
/// | `max_concurrent_scrapes` | `SERVER_MAX_CONCURRENT_SCRAPES` | 4 | scrapes rendering at once; more are answered `503` at once |
/// | `scrape_timeout_ms` | `SERVER_SCRAPE_TIMEOUT_MS` | 10000 | a render taking longer is answered `503` |
/// | `auth` | `BEARER_TOKEN*`, `BASIC_AUTH_*` | none | `[server.auth]`: a bearer token or a basic-auth user, see [`AuthConfig`] |
/// | `tls` | `SERVER_TLS_*` | none | `[server.tls]`: the listener's TLS, see [`ServerTlsConfig`] |
///
/// The variables win over the file ([`with_env_vars`](Self::with_env_vars)).
///
/// # Examples
///
/// ```
/// use incident_metrics_exporter::ServerConfig;
///
/// let server: ServerConfig = toml::from_str(r#"
///     listen_addr = "127.0.0.1:9464"
///     max_concurrent_scrapes = 2
///     [auth]
///     bearer_token_file = "/run/secrets/metrics_token"
/// "#)?;
/// assert_eq!(server.listen_addr(), Some("127.0.0.1:9464".parse()?));
/// assert_eq!(server.max_concurrent_scrapes(), 2);
/// assert_eq!(server.scrape_timeout_ms(), 10_000);
/// assert!(server.auth().is_some());
/// server.validate()?;
///
/// let bad = ServerConfig::new().with_max_concurrent_scrapes(0);
/// assert!(bad.validate().unwrap_err().to_string().contains("server.max_concurrent_scrapes"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ServerConfig {
    listen_addr: Option<SocketAddr>,
    max_concurrent_scrapes: usize,
    scrape_timeout_ms: u64,
    auth: Option<AuthConfig>,
    tls: Option<ServerTlsConfig>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen_addr: None,
            max_concurrent_scrapes: DEFAULT_MAX_CONCURRENT_SCRAPES,
            scrape_timeout_ms: DEFAULT_SCRAPE_TIMEOUT_MS,
            auth: None,
            tls: None,
        }
    }
}

impl ServerConfig {
    /// The defaults: no listener of its own, no authentication, 4 concurrent
    /// scrapes, a 10 s scrape timeout.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves the endpoint on `addr` alone (`None`: on the service's own
    /// port, the default).
    #[must_use]
    pub fn with_listen_addr(mut self, addr: Option<SocketAddr>) -> Self {
        self.listen_addr = addr;
        self
    }

    /// Sets how many scrapes may render at once.
    #[must_use]
    pub fn with_max_concurrent_scrapes(mut self, scrapes: usize) -> Self {
        self.max_concurrent_scrapes = scrapes;
        self
    }

    /// Sets how long one scrape may render, in milliseconds.
    #[must_use]
    pub fn with_scrape_timeout_ms(mut self, ms: u64) -> Self {
        self.scrape_timeout_ms = ms;
        self
    }

    /// Sets (or, with `None`, removes) the authentication.
    #[must_use]
    pub fn with_auth(mut self, auth: Option<AuthConfig>) -> Self {
        self.auth = auth;
        self
    }

    /// The address of the endpoint's own listener, if one is configured.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.listen_addr
    }

    /// How many scrapes may render at once.
    pub fn max_concurrent_scrapes(&self) -> usize {
        self.max_concurrent_scrapes
    }

    /// How long one scrape may render, in milliseconds.
    pub fn scrape_timeout_ms(&self) -> u64 {
        self.scrape_timeout_ms
    }

    /// [`scrape_timeout_ms`](Self::scrape_timeout_ms) as a duration.
    pub fn scrape_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.scrape_timeout_ms)
    }

    /// The authentication, if configured.
    pub fn auth(&self) -> Option<&AuthConfig> {
        self.auth.as_ref()
    }

    /// Serves the endpoint's own listener over TLS (the `[server.tls]`
    /// table); `None` serves plain HTTP.
    #[must_use]
    pub fn with_tls(mut self, tls: Option<ServerTlsConfig>) -> Self {
        self.tls = tls;
        self
    }

    /// The TLS of the endpoint's own listener, if configured.
    pub fn tls(&self) -> Option<&ServerTlsConfig> {
        self.tls.as_ref()
    }

    /// Checks every field.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidServer`] naming the field: a limit of zero or past
    /// its maximum, or an error of [`AuthConfig::validate`];
    /// [`Error::InvalidTls`] for an incomplete `[server.tls]`.
    pub fn validate(&self) -> Result<()> {
        if let Some(tls) = &self.tls {
            tls.validate("server.tls")?;
        }
        if !(1..=MAX_CONCURRENT_SCRAPES_LIMIT).contains(&self.max_concurrent_scrapes) {
            return Err(Error::InvalidServer {
                field: "server.max_concurrent_scrapes",
                reason: format!(
                    "{} is out of range; use a whole number from 1 to {MAX_CONCURRENT_SCRAPES_LIMIT} \
                     (the default is {DEFAULT_MAX_CONCURRENT_SCRAPES})",
                    self.max_concurrent_scrapes
                ),
            });
        }
        if !(1..=MAX_SCRAPE_TIMEOUT_MS).contains(&self.scrape_timeout_ms) {
            return Err(Error::InvalidServer {
                field: "server.scrape_timeout_ms",
                reason: format!(
                    "{} is out of range; use milliseconds from 1 to {MAX_SCRAPE_TIMEOUT_MS} \
                     (the default is {DEFAULT_SCRAPE_TIMEOUT_MS})",
                    self.scrape_timeout_ms
                ),
            });
        }
        match &self.auth {
            Some(auth) => auth.validate(),
            None => Ok(()),
        }
    }

    /// The process's `INCIDENT_METRICS_*` variables of the server (see the
    /// table above) applied over this configuration, validated; the other
    /// variables are left to the parts that read them.
    ///
    /// # Errors
    ///
    /// As [`with_env_vars`](Self::with_env_vars).
    pub fn with_env(self) -> Result<Self> {
        self.with_env_vars(process_env())
    }

    /// The server's variables among `vars` (see the table above) applied
    /// over this configuration, validated. Variables that are not the
    /// server's ([`reads_env`](Self::reads_env) is false) are ignored. An
    /// authentication variable of one kind (bearer or basic) drops the
    /// other kind given in the file, so that the environment wins.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidEnv`] naming a variable whose value cannot be used,
    /// and the errors of [`validate`](Self::validate).
    ///
    /// # Examples
    ///
    /// ```
    /// use incident_metrics_exporter::ServerConfig;
    ///
    /// let server = ServerConfig::new().with_env_vars([
    ///     ("INCIDENT_METRICS_SERVER_MAX_CONCURRENT_SCRAPES", "2"),
    ///     ("INCIDENT_METRICS_BEARER_TOKEN", "s3cr3t"),
    ///     ("INCIDENT_METRICS_SAMPLE_RATE", "0.5"), // not the server's: ignored
    /// ])?;
    /// assert_eq!(server.max_concurrent_scrapes(), 2);
    /// assert!(server.auth().is_some());
    /// # Ok::<(), incident_metrics_exporter::Error>(())
    /// ```
    pub fn with_env_vars<I, K, V>(mut self, vars: I) -> Result<Self>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        apply_env(vars, |name, value| {
            Self::is_own_env(name).then(|| self.set_env(name, value))
        })?;
        self.validate()?;
        Ok(self)
    }

    /// Whether the variable `var` (with its `INCIDENT_METRICS_` prefix) is
    /// one the server reads.
    pub fn reads_env(var: &str) -> bool {
        var.strip_prefix(incident_metrics_core::ENV_PREFIX)
            .is_some_and(Self::is_own_env)
    }

    /// The server's variables, without the prefix, for messages.
    pub fn env_names() -> &'static [&'static str] {
        SERVER_ENV
    }

    fn is_own_env(name: &str) -> bool {
        SERVER_ENV.contains(&name)
    }

    /// Applies one variable of [`SERVER_ENV`] (`name` without the prefix);
    /// the error says what is wrong with `value`.
    fn set_env(&mut self, name: &str, value: &str) -> std::result::Result<(), String> {
        if let Some(key) = name.strip_prefix("SERVER_TLS_") {
            return self
                .tls
                .get_or_insert_with(|| ServerTlsConfig::new("", ""))
                .set_env(key, value);
        }
        match name {
            "SERVER_LISTEN_ADDR" => {
                let value = value.trim();
                self.listen_addr = if value.is_empty() {
                    None
                } else {
                    Some(value.parse().map_err(|e| {
                        format!("not a socket address ({e}); use one such as 127.0.0.1:9464")
                    })?)
                };
            }
            "SERVER_MAX_CONCURRENT_SCRAPES" => {
                self.max_concurrent_scrapes = value
                    .trim()
                    .parse()
                    .map_err(|e| format!("not a whole number ({e})"))?;
            }
            "SERVER_SCRAPE_TIMEOUT_MS" => {
                self.scrape_timeout_ms = value
                    .trim()
                    .parse()
                    .map_err(|e| format!("not a whole number of milliseconds ({e})"))?;
            }
            _ => {
                let auth = self.auth.get_or_insert_with(AuthConfig::default);
                let bearer = name.starts_with("BEARER_");
                if bearer {
                    auth.username = None;
                    auth.password = None;
                    auth.password_file = None;
                } else {
                    auth.bearer_token = None;
                    auth.bearer_token_file = None;
                }
                match name {
                    "BEARER_TOKEN" => auth.bearer_token = Some(Secret::new(value.trim())),
                    "BEARER_TOKEN_FILE" => auth.bearer_token_file = Some(value.trim().into()),
                    "BASIC_AUTH_USERNAME" => auth.username = Some(value.trim().to_owned()),
                    "BASIC_AUTH_PASSWORD" => auth.password = Some(Secret::new(value)),
                    "BASIC_AUTH_PASSWORD_FILE" => auth.password_file = Some(value.trim().into()),
                    _ => {
                        return Err(format!(
                            "unknown variable; the known ones of the metrics server are {}",
                            SERVER_ENV.join(", ")
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Who may scrape (the `[server.auth]` table): a bearer token, or an HTTP
/// basic-auth user name and password. Each secret can come from the file
/// itself, from a file of its own (`*_file`, so that the secret stays out of
/// the configuration; one trailing newline is dropped), or from an
/// environment variable:
///
/// | key | variable |
/// |---|---|
/// | `bearer_token` | `INCIDENT_METRICS_BEARER_TOKEN` |
/// | `bearer_token_file` | `INCIDENT_METRICS_BEARER_TOKEN_FILE` |
/// | `username` | `INCIDENT_METRICS_BASIC_AUTH_USERNAME` |
/// | `password` | `INCIDENT_METRICS_BASIC_AUTH_PASSWORD` |
/// | `password_file` | `INCIDENT_METRICS_BASIC_AUTH_PASSWORD_FILE` |
///
/// Give one kind only. Secrets are redacted in the `Debug` form.
///
/// # Examples
///
/// ```
/// use incident_metrics_exporter::{AuthConfig, Credentials};
///
/// let auth = AuthConfig::basic("prometheus", "s3cr3t");
/// auth.validate()?;
/// let Credentials::Basic { username, password } = auth.credentials()? else {
///     unreachable!("basic auth was configured");
/// };
/// assert_eq!((username.as_str(), password.expose()), ("prometheus", "s3cr3t"));
/// assert!(!format!("{auth:?}").contains("s3cr3t"));
///
/// let both = AuthConfig::bearer("t").with_basic("u", "p");
/// assert!(both.validate().unwrap_err().to_string().contains("not both"));
/// # Ok::<(), incident_metrics_exporter::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct AuthConfig {
    bearer_token: Option<Secret>,
    bearer_token_file: Option<PathBuf>,
    username: Option<String>,
    password: Option<Secret>,
    password_file: Option<PathBuf>,
}

/// The credentials a scrape must present, once read from wherever they
/// were configured ([`AuthConfig::credentials`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credentials {
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// The token.
        token: Secret,
    },
    /// `Authorization: Basic <base64 of username:password>`.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: Secret,
    },
}

impl AuthConfig {
    /// Bearer-token authentication with `token`.
    pub fn bearer(token: impl Into<String>) -> Self {
        Self {
            bearer_token: Some(Secret::new(token)),
            ..Self::default()
        }
    }

    /// Bearer-token authentication with the token read from `path` when
    /// [`credentials`](Self::credentials) is called.
    pub fn bearer_file(path: impl Into<PathBuf>) -> Self {
        Self {
            bearer_token_file: Some(path.into()),
            ..Self::default()
        }
    }

    /// Basic authentication with `username` and `password`.
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self::default().with_basic(username, password)
    }

    /// Adds basic-authentication credentials (with bearer ones, the
    /// configuration is invalid: give one kind).
    #[must_use]
    pub fn with_basic(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self.password = Some(Secret::new(password));
        self
    }

    /// Basic authentication with the password read from `path` when
    /// [`credentials`](Self::credentials) is called.
    pub fn basic_file(username: impl Into<String>, password_file: impl Into<PathBuf>) -> Self {
        Self {
            username: Some(username.into()),
            password_file: Some(password_file.into()),
            ..Self::default()
        }
    }

    /// Checks that exactly one kind of credentials is given, each secret
    /// from one source, and none empty. Files are not read here.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidServer`] naming the field and what to change.
    pub fn validate(&self) -> Result<()> {
        let invalid = |field, reason: &str| {
            Err(Error::InvalidServer {
                field,
                reason: reason.to_owned(),
            })
        };
        let bearer = self.bearer_token.is_some() || self.bearer_token_file.is_some();
        let basic =
            self.username.is_some() || self.password.is_some() || self.password_file.is_some();
        match (bearer, basic) {
            (true, true) => invalid(
                "server.auth",
                "give a bearer token or a basic-auth username and password, not both",
            ),
            (false, false) => invalid(
                "server.auth",
                "the table is empty; set `bearer_token` (or `bearer_token_file`), or `username` \
                 and `password` (or `password_file`), or remove the table to serve without auth",
            ),
            (true, false) => match (&self.bearer_token, &self.bearer_token_file) {
                (Some(_), Some(_)) => invalid(
                    "server.auth.bearer_token",
                    "give `bearer_token` or `bearer_token_file`, not both",
                ),
                (Some(token), None) if token.expose().is_empty() => invalid(
                    "server.auth.bearer_token",
                    "the token is empty; use a long random string (such as 32 random bytes, \
                     hex-encoded)",
                ),
                (None, Some(path)) if path.as_os_str().is_empty() => invalid(
                    "server.auth.bearer_token_file",
                    "the path is empty; name the file holding the token",
                ),
                _ => Ok(()),
            },
            (false, true) => {
                match self.username.as_deref() {
                    None | Some("") => {
                        return invalid(
                            "server.auth.username",
                            "basic auth needs a non-empty user name, such as \"prometheus\"",
                        );
                    }
                    Some(name) if name.contains(':') => {
                        return invalid(
                            "server.auth.username",
                            "a basic-auth user name cannot contain `:`; pick another name",
                        );
                    }
                    Some(_) => {}
                }
                match (&self.password, &self.password_file) {
                    (Some(_), Some(_)) => invalid(
                        "server.auth.password",
                        "give `password` or `password_file`, not both",
                    ),
                    (None, None) => invalid(
                        "server.auth.password",
                        "basic auth needs `password` or `password_file`",
                    ),
                    (Some(password), None) if password.expose().is_empty() => invalid(
                        "server.auth.password",
                        "the password is empty; use a long random string",
                    ),
                    (None, Some(path)) if path.as_os_str().is_empty() => invalid(
                        "server.auth.password_file",
                        "the path is empty; name the file holding the password",
                    ),
                    _ => Ok(()),
                }
            }
        }
    }

    /// The credentials, with secrets read from their files.
    ///
    /// # Errors
    ///
    /// The errors of [`validate`](Self::validate); [`Error::SecretRead`]
    /// when a secret file cannot be read; [`Error::InvalidServer`] when it
    /// holds nothing.
    pub fn credentials(&self) -> Result<Credentials> {
        self.validate()?;
        if let Some(token) = &self.bearer_token {
            return Ok(Credentials::Bearer {
                token: token.clone(),
            });
        }
        if let Some(path) = &self.bearer_token_file {
            return Ok(Credentials::Bearer {
                token: read_secret("server.auth.bearer_token_file", path)?,
            });
        }
        let username = self.username.clone().unwrap_or_default();
        let password = match (&self.password, &self.password_file) {
            (Some(password), _) => password.clone(),
            (None, Some(path)) => read_secret("server.auth.password_file", path)?,
            (None, None) => Secret::new(""), // refused by `validate`
        };
        Ok(Credentials::Basic { username, password })
    }
}

/// Reads a secret file, dropping one trailing newline (`\n` or `\r\n`).
fn read_secret(field: &'static str, path: &Path) -> Result<Secret> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::SecretRead {
        field,
        path: path.to_owned(),
        source,
    })?;
    let secret = text
        .strip_suffix('\n')
        .map(|s| s.strip_suffix('\r').unwrap_or(s))
        .unwrap_or(&text);
    if secret.is_empty() {
        return Err(Error::InvalidServer {
            field,
            reason: format!(
                "the file {} is empty; write the secret into it",
                path.display()
            ),
        });
    }
    Ok(Secret::new(secret))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn parse(text: &str) -> Result<ServerConfig> {
        let server: ServerConfig = toml::from_str(text).map_err(|e| Error::InvalidServer {
            field: "server",
            reason: e.to_string(),
        })?;
        server.validate()?;
        Ok(server)
    }

    fn error(result: Result<impl fmt::Debug>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn defaults_are_documented_values() {
        let server = ServerConfig::default();
        assert_eq!(server, ServerConfig::new());
        assert_eq!(server.listen_addr(), None);
        assert_eq!(server.max_concurrent_scrapes(), 4);
        assert_eq!(server.scrape_timeout_ms(), 10_000);
        assert_eq!(server.auth(), None);
        server.validate().unwrap();
    }

    #[test]
    fn toml_reads_every_key() {
        let server = parse(
            r#"
            listen_addr = "[::1]:9464"
            max_concurrent_scrapes = 8
            scrape_timeout_ms = 2500
            [auth]
            username = "prometheus"
            password = "pw"
            [tls]
            cert_file = "c.pem"
            key_file = "k.pem"
            "#,
        )
        .unwrap();
        assert_eq!(server.tls(), Some(&ServerTlsConfig::new("c.pem", "k.pem")));
        assert_eq!(server.listen_addr(), Some("[::1]:9464".parse().unwrap()));
        assert_eq!(server.max_concurrent_scrapes(), 8);
        assert_eq!(server.scrape_timeout().as_millis(), 2500);
        assert_eq!(
            server.auth().unwrap().credentials().unwrap(),
            Credentials::Basic {
                username: "prometheus".into(),
                password: Secret::new("pw")
            }
        );
    }

    #[test]
    fn bad_values_are_refused_with_the_field_named() {
        for (toml, needle) in [
            (
                "max_concurrent_scrapes = 0",
                "server.max_concurrent_scrapes",
            ),
            ("max_concurrent_scrapes = 5000", "from 1 to 1024"),
            ("scrape_timeout_ms = 0", "server.scrape_timeout_ms"),
            ("listen_addr = \"nope\"", "listen_addr"),
            ("[auth]\nbearer_token = \"\"", "the token is empty"),
            ("[auth]", "the table is empty"),
            (
                "[auth]\nbearer_token = \"t\"\nusername = \"u\"\npassword = \"p\"",
                "not both",
            ),
            (
                "[auth]\nbearer_token = \"t\"\nbearer_token_file = \"/f\"",
                "`bearer_token` or `bearer_token_file`, not both",
            ),
            ("[auth]\npassword = \"p\"", "server.auth.username"),
            (
                "[auth]\nusername = \"a:b\"\npassword = \"p\"",
                "cannot contain `:`",
            ),
            (
                "[auth]\nusername = \"u\"",
                "needs `password` or `password_file`",
            ),
            (
                "[auth]\nusername = \"u\"\npassword = \"\"",
                "the password is empty",
            ),
            ("[auth]\ntoken = \"t\"", "unknown field"),
        ] {
            let message = error(parse(toml));
            assert!(message.contains(needle), "{toml:?} gave {message:?}");
        }
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let config = ServerConfig::new().with_auth(Some(
            AuthConfig::bearer("tok-123").with_basic("u", "pw-456"),
        ));
        let debug = format!("{config:?}");
        assert!(!debug.contains("tok-123"), "{debug}");
        assert!(!debug.contains("pw-456"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
        let credentials = Credentials::Bearer {
            token: Secret::new("tok-123"),
        };
        assert!(!format!("{credentials:?}").contains("tok-123"));
    }

    #[test]
    fn environment_sets_the_server_and_wins_over_the_file() {
        let file = parse("[auth]\nusername = \"u\"\npassword = \"p\"").unwrap();
        let config = file
            .with_env_vars([
                ("INCIDENT_METRICS_SERVER_LISTEN_ADDR", "127.0.0.1:9464"),
                ("INCIDENT_METRICS_SERVER_MAX_CONCURRENT_SCRAPES", "2"),
                ("INCIDENT_METRICS_SERVER_SCRAPE_TIMEOUT_MS", "500"),
                ("INCIDENT_METRICS_BEARER_TOKEN", "from-env"),
            ])
            .unwrap();
        let server = &config;
        assert_eq!(
            server.listen_addr(),
            Some("127.0.0.1:9464".parse().unwrap())
        );
        assert_eq!(server.max_concurrent_scrapes(), 2);
        assert_eq!(server.scrape_timeout_ms(), 500);
        assert_eq!(
            server.auth().unwrap().credentials().unwrap(),
            Credentials::Bearer {
                token: Secret::new("from-env")
            }
        );

        let basic = ServerConfig::new()
            .with_env_vars([
                ("INCIDENT_METRICS_BASIC_AUTH_USERNAME", "prom"),
                ("INCIDENT_METRICS_BASIC_AUTH_PASSWORD", "pw"),
            ])
            .unwrap();
        assert_eq!(
            basic.auth().unwrap().credentials().unwrap(),
            Credentials::Basic {
                username: "prom".into(),
                password: Secret::new("pw")
            }
        );

        let message =
            error(ServerConfig::new().with_env_vars([("INCIDENT_METRICS_BEARER_TOKEN", "")]));
        assert!(message.contains("the token is empty"), "{message}");
        let message = error(
            ServerConfig::new()
                .with_env_vars([("INCIDENT_METRICS_SERVER_MAX_CONCURRENT_SCRAPES", "many")]),
        );
        assert!(message.contains("not a whole number"), "{message}");
        let message = error(
            ServerConfig::new().with_env_vars([("INCIDENT_METRICS_SERVER_LISTEN_ADDR", "x:y")]),
        );
        assert!(message.contains("not a socket address"), "{message}");
    }

    #[test]
    fn environment_sets_the_listener_tls() {
        let server = ServerConfig::new()
            .with_env_vars([
                ("INCIDENT_METRICS_SERVER_TLS_CERT_FILE", "c.pem"),
                ("INCIDENT_METRICS_SERVER_TLS_KEY_FILE", "k.pem"),
                ("INCIDENT_METRICS_SERVER_TLS_CLIENT_CA_FILE", "ca.pem"),
                (
                    "INCIDENT_METRICS_SERVER_TLS_RELOAD_CHECK_INTERVAL_MS",
                    "250",
                ),
            ])
            .unwrap();
        let tls = server.tls().unwrap();
        assert_eq!(
            tls,
            &ServerTlsConfig::new("c.pem", "k.pem")
                .with_client_ca_file("ca.pem")
                .with_reload_check_interval(std::time::Duration::from_millis(250))
        );
        let message = error(
            ServerConfig::new().with_env_vars([("INCIDENT_METRICS_SERVER_TLS_CERT_FILE", "c.pem")]),
        );
        assert!(
            message.contains("server.tls") && message.contains("go together"),
            "{message}"
        );
        assert!(ServerConfig::reads_env(
            "INCIDENT_METRICS_SERVER_TLS_KEY_FILE"
        ));
        assert!(ServerConfig::reads_env("INCIDENT_METRICS_BEARER_TOKEN"));
        assert!(!ServerConfig::reads_env("INCIDENT_METRICS_SAMPLE_RATE"));
        assert!(!ServerConfig::reads_env("SERVER_LISTEN_ADDR"));
    }

    #[test]
    fn secret_files_are_read_without_their_trailing_newline() {
        let dir = std::env::temp_dir().join(format!("im-endpoint-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let token = dir.join("token");
        std::fs::write(&token, "abc\r\n").unwrap();
        assert_eq!(
            AuthConfig::bearer_file(&token).credentials().unwrap(),
            Credentials::Bearer {
                token: Secret::new("abc")
            }
        );
        let password = dir.join("password");
        std::fs::write(&password, "pw with spaces \n").unwrap();
        assert_eq!(
            AuthConfig::basic_file("u", &password)
                .credentials()
                .unwrap(),
            Credentials::Basic {
                username: "u".into(),
                password: Secret::new("pw with spaces ")
            }
        );
        let empty = dir.join("empty");
        std::fs::write(&empty, "\n").unwrap();
        assert!(error(AuthConfig::bearer_file(&empty).credentials()).contains("is empty"));
        let missing = dir.join("missing");
        let message = error(AuthConfig::bearer_file(&missing).credentials());
        assert!(
            message.contains("server.auth.bearer_token_file") && message.contains("missing"),
            "{message}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
