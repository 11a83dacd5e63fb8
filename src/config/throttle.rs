//! `[throttle]`, `[stages.NAME.throttle]` and a route's `throttle`: token
//! buckets as AWS configures them (a rate per second and a burst), applied by
//! `throttle`.

use super::reader::Section;

/// `[throttle]`: the account level, and what cluster-wide limits do while
/// Redis cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThrottleConfig {
    /// `rate`, `burst`: every request and message the node (or, with
    /// `scope = "cluster"`, the cluster) serves (AWS's account level).
    pub account: Option<Limit>,
    /// `on_redis_down = "open"` (the default): a cluster limit falls back to
    /// this node's share (the limit divided by the live nodes); `"closed"`:
    /// it throttles everything until Redis answers.
    pub fail_open: bool,
}

/// `[usage_plans.NAME]`: AWS's usage plan — a throttle and a quota for each of
/// its API keys, counted across every stage the key opens.
#[derive(Debug, Clone, PartialEq)]
pub struct UsagePlan {
    /// Its name.
    pub name: String,
    /// `rate`, `burst`: each key's bucket.
    pub throttle: Option<Limit>,
    /// `quota = { limit, period, offset }`: each key's requests per period.
    pub quota: Option<Quota>,
    /// `scope = "cluster"`: the bucket and the quota are counted in Redis.
    pub cluster: bool,
    /// The names of its API keys (each in one plan at most).
    pub keys: Vec<String>,
}

/// A stage's throttling: the limit of each of its routes unless the route has
/// its own (AWS's `DefaultRouteSettings`), and limits per client.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageThrottle {
    /// `rate` and `burst`: each route's bucket, unless it sets its own.
    pub route_default: Option<Limit>,
    /// `per_connection`: messages of one WebSocket connection.
    pub per_connection: Option<Limit>,
    /// `per_ip`: requests and messages from one source IP.
    pub per_ip: Option<Limit>,
    /// `per_api_key`: requests and messages with one API key.
    pub per_api_key: Option<Limit>,
    /// `per_principal`: requests and messages of one authorizer principal.
    pub per_principal: Option<Limit>,
}

/// Highest rate or burst accepted (far above what one node serves; a typo
/// like a missing decimal point is caught).
const MAX: i64 = 10_000_000;

/// `rate` and `burst` of a table, both required when it is present, and its
/// `scope`: "node" (the default: each node its own bucket) or "cluster" (one
/// bucket in Redis for every node; needs `[cluster]`).
fn limit_in(s: &mut Section<'_>) -> Option<Limit> {
    let rate = s.number("rate", 0.0, MAX as f64);
    let burst = s.int("burst", 0, MAX);
    let cluster = match s.string("scope") {
        None | Some("node") => false,
        Some("cluster") => true,
        Some(other) => {
            s.error("scope", format!("{other:?} is not \"node\" or \"cluster\""));
            false
        }
    };
    for (key, missing) in [("rate", rate.is_none()), ("burst", burst.is_none())] {
        if missing && !s.has(key) {
            s.error(
                key,
                "missing: a limit needs both rate (per second) and burst",
            );
        }
    }
    Some(Limit {
        rate: rate?,
        burst: burst? as u32,
        cluster,
    })
}

/// A `{ rate, burst }` table under `key`; `None` when absent or invalid
/// (invalid is reported).
pub(super) fn read_limit(s: &mut Section<'_>, key: &str) -> Option<Limit> {
    let mut t = s.section(key);
    if !t.is_present() {
        return None;
    }
    let limit = limit_in(&mut t);
    t.finish();
    limit
}

/// `[throttle]`: the account-level limit (when `rate` or `burst` is set) and
/// the fail mode of cluster limits.
pub(super) fn read_account(mut s: Section<'_>) -> ThrottleConfig {
    let account = (s.has("rate") || s.has("burst"))
        .then(|| limit_in(&mut s))
        .flatten();
    let fail_open = match s.string("on_redis_down") {
        None | Some("open") => true,
        Some("closed") => false,
        Some(other) => {
            s.error(
                "on_redis_down",
                format!("{other:?} is not \"open\" or \"closed\""),
            );
            true
        }
    };
    s.finish();
    ThrottleConfig { account, fail_open }
}

/// `[stages.NAME.throttle]`: the default for each route, and per-client limits.
pub(super) fn read_stage(mut s: Section<'_>) -> StageThrottle {
    if !s.is_present() {
        return StageThrottle::default();
    }
    let route_default = (s.has("rate") || s.has("burst"))
        .then(|| limit_in(&mut s))
        .flatten();
    let t = StageThrottle {
        route_default,
        per_connection: read_limit(&mut s, "per_connection"),
        per_ip: read_limit(&mut s, "per_ip"),
        per_api_key: read_limit(&mut s, "per_api_key"),
        per_principal: read_limit(&mut s, "per_principal"),
    };
    s.finish();
    t
}

/// Every limit that holds for the cluster, by where it is written.
pub(super) fn cluster_limits(cfg: &super::Config) -> Vec<String> {
    let mut out = Vec::new();
    if cfg.throttle.account.is_some_and(|l| l.cluster) {
        out.push("throttle".to_owned());
    }
    for plan in cfg.usage_plans.iter().filter(|p| p.cluster) {
        out.push(format!("usage_plans.{}", plan.name));
    }
    for st in &cfg.stages {
        let t = &st.throttle;
        let stage_level = [t.route_default, t.per_ip, t.per_api_key, t.per_principal];
        if stage_level.iter().flatten().any(|l| l.cluster) {
            out.push(format!("stages.{}.throttle", st.name));
        }
    }
    let routes = cfg.routes.iter().map(|r| (&r.key, r.throttle));
    let http = cfg.http_routes.iter().map(|r| (&r.key, r.throttle));
    for (key, limit) in routes.chain(http) {
        if limit.is_some_and(|l| l.cluster) {
            out.push(format!("route {key:?} throttle"));
        }
    }
    out
}

/// `[usage_plans.NAME]`, checked against the stages' API keys.
pub(super) fn read_plans(
    entries: Vec<(String, Section<'_>)>,
    stages: Option<&[super::StageConfig]>,
) -> Vec<UsagePlan> {
    let mut seen: Vec<String> = Vec::new();
    let mut plans = Vec::new();
    for (name, mut s) in entries {
        let throttle = (s.has("rate") || s.has("burst"))
            .then(|| limit_in(&mut s))
            .flatten();
        let cluster = s.string("scope") == Some("cluster");
        let quota = read_quota(&mut s);
        let keys = s.string_list("keys");
        if keys.is_empty() {
            s.error("keys", "missing: the API key names the plan covers");
        }
        for key in &keys {
            let known = stages.is_none_or(|st| {
                st.iter()
                    .any(|stage| stage.api_keys.iter().any(|(n, _)| n == key))
            });
            if !known {
                s.error("keys", format!("{key:?} is not in any stage's api_keys"));
            } else if seen.contains(key) {
                s.error("keys", format!("{key:?} is already in another plan"));
            }
            seen.push(key.clone());
        }
        s.finish();
        plans.push(UsagePlan {
            name,
            throttle,
            quota,
            cluster,
            keys,
        });
    }
    plans
}

/// `quota = { limit, period = "DAY" | "WEEK" | "MONTH", offset }`.
fn read_quota(s: &mut Section<'_>) -> Option<Quota> {
    let mut q = s.section("quota");
    if !q.is_present() {
        return None;
    }
    let limit = q.int("limit", 1, i64::MAX);
    let offset = q.int("offset", 0, 6).unwrap_or(0) as u8;
    let period = match q.string("period") {
        Some("DAY") => Some(Period::Day),
        Some("WEEK") => Some(Period::Week(offset)),
        Some("MONTH") => Some(Period::Month),
        other => {
            let got = other.map_or("missing".to_owned(), |o| format!("{o:?} is not"));
            q.error("period", format!("{got} DAY, WEEK or MONTH"));
            None
        }
    };
    if limit.is_none() && !q.has("limit") {
        q.error("limit", "missing: requests per period");
    }
    q.finish();
    Some(Quota {
        limit: limit? as u64,
        period: period?,
    })
}

/// A limit as configured: AWS's `ThrottlingRateLimit` and `ThrottlingBurstLimit`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    /// Requests per second, sustained.
    pub rate: f64,
    /// Requests at once from a full bucket.
    pub burst: u32,
    /// Whether the limit holds for the cluster (one bucket in Redis) rather
    /// than for each node.
    pub cluster: bool,
}

/// How long a quota counts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// A UTC day.
    Day,
    /// A week starting on `offset` (0 = Sunday).
    Week(u8),
    /// A calendar month.
    Month,
}

impl Period {
    /// AWS's name.
    pub fn name(self) -> &'static str {
        match self {
            Period::Day => "DAY",
            Period::Week(_) => "WEEK",
            Period::Month => "MONTH",
        }
    }
}

/// A usage plan's quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Requests per period.
    pub limit: u64,
    /// The period.
    pub period: Period,
}
