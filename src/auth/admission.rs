//! Admission before anything else runs: the browser `Origin` allow-list, and
//! per-source-IP caps on open connections and on new connections per second.
//!
//! Per-IP state lives in a `DashMap` entry that exists while the IP has open
//! connections or a recently used rate bucket; [`Admission::sweep`] (run every
//! minute by the server) drops idle entries, so the map is bounded by the open
//! connections plus the IPs seen in the last minute.

use crate::clock::{self, Instant};
use std::net::IpAddr;
use std::sync::Arc;

use dashmap::DashMap;

use crate::config::AdmissionConfig;

/// Why admission refused an upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The `Origin` is not allowed (403).
    Origin,
    /// Too many open connections, or new connections per second, from this IP (429).
    TooMany,
}

#[derive(Debug)]
struct IpState {
    open: usize,
    tokens: f64,
    refilled: Instant,
}

/// The node's per-IP admission state (the rules themselves are config, in the
/// current snapshot, so they change on reload while the counts carry on).
#[derive(Debug, Default)]
pub struct Admission {
    per_ip: Arc<DashMap<IpAddr, IpState>>,
}

/// An open connection's slot in its IP's count (released on drop).
#[derive(Debug)]
pub struct IpPermit {
    ip: IpAddr,
    per_ip: Arc<DashMap<IpAddr, IpState>>,
}

impl Drop for IpPermit {
    fn drop(&mut self) {
        if let Some(mut st) = self.per_ip.get_mut(&self.ip) {
            st.open = st.open.saturating_sub(1);
        }
    }
}

/// Checks the `Origin` header against `cfg` (absent: not a browser, allowed).
pub fn check_origin(cfg: &AdmissionConfig, origin: Option<&str>) -> Result<(), Refusal> {
    match origin {
        Some(o) if !cfg.allowed_origins.is_empty() => {
            if cfg
                .allowed_origins
                .iter()
                .any(|allowed| origin_matches(allowed, o))
            {
                Ok(())
            } else {
                Err(Refusal::Origin)
            }
        }
        _ => Ok(()),
    }
}

impl Admission {
    /// Takes a slot for a new connection from `ip`, if `cfg`'s caps allow.
    pub fn admit_ip(&self, cfg: &AdmissionConfig, ip: IpAddr) -> Result<Option<IpPermit>, Refusal> {
        if cfg.max_connections_per_ip.is_none() && cfg.connects_per_ip.is_none() {
            return Ok(None);
        }
        let now = clock::now();
        let mut st = self.per_ip.entry(ip).or_insert_with(|| IpState {
            open: 0,
            tokens: cfg.connects_per_ip.map_or(0.0, |(_, burst)| burst),
            refilled: now,
        });
        if let Some(max) = cfg.max_connections_per_ip
            && st.open >= max
        {
            return Err(Refusal::TooMany);
        }
        if let Some((rate, burst)) = cfg.connects_per_ip {
            let elapsed = now.duration_since(st.refilled).as_secs_f64();
            st.tokens = (st.tokens + elapsed * rate).min(burst);
            st.refilled = now;
            if st.tokens < 1.0 {
                return Err(Refusal::TooMany);
            }
            st.tokens -= 1.0;
        }
        st.open += 1;
        Ok(Some(IpPermit {
            ip,
            per_ip: Arc::clone(&self.per_ip),
        }))
    }

    /// Drops entries with no open connection and a full bucket (under `cfg`'s rate).
    pub fn sweep(&self, cfg: &AdmissionConfig) {
        let now = clock::now();
        let refill = cfg.connects_per_ip;
        self.per_ip.retain(|_, st| {
            let full = refill.is_none_or(|(rate, burst)| {
                st.tokens + now.duration_since(st.refilled).as_secs_f64() * rate >= burst
            });
            st.open > 0 || !full
        });
    }

    /// IPs tracked now (for tests and metrics).
    pub fn tracked_ips(&self) -> usize {
        self.per_ip.len()
    }
}

/// `https://app.example.com` matches itself; `https://*.example.com` matches
/// any subdomain (not the bare domain). Scheme and host compare case-insensitively.
fn origin_matches(allowed: &str, origin: &str) -> bool {
    let (allowed, origin) = (allowed.to_ascii_lowercase(), origin.to_ascii_lowercase());
    match allowed.split_once('*') {
        None => allowed == origin,
        Some((prefix, suffix)) => {
            origin.len() > prefix.len() + suffix.len()
                && origin.starts_with(prefix)
                && origin.ends_with(suffix)
                && !origin[prefix.len()..origin.len() - suffix.len()].contains('/')
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(max: Option<usize>, rate: Option<(f64, f64)>) -> AdmissionConfig {
        AdmissionConfig {
            allowed_origins: vec![
                "https://app.example.com".into(),
                "https://*.example.org".into(),
            ],
            allowed_subprotocols: vec![],
            max_connections_per_ip: max,
            connects_per_ip: rate,
            max_headers: 100,
        }
    }

    #[test]
    fn origins() {
        let a = config(None, None);
        for ok in [
            None,
            Some("https://app.example.com"),
            Some("HTTPS://APP.EXAMPLE.COM"),
            Some("https://x.example.org"),
        ] {
            assert_eq!(check_origin(&a, ok), Ok(()), "{ok:?}");
        }
        for bad in [
            "https://evil.com",
            "http://app.example.com",
            "https://example.org",
            "https://app.example.com.evil.com",
            "https://a/b.example.org",
            "null",
        ] {
            assert_eq!(check_origin(&a, Some(bad)), Err(Refusal::Origin), "{bad}");
        }
    }

    #[test]
    fn per_ip_open_cap_and_release() {
        let (a, c) = (Admission::default(), config(Some(2), None));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let p1 = a.admit_ip(&c, ip).unwrap();
        let _p2 = a.admit_ip(&c, ip).unwrap();
        assert_eq!(a.admit_ip(&c, ip).unwrap_err(), Refusal::TooMany);
        assert!(
            a.admit_ip(&c, "10.0.0.2".parse().unwrap()).is_ok(),
            "other IPs are not affected"
        );
        drop(p1);
        assert!(a.admit_ip(&c, ip).is_ok());
    }

    #[test]
    fn per_ip_rate_with_burst_and_sweep() {
        let (a, c) = (Admission::default(), config(None, Some((1.0, 3.0))));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let permits: Vec<_> = (0..3).map(|_| a.admit_ip(&c, ip).unwrap()).collect();
        assert_eq!(
            a.admit_ip(&c, ip).unwrap_err(),
            Refusal::TooMany,
            "burst spent"
        );
        drop(permits);
        a.sweep(&c);
        assert_eq!(a.tracked_ips(), 1, "kept while the bucket refills");
    }
}
