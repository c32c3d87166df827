//! The client's credentials, read from `Authorization` as mod_auth_basic's `get_basic_auth`
//! reads them: the scheme is the text before the first space (`Basic`, in any case); the
//! credentials after the spaces and tabs that follow are decoded as APR's base64 decoder
//! decodes them (up to the first character that is not base64, `=` included, without
//! complaint), up to a NUL; the user is what comes before the first `:`, the password the
//! rest (empty without a `:`). So a malformed header gives a user that is not in the file,
//! never an error of its own.

use bytes::Bytes;
use http::{HeaderMap, header};

/// A user name and a password, as the client sent them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Credentials {
    pub(crate) user: Bytes,
    pub(crate) password: Vec<u8>,
}

/// Why a request has no Basic credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CredentialsError {
    /// It has no `Authorization` header.
    Missing,
    /// Its `Authorization` is of another scheme (`Bearer`, `Digest`, …).
    WrongScheme,
}

/// The Basic credentials of a request's (first) `Authorization` header.
pub(crate) fn credentials(headers: &HeaderMap) -> Result<Credentials, CredentialsError> {
    let line = headers
        .get(header::AUTHORIZATION)
        .ok_or(CredentialsError::Missing)?
        .as_bytes();
    let (scheme, rest) = match line.iter().position(|&b| b == b' ') {
        Some(space) => (&line[..space], &line[space..]),
        None => (line, &[][..]),
    };
    if !scheme.eq_ignore_ascii_case(b"Basic") {
        return Err(CredentialsError::WrongScheme);
    }
    let start = rest
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(rest.len());
    let mut decoded = decode(&rest[start..]);
    if let Some(nul) = decoded.iter().position(|&b| b == 0) {
        decoded.truncate(nul);
    }
    Ok(match decoded.iter().position(|&b| b == b':') {
        Some(colon) => Credentials {
            password: decoded[colon + 1..].to_vec(),
            user: Bytes::from(decoded).slice(..colon),
        },
        None => Credentials {
            user: Bytes::from(decoded),
            password: Vec::new(),
        },
    })
}

/// The value of a base64 character, `None` for any other.
fn value(byte: u8) -> Option<u8> {
    match byte {
        b'A'..=b'Z' => Some(byte - b'A'),
        b'a'..=b'z' => Some(byte - b'a' + 26),
        b'0'..=b'9' => Some(byte - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// APR's `apr_base64_decode_binary`: the characters up to the first that is not base64,
/// four at a time; a last group of two or three gives one or two bytes, one of one nothing.
fn decode(text: &[u8]) -> Vec<u8> {
    let values: Vec<u8> = text.iter().map_while(|&b| value(b)).collect();
    let mut out = Vec::with_capacity(values.len() / 4 * 3 + 2);
    for group in values.chunks(4) {
        let at = |i: usize| group.get(i).copied().unwrap_or(0);
        if group.len() > 1 {
            out.push((at(0) << 2) | (at(1) >> 4));
        }
        if group.len() > 2 {
            out.push((at(1) << 4) | (at(2) >> 2));
        }
        if group.len() > 3 {
            out.push((at(2) << 6) | at(3));
        }
    }
    out
}

#[cfg(test)]
#[path = "fuzz/basic.rs"]
mod fuzz;
