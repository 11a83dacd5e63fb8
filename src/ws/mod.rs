//! RFC 6455 framing, server side: decoding client frames and encoding server frames.
//!
//! sockgate does its own framing instead of running a general WebSocket library on
//! each socket, for two reasons that matter at scale:
//!
//! - **Idle connections own no buffers.** The session reads into a scratch buffer
//!   on the worker's stack and decodes whole frames from it; only the tail of a
//!   frame that spans reads is copied into a per-connection buffer, which is freed
//!   as soon as that frame is complete.
//! - **An outbound frame is encoded once.** [`encode`] produces the complete wire
//!   bytes (header and payload) as `Bytes`; a broadcast clones that handle (a
//!   reference-count increment) into every receiver's queue, and each socket
//!   writes the same bytes.
//!
//! permessage-deflate (RFC 7692) is negotiated in `extension` and applied in
//! `deflate`: a broadcast is deflated once for all compressed receivers
//! ([`Outgoing`]), and an idle connection holds no compression state.
//!
//! The decoder is pure (bytes in, frames out) so it can be tested exhaustively
//! and fuzzed without sockets.

mod decode;
mod deflate;
mod encode;
mod extension;

pub use decode::{DecodeError, Decoder, Item, Limits, Step};
pub use deflate::{DeflateTotals, Inflate, Outgoing, totals as deflate_totals};
pub use encode::{Frame, OpCode, accept_key, close_frame, encode};
pub use extension::{Deflate, DeflateSettings, negotiate};

#[cfg(test)]
mod tests;

#[cfg(test)]
mod deflate_tests;
