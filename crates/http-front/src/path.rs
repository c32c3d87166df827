//! Turning the request target's path into the path the server routes on and the application
//! sees as `SCRIPT_NAME` + `PATH_INFO`.
//!
//! This follows what Apache does before mod_wsgi sees a request, because applications moved from
//! mod_wsgi rely on it:
//!
//! * `%XX` escapes are decoded; a malformed escape is a 400;
//! * an encoded slash (`%2F`) or NUL (`%00`) is a 404, as with Apache's default
//!   `AllowEncodedSlashes Off`: a decoded `/` would otherwise change which resource is meant;
//! * `.` and `..` segments are resolved after decoding (so `%2e%2e` counts), and a path that
//!   climbs above the root is a 404 (nothing is there to find, and a 404 tells a scanner no more);
//! * repeated slashes are merged.
//!
//! Written by hand because it is Apache's specific rule set, not generic URL normalisation, and
//! small enough to test exhaustively.

use bytes::{BufMut, Bytes, BytesMut};

/// Why a path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path is not absolute (`*`, or an authority-form target).
    #[error("the request path does not start with '/'")]
    NotAbsolute,
    /// A `%` not followed by two hex digits.
    #[error("the request path has a malformed %-escape")]
    BadEscape,
    /// `%2F` or `%00`.
    #[error("the request path has an encoded slash or NUL")]
    EncodedSlashOrNul,
    /// `..` past the root.
    #[error("the request path climbs above the root")]
    AboveRoot,
}

/// Decodes and normalises a raw request path.
pub fn normalize(raw: &str) -> Result<Bytes, PathError> {
    let raw = raw.as_bytes();
    if raw.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    // Fast path: nothing to decode and nothing to normalise, which is most requests.
    if !raw.contains(&b'%') && !has_dot_or_double_slash(raw) {
        return Ok(Bytes::copy_from_slice(raw));
    }
    let decoded = decode(raw)?;
    resolve_segments(&decoded)
}

fn has_dot_or_double_slash(path: &[u8]) -> bool {
    path.windows(2).any(|w| w == b"//" || w == b"/.")
}

fn decode(raw: &[u8]) -> Result<Vec<u8>, PathError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hex = |b: u8| (b as char).to_digit(16);
            let (Some(hi), Some(lo)) = (
                raw.get(i + 1).copied().and_then(hex),
                raw.get(i + 2).copied().and_then(hex),
            ) else {
                return Err(PathError::BadEscape);
            };
            let byte = (hi * 16 + lo) as u8;
            if byte == b'/' || byte == 0 {
                return Err(PathError::EncodedSlashOrNul);
            }
            out.push(byte);
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// Resolves `.` and `..`, and merges empty segments; keeps a trailing slash.
fn resolve_segments(path: &[u8]) -> Result<Bytes, PathError> {
    let mut segments: Vec<&[u8]> = Vec::new();
    let trailing_slash = path.ends_with(b"/") || path.ends_with(b"/.") || path.ends_with(b"/..");
    for segment in path.split(|&b| b == b'/') {
        match segment {
            b"" | b"." => {}
            b".." => {
                if segments.pop().is_none() {
                    return Err(PathError::AboveRoot);
                }
            }
            _ => segments.push(segment),
        }
    }
    let mut out = BytesMut::with_capacity(path.len());
    for segment in &segments {
        out.put_u8(b'/');
        out.put_slice(segment);
    }
    if out.is_empty() || (trailing_slash && !segments.is_empty()) {
        out.put_u8(b'/');
    }
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> String {
        String::from_utf8(normalize(raw).unwrap().to_vec()).unwrap()
    }

    #[test]
    fn plain_paths_pass_unchanged() {
        assert_eq!(ok("/"), "/");
        assert_eq!(ok("/a/b.txt"), "/a/b.txt");
        assert_eq!(ok("/a/"), "/a/");
    }

    #[test]
    fn escapes_are_decoded() {
        assert_eq!(ok("/x%20y"), "/x y");
        assert_eq!(ok("/caf%C3%A9"), "/caf\u{e9}");
    }

    #[test]
    fn malformed_escape_is_refused() {
        assert_eq!(normalize("/a%2"), Err(PathError::BadEscape));
        assert_eq!(normalize("/a%zz"), Err(PathError::BadEscape));
    }

    #[test]
    fn encoded_slash_and_nul_are_refused() {
        assert_eq!(normalize("/a%2Fb"), Err(PathError::EncodedSlashOrNul));
        assert_eq!(normalize("/a%2fb"), Err(PathError::EncodedSlashOrNul));
        assert_eq!(normalize("/a%00b"), Err(PathError::EncodedSlashOrNul));
    }

    #[test]
    fn dot_segments_resolve_after_decoding() {
        assert_eq!(ok("/a/../b"), "/b");
        assert_eq!(ok("/a/./b"), "/a/b");
        assert_eq!(ok("/a/%2e%2e/b"), "/b");
        assert_eq!(ok("/a/b/.."), "/a/");
    }

    #[test]
    fn climbing_above_the_root_is_refused() {
        assert_eq!(normalize("/../etc/passwd"), Err(PathError::AboveRoot));
        assert_eq!(normalize("/a/%2e%2e/%2e%2e/x"), Err(PathError::AboveRoot));
    }

    #[test]
    fn repeated_slashes_are_merged() {
        assert_eq!(ok("//x//y"), "/x/y");
        assert_eq!(ok("//"), "/");
    }

    #[test]
    fn targets_that_are_not_paths_are_refused() {
        assert_eq!(normalize("*"), Err(PathError::NotAbsolute));
        assert_eq!(normalize(""), Err(PathError::NotAbsolute));
    }
}

#[cfg(test)]
#[path = "fuzz/path.rs"]
mod fuzz;
