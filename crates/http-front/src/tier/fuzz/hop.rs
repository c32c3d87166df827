//! Fuzz target of the front tier's hop fields (see docs/testing.md, "Fuzzing").
//!
//! `fuzz_hop_round_trip_and_any_headers`: any hop (addresses, ids, versions, arbitrary path
//! bytes, with or without an `ErrorDocument`'s redirect, TLS details, what a trusted proxy's
//! headers said, an authenticated user of any name and a question for an authentication
//! script with arguments of any bytes) written into headers that already hold arbitrary client
//! headers — some named like hop fields, some framing headers — reads back exactly, and leaves
//! only the client's other headers; and taking a hop from arbitrary headers never panics, and
//! either fails or gives a path that holds its script name. A written question whose fields
//! are then replaced, added to or removed (question kinds, escapes, framing lines) is taken
//! without panic, and what is taken leaves no hop header behind and is written and taken
//! again the same. A script's answer of any kind and bytes reads back exactly over arbitrary
//! headers; arbitrary answer lines are read without panic, and what is read is written and
//! read again the same.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version};
use oxwsgi_exchange::{
    AuthAnswer, AuthQuestion, Authenticated, ErrorRedirect, Proxied, TlsDetails, UrlScheme,
};
use proptest::prelude::*;

use super::{
    ANSWER, AuthHop, FRAMING, Hop, PREFIX, QUESTION, QUESTION_HOST, QUESTION_PASSWORD,
    QUESTION_REALM, QUESTION_USER, SCRIPT, answer, write_answer,
};

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
        proptest::option::of(auth_hop()),
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
                auth,
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
                    auth,
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

fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn auth_hop() -> impl Strategy<Value = AuthHop> {
    let question = prop_oneof![
        (bytes(24), bytes(24))
            .prop_map(|(user, password)| AuthQuestion::CheckPassword { user, password }),
        (bytes(24), any::<String>())
            .prop_map(|(user, realm)| AuthQuestion::RealmHash { user, realm }),
        bytes(24).prop_map(|user| AuthQuestion::GroupsForUser { user }),
        any::<String>().prop_map(|host| AuthQuestion::AllowAccess { host }),
    ];
    (proptest::collection::vec(any::<u8>(), 0..32), question).prop_map(|(script, question)| {
        let mut script = script;
        script.insert(0, b'/');
        AuthHop {
            script: PathBuf::from(OsString::from_vec(script)),
            question,
        }
    })
}

fn auth_answer() -> impl Strategy<Value = AuthAnswer> {
    prop_oneof![
        proptest::option::of(bytes(24)).prop_map(|user| AuthAnswer::Granted { user }),
        Just(AuthAnswer::Denied),
        Just(AuthAnswer::UnknownUser),
        bytes(40).prop_map(AuthAnswer::RealmHash),
        proptest::collection::vec(bytes(12), 0..6).prop_map(AuthAnswer::Groups),
        proptest::option::of(any::<bool>()).prop_map(AuthAnswer::Access),
        Just(AuthAnswer::Failed),
    ]
}

/// A line value of the hop's fields: one of the words that matter, a `name=value` line, or
/// any bytes.
fn hop_value() -> impl Strategy<Value = Vec<u8>> {
    let word = prop_oneof![
        Just("check-password"),
        Just("realm-hash"),
        Just("groups-for-user"),
        Just("allow-access"),
        Just("granted"),
        Just("denied"),
        Just("unknown-user"),
        Just("groups"),
        Just("access"),
        Just("failed"),
        Just("allow"),
        Just("deny"),
        Just("none"),
        Just(""),
        Just("%"),
        Just("%FF"),
        Just("%0A"),
        Just("%E9"),
        Just("/srv/a%20b.wsgi"),
        Just("12"),
        Just("chunked"),
    ];
    let name = prop_oneof![
        Just("answer"),
        Just("user"),
        Just("hash"),
        Just("group"),
        Just("access"),
        Just("content-length"),
        Just("transfer-encoding"),
        Just("host"),
        Just(""),
    ];
    prop_oneof![
        word.clone().prop_map(|word| word.as_bytes().to_vec()),
        (name, word).prop_map(|(name, word)| format!("{name}={word}").into_bytes()),
        proptest::collection::vec(prop_oneof![0x20u8..0x7f, 0x80u8..=0xff], 0..20),
    ]
}

/// An edit of a written question's field: a value put in place of the field's (`Some`, and
/// `true` to add it after them instead), or the field removed (`None`).
type Edit = (&'static str, Option<(bool, Vec<u8>)>);

fn question_edits() -> impl Strategy<Value = Vec<Edit>> {
    let name = proptest::sample::select(vec![
        QUESTION,
        SCRIPT,
        QUESTION_USER,
        QUESTION_PASSWORD,
        QUESTION_REALM,
        QUESTION_HOST,
        FRAMING,
        "content-length",
        "transfer-encoding",
    ]);
    let edit = proptest::option::of((any::<bool>(), hop_value()));
    proptest::collection::vec((name, edit), 0..4)
}

/// Arbitrary lines of an answer, mostly well-formed-looking ones, often after an
/// `answer=KIND` line.
fn answer_lines() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let kind = proptest::sample::select(vec![
        "granted",
        "denied",
        "unknown-user",
        "realm-hash",
        "groups",
        "access",
        "failed",
        "other",
    ]);
    (
        proptest::option::of(kind),
        proptest::collection::vec(hop_value(), 0..5),
    )
        .prop_map(|(kind, mut lines)| {
            if let Some(kind) = kind {
                lines.insert(0, format!("answer={kind}").into_bytes());
            }
            lines
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
        Just("oxwsgi-internal-auth-question".to_owned()),
        Just("oxwsgi-internal-auth-question-password".to_owned()),
        Just("oxwsgi-internal-auth-framing".to_owned()),
        Just("oxwsgi-internal-auth-answer".to_owned()),
        Just("content-length".to_owned()),
        Just("transfer-encoding".to_owned()),
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
        question in auth_hop(),
        edits in question_edits(),
        (auth_answer, answer_client) in (auth_answer(), client_headers()),
        lines in answer_lines(),
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
        prop_assert_eq!(Hop::take(&mut headers), Ok(hop.clone()));
        prop_assert_eq!(by_name(&headers), theirs);

        let mut arbitrary = into_map(&other);
        if let Ok(taken) = Hop::take(&mut arbitrary) {
            prop_assert!(taken.script_name_len <= taken.path.len());
        }

        // A question whose fields were changed.
        let mut edited = into_map(&client);
        Hop { auth: Some(question), ..hop.clone() }.write(&mut edited);
        for (name, edit) in edits {
            match edit {
                None => {
                    edited.remove(name);
                }
                Some((add, value)) => {
                    let value = HeaderValue::from_bytes(&value).expect("a header value");
                    if add {
                        edited.append(name, value);
                    } else {
                        edited.insert(name, value);
                    }
                }
            }
        }
        if let Ok(taken) = Hop::take(&mut edited) {
            prop_assert!(!edited.keys().any(|name| name.as_str().starts_with(PREFIX)));
            let mut again = edited.clone();
            taken.write(&mut again);
            prop_assert_eq!(Hop::take(&mut again), Ok(taken));
            prop_assert_eq!(by_name(&again), by_name(&edited));
        }

        // A script's answer.
        let mut response = into_map(&answer_client);
        write_answer(&auth_answer, &mut response);
        prop_assert_eq!(answer(&response), Ok(auth_answer));

        let mut arbitrary = HeaderMap::new();
        for line in &lines {
            arbitrary.append(ANSWER, HeaderValue::from_bytes(line).expect("a header value"));
        }
        if let Ok(read) = answer(&arbitrary) {
            let mut again = HeaderMap::new();
            write_answer(&read, &mut again);
            prop_assert_eq!(answer(&again), Ok(read));
        }
    }
}
