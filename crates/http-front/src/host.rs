//! Checking a `Host` header: `host[:port]`, where host is a DNS name, an IPv4 address or a
//! bracketed IPv6 address (RFC 9110 §7.2, RFC 3986 §3.2.2). Anything else is a 400, as Apache
//! answers, rather than a value that ends up in `SERVER_NAME` and `SERVER_PORT`.

/// Whether a `Host` header value is well-formed.
pub(crate) fn is_valid(value: &[u8]) -> bool {
    let (host, port) = if value.first() == Some(&b'[') {
        let Some(end) = value.iter().position(|&b| b == b']') else {
            return false;
        };
        let literal = &value[1..end];
        if literal.is_empty()
            || !literal
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return false;
        }
        match &value[end + 1..] {
            [] => return true,
            [b':', port @ ..] => (&value[..=end], port),
            _ => return false,
        }
    } else {
        match value.iter().rposition(|&b| b == b':') {
            Some(colon) => (&value[..colon], &value[colon + 1..]),
            None => (value, &b""[..]),
        }
    };
    let name_ok = !host.is_empty()
        && (host.starts_with(b"[")
            || host
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%".contains(&b)));
    let port_ok = port.len() <= 5 && port.iter().all(u8::is_ascii_digit);
    name_ok && port_ok
}

#[cfg(test)]
mod tests {
    use super::is_valid;

    #[test]
    fn names_addresses_and_ports_are_valid() {
        for host in [
            "example.com",
            "example.com:8080",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:8000",
            "a-b.c_d",
            "host:",
        ] {
            assert!(is_valid(host.as_bytes()), "{host}");
        }
    }

    #[test]
    fn paths_spaces_and_bad_ports_are_invalid() {
        for host in [
            "evil.com:abc/../x",
            "a b",
            "",
            "example.com/x",
            "[::1",
            "[zz]",
            "h:123456",
            "a@b",
        ] {
            assert!(!is_valid(host.as_bytes()), "{host}");
        }
    }
}

#[cfg(test)]
#[path = "fuzz/host.rs"]
mod fuzz;
