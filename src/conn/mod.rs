//! The connection model, shared by everything that deals with a connection:
//! its id (and the node it lives on), its mailbox and handshake facts, why it
//! closes and the AWS error frames sent on it, group keys, and what a delivery
//! call can answer.
//!
//! A leaf: it imports nothing of the gateway but the frame type of [`crate::ws`]
//! and [`crate::clock`], so the session, delivery, the cluster and the HTTP
//! side can all speak of a connection without importing each other.

pub mod close;
pub mod group;
pub mod id;
pub mod mailbox;
pub mod outcome;

pub use close::{BAD_REQUEST_BODY, CloseReason, ErrorFrame, bad_request_body};
pub use group::{GroupKey, MAX_GROUP_NAME, Sent};
pub use id::{ConnectionId, Id, NodeTag};
pub use mailbox::{ConnAuth, ConnInfo, Connection, JoinError, PostError};
pub use outcome::{ConnectionView, DeliveryError, Fanout, SendReport, payload_frame};
