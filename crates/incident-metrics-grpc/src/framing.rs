//! Counting gRPC messages in a byte stream by their 5-byte length prefix.
//!
//! Every gRPC message on the wire is `[compressed: u8][length: u32 BE][payload]`.
//! HTTP/2 DATA frames cut that stream anywhere: one frame may hold several
//! messages, and one message may span many frames, its prefix included. The
//! [`FrameCounter`] walks the prefixes as the bytes pass, skipping payloads
//! without looking at them: no buffering, no copy, no decoding.

use bytes::Buf;

/// How far into the current message the counter is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading the 5-byte prefix: `read` bytes so far, the length bytes in `len`.
    Prefix { read: u8, len: u32 },
    /// Skipping the payload: `remaining` bytes to go.
    Payload { remaining: u32 },
    /// The counter saw a buffer it could not walk; it counts nothing more.
    Lost,
}

/// A state machine over the gRPC length-prefixed framing that counts the
/// messages completed in the bytes fed to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FrameCounter {
    state: State,
}

impl Default for FrameCounter {
    fn default() -> Self {
        Self {
            state: State::Prefix { read: 0, len: 0 },
        }
    }
}

/// The most slices of a non-contiguous buffer walked without consuming it.
const MAX_SLICES: usize = 16;

impl FrameCounter {
    /// Feeds the next bytes of the stream; returns the number of messages
    /// they complete.
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) -> u64 {
        let mut done = 0;
        while !bytes.is_empty() {
            match &mut self.state {
                State::Lost => return done,
                State::Prefix { read, len } => {
                    // Byte 0 is the compression flag; bytes 1..=4 the length.
                    if *read > 0 {
                        *len = (*len << 8) | u32::from(bytes[0]);
                    }
                    *read += 1;
                    bytes = &bytes[1..];
                    if *read == 5 {
                        let len = *len;
                        if len == 0 {
                            done += 1;
                            self.state = State::Prefix { read: 0, len: 0 };
                        } else {
                            self.state = State::Payload { remaining: len };
                        }
                    }
                }
                State::Payload { remaining } => {
                    let available = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
                    let step = available.min(*remaining);
                    *remaining -= step;
                    // `step` is at most `bytes.len()`.
                    bytes = bytes.get(step as usize..).unwrap_or_default();
                    if *remaining == 0 {
                        done += 1;
                        self.state = State::Prefix { read: 0, len: 0 };
                    }
                }
            }
        }
        done
    }

    /// Feeds every byte of `buf` without consuming it; returns the number of
    /// messages completed. A buffer of more than [`MAX_SLICES`] pieces (never
    /// the case for the `Bytes` frames of hyper and tonic) stops the count.
    pub(crate) fn feed_buf<B: Buf>(&mut self, buf: &B) -> u64 {
        let chunk = buf.chunk();
        if chunk.len() == buf.remaining() {
            return self.feed(chunk);
        }
        let mut slices = [std::io::IoSlice::new(&[]); MAX_SLICES];
        let n = buf.chunks_vectored(&mut slices);
        let mut seen = 0;
        let mut done = 0;
        for slice in slices.iter().take(n) {
            seen += slice.len();
            done += self.feed(slice);
        }
        if seen != buf.remaining() {
            self.state = State::Lost;
        }
        done
    }

    /// Whether the stream so far ended on a message boundary.
    #[cfg(test)]
    pub(crate) fn at_boundary(&self) -> bool {
        self.state == State::Prefix { read: 0, len: 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame(messages: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for m in messages {
            out.push(0);
            out.extend_from_slice(&u32::try_from(m.len()).unwrap().to_be_bytes());
            out.extend_from_slice(m);
        }
        out
    }

    #[test]
    fn counts_whole_and_split_messages() {
        let bytes = frame(&[vec![1, 2, 3], vec![], vec![9; 300]]);
        let mut c = FrameCounter::default();
        assert_eq!(c.feed(&bytes), 3);
        assert!(c.at_boundary());

        let mut c = FrameCounter::default();
        let total: u64 = bytes.iter().map(|b| c.feed(std::slice::from_ref(b))).sum();
        assert_eq!(total, 3);
    }

    #[test]
    fn a_truncated_message_is_not_counted() {
        let bytes = frame(&[vec![1, 2, 3], vec![4, 5, 6]]);
        let mut c = FrameCounter::default();
        assert_eq!(c.feed(&bytes[..bytes.len() - 1]), 1);
        assert!(!c.at_boundary());
        assert_eq!(c.feed(&bytes[bytes.len() - 1..]), 1);
    }

    #[test]
    fn walks_non_contiguous_buffers() {
        let bytes = frame(&[vec![7; 10], vec![8; 20]]);
        let (a, b) = bytes.split_at(12);
        let chain = bytes::Buf::chain(a, b);
        let mut c = FrameCounter::default();
        assert_eq!(c.feed_buf(&chain), 2);
    }

    proptest! {
        #[test]
        fn any_split_counts_the_same(
            sizes in proptest::collection::vec(0usize..600, 0..20),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..30),
        ) {
            let messages: Vec<Vec<u8>> = sizes.iter().map(|n| vec![0xAB; *n]).collect();
            let bytes = frame(&messages);
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
            points.push(0);
            points.push(bytes.len());
            points.sort_unstable();
            let mut c = FrameCounter::default();
            let mut total = 0;
            for w in points.windows(2) {
                total += c.feed(&bytes[w[0]..w[1]]);
            }
            prop_assert_eq!(total, messages.len() as u64);
            prop_assert!(c.at_boundary());
        }
    }
}
