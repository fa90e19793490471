//! Fuzzing the facade's [`Config`] with proptest (what CI runs; 512 cases
//! per property unless `PROPTEST_CASES` says otherwise): the whole file
//! (recording keys, `[server]`, `[push]`) and every `INCIDENT_METRICS_*`
//! variable, each handed to its part.
//!
//! Arbitrary strings and structured-but-wrong TOML documents given to
//! [`Config::from_toml_str`], and arbitrary variable maps given to
//! [`Config::with_env_vars`], never panic: each is `Ok` with a
//! configuration that validates, builds a registry and answers every
//! getter, or an `Err` whose message is not empty. A valid recording part
//! written as TOML, and as variables, reads back equal to the one built
//! with the setters.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use incident_metrics::{Config, ConfigError, MetricsConfig, Registry};
use incident_metrics_testing::{proptest_cases as cases, toml_document, toml_string};
use proptest::prelude::*;

/// A TOML float that reads back bit for bit (finite values).
fn toml_float(v: f64) -> String {
    format!("{v:?}")
}

/// Everything a loaded configuration answers must be answerable without a
/// panic, and it must be usable.
fn exercise(whole: &Config) {
    whole.validate().unwrap();
    let config = whole.metrics();
    let _ = (
        config.enabled(),
        config.namespace(),
        config.endpoint(),
        config.sample_rate(),
        config.excluded_paths(),
        config.global_labels(),
        config.bucket_overrides(),
        config.is_excluded("/metrics"),
    );
    if let Some(rw) = whole.push().remote_write() {
        let _ = (rw.interval(), rw.timeout(), rw.max_backoff(), rw.url());
        let _ = (rw.min_backoff(), rw.flush_timeout());
        let _ = (rw.queue_capacity(), rw.max_samples_per_request());
        let _ = (rw.external_labels(), rw.headers(), rw.tls());
    }
    if let Some(pg) = whole.push().pushgateway() {
        let _ = (pg.timeout(), pg.url(), pg.job(), pg.tls());
    }
    let server = whole.server();
    let _ = (server.listen_addr(), server.scrape_timeout(), server.tls());
    if let Some(auth) = server.auth() {
        auth.validate().unwrap();
    }
    Registry::new(config).unwrap();
}

fn check_outcome(outcome: Result<Config, ConfigError>) {
    match outcome {
        Ok(config) => exercise(&config),
        Err(e) => assert!(!e.to_string().trim().is_empty(), "empty message: {e:?}"),
    }
}

// ---------------------------------------------------------------------------
// Strategies for wrong documents.

/// A TOML value of any type, with hostile contents.
fn toml_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        any::<String>().prop_map(|s| toml_string(&s)),
        "[/a-z?# \t{}=,.]{0,12}".prop_map(|s| toml_string(&s)),
        any::<i64>().prop_map(|v| v.to_string()),
        Just("18446744073709551616".to_owned()),
        Just("-1".to_owned()),
        Just("0".to_owned()),
        any::<f64>().prop_map(|v| {
            if v.is_nan() {
                "nan".to_owned()
            } else if v.is_infinite() {
                if v > 0.0 { "inf" } else { "-inf" }.to_owned()
            } else {
                toml_float(v)
            }
        }),
        prop_oneof![
            Just("nan"),
            Just("+inf"),
            Just("-inf"),
            Just("-0.0"),
            Just("1e308"),
            Just("1e-320")
        ]
        .prop_map(str::to_owned),
        any::<bool>().prop_map(|b| b.to_string()),
        Just("1979-05-27T07:32:00Z".to_owned()),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec((toml_key(), inner), 0..3).prop_map(|kv| {
                let body: Vec<String> = kv.into_iter().map(|(k, v)| format!("{k} = {v}")).collect();
                format!("{{ {} }}", body.join(", "))
            }),
        ]
    })
}

/// Keys: the real ones (at every level) and some that are not.
fn toml_key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop_oneof![
            Just("enabled"),
            Just("namespace"),
            Just("endpoint"),
            Just("sample_rate"),
            Just("excluded_paths"),
            Just("global_labels"),
            Just("buckets"),
            Just("push"),
            Just("remote_write"),
            Just("pushgateway"),
            Just("url"),
            Just("job"),
            Just("interval_seconds"),
            Just("timeout_seconds"),
            Just("max_backoff_seconds"),
            Just("queue_capacity"),
            Just("max_samples_per_request"),
            Just("external_labels"),
            Just("headers"),
            Just("grouping"),
            Just("min_backoff_seconds"),
            Just("flush_timeout_seconds"),
            Just("server"),
            Just("listen_addr"),
            Just("max_concurrent_scrapes"),
            Just("scrape_timeout_ms"),
            Just("auth"),
            Just("bearer_token"),
            Just("username"),
            Just("password"),
            Just("tls"),
            Just("cert_file"),
            Just("key_file"),
            Just("ca_file"),
            Just("http_request_duration_seconds"),
        ]
        .prop_map(str::to_owned),
        "[a-z_]{1,10}",
        any::<String>().prop_map(|s| toml_string(&s)),
    ]
}

/// The tables a document may open.
fn toml_table() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(""),
        Just("[global_labels]"),
        Just("[buckets]"),
        Just("[push]"),
        Just("[push.remote_write]"),
        Just("[push.remote_write.external_labels]"),
        Just("[push.remote_write.headers]"),
        Just("[push.pushgateway]"),
        Just("[push.pushgateway.grouping]"),
        Just("[[push]]"),
        Just("[push.remote_write.tls]"),
        Just("[server]"),
        Just("[server.auth]"),
        Just("[server.tls]"),
        Just("[nope]"),
    ]
    .prop_map(str::to_owned)
}

/// A document of sections, each with a few `key = value` lines: TOML that
/// parses (mostly) but is wrong in its keys, types and values.
fn wrong_document() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            toml_table(),
            prop::collection::vec((toml_key(), toml_value()), 0..4),
        ),
        0..4,
    )
    .prop_map(toml_document)
}

/// `INCIDENT_METRICS_*` names, real and not.
fn env_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop_oneof![
            Just("ENABLED"),
            Just("NAMESPACE"),
            Just("ENDPOINT"),
            Just("SAMPLE_RATE"),
            Just("EXCLUDED_PATHS"),
            Just("GLOBAL_LABELS"),
            Just("BUCKETS_HTTP_REQUEST_DURATION_SECONDS"),
            Just("BUCKETS_"),
            Just("REMOTE_WRITE_URL"),
            Just("REMOTE_WRITE_INTERVAL_SECONDS"),
            Just("REMOTE_WRITE_TIMEOUT_SECONDS"),
            Just("REMOTE_WRITE_QUEUE_CAPACITY"),
            Just("REMOTE_WRITE_MAX_SAMPLES_PER_REQUEST"),
            Just("REMOTE_WRITE_EXTERNAL_LABELS"),
            Just("REMOTE_WRITE_MAX_BACKOFF_SECONDS"),
            Just("REMOTE_WRITE_HEADERS"),
            Just("REMOTE_WRITE_NOPE"),
            Just("PUSHGATEWAY_URL"),
            Just("PUSHGATEWAY_JOB"),
            Just("PUSHGATEWAY_GROUPING"),
            Just("PUSHGATEWAY_TIMEOUT_SECONDS"),
            Just("REMOTE_WRITE_MIN_BACKOFF_SECONDS"),
            Just("REMOTE_WRITE_FLUSH_TIMEOUT_SECONDS"),
            Just("REMOTE_WRITE_TLS_CA_FILE"),
            Just("SERVER_LISTEN_ADDR"),
            Just("SERVER_MAX_CONCURRENT_SCRAPES"),
            Just("SERVER_SCRAPE_TIMEOUT_MS"),
            Just("SERVER_TLS_CERT_FILE"),
            Just("BEARER_TOKEN"),
            Just("BASIC_AUTH_USERNAME"),
            Just("BASIC_AUTH_PASSWORD"),
        ]
        .prop_map(|s| format!("INCIDENT_METRICS_{s}")),
        "INCIDENT_METRICS_[A-Z_]{0,12}",
        any::<String>().prop_map(|s| format!("INCIDENT_METRICS_{s}")),
        any::<String>(),
    ]
}

fn env_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z0-9_=,/ .:-]{0,24}",
        prop_oneof![
            Just("NaN"),
            Just("inf"),
            Just("-inf"),
            Just("1e308"),
            Just("-1"),
            Just("0"),
            Just("1"),
            Just("0.5"),
            Just("true"),
            Just("http://127.0.0.1:9/x"),
            Just("18446744073709551616"),
            Just("a=b,c=d"),
            Just("=,=,"),
            Just("0.1,0.5,1"),
            Just("1,0.5"),
        ]
        .prop_map(str::to_owned),
    ]
}

// ---------------------------------------------------------------------------
// A valid configuration, for the round trips.

#[derive(Debug, Clone)]
struct Valid {
    enabled: bool,
    namespace: String,
    endpoint: String,
    sample_rate: f64,
    excluded_paths: Vec<String>,
    global_labels: BTreeMap<String, String>,
    buckets: BTreeMap<String, Vec<f64>>,
}

impl Valid {
    fn built(&self) -> MetricsConfig {
        let mut config = MetricsConfig::new()
            .with_enabled(self.enabled)
            .with_namespace(self.namespace.clone())
            .with_endpoint(self.endpoint.clone())
            .with_sample_rate(self.sample_rate)
            .with_excluded_paths(self.excluded_paths.clone());
        for (k, v) in &self.global_labels {
            config = config.with_global_label(k.clone(), v.clone());
        }
        for (family, bounds) in &self.buckets {
            config = config.with_buckets(family.clone(), bounds.clone());
        }
        config
    }

    fn toml(&self) -> String {
        let mut doc = format!(
            "enabled = {}\nnamespace = {}\nendpoint = {}\nsample_rate = {}\nexcluded_paths = [{}]\n",
            self.enabled,
            toml_string(&self.namespace),
            toml_string(&self.endpoint),
            toml_float(self.sample_rate),
            self.excluded_paths
                .iter()
                .map(|p| toml_string(p))
                .collect::<Vec<_>>()
                .join(", "),
        );
        doc.push_str("[global_labels]\n");
        for (k, v) in &self.global_labels {
            doc.push_str(&format!("{k} = {}\n", toml_string(v)));
        }
        doc.push_str("[buckets]\n");
        for (family, bounds) in &self.buckets {
            let bounds: Vec<String> = bounds.iter().map(|b| toml_float(*b)).collect();
            doc.push_str(&format!("{family} = [{}]\n", bounds.join(", ")));
        }
        doc
    }

    fn env(&self) -> Vec<(String, String)> {
        let mut vars = vec![
            (
                "INCIDENT_METRICS_ENABLED".to_owned(),
                self.enabled.to_string(),
            ),
            (
                "INCIDENT_METRICS_NAMESPACE".to_owned(),
                self.namespace.clone(),
            ),
            (
                "INCIDENT_METRICS_ENDPOINT".to_owned(),
                self.endpoint.clone(),
            ),
            (
                "INCIDENT_METRICS_SAMPLE_RATE".to_owned(),
                toml_float(self.sample_rate),
            ),
            (
                "INCIDENT_METRICS_EXCLUDED_PATHS".to_owned(),
                self.excluded_paths.join(","),
            ),
            (
                "INCIDENT_METRICS_GLOBAL_LABELS".to_owned(),
                self.global_labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        ];
        for (family, bounds) in &self.buckets {
            let bounds: Vec<String> = bounds.iter().map(|b| toml_float(*b)).collect();
            vars.push((
                format!("INCIDENT_METRICS_BUCKETS_{}", family.to_ascii_uppercase()),
                bounds.join(","),
            ));
        }
        vars
    }
}

fn valid() -> impl Strategy<Value = Valid> {
    // Env values are split on `,` and trimmed, and labels on `=`: the values
    // the variables can carry are kept to what survives that.
    let path = "/[a-zA-Z0-9_./%-]{0,12}";
    (
        any::<bool>(),
        prop_oneof![
            Just(String::new()),
            "[a-zA-Z_:][a-zA-Z0-9_:]{0,12}".prop_map(String::from)
        ],
        path,
        prop_oneof![0.0..=1.0f64, Just(0.0), Just(1.0)],
        prop::collection::vec(path, 0..4),
        prop::collection::btree_map(
            "[a-zA-Z][a-zA-Z0-9_]{0,8}",
            "[^,=\\s\\p{C}]([^,=\\p{C}]{0,10}[^,=\\s\\p{C}])?",
            0..4,
        ),
        prop::collection::btree_map(
            "[a-z_][a-z0-9_]{0,12}",
            prop::collection::vec(-1e6..1e6f64, 1..8),
            0..3,
        ),
    )
        .prop_map(
            |(
                enabled,
                namespace,
                endpoint,
                sample_rate,
                excluded_paths,
                global_labels,
                buckets,
            )| {
                let buckets = buckets
                    .into_iter()
                    .map(|(family, mut bounds): (String, Vec<f64>)| {
                        bounds.sort_by(f64::total_cmp);
                        bounds.dedup();
                        (family, bounds)
                    })
                    .collect();
                Valid {
                    enabled,
                    namespace,
                    endpoint,
                    sample_rate,
                    excluded_paths,
                    global_labels,
                    buckets,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_text_is_ok_or_an_error_with_a_message(text in prop_oneof![
        any::<String>(),
        "[a-z_\\[\\]=\"'{}., \n0-9#+-]{0,64}",
    ]) {
        check_outcome(Config::from_toml_str(&text));
    }

    #[test]
    fn wrong_documents_are_ok_or_an_error_with_a_message(doc in wrong_document()) {
        check_outcome(Config::from_toml_str(&doc));
    }

    #[test]
    fn arbitrary_env_maps_are_ok_or_an_error_with_a_message(
        vars in prop::collection::vec((env_name(), env_value()), 0..6),
    ) {
        check_outcome(Config::new().with_env_vars(vars.clone()));
        // Over a loaded configuration too.
        let base = Config::from_toml_str("[push.remote_write]\nurl = \"http://127.0.0.1:9/w\"\n[server.auth]\nbearer_token = \"t\"").unwrap();
        check_outcome(base.with_env_vars(vars));
    }

    #[test]
    fn a_valid_config_round_trips_through_toml_and_env(v in valid()) {
        let built = v.built();
        prop_assert!(built.validate().is_ok(), "{:?}: {:?}", v, built.validate());
        let doc = v.toml();
        let from_toml = Config::from_toml_str(&doc);
        prop_assert_eq!(from_toml.as_ref().ok().map(Config::metrics), Some(&built), "{}\n{:?}", doc, from_toml);
        let from_env = Config::new().with_env_vars(v.env());
        prop_assert_eq!(from_env.as_ref().ok().map(Config::metrics), Some(&built), "{:?}\n{:?}", v.env(), from_env);
    }
}
