//! Fuzz target of access log lines (see docs/testing.md, "Fuzzing").
//!
//! `fuzz_access_log_line`: for any format the configuration accepts (built from every
//! directive, `%{...}t` time formats valid or not, and literal text) and any request — method,
//! target, version, header values with every byte a header may carry, any user name its
//! credentials may give — formatting the line never
//! panics, and what the client sent cannot split or forge log lines: the line ends with its one
//! `\n` and holds no other line break when the format holds none. Each `%{FORMAT}t` item is
//! written whole, `[` to `]`.

use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use http::{HeaderValue, Method, StatusCode, Version};
use oxwsgi_config::access_format::{AccessFormat, Item};
use proptest::prelude::*;

use super::{AccessEntry, AccessLog, header_names};

fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(vec![
            "%h", "%a", "%A", "%l", "%u", "%t", "%r", "%m", "%U", "%q", "%H", "%s", "%>s", "%b",
            "%B", "%D", "%T", "%{ms}T", "%{us}T", "%p", "%P", "%L", "%v", "%%", " ", "\"",
            "%{User-Agent}i", "%{X-A}i", "%{Referer}i", "%{X-Id}o", "%{Content-Type}o",
            "%{%d/%b/%Y:%H:%M:%S %z}t", "%{%s}t", "%{%Y-%m-%dT%H:%M:%S%.3f%:z}t",
        ])
        .prop_map(str::to_owned),
        1 => "%\\{[ -|~]{0,6}\\}t".prop_filter("no line break of the format's own", |t| !t.contains("%n")),
        1 => "[ -~]{1,4}".prop_map(|t| t.replace('%', "%%")),
    ]
}

fn header_value() -> impl Strategy<Value = Option<HeaderValue>> {
    proptest::option::of(
        // Every byte a header value may carry: tab, visible ASCII and space, obs-text.
        proptest::collection::vec(prop_oneof![Just(b'\t'), 0x20u8..0x7f, 0x80u8..=0xff], 0..12)
            .prop_map(|b| HeaderValue::from_bytes(&b).expect("allowed bytes")),
    )
}

fn target() -> impl Strategy<Value = http::Uri> {
    proptest::collection::vec(
        proptest::sample::select(vec![
            "/", "a", "%0A", "%0D", "?", "q=1", "&", "http://h", "é", "\\", "\"", "%", "*",
        ]),
        1..6,
    )
    // What http::Uri refuses hyper would have refused too: the root instead.
    .prop_map(|p| {
        p.concat()
            .parse()
            .unwrap_or_else(|_| http::Uri::from_static("/"))
    })
}

proptest! {
    #[test]
    fn fuzz_access_log_line(
        pieces in proptest::collection::vec(piece(), 0..10),
        method in "[A-Z]{1,7}|[!#$%&'*+.^_`|~-]{1,3}",
        uri in target(),
        version in proptest::sample::select(vec![Version::HTTP_09, Version::HTTP_10, Version::HTTP_11, Version::HTTP_2]),
        request_headers in proptest::collection::vec(header_value(), 8),
        response_headers in proptest::collection::vec(header_value(), 0..8),
        status in 100u16..1000,
        bytes_sent in any::<u64>(),
        micros in any::<u64>(),
        user in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..12)),
    ) {
        let Ok(format) = AccessFormat::parse(&pieces.concat()) else {
            return Ok(());
        };
        let Ok(method) = Method::from_bytes(method.as_bytes()) else {
            return Ok(());
        };
        let request_count = format.request_headers.len();
        let time_formats: Vec<String> = format.items.iter().filter_map(|item| match item {
            Item::TimeFormat(spec) => Some(spec.clone()),
            _ => None,
        }).collect();
        let (lines, _receiver) = mpsc::channel();
        let log = AccessLog {
            request_headers: header_names(&format.request_headers),
            response_headers: header_names(&format.response_headers),
            format,
            server_name: "localhost".into(),
            process_group: "localhost:8000".into(),
            lines,
        };
        let entry = AccessEntry {
            remote: "127.0.0.1:5000".parse::<SocketAddr>().unwrap(),
            client: None,
            local: "[::1]:8000".parse::<SocketAddr>().unwrap(),
            method,
            uri,
            version,
            request_id: "r1".into(),
            started: Instant::now(),
            request_headers: request_headers.into_iter().cycle().take(request_count).collect(),
            status: StatusCode::from_u16(status).unwrap(),
            response_headers,
            user: user.map(bytes::Bytes::from),
        };
        let line = log.format_line(&entry, bytes_sent, Duration::from_micros(micros));
        prop_assert!(line.ends_with('\n'));
        prop_assert!(!line[..line.len() - 1].contains(['\n', '\r']), "{:?}", line);
        // Each time format alone: written whole.
        for spec in time_formats {
            let (lines, _receiver) = mpsc::channel();
            let format = AccessFormat::parse(&format!("%{{{spec}}}t")).unwrap();
            let log = AccessLog {
                request_headers: Vec::new(),
                response_headers: Vec::new(),
                format,
                server_name: "localhost".into(),
                process_group: "localhost:8000".into(),
                lines,
            };
            let line = log.format_line(&entry, 0, Duration::ZERO);
            prop_assert!(line.starts_with('[') && line.ends_with("]\n"), "%{{{}}}t wrote {:?}", spec, line);
        }
    }
}
