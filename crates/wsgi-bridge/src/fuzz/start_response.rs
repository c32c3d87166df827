//! Fuzz target of the checks of an application's status and headers (see docs/testing.md,
//! "Fuzzing").
//!
//! `fuzz_response_status_and_headers`: for arbitrary status strings, header names and values
//! (and the pieces that matter: digits, spaces, CR, LF, NUL, DEL, tabs, latin-1 and wider
//! characters, hop-by-hop names), the checks never panic; a status is accepted exactly when it
//! is three digits from 200 to 999, a space, and a reason without control characters (latin-1),
//! and an accepted one keeps its code and its reason; a header is accepted only with a token
//! name, a latin-1 value without control characters (tab aside) and a name that is not
//! hop-by-hop, and every such header is accepted; a `Content-Length` only as digits (with
//! spaces or tabs around) that fit.

use proptest::prelude::*;

use super::{HeaderProblem, header_pair, is_hop_by_hop, parse_content_length, status_line};

fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => proptest::sample::select(vec![
            "200", "404", "999", "100", "199", "99", "1000", "0", " ", "  ", "OK", "Not Found",
            "\r", "\n", "\0", "\t", "\u{7f}", "é", "\u{ff}", "\u{100}", "漢", ":", "-", "a",
            "Connection", "Transfer-Encoding", "X-Y", "chunked", "+", "0x10",
        ])
        .prop_map(str::to_owned),
        1 => any::<String>().prop_map(|s| s.chars().take(4).collect()),
    ];
    proptest::collection::vec(piece, 0..6).prop_map(|p| p.concat())
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,16}"
}

proptest! {
    #[test]
    fn fuzz_response_status_and_headers(
        status in text(),
        code in 0u16..1100,
        reason in text(),
        name in prop_oneof![token(), text()],
        value in text(),
        length in prop_oneof![text(), "[ \t]{0,2}[0-9]{1,22}[ \t]{0,2}"],
    ) {
        // Arbitrary statuses: accepted ones are well-formed.
        if let Ok((accepted, _)) = status_line(&status) {
            prop_assert!(accepted.as_u16() >= 200, "{status:?}");
            prop_assert!(status.as_bytes()[..3].iter().all(u8::is_ascii_digit));
            prop_assert_eq!(status.as_bytes()[3], b' ');
        }
        // Built statuses: accepted exactly when they should be.
        let line = format!("{code:03} {reason}");
        let reason_ok = reason.chars().all(|c| {
            let c = u32::from(c);
            c <= 0xff && (c >= 0x20 || c == 0x09) && c != 0x7f
        });
        let expected = (200..=999).contains(&code) && code.to_string().len() == 3 && reason_ok;
        match status_line(&line) {
            Ok((accepted, given)) => {
                prop_assert!(expected, "{line:?} accepted");
                prop_assert_eq!(accepted.as_u16(), code);
                if let Some(given) = given {
                    let latin1: Vec<u8> = reason.chars().map(|c| u32::from(c) as u8).collect();
                    prop_assert_eq!(given.as_ref(), latin1.as_slice());
                }
            }
            Err(_) => prop_assert!(!expected, "{line:?} refused"),
        }
        // Headers.
        let value_ok = value.chars().all(|c| {
            let c = u32::from(c);
            c <= 0xff && (c >= 0x20 || c == 0x09) && c != 0x7f
        });
        match header_pair(&name, &value) {
            Ok((header_name, header_value)) => {
                prop_assert!(value_ok, "{value:?} accepted");
                prop_assert!(!is_hop_by_hop(&header_name));
                prop_assert_eq!(header_name.as_str(), name.to_ascii_lowercase());
                prop_assert!(!header_value.as_bytes().iter().any(|b| matches!(b, b'\r' | b'\n' | b'\0')));
            }
            Err(HeaderProblem::HopByHop) => {}
            Err(HeaderProblem::BadName) => {
                prop_assert!(http::HeaderName::from_bytes(name.as_bytes()).is_err());
            }
            Err(_) => prop_assert!(!value_ok, "{value:?} refused"),
        }
        // Content-Length.
        let trimmed = length.trim_matches(|c| c == ' ' || c == '\t');
        match parse_content_length(&length) {
            Some(parsed) => prop_assert_eq!(Some(parsed), trimmed.parse::<u64>().ok()),
            None => prop_assert!(
                trimmed.is_empty()
                    || !trimmed.bytes().all(|b| b.is_ascii_digit())
                    || trimmed.parse::<u64>().is_err()
            ),
        }
    }
}
