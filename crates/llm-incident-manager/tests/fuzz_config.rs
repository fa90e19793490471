//! Fuzzing the service's configuration with proptest (512 cases per
//! property unless `PROPTEST_CASES` says otherwise): arbitrary text and
//! structured-but-wrong TOML documents given to `Config::from_toml_str`,
//! arbitrary command lines given to `Flags::parse`, and arbitrary LLM
//! environment values: never a panic; always `Ok` (with a configuration that
//! validates) or an `Err` with a message. A valid `[limits]` section reads
//! back exactly.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use incident_metrics_testing::{proptest_cases as cases, toml_document, toml_string};
use llm_incident_manager::config::{MAX_GRPC_MESSAGE_BYTES, MAX_HEADERS};
use llm_incident_manager::serve::Limits;
use llm_incident_manager::{Config, Flags};
use proptest::prelude::*;

fn check(outcome: Result<Config, llm_incident_manager::ConfigError>) -> bool {
    match outcome {
        Ok(config) => {
            config.validate().unwrap();
            true
        }
        Err(e) => {
            assert!(!e.to_string().trim().is_empty(), "empty message: {e:?}");
            false
        }
    }
}

fn toml_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        any::<String>().prop_map(|s| toml_string(&s)),
        prop_oneof![
            Just("127.0.0.1:0"),
            Just("[::1]:0"),
            Just("0.0.0.0:99999"),
            Just("http://127.0.0.1:9/x"),
            Just("https://x"),
            Just("log"),
            Just("webhook"),
            Just("critical"),
            Just("openai"),
            Just("offline"),
            Just("annotate"),
            Just("notify"),
            Just("wait"),
            Just("http"),
        ]
        .prop_map(toml_string),
        any::<i64>().prop_map(|v| v.to_string()),
        prop_oneof![
            Just("0"),
            Just("-1"),
            Just("1"),
            Just("8191"),
            Just("8192"),
            Just("18446744073709551615"),
            Just("nan"),
            Just("inf"),
            Just("-0.0"),
            Just("true"),
            Just("false"),
            Just("1979-05-27T07:32:00Z"),
        ]
        .prop_map(str::to_owned),
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

fn toml_key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop_oneof![
            Just("http_addr"),
            Just("grpc_addr"),
            Just("body_limit_bytes"),
            Just("shutdown_timeout_ms"),
            Just("header_read_timeout_ms"),
            Just("max_headers"),
            Just("max_header_bytes"),
            Just("body_read_timeout_ms"),
            Just("grpc_max_message_bytes"),
            Just("max_connections"),
            Just("endpoint"),
            Just("sample_rate"),
            Just("path"),
            Just("correlation_window_ms"),
            Just("max_correlated"),
            Just("enabled"),
            Just("check_interval_ms"),
            Just("delays_ms"),
            Just("severities"),
            Just("provider"),
            Just("base_url"),
            Just("model"),
            Just("api_key"),
            Just("stream"),
            Just("timeout_ms"),
            Just("queue_capacity"),
            Just("channels"),
            Just("url"),
            Just("max_attempts"),
            Just("name"),
            Just("steps"),
            Just("type"),
            Just("channel"),
            Just("message"),
            Just("note"),
            Just("ms"),
        ]
        .prop_map(str::to_owned),
        "[a-z_]{1,10}",
    ]
}

fn toml_table() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(""),
        Just("[limits]"),
        Just("[metrics]"),
        Just("[storage]"),
        Just("[incidents]"),
        Just("[incidents.escalation]"),
        Just("[llm]"),
        Just("[llm.prices.m]"),
        Just("[notifications]"),
        Just("[notifications.webhook]"),
        Just("[[playbooks]]"),
        Just("[nope]"),
    ]
    .prop_map(str::to_owned)
}

fn wrong_document() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            toml_table(),
            prop::collection::vec((toml_key(), toml_value()), 0..5),
        ),
        0..5,
    )
    .prop_map(toml_document)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_text_is_ok_or_an_error_with_a_message(text in prop_oneof![
        any::<String>(),
        "[a-z_\\[\\]=\"'{}., \n0-9#:+-]{0,64}",
    ]) {
        check(Config::from_toml_str(&text));
    }

    #[test]
    fn wrong_documents_are_ok_or_an_error_with_a_message(doc in wrong_document()) {
        check(Config::from_toml_str(&doc));
    }

    #[test]
    fn arbitrary_command_lines_parse_or_say_why(args in prop::collection::vec(
        prop_oneof![
            any::<String>(),
            prop_oneof![
                Just("--http-addr"), Just("--grpc-addr"), Just("--config"), Just("--db"),
                Just("--help"), Just("-V"), Just("--http-addr="), Just("127.0.0.1:0"), Just("="),
            ].prop_map(str::to_owned),
        ],
        0..5,
    )) {
        match Flags::parse(args) {
            Ok(flags) => {
                let mut config = Config::default();
                config.apply_flags(&flags);
                config.validate().unwrap();
            }
            Err(e) => prop_assert!(!e.to_string().trim().is_empty()),
        }
    }

    #[test]
    fn arbitrary_llm_environment_validates_or_says_why(
        vars in prop::collection::btree_map(
            prop_oneof![Just("LLM_API_KEY"), Just("OPENAI_API_KEY"), Just("LLM_BASE_URL"), Just("LLM_MODEL")],
            any::<String>(),
            0..4,
        ),
        openai in any::<bool>(),
    ) {
        let mut config = if openai {
            Config::from_toml_str("[llm]\nprovider = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"").unwrap()
        } else {
            Config::default()
        };
        config.apply_env(|k| vars.get(k).cloned());
        if let Err(e) = config.validate() {
            prop_assert!(!e.to_string().trim().is_empty());
        }
    }

    #[test]
    fn a_valid_limits_section_reads_back_exactly(
        header_read_timeout_ms in 1..u64::MAX,
        max_headers in 1..=MAX_HEADERS,
        max_header_bytes in 8192..usize::MAX,
        body_read_timeout_ms in 1..u64::MAX,
        grpc_max_message_bytes in 1..=MAX_GRPC_MESSAGE_BYTES,
    ) {
        // TOML integers are i64: larger values are refused by the parser.
        let header_read_timeout_ms = header_read_timeout_ms.min(i64::MAX as u64);
        let body_read_timeout_ms = body_read_timeout_ms.min(i64::MAX as u64);
        let max_header_bytes = max_header_bytes.min(i64::MAX as usize);
        let doc = format!(
            "[limits]\nheader_read_timeout_ms = {header_read_timeout_ms}\nmax_headers = {max_headers}\n\
             max_header_bytes = {max_header_bytes}\nbody_read_timeout_ms = {body_read_timeout_ms}\n\
             grpc_max_message_bytes = {grpc_max_message_bytes}\n"
        );
        let config = Config::from_toml_str(&doc).unwrap();
        let mut want = Limits::default();
        want.header_read_timeout_ms = header_read_timeout_ms;
        want.max_headers = max_headers;
        want.max_header_bytes = max_header_bytes;
        want.body_read_timeout_ms = body_read_timeout_ms;
        want.grpc_max_message_bytes = grpc_max_message_bytes;
        prop_assert_eq!(config.limits, want);
    }
}

#[test]
fn limits_out_of_range_are_refused_naming_the_key() {
    for (doc, key) in [
        (
            "[limits]\nheader_read_timeout_ms = 0",
            "limits.header_read_timeout_ms",
        ),
        (
            "[limits]\nbody_read_timeout_ms = 0",
            "limits.body_read_timeout_ms",
        ),
        ("[limits]\nmax_headers = 0", "limits.max_headers"),
        (
            "[limits]\nmax_header_bytes = 8191",
            "limits.max_header_bytes must be at least 8192",
        ),
        (
            "[limits]\ngrpc_max_message_bytes = 0",
            "limits.grpc_max_message_bytes",
        ),
        ("[limits]\nmax_headers = -1", "max_headers"),
        (
            "[limits]\nmax_headers = 10001",
            "limits.max_headers must be at most 10000",
        ),
        (
            "[limits]\ngrpc_max_message_bytes = 4294967296",
            "limits.grpc_max_message_bytes must be at most 4294967295",
        ),
        ("[limits]\nheader_timeout_ms = 5", "header_timeout_ms"),
    ] {
        let e = Config::from_toml_str(doc).unwrap_err().to_string();
        assert!(e.contains(key), "{doc}: {e}");
    }
    let defaults = Config::default().limits;
    assert_eq!(defaults.header_read_timeout_ms, 10_000);
    assert_eq!(defaults.max_headers, 100);
    assert_eq!(defaults.max_header_bytes, 32 * 1024);
    assert_eq!(defaults.body_read_timeout_ms, 10_000);
    assert_eq!(defaults.grpc_max_message_bytes, 1024 * 1024);
    // The example file states the defaults.
    let example = Config::from_toml_str(include_str!("../config.example.toml")).unwrap();
    assert_eq!(example.limits, defaults);
}
