//! Connection, request and message ids.
//!
//! They look like AWS's: 16 characters, the base64 of 11 random bytes ending in `=`
//! (88 bits from a cryptographically secure generator, so ids are unguessable).
//! sockgate uses the URL-safe alphabet (`-` and `_` instead of `+` and `/`): a
//! backend that forgets to percent-encode an id in an @connections URL still works,
//! and ids never contain a path separator.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE;
use rand::RngCore as _;

/// A 16-character id, stored inline (no allocation, `Copy`, cheap to hash).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Id([u8; 16]);

/// The id of one WebSocket connection.
pub type ConnectionId = Id;

// === impl Id ===

impl Id {
    /// A fresh random id.
    pub fn random() -> Id {
        let mut raw = [0u8; 11];
        rand::rng().fill_bytes(&mut raw);
        let mut out = [0u8; 16];
        let n = URL_SAFE.encode_slice(raw, &mut out).unwrap_or_default();
        debug_assert_eq!(n, 16);
        Id(out)
    }

    /// Parses an id as it appears in an @connections path (already percent-decoded).
    pub fn parse(s: &str) -> Option<Id> {
        let bytes: [u8; 16] = s.as_bytes().try_into().ok()?;
        let body_ok = bytes[..15]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_');
        (body_ok && bytes[15] == b'=').then_some(Id(bytes))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_like_aws_and_round_trip() {
        for _ in 0..1000 {
            let id = Id::random();
            assert_eq!(id.as_str().len(), 16);
            assert!(id.as_str().ends_with('='));
            assert_eq!(Id::parse(id.as_str()), Some(id));
        }
        assert_ne!(Id::random(), Id::random());
    }

    #[test]
    fn malformed_ids_are_rejected() {
        for bad in [
            "",
            "short=",
            "R1kmxc2VNjMCFIA",
            "R1kmxc2VNjMCFIA==",
            "R1kmxc2V/jMCFIA=",
            "R1kmxc2VNjMCFIAx",
            "R1kmxc2VNjMCFIé=",
        ] {
            assert_eq!(Id::parse(bad), None, "{bad}");
        }
        assert!(Id::parse("R1kmxc2VNjMCFIA=").is_some());
    }
}
