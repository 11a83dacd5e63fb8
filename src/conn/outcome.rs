//! What a delivery call to a connection can answer, wherever it was served
//! (this node or the owner over the cluster): the error kinds, GetConnection's
//! view, the report of a group send, and the frame a posted payload becomes.

use super::group::Sent;
use super::mailbox::ConnInfo;
use crate::ws::Frame;

/// Why a delivery call failed (mapped to an HTTP status in `http::respond`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryError {
    /// No live connection with that id on that stage (410).
    Gone,
    /// The connection's send queue is full (429).
    Full,
    /// The connection is in `max_groups_per_connection` groups (429).
    TooManyGroups,
    /// The call needs another node and the cluster cannot be reached (503).
    Unavailable,
}

/// What a group send or broadcast did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendReport {
    /// Receivers on this node.
    pub local: Sent,
    /// Other nodes that received it (`None` on a single node).
    pub remote_nodes: Option<usize>,
}

/// What a group send or broadcast did, also when it failed: the receivers on
/// this node were queued to either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fanout {
    /// Receivers on this node.
    pub local: Sent,
    /// Other nodes that received it (`Ok(None)` on a single node), or why the
    /// cluster could not be reached.
    pub remote: Result<Option<usize>, DeliveryError>,
}

impl Fanout {
    /// The answer to the caller: the report, or the error.
    pub fn report(self) -> Result<SendReport, DeliveryError> {
        Ok(SendReport {
            local: self.local,
            remote_nodes: self.remote?,
        })
    }
}

/// What GetConnection reports.
#[derive(Debug, Clone)]
pub struct ConnectionView {
    /// Handshake facts.
    pub info: ConnInfo,
    /// Epoch ms of the last data message.
    pub last_active_ms: u64,
    /// Its groups (`stage/group`), for operators (not in AWS's answer).
    pub groups: Vec<String>,
    /// Messages queued for it and not yet written.
    pub queued_messages: usize,
    /// Their bytes.
    pub queued_bytes: usize,
    /// The node holding it.
    pub node: String,
}

/// The frame for a POSTed payload: text when it is UTF-8 (what browsers'
/// `onmessage` expects), binary otherwise (AWS leaves the opcode UNCONFIRMED).
pub fn payload_frame(data: &[u8]) -> Frame {
    match std::str::from_utf8(data) {
        Ok(text) => Frame::text(text),
        Err(_) => Frame::binary(data),
    }
}
