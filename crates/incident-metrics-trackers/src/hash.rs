//! A small, fast string hash for the handle caches.
//!
//! The caches hold a bounded number of keys (the limiters cap them), so
//! collisions cost at most a short probe; speed matters more than DoS
//! resistance. A per-table random seed keeps probe sequences unpredictable.

use std::hash::{BuildHasher, RandomState};

const K: u64 = 0x517c_c1b7_2722_0a95;

#[inline]
fn add(hash: u64, word: u64) -> u64 {
    (hash.rotate_left(5) ^ word).wrapping_mul(K)
}

/// A random seed for one table.
pub(crate) fn seed() -> u64 {
    RandomState::new().hash_one(0x5eed_u32)
}

/// Mixes `s` into `hash`.
#[inline]
fn str_into(mut hash: u64, s: &str) -> u64 {
    let chunks = s.as_bytes().chunks_exact(8);
    let rest = chunks.remainder();
    for chunk in chunks {
        let mut word = [0_u8; 8];
        word.copy_from_slice(chunk);
        hash = add(hash, u64::from_le_bytes(word));
    }
    let mut word = [0_u8; 8];
    word[..rest.len()].copy_from_slice(rest);
    hash = add(hash, u64::from_le_bytes(word));
    add(hash, s.len() as u64)
}

/// The hash of a key made of several strings.
#[inline]
pub(crate) fn strs<const N: usize>(seed: u64, parts: &[&str; N]) -> u64 {
    let mut hash = seed;
    for part in parts {
        hash = str_into(hash, part);
    }
    // Final avalanche, so that the low bits (the table index) depend on
    // every input bit.
    hash = (hash ^ (hash >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash ^ (hash >> 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separates_parts_and_lengths() {
        let s = 7;
        assert_ne!(strs(s, &["ab", "c"]), strs(s, &["a", "bc"]));
        assert_ne!(strs(s, &["a"]), strs(s, &["a\0"]));
        assert_eq!(
            strs(s, &["openai", "gpt-4o-mini"]),
            strs(s, &["openai", "gpt-4o-mini"])
        );
    }
}
