//! Token counting with OpenAI's `cl100k_base` vocabulary, which tiktoken-rs
//! embeds: no network, no files.

use std::sync::OnceLock;

use tiktoken_rs::CoreBPE;

fn tokenizer() -> Option<&'static CoreBPE> {
    static BPE: OnceLock<Option<CoreBPE>> = OnceLock::new();
    BPE.get_or_init(|| tiktoken_rs::cl100k_base().ok()).as_ref()
}

/// Loads the vocabulary now (it takes a moment), so that the first request
/// does not pay for it.
pub fn warm_up() {
    let _ = tokenizer();
}

/// The number of `cl100k_base` tokens in `text`; if the embedded vocabulary
/// could not load, the number of whitespace-separated words.
pub fn count_tokens(text: &str) -> u64 {
    let n = match tokenizer() {
        Some(bpe) => bpe.encode_with_special_tokens(text).len(),
        None => text.split_whitespace().count(),
    };
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_real_tokens() {
        // "hello world" is two tokens in cl100k_base.
        assert_eq!(count_tokens("hello world"), 2);
        assert_eq!(count_tokens(""), 0);
    }
}
