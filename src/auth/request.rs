//! The request authorizer: a Lambda function, or an HTTP backend that
//! receives the event a Lambda REQUEST authorizer gets and answers like one.
//!
//! Answers: `{"principalId", "policyDocument", "context"}` (an IAM policy that
//! must Allow `execute-api:Invoke` on the `methodArn`, with no matching Deny),
//! or the simple `{"isAuthorized": bool, "context"}`. HTTP 401 (or the body
//! `"Unauthorized"`, or a function error whose `errorMessage` is
//! `Unauthorized`, as Lambda authorizers signal it) is 401; 403 or a Deny is 403. Anything else — an error
//! status, garbage, no answer — fails closed: 502, or 504 on a timeout.
//!
//! Answers are cached, keyed by the identity-source values (and the stage),
//! for `ttl`, in a map bounded at [`MAX_CACHED`] entries. What is cached is
//! the answer, not the verdict: an IAM policy is evaluated against each
//! request's own ARN, as AWS does — so a policy that allows one route's ARN,
//! cached, denies another's (the well-known AWS pitfall: write policies with
//! wildcards, or add `$context.routeKey` to the identity sources).

use crate::clock::{self, Instant};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde_json::{Map, Value};

use super::{AuthContext, AuthFailure, Granted};
use crate::config::RequestAuthorizerConfig;
use crate::integration::target::deliver;
use crate::integration::{CallError, HttpClient};

/// Cached answers per authorizer (memory bound: a cache key is at most a few
/// KiB of identity values, an answer at most [`MAX_ANSWER_BYTES`]).
pub const MAX_CACHED: usize = 10_000;
/// Largest authorizer answer read (AWS's result limit is 8 KB).
const MAX_ANSWER_BYTES: usize = 8 << 10;

/// A 200 answer, read.
#[derive(Clone, Debug)]
enum Answer {
    /// `{"isAuthorized": …}`, an IAM policy, or a 403.
    Verdict {
        allow: Allow,
        principal_id: String,
        context: Map<String, Value>,
        latency_ms: u64,
    },
    /// HTTP 401 or `"Unauthorized"`.
    Unauthorized,
}

#[derive(Clone, Debug)]
enum Allow {
    /// A simple response, or a 403 (`Simple(false)`).
    Simple(bool),
    /// An IAM policy, evaluated per ARN.
    Policy(Arc<Value>),
}

/// One configured request authorizer.
#[derive(Debug)]
pub struct RequestAuthorizer {
    cfg: RequestAuthorizerConfig,
    cache: Mutex<HashMap<String, (Instant, Answer)>>,
}

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

    /// Decides for the identity `values` (already checked present) on
    /// `stage` and the resource `arn`, calling the backend with `event()`
    /// unless a cached answer for those values is fresh.
    pub async fn authorize(
        &self,
        stage: &str,
        values: &[String],
        event: impl FnOnce() -> Vec<u8>,
        arn: &str,
        client: &HttpClient,
        trace: &crate::trace::Trace,
    ) -> Result<AuthContext, AuthFailure> {
        let key = cache_key(stage, values);
        let answer = match self.cached(&key) {
            Some(a) => a,
            None => {
                let a = self.ask(event(), client, trace).await?;
                self.remember(&key, &a);
                a
            }
        };
        judge(answer, arn)
    }

    async fn ask(
        &self,
        event: Vec<u8>,
        client: &HttpClient,
        trace: &crate::trace::Trace,
    ) -> Result<Answer, AuthFailure> {
        let started = clock::now();
        let (backend, timeout) = (&self.cfg.backend, self.cfg.timeout);
        let sent = deliver(
            client,
            backend,
            timeout,
            Bytes::from(event),
            &[],
            trace,
            MAX_ANSWER_BYTES,
        );
        let answer = match sent.await {
            Ok(answer) => answer,
            Err(CallError::Timeout) => return Err(AuthFailure::Timeout),
            Err(_) => return Err(AuthFailure::Failed("authorizer unreachable")),
        };
        let latency_ms = started.elapsed().as_millis() as u64;
        if answer.function_error {
            // A Lambda authorizer refuses with `raise Exception("Unauthorized")`.
            return match serde_json::from_slice::<Value>(&answer.body) {
                Ok(e) if e.get("errorMessage").is_some_and(|m| m == "Unauthorized") => {
                    Ok(Answer::Unauthorized)
                }
                _ => Err(AuthFailure::Failed("the authorizer function failed")),
            };
        }
        match answer.status {
            200 => read(&answer.body, latency_ms),
            401 => Ok(Answer::Unauthorized),
            403 => Ok(Answer::Verdict {
                allow: Allow::Simple(false),
                principal_id: String::new(),
                context: Map::new(),
                latency_ms,
            }),
            _ => Err(AuthFailure::Failed("authorizer answered an error status")),
        }
    }

    fn cached(&self, key: &str) -> Option<Answer> {
        if self.cfg.ttl.is_zero() {
            return None;
        }
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.cfg.ttl)
            .map(|(_, a)| a.clone())
    }

    fn remember(&self, key: &str, answer: &Answer) {
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
        cache.insert(key.to_owned(), (clock::now(), answer.clone()));
    }
}

/// The cache key of identity values on a stage: each part preceded by its
/// length, so two different lists never make one key, whatever bytes the
/// values hold (joining them with a separator let `a=alice&b=R%00y` and
/// `a=alice%00R&b=y` share an answer).
fn cache_key(stage: &str, values: &[String]) -> String {
    let mut key =
        String::with_capacity(stage.len() + values.iter().map(|v| v.len() + 8).sum::<usize>() + 8);
    for part in std::iter::once(stage).chain(values.iter().map(String::as_str)) {
        key.push_str(&part.len().to_string());
        key.push(':');
        key.push_str(part);
    }
    key
}

/// The verdict of an answer on the resource `arn`.
fn judge(answer: Answer, arn: &str) -> Result<AuthContext, AuthFailure> {
    let Answer::Verdict {
        allow,
        principal_id,
        context,
        latency_ms,
    } = answer
    else {
        return Err(AuthFailure::Unauthorized("authorizer said Unauthorized"));
    };
    let allowed = match allow {
        Allow::Simple(b) => b,
        Allow::Policy(p) => policy_allows(&p, arn) == Some(true),
    };
    if !allowed {
        return Err(AuthFailure::Forbidden("authorizer denied"));
    }
    Ok(AuthContext {
        principal_id,
        granted: Granted::Lambda {
            context,
            latency_ms,
        },
    })
}

/// Reads a 200 answer (an IAM policy that is not one is garbage: checked here
/// once, against no resource, so later evaluations cannot fail).
fn read(body: &[u8], latency_ms: u64) -> Result<Answer, AuthFailure> {
    let garbage = AuthFailure::Failed("authorizer answered garbage");
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) if body.trim_ascii() == b"Unauthorized" => return Ok(Answer::Unauthorized),
        Err(_) => return Err(garbage),
    };
    if value.as_str() == Some("Unauthorized") {
        return Ok(Answer::Unauthorized);
    }
    let Value::Object(mut obj) = value else {
        return Err(garbage);
    };
    let context = match obj.remove("context") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(c))
            if c.values()
                .all(|v| v.is_string() || v.is_number() || v.is_boolean()) =>
        {
            c
        }
        Some(_) => return Err(garbage),
    };
    let allow = match (obj.remove("isAuthorized"), obj.remove("policyDocument")) {
        (Some(Value::Bool(b)), _) => Allow::Simple(b),
        (_, Some(policy)) => {
            policy_allows(&policy, "").ok_or(garbage)?;
            Allow::Policy(Arc::new(policy))
        }
        _ => return Err(garbage),
    };
    let principal_id = match obj.remove("principalId") {
        Some(Value::String(p)) => p,
        None | Some(Value::Null) => String::new(),
        Some(_) => return Err(garbage),
    };
    Ok(Answer::Verdict {
        allow,
        principal_id,
        context,
        latency_ms,
    })
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
    fn cache_keys_of_different_identities_differ() {
        let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let pairs = [
            (
                ("prod", v(&["alice", "R\0y"])),
                ("prod", v(&["alice\0R", "y"])),
            ),
            (("prod", v(&["a", "b"])), ("prod", v(&["a:b"]))),
            (("prod", v(&["1:a"])), ("prod", v(&["1", "a"]))),
            (("prod\0a", v(&["b"])), ("prod", v(&["a\0b"]))),
            (("p", v(&["", "x"])), ("p", v(&["x", ""]))),
        ];
        for ((s1, v1), (s2, v2)) in pairs {
            assert_ne!(cache_key(s1, &v1), cache_key(s2, &v2), "{v1:?} {v2:?}");
        }
        assert_eq!(cache_key("p", &v(&["x"])), cache_key("p", &v(&["x"])));
    }

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

    fn decide(body: &[u8], arn: &str, latency_ms: u64) -> Result<AuthContext, AuthFailure> {
        judge(read(body, latency_ms)?, arn)
    }

    #[test]
    fn answers_are_read_strictly() {
        let ok = br#"{"principalId":"u1","isAuthorized":true,"context":{"tenant":"acme","n":1}}"#;
        let ctx = decide(ok, ARN, 3).expect("allowed");
        assert_eq!(ctx.principal_id, "u1");
        assert_eq!(ctx.websocket()["tenant"], "acme");
        assert_eq!(ctx.websocket()["integrationLatency"], 3);
        assert!(matches!(
            decide(br#"{"isAuthorized":false}"#, ARN, 0),
            Err(AuthFailure::Forbidden(_))
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
    fn a_cached_policy_is_judged_per_resource() {
        let policy = br#"{"principalId":"u","policyDocument":{"Statement":[
            {"Action":"execute-api:Invoke","Effect":"Allow","Resource":"arn:aws:execute-api:*:*:api/prod/GET/pets"}]}}"#;
        let answer = read(policy, 1).expect("a policy");
        let on = |arn: &str| judge(answer.clone(), arn);
        assert!(on("arn:aws:execute-api:local:0:api/prod/GET/pets").is_ok());
        assert!(matches!(
            on("arn:aws:execute-api:local:0:api/prod/DELETE/pets"),
            Err(AuthFailure::Forbidden(_))
        ));
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
