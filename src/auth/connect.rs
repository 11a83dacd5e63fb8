//! The checks an upgrade passes before `$connect`: API key, then authorizer.

use std::sync::Arc;

use subtle::ConstantTimeEq;

use super::{AuthFailure, Authorizer};
use crate::config::IdentitySource;
use crate::gateway::{Gateway, Stage};
use crate::integration::{EventContext, EventType, Handshake};
use crate::session::id::Id;
use crate::session::mailbox::ConnInfo;

/// What a client proved.
#[derive(Debug, Default)]
pub struct Admitted {
    /// `requestContext.authorizer` for every event of the connection.
    pub authorizer: Option<Arc<serde_json::Value>>,
    /// The name of the API key it presented.
    pub api_key_id: Option<Arc<str>>,
}

/// Why an upgrade was refused by these checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No or a wrong API key (403).
    ApiKey,
    /// The authorizer refused.
    Auth(AuthFailure),
}

/// The offered subprotocol that is a JWT (three base64url parts), if any.
pub fn offered_token(offered: &[String]) -> Option<&str> {
    offered.iter().map(String::as_str).find(|p| {
        p.split('.').count() == 3
            && p.len() > 16
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    })
}

/// The value of each identity source; `None` if any is missing or empty.
pub fn identity_values(
    sources: &[IdentitySource],
    handshake: &Handshake,
    offered: &[String],
) -> Option<Vec<String>> {
    sources
        .iter()
        .map(|s| {
            let v = match s {
                IdentitySource::Header(name) => handshake.headers.get(name).map(str::to_owned),
                IdentitySource::Query(name) => handshake.query.get_exact(name).map(str::to_owned),
                IdentitySource::Subprotocol => offered_token(offered).map(str::to_owned),
            };
            v.filter(|v| !v.trim().is_empty())
        })
        .collect()
}

// === impl Gateway: connect checks ===

impl Gateway {
    /// Runs the stage's API-key check and authorizer for an upgrade.
    pub async fn check_connect(
        &self,
        stage: &Stage,
        id: &Id,
        info: &ConnInfo,
        handshake: &Handshake,
        offered: &[String],
    ) -> Result<Admitted, Refused> {
        let mut admitted = Admitted::default();
        if !stage.api_keys.is_empty() {
            let presented = handshake
                .headers
                .get("x-api-key")
                .or_else(|| handshake.query.get_exact("x-api-key"))
                .ok_or(Refused::ApiKey)?;
            // Compared against every key, in constant time each.
            let name = stage
                .api_keys
                .iter()
                .fold(None, |hit, (name, key)| {
                    let eq: bool = key.as_bytes().ct_eq(presented.as_bytes()).into();
                    if eq { Some(name) } else { hit }
                })
                .ok_or(Refused::ApiKey)?;
            admitted.api_key_id = Some(Arc::from(name.as_str()));
        }
        let Some(authorizer) = &stage.authorizer else {
            return Ok(admitted);
        };
        let ctx = match &**authorizer {
            Authorizer::Jwt(jwt) => {
                let source = std::slice::from_ref(jwt.identity_source());
                let token = identity_values(source, handshake, offered)
                    .and_then(|mut v| v.pop())
                    .ok_or(Refused::Auth(AuthFailure::Unauthorized("no token")))?;
                let token = token
                    .strip_prefix("Bearer ")
                    .or_else(|| token.strip_prefix("bearer "))
                    .unwrap_or(&token)
                    .trim();
                jwt.authorize(token, &self.client)
                    .await
                    .map_err(Refused::Auth)?
            }
            Authorizer::Request(req) => {
                // Missing identity: 401 without calling the authorizer.
                let values = identity_values(&req.config().identity_sources, handshake, offered)
                    .ok_or(Refused::Auth(AuthFailure::Unauthorized(
                        "identity source missing",
                    )))?;
                let key = format!("{}\u{0}{}", stage.name, values.join("\u{0}"));
                let method_arn = format!(
                    "arn:aws:execute-api:local:000000000000:{}/{}/$connect",
                    self.api.id, stage.name
                );
                let event = self.authorizer_event(stage, id, info, handshake, &method_arn);
                req.authorize(&key, event, &method_arn, &self.client)
                    .await
                    .map_err(Refused::Auth)?
            }
        };
        admitted.authorizer = Some(Arc::new(ctx.authorizer));
        Ok(admitted)
    }

    /// The Lambda REQUEST authorizer event: the CONNECT event plus `type` and `methodArn`.
    fn authorizer_event(
        &self,
        stage: &Stage,
        id: &Id,
        info: &ConnInfo,
        handshake: &Handshake,
        method_arn: &str,
    ) -> Vec<u8> {
        let ev = EventContext {
            handshake: Some(handshake),
            ..self.event_for(EventType::Connect, stage, id, info, "$connect")
        };
        let mut value: serde_json::Value =
            serde_json::from_slice(&ev.to_json()).unwrap_or_default();
        if let Some(obj) = value.as_object_mut() {
            obj.insert("type".into(), "REQUEST".into());
            obj.insert("methodArn".into(), method_arn.into());
            obj.entry("stageVariables")
                .or_insert_with(|| serde_json::json!({}));
        }
        serde_json::to_vec(&value).unwrap_or_default()
    }
}
