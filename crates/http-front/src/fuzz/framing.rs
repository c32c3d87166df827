//! Fuzz targets of the request-stream follower (see docs/testing.md, "Fuzzing").
//!
//! `fuzz_framing_follows_well_formed_streams`: pipelined requests built from arbitrary methods,
//! targets without `#`, HTTP/1.x versions, fields, and bodies framed by `Content-Length` or
//! chunked (with sizes, valid extensions and trailers), split into arbitrary reads: every byte
//! passes, no breach, one head counted per request, and the stream ends between requests.
//! Only a minor version above 1 changes, to 1.
//!
//! `fuzz_framing_is_the_same_in_any_reads`: for arbitrary bytes (and well-formed streams with
//! bytes inserted), feeding never panics, never passes more than it got, and passes the same
//! bytes and finds the same breach however one read is fed in parts; split into several reads,
//! it finds the same breach, except that a body breach of a request that started in an earlier
//! read is no longer a refusal of the whole request (and passes the bytes up to it, where one
//! read passes those up to the request's start); after a breach nothing more passes.

use proptest::prelude::*;

use super::{Breach, Framing};
use crate::error_response::Refusal;

/// A request as generated: its bytes, and the same bytes as hyper should get them.
#[derive(Debug, Clone)]
struct Request {
    sent: Vec<u8>,
    expected: Vec<u8>,
}

fn method() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(vec!["GET", "POST", "PUT", "HEAD", "OPTIONS", "X-Y"])
}

fn target() -> impl Strategy<Value = String> {
    "/[a-zA-Z0-9/?=&%.~-]{0,20}"
}

fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Host: t".to_owned()),
        "X-[A-Za-z-]{1,10}: [ -~]{0,20}".prop_map(|f| f.trim_end().to_owned()),
        Just("Content-Type: text/plain".to_owned()),
        Just("Transfer-Encodings: gzip".to_owned()),
        Just("Content-Lengths: x".to_owned()),
    ]
}

#[derive(Debug, Clone)]
enum Body {
    None,
    Length(Vec<u8>),
    Chunked(Vec<(Vec<u8>, String)>, Vec<String>),
}

fn body() -> impl Strategy<Value = Body> {
    let data = proptest::collection::vec(any::<u8>(), 0..40);
    let extension = prop_oneof![
        Just(String::new()),
        Just(";a=b".to_owned()),
        Just(" ; q=\"x y\"".to_owned()),
        "[;][!-~]{0,10}",
    ];
    let chunk = (proptest::collection::vec(any::<u8>(), 1..30), extension);
    prop_oneof![
        Just(Body::None),
        data.prop_map(Body::Length),
        (
            proptest::collection::vec(chunk, 0..4),
            proptest::collection::vec("X-T[a-z]{0,4}: [a-z]{0,5}", 0..2)
        )
            .prop_map(|(chunks, trailers)| Body::Chunked(chunks, trailers)),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    (
        method(),
        target(),
        0u8..10,
        proptest::collection::vec(field(), 0..4),
        body(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(method, target, minor, fields, body_framing, bare_lf, leading_crlf)| {
                let eol = if bare_lf { "\n" } else { "\r\n" };
                let mut head = String::new();
                if leading_crlf {
                    head.push_str("\r\n");
                }
                head.push_str(&format!("{method} {target} HTTP/1.{minor}{eol}"));
                for field in &fields {
                    head.push_str(field);
                    head.push_str(eol);
                }
                let mut body = Vec::new();
                match &body_framing {
                    Body::None => {}
                    Body::Length(data) => {
                        head.push_str(&format!("Content-Length: {}{eol}", data.len()));
                        body.extend_from_slice(data);
                    }
                    Body::Chunked(chunks, trailers) => {
                        head.push_str(&format!("Transfer-Encoding: gzip, Chunked{eol}"));
                        for (data, extension) in chunks {
                            body.extend_from_slice(
                                format!("{:x}{extension}\r\n", data.len()).as_bytes(),
                            );
                            body.extend_from_slice(data);
                            body.extend_from_slice(b"\r\n");
                        }
                        body.extend_from_slice(b"0\r\n");
                        for trailer in trailers {
                            body.extend_from_slice(trailer.as_bytes());
                            body.extend_from_slice(b"\r\n");
                        }
                        body.extend_from_slice(b"\r\n");
                    }
                }
                head.push_str(eol);
                let mut sent = head.clone().into_bytes();
                sent.extend_from_slice(&body);
                let expected_head = head.replacen(
                    &format!("HTTP/1.{minor}"),
                    &format!("HTTP/1.{}", minor.min(1)),
                    1,
                );
                let mut expected = expected_head.into_bytes();
                expected.extend_from_slice(&body);
                Request { sent, expected }
            },
        )
}

/// Splits `len` bytes at arbitrary points.
fn reads(len: usize, cuts: &[usize]) -> Vec<(usize, usize)> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (len + 1)).collect();
    points.push(0);
    points.push(len);
    points.sort_unstable();
    points.dedup();
    points.windows(2).map(|w| (w[0], w[1])).collect()
}

/// Feeds `input` in the pieces given, each a read of its own, or all parts of one read: the
/// bytes passed, and the breach.
fn follow(input: &[u8], cuts: &[usize], one_read: bool) -> (Vec<u8>, Option<Breach>, Framing) {
    let mut framing = Framing::new();
    let mut passed = Vec::new();
    let mut read = Vec::new();
    let mut breached = false;
    framing.start_read();
    for (start, end) in reads(input.len(), cuts) {
        if !one_read {
            framing.start_read();
            passed.append(&mut read);
        }
        let fed = read.len();
        read.extend_from_slice(&input[start..end]);
        let n = framing.feed(&mut read, fed);
        assert!(n <= read.len());
        if breached {
            assert_eq!(n, fed, "bytes passed after a breach");
        }
        breached = framing.breach().is_some();
        read.truncate(n);
    }
    passed.append(&mut read);
    let breach = framing.breach().cloned();
    (passed, breach, framing)
}

/// A breach as found in one read: a body breach of a request that started in it holds back the
/// whole request.
fn in_one_read(breach: Option<Breach>) -> Option<Breach> {
    match breach {
        Some(Breach::Body(why)) => Some(Breach::Head(Refusal::BadRequest(why))),
        breach => breach,
    }
}

proptest! {
    #[test]
    fn fuzz_framing_follows_well_formed_streams(
        requests in proptest::collection::vec(request(), 1..4),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let sent: Vec<u8> = requests.iter().flat_map(|r| r.sent.clone()).collect();
        let expected: Vec<u8> = requests.iter().flat_map(|r| r.expected.clone()).collect();
        let (passed, breach, framing) = follow(&sent, &cuts, false);
        prop_assert_eq!(breach, None);
        prop_assert_eq!(passed, expected);
        prop_assert_eq!(framing.heads(), requests.len() as u64);
        prop_assert!(framing.between_requests());
    }

    #[test]
    fn fuzz_framing_is_the_same_in_any_reads(
        input in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..200),
            (
                proptest::collection::vec(request(), 1..3),
                proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
            )
                .prop_map(|(requests, inserts)| {
                    let mut bytes: Vec<u8> = requests.iter().flat_map(|r| r.sent.clone()).collect();
                    for (at, byte) in inserts {
                        let at = at % (bytes.len() + 1);
                        bytes.insert(at, byte);
                    }
                    bytes
                }),
        ],
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let (whole, whole_breach, _) = follow(&input, &[], true);
        let (parts, parts_breach, _) = follow(&input, &cuts, true);
        prop_assert_eq!(&whole, &parts);
        prop_assert_eq!(&whole_breach, &parts_breach);
        prop_assert!(whole.len() <= input.len());
        let (pieces, pieces_breach, _) = follow(&input, &cuts, false);
        prop_assert!(pieces.starts_with(&whole));
        if pieces_breach == whole_breach {
            prop_assert_eq!(&pieces, &whole);
        } else {
            prop_assert_eq!(in_one_read(pieces_breach), whole_breach);
        }
    }
}
