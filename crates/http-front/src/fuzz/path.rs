//! Fuzz target of request path normalisation (see docs/testing.md, "Fuzzing").
//!
//! `fuzz_normalize`: on any target string `normalize` returns (never panics) and agrees with a
//! plain model of Apache's rules (decode `%XX`, refuse a malformed escape, `%2F` and `%00`,
//! resolve `.`/`..` after decoding, refuse climbing above the root, merge slashes, keep a
//! trailing slash); what it returns starts with `/`, has no empty, `.` or `..` segment and no
//! NUL, and is a fixed point when normalised again.

use proptest::prelude::*;

use super::{PathError, normalize};

/// Pieces of a hostile path: dot segments plain and encoded, encoded slashes, backslashes, NUL,
/// broken escapes, double encodings, non-ASCII.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(vec![
            "/", "//", ".", "..", "%2e", "%2E", "%2e%2e", ".%2e", "%2f", "%2F", "%00", "%5c",
            "%5C", "\\", "%25", "%252e", "%", "%g0", "%2", "a", "b", "é", "%C3%A9", "%ff", " ",
            "?", "#", ";", "\0", "%7e", "~",
        ])
        .prop_map(str::to_owned),
        1 => "[a-z.%/]{1,4}",
        1 => any::<String>().prop_map(|s| s.chars().take(3).collect()),
    ]
}

fn raw_path() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => any::<String>(),
        6 => proptest::collection::vec(piece(), 0..12)
            .prop_map(|pieces| format!("/{}", pieces.concat())),
        1 => proptest::collection::vec(piece(), 0..6).prop_map(|pieces| pieces.concat()),
    ]
}

/// The model: Apache's rules written as plainly as possible.
fn model(raw: &str) -> Result<Vec<u8>, PathError> {
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let bytes = raw.as_bytes();
    let mut decoded = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .filter(|h| h.chars().all(|c| c.is_ascii_hexdigit()))
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                None => return Err(PathError::BadEscape),
                Some(b'/') | Some(0) => return Err(PathError::EncodedSlashOrNul),
                Some(byte) => decoded.push(byte),
            }
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    let mut stack: Vec<&[u8]> = Vec::new();
    let segments: Vec<&[u8]> = decoded.split(|&b| b == b'/').collect();
    for segment in &segments {
        match *segment {
            b"" | b"." => {}
            b".." => {
                if stack.pop().is_none() {
                    return Err(PathError::AboveRoot);
                }
            }
            other => stack.push(other),
        }
    }
    let last = segments.last().copied().unwrap_or(b"");
    let trailing = matches!(last, b"" | b"." | b"..");
    let mut out = Vec::new();
    for segment in &stack {
        out.push(b'/');
        out.extend_from_slice(segment);
    }
    if out.is_empty() || trailing {
        out.push(b'/');
    }
    Ok(out)
}

proptest! {
    #[test]
    fn fuzz_normalize(raw in raw_path()) {
        let result = normalize(&raw);
        prop_assert_eq!(result.as_ref().map(|b| b.to_vec()).map_err(|e| *e), model(&raw));
        if let Ok(path) = result {
            prop_assert!(path.starts_with(b"/"));
            // NUL only where the client sent it raw (hyper and strict.rs refuse that before).
            prop_assert!(!path.contains(&0) || raw.contains('\0'));
            let inner = path.strip_suffix(b"/").unwrap_or(&path);
            for segment in inner.split(|&b| b == b'/').skip(1) {
                prop_assert!(
                    !segment.is_empty() && segment != b"." && segment != b"..",
                    "segment {:?} in {:?}", String::from_utf8_lossy(segment), String::from_utf8_lossy(&path)
                );
            }
            // A fixed point (when it can be a request path again: UTF-8, nothing to decode).
            if let Ok(text) = std::str::from_utf8(&path) {
                if !text.contains('%') {
                    prop_assert_eq!(normalize(text).unwrap(), path.clone());
                }
            }
        }
    }
}
