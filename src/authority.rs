//! What a `host[:port]` may be: one rule for a client's `Host`, a backend's
//! URL (integrations, authorizers, key sets, the Lambda endpoint) and an
//! integration URI's authority. A pure leaf: it imports nothing of the crate,
//! so `config` and `routing` share it without importing each other.

/// Whether `authority` is `host[:port]` with nothing a client could use to
/// reach elsewhere: a host name of unreserved characters (letters, digits,
/// `-._~`) or an IP literal (`[v6]`), and a port of 1-65535. No userinfo,
/// no percent-encoding, no empty parts. Client `Host` headers are held to the
/// same rule.
pub fn valid_authority(authority: &str) -> bool {
    let b = authority.as_bytes();
    // One pass: this runs on every request's `Host`.
    let host_end = if b.first() == Some(&b'[') {
        let Some(close) = authority.find(']') else {
            return false;
        };
        if authority[1..close].parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        close + 1
    } else {
        let n = b
            .iter()
            .take_while(|&&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~'))
            .count();
        if n == 0 || n > 253 {
            return false;
        }
        n
    };
    match &b[host_end..] {
        [] => true,
        [b':', port @ ..] => {
            !port.is_empty()
                && port.len() <= 5
                && port.iter().all(u8::is_ascii_digit)
                && port
                    .iter()
                    .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'))
                    .wrapping_sub(1)
                    < 65_535
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::valid_authority;

    #[test]
    fn authorities_are_host_and_port_only() {
        for ok in [
            "b",
            "b:1",
            "10.0.0.1:65535",
            "[::1]",
            "[2001:db8::1]:443",
            "a-b.c_d~",
        ] {
            assert!(valid_authority(ok), "{ok}");
        }
        for bad in [
            "", ":80", "b:", "b:0", "b:65536", "b:8o", "u@b", "b\"", "b c", "[::1", "[zz]",
            "[::1]x", "b/", "b%41", "b:1:2",
        ] {
            assert!(!valid_authority(bad), "{bad}");
        }
    }
}
