//! Fuzz target of `Range` and `If-Range` handling (see docs/testing.md, "Fuzzing").
//!
//! `fuzz_range`: for any `Range` value and file length, `parse_range` returns (never panics)
//! and a part it grants lies within the file; it agrees with RFC 9110 §14.1.2 on well-formed
//! single ranges. Through `respond` with a real (sparse) file and arbitrary `Range`,
//! `If-Range`, method and conditional headers: a 206 says `Content-Range: bytes a-b/len` with
//! `a <= b < len` and `Content-Length` (and the body's exact size) `b - a + 1`; a 200 sends
//! the whole length; a 416 says `bytes */len` with an empty body.

use std::io::Seek;

use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use http_body::Body as _;
use proptest::prelude::*;

use super::{FileToServe, RangeRequest, Transfer, parse_range, respond};

fn range_value() -> impl Strategy<Value = Vec<u8>> {
    let number = prop_oneof![
        3 => (0u64..300).prop_map(|n| n.to_string()),
        1 => any::<u64>().prop_map(|n| n.to_string()),
        1 => proptest::sample::select(vec![
            "", " ", "18446744073709551615", "18446744073709551616", "-1", "+1", "1e2", "0x1",
            "٣", "00",
        ])
        .prop_map(str::to_owned),
    ];
    let spec = (
        number.clone(),
        proptest::sample::select(vec!["-", " - ", "--", "", "="]),
        number,
    )
        .prop_map(|(a, dash, b)| format!("{a}{dash}{b}"));
    prop_oneof![
        6 => (
            proptest::sample::select(vec!["bytes=", "Bytes=", "bytes =", " bytes=", "items=", ""]),
            proptest::collection::vec(spec, 1..3),
        )
            .prop_map(|(unit, specs)| format!("{unit}{}", specs.join(",")).into_bytes()),
        1 => any::<Vec<u8>>(),
    ]
}

fn length() -> impl Strategy<Value = u64> {
    prop_oneof![3 => 0u64..4, 3 => 0u64..400, 1 => any::<u32>().prop_map(u64::from), 1 => 0u64..(1 << 40)]
}

fn number(s: &str) -> Option<u64> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// RFC 9110 §14.1.2 for one well-formed `bytes=` range (`None` if it is not one).
fn model(value: &[u8], len: u64) -> Option<RangeRequest> {
    let spec = std::str::from_utf8(value).ok()?.strip_prefix("bytes=")?;
    let (first, last) = spec.split_once('-')?;
    match (number(first), number(last)) {
        (None, Some(suffix)) if first.is_empty() => Some(if suffix == 0 || len == 0 {
            RangeRequest::Unsatisfiable
        } else {
            RangeRequest::Part {
                start: len.saturating_sub(suffix),
                end: len - 1,
            }
        }),
        (Some(start), None) if last.is_empty() => Some(if start < len {
            RangeRequest::Part {
                start,
                end: len - 1,
            }
        } else {
            RangeRequest::Unsatisfiable
        }),
        (Some(start), Some(end)) if start <= end => Some(if start < len {
            RangeRequest::Part {
                start,
                end: end.min(len - 1),
            }
        } else {
            RangeRequest::Unsatisfiable
        }),
        _ => None,
    }
}

/// A stream body type for `ResponseBody<S>` (file responses never have one).
type Never = http_body_util::combinators::UnsyncBoxBody<bytes::Bytes, crate::application::BoxError>;

thread_local! {
    static FILE: std::fs::File = {
        let path = std::env::temp_dir().join(format!(
            "oxwsgi-fuzz-range-{}-{:?}", std::process::id(), std::thread::current().id()
        ));
        let file = std::fs::File::options()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        // Unlinked at once: the open descriptor is all the target needs, and nothing is left.
        std::fs::remove_file(&path).unwrap();
        file
    };
}

fn conditional() -> impl Strategy<Value = Vec<(header::HeaderName, String)>> {
    let name = proptest::sample::select(vec![
        header::IF_RANGE,
        header::IF_MATCH,
        header::IF_NONE_MATCH,
        header::IF_MODIFIED_SINCE,
        header::IF_UNMODIFIED_SINCE,
    ]);
    let value = proptest::sample::select(vec![
        "*",
        "\"x\"",
        "W/\"x\"",
        "Thu, 01 Jan 1970 00:00:00 GMT",
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "garbage",
        "",
    ])
    .prop_map(str::to_owned);
    proptest::collection::vec((name, value), 0..3)
}

proptest! {
    #[test]
    fn fuzz_range(
        value in range_value(),
        len in length(),
        head in any::<bool>(),
        conditions in conditional(),
        use_etag in any::<bool>(),
    ) {
        let parsed = parse_range(&value, len);
        if let RangeRequest::Part { start, end } = parsed {
            prop_assert!(start <= end && end < len, "{:?} of {}: {:?}", String::from_utf8_lossy(&value), len, parsed);
        }
        if let Some(expected) = model(&value, len) {
            prop_assert_eq!(parsed, expected, "{:?} of {}", String::from_utf8_lossy(&value), len);
        }

        let file = FILE.with(|file| {
            file.set_len(len).unwrap();
            let mut file = file.try_clone().unwrap();
            file.rewind().unwrap();
            file
        });
        let meta = file.metadata().unwrap();
        let mut request = HeaderMap::new();
        if let Ok(range) = HeaderValue::from_bytes(&value) {
            request.insert(header::RANGE, range);
        }
        for (name, text) in conditions {
            let text = if use_etag && name == header::IF_RANGE {
                // The file's own entity tag, so If-Range can match.
                match super::entity_tag(len, meta.modified().ok(), None) {
                    Some(tag) => {
                        use headers::HeaderMapExt as _;
                        let mut map = HeaderMap::new();
                        map.typed_insert(tag);
                        map[header::ETAG].to_str().unwrap().to_owned()
                    }
                    None => text,
                }
            } else {
                text
            };
            if let Ok(v) = HeaderValue::from_str(&text) {
                request.append(name, v);
            }
        }
        let method = if head { Method::HEAD } else { Method::GET };
        let response = respond::<Never>(&method, &request, FileToServe {
            file,
            meta,
            content_type: HeaderValue::from_static("application/octet-stream"),
            encoding: None,
            transfer: Transfer::Read,
        });
        let headers = response.headers();
        let content_length = headers
            .get(header::CONTENT_LENGTH)
            .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
        let body_size = response.body().size_hint().exact();
        match response.status() {
            StatusCode::OK => {
                prop_assert_eq!(content_length, Some(len));
                prop_assert!(headers.get(header::CONTENT_RANGE).is_none());
                prop_assert_eq!(body_size, Some(if head { 0 } else { len }));
            }
            StatusCode::PARTIAL_CONTENT => {
                prop_assert!(!head);
                let RangeRequest::Part { start, end } = parsed else {
                    return Err(TestCaseError::fail(format!("206 for {parsed:?}")));
                };
                let content_range = headers.get(header::CONTENT_RANGE).unwrap().to_str().unwrap();
                prop_assert_eq!(content_range, format!("bytes {start}-{end}/{len}"));
                prop_assert_eq!(content_length, Some(end - start + 1));
                prop_assert_eq!(body_size, Some(end - start + 1));
            }
            StatusCode::RANGE_NOT_SATISFIABLE => {
                prop_assert_eq!(parsed, RangeRequest::Unsatisfiable);
                let content_range = headers.get(header::CONTENT_RANGE).unwrap().to_str().unwrap();
                prop_assert_eq!(content_range, format!("bytes */{len}"));
                prop_assert_eq!(content_length, Some(0));
                prop_assert_eq!(body_size, Some(0));
            }
            StatusCode::NOT_MODIFIED | StatusCode::PRECONDITION_FAILED => {
                prop_assert_eq!(body_size, Some(0));
            }
            other => prop_assert!(false, "status {}", other),
        }
    }
}

/// Regression: `Range: bytes=-1` on an empty file computed `len - 1` with `len == 0`: a panic
/// (debug) or, with release arithmetic, a 206 with `Content-Range: bytes 0-18446744073709551615/0`
/// (the seed is also kept in proptest-regressions/static_files/fuzz/respond.txt).
#[test]
fn regression_suffix_range_of_an_empty_file_is_unsatisfiable() {
    for value in [&b"bytes=-1"[..], b" bytes=-1", b"bytes=-500", b"bytes=-0"] {
        assert_eq!(parse_range(value, 0), RangeRequest::Unsatisfiable);
    }
    assert_eq!(
        parse_range(b"bytes=-1", 1),
        RangeRequest::Part { start: 0, end: 0 }
    );
}
