//! `[throttle]`, `[stages.NAME.throttle]` and a route's `throttle`: token
//! buckets as AWS configures them (a rate per second and a burst), applied by
//! `throttle`.

use super::StageThrottle;
use super::reader::Section;
use crate::throttle::Limit;

/// Highest rate or burst accepted (far above what one node serves; a typo
/// like a missing decimal point is caught).
const MAX: i64 = 10_000_000;

/// `rate` and `burst` of a table, both required when it is present.
fn limit_in(s: &mut Section<'_>) -> Option<Limit> {
    let rate = s.number("rate", 0.0, MAX as f64);
    let burst = s.int("burst", 0, MAX);
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

/// `[throttle]`: the node's account-level limit.
pub(super) fn read_account(mut s: Section<'_>) -> Option<Limit> {
    if !s.is_present() {
        return None;
    }
    let limit = limit_in(&mut s);
    s.finish();
    limit
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
