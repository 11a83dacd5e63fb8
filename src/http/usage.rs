//! `GET /@usage-plans/{plan}/keys/{key}` on the management listener: how much
//! of its usage plan's quota an API key has used this period, and when the
//! period ends (AWS's `GetUsage`, for one key and the current period):
//!
//! ```json
//! {"plan":"gold","key":"mobile","quota":{"limit":1000,"period":"DAY",
//!  "used":12,"remaining":988,"resetsAt":"2026-12-02T00:00:00.000Z"}}
//! ```
//!
//! `quota` is `null` for a plan without one. A cluster plan's count is read
//! from Redis (503 when it cannot be reached).

use http::{HeaderValue, Response, StatusCode, header};
use serde_json::json;

use super::respond::{ApiError, Body};
use crate::clock;
use crate::gateway::Gateway;
use crate::snapshot::Snapshot;
use crate::throttle::quota::bounds;

/// Answers for `key` of `plan` (404 when the key is not in that plan).
pub async fn usage(
    gw: &Gateway,
    snap: &Snapshot,
    plan: &str,
    key: &str,
) -> Result<Response<Body>, ApiError> {
    let p = snap
        .plans
        .get(key)
        .filter(|p| p.name == plan)
        .ok_or(ApiError::NotFound)?;
    let quota = match &p.quota {
        None => serde_json::Value::Null,
        Some(q) => {
            let now = clock::now_ms();
            let (start, end) = bounds(q.period, now);
            let id = format!("{plan} {key}");
            let used = match gw.delivery().cluster() {
                Some(c) if p.cluster => c
                    .quota_used(&format!("{id} {start}"))
                    .await
                    .map_err(|_| ApiError::Unavailable)?,
                _ => gw.throttles().quotas.used(&id, q, now),
            };
            json!({
                "limit": q.limit,
                "period": q.period.name(),
                "used": used,
                "remaining": q.limit.saturating_sub(used),
                "resetsAt": clock::iso8601(end),
            })
        }
    };
    let body = json!({ "plan": plan, "key": key, "quota": quota }).to_string();
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}
