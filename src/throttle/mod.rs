//! Throttling: AWS's token buckets at its levels, and the levels AWS lacks.
//!
//! A request (an HTTP request, a WebSocket message, a `$connect`) takes one
//! token from each level that applies, in this order, and is throttled by the
//! first that has none:
//!
//! | level | bucket per | configured in |
//! |---|---|---|
//! | connection | WebSocket connection (its messages) | `[stages.N.throttle] per_connection` |
//! | ip | source IP | `per_ip` |
//! | api_key | API key | `per_api_key` |
//! | principal | authorizer principal (JWT `sub`, `principalId`) | `per_principal` |
//! | route | route of a stage (AWS's route settings; the stage's `rate`/`burst` are every route's default, as AWS's `DefaultRouteSettings`) | a route's `throttle`, `[stages.N.throttle]` |
//! | account | the node (AWS's account level) | `[throttle]` |
//!
//! Tokens taken at earlier levels are not given back when a later level
//! throttles (as AWS's levels behave: each counts what reached it). A
//! client's bucket (ip, api_key, principal) is the node's, not the stage's:
//! its requests to every stage draw on it, each stage with its own limit.
//!
//! Where the state lives: keyed levels and the account bucket are node-wide
//! ([`ThrottleState`], kept across reloads); a route's bucket lives with the
//! route in the config snapshot, so a reload starts route buckets full; a
//! connection's lives with the connection. This node's buckets are this
//! node's: with several nodes behind a balancer, each admits its own limit.

pub mod gcra;
pub mod keyed;

pub use gcra::{Bucket, Gcra, Limit};
pub use keyed::{Keyed, KeyedBuckets};

/// A throttling level, in the order they are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Messages of one WebSocket connection.
    Connection,
    /// Requests from one source IP.
    Ip,
    /// Requests with one API key.
    ApiKey,
    /// Requests of one authorizer principal.
    Principal,
    /// Requests on one route of one stage.
    Route,
    /// Every request the node serves.
    Account,
}

impl Level {
    /// Metric labels, by `Level as usize`.
    pub const LABELS: [&'static str; 6] = [
        "connection",
        "ip",
        "api_key",
        "principal",
        "route",
        "account",
    ];
}

/// Node-wide buckets (kept across reloads).
#[derive(Debug, Default)]
pub struct ThrottleState {
    /// `[throttle]`.
    pub account: Bucket,
    /// `per_ip`, by address.
    pub ip: KeyedBuckets,
    /// `per_api_key`, by the key's name.
    pub api_key: KeyedBuckets,
    /// `per_principal`, by principal.
    pub principal: KeyedBuckets,
    /// What cluster limits fall back to while Redis is unreachable (fail-open):
    /// this node's share, by the cluster bucket's name.
    pub fallback: KeyedBuckets,
}

impl ThrottleState {
    /// Forgets keys whose buckets are full again (housekeeping).
    pub fn sweep(&self, now: u64) {
        self.ip.sweep(now);
        self.api_key.sweep(now);
        self.principal.sweep(now);
        self.fallback.sweep(now);
    }
}

/// A stage's per-client limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientLimits {
    /// Per WebSocket connection.
    pub connection: Option<Gcra>,
    /// Per source IP.
    pub ip: Option<Gcra>,
    /// Per API key.
    pub api_key: Option<Gcra>,
    /// Per authorizer principal.
    pub principal: Option<Gcra>,
}

/// A route's bucket and its limit.
#[derive(Debug)]
pub struct RouteBucket {
    /// The route's limit (its own, or the stage's default).
    pub gcra: Gcra,
    /// Its bucket (on this node).
    pub bucket: Bucket,
    /// `STAGE ROUTEKEY`: its name in the cluster's Redis.
    pub name: String,
}

/// A level whose limit is the cluster's: decided in Redis, after every
/// node-local level has passed.
#[derive(Debug, Clone, PartialEq)]
pub struct Shared {
    /// Which level.
    pub level: Level,
    /// Its bucket's name (`LEVEL:KEY`).
    pub key: String,
    /// Its limit.
    pub gcra: Gcra,
}

/// Who and what one request is, for the levels that need it.
#[derive(Debug, Default, Clone, Copy)]
pub struct Subject<'a> {
    /// The connection's own bucket (WebSocket messages).
    pub connection: Option<&'a Bucket>,
    /// `identity.sourceIp`.
    pub ip: Option<&'a str>,
    /// The API key's name.
    pub api_key: Option<&'a str>,
    /// The authorizer's principal.
    pub principal: Option<&'a str>,
    /// The route's bucket.
    pub route: Option<&'a RouteBucket>,
    /// Whether the account level counts this one (false for a second check
    /// of the same request, at the levels known only after its authorizer).
    pub account: bool,
}

/// Takes a token at every node-local level that applies; the level that
/// throttled, or the cluster-wide levels still to decide (in order; empty
/// when there are none).
pub fn check(
    state: &ThrottleState,
    account: Option<&Gcra>,
    limits: &ClientLimits,
    s: &Subject<'_>,
    now: u64,
) -> Result<Vec<Shared>, Level> {
    let mut shared = Vec::new();
    let mut defer = |level: Level, name: &str, key: &str, gcra: &Gcra| {
        shared.push(Shared {
            level,
            key: format!("{name}:{key}"),
            gcra: *gcra,
        });
    };
    if let (Some(b), Some(g)) = (s.connection, limits.connection.as_ref())
        && !b.allow(g, now)
    {
        return Err(Level::Connection);
    }
    let keyed = [
        (&state.ip, s.ip, limits.ip, Level::Ip, "ip"),
        (
            &state.api_key,
            s.api_key,
            limits.api_key,
            Level::ApiKey,
            "key",
        ),
        (
            &state.principal,
            s.principal,
            limits.principal,
            Level::Principal,
            "principal",
        ),
    ];
    for (buckets, key, gcra, level, name) in keyed {
        let (Some(key), Some(g)) = (key, gcra) else {
            continue;
        };
        if g.is_cluster() {
            defer(level, name, key, &g);
        } else if buckets.allow(key, &g, now) != Keyed::Allowed {
            return Err(level);
        }
    }
    if let Some(r) = s.route {
        if r.gcra.is_cluster() {
            defer(Level::Route, "route", &r.name, &r.gcra);
        } else if !r.bucket.allow(&r.gcra, now) {
            return Err(Level::Route);
        }
    }
    if let (true, Some(g)) = (s.account, account) {
        if g.is_cluster() {
            defer(Level::Account, "account", "", g);
        } else if !state.account.allow(g, now) {
            return Err(Level::Account);
        }
    }
    Ok(shared)
}
