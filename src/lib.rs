//! sockgate: a WebSocket-first realtime gateway, compatible with Amazon API
//! Gateway WebSocket APIs.
//!
//! # Layout
//!
//! From the outside in; a module imports only modules below it.
//!
//! - [`cli`]: what the binary does besides serving (`sockgate reload`).
//! - [`server`]: listeners, accept loops and their caps, reload on SIGHUP,
//!   drain. [`Server`] is the entry point.
//! - [`dashboard`]: the operator's page on the management listener — live
//!   figures sampled from the node's own `/metrics`, a connection looked up on
//!   any node, groups — and its guard; other management paths go to `http`.
//! - [`http`]: what each listener serves — the request head made canonical
//!   (`http::head`) and its client found (`http::peer`), upgrades, the HTTP
//!   API, the management API, probes — and the one error → HTTP status
//!   mapping (`http::respond`).
//! - [`session`]: one task per live connection, owning its socket.
//! - [`gateway`]: the lifecycle phases (connect, message, disconnect) and the
//!   runtime state they share; what the cluster asks of this node.
//! - [`snapshot`]: the reloadable configuration, compiled (stages, routes,
//!   authorizers): one immutable generation, swapped whole; the compile step
//!   (`snapshot::compile`: each route's integration with each stage's
//!   variables, mock templates, mappings) and its checks (`snapshot::check`).
//! - [`delivery`]: sends from outside a session (@connections, groups,
//!   broadcasts): this node's registry and group index, and its cluster link.
//! - [`cluster`]: several nodes joined through Redis (one server, or a Redis
//!   Cluster); it reaches its node only through the narrow [`cluster::Node`] trait.
//! - [`auth`]: management API authentication (SigV4, bearer tokens); the
//!   checks before `$connect` (admission, API keys, JWT and request authorizers).
//! - [`integration`]: the one compiled integration model
//!   (`integration::model`) of `aws_proxy` (to a URL or an AWS Lambda
//!   function), `http_proxy` and `mock`; the Lambda events; the one event delivery path
//!   (`integration::target`) every event-carrying call takes; the backend
//!   pool and the fair shares of its slots.
//! - [`functions`]: the Lambda functions a node hosts — the Runtime API
//!   each worker polls, the workers' processes and their supervision, the
//!   bounded invocations (`target::deliver`'s hosted arm calls it).
//! - Leaves, importing nothing of the above: [`config`] (parsed and checked
//!   data; what must load or compile is checked by `snapshot::check`),
//!   [`authority`] (what a `host[:port]` may be, shared by `config`,
//!   `routing` and `http`),
//!   [`telemetry`] (metric names and handles, bounded logs), [`conn`] (the
//!   connection model: ids, mailbox, close reasons, group keys), [`routing`]
//!   (selection expressions, route tables, the canonical request path, query
//!   decoding, integration URIs, parameter mapping), [`ws`] (RFC 6455
//!   framing, permessage-deflate), [`tls`], [`throttle`] (token buckets, quotas), [`validation`]
//!   (JSON Schema checks), [`clock`] (the only reader of clocks), [`alarm`]
//!   (one reusable timer), [`shutdown`], [`sigv4`] (AWS Signature Version
//!   4: the management API's check, and Lambda calls' signature), [`trace`]
//!   (trace context: X-Ray's and W3C's headers, one trace id).
//!
//! # Concurrency
//!
//! One tokio task per connection owns its socket; everything else reaches a
//! connection through its `Arc<Connection>` (a short `std` mutex around its
//! outbound queue, never held across an `.await`). Backend calls run in their own
//! tasks and are bounded per connection and per node. Drain is a broadcast
//! `Notify` plus drop-counted task guards.

pub mod alarm;
pub mod auth;
pub mod authority;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod conn;
pub mod dashboard;
pub mod delivery;
pub mod functions;
pub mod gateway;
pub mod http;
pub mod integration;
pub mod routing;
pub mod server;
pub mod session;
pub mod shutdown;
pub mod sigv4;
pub mod snapshot;
pub mod telemetry;
pub mod throttle;
pub mod tls;
pub mod trace;
pub mod validation;
pub mod ws;

pub use config::Config;
pub use server::Server;
