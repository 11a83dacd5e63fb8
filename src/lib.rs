//! sockgate: a WebSocket-first realtime gateway, compatible with Amazon API
//! Gateway WebSocket APIs.
//!
//! # Layout
//!
//! - [`auth`]: management API authentication (SigV4, bearer tokens); `$connect`
//!   authorization.
//! - [`config`]: the validated configuration and loading it (TOML + `SOCKGATE_*`).
//! - [`server`]: listeners, accept loops, drain ([`server::Server`] is the entry point).
//! - [`http`]: what each listener serves: upgrades, @connections, probes; the one
//!   error → HTTP status mapping (`http::respond`).
//! - [`session`]: one task per live connection; the one reason → close-code mapping
//!   (`session::close`); ids; the per-connection mailbox.
//! - [`gateway`]: the lifecycle phases `on_connect`, `on_message`, `on_disconnect`.
//! - [`delivery`]: sends from outside a session (@connections, groups, broadcasts)
//!   and the node's group index.
//! - [`routing`]: selection expressions and route tables (pure).
//! - [`integration`]: `aws_proxy`, `http_proxy` and `mock` integrations, Lambda events.
//! - [`registry`]: live connections by id.
//! - [`cluster`]: several nodes joined through Redis (cross-node calls, group
//!   fan-out, liveness and reaping lost nodes).
//! - [`ws`]: RFC 6455 framing (decode client frames, encode server frames once).
//! - [`telemetry`]: metric names and handles; log setup.
//! - [`clock`]: AWS timestamp formats.
//!
//! Dependencies point inwards: `server → http → session → gateway → {routing,
//! integration, registry} → {config, telemetry, clock}`.
//!
//! # Concurrency
//!
//! One tokio task per connection owns its socket; everything else reaches a
//! connection through its `Arc<Connection>` (a short `std` mutex around its
//! outbound queue, never held across an `.await`). Backend calls run in their own
//! tasks and are bounded per connection and per node. Drain is a broadcast
//! `Notify` plus drop-counted task guards.

pub mod auth;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod conn;
pub mod delivery;
pub mod gateway;
pub mod http;
pub mod integration;
pub mod routing;
pub mod server;
pub mod session;
pub mod shutdown;
pub mod telemetry;
pub mod ws;

pub use config::Config;
pub use server::Server;
