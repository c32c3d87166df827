//! Fuzz target of the Apache `LogFormat` parser (see docs/testing.md, "Fuzzing").
//!
//! `fuzz_access_format_parse`: on any string the parser returns (never panics); what it accepts
//! is well-formed (header indices in range and in order, header names lower-case tokens, no
//! empty or adjacent literals), and formatting the parsed items back into a format string and
//! parsing that again gives the same items.

use proptest::prelude::*;

use super::{AccessFormat, FormatError, Item, is_token};

/// Pieces a format is made of: directives (known and unknown), braces, and text.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(vec![
            "%h", "%a", "%A", "%l", "%u", "%t", "%r", "%m", "%U", "%q", "%H", "%s", "%>s", "%<s",
            "%b", "%B", "%D", "%T", "%p", "%P", "%L", "%v", "%V", "%%", "%", "%{", "}", "{",
            "%{ms}T", "%{us}T", "%{c}a", "%{c}h", "%{s}T", "%{h}T", "%{Referer}i", "%{X-Id}o", "%{}i", "%{a b}i",
            "%{%d/%b/%Y}t", "%{}t", "%{%~}t", "%{%Q}t", "%{%#z}t", "%{%:::z}t", "%{%-}t", "%Z", "%>", "%{x}%", " ", "\"", "common", "combined",
        ])
        .prop_map(str::to_owned),
        1 => "[ -~]{0,4}",
        1 => any::<String>().prop_map(|s| s.chars().take(4).collect()),
        1 => "%\\{[^}]{0,6}\\}[a-zA-Z%<>]?",
        1 => "%\\{(%[#:.0-9_-]{0,3}[a-zA-Z%+]){1,3}\\}t",
    ]
}

fn format_string() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => any::<String>(),
        4 => proptest::collection::vec(piece(), 0..12).prop_map(|pieces| pieces.concat()),
    ]
}

/// The format string that means `items`.
fn render(format: &AccessFormat) -> String {
    if format.style == super::Style::Json {
        return super::JSON.to_owned();
    }
    let mut out = String::new();
    for item in &format.items {
        match item {
            Item::Literal(text) => out.push_str(&text.replace('%', "%%")),
            Item::RemoteIp => out.push_str("%h"),
            Item::PeerIp => out.push_str("%{c}a"),
            Item::LocalIp => out.push_str("%A"),
            Item::Dash => out.push_str("%l"),
            Item::RemoteUser => out.push_str("%u"),
            Item::Time => out.push_str("%t"),
            Item::TimeFormat(spec) => out.push_str(&format!("%{{{spec}}}t")),
            Item::RequestLine => out.push_str("%r"),
            Item::Method => out.push_str("%m"),
            Item::UrlPath => out.push_str("%U"),
            Item::Query => out.push_str("%q"),
            Item::Protocol => out.push_str("%H"),
            Item::Status => out.push_str("%>s"),
            Item::BytesOrDash => out.push_str("%b"),
            Item::Bytes => out.push_str("%B"),
            Item::Micros => out.push_str("%D"),
            Item::Seconds => out.push_str("%T"),
            Item::Millis => out.push_str("%{ms}T"),
            Item::RequestHeader(i) => {
                out.push_str(&format!("%{{{}}}i", format.request_headers[*i]))
            }
            Item::ResponseHeader(i) => {
                out.push_str(&format!("%{{{}}}o", format.response_headers[*i]))
            }
            Item::LocalPort => out.push_str("%p"),
            Item::Pid => out.push_str("%P"),
            Item::RequestId => out.push_str("%L"),
            Item::ServerName => out.push_str("%v"),
        }
    }
    out
}

fn check_well_formed(format: &AccessFormat) -> Result<(), TestCaseError> {
    let mut next_request = 0;
    let mut next_response = 0;
    let mut previous_literal = false;
    for item in &format.items {
        match item {
            Item::Literal(text) => {
                prop_assert!(!text.is_empty(), "an empty literal");
                prop_assert!(!previous_literal, "two literals in a row");
            }
            Item::RequestHeader(i) => {
                prop_assert_eq!(*i, next_request, "request header indices in order");
                next_request += 1;
            }
            Item::ResponseHeader(i) => {
                prop_assert_eq!(*i, next_response, "response header indices in order");
                next_response += 1;
            }
            Item::TimeFormat(spec) => {
                let closed = spec.contains('}');
                prop_assert!(!closed, "a time format with a closing brace");
                // The access log formats the time with chrono: it must not fail.
                use std::fmt::Write as _;
                let mut out = String::new();
                let written = write!(out, "{}", chrono::Local::now().format(spec));
                prop_assert!(
                    written.is_ok(),
                    "accepted %{{{}}}t, which chrono cannot format",
                    spec
                );
            }
            _ => {}
        }
        previous_literal = matches!(item, Item::Literal(_));
    }
    prop_assert_eq!(next_request, format.request_headers.len());
    prop_assert_eq!(next_response, format.response_headers.len());
    for name in format
        .request_headers
        .iter()
        .chain(&format.response_headers)
    {
        prop_assert!(is_token(name), "header name {:?} is not a token", name);
        prop_assert_eq!(name, &name.to_ascii_lowercase());
    }
    Ok(())
}

proptest! {
    #[test]
    fn fuzz_access_format_parse(format in format_string()) {
        match AccessFormat::parse(&format) {
            Ok(parsed) => {
                check_well_formed(&parsed)?;
                let rendered = render(&parsed);
                let again = AccessFormat::parse(&rendered)
                    .map_err(|err| TestCaseError::fail(format!("{rendered:?} refused: {err}")))?;
                prop_assert_eq!(&again.items, &parsed.items, "rendered as {:?}", rendered);
                prop_assert_eq!(&again.request_headers, &parsed.request_headers);
                prop_assert_eq!(&again.response_headers, &parsed.response_headers);
            }
            Err(err) => {
                // The message quotes the format the user gave (or its nickname's expansion).
                let (FormatError::UnknownDirective { format: named, .. }
                | FormatError::Unclosed { format: named }) = &err;
                prop_assert_eq!(named, &format);
                prop_assert!(err.to_string().starts_with("access log format "));
            }
        }
    }
}

/// Regression (found by `fuzz_access_log_line` in oxwsgi-http-front, which formats lines): a
/// `%{FORMAT}t` whose strftime directive chrono does not know (`%{%~}t`) was accepted, and every
/// line then had `[` where the time should be — no time and no `]`. It is refused now, naming
/// the directive, like an unknown `%` directive.
#[test]
fn regression_unknown_strftime_directive_is_refused() {
    for format in ["%{%~}t", "%{%}t", "%h %{%Y-%Q}t", "%{%#z}t"] {
        let err = AccessFormat::parse(format).unwrap_err();
        assert!(
            matches!(err, FormatError::UnknownDirective { .. }),
            "{format}"
        );
    }
    assert!(AccessFormat::parse("%{%d/%b/%Y:%H:%M:%S %z}t %{%s}t %{%%}t").is_ok());
}
