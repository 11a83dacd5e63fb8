//! Who may do what: the management API's authentication, and the checks a
//! client passes to open a connection.
//!
//! An upgrade passes, in order: admission ([`admission`]: `Origin`, per-IP
//! caps), the stage's API key, and the stage's authorizer ([`jwt`] or
//! [`request`]); then `$connect` runs. The authorizer's result becomes the
//! connection's `requestContext.authorizer`, in every later event.
//!
//! - [`management`]: SigV4 (boto3, the AWS CLI) and bearer tokens on the
//!   management listener; `crate::sigv4` is the pure signature check.

pub mod admission;
pub mod connect;
mod context;
pub mod jwt;
pub mod management;
pub mod request;

pub use connect::{Admitted, identity_values, offered_token};
pub use context::{AuthContext, Granted};

/// The ARN of a resource of the API: what an IAM policy's `Resource` is
/// matched against (`methodArn`, `routeArn`). `tail` is `$connect` or
/// `GET/pets/1`.
pub fn execute_api_arn(api_id: &str, stage: &str, tail: &str) -> String {
    format!("arn:aws:execute-api:local:000000000000:{api_id}/{stage}/{tail}")
}

/// A JWT identity value without its `Bearer ` prefix (AWS accepts both).
pub fn bearer(value: &str) -> &str {
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .unwrap_or(value)
        .trim()
}

/// Why an authorizer refused (mapped to an HTTP status in `http::respond`;
/// the text is for the log only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No or bad credentials (401).
    Unauthorized(&'static str),
    /// Valid credentials without the right to connect (403).
    Forbidden(&'static str),
    /// The authorizer failed or answered garbage: fail closed (502).
    Failed(&'static str),
    /// The authorizer did not answer in time (504).
    Timeout,
    /// Keys cannot be obtained at all (503).
    Unavailable(&'static str),
}

impl AuthFailure {
    /// The log text.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthFailure::Unauthorized(r)
            | AuthFailure::Forbidden(r)
            | AuthFailure::Failed(r)
            | AuthFailure::Unavailable(r) => r,
            AuthFailure::Timeout => "authorizer timed out",
        }
    }
}

/// A configured authorizer, ready to run.
#[derive(Debug)]
pub enum Authorizer {
    /// Verifies a JWT itself (boxed: it holds its config and key caches).
    Jwt(Box<jwt::JwtAuthorizer>),
    /// Asks an HTTP backend.
    Request(request::RequestAuthorizer),
}

/// What an authorizer is asked about: one request (an upgrade or an HTTP
/// request), seen through its identity sources.
pub struct Ask<'a> {
    /// The stage: a request authorizer's cache is keyed per stage.
    pub stage: &'a str,
    /// The resource a policy must allow (`methodArn`, `routeArn`): made only
    /// for a request authorizer (a JWT route's requests need none).
    pub arn: &'a (dyn Fn() -> String + Sync),
    /// An identity source's value on this request.
    pub read: &'a (dyn Fn(&crate::config::IdentitySource) -> Option<String> + Sync),
    /// The request's trace, which the authorizer's call carries.
    pub trace: &'a crate::trace::Trace,
}

impl Authorizer {
    /// Runs the authorizer on a request: the one dispatch for upgrades and
    /// HTTP routes. A missing identity is 401 without a call; `event` builds
    /// a request authorizer's event from the identity values and the ARN,
    /// only when its cache has no fresh answer.
    pub async fn run(
        &self,
        ask: Ask<'_>,
        event: impl FnOnce(&[String], &str) -> Vec<u8>,
        client: &crate::integration::HttpClient,
    ) -> Result<AuthContext, AuthFailure> {
        match self {
            Authorizer::Jwt(jwt) => {
                let source = std::slice::from_ref(jwt.identity_source());
                let token = identity_values(source, ask.read)
                    .and_then(|mut v| v.pop())
                    .ok_or(AuthFailure::Unauthorized("no token"))?;
                jwt.authorize(bearer(&token), client).await
            }
            Authorizer::Request(req) => {
                let values = identity_values(&req.config().identity_sources, ask.read)
                    .ok_or(AuthFailure::Unauthorized("identity source missing"))?;
                let arn = (ask.arn)();
                let event = || event(&values, &arn);
                req.authorize(ask.stage, &values, event, &arn, client, ask.trace)
                    .await
            }
        }
    }

    /// Builds it from its config.
    pub fn new(cfg: &crate::config::AuthorizerConfig) -> Authorizer {
        match cfg {
            crate::config::AuthorizerConfig::Jwt(c) => {
                Authorizer::Jwt(Box::new(jwt::JwtAuthorizer::new(c.clone())))
            }
            crate::config::AuthorizerConfig::Request(c) => {
                Authorizer::Request(request::RequestAuthorizer::new(c.clone()))
            }
        }
    }
}
