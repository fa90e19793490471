//! The embedded offline provider: deterministic keyword classification and
//! extractive summaries, with tokens counted by a real tokenizer. Needs no
//! network and no key, so the service runs on its defaults.

use futures_util::future::BoxFuture;

use super::{CallObserver, LlmError, LlmProvider, LlmRequest, LlmResponse, Task, count_tokens};

/// The default model name of the offline provider.
pub const MODEL: &str = crate::config::OFFLINE_MODEL;

/// The default `provider` label value (a `[[llm.providers]]` table's
/// `name` replaces it).
pub const PROVIDER: &str = "offline";

/// Categories and the words that point to them, in priority order.
const CATEGORIES: &[(&str, &[&str])] = &[
    (
        "security",
        &[
            "security",
            "breach",
            "unauthorized",
            "attack",
            "cve",
            "leak",
            "intrusion",
            "tls",
            "certificate",
        ],
    ),
    (
        "database",
        &[
            "database",
            "db",
            "sql",
            "postgres",
            "mysql",
            "sqlite",
            "replica",
            "deadlock",
            "query",
            "migration",
        ],
    ),
    (
        "llm",
        &[
            "llm",
            "model",
            "token",
            "prompt",
            "openai",
            "inference",
            "embedding",
            "hallucination",
        ],
    ),
    (
        "network",
        &[
            "network",
            "dns",
            "packet",
            "connection",
            "timeout",
            "unreachable",
            "tcp",
            "firewall",
        ],
    ),
    (
        "latency",
        &["latency", "slow", "p99", "p95", "response time", "lag"],
    ),
    (
        "availability",
        &[
            "down",
            "outage",
            "unavailable",
            "5xx",
            "500",
            "503",
            "crash",
            "error rate",
        ],
    ),
    (
        "deployment",
        &[
            "deploy",
            "deployment",
            "release",
            "rollback",
            "rollout",
            "canary",
            "config change",
        ],
    ),
    (
        "capacity",
        &[
            "disk",
            "memory",
            "oom",
            "cpu",
            "capacity",
            "quota",
            "full",
            "saturation",
        ],
    ),
];

/// The offline provider.
#[derive(Clone, Debug)]
pub struct OfflineProvider {
    name: String,
    model: String,
}

impl OfflineProvider {
    /// A provider reporting `model` as its model label and [`PROVIDER`] as
    /// its provider label.
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            name: PROVIDER.to_owned(),
            model: model.into(),
        }
    }

    /// The same, reporting `name` as its provider label.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The category of `text`: the one with most keyword hits (ties go to
    /// the earlier category), or `other`.
    pub fn classify(text: &str) -> &'static str {
        let lower = text.to_lowercase();
        let words: Vec<&str> = lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        let mut best = ("other", 0usize);
        for (category, keywords) in CATEGORIES {
            let hits = keywords
                .iter()
                .filter(|k| {
                    if k.contains(' ') {
                        lower.contains(*k)
                    } else {
                        words.iter().any(|w| w == *k)
                    }
                })
                .count();
            if hits > best.1 {
                best = (category, hits);
            }
        }
        best.0
    }

    /// A one-line summary of `text`: the title, then the description's
    /// first sentence, cut at 30 words.
    pub fn summarize(text: &str) -> String {
        let mut title = "";
        let mut severity = "";
        let mut description = "";
        for line in text.lines() {
            if let Some(t) = line.strip_prefix("Title: ") {
                title = t.trim();
            } else if let Some(s) = line.strip_prefix("Severity: ") {
                severity = s.trim();
            } else if let Some(d) = line.strip_prefix("Description: ") {
                description = d.trim();
            }
        }
        if title.is_empty() {
            title = text.lines().next().unwrap_or("").trim();
        }
        let first_sentence = description
            .split_inclusive(['.', '!', '?'])
            .next()
            .unwrap_or("")
            .trim();
        let mut summary = if severity.is_empty() {
            title.to_owned()
        } else {
            format!("[{severity}] {title}")
        };
        if !first_sentence.is_empty() {
            summary.push_str(": ");
            summary.push_str(first_sentence);
        }
        let words: Vec<&str> = summary.split_whitespace().collect();
        if words.len() > 30 {
            let mut cut = words[..30].join(" ");
            cut.push_str(" ...");
            cut
        } else {
            words.join(" ")
        }
    }
}

impl LlmProvider for OfflineProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn complete<'a>(
        &'a self,
        request: &'a LlmRequest,
        _events: &'a mut dyn CallObserver,
    ) -> BoxFuture<'a, Result<LlmResponse, LlmError>> {
        Box::pin(async move {
            let text = match request.task {
                Task::Classify => Self::classify(&request.input).to_owned(),
                Task::Summarize => Self::summarize(&request.input),
            };
            let input_tokens = count_tokens(&request.instruction) + count_tokens(&request.input);
            Ok(LlmResponse {
                output_tokens: count_tokens(&text),
                input_tokens,
                text,
                time_to_first_token: None,
                finish_reason: Some("stop".to_owned()),
                cached_tokens: None,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_is_deterministic() {
        assert_eq!(
            OfflineProvider::classify("Postgres replica lag, queries slow"),
            "database"
        );
        assert_eq!(OfflineProvider::classify("DNS unreachable"), "network");
        assert_eq!(OfflineProvider::classify("hello"), "other");
    }

    #[test]
    fn summary_takes_title_and_first_sentence() {
        let s = OfflineProvider::summarize(
            "Title: API down\nSeverity: critical\nDescription: All pods crash. Second.",
        );
        assert_eq!(s, "[critical] API down: All pods crash.");
    }

    #[tokio::test]
    async fn counts_tokens() {
        let p = OfflineProvider::new(MODEL);
        let r = p
            .complete(
                &LlmRequest::new(Task::Classify, "Title: db down"),
                &mut || {},
            )
            .await
            .unwrap();
        assert_eq!(r.text, "database");
        assert!(r.input_tokens > 10);
        assert_eq!(r.output_tokens, count_tokens("database"));
    }
}
