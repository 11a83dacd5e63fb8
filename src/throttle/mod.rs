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
//! | plan, quota | API key in a usage plan: its bucket, then its quota | `[usage_plans.N]` |
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
pub mod quota;

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
    /// Requests with one API key of a usage plan (the plan's rate and burst).
    Plan,
    /// A usage plan's quota for the period is used up ("Limit Exceeded").
    Quota,
    /// Requests on one route of one stage.
    Route,
    /// Every request the node serves.
    Account,
}

impl Level {
    /// Metric labels, by `Level as usize`.
    pub const LABELS: [&'static str; 8] = [
        "connection",
        "ip",
        "api_key",
        "principal",
        "plan",
        "quota",
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
    /// Usage plans' buckets, by `PLAN KEY`.
    pub plan: KeyedBuckets,
    /// Usage plans' quotas, by `PLAN KEY`.
    pub quotas: quota::Quotas,
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
        self.plan.sweep(now);
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

/// A usage plan, as its keys' requests meet it.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Its name.
    pub name: String,
    /// Each key's bucket (`cluster` in it: counted in Redis).
    pub gcra: Option<Gcra>,
    /// Each key's quota.
    pub quota: Option<quota::Quota>,
    /// The quota is counted in Redis.
    pub cluster: bool,
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
    /// A quota to count instead of a bucket (`gcra` unused).
    pub quota: Option<quota::Quota>,
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
    /// The usage plan of the API key, with the key's name.
    pub plan: Option<(&'a Plan, &'a str)>,
    /// The route's bucket.
    pub route: Option<&'a RouteBucket>,
    /// Whether the account level counts this one (false for a second check
    /// of the same request, at the levels known only after its authorizer).
    pub account: bool,
}

/// A usage plan's bucket, then its quota, for one key (cluster ones deferred).
fn plan_levels(
    state: &ThrottleState,
    plan: &Plan,
    key: &str,
    now: u64,
    shared: &mut Vec<Shared>,
) -> Result<(), Level> {
    let id = format!("{} {key}", plan.name);
    if let Some(g) = &plan.gcra {
        if g.is_cluster() {
            shared.push(Shared {
                level: Level::Plan,
                key: format!("plan:{id}"),
                gcra: *g,
                quota: None,
            });
        } else if state.plan.allow(&id, g, now) != Keyed::Allowed {
            return Err(Level::Plan);
        }
    }
    let Some(q) = &plan.quota else {
        return Ok(());
    };
    let now_ms = crate::clock::now_ms();
    if plan.cluster {
        let (start, _) = quota::bounds(q.period, now_ms);
        shared.push(Shared {
            level: Level::Quota,
            key: format!("{id} {start}"),
            // Unused: a quota is counted, not bucketed.
            gcra: Gcra::new(Limit {
                rate: 1.0,
                burst: 1,
                cluster: true,
            }),
            quota: Some(*q),
        });
        return Ok(());
    }
    if state.quotas.take(&id, q, now_ms) {
        Ok(())
    } else {
        Err(Level::Quota)
    }
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
    let defer = |level: Level, name: &str, key: &str, gcra: &Gcra| Shared {
        level,
        key: format!("{name}:{key}"),
        gcra: *gcra,
        quota: None,
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
            shared.push(defer(level, name, key, &g));
        } else if buckets.allow(key, &g, now) != Keyed::Allowed {
            return Err(level);
        }
    }
    if let Some((plan, key)) = s.plan {
        plan_levels(state, plan, key, now, &mut shared)?;
    }
    if let Some(r) = s.route {
        if r.gcra.is_cluster() {
            shared.push(defer(Level::Route, "route", &r.name, &r.gcra));
        } else if !r.bucket.allow(&r.gcra, now) {
            return Err(Level::Route);
        }
    }
    if let (true, Some(g)) = (s.account, account) {
        if g.is_cluster() {
            shared.push(defer(Level::Account, "account", "", g));
        } else if !state.account.allow(g, now) {
            return Err(Level::Account);
        }
    }
    Ok(shared)
}
