//! Fuzz target of the trusted proxy headers (see docs/testing.md, "Fuzzing").
//!
//! `fuzz_proxy_headers`: for any trusted headers, proxies, peer and client-sent header values
//! (addresses, lists, `Forwarded` elements, junk), `apply` never panics, and:
//! * from a peer that is not trusted, nothing counts and every header of a trusted purpose
//!   is gone;
//! * no header of a trusted purpose survives but the one that counted for it;
//! * headers of no trusted purpose are untouched.

use std::net::IpAddr;

use http::{HeaderMap, HeaderName, HeaderValue};
use oxwsgi_config::proxy::{ProxyHeader, TrustedProxies};
use proptest::prelude::*;

use super::apply;

fn address() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        proptest::sample::select(vec![
            "127.0.0.1",
            "10.0.0.1",
            "10.0.0.2",
            "192.0.2.7",
            "::1"
        ])
        .prop_map(|a| a.parse().unwrap()),
        any::<[u8; 4]>().prop_map(IpAddr::from),
    ]
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => address().prop_map(|a| a.to_string().into_bytes()),
        2 => proptest::sample::select(vec![
            ", ", ",", " ", "for=", "for=\"[::1]:80\"", "proto=https", "host=example.com", ";",
            "https", "http", "On", "0", "unknown", "_hidden", "\"", "[", "]", ":8080", "/app",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        1 => proptest::collection::vec(0x20u8..0x7f, 0..6),
    ];
    proptest::collection::vec(piece, 0..8).prop_map(|p| p.concat())
}

fn headers() -> impl Strategy<Value = Vec<(ProxyHeader, Vec<u8>)>> {
    let known = proptest::sample::select(ProxyHeader::ALL.to_vec());
    proptest::collection::vec((known, value()), 0..6)
}

fn trust() -> impl Strategy<Value = TrustedProxies> {
    let known = proptest::sample::select(ProxyHeader::ALL.to_vec());
    let proxy = proptest::sample::select(vec!["10.0.0.0/8", "127.0.0.1", "::1"])
        .prop_map(|text| oxwsgi_config::proxy::parse_proxy(text).expect("a proxy address"));
    (
        proptest::collection::vec(known, 0..4),
        proptest::collection::vec(proxy, 0..3),
    )
        .prop_map(|(headers, proxies)| TrustedProxies { headers, proxies })
}

fn into_map(sent: &[(ProxyHeader, Vec<u8>)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert("x-other", HeaderValue::from_static("kept"));
    for (header, value) in sent {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            map.append(HeaderName::from_static(header.name()), value);
        }
    }
    map
}

proptest! {
    #[test]
    fn fuzz_proxy_headers(trust in trust(), sent in headers(), peer in address()) {
        let mut map = into_map(&sent);
        let proxied = apply(&trust, &mut map, peer);
        prop_assert_eq!(map.get("x-other"), Some(&HeaderValue::from_static("kept")));
        let trusted_purposes: Vec<_> = trust
            .headers
            .iter()
            .flat_map(|h| h.purposes().iter().copied())
            .collect();
        let of_trusted_purpose = |h: &ProxyHeader| {
            h.purposes().iter().any(|p| trusted_purposes.contains(p))
        };
        if !trust.trusts_peer(peer) {
            prop_assert!(proxied.is_none());
            for header in ProxyHeader::ALL.iter().filter(|h| of_trusted_purpose(h)) {
                prop_assert!(map.get(header.name()).is_none(), "{} survived", header.name());
            }
        }
        // Of each purpose, at most the headers that counted remain (one per purpose, and a
        // header may count for several).
        for header in ProxyHeader::ALL.iter().filter(|h| of_trusted_purpose(h)) {
            if map.get(header.name()).is_some() {
                prop_assert!(trust.headers.contains(header), "{} is not trusted", header.name());
            }
        }
    }
}
