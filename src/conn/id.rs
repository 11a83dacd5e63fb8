//! Connection, request and message ids.
//!
//! They look like AWS's: 16 characters, the base64 of 11 random bytes ending in `=`
//! (88 bits from a cryptographically secure generator, so ids are unguessable).
//! sockgate uses the URL-safe alphabet (`-` and `_` instead of `+` and `/`): a
//! backend that forgets to percent-encode an id in an @connections URL still works,
//! and ids never contain a path separator. No id starts with `-`: command-line
//! tools read `--connection-id -x…` as an option (the AWS CLI refuses it), so a
//! leading `-` is drawn again (1 draw in 64; the id keeps its 88 random bits
//! less a 64th of one character).
//!
//! A connection id also names the node that holds the connection: its first
//! four characters are that node's [`NodeTag`] (3 random bytes, drawn when the
//! node starts), the other 8 bytes are random (64 bits). Any node can therefore
//! send an @connections call straight to the owner's channel, and ids from a
//! node that has restarted can never be mistaken for live ones.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE;
use rand::RngCore as _;

/// A 16-character id, stored inline (no allocation, `Copy`, cheap to hash).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Id([u8; 16]);

/// The id of one WebSocket connection.
pub type ConnectionId = Id;

/// A node's identity within a cluster: the first four characters of the ids of
/// the connections it holds.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeTag([u8; 4]);

// === impl NodeTag ===

impl NodeTag {
    /// A fresh random tag.
    pub fn random() -> NodeTag {
        let mut raw = [0u8; 3];
        let mut out = [0u8; 4];
        while out[0] == 0 || out[0] == b'-' {
            rand::rng().fill_bytes(&mut raw);
            let n = URL_SAFE.encode_slice(raw, &mut out).unwrap_or_default();
            debug_assert_eq!(n, 4);
        }
        NodeTag(out)
    }

    /// Parses a tag as it appears in channel names.
    pub fn parse(s: &str) -> Option<NodeTag> {
        let bytes: [u8; 4] = s.as_bytes().try_into().ok()?;
        bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
            .then_some(NodeTag(bytes))
    }

    /// The tag as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for NodeTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for NodeTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeTag({})", self.as_str())
    }
}

// === impl Id ===

impl Id {
    /// A connection id for a connection held by `node`.
    pub fn for_node(node: NodeTag) -> Id {
        let mut raw = [0u8; 11];
        rand::rng().fill_bytes(&mut raw[3..]);
        let mut out = [0u8; 16];
        let n = URL_SAFE.encode_slice(raw, &mut out).unwrap_or_default();
        debug_assert_eq!(n, 16);
        // Base64 maps 3 bytes to 4 characters, so the tag's characters replace
        // the encoding of the three zero bytes exactly.
        out[..4].copy_from_slice(&node.0);
        Id(out)
    }

    /// The node a connection id belongs to.
    pub fn node(&self) -> NodeTag {
        NodeTag([self.0[0], self.0[1], self.0[2], self.0[3]])
    }

    /// A fresh random id (request and message ids).
    pub fn random() -> Id {
        let mut raw = [0u8; 11];
        let mut out = [0u8; 16];
        while out[0] == 0 || out[0] == b'-' {
            rand::rng().fill_bytes(&mut raw);
            let n = URL_SAFE.encode_slice(raw, &mut out).unwrap_or_default();
            debug_assert_eq!(n, 16);
        }
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
    fn no_id_starts_with_a_dash() {
        // 4,096 draws: a leading `-` would come up ~64 times if allowed.
        for _ in 0..4096 {
            let tag = NodeTag::random();
            assert!(!tag.as_str().starts_with('-'), "{tag}");
            assert!(!Id::random().as_str().starts_with('-'));
            assert!(!Id::for_node(tag).as_str().starts_with('-'));
        }
    }

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
    fn connection_ids_carry_their_node() {
        let node = NodeTag::random();
        assert_eq!(NodeTag::parse(node.as_str()), Some(node));
        for _ in 0..1000 {
            let id = Id::for_node(node);
            assert_eq!(id.node(), node);
            assert!(id.as_str().starts_with(node.as_str()));
            assert_eq!(
                Id::parse(id.as_str()),
                Some(id),
                "still a valid AWS-looking id"
            );
        }
        assert_ne!(Id::for_node(node), Id::for_node(node));
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
