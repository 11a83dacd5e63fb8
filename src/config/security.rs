//! `[authorizers.*]`, `[admission]` and the per-stage `authorizer` / `api_keys`:
//! what a client must show, and may do, to open a connection.

use std::collections::BTreeMap;
use std::time::Duration;

use super::env::EnvSource;
use super::reader::{Errors, Section, join};

/// Where an authorizer finds a value on the upgrade request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentitySource {
    /// A header (case-insensitive); `Authorization: Bearer x` yields `x` for JWTs.
    Header(String),
    /// A query string parameter (case-sensitive).
    Query(String),
    /// The `Sec-WebSocket-Protocol` offer (browsers cannot set other headers):
    /// the offered value that is a JWT.
    Subprotocol,
    /// `$context.NAME`: one of [`CONTEXT_SOURCES`] (AWS's way to cache a
    /// decision per route: add `$context.routeKey`).
    Context(String),
    /// `$stageVariables.NAME`.
    StageVariable(String),
}

/// The `$context` variables an identity source may name.
pub const CONTEXT_SOURCES: [&str; 4] = ["routeKey", "httpMethod", "stage", "identity.sourceIp"];

impl IdentitySource {
    /// Parses `$request.header.X`, `$request.querystring.x` (or AWS's
    /// `route.request.…` spelling).
    pub fn parse(s: &str) -> Option<IdentitySource> {
        if let Some(name) = s.strip_prefix("$context.") {
            return CONTEXT_SOURCES
                .contains(&name)
                .then(|| IdentitySource::Context(name.to_owned()));
        }
        if let Some(name) = s.strip_prefix("$stageVariables.") {
            return valid(name).then(|| IdentitySource::StageVariable(name.to_owned()));
        }
        let rest = s
            .strip_prefix("$request.")
            .or_else(|| s.strip_prefix("route.request."))?;
        if let Some(name) = rest.strip_prefix("header.") {
            if name.eq_ignore_ascii_case("sec-websocket-protocol") {
                return Some(IdentitySource::Subprotocol);
            }
            return valid(name).then(|| IdentitySource::Header(name.to_ascii_lowercase()));
        }
        let name = rest.strip_prefix("querystring.")?;
        valid(name).then(|| IdentitySource::Query(name.to_owned()))
    }
}

fn valid(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The kind of key an algorithm verifies with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFamily {
    /// HS256/384/512: a shared secret.
    Hmac,
    /// RS*, PS*: an RSA public key.
    Rsa,
    /// ES256/384: an EC public key.
    Ec,
    /// EdDSA: an Ed25519 public key.
    Ed,
}

impl KeyFamily {
    /// The family of `alg`.
    pub fn of(alg: jsonwebtoken::Algorithm) -> KeyFamily {
        use jsonwebtoken::Algorithm::*;
        match alg {
            HS256 | HS384 | HS512 => KeyFamily::Hmac,
            RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => KeyFamily::Rsa,
            ES256 | ES384 => KeyFamily::Ec,
            EdDSA => KeyFamily::Ed,
        }
    }
}

/// A JWT authorizer.
#[derive(Clone, PartialEq)]
pub struct JwtConfig {
    /// Where the token is.
    pub identity_source: IdentitySource,
    /// Accepted `iss` values.
    pub issuer: Vec<String>,
    /// Accepted `aud` values (one must match).
    pub audience: Vec<String>,
    /// The allow-list of algorithms (`HS256`, `RS256`, `PS256`, `ES256`, `EdDSA`, …).
    pub algorithms: Vec<jsonwebtoken::Algorithm>,
    /// HMAC secret (for HS*).
    pub secret: Option<String>,
    /// PEM public keys (RSA, EC or Ed25519), by `kid` (a key named `default`
    /// matches tokens without a `kid`).
    pub public_keys: BTreeMap<String, String>,
    /// JWKS document to fetch keys from.
    pub jwks_uri: Option<String>,
    /// How often JWKS keys are re-fetched.
    pub jwks_refresh: Duration,
    /// Least time between fetches triggered by unknown `kid`s.
    pub jwks_refetch_min: Duration,
    /// Clock leeway for `exp` and `nbf`.
    pub leeway: Duration,
    /// At least one of these must be in the token's `scope` / `scp`.
    pub required_scopes: Vec<String>,
    /// Claims that must have exactly these values.
    pub required_claims: BTreeMap<String, String>,
}

impl std::fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtConfig")
            .field("identity_source", &self.identity_source)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("algorithms", &self.algorithms)
            .field("jwks_uri", &self.jwks_uri)
            .finish_non_exhaustive()
    }
}

/// A request authorizer: an HTTP backend shaped like a Lambda REQUEST authorizer.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestAuthorizerConfig {
    /// The URL or Lambda function that receives the authorizer event.
    pub backend: super::Backend,
    /// Values that must all be present (else 401 without a call); also the cache key.
    pub identity_sources: Vec<IdentitySource>,
    /// How long a decision is reused for the same identity values (0: never).
    pub ttl: Duration,
    /// Bound on one call.
    pub timeout: Duration,
    /// The event HTTP routes send: AWS's HTTP API authorizer payload "2.0"
    /// (the default) or "1.0". (`$connect` always gets the WebSocket event.)
    pub payload_format: super::PayloadFormat,
}

/// One `[authorizers.NAME]`.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthorizerConfig {
    /// `type = "jwt"`
    Jwt(JwtConfig),
    /// `type = "request"`
    Request(RequestAuthorizerConfig),
}

/// `[admission]`: checks before any authorizer or integration runs.
#[derive(Debug, Clone, PartialEq)]
pub struct AdmissionConfig {
    /// Browser `Origin`s allowed to connect (exact, or `https://*.example.com`);
    /// empty allows any. Requests without `Origin` (not from a browser) pass.
    pub allowed_origins: Vec<String>,
    /// Subprotocols the gateway accepts; empty accepts any the `$connect`
    /// integration picks.
    pub allowed_subprotocols: Vec<String>,
    /// Open connections per source IP (`None`: no cap).
    pub max_connections_per_ip: Option<usize>,
    /// New connections per second per source IP, and the burst allowed above it.
    pub connects_per_ip: Option<(f64, f64)>,
    /// Most request headers on an upgrade request (431 beyond).
    pub max_headers: usize,
}

pub(super) fn read_authorizers(
    entries: Vec<(String, Section<'_>)>,
    env: &dyn EnvSource,
) -> Option<BTreeMap<String, AuthorizerConfig>> {
    let mut out = BTreeMap::new();
    let mut ok = true;
    for (name, mut s) in entries {
        let kind = s.string("type").unwrap_or("").to_owned();
        let parsed = match kind.as_str() {
            "jwt" => read_jwt(&mut s, env).map(AuthorizerConfig::Jwt),
            "request" => read_request(&mut s).map(AuthorizerConfig::Request),
            other => {
                s.errors().push(
                    join(s.path(), "type"),
                    format!("{other:?}: use \"jwt\" or \"request\""),
                );
                None
            }
        };
        s.finish();
        match parsed {
            Some(a) => {
                out.insert(name, a);
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn sources(s: &mut Section<'_>, key: &str) -> Option<Vec<IdentitySource>> {
    let raw = s.string_list(key);
    let mut out = Vec::new();
    for r in &raw {
        match IdentitySource::parse(r) {
            Some(src) => out.push(src),
            None => {
                s.errors().push(
                    join(s.path(), key),
                    format!("{r:?}: use $request.header.NAME, $request.querystring.NAME, $request.header.Sec-WebSocket-Protocol, $stageVariables.NAME or $context.X (X: {})", CONTEXT_SOURCES.join(", ")),
                );
                return None;
            }
        }
    }
    Some(out)
}

fn read_jwt(s: &mut Section<'_>, env: &dyn EnvSource) -> Option<JwtConfig> {
    let path = s.path().to_owned();
    let source = sources(s, "identity_source")?;
    let Ok([identity_source]) = <[IdentitySource; 1]>::try_from(source) else {
        s.errors().push(
            join(&path, "identity_source"),
            "exactly one identity source is required",
        );
        return None;
    };
    let algorithms = read_algorithms(s);
    let secret = match s.string("secret") {
        Some(v) => Some(super::env::secret(s, "secret", v, env)?),
        None => None,
    };
    let secs = Duration::from_secs;
    let cfg = JwtConfig {
        identity_source,
        issuer: s.string_list("issuer"),
        audience: s.string_list("audience"),
        algorithms,
        secret,
        public_keys: s.string_map("public_keys").into_iter().collect(),
        jwks_uri: s.string("jwks_uri").map(str::to_owned),
        jwks_refresh: s.duration_or("jwks_refresh", secs(10), secs(86_400), secs(600)),
        jwks_refetch_min: s.duration_or(
            "jwks_refetch_min",
            Duration::from_millis(100),
            secs(3600),
            secs(10),
        ),
        leeway: s.duration_or("leeway", Duration::ZERO, secs(600), secs(30)),
        required_scopes: s.string_list("required_scopes"),
        required_claims: s.string_map("required_claims").into_iter().collect(),
    };
    check_jwt(&cfg, &path, s.errors()).then_some(cfg)
}

fn read_algorithms(s: &mut Section<'_>) -> Vec<jsonwebtoken::Algorithm> {
    let mut algorithms = Vec::new();
    for a in s.string_list("algorithms") {
        match a.parse::<jsonwebtoken::Algorithm>() {
            Ok(alg) => algorithms.push(alg),
            Err(_) => s.errors().push(
                join(s.path(), "algorithms"),
                format!(
                    "{a:?}: use HS256/384/512, RS256/384/512, PS256/384/512, ES256/384 or EdDSA"
                ),
            ),
        }
    }
    algorithms
}

/// The rules a JWT authorizer's settings must follow together; each broken one
/// is reported with its key.
fn check_jwt(cfg: &JwtConfig, path: &str, errors: &Errors) -> bool {
    let mut ok = true;
    let mut need = |cond: bool, key: &str, why: &str| {
        if !cond {
            errors.push(join(path, key), why);
            ok = false;
        }
    };
    need(
        !cfg.issuer.is_empty(),
        "issuer",
        "required: the accepted iss value(s)",
    );
    need(
        !cfg.audience.is_empty(),
        "audience",
        "required: the accepted aud value(s)",
    );
    need(
        !cfg.algorithms.is_empty(),
        "algorithms",
        "required: an explicit allow-list, e.g. [\"RS256\"]",
    );
    let family = |hmac: bool| {
        cfg.algorithms
            .iter()
            .any(|a| (KeyFamily::of(*a) == KeyFamily::Hmac) == hmac)
    };
    let (hmac, asymmetric) = (family(true), family(false));
    need(
        !(hmac && asymmetric),
        "algorithms",
        "HMAC and public-key algorithms cannot share an authorizer (that is how algorithm-confusion attacks work)",
    );
    need(
        !hmac || cfg.secret.is_some(),
        "secret",
        "HS* algorithms need a secret",
    );
    need(
        !asymmetric || cfg.jwks_uri.is_some() || !cfg.public_keys.is_empty(),
        "public_keys",
        "public-key algorithms need public_keys or jwks_uri",
    );
    need(
        !hmac || (cfg.public_keys.is_empty() && cfg.jwks_uri.is_none()),
        "secret",
        "an HMAC authorizer takes only a secret",
    );
    if let Some(uri) = &cfg.jwks_uri {
        need(
            super::net::backend_url(uri).is_ok(),
            "jwks_uri",
            "an http:// or https:// URL (https:// is checked against [integrations.tls]'s roots)",
        );
    }
    for (kid, pem) in &cfg.public_keys {
        let parses = jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()).is_ok()
            || jsonwebtoken::DecodingKey::from_ec_pem(pem.as_bytes()).is_ok()
            || jsonwebtoken::DecodingKey::from_ed_pem(pem.as_bytes()).is_ok();
        need(
            parses,
            &format!("public_keys.{kid}"),
            "not a PEM public key (RSA, EC or Ed25519)",
        );
    }
    ok
}

/// `uri` (a URL, or a Lambda function's ARN or invoke ARN) or `function` (a
/// Lambda function's name or ARN): exactly one.
fn read_backend(s: &mut Section<'_>) -> Option<super::Backend> {
    use super::lambda;
    let uri = s.string("uri");
    let function = s.string("function");
    let read = match (uri, function) {
        (Some(u), None) => match lambda::parse_function(u) {
            Some(f) => f.map(super::Backend::Lambda),
            None => super::net::backend_url(u)
                .map(super::Backend::Http)
                .map_err(|e| format!("{e} (nor a Lambda function ARN)")),
        },
        (None, Some(f)) => lambda::parse_function_name(f).map(super::Backend::Lambda),
        (Some(_), Some(_)) => Err("give uri or function, not both".into()),
        (None, None) => {
            Err("required: the authorizer's URL (uri) or Lambda function (function)".into())
        }
    };
    read.map_err(|why| s.errors().push(join(s.path(), "uri"), why))
        .ok()
}

fn read_request(s: &mut Section<'_>) -> Option<RequestAuthorizerConfig> {
    let backend = read_backend(s);
    let identity_sources = sources(s, "identity_sources")?;
    let secs = Duration::from_secs;
    let ttl = s.duration_or("ttl", Duration::ZERO, secs(3600), secs(300));
    let timeout = s.duration_or("timeout", Duration::from_millis(50), secs(29), secs(10));
    let payload_format = match s.string("payload_format") {
        None | Some("2.0") => super::PayloadFormat::V2,
        Some("1.0") => super::PayloadFormat::V1,
        Some(other) => {
            s.error(
                "payload_format",
                format!("{other:?} is not \"2.0\" or \"1.0\""),
            );
            super::PayloadFormat::V2
        }
    };
    let backend = backend?;
    if identity_sources.is_empty() {
        s.errors().push(
            join(s.path(), "identity_sources"),
            "required: at least one (their values are the cache key)",
        );
        return None;
    }
    Some(RequestAuthorizerConfig {
        backend,
        identity_sources,
        ttl,
        timeout,
        payload_format,
    })
}

pub(super) fn read_admission(mut s: Section<'_>) -> Option<AdmissionConfig> {
    let allowed_origins = s.string_list("allowed_origins");
    let allowed_subprotocols = s.string_list("allowed_subprotocols");
    let max_connections_per_ip = s.int("max_connections_per_ip", 0, 10_000_000).unwrap_or(0);
    let rate = s
        .int("connects_per_ip_per_second", 0, 1_000_000)
        .unwrap_or(0);
    let burst = s
        .int("connects_per_ip_burst", 1, 1_000_000)
        .unwrap_or(rate.max(1) * 2);
    let max_headers = s.int("max_headers", 8, 1000).unwrap_or(100) as usize;
    let mut ok = true;
    for o in &allowed_origins {
        let valid = (o.starts_with("https://") || o.starts_with("http://"))
            && !o.ends_with('/')
            && o.matches('*').count() <= 1;
        if !valid {
            s.errors().push(
                join(s.path(), "allowed_origins"),
                format!("{o:?}: an origin is scheme://host[:port], optionally with one * (https://*.example.com)"),
            );
            ok = false;
        }
    }
    s.finish();
    ok.then_some(AdmissionConfig {
        allowed_origins,
        allowed_subprotocols,
        max_connections_per_ip: (max_connections_per_ip > 0)
            .then_some(max_connections_per_ip as usize),
        connects_per_ip: (rate > 0).then_some((rate as f64, burst as f64)),
        max_headers,
    })
}

/// Checks every stage's `authorizer` names a defined one.
pub(super) fn check_stage_authorizers(
    stages: &[super::StageConfig],
    authorizers: &BTreeMap<String, AuthorizerConfig>,
    errors: &Errors,
) -> bool {
    let mut ok = true;
    for s in stages {
        if let Some(name) = &s.authorizer
            && !authorizers.contains_key(name)
        {
            errors.push(
                join(&join("stages", &s.name), "authorizer"),
                format!("no [authorizers.{name}] is defined"),
            );
            ok = false;
        }
    }
    ok
}

/// Checks what HTTP routes ask of requests: a defined authorizer, scopes only
/// with a JWT one (AWS's rule), and API keys on every stage that serves a
/// route needing one.
pub(super) fn check_http_route_auth(
    routes: &[super::HttpRouteConfig],
    authorizers: &BTreeMap<String, AuthorizerConfig>,
    stages: &[super::StageConfig],
    errors: &Errors,
) -> bool {
    let mut ok = true;
    let mut fail = |path: String, why: String| {
        errors.push(path, why);
        ok = false;
    };
    for route in routes {
        let auth = &route.auth;
        let path = join("http.routes", &route.key);
        let found = auth.authorizer.as_ref().map(|n| (n, authorizers.get(n)));
        if let Some((name, None)) = found {
            let why = format!("no [authorizers.{name}] is defined");
            fail(join(&path, "authorizer"), why);
        }
        let jwt = matches!(found, Some((_, Some(AuthorizerConfig::Jwt(_)))));
        if !auth.scopes.is_empty() && !jwt && !matches!(found, Some((_, None))) {
            let why = "scopes are checked by a jwt authorizer; set one in `authorizer`".into();
            fail(join(&path, "authorization_scopes"), why);
        }
        if auth.api_key_required {
            for stage in stages.iter().filter(|s| s.api_keys.is_empty()) {
                let why = format!("stage {:?} has no api_keys", stage.name);
                fail(join(&path, "api_key_required"), why);
            }
        }
    }
    ok
}
