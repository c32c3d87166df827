//! Fuzz target of `Host` header validation (see docs/testing.md, "Fuzzing").
//!
//! `fuzz_host_is_valid`: on any bytes `is_valid` returns (never panics); an accepted value has
//! none of `/ @ ? #`, whitespace, control or non-ASCII bytes, is not empty, and its port is at
//! most five digits; and every well-formed `host[:port]` (DNS name, IPv4, bracketed IPv6) is
//! accepted.

use proptest::prelude::*;

use super::is_valid;

fn hostile() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        3 => proptest::sample::select(vec![
            "a", "example.com", ":", "::", "[", "]", "[::1]", "/", "@", " ", "\t", "\r\n", "%2F",
            "..", "80", "123456", "\0", "é", "?", "#", "\\", "user@", "-", "_", "~",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        1 => any::<Vec<u8>>().prop_map(|b| b.into_iter().take(4).collect()),
    ];
    prop_oneof![
        1 => any::<Vec<u8>>(),
        4 => proptest::collection::vec(piece, 0..8).prop_map(|p| p.concat()),
    ]
}

fn well_formed() -> impl Strategy<Value = String> {
    let label = "[a-zA-Z0-9]([a-zA-Z0-9-]{0,10}[a-zA-Z0-9])?";
    let name = proptest::collection::vec(label, 1..4).prop_map(|l| l.join("."));
    let ipv4 = any::<[u8; 4]>().prop_map(|o| format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3]));
    let ipv6 = any::<[u16; 8]>().prop_map(|s| format!("[{}]", std::net::Ipv6Addr::from(s)));
    let port = proptest::option::of(any::<u16>());
    (prop_oneof![name, ipv4, ipv6], port).prop_map(|(host, port)| match port {
        Some(port) => format!("{host}:{port}"),
        None => host,
    })
}

proptest! {
    #[test]
    fn fuzz_host_is_valid(value in hostile(), good in well_formed()) {
        if is_valid(&value) {
            prop_assert!(!value.is_empty());
            prop_assert!(
                value.iter().all(|&b| b.is_ascii_graphic() && !b"/@?#\\".contains(&b)),
                "accepted {:?}", String::from_utf8_lossy(&value)
            );
            let port = match value.iter().rposition(|&b| b == b']' || b == b':') {
                Some(at) if value[at] == b':' => &value[at + 1..],
                _ => &b""[..],
            };
            prop_assert!(port.len() <= 5 && port.iter().all(u8::is_ascii_digit));
        }
        prop_assert!(is_valid(good.as_bytes()), "refused {:?}", good);
    }
}
