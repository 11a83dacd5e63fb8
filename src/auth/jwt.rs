//! The JWT authorizer: verifies a token from the upgrade request and turns its
//! claims into the connection's `requestContext.authorizer`.
//!
//! Hardening, in order: a size cap; the header's `alg` must be in the
//! authorizer's explicit allow-list (`none` is not even parseable); the key must
//! be of that algorithm's family (an HMAC authorizer holds only a secret, a
//! public-key one only public keys, so an RS256 public key can never be used as
//! an HS256 secret); then signature, `exp`/`nbf` with the configured leeway,
//! `iss`, `aud`, and finally the required scopes and claims.
//!
//! JWKS keys are cached; they are re-fetched by the first connection after
//! `jwks_refresh` has passed, and when a token names an unknown `kid` (at most
//! every `jwks_refetch_min`, 10 s by default, so garbage `kid`s cannot hammer the issuer). A fetch is
//! bounded by 1.5 s and 150 KB, as on AWS. While the JWKS is unreachable, cached keys keep working; with no
//! keys at all, connections fail closed.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::clock::{self, Instant};

use bytes::Bytes;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::{Map, Value};
use tracing::warn;

use super::{AuthContext, AuthFailure, Granted};
use crate::config::security::{JwtConfig, KeyFamily};
use crate::integration::HttpClient;

/// Longest token accepted (a header or query value beyond it is refused before parsing).
pub const MAX_TOKEN_BYTES: usize = 8 << 10;
/// Largest JWKS document read (AWS's limit).
const MAX_JWKS_BYTES: usize = 150_000;
/// Bound on one JWKS fetch (AWS's).
const JWKS_TIMEOUT: Duration = Duration::from_millis(1500);

type Keys = HashMap<String, (KeyFamily, DecodingKey)>;

#[derive(Default)]
struct JwksState {
    keys: Arc<Keys>,
    fetched: Option<Instant>,
    attempted: Option<Instant>,
}

/// One configured JWT authorizer.
pub struct JwtAuthorizer {
    cfg: JwtConfig,
    /// Secret or PEM keys by kid ("default" also matches tokens without one).
    fixed: Keys,
    jwks: RwLock<JwksState>,
    fetching: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for JwtAuthorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtAuthorizer")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl JwtAuthorizer {
    /// Builds the authorizer (keys in the config were validated when it loaded).
    pub fn new(cfg: JwtConfig) -> JwtAuthorizer {
        let mut fixed = Keys::new();
        if let Some(secret) = &cfg.secret {
            fixed.insert(
                "default".into(),
                (KeyFamily::Hmac, DecodingKey::from_secret(secret.as_bytes())),
            );
        }
        for (kid, pem) in &cfg.public_keys {
            let pem = pem.as_bytes();
            let key = DecodingKey::from_rsa_pem(pem)
                .map(|k| (KeyFamily::Rsa, k))
                .or_else(|_| DecodingKey::from_ec_pem(pem).map(|k| (KeyFamily::Ec, k)))
                .or_else(|_| DecodingKey::from_ed_pem(pem).map(|k| (KeyFamily::Ed, k)));
            if let Ok(key) = key {
                fixed.insert(kid.clone(), key);
            }
        }
        JwtAuthorizer {
            cfg,
            fixed,
            jwks: RwLock::new(JwksState::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// Where the token is.
    pub fn identity_source(&self) -> &crate::config::IdentitySource {
        &self.cfg.identity_source
    }

    /// Verifies `token`; on success, the connection's authorizer context.
    pub async fn authorize(
        &self,
        token: &str,
        client: &HttpClient,
    ) -> Result<AuthContext, AuthFailure> {
        if token.is_empty() {
            return Err(AuthFailure::Unauthorized("empty token"));
        }
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthFailure::Unauthorized("token too large"));
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| AuthFailure::Unauthorized("malformed token header"))?;
        if !self.cfg.algorithms.contains(&header.alg) {
            return Err(AuthFailure::Unauthorized("algorithm not allowed"));
        }
        let family = KeyFamily::of(header.alg);
        let key = self.key(header.kid.as_deref(), family, client).await?;
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.set_issuer(&self.cfg.issuer);
        validation.set_audience(&self.cfg.audience);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = self.cfg.leeway.as_secs();
        validation.validate_nbf = true;
        let data = jsonwebtoken::decode::<Value>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            AuthFailure::Unauthorized(match e.kind() {
                K::ExpiredSignature => "token expired",
                K::ImmatureSignature => "token not yet valid",
                K::InvalidAudience => "wrong audience",
                K::InvalidIssuer => "wrong issuer",
                K::InvalidSignature => "bad signature",
                K::MissingRequiredClaim(_) => "missing exp, iss or aud",
                _ => "invalid token",
            })
        })?;
        let Value::Object(claims) = data.claims else {
            return Err(AuthFailure::Unauthorized("claims are not an object"));
        };
        let scopes = scopes(&claims);
        if !self.cfg.required_scopes.is_empty()
            && !self.cfg.required_scopes.iter().any(|s| scopes.contains(s))
        {
            return Err(AuthFailure::Forbidden("missing a required scope"));
        }
        for (name, want) in &self.cfg.required_claims {
            if claims.get(name).map(stringify).as_deref() != Some(want.as_str()) {
                return Err(AuthFailure::Forbidden("missing a required claim"));
            }
        }
        let principal_id = claims.get("sub").map(stringify).unwrap_or_default();
        // As AWS HTTP APIs pass them: claims as strings, scopes as a list.
        let flat: Map<String, Value> = claims
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(stringify(v))))
            .collect();
        Ok(AuthContext {
            principal_id,
            granted: Granted::Jwt {
                claims: flat,
                scopes,
            },
        })
    }

    /// The key for a token: fixed keys first, then the JWKS (fetched as needed).
    async fn key(
        &self,
        kid: Option<&str>,
        family: KeyFamily,
        client: &HttpClient,
    ) -> Result<DecodingKey, AuthFailure> {
        let pick = |keys: &Keys| -> Option<DecodingKey> {
            let found = match kid {
                Some(kid) => keys.get(kid),
                None => keys.get("default").or_else(|| {
                    // A JWKS with exactly one key of the right family serves kid-less tokens.
                    let mut fits = keys.values().filter(|(f, _)| *f == family);
                    match (fits.next(), fits.next()) {
                        (Some(only), None) => Some(only),
                        _ => None,
                    }
                }),
            };
            found.filter(|(f, _)| *f == family).map(|(_, k)| k.clone())
        };
        if let Some(k) = pick(&self.fixed) {
            return Ok(k);
        }
        let Some(uri) = &self.cfg.jwks_uri else {
            return Err(AuthFailure::Unauthorized("no key for this token"));
        };
        let (cached, stale, may_refetch) = {
            let st = self.jwks.read().unwrap_or_else(|e| e.into_inner());
            let stale = st
                .fetched
                .is_none_or(|t| t.elapsed() >= self.cfg.jwks_refresh);
            let may_refetch = st
                .attempted
                .is_none_or(|t| t.elapsed() >= self.cfg.jwks_refetch_min);
            (Arc::clone(&st.keys), stale, may_refetch)
        };
        if let Some(k) = pick(&cached) {
            if stale && may_refetch {
                // Due for a refresh; if it fails, the cached key still serves.
                let _ = self.refresh(uri, client).await;
            }
            return Ok(k);
        }
        // Unknown kid (or nothing cached yet): fetch now, within the rate limit.
        if may_refetch || cached.is_empty() {
            match self.refresh(uri, client).await {
                Ok(keys) => {
                    return pick(&keys).ok_or(AuthFailure::Unauthorized("no key for this token"));
                }
                Err(()) if cached.is_empty() => {
                    return Err(AuthFailure::Unavailable(
                        "JWKS unreachable and no keys cached",
                    ));
                }
                Err(()) => {}
            }
        }
        Err(AuthFailure::Unauthorized("no key for this token"))
    }

    /// Fetches the JWKS (one fetch at a time); returns the new keys.
    async fn refresh(&self, uri: &str, client: &HttpClient) -> Result<Arc<Keys>, ()> {
        let _one = self.fetching.lock().await;
        {
            let st = self.jwks.read().unwrap_or_else(|e| e.into_inner());
            // Someone else fetched while we waited.
            if st
                .attempted
                .is_some_and(|t| t.elapsed() < self.cfg.jwks_refetch_min)
                && st.fetched.is_some()
            {
                return Ok(Arc::clone(&st.keys));
            }
        }
        self.jwks
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .attempted = Some(clock::now());
        let req = http::Request::get(uri)
            .header(http::header::ACCEPT, "application/json")
            .body(Bytes::new())
            .map_err(|_| ())?;
        let parsed = match client.send(req, JWKS_TIMEOUT, MAX_JWKS_BYTES).await {
            Ok((200, body)) => serde_json::from_slice::<JwkSet>(&body).ok(),
            _ => None,
        };
        let Some(set) = parsed else {
            warn!(jwks_uri = %uri, "Fetching the JWKS failed; keeping the cached keys.");
            return Err(());
        };
        let mut keys = Keys::new();
        for jwk in &set.keys {
            let family = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => KeyFamily::Rsa,
                AlgorithmParameters::EllipticCurve(p)
                    if matches!(p.curve, EllipticCurve::P256 | EllipticCurve::P384) =>
                {
                    KeyFamily::Ec
                }
                AlgorithmParameters::OctetKeyPair(_) => KeyFamily::Ed,
                // Symmetric keys in a public JWKS would be an algorithm-confusion hazard.
                _ => continue,
            };
            if let (Some(kid), Ok(key)) = (&jwk.common.key_id, DecodingKey::from_jwk(jwk)) {
                keys.insert(kid.clone(), (family, key));
            }
        }
        let keys = Arc::new(keys);
        let mut st = self.jwks.write().unwrap_or_else(|e| e.into_inner());
        st.keys = Arc::clone(&keys);
        st.fetched = Some(clock::now());
        Ok(keys)
    }
}

/// `scope` (space-separated) or `scp` (list or string), as AWS reads them.
fn scopes(claims: &Map<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    for name in ["scope", "scp"] {
        match claims.get(name) {
            Some(Value::String(s)) => out.extend(s.split_whitespace().map(str::to_owned)),
            Some(Value::Array(items)) => {
                out.extend(items.iter().filter_map(|v| v.as_str().map(str::to_owned)))
            }
            _ => {}
        }
    }
    out
}

/// A claim as a string: strings as they are, arrays as `[a b]`, others as JSON.
fn stringify(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(stringify).collect::<Vec<_>>().join(" ")
        ),
        other => other.to_string(),
    }
}
