//! Test support for the incident-metrics workspace: the outside programs the
//! tests use to judge our output (promtool, Python's OpenMetrics parser),
//! found or reported in one place, and the small helpers the tests that
//! start those programs share (a free port, a scratch directory, a
//! percent-encoded query). [`exposition`] is the one exposition parser of
//! the tests and of `loadgen`.
//!
//! A test that needs a program calls [`program`]. When the program is
//! missing, the test fails under CI (`CI=true`), with the command that
//! installs it, and otherwise prints a notice and skips: a developer without
//! Prometheus installed can still run the suite, and CI can never pass by
//! skipping.
//!
//! # Examples
//!
//! ```
//! // Returns false (and prints why) only outside CI when promtool is missing.
//! let checked = incident_metrics_testing::promtool_check_metrics(
//!     "# HELP up Whether the target is up.\n# TYPE up gauge\nup 1\n",
//! );
//! # let _ = checked;
//! ```
#![allow(clippy::panic, clippy::expect_used)] // test support: failing loudly is the job

pub mod exposition;
#[cfg(feature = "tls")]
pub mod tls;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0,
/// read, released), for a program that takes its port on the command line.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// A fresh, empty directory under the system's temporary directory, named
/// after `what`, this process and a per-process counter (so that tests
/// running in parallel never share one). The caller removes it.
pub fn scratch_dir(what: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "incident-metrics-{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}

/// `value` percent-encoded for a URL's query string: every byte but the
/// unreserved ones of RFC 3986 (`A-Z a-z 0-9 - . _ ~`) as `%XX`.
///
/// ```
/// assert_eq!(
///     incident_metrics_testing::percent_encode("rate(x[5m]) > 0"),
///     "rate%28x%5B5m%5D%29%20%3E%200"
/// );
/// ```
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether the tests run under CI, where a missing program is a failure.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| matches!(v.trim(), "true" | "1" | "yes"))
}

/// The path of the program `name` on `PATH`.
///
/// # Panics
///
/// Under CI when the program is missing, with `install` (the command that
/// installs it) in the message. Outside CI it prints a notice and returns
/// `None` so that the caller can skip.
pub fn program(name: &str, install: &str) -> Option<PathBuf> {
    program_in(name, install, under_ci())
}

/// [`program`] with the CI decision made by the caller.
///
/// # Panics
///
/// When `ci` is true and the program is missing.
pub fn program_in(name: &str, install: &str, ci: bool) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        missing(&format!("{name} not found on PATH"), install, ci);
    }
    found
}

fn missing(what: &str, install: &str, ci: bool) {
    if ci {
        panic!("{what}: install it with `{install}` (CI=true, so this test may not skip)");
    }
    eprintln!("note: skipping a check because {what}; install it with `{install}`");
}

/// Runs `promtool check metrics` on `text` (Prometheus text format 0.0.4,
/// the only format promtool reads) and fails the test on any problem it
/// reports, lint warnings included.
///
/// Returns `true` when the check ran, `false` when it was skipped.
///
/// # Panics
///
/// When promtool reports a problem, or as [`program`].
pub fn promtool_check_metrics(text: &str) -> bool {
    let Some(promtool) = program("promtool", "apt-get install -y prometheus") else {
        return false;
    };
    let output = run_with_stdin(Command::new(promtool).args(["check", "metrics"]), text);
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && report.trim().is_empty(),
        "promtool check metrics failed ({}):\n{report}\n--- exposition ---\n{text}",
        output.status
    );
    true
}

/// What Python's `prometheus_client` OpenMetrics parser read.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
pub struct ParsedExposition {
    /// Every family, in order, with or without samples.
    pub families: Vec<ParsedFamily>,
    /// Every sample, in order.
    pub samples: Vec<ParsedSample>,
}

/// One family as the parser read it.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
pub struct ParsedFamily {
    /// The family's name (OpenMetrics form: counters without `_total`).
    pub name: String,
    /// The family's type as the parser understood it.
    pub kind: String,
    /// The family's unit (`""` when none).
    pub unit: String,
    /// The family's help text.
    pub help: String,
}

/// One sample as the parser read it.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
pub struct ParsedSample {
    /// The name of the family it belongs to.
    pub family: String,
    /// The sample's name (with `_total`, `_bucket`, ...).
    pub name: String,
    /// The sample's labels.
    pub labels: BTreeMap<String, String>,
    /// The sample's value.
    pub value: f64,
    /// The sample's exemplar, if it carries one.
    #[serde(default)]
    pub exemplar: Option<ParsedExemplar>,
}

/// An exemplar as the parser read it.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
pub struct ParsedExemplar {
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
    /// Its timestamp in seconds since the epoch, if it has one.
    pub timestamp: Option<f64>,
}

const PARSE_OPENMETRICS: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
text = sys.stdin.buffer.read().decode("utf-8")
families, samples = [], []
for fam in text_string_to_metric_families(text):
    families.append({"name": fam.name, "kind": fam.type, "unit": fam.unit,
                     "help": fam.documentation})
    for s in fam.samples:
        e = s.exemplar
        exemplar = None if e is None else {
            "labels": dict(e.labels), "value": float(e.value),
            "timestamp": None if e.timestamp is None else float(e.timestamp)}
        samples.append({"family": fam.name, "name": s.name,
                        "labels": dict(s.labels), "value": float(s.value),
                        "exemplar": exemplar})
json.dump({"families": families, "samples": samples}, sys.stdout)
"#;

/// Parses `text` with the OpenMetrics parser of Python's `prometheus_client`
/// (strict: it rejects anything that breaks OpenMetrics 1.0) and returns
/// what it read, or `None` when skipped.
///
/// # Panics
///
/// When the parser rejects the text, or as [`program`] when `python3` or the
/// module is missing.
pub fn parse_openmetrics(text: &str) -> Option<ParsedExposition> {
    let install = "python3 -m pip install prometheus_client";
    let python = program("python3", "apt-get install -y python3")?;
    let probe = Command::new(&python)
        .args(["-c", "import prometheus_client.openmetrics.parser"])
        .output()
        .expect("python3 runs");
    if !probe.status.success() {
        missing(
            "the python3 module prometheus_client is not installed",
            install,
            under_ci(),
        );
        return None;
    }
    let output = run_with_stdin(Command::new(python).args(["-c", PARSE_OPENMETRICS]), text);
    assert!(
        output.status.success(),
        "the OpenMetrics parser rejected the exposition:\n{}\n--- exposition ---\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(serde_json::from_slice(&output.stdout).expect("the parser's JSON is valid"))
}

fn run_with_stdin(command: &mut Command, input: &str) -> std::process::Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the program starts");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = input.as_bytes().to_vec();
    // Write from another thread so that a large input cannot deadlock
    // against a full stdout pipe.
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().expect("the program runs");
    writer
        .join()
        .expect("the writer thread does not panic")
        .expect("the program reads its input");
    output
}

/// How many cases each proptest property runs: `PROPTEST_CASES` when it
/// holds a number, else 512 (enough to mean something, a second or two per
/// property in a debug build).
pub fn proptest_cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512)
}

/// A TOML basic string (`"..."`) that reads back as exactly `s`: quotes and
/// backslashes escaped, control characters as `\uXXXX`.
///
/// ```
/// assert_eq!(incident_metrics_testing::toml_string("a\"b\n"), r#""a\"b\u000A""#);
/// ```
pub fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A TOML document from `(table header, [(key, value)])` sections, each
/// header (`""` for none) on its own line followed by its `key = value`
/// lines, values written as given: how the config fuzz suites assemble
/// documents that parse but are wrong in their keys, types and values.
///
/// ```
/// let doc = incident_metrics_testing::toml_document(vec![
///     (String::new(), vec![("a".into(), "1".into())]),
///     ("[t]".into(), vec![("b".into(), "\"x\"".into())]),
/// ]);
/// assert_eq!(doc, "\na = 1\n[t]\nb = \"x\"\n");
/// ```
pub fn toml_document(sections: Vec<(String, Vec<(String, String)>)>) -> String {
    let mut doc = String::new();
    for (table, lines) in sections {
        doc.push_str(&table);
        doc.push('\n');
        for (key, value) in lines {
            doc.push_str(&key);
            doc.push_str(" = ");
            doc.push_str(&value);
            doc.push('\n');
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_is_skipped_outside_ci() {
        let hint = "apt-get install -y no-such-tool";
        assert_eq!(
            program_in("incident-metrics-no-such-tool", hint, false),
            None
        );
    }

    #[test]
    #[should_panic(
        expected = "incident-metrics-no-such-tool not found on PATH: install it with `apt-get install -y no-such-tool`"
    )]
    fn a_missing_program_fails_under_ci() {
        program_in(
            "incident-metrics-no-such-tool",
            "apt-get install -y no-such-tool",
            true,
        );
    }

    #[test]
    fn promtool_rejects_broken_text() {
        if program("promtool", "apt-get install -y prometheus").is_none() {
            return;
        }
        let result = std::panic::catch_unwind(|| promtool_check_metrics("up{ 1\n"));
        assert!(result.is_err(), "promtool must reject malformed text");
        assert!(promtool_check_metrics(
            "# HELP up Whether the target is up.\n# TYPE up gauge\nup 1\n"
        ));
    }

    #[test]
    fn python_parser_reads_and_rejects() {
        let text = "# TYPE a counter\n# HELP a An a.\na_total{x=\"\\\"q\\\"\"} 2.5\n# EOF\n";
        let Some(parsed) = parse_openmetrics(text) else {
            return;
        };
        let samples = parsed.samples;
        assert_eq!(samples.len(), 1);
        assert_eq!(samples[0].family, "a");
        assert_eq!(parsed.families[0].kind, "counter");
        assert_eq!(samples[0].labels["x"], "\"q\"");
        assert_eq!(samples[0].value, 2.5);
        // No `# EOF`: not OpenMetrics.
        let result = std::panic::catch_unwind(|| parse_openmetrics("a_total 1\n"));
        assert!(result.is_err(), "the parser must reject text without # EOF");
    }
}
