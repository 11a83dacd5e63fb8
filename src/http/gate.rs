//! What a request on an HTTP route must show before its body is read and its
//! integration runs, in this order: one of the stage's API keys in `x-api-key`
//! (routes with `api_key_required`), then the route's authorizer, then the
//! route's `authorization_scopes` (JWT only).
//!
//! Nothing here reads the body: an unauthenticated client cannot make the
//! gateway buffer one. Refusals answer as AWS HTTP APIs do — 401
//! `{"message":"Unauthorized"}` (JWT: with `www-authenticate`), 403
//! `{"message":"Forbidden"}`; an authorizer that fails or does not answer in
//! time is 500 `{"message":"Internal Server Error"}` (AWS's answer to a
//! failing Lambda authorizer), its reason in the log only.

use tracing::debug;

use super::respond::HttpApiError;
use crate::auth::connect::{SourceContext, match_api_key};
use crate::auth::{Ask, AuthContext, AuthFailure, Authorizer, execute_api_arn};
use crate::config::{IdentitySource, PayloadFormat};
use crate::integration::http_event::{self, HttpFacts};
use crate::snapshot::{HttpRoute, Snapshot, Stage};

/// What a request showed.
#[derive(Debug, Default)]
pub struct Passed {
    /// The authorizer's findings, if the route has one.
    pub auth: Option<AuthContext>,
    /// The name of the API key it presented, if the route requires one.
    pub api_key: Option<std::sync::Arc<str>>,
}

/// Runs the route's checks on a request (`facts` has no body yet).
pub async fn check(
    snap: &Snapshot,
    stage: &Stage,
    route: &HttpRoute,
    facts: &HttpFacts<'_>,
) -> Result<Passed, HttpApiError> {
    let mut passed = Passed::default();
    if route.api_key_required {
        let presented = facts.headers.get("x-api-key").and_then(|v| v.to_str().ok());
        passed.api_key = presented.and_then(|k| match_api_key(&stage.api_keys, k));
        if passed.api_key.is_none() {
            debug!(route = facts.route_key, "No or a wrong API key.");
            return Err(HttpApiError::Forbidden);
        }
    }
    // Boxed: the authorizer's call is most of this future's size, and only
    // routes with one need it (a bigger future is copied whole at each move).
    if route.authorizer.is_some() {
        passed.auth = Box::pin(authorize(snap, route, facts)).await?;
    }
    Ok(passed)
}

/// Runs the route's authorizer, if it has one.
async fn authorize(
    snap: &Snapshot,
    route: &HttpRoute,
    facts: &HttpFacts<'_>,
) -> Result<Option<AuthContext>, HttpApiError> {
    let Some(authorizer) = &route.authorizer else {
        return Ok(None);
    };
    let sources = SourceContext {
        route_key: facts.route_key,
        http_method: facts.method,
        stage: facts.stage,
        source_ip: facts.source_ip,
        stage_variables: facts.stage_variables,
    };
    let read = |s: &IdentitySource| request_value(s, facts, &sources);
    let arn = || {
        let tail = format!("{}{}", facts.method, facts.route_path);
        execute_api_arn(facts.api_id, facts.stage, &tail)
    };
    let ask = Ask {
        stage: facts.stage,
        arn: &arn,
        read: &read,
        trace: &facts.forwarded.trace,
    };
    let jwt = matches!(**authorizer, Authorizer::Jwt(_));
    let v2 = match &**authorizer {
        Authorizer::Request(r) => r.config().payload_format == PayloadFormat::V2,
        Authorizer::Jwt(_) => true,
    };
    let event = |values: &[String], arn: &str| http_event::authorizer_json(facts, v2, arn, values);
    let ctx = authorizer.run(ask, event, &snap.client).await;
    let ctx = ctx.map_err(|f| refused(facts, f, jwt))?;
    if jwt && !ctx.has_any_scope(&route.scopes) {
        debug!(
            route = facts.route_key,
            "The token has none of the route's scopes."
        );
        return Err(HttpApiError::InsufficientScope);
    }
    Ok(Some(ctx))
}

/// The value of an identity source on a plain HTTP request (a header's first
/// value; a query parameter decoded, its name compared exactly).
fn request_value(
    source: &IdentitySource,
    facts: &HttpFacts<'_>,
    ctx: &SourceContext<'_>,
) -> Option<String> {
    match source {
        IdentitySource::Header(name) => facts.header(name).map(|v| v.into_owned()),
        IdentitySource::Query(name) => crate::routing::query::first(facts.raw_query, name),
        // Only an upgrade offers subprotocols.
        IdentitySource::Subprotocol => None,
        IdentitySource::Context(_) | IdentitySource::StageVariable(_) => {
            ctx.value(source).map(str::to_owned)
        }
    }
}

/// The answer to a refusal or failure (the reason is logged, never sent,
/// except a JWT's `error_description`, as AWS sends it).
fn refused(facts: &HttpFacts<'_>, failure: AuthFailure, jwt: bool) -> HttpApiError {
    debug!(
        route = facts.route_key,
        reason = failure.reason(),
        "Authorizer refused or failed."
    );
    match failure {
        AuthFailure::Unauthorized(why) => HttpApiError::Unauthorized(jwt.then_some(why)),
        AuthFailure::Forbidden(_) => HttpApiError::Forbidden,
        AuthFailure::Failed(_) | AuthFailure::Timeout | AuthFailure::Unavailable(_) => {
            HttpApiError::Internal
        }
    }
}
