//! What a WebSocket client sees when something goes wrong: the ONE mapping from
//! a reason to a close code, and the AWS error frames for failures that leave the
//! connection open.
//!
//! Every match here is exhaustive, so a new reason cannot silently get the wrong
//! code. No error text from inside the gateway or a backend reaches a client: close
//! reasons and error frames are fixed strings.
//!
//! | reason | close frame sent | `disconnectStatusCode` / `disconnectReason` |
//! |---|---|---|
//! | client close frame | (echoed) | its code (1005 if none) / its reason |
//! | TCP ended without close | none | 1006 / "Connection closed abnormally" |
//! | idle timeout | 1001 "Going away" | 1001 / "Going away" |
//! | maximum duration | 1001 "Going away" | 1001 / "Maximum connection duration reached" |
//! | DELETE @connections | 1000 | 1000 / "Connection Closed Normally" (as AWS logs it) |
//! | drain (SIGTERM) | 1001 "Going away" | 1001 / "Server shutting down" |
//! | no pong in time | none | 1006 / "Ping timeout" |
//! | message or frame too big | 1009 "Message too big" | 1009 / "Message too big" |
//! | invalid UTF-8 | 1007 "Invalid frame payload data" | 1007 / same |
//! | binary frame (policy reject) | 1003 "Binary frames are not supported" | 1003 / same |
//! | protocol violation | 1002 "Protocol error" | 1002 / same |
//! | socket write failed | none | 1006 / "Connection closed abnormally" |
//! | over `send_queue_bytes` unsent for `slow_client_timeout` (client not reading) | 1008 "Client too slow" | 1008 / "Client too slow" |
//! | its stage was removed by a config reload | 1001 "Going away" | 1001 / "Stage removed" |
//! | node lost (kill -9; `$disconnect` sent by a surviving node) | none (the node is gone) | 1006 / "Node lost" |
//! | node was cut off from Redis and declared lost meanwhile | 1012 "Node lost, reconnect" | (already delivered by the survivor) |

use std::borrow::Cow;

use crate::conn::Id;

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The client sent a close frame (code 1005 when it carried none).
    ClientClose {
        /// Its close code.
        code: u16,
        /// Its reason text.
        reason: String,
    },
    /// The TCP connection ended without a close frame.
    ClientGone,
    /// No data message in either direction for the idle timeout.
    IdleTimeout,
    /// The maximum connection duration passed.
    MaxDuration,
    /// A backend called DELETE @connections.
    Deleted,
    /// The node is draining.
    Shutdown,
    /// The peer did not answer a ping in time.
    PongTimeout,
    /// A frame or message exceeded its limit.
    MessageTooBig,
    /// A text message was not valid UTF-8.
    InvalidUtf8,
    /// A binary frame arrived and the policy rejects them.
    BinaryRejected,
    /// The client broke the WebSocket protocol.
    ProtocolError,
    /// Writing to the socket failed.
    WriteFailed,
    /// The node holding the connection was lost; a surviving node reports it.
    NodeLost,
    /// More than `send_queue_bytes` stayed unsent for `slow_client_timeout`.
    SlowClient,
    /// A config reload removed the connection's stage.
    StageRemoved,
}

// === impl CloseReason ===

impl CloseReason {
    /// Every reason's metric label, in [`CloseReason::index`] order.
    pub const LABELS: [&'static str; 15] = [
        "client_close",
        "client_gone",
        "idle_timeout",
        "max_duration",
        "deleted",
        "shutdown",
        "pong_timeout",
        "message_too_big",
        "invalid_utf8",
        "binary_rejected",
        "protocol_error",
        "write_failed",
        "node_lost",
        "slow_client",
        "stage_removed",
    ];

    /// Position in [`CloseReason::LABELS`].
    pub fn index(&self) -> usize {
        match self {
            CloseReason::ClientClose { .. } => 0,
            CloseReason::ClientGone => 1,
            CloseReason::IdleTimeout => 2,
            CloseReason::MaxDuration => 3,
            CloseReason::Deleted => 4,
            CloseReason::Shutdown => 5,
            CloseReason::PongTimeout => 6,
            CloseReason::MessageTooBig => 7,
            CloseReason::InvalidUtf8 => 8,
            CloseReason::BinaryRejected => 9,
            CloseReason::ProtocolError => 10,
            CloseReason::WriteFailed => 11,
            CloseReason::NodeLost => 12,
            CloseReason::SlowClient => 13,
            CloseReason::StageRemoved => 14,
        }
    }

    /// The close frame the gateway sends, if it sends one.
    pub fn close_frame(&self) -> Option<(u16, &'static str)> {
        match self {
            CloseReason::IdleTimeout
            | CloseReason::MaxDuration
            | CloseReason::Shutdown
            | CloseReason::StageRemoved => Some((1001, "Going away")),
            CloseReason::Deleted => Some((1000, "")),
            CloseReason::MessageTooBig => Some((1009, "Message too big")),
            CloseReason::InvalidUtf8 => Some((1007, "Invalid frame payload data")),
            CloseReason::BinaryRejected => Some((1003, "Binary frames are not supported")),
            CloseReason::ProtocolError => Some((1002, "Protocol error")),
            // Seen only by clients of a node that was cut off from Redis while a
            // survivor declared it lost: 1012 (Service Restart) tells them to reconnect.
            CloseReason::NodeLost => Some((1012, "Node lost, reconnect")),
            // 1008 (Policy Violation): the client broke the rule that it reads
            // what it asked for. It may never see the frame (it is not reading);
            // the close itself is bounded by close_timeout.
            CloseReason::SlowClient => Some((1008, "Client too slow")),
            CloseReason::ClientClose { .. }
            | CloseReason::ClientGone
            | CloseReason::PongTimeout
            | CloseReason::WriteFailed => None,
        }
    }

    /// `disconnectStatusCode` and `disconnectReason` for the `$disconnect` event.
    pub fn disconnect_status(&self) -> (u16, Cow<'_, str>) {
        match self {
            CloseReason::ClientClose { code, reason } => {
                if *code == 1005 && reason.is_empty() {
                    (
                        1005,
                        Cow::Borrowed("Client-side close frame status not set"),
                    )
                } else {
                    (*code, Cow::Borrowed(reason.as_str()))
                }
            }
            CloseReason::ClientGone | CloseReason::WriteFailed => {
                (1006, Cow::Borrowed("Connection closed abnormally"))
            }
            CloseReason::IdleTimeout => (1001, Cow::Borrowed("Going away")),
            CloseReason::MaxDuration => {
                (1001, Cow::Borrowed("Maximum connection duration reached"))
            }
            CloseReason::Deleted => (1000, Cow::Borrowed("Connection Closed Normally")),
            CloseReason::Shutdown => (1001, Cow::Borrowed("Server shutting down")),
            CloseReason::PongTimeout => (1006, Cow::Borrowed("Ping timeout")),
            CloseReason::MessageTooBig => (1009, Cow::Borrowed("Message too big")),
            CloseReason::InvalidUtf8 => (1007, Cow::Borrowed("Invalid frame payload data")),
            CloseReason::BinaryRejected => (1003, Cow::Borrowed("Binary frames are not supported")),
            CloseReason::ProtocolError => (1002, Cow::Borrowed("Protocol error")),
            CloseReason::NodeLost => (1006, Cow::Borrowed("Node lost")),
            CloseReason::SlowClient => (1008, Cow::Borrowed("Client too slow")),
            CloseReason::StageRemoved => (1001, Cow::Borrowed("Stage removed")),
        }
    }
}

/// A failure that leaves the connection open; the client gets AWS's error frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorFrame {
    /// No route matched and there is no `$default`.
    Forbidden,
    /// The integration failed or answered garbage.
    InternalServerError,
    /// The integration did not answer within its timeout.
    Timeout,
    /// Throttled: the message was not sent to the integration (AWS leaves the
    /// WebSocket text UNCONFIRMED; its HTTP 429 text, in AWS's frame shape).
    TooManyRequests,
    /// Its API key's usage-plan quota is used up (AWS REST's text).
    LimitExceeded,
}

impl ErrorFrame {
    /// Its `message`, as AWS writes it.
    pub fn message(self) -> &'static str {
        match self {
            ErrorFrame::Forbidden => "Forbidden",
            ErrorFrame::InternalServerError => "Internal server error",
            ErrorFrame::Timeout => "Endpoint request timed out",
            ErrorFrame::TooManyRequests => "Too Many Requests",
            ErrorFrame::LimitExceeded => "Limit Exceeded",
        }
    }

    /// The HTTP status of the same failure (what an access log line says of
    /// a message answered with this frame).
    pub fn status(self) -> u16 {
        match self {
            ErrorFrame::Forbidden => 403,
            ErrorFrame::InternalServerError => 500,
            ErrorFrame::Timeout => 504,
            ErrorFrame::TooManyRequests | ErrorFrame::LimitExceeded => 429,
        }
    }

    /// The frame text, byte for byte as AWS writes it (one space after the first
    /// colon and after each comma, none after the others).
    pub fn render(self, connection_id: &Id, request_id: &Id) -> String {
        let message = self.message();
        format!(
            r#"{{"message": "{message}", "connectionId":"{connection_id}", "requestId":"{request_id}"}}"#
        )
    }
}

/// The message of [`bad_request_body`]'s frame.
pub const BAD_REQUEST_BODY: &str = "Bad request body";

/// AWS's frame for a message that does not match its route's model, spaced
/// exactly as AWS documents it (unlike the other error frames); with
/// `details` (routes that opt in), what failed as an `errors` list.
pub fn bad_request_body(connection_id: &Id, message_id: &Id, details: Option<&[String]>) -> String {
    let errors = details.map_or(String::new(), |d| {
        format!(r#", "errors": {}"#, serde_json::Value::from(d.to_vec()))
    });
    format!(
        r#"{{"message" : "{BAD_REQUEST_BODY}", "connectionId": "{connection_id}", "messageId": "{message_id}"{errors}}}"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_frames_match_aws_bytes() {
        let c = Id::parse("XDmENcnwIE0CFEQ=").unwrap();
        let r = Id::parse("XDmGEE2RoE0FRdQ=").unwrap();
        assert_eq!(
            ErrorFrame::Forbidden.render(&c, &r),
            r#"{"message": "Forbidden", "connectionId":"XDmENcnwIE0CFEQ=", "requestId":"XDmGEE2RoE0FRdQ="}"#
        );
        assert!(
            ErrorFrame::Timeout
                .render(&c, &r)
                .starts_with(r#"{"message": "Endpoint request timed out","#)
        );
    }

    #[test]
    fn labels_line_up_with_indices() {
        let all = [
            CloseReason::ClientClose {
                code: 1000,
                reason: String::new(),
            },
            CloseReason::ClientGone,
            CloseReason::IdleTimeout,
            CloseReason::MaxDuration,
            CloseReason::Deleted,
            CloseReason::Shutdown,
            CloseReason::PongTimeout,
            CloseReason::MessageTooBig,
            CloseReason::InvalidUtf8,
            CloseReason::BinaryRejected,
            CloseReason::ProtocolError,
            CloseReason::WriteFailed,
            CloseReason::NodeLost,
            CloseReason::SlowClient,
            CloseReason::StageRemoved,
        ];
        assert_eq!(all.len(), CloseReason::LABELS.len());
        for (i, r) in all.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
        assert_eq!(
            CloseReason::ClientClose {
                code: 1005,
                reason: String::new()
            }
            .disconnect_status(),
            (
                1005,
                Cow::Borrowed("Client-side close frame status not set")
            )
        );
    }
}
