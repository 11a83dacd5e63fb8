//! Who may open the dashboard and act through it.
//!
//! - With `[management]` credentials, a request carries one of the bearer
//!   tokens: `Authorization: Bearer <token>`, or HTTP Basic with the token as
//!   the password (what a browser's own login prompt sends, so the page and its
//!   event stream need no script to hold the token). Without one it gets 401
//!   and a Basic challenge. SigV4 keys alone cannot serve a browser: the
//!   dashboard then answers 403 saying to configure a bearer token.
//! - Without credentials the management listener serves its own host only:
//!   the dashboard answers loopback peers only (also when
//!   `allow_unauthenticated` exposes the API), and only for a `Host` that is an
//!   IP address or `localhost`, so a page whose DNS name is rebound to
//!   127.0.0.1 cannot read it.
//! - Acting (send, disconnect) takes the `X-Sockgate-Dashboard` header, which a
//!   page elsewhere cannot add without a CORS preflight this listener never
//!   grants, and an `Origin`, when present, of this listener.

use std::net::{IpAddr, SocketAddr};

use base64::Engine as _;
use http::{HeaderMap, Method, header};

use crate::auth::management;
use crate::config::ManagementAuth;

/// The header the dashboard's own script adds to what it changes.
pub(super) const ACTION_HEADER: &str = "x-sockgate-dashboard";

/// Why a request was refused.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    /// 401 with a Basic challenge.
    Unauthorized,
    /// 403, with the reason for the operator.
    Forbidden(&'static str),
}

/// Checks a dashboard request (see the module doc).
pub(super) fn check(
    auth: &ManagementAuth,
    method: &Method,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> Result<(), Refusal> {
    let get = |name| headers.get(name).map(|v| v.as_bytes());
    if auth.required() {
        if auth.bearer_tokens.is_empty() {
            return Err(Refusal::Forbidden(
                "the dashboard needs management.bearer_tokens: a browser cannot sign with SigV4",
            ));
        }
        let token = get(header::AUTHORIZATION).and_then(presented);
        if !token.is_some_and(|t| management::token_matches(auth, &t)) {
            return Err(Refusal::Unauthorized);
        }
    } else {
        if !peer.ip().is_loopback() {
            return Err(Refusal::Forbidden(
                "without management credentials the dashboard answers this host only",
            ));
        }
        if !get(header::HOST).is_some_and(local_host) {
            return Err(Refusal::Forbidden(
                "without management credentials the dashboard answers Host 127.0.0.1, [::1] or localhost only",
            ));
        }
    }
    let acting = method != Method::GET && method != Method::HEAD;
    if acting
        && (headers.get(ACTION_HEADER).is_none()
            || management::cross_origin(get(header::ORIGIN), get(header::HOST)))
    {
        return Err(Refusal::Forbidden(
            "actions are taken from the dashboard's own page only",
        ));
    }
    Ok(())
}

/// The token of `Bearer <token>`, or the password of `Basic <base64(user:password)>`.
fn presented(value: &[u8]) -> Option<Vec<u8>> {
    if let Some(token) = value.strip_prefix(b"Bearer ") {
        return Some(token.to_vec());
    }
    let encoded = value
        .get(..6)
        .filter(|p| p.eq_ignore_ascii_case(b"basic "))
        .map(|_| value[6..].trim_ascii())?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let colon = decoded.iter().position(|b| *b == b':')?;
    Some(decoded[colon + 1..].to_vec())
}

/// `localhost` or an IP address, with or without a port.
fn local_host(host: &[u8]) -> bool {
    let Ok(host) = std::str::from_utf8(host) else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn local() -> SocketAddr {
        "127.0.0.1:5000".parse().unwrap()
    }

    #[test]
    fn without_credentials_only_this_host_by_an_address_or_localhost() {
        let open = ManagementAuth::default();
        let get = Method::GET;
        let ok = headers(&[("host", "127.0.0.1:8081")]);
        assert_eq!(check(&open, &get, &ok, local()), Ok(()));
        let ok = headers(&[("host", "localhost:8081")]);
        assert_eq!(check(&open, &get, &ok, local()), Ok(()));
        let ok = headers(&[("host", "[::1]:8081")]);
        assert_eq!(check(&open, &get, &ok, local()), Ok(()));
        let rebound = headers(&[("host", "attacker.example:8081")]);
        assert!(check(&open, &get, &rebound, local()).is_err());
        let remote = "10.0.0.9:5000".parse().unwrap();
        assert!(check(&open, &get, &ok, remote).is_err());
        assert!(check(&open, &get, &HeaderMap::new(), local()).is_err());
    }

    #[test]
    fn with_credentials_a_bearer_token_or_basic_with_the_token_as_password() {
        let auth = ManagementAuth {
            bearer_tokens: vec!["s3cret".into()],
            ..ManagementAuth::default()
        };
        let remote: SocketAddr = "10.0.0.9:5000".parse().unwrap();
        let get = Method::GET;
        let bearer = headers(&[("authorization", "Bearer s3cret")]);
        assert_eq!(check(&auth, &get, &bearer, remote), Ok(()));
        // "op:s3cret"
        let basic = headers(&[("authorization", "Basic b3A6czNjcmV0")]);
        assert_eq!(check(&auth, &get, &basic, remote), Ok(()));
        // "op:wrong"
        let wrong = headers(&[("authorization", "Basic b3A6d3Jvbmc=")]);
        assert_eq!(
            check(&auth, &get, &wrong, remote),
            Err(Refusal::Unauthorized)
        );
        assert_eq!(
            check(&auth, &get, &HeaderMap::new(), remote),
            Err(Refusal::Unauthorized)
        );
        let sigv4_only = ManagementAuth {
            access_keys: vec![crate::config::AccessKey {
                id: "AKID".into(),
                secret: "x".into(),
            }],
            ..ManagementAuth::default()
        };
        assert!(matches!(
            check(&sigv4_only, &get, &bearer, remote),
            Err(Refusal::Forbidden(_))
        ));
    }

    #[test]
    fn actions_need_the_dashboard_header_and_this_origin() {
        let open = ManagementAuth::default();
        let post = Method::POST;
        let plain = headers(&[("host", "127.0.0.1:8081")]);
        assert!(check(&open, &post, &plain, local()).is_err());
        let own = headers(&[
            ("host", "127.0.0.1:8081"),
            (ACTION_HEADER, "1"),
            ("origin", "http://127.0.0.1:8081"),
        ]);
        assert_eq!(check(&open, &post, &own, local()), Ok(()));
        let elsewhere = headers(&[
            ("host", "127.0.0.1:8081"),
            (ACTION_HEADER, "1"),
            ("origin", "http://evil.example"),
        ]);
        assert!(check(&open, &post, &elsewhere, local()).is_err());
    }
}
