//! The command line.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::LoadgenError;

pub(crate) const USAGE: &str = "\
loadgen: drives the reference service over REST and gRPC on 127.0.0.1 with
metrics on and off, checks its counters against the client's, and reports
throughput, latency and the cost of metrics.

usage: loadgen [--duration SECS] [--concurrency N] [--rounds N]
               [--warmup SECS] [--json PATH] [--quick] [--memory-store]

  --duration SECS    length of each measured phase (default 3; the two
                     scrape-under-load phases last twice as long)
  --concurrency N    concurrent clients, half REST half gRPC (default 8, at least 2)
  --rounds N         on/off pairs of phases (default 5)
  --warmup SECS      warm-up of each service before measuring (default 2)
  --json PATH        also write the results as JSON to PATH
  --quick            a tiny run for tests (0.3 s phases, 1 round, 4 clients)
  --memory-store     keep the services' incidents in memory (`:memory:`), not
                     in SQLite files: what durability costs
";

/// The command line.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    pub(crate) duration: Duration,
    pub(crate) concurrency: usize,
    pub(crate) rounds: usize,
    pub(crate) warmup: Duration,
    pub(crate) json: Option<PathBuf>,
    pub(crate) quick: bool,
    pub(crate) memory_store: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            duration: Duration::from_secs(3),
            concurrency: 8,
            rounds: 5,
            warmup: Duration::from_secs(2),
            json: None,
            quick: false,
            memory_store: false,
        }
    }
}

fn parse_secs(flag: &str, value: &str) -> Result<Duration, LoadgenError> {
    match value.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s <= 3600.0 => Ok(Duration::from_secs_f64(s)),
        _ => Err(LoadgenError::Usage(format!(
            "{flag} wants seconds between 0 and 3600, not {value:?}"
        ))),
    }
}

fn parse_count(flag: &str, value: &str, min: usize, max: usize) -> Result<usize, LoadgenError> {
    match value.parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(LoadgenError::Usage(format!(
            "{flag} wants a whole number from {min} to {max}, not {value:?}"
        ))),
    }
}

impl Options {
    /// `Ok(None)` for `--help`.
    pub(crate) fn parse(
        args: impl IntoIterator<Item = String>,
    ) -> Result<Option<Self>, LoadgenError> {
        let mut o = Self::default();
        let mut explicit = Vec::new();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
                _ => (arg.clone(), None),
            };
            if name == "--help" || name == "-h" {
                return Ok(None);
            }
            if name == "--quick" {
                o.quick = true;
                continue;
            }
            if name == "--memory-store" {
                o.memory_store = true;
                continue;
            }
            let value = match inline {
                Some(v) => v,
                None => args
                    .next()
                    .ok_or_else(|| LoadgenError::Usage(format!("{name} needs a value")))?,
            };
            o.set(&name, value)?;
            explicit.push(name);
        }
        if o.quick {
            o.quick_defaults(&explicit);
        }
        Ok(Some(o))
    }

    /// Sets the option `name` (a flag that takes a value) to `value`.
    fn set(&mut self, name: &str, value: String) -> Result<(), LoadgenError> {
        match name {
            "--duration" => self.duration = parse_secs(name, &value)?,
            "--warmup" => self.warmup = parse_secs(name, &value)?,
            "--concurrency" => self.concurrency = parse_count(name, &value, 2, 1024)?,
            "--rounds" => self.rounds = parse_count(name, &value, 1, 100)?,
            "--json" => self.json = Some(PathBuf::from(value)),
            other => {
                return Err(LoadgenError::Usage(format!("unknown argument {other:?}")));
            }
        }
        Ok(())
    }

    /// The quick values, for the options not given explicitly.
    fn quick_defaults(&mut self, explicit: &[String]) {
        let given = |f: &str| explicit.iter().any(|e| e == f);
        if !given("--duration") {
            self.duration = Duration::from_millis(300);
        }
        if !given("--warmup") {
            self.warmup = Duration::from_millis(200);
        }
        if !given("--concurrency") {
            self.concurrency = 4;
        }
        if !given("--rounds") {
            self.rounds = 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Options>, LoadgenError> {
        Options::parse(args.iter().map(|a| (*a).to_owned()))
    }

    #[test]
    fn quick_fills_only_what_was_not_given() {
        let o = parse(&["--quick", "--rounds=3", "--memory-store"])
            .unwrap()
            .unwrap();
        assert_eq!(o.rounds, 3);
        assert_eq!(o.concurrency, 4);
        assert_eq!(o.duration, Duration::from_millis(300));
        assert!(o.memory_store && o.quick);
        let o = parse(&["--duration", "1.5", "--json", "x.json"])
            .unwrap()
            .unwrap();
        assert_eq!(o.duration, Duration::from_millis(1500));
        assert_eq!(o.json, Some(PathBuf::from("x.json")));
        assert_eq!(o.rounds, 5);
        assert!(parse(&["-h"]).unwrap().is_none());
    }

    #[test]
    fn bad_values_say_what_to_change() {
        for (args, want) in [
            (
                &["--rounds", "0"][..],
                "--rounds wants a whole number from 1 to 100, not \"0\"",
            ),
            (
                &["--warmup", "nan"][..],
                "--warmup wants seconds between 0 and 3600",
            ),
            (&["--json"][..], "--json needs a value"),
            (&["--nope=1"][..], "unknown argument \"--nope\""),
        ] {
            let err = parse(args).unwrap_err().to_string();
            assert!(err.contains(want), "{args:?}: {err}");
        }
    }
}
