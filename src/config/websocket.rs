//! `[websocket]`: how connections are routed and bounded — AWS's limits by
//! default, every bound configurable.

use std::time::Duration;

use super::reader::{Section, join};
use super::{BinaryPolicy, WebSocketConfig};

const HOUR: Duration = Duration::from_secs(3600);
const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);

pub(super) fn read_websocket(mut s: Section<'_>) -> Option<WebSocketConfig> {
    let selection = read_selection(&mut s);
    let max_message_bytes = s
        .bytes("max_message_bytes", 1, 64 << 20)
        .unwrap_or(128 << 10) as usize;
    let max_frame_bytes = s.bytes("max_frame_bytes", 1, 64 << 20).unwrap_or(32 << 10) as usize;
    if max_frame_bytes > max_message_bytes {
        s.errors().push(
            join(s.path(), "max_frame_bytes"),
            "must not exceed max_message_bytes",
        );
    }
    let binary_frames = match s.string("binary_frames").unwrap_or("reject") {
        "reject" => Some(BinaryPolicy::Reject),
        "base64" => Some(BinaryPolicy::Base64),
        other => {
            s.errors().push(
                join(s.path(), "binary_frames"),
                format!("{other:?} is not \"reject\" or \"base64\""),
            );
            None
        }
    };
    let ms = Duration::from_millis;
    let secs = Duration::from_secs;
    let idle_timeout = s.limit_or("idle_timeout", ms(100), WEEK, Some(secs(600)));
    let max_connection_duration = s.limit_or(
        "max_connection_duration",
        ms(100),
        WEEK * 52,
        Some(secs(7200)),
    );
    let ping_interval = s.limit_or("ping_interval", ms(100), HOUR, Some(secs(30)));
    let pong_timeout = s.duration_or("pong_timeout", ms(100), HOUR, secs(30));
    let send_queue_messages = s.int("send_queue_messages", 1, 1_000_000).unwrap_or(256) as usize;
    let send_queue_bytes = s
        .bytes("send_queue_bytes", 1024, 1 << 30)
        .unwrap_or(1 << 20) as usize;
    let max_inflight_per_connection = s
        .int("max_inflight_per_connection", 1, 10_000)
        .unwrap_or(16) as usize;
    // By default a reply may be as large as a message (an echo route's is).
    let max_reply_bytes = s
        .bytes("max_reply_bytes", 1 << 10, 64 << 20)
        .map_or(max_message_bytes, |b| b as usize);
    let slow_client_timeout = s.limit_or("slow_client_timeout", ms(100), HOUR, Some(secs(30)));
    let max_groups_per_connection =
        s.int("max_groups_per_connection", 1, 10_000).unwrap_or(100) as usize;
    let close_timeout = s.duration_or("close_timeout", ms(10), secs(60), secs(3));
    let access_log = s.bool("access_log").unwrap_or(false);
    let access_log_format = s.string("access_log_format").map(str::to_owned);
    let compression = super::compression::read_compression(s.section("compression"));
    s.finish();
    Some(WebSocketConfig {
        selection: selection?,
        idle_timeout,
        max_connection_duration,
        max_message_bytes,
        max_frame_bytes,
        binary_frames: binary_frames?,
        ping_interval,
        pong_timeout,
        send_queue_messages,
        send_queue_bytes,
        max_inflight_per_connection,
        max_reply_bytes,
        slow_client_timeout,
        max_groups_per_connection,
        close_timeout,
        access_log,
        compression,
        access_log_format,
    })
}

/// `route_selection_expression`, as written (compiled, and so checked, by
/// `snapshot::check`).
fn read_selection(s: &mut Section<'_>) -> Option<String> {
    let text = s
        .string("route_selection_expression")
        .unwrap_or("$request.body.action");
    Some(text.to_owned())
}
