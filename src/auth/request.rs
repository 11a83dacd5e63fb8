//! The request authorizer: an HTTP backend that receives the event a Lambda
//! REQUEST authorizer gets and answers like one.
//!
//! Answers: `{"principalId", "policyDocument", "context"}` (an IAM policy that
//! must Allow `execute-api:Invoke` on the `methodArn`, with no matching Deny),
//! or the simple `{"isAuthorized": bool, "context"}`. HTTP 401 (or the body
//! `"Unauthorized"`) is 401; 403 or a Deny is 403. Anything else — an error
//! status, garbage, no answer — fails closed: 502, or 504 on a timeout.
//!
//! Decisions are cached per stage, keyed by the identity-source values, for
//! `ttl`, in a map bounded at [`MAX_CACHED`] entries.

use crate::clock::{self, Instant};
use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use http_body_util::Full;
use serde_json::{Map, Value};

use super::{AuthContext, AuthFailure};
use crate::config::RequestAuthorizerConfig;
use crate::integration::{CallError, HttpClient};

/// Cached decisions per authorizer (memory bound: a cache key is at most a few
/// KiB of identity values, a decision its context).
pub const MAX_CACHED: usize = 10_000;
/// Largest authorizer answer read (AWS's result limit is 8 KB).
const MAX_ANSWER_BYTES: usize = 8 << 10;

#[derive(Clone)]
enum Decision {
    Allow(AuthContext),
    Deny,
}

/// One configured request authorizer.
#[derive(Debug)]
pub struct RequestAuthorizer {
    cfg: RequestAuthorizerConfig,
    cache: Mutex<HashMap<String, (Instant, CachedDecision)>>,
}

#[derive(Clone, Debug)]
struct CachedDecision(Option<AuthContext>);

impl RequestAuthorizer {
    /// Builds the authorizer.
    pub fn new(cfg: RequestAuthorizerConfig) -> RequestAuthorizer {
        RequestAuthorizer {
            cfg,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &RequestAuthorizerConfig {
        &self.cfg
    }

    /// Decides for identity values `key` (already checked present), calling the
    /// backend with `event` unless a cached decision is fresh.
    pub async fn authorize(
        &self,
        key: &str,
        event: Vec<u8>,
        method_arn: &str,
        client: &HttpClient,
    ) -> Result<AuthContext, AuthFailure> {
        if let Some(d) = self.cached(key) {
            return decided(d);
        }
        let req = http::Request::post(self.cfg.uri.as_str())
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(event)))
            .map_err(|_| AuthFailure::Failed("authorizer request could not be built"))?;
        let started = clock::now();
        let (status, body) = match client.send(req, self.cfg.timeout, MAX_ANSWER_BYTES).await {
            Ok(answer) => answer,
            Err(CallError::Timeout) => return Err(AuthFailure::Timeout),
            Err(CallError::Failed(_)) => return Err(AuthFailure::Failed("authorizer unreachable")),
        };
        let latency_ms = started.elapsed().as_millis() as u64;
        let decision = match status {
            200 => decide(&body, method_arn, latency_ms)?,
            401 => return Err(AuthFailure::Unauthorized("authorizer said Unauthorized")),
            403 => Decision::Deny,
            _ => return Err(AuthFailure::Failed("authorizer answered an error status")),
        };
        self.remember(key, &decision);
        decided(match decision {
            Decision::Allow(ctx) => CachedDecision(Some(ctx)),
            Decision::Deny => CachedDecision(None),
        })
    }

    fn cached(&self, key: &str) -> Option<CachedDecision> {
        if self.cfg.ttl.is_zero() {
            return None;
        }
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.cfg.ttl)
            .map(|(_, d)| d.clone())
    }

    fn remember(&self, key: &str, decision: &Decision) {
        if self.cfg.ttl.is_zero() {
            return;
        }
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= MAX_CACHED {
            let ttl = self.cfg.ttl;
            cache.retain(|_, (at, _)| at.elapsed() < ttl);
            if cache.len() >= MAX_CACHED {
                // Still full of fresh entries: start over rather than grow.
                cache.clear();
            }
        }
        let d = match decision {
            Decision::Allow(ctx) => CachedDecision(Some(ctx.clone())),
            Decision::Deny => CachedDecision(None),
        };
        cache.insert(key.to_owned(), (clock::now(), d));
    }
}

fn decided(d: CachedDecision) -> Result<AuthContext, AuthFailure> {
    d.0.ok_or(AuthFailure::Forbidden("authorizer denied"))
}

/// Reads a 200 answer.
fn decide(body: &[u8], method_arn: &str, latency_ms: u64) -> Result<Decision, AuthFailure> {
    let garbage = AuthFailure::Failed("authorizer answered garbage");
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) if body.trim_ascii() == b"Unauthorized" => {
            return Err(AuthFailure::Unauthorized("authorizer said Unauthorized"));
        }
        Err(_) => return Err(garbage),
    };
    if value.as_str() == Some("Unauthorized") {
        return Err(AuthFailure::Unauthorized("authorizer said Unauthorized"));
    }
    let Value::Object(obj) = value else {
        return Err(garbage);
    };
    let context = match obj.get("context") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(c))
            if c.values()
                .all(|v| v.is_string() || v.is_number() || v.is_boolean()) =>
        {
            c.clone()
        }
        Some(_) => return Err(garbage),
    };
    let allowed = match (obj.get("isAuthorized"), obj.get("policyDocument")) {
        (Some(Value::Bool(b)), _) => *b,
        (_, Some(policy)) => policy_allows(policy, method_arn).ok_or(garbage)?,
        _ => return Err(garbage),
    };
    if !allowed {
        return Ok(Decision::Deny);
    }
    let principal_id = match obj.get("principalId") {
        Some(Value::String(p)) => p.clone(),
        None | Some(Value::Null) => String::new(),
        Some(_) => return Err(AuthFailure::Failed("authorizer answered garbage")),
    };
    // As AWS passes it: principalId, the context keys flattened, integrationLatency.
    let mut authorizer = context;
    authorizer.insert("principalId".into(), Value::String(principal_id.clone()));
    authorizer.insert("integrationLatency".into(), Value::from(latency_ms));
    Ok(Decision::Allow(AuthContext {
        principal_id,
        authorizer: Value::Object(authorizer),
    }))
}

/// Whether an IAM policy allows `execute-api:Invoke` on `arn` (a Deny wins).
/// `None` when it is not a policy document.
fn policy_allows(policy: &Value, arn: &str) -> Option<bool> {
    let statements = match policy.get("Statement")? {
        Value::Array(s) => s.clone(),
        single @ Value::Object(_) => vec![single.clone()],
        _ => return None,
    };
    let list = |v: Option<&Value>| -> Option<Vec<String>> {
        match v? {
            Value::String(s) => Some(vec![s.clone()]),
            Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect(),
            _ => None,
        }
    };
    let (mut allow, mut deny) = (false, false);
    for st in &statements {
        let effect = st.get("Effect")?.as_str()?;
        let actions = list(st.get("Action"))?;
        let resources = list(st.get("Resource"))?;
        let action_ok = actions
            .iter()
            .any(|a| matches!(a.as_str(), "*" | "execute-api:*" | "execute-api:Invoke"));
        let resource_ok = resources.iter().any(|r| glob(r, arn));
        if action_ok && resource_ok {
            match effect {
                e if e.eq_ignore_ascii_case("allow") => allow = true,
                e if e.eq_ignore_ascii_case("deny") => deny = true,
                _ => return None,
            }
        }
    }
    Some(allow && !deny)
}

/// IAM-style matching: `*` matches any run of characters, `?` one.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:execute-api:local:000000000000:sockgate/prod/$connect";

    #[test]
    fn policies_allow_deny_and_garbage() {
        let allow = |resource: &str| {
            serde_json::json!({"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": resource}]})
        };
        assert_eq!(policy_allows(&allow(ARN), ARN), Some(true));
        assert_eq!(
            policy_allows(&allow("arn:aws:execute-api:*:*:sockgate/prod/*"), ARN),
            Some(true)
        );
        assert_eq!(
            policy_allows(&allow("arn:aws:execute-api:*:*:sockgate/dev/*"), ARN),
            Some(false)
        );
        let both = serde_json::json!({"Statement": [
            {"Action": "*", "Effect": "Allow", "Resource": "*"},
            {"Action": ["execute-api:Invoke"], "Effect": "Deny", "Resource": [ARN]}]});
        assert_eq!(policy_allows(&both, ARN), Some(false), "Deny wins");
        assert_eq!(
            policy_allows(&serde_json::json!({"Statement": 3}), ARN),
            None
        );
        assert_eq!(
            policy_allows(
                &serde_json::json!({"Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]}),
                ARN
            ),
            None
        );
    }

    #[test]
    fn answers_are_read_strictly() {
        let ok = br#"{"principalId":"u1","isAuthorized":true,"context":{"tenant":"acme","n":1}}"#;
        match decide(ok, ARN, 3) {
            Ok(Decision::Allow(ctx)) => {
                assert_eq!(ctx.principal_id, "u1");
                assert_eq!(ctx.authorizer["tenant"], "acme");
                assert_eq!(ctx.authorizer["integrationLatency"], 3);
            }
            _ => panic!("allowed"),
        }
        assert!(matches!(
            decide(br#"{"isAuthorized":false}"#, ARN, 0),
            Ok(Decision::Deny)
        ));
        assert!(matches!(
            decide(b"\"Unauthorized\"", ARN, 0),
            Err(AuthFailure::Unauthorized(_))
        ));
        for garbage in [
            &b"<html>"[..],
            b"[]",
            b"{}",
            br#"{"isAuthorized":true,"context":{"deep":{}}}"#,
            br#"{"isAuthorized":true,"principalId":5}"#,
        ] {
            assert!(
                matches!(decide(garbage, ARN, 0), Err(AuthFailure::Failed(_))),
                "{:?}",
                String::from_utf8_lossy(garbage)
            );
        }
    }

    #[test]
    fn globs() {
        assert!(glob("a*c", "abbbc"));
        assert!(glob("*", ""));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a*d", "abc"));
        assert!(!glob("", "a"));
    }
}
