//! Fuzz target of the strict request checks (see docs/testing.md, "Fuzzing").
//!
//! `fuzz_strict_check`: for request heads built from arbitrary methods, targets, versions and
//! `Transfer-Encoding` values, `check` returns (never panics), and what it lets through obeys
//! RFC 9112 as the module documents: a target of visible ASCII without `#` or user
//! information, no authority-form outside `CONNECT`, no `CONNECT`, `*` only for `OPTIONS`
//! (answered by the server), and a `Transfer-Encoding` only in HTTP/1.1 or later, naming
//! `chunked` exactly once and nothing else.

use http::{HeaderValue, Method, Version, header};
use proptest::prelude::*;

use super::{Verdict, check};
use crate::error_response::Refusal;

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        4 => proptest::sample::select(vec![
            Method::GET, Method::POST, Method::HEAD, Method::OPTIONS, Method::CONNECT,
            Method::PUT, Method::DELETE, Method::TRACE, Method::PATCH,
        ]),
        1 => "[A-Za-z!#$%&'*+.^_`|~-]{1,8}".prop_filter_map("a token", |m| Method::from_bytes(m.as_bytes()).ok()),
    ]
}

fn target() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => proptest::sample::select(vec![
            "/", "*", "a", "?", "#", "@", ":", "80", "http://", "https://", "example.com",
            "user@", "%20", " ", "\t", "é", "\u{7f}", "[::1]", "..", "%", "//",
        ])
        .prop_map(str::to_owned),
        1 => any::<String>().prop_map(|s| s.chars().take(3).collect()),
    ];
    proptest::collection::vec(piece, 1..8).prop_map(|p| p.concat())
}

fn transfer_encodings() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let coding = prop_oneof![
        4 => proptest::sample::select(vec![
            "chunked", "Chunked", "CHUNKED", "gzip", "identity", "", " ", "chunked;x=1",
            "\tchunked ", "chunk", "chunkedx",
        ])
        .prop_map(str::to_owned),
        1 => "[ -~]{0,6}",
    ];
    let value = proptest::collection::vec(coding, 1..4).prop_map(|c| c.join(",").into_bytes());
    proptest::collection::vec(prop_oneof![4 => value, 1 => any::<Vec<u8>>()], 0..3)
}

proptest! {
    #[test]
    fn fuzz_strict_check(
        method in method(),
        target in target(),
        version in proptest::sample::select(vec![
            Version::HTTP_09, Version::HTTP_10, Version::HTTP_11, Version::HTTP_2, Version::HTTP_3,
        ]),
        encodings in transfer_encodings(),
    ) {
        let Ok(uri) = target.parse::<http::Uri>() else {
            return Ok(());
        };
        let mut builder = http::Request::builder().method(method.clone()).uri(uri).version(version);
        let mut codings: Vec<Vec<u8>> = Vec::new();
        for value in &encodings {
            if let Ok(value) = HeaderValue::from_bytes(value) {
                codings.extend(value.as_bytes().split(|&b| b == b',').map(|c| c.trim_ascii().to_vec()));
                builder = builder.header(header::TRANSFER_ENCODING, value);
            }
        }
        let head = builder.body(()).expect("valid parts").into_parts().0;
        let has_te = head.headers.contains_key(header::TRANSFER_ENCODING);
        let verdict = check(&head);
        let uri = &head.uri;
        let target = uri.path_and_query().map_or("", |pq| pq.as_str());
        match &verdict {
            Ok(verdict) => {
                prop_assert!(target.bytes().all(|b| b.is_ascii_graphic()), "{:?}", target);
                prop_assert!(!target.contains('#'));
                prop_assert!(!uri.authority().is_some_and(|a| a.as_str().contains('@')));
                prop_assert!(method != Method::CONNECT);
                prop_assert!(uri.scheme().is_some() || uri.authority().is_none());
                let asterisk = uri.scheme().is_none() && target == "*";
                prop_assert_eq!(*verdict == Verdict::ServerOptions, asterisk);
                if asterisk {
                    prop_assert_eq!(&method, &Method::OPTIONS);
                }
                if has_te {
                    prop_assert!(version != Version::HTTP_10);
                    prop_assert_eq!(codings.len(), 1, "codings {:?}", codings);
                    prop_assert!(codings[0].eq_ignore_ascii_case(b"chunked"));
                }
            }
            Err(Refusal::UnsupportedTransferCoding) => {
                prop_assert!(has_te);
                prop_assert!(codings.iter().any(|c| !c.is_empty() && !c.eq_ignore_ascii_case(b"chunked")));
            }
            Err(Refusal::ConnectNotSupported) => prop_assert_eq!(&method, &Method::CONNECT),
            Err(Refusal::BadRequest(_)) => {}
            Err(other) => prop_assert!(false, "unexpected refusal {:?}", other),
        }
    }
}
