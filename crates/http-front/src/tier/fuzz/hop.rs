//! Fuzz target of the front tier's hop fields (see docs/testing.md, "Fuzzing").
//!
//! `fuzz_hop_round_trip_and_any_headers`: any hop (addresses, ids, versions, arbitrary path
//! bytes, with or without an `ErrorDocument`'s redirect, TLS details, what a trusted proxy's
//! headers said and an authenticated user of any name) written into headers that already
//! hold arbitrary client headers — some named like hop fields — reads back exactly, and leaves
//! only the client's other headers; and taking a hop from arbitrary headers never panics, and
//! either fails or gives a path that holds its script name.

use std::net::SocketAddr;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version};
use oxwsgi_exchange::{Authenticated, ErrorRedirect, Proxied, TlsDetails, UrlScheme};
use proptest::prelude::*;

use super::Hop;

fn address() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
        (any::<[u16; 8]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
    ]
}

fn hop() -> impl Strategy<Value = Hop> {
    (
        (any::<u16>(), any::<u16>(), any::<u8>()),
        (address(), address()),
        "[A-Za-z0-9-]{1,24}",
        0u64..4_000_000_000_000_000,
        any::<u64>(),
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 0..64),
        proptest::option::of(redirect()),
        proptest::option::of(tls()),
        proptest::option::of(proxied()),
        proptest::option::of(authenticated()),
    )
        .prop_map(
            |(
                (app, len, listener),
                (remote, local),
                id,
                micros,
                limit,
                old,
                path,
                redirect,
                tls,
                proxied,
                authenticated,
            )| {
                let mut path = path;
                path.insert(0, b'/');
                Hop {
                    app: usize::from(app),
                    script_name_len: usize::from(len) % (path.len() + 1),
                    listener: usize::from(listener),
                    remote,
                    local,
                    request_id: id,
                    received_at: UNIX_EPOCH + Duration::from_micros(micros),
                    body_limit: limit,
                    version: if old {
                        Version::HTTP_10
                    } else {
                        Version::HTTP_11
                    },
                    path: Bytes::from(path),
                    redirect,
                    tls,
                    proxied: proxied.map(Box::new),
                    authenticated,
                }
            },
        )
}

/// Any header value (visible ASCII, spaces, tabs and obs-text), as the headers a proxy sends.
fn header_value() -> impl Strategy<Value = HeaderValue> {
    proptest::collection::vec(prop_oneof![Just(b'\t'), 0x20u8..0x7f, 0x80u8..=0xff], 0..24)
        .prop_map(|bytes| HeaderValue::from_bytes(&bytes).expect("a header value"))
}

fn proxied() -> impl Strategy<Value = Proxied> {
    let value = || proptest::option::of(header_value());
    (
        value(),
        proptest::option::of(prop_oneof![Just(UrlScheme::Http), Just(UrlScheme::Https)]),
        value(),
        value(),
        value(),
        value(),
    )
        .prop_map(
            |(client, scheme, host, server_name, server_port, script_name)| Proxied {
                client,
                scheme,
                host,
                server_name,
                server_port,
                script_name,
            },
        )
}

fn authenticated() -> impl Strategy<Value = Authenticated> {
    (
        proptest::collection::vec(any::<u8>(), 0..24),
        prop_oneof![Just("Basic".to_owned()), "[ -~]{0,8}"],
    )
        .prop_map(|(user, auth_type)| Authenticated {
            user: Bytes::from(user),
            auth_type,
        })
}

fn redirect() -> impl Strategy<Value = ErrorRedirect> {
    (
        400u16..600,
        "[A-Z]{1,8}|[!#$%&'*+.^_`|~0-9a-z-]{1,8}",
        "/([A-Za-z0-9%._~-][A-Za-z0-9/%._~-]{0,19})?(\\?[A-Za-z0-9=&%/?._~-]{0,20})?",
        proptest::collection::vec(any::<u8>(), 0..32),
    )
        .prop_map(|(status, method, uri, url)| ErrorRedirect {
            status: StatusCode::from_u16(status).expect("a status"),
            method: Method::from_bytes(method.as_bytes()).expect("a token"),
            uri: Uri::try_from(uri).expect("a path and query"),
            url: Bytes::from(url),
        })
}

fn tls() -> impl Strategy<Value = TlsDetails> {
    let variable = (
        proptest::sample::select(crate::tls::VARIABLE_NAMES),
        any::<String>(),
    );
    (
        any::<bool>(),
        proptest::option::of(proptest::collection::vec(variable, 0..6)),
    )
        .prop_map(|(client_verified, environment)| TlsDetails {
            client_verified,
            environment,
        })
}

fn client_headers() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    let name = prop_oneof![
        "x-[a-z]{1,8}",
        Just("oxwsgi-internal-remote".to_owned()),
        Just("oxwsgi-internal-path".to_owned()),
        Just("oxwsgi-internal-redirect-status".to_owned()),
        Just("oxwsgi-internal-redirect-uri".to_owned()),
        Just("oxwsgi-internal-tls-verified".to_owned()),
        Just("oxwsgi-internal-tls-variables".to_owned()),
        Just("oxwsgi-internal-proxied".to_owned()),
        Just("oxwsgi-internal-user".to_owned()),
        Just("oxwsgi-internal-auth-type".to_owned()),
        "oxwsgi-internal-[a-z-]{1,10}",
    ];
    let value = proptest::collection::vec(prop_oneof![0x20u8..0x7f, 0x80u8..=0xff], 0..20);
    proptest::collection::vec((name, value), 0..6)
}

fn into_map(headers: &[(String, Vec<u8>)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value),
        ) {
            map.append(name, value);
        }
    }
    map
}

proptest! {
    #[test]
    fn fuzz_hop_round_trip_and_any_headers(
        hop in hop(),
        client in client_headers(),
        other in client_headers(),
    ) {
        let mut headers = into_map(&client);
        // Each name's values in order; names in any order (removing a name may move others).
        let by_name = |map: &HeaderMap| {
            let mut list: Vec<(String, Vec<Vec<u8>>)> = map
                .keys()
                .map(|name| {
                    let values = map.get_all(name).iter().map(|v| v.as_bytes().to_vec()).collect();
                    (name.as_str().to_owned(), values)
                })
                .collect();
            list.sort();
            list
        };
        let mut theirs = by_name(&headers);
        theirs.retain(|(name, _)| !name.starts_with("oxwsgi-internal-"));
        hop.write(&mut headers);
        prop_assert_eq!(Hop::take(&mut headers), Ok(hop));
        prop_assert_eq!(by_name(&headers), theirs);

        let mut arbitrary = into_map(&other);
        if let Ok(taken) = Hop::take(&mut arbitrary) {
            prop_assert!(taken.script_name_len <= taken.path.len());
        }
    }
}
