//! What an authorizer established about a client, and how each API shows it
//! to backends as `requestContext.authorizer`.
//!
//! | | WebSocket | HTTP payload 2.0 | HTTP payload 1.0 |
//! |---|---|---|---|
//! | JWT | `{principalId, jwt: {claims, scopes}}` | `{jwt: {claims, scopes}}` | `{claims, scopes}` |
//! | request | `{…context, principalId, integrationLatency}` | `{lambda: {…context}}` | as WebSocket |
//!
//! Claims are strings (AWS HTTP APIs' `map<string,string>`); `scopes` is the
//! token's `scope`/`scp` list, `null` on HTTP routes when it has none.

use serde_json::{Map, Value};

/// What an authorizer established about a client.
#[derive(Debug, Clone)]
pub struct AuthContext {
    /// `principalId` (a JWT's `sub`).
    pub principal_id: String,
    /// What the authorizer said beyond it.
    pub granted: Granted,
}

/// The authorizer's own findings.
#[derive(Debug, Clone)]
pub enum Granted {
    /// A verified JWT.
    Jwt {
        /// Every claim, as a string.
        claims: Map<String, Value>,
        /// `scope` (space-separated) or `scp`, as a list.
        scopes: Vec<String>,
    },
    /// A request authorizer's answer.
    Lambda {
        /// Its `context` (string, number and boolean values).
        context: Map<String, Value>,
        /// How long it took to answer, in ms.
        latency_ms: u64,
    },
}

impl AuthContext {
    /// `requestContext.authorizer` of a WebSocket connection's events.
    pub fn websocket(&self) -> Value {
        let principal = Value::String(self.principal_id.clone());
        match &self.granted {
            Granted::Jwt { claims, scopes } => serde_json::json!({
                "principalId": principal,
                "jwt": {"claims": claims, "scopes": scopes},
            }),
            Granted::Lambda { .. } => self.lambda_flat(),
        }
    }

    /// `requestContext.authorizer` of an HTTP route's event, in payload
    /// format 2.0 (`v2`) or 1.0.
    pub fn http(&self, v2: bool) -> Value {
        match (&self.granted, v2) {
            (Granted::Jwt { claims, scopes }, _) => {
                let scopes = if scopes.is_empty() {
                    Value::Null
                } else {
                    Value::from(scopes.clone())
                };
                let jwt = serde_json::json!({"claims": claims, "scopes": scopes});
                if v2 {
                    serde_json::json!({ "jwt": jwt })
                } else {
                    jwt
                }
            }
            (Granted::Lambda { context, .. }, true) => serde_json::json!({ "lambda": context }),
            (Granted::Lambda { .. }, false) => self.lambda_flat(),
        }
    }

    /// Whether a JWT carries at least one of `wanted` (a route's scopes);
    /// always true when `wanted` is empty.
    pub fn has_any_scope(&self, wanted: &[String]) -> bool {
        if wanted.is_empty() {
            return true;
        }
        match &self.granted {
            Granted::Jwt { scopes, .. } => wanted.iter().any(|w| scopes.contains(w)),
            Granted::Lambda { .. } => false,
        }
    }

    /// REST's shape: the context's keys, `principalId`, `integrationLatency`.
    fn lambda_flat(&self) -> Value {
        let Granted::Lambda {
            context,
            latency_ms,
        } = &self.granted
        else {
            return Value::Null;
        };
        let mut flat = context.clone();
        flat.insert(
            "principalId".into(),
            Value::String(self.principal_id.clone()),
        );
        flat.insert("integrationLatency".into(), Value::from(*latency_ms));
        Value::Object(flat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn jwt(scopes: &[&str]) -> AuthContext {
        let claims = json!({"sub": "u1", "tenant": "acme"});
        AuthContext {
            principal_id: "u1".into(),
            granted: Granted::Jwt {
                claims: claims.as_object().unwrap().clone(),
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            },
        }
    }

    #[test]
    fn each_api_sees_its_own_shape() {
        let j = jwt(&["read"]);
        assert_eq!(j.websocket()["principalId"], "u1");
        assert_eq!(j.websocket()["jwt"]["claims"]["tenant"], "acme");
        assert_eq!(
            j.http(true),
            json!({"jwt": {"claims": {"sub": "u1", "tenant": "acme"}, "scopes": ["read"]}})
        );
        assert_eq!(j.http(false)["scopes"], json!(["read"]));
        assert_eq!(jwt(&[]).http(true)["jwt"]["scopes"], Value::Null);
        let l = AuthContext {
            principal_id: "p".into(),
            granted: Granted::Lambda {
                context: json!({"tier": "gold"}).as_object().unwrap().clone(),
                latency_ms: 4,
            },
        };
        assert_eq!(l.http(true), json!({"lambda": {"tier": "gold"}}));
        let flat = json!({"tier": "gold", "principalId": "p", "integrationLatency": 4});
        assert_eq!(l.http(false), flat);
        assert_eq!(l.websocket(), flat);
    }

    #[test]
    fn scopes_match_any() {
        let j = jwt(&["read", "write"]);
        assert!(j.has_any_scope(&[]));
        assert!(j.has_any_scope(&["admin".into(), "write".into()]));
        assert!(!j.has_any_scope(&["admin".into()]));
    }
}
