//! Addresses in the config: ranges (`trusted_proxies = ["10.0.0.0/8",
//! "::1"]`) and backends' URLs.

use std::net::IpAddr;

/// An address range: an address and how many of its leading bits count
/// (`10.0.0.0/8`; a bare address is the range of that one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    /// Parses `a.b.c.d[/n]` or `v6[/n]`; `None` if it is neither.
    pub fn parse(text: &str) -> Option<Cidr> {
        let (addr, bits) = match text.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (text, None),
        };
        let net: IpAddr = addr.trim().parse().ok()?;
        let net = net.to_canonical();
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            Some(b) => b.trim().parse::<u8>().ok().filter(|b| *b <= max)?,
            None => max,
        };
        Some(Cidr { net, bits })
    }

    /// Whether `ip` is in the range (an IPv4-mapped IPv6 address counts as
    /// its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let bits = u32::from(self.bits);
        match (self.net, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// A backend's `http://` or `https://` URL, its authority `host[:port]` (no
/// userinfo, no encoding): integrations, authorizers and key sets alike.
pub fn backend_url(text: &str) -> Result<http::Uri, String> {
    let uri: http::Uri = text.parse().map_err(|_| format!("{text:?} is not a URL"))?;
    let authority = uri.authority().map_or("", |a| a.as_str());
    match uri.scheme_str() {
        Some("http" | "https") if crate::authority::valid_authority(authority) => Ok(uri),
        Some("http" | "https") => Err(format!(
            "{text:?}: {authority:?} is not host[:port] (no userinfo, no encoding)"
        )),
        _ => Err(format!("{text:?} is not an http:// or https:// URL")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_hold_what_their_prefix_says() {
        let r = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(r.contains(ip("10.255.1.2")) && !r.contains(ip("11.0.0.1")));
        assert!(r.contains(ip("::ffff:10.1.1.1")), "IPv4-mapped");
        assert!(!r.contains(ip("::1")));
        let one = Cidr::parse("192.0.2.7").unwrap();
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(ip("203.0.113.9")));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains(ip("2001:db8:1::5")) && !v6.contains(ip("2001:db9::1")));
        assert!(Cidr::parse("::1").unwrap().contains(ip("::1")));
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "host",
            "10.0.0.0/x",
            "10.0.0/8",
        ] {
            assert!(Cidr::parse(bad).is_none(), "{bad}");
        }
    }
}
