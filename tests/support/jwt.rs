//! Tokens for authorizer tests: an HS256 secret, issuer and audience the test
//! configs name, and claims with per-test changes.

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

pub const SECRET: &str = "a-test-secret-that-is-long-enough-0123456789";
pub const ISS: &str = "https://issuer.test";
pub const AUD: &str = "sockgate-tests";

/// A test key file (`tests/keys/NAME`).
pub fn key(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    sockgate::clock::now_ms() / 1000
}

/// Valid claims (`sub` user-1, scopes `chat:read chat:write`, `tenant` acme),
/// with `extra` laid over them (a `null` removes a claim).
pub fn claims(extra: Value) -> Value {
    let mut c = json!({"sub": "user-1", "iss": ISS, "aud": AUD, "exp": now() + 600, "iat": now(), "scope": "chat:read chat:write", "tenant": "acme"});
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

/// `c` signed with [`SECRET`].
pub fn hs256(c: &Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        c,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

/// The `[authorizers.NAME]` table of a JWT authorizer that accepts [`hs256`]
/// tokens from `source`.
pub fn hs256_authorizer(name: &str, source: &str) -> String {
    format!(
        "[authorizers.{name}]\ntype = \"jwt\"\nidentity_source = \"{source}\"\nissuer = \"{ISS}\"\naudience = [\"{AUD}\"]\nalgorithms = [\"HS256\"]\nsecret = \"{SECRET}\"\n"
    )
}

/// `c` signed with `alg` and the private key in `tests/keys/{private_pem}`.
pub fn signed(alg: Algorithm, kid: Option<&str>, c: &Value, private_pem: &str) -> String {
    let pem = key(private_pem);
    let key = match alg {
        Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(&pem),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem),
        _ => EncodingKey::from_rsa_pem(&pem),
    }
    .unwrap();
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    encode(&header, c, &key).unwrap()
}

/// A JWKS document of RSA keys: `(kid, private key file)` pairs.
pub fn jwks(keys: &[(&str, &str)]) -> String {
    let keys: Vec<Value> = keys
        .iter()
        .map(|(kid, pem)| {
            let enc = EncodingKey::from_rsa_pem(&key(pem)).unwrap();
            let mut jwk =
                jsonwebtoken::jwk::Jwk::from_encoding_key(&enc, Algorithm::RS256).unwrap();
            jwk.common.key_id = Some((*kid).to_owned());
            serde_json::to_value(jwk).unwrap()
        })
        .collect();
    json!({ "keys": keys }).to_string()
}
