//! `[websocket.compression]` and `[stages.NAME.compression]`: permessage-deflate
//! (RFC 7692).
//!
//! Off by default, for two reasons: AWS API Gateway does not offer it, so a
//! client written against AWS sees the same handshake; and deflating a
//! message that holds both a secret and text an attacker chooses can leak the
//! secret through the compressed size (the CRIME/BREACH family), which only
//! the API's owner can rule out. A stage's table lays its keys over the
//! `[websocket]` one; the two are merged when the snapshot is built.

use super::reader::Section;
use crate::ws::DeflateSettings;

/// One compression table as written: a key left out takes the table below it
/// (the stage's over `[websocket]`'s over the defaults).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompressionConfig {
    /// Negotiate permessage-deflate with clients that offer it (default false).
    pub enabled: Option<bool>,
    /// zlib level 1-9 for what the gateway sends (default 1: most of the gain
    /// on short JSON for the least CPU).
    pub level: Option<u8>,
    /// Messages shorter than this are sent uncompressed (default 128 bytes:
    /// below it deflate rarely saves more than its own overhead).
    pub min_bytes: Option<u32>,
    /// Let clients keep their compression context between messages (default
    /// false). Each such connection then holds an inflater: about 7 KiB plus a
    /// `2^max_window_bits` window, for as long as it lives.
    pub context_takeover: Option<bool>,
    /// The largest client window with context takeover, 9-15 (default 15;
    /// 12 holds the window to 4 KiB).
    pub max_window_bits: Option<u8>,
}

impl CompressionConfig {
    /// `self` with the keys it leaves out taken from `base`.
    pub fn over(&self, base: &CompressionConfig) -> CompressionConfig {
        CompressionConfig {
            enabled: self.enabled.or(base.enabled),
            level: self.level.or(base.level),
            min_bytes: self.min_bytes.or(base.min_bytes),
            context_takeover: self.context_takeover.or(base.context_takeover),
            max_window_bits: self.max_window_bits.or(base.max_window_bits),
        }
    }

    /// What it allows, with the defaults filled in; `None` when it is off.
    pub fn settings(&self) -> Option<DeflateSettings> {
        self.enabled.unwrap_or(false).then(|| DeflateSettings {
            level: self.level.unwrap_or(1),
            min_bytes: self.min_bytes.unwrap_or(128),
            context_takeover: self.context_takeover.unwrap_or(false),
            max_window_bits: self.max_window_bits.unwrap_or(15),
        })
    }
}

/// Reads a compression table (absent: every key left out).
pub(super) fn read_compression(mut s: Section<'_>) -> CompressionConfig {
    if !s.is_present() {
        return CompressionConfig::default();
    }
    let c = CompressionConfig {
        enabled: s.bool("enabled"),
        level: s.int("level", 1, 9).map(|l| l as u8),
        // 64 MiB: the largest message `[websocket]` allows.
        min_bytes: s.bytes("min_bytes", 0, 64 << 20).map(|b| b as u32),
        context_takeover: s.bool("context_takeover"),
        max_window_bits: s.int("max_window_bits", 9, 15).map(|b| b as u8),
    };
    s.finish();
    c
}
