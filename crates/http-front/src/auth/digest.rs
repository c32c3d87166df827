//! HTTP Digest authentication as mod_auth_digest does it: RFC 7616's `MD5` with `qop=auth`
//! (RFC 2617), and RFC 2069's answers without `qop` when `AuthDigestQop none` offers none.
//!
//! The `Authorization: Digest` parameters are read by hand, as mod_auth_digest's
//! `get_digest_rec` reads them: a key runs to `=`, `,` or white space; a value is a quoted
//! string (a backslash escapes the next byte; it ends at the closing quote or the end of the
//! line) or a token running to `,` or white space; anything else up to the next comma is
//! skipped; keys are compared without regard to case, and unknown ones ignored. No maintained
//! crate parses this on the server side (the `digest_auth` crate is a client's), and reading it
//! exactly as httpd does matters more than generality. The reader never panics on any input:
//! `auth/fuzz/digest.rs` checks it.
//!
//! Nonces: mod_auth_digest's are the time they were made and a hash of that time with a
//! secret; oxwsgi's are the time in seconds (base64) and an HMAC-SHA256 of it and the realm,
//! under a key every process of the server shares ([`Nonces::new`]), so that any worker
//! accepts a nonce another gave. One older than `AuthDigestNonceLifetime` is answered with
//! `stale=true`, so that the client retries with a new one without asking its user. No count
//! of each nonce's uses is kept (mod_auth_digest's `nc` check, which needs its shared memory):
//! within a nonce's lifetime, a captured request can be replayed, as any Basic one can —
//! TLS is the protection against both.

use std::fmt::Write as _;

use base64::Engine as _;
use http::{HeaderMap, header};
use md5::{Digest as _, Md5};
use ring::hmac;

use super::passwords::same;

/// The parameters of an `Authorization: Digest` header, as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DigestResponse {
    pub(crate) username: Vec<u8>,
    pub(crate) realm: Vec<u8>,
    pub(crate) nonce: Vec<u8>,
    pub(crate) uri: Vec<u8>,
    /// The `response` parameter: the client's digest.
    pub(crate) response: Vec<u8>,
    pub(crate) algorithm: Option<Vec<u8>>,
    pub(crate) cnonce: Option<Vec<u8>>,
    pub(crate) qop: Option<Vec<u8>>,
    pub(crate) nc: Option<Vec<u8>>,
}

/// What a request's `Authorization` header holds, for Digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DigestHeader {
    /// No `Authorization` header.
    Missing,
    /// One of another scheme.
    WrongScheme,
    /// A Digest one without `username`, `realm`, `nonce`, `uri` or `response` (or, with a
    /// `qop`, without `cnonce` or `nc`).
    Incomplete,
    /// A complete one.
    Complete(Box<DigestResponse>),
}

/// Reads the Digest parameters of a request's (first) `Authorization` header.
pub(crate) fn digest_header(headers: &HeaderMap) -> DigestHeader {
    let Some(line) = headers.get(header::AUTHORIZATION) else {
        return DigestHeader::Missing;
    };
    parse(line.as_bytes())
}

/// Reads an `Authorization` value (see the module's documentation).
pub(crate) fn parse(line: &[u8]) -> DigestHeader {
    let line = line.trim_ascii_start();
    let scheme_end = line
        .iter()
        .position(u8::is_ascii_whitespace)
        .unwrap_or(line.len());
    if !line[..scheme_end].eq_ignore_ascii_case(b"Digest") {
        return DigestHeader::WrongScheme;
    }
    let mut rest = &line[scheme_end..];
    let mut fields: [Option<Vec<u8>>; 9] = Default::default();
    const KEYS: [&[u8]; 9] = [
        b"username",
        b"realm",
        b"nonce",
        b"uri",
        b"response",
        b"algorithm",
        b"cnonce",
        b"qop",
        b"nc",
    ];
    while !rest.is_empty() {
        rest = rest.trim_ascii_start();
        let key_end = rest
            .iter()
            .position(|&b| b == b'=' || b == b',' || b.is_ascii_whitespace())
            .unwrap_or(rest.len());
        let key = &rest[..key_end];
        rest = rest[key_end..].trim_ascii_start();
        let mut value = Vec::new();
        if let Some(after) = rest.strip_prefix(b"=") {
            rest = after.trim_ascii_start();
            if let Some(quoted) = rest.strip_prefix(b"\"") {
                let mut i = 0;
                while i < quoted.len() && quoted[i] != b'"' {
                    if quoted[i] == b'\\' && i + 1 < quoted.len() {
                        i += 1;
                    }
                    value.push(quoted[i]);
                    i += 1;
                }
                rest = &quoted[(i + 1).min(quoted.len())..];
            } else {
                let end = rest
                    .iter()
                    .position(|&b| b == b',' || b.is_ascii_whitespace())
                    .unwrap_or(rest.len());
                value.extend_from_slice(&rest[..end]);
                rest = &rest[end..];
            }
        }
        let next = rest.iter().position(|&b| b == b',');
        rest = next.map_or(&[][..], |comma| &rest[comma + 1..]);
        if let Some(slot) = KEYS.iter().position(|k| k.eq_ignore_ascii_case(key)) {
            fields[slot] = Some(value);
        }
    }
    let [
        username,
        realm,
        nonce,
        uri,
        response,
        algorithm,
        cnonce,
        qop,
        nc,
    ] = fields;
    let (Some(username), Some(realm), Some(nonce), Some(uri), Some(response)) =
        (username, realm, nonce, uri, response)
    else {
        return DigestHeader::Incomplete;
    };
    if qop.is_some() && (cnonce.is_none() || nc.is_none()) {
        return DigestHeader::Incomplete;
    }
    DigestHeader::Complete(Box::new(DigestResponse {
        username,
        realm,
        nonce,
        uri,
        response,
        algorithm,
        cnonce,
        qop,
        nc,
    }))
}

/// The digest the client must have sent for `method`, given the user's `ha1` (the hex MD5 of
/// `user:realm:password`): RFC 2617's with a `qop`, RFC 2069's without.
pub(crate) fn expected(ha1: &[u8], method: &str, sent: &DigestResponse) -> String {
    let ha2 = md5_hex(&[method.as_bytes(), b":", &sent.uri]);
    match &sent.qop {
        Some(qop) => md5_hex(&[
            ha1,
            b":",
            &sent.nonce,
            b":",
            sent.nc.as_deref().unwrap_or_default(),
            b":",
            sent.cnonce.as_deref().unwrap_or_default(),
            b":",
            qop,
            b":",
            ha2.as_bytes(),
        ]),
        None => md5_hex(&[ha1, b":", &sent.nonce, b":", ha2.as_bytes()]),
    }
}

/// Whether the client's digest is `expected` (in constant time).
pub(crate) fn matches(sent: &DigestResponse, expected: &str) -> bool {
    same(&sent.response, expected.as_bytes())
}

/// The hex MD5 of the parts, joined.
pub(crate) fn md5_hex(parts: &[&[u8]]) -> String {
    let mut md5 = Md5::new();
    for part in parts {
        md5.update(part);
    }
    let mut hex = String::with_capacity(32);
    for byte in md5.finalize() {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// Makes and checks nonces (see the module's documentation).
pub(crate) struct Nonces {
    key: hmac::Key,
}

/// What a nonce a client sent back is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NonceCheck {
    /// One this server gave for the realm, within its lifetime.
    Fresh,
    /// One this server gave for the realm, but too long ago (or in the future).
    Stale,
    /// Not one this server gave for the realm.
    Forged,
}

/// How many bytes of the HMAC a nonce carries.
const NONCE_MAC_LEN: usize = 16;

impl Nonces {
    /// Nonces signed with `secret`, which every process of the server has.
    pub(crate) fn new(secret: &[u8]) -> Nonces {
        Nonces {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// A nonce for `realm`, made at `now` (seconds since the epoch).
    pub(crate) fn make(&self, realm: &str, now: u64) -> String {
        let time = now.to_be_bytes();
        let mut nonce = base64::engine::general_purpose::STANDARD.encode(time);
        for byte in &self.mac(&time, realm.as_bytes()).as_ref()[..NONCE_MAC_LEN] {
            let _ = write!(nonce, "{byte:02x}");
        }
        nonce
    }

    /// What `nonce` is, for `realm`, at `now`, with nonces good for `lifetime` seconds.
    pub(crate) fn check(&self, nonce: &[u8], realm: &[u8], now: u64, lifetime: u64) -> NonceCheck {
        // 8 bytes of time are 12 base64 characters, the last a `=`.
        const TIME_LEN: usize = 12;
        if nonce.len() != TIME_LEN + 2 * NONCE_MAC_LEN {
            return NonceCheck::Forged;
        }
        let (time, mac) = nonce.split_at(TIME_LEN);
        let Ok(time) = base64::engine::general_purpose::STANDARD.decode(time) else {
            return NonceCheck::Forged;
        };
        let Ok(time) = <[u8; 8]>::try_from(time.as_slice()) else {
            return NonceCheck::Forged;
        };
        let mut expected = String::with_capacity(2 * NONCE_MAC_LEN);
        for byte in &self.mac(&time, realm).as_ref()[..NONCE_MAC_LEN] {
            let _ = write!(expected, "{byte:02x}");
        }
        if !same(mac, expected.as_bytes()) {
            return NonceCheck::Forged;
        }
        let made = u64::from_be_bytes(time);
        if made > now || now - made > lifetime {
            NonceCheck::Stale
        } else {
            NonceCheck::Fresh
        }
    }

    fn mac(&self, time: &[u8; 8], realm: &[u8]) -> hmac::Tag {
        let mut context = hmac::Context::with_key(&self.key);
        context.update(time);
        context.update(realm);
        context.sign()
    }
}

/// The request's target as a Digest `uri` must give it: its path and query (the target of
/// an absolute-form request without its scheme and authority).
pub(crate) fn uri_matches(sent: &[u8], target: &http::Uri) -> bool {
    let own = target.path_and_query().map_or("/", |pq| pq.as_str());
    if sent == own.as_bytes() {
        return true;
    }
    // mod_auth_digest's "more sophisticated match": an absolute URI whose path and query are
    // the request's, compared decoded.
    let Ok(sent) = std::str::from_utf8(sent) else {
        return false;
    };
    let Ok(sent) = sent.parse::<http::Uri>() else {
        return false;
    };
    let decoded = |s: &str| percent_encoding::percent_decode_str(s).collect::<Vec<u8>>();
    decoded(sent.path()) == decoded(target.path())
        && sent.query().map(decoded) == target.query().map(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_2617s_example_is_answered() {
        // RFC 2617 §3.5: Mufasa, "Circle Of Life", in testrealm@host.com.
        let header = br#"Digest username="Mufasa", realm="testrealm@host.com",
            nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth,
            nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1",
            opaque="5ccc069c403ebaf9f0171e9517f40e41""#;
        let DigestHeader::Complete(sent) = parse(header) else {
            panic!("not complete");
        };
        assert_eq!(sent.username, b"Mufasa");
        assert_eq!(sent.qop.as_deref(), Some(&b"auth"[..]));
        let ha1 = md5_hex(&[b"Mufasa:testrealm@host.com:Circle Of Life"]);
        let expected = expected(ha1.as_bytes(), "GET", &sent);
        assert_eq!(expected, "6629fae49393a05397450978507c4ef1");
        assert!(matches(&sent, &expected));
    }

    #[test]
    fn the_reader_reads_as_mod_auth_digest_does() {
        let DigestHeader::Complete(sent) = parse(
            b"digest USERNAME = \"a\\\"b\" ,realm=r , nonce=n,uri=\"/x?y=1\",response=abc, \
              junk, algorithm=MD5",
        ) else {
            panic!("not complete");
        };
        assert_eq!(sent.username, b"a\"b");
        assert_eq!(sent.realm, b"r");
        assert_eq!(sent.uri, b"/x?y=1");
        assert_eq!(sent.algorithm.as_deref(), Some(&b"MD5"[..]));
        assert_eq!(parse(b"Basic dTpw"), DigestHeader::WrongScheme);
        assert_eq!(
            parse(b"Digest username=a, realm=r, nonce=n, uri=/"),
            DigestHeader::Incomplete
        );
        // A qop needs cnonce and nc.
        assert_eq!(
            parse(b"Digest username=a, realm=r, nonce=n, uri=/, response=x, qop=auth"),
            DigestHeader::Incomplete
        );
    }

    #[test]
    fn nonces_are_good_for_their_realm_and_lifetime_only() {
        let nonces = Nonces::new(&[1; 32]);
        let nonce = nonces.make("realm", 1000);
        assert_eq!(nonce.len(), 44);
        let check = |nonce: &str, realm: &str, now| {
            nonces.check(nonce.as_bytes(), realm.as_bytes(), now, 300)
        };
        assert_eq!(check(&nonce, "realm", 1000), NonceCheck::Fresh);
        assert_eq!(check(&nonce, "realm", 1300), NonceCheck::Fresh);
        assert_eq!(check(&nonce, "realm", 1301), NonceCheck::Stale);
        assert_eq!(check(&nonce, "realm", 999), NonceCheck::Stale);
        assert_eq!(check(&nonce, "other", 1000), NonceCheck::Forged);
        assert_eq!(
            Nonces::new(&[2; 32]).check(nonce.as_bytes(), b"realm", 1000, 300),
            NonceCheck::Forged
        );
        let mut tampered = nonce.clone().into_bytes();
        tampered[2] ^= 1;
        assert_eq!(
            nonces.check(&tampered, b"realm", 1000, 300),
            NonceCheck::Forged
        );
        assert_eq!(check("short", "realm", 1000), NonceCheck::Forged);
    }

    #[test]
    fn a_uri_matches_the_target_or_its_absolute_form() {
        let target: http::Uri = "/a%20b/c?d=1".parse().unwrap();
        assert!(uri_matches(b"/a%20b/c?d=1", &target));
        assert!(!uri_matches(b"http://example.org/a b/c?d=1", &target));
        assert!(uri_matches(b"http://example.org/a%20b/c?d=1", &target));
        assert!(!uri_matches(b"/a%20b/c", &target));
        assert!(!uri_matches(b"/other?d=1", &target));
    }
}

#[cfg(test)]
#[path = "fuzz/digest.rs"]
mod fuzz;
