//! The help text of every metric (Prometheus `# HELP` lines), in one table.

use metrics::{Recorder as _, SharedString, Unit};
use metrics_exporter_prometheus::PrometheusRecorder;

use super::functions::{FUNCTION_BUSY, FUNCTION_INVOCATIONS, FUNCTION_RESTARTS, FUNCTION_WAITING};
use super::http_api::{
    HTTP_DATA, HTTP_EXECUTION_ERRORS, HTTP_INTEGRATION_LATENCY, HTTP_LATENCY, HTTP_REQUESTS,
};
use super::{
    CLIENT_ERRORS, CLUSTER_DROPPED, CLUSTER_EXPIRED, CLUSTER_MESSAGES, CLUSTER_REAPED, CLUSTER_UP,
    CONFIG_GENERATION, CONFIG_INFO, CONFIG_RELOADS, CONNECTIONS_OPEN, CONNECTS, DEFLATE_BYTES,
    DEFLATE_MESSAGES, DISCONNECTS, EXECUTION_ERRORS, FANOUT, INTEGRATION_ERRORS,
    INTEGRATION_LATENCY, LISTENER_REFUSED, MANAGEMENT_REQUESTS, MESSAGES, QUEUE_REJECTIONS,
    RUNTIME_TASKS, SEND_BACKLOG, THROTTLE_FALLBACKS, THROTTLED,
};

/// Gauges and their help texts.
const GAUGE_HELP: &[(&str, Option<Unit>, &str)] = &[
    (
        CONNECTIONS_OPEN,
        Some(Unit::Count),
        "Open WebSocket connections.",
    ),
    (
        CONFIG_GENERATION,
        None,
        "The configuration generation serving now: 1 at start, +1 per applied reload.",
    ),
    (
        CONFIG_INFO,
        None,
        "1 for the digest of the configuration serving now (0 for earlier ones).",
    ),
    (
        RUNTIME_TASKS,
        Some(Unit::Count),
        "Tasks alive in the async runtime (one per connection, plus calls in flight and background work).",
    ),
    (
        SEND_BACKLOG,
        Some(Unit::Bytes),
        "Bytes queued for clients and not yet written to their sockets, over all connections.",
    ),
    (
        CLUSTER_UP,
        None,
        "1 while this node's fan-out path through Redis works (its self-probe comes back).",
    ),
    (
        FUNCTION_BUSY,
        Some(Unit::Count),
        "Hosted function workers running an invocation now (Lambda's ConcurrentExecutions).",
    ),
    (
        FUNCTION_WAITING,
        Some(Unit::Count),
        "Hosted function invocations queued for a worker now.",
    ),
];

/// Counters and their help texts.
const COUNTER_HELP: &[(&str, &str)] = &[
    (
        DEFLATE_MESSAGES,
        "permessage-deflate: messages deflated for clients (out: once per message however many receive it) and inflated from them (in).",
    ),
    (
        DEFLATE_BYTES,
        "permessage-deflate: payload bytes of those messages, compressed and uncompressed (their ratio is the saving).",
    ),
    (
        HTTP_REQUESTS,
        "HTTP API requests answered, by stage, route key and status class (AWS Count, 4xx, 5xx).",
    ),
    (
        HTTP_DATA,
        "HTTP API bytes of request bodies and answers of known length (AWS DataProcessed).",
    ),
    (CONNECTS, "$connect attempts by outcome (AWS ConnectCount)."),
    (DISCONNECTS, "Ended connections by reason."),
    (
        MESSAGES,
        "Messages by direction (AWS MessageCount); inbound by route.",
    ),
    (
        CLIENT_ERRORS,
        "Requests the gateway refused before any integration (AWS ClientError).",
    ),
    (
        THROTTLE_FALLBACKS,
        "Cluster-wide throttling decisions made without Redis (by [throttle] on_redis_down).",
    ),
    (
        THROTTLED,
        "Requests and messages throttled (429, or a Too Many Requests frame), by the level whose bucket was empty.",
    ),
    (
        QUEUE_REJECTIONS,
        "@connections POSTs refused with 429 because the connection's send queue was full.",
    ),
    (
        CLUSTER_MESSAGES,
        "Messages between this node and Redis, by direction and kind.",
    ),
    (
        CLUSTER_DROPPED,
        "Messages from Redis dropped because this node's dispatcher queue was full.",
    ),
    (
        CLUSTER_REAPED,
        "$disconnects this node delivered for connections of lost nodes.",
    ),
    (
        CLUSTER_EXPIRED,
        "Cross-node requests and fan-out messages dropped because they arrived after their deadline (their sender had answered 503).",
    ),
    (
        FANOUT,
        "Group-send and broadcast receivers on this node: queued, or dropped because their send queue was full.",
    ),
    (
        INTEGRATION_ERRORS,
        "Integration answers with a 4xx/5xx statusCode (AWS IntegrationError).",
    ),
    (
        EXECUTION_ERRORS,
        "Integration calls that failed or timed out (AWS ExecutionError), by kind: timeout, failed, and Lambda's function_error, throttled, service_error, too_large.",
    ),
    (
        HTTP_EXECUTION_ERRORS,
        "HTTP API: integration calls that failed or timed out, by kind (as sockgate_execution_errors_total).",
    ),
    (
        MANAGEMENT_REQUESTS,
        "Management API requests (@connections, @groups, @broadcast) by method and status.",
    ),
    (
        CONFIG_RELOADS,
        "Configuration reloads by outcome: applied, or rejected (the current configuration stays).",
    ),
    (
        FUNCTION_INVOCATIONS,
        "Hosted function invocations by outcome: response, function_error, timeout, worker_lost, too_large, and not run: throttled, abandoned.",
    ),
    (
        FUNCTION_RESTARTS,
        "Hosted function workers started again, by reason: exited (a crash), timeout (killed at its invocation's timeout).",
    ),
    (
        LISTENER_REFUSED,
        "Connections closed at accept because the listener or the source address holds its maximum.",
    ),
];

/// Registers every metric's help text (the `# HELP` lines).
pub(super) fn describe(r: &PrometheusRecorder) {
    let text = SharedString::const_str;
    for (name, unit, help) in GAUGE_HELP {
        r.describe_gauge((*name).into(), *unit, text(help));
    }
    r.describe_histogram(
        INTEGRATION_LATENCY.into(),
        Some(Unit::Seconds),
        text("Time from sending an integration request to its answer (AWS IntegrationLatency)."),
    );
    r.describe_histogram(
        HTTP_LATENCY.into(),
        Some(Unit::Seconds),
        text("HTTP API: time from a request's arrival to its answer's headers (AWS Latency)."),
    );
    r.describe_histogram(
        HTTP_INTEGRATION_LATENCY.into(),
        Some(Unit::Seconds),
        text("HTTP API: time the integration took (AWS IntegrationLatency)."),
    );
    for (name, help) in COUNTER_HELP {
        r.describe_counter((*name).into(), Some(Unit::Count), text(help));
    }
}
