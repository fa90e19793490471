//! wip
mod compression;
mod error;
mod format;
mod negotiate;
mod render;
pub use compression::Compression;
pub use error::{Error, Result};
pub use format::Format;
pub use negotiate::{negotiate_encoding, negotiate_format};
pub use render::{gather_metrics, render};
/// x
pub fn encode_response() {}
