//! What a forwarded request carries besides itself: what the group's worker would otherwise
//! learn from the client's connection, and how the worker says its application produced no
//! response.
//!
//! The hop is HTTP/1.1 over a unix socket, with the client's request as it came (method,
//! target, headers, body) and a few fields of its own, each a header named
//! `oxwsgi-internal-…`. The front tier removes any such header a client sends before adding
//! its own, and the worker removes them all before the application sees the request: they
//! never reach an environ. Only the front tier can connect to a group's socket (it is its
//! user's, mode 0600), so the worker may trust them.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Version};

/// What a path escapes in its hop header: everything but unreserved characters and `/`.
const ESCAPED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
use oxwsgi_exchange::AppError;

/// Every header of the hop is named so.
const PREFIX: &str = "oxwsgi-internal-";

const APP: &str = "oxwsgi-internal-app";
const SCRIPT_NAME_LEN: &str = "oxwsgi-internal-script-name-len";
const LISTENER: &str = "oxwsgi-internal-listener";
const REMOTE: &str = "oxwsgi-internal-remote";
const LOCAL: &str = "oxwsgi-internal-local";
const REQUEST_ID: &str = "oxwsgi-internal-request-id";
const RECEIVED: &str = "oxwsgi-internal-received-us";
const BODY_LIMIT: &str = "oxwsgi-internal-body-limit";
const VERSION: &str = "oxwsgi-internal-version";
const PATH: &str = "oxwsgi-internal-path";
/// On a response: the application produced none, and why ([`AppError`]).
pub(crate) const ERROR: HeaderName = HeaderName::from_static("oxwsgi-internal-error");

/// The fields a forwarded request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hop {
    /// The application's index among its group's applications.
    pub(crate) app: usize,
    pub(crate) script_name_len: usize,
    pub(crate) listener: usize,
    pub(crate) remote: SocketAddr,
    pub(crate) local: SocketAddr,
    pub(crate) request_id: String,
    pub(crate) received_at: SystemTime,
    pub(crate) body_limit: u64,
    /// The client's HTTP version (the hop is always HTTP/1.1).
    pub(crate) version: Version,
    /// The decoded path the request was routed by (it may differ from the target's: a
    /// directory's index script).
    pub(crate) path: Bytes,
}

/// A forwarded request lacked a field of the hop, or had a malformed one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the forwarded request's {0} header is missing or malformed")]
pub(crate) struct HopError(&'static str);

impl Hop {
    /// Adds the fields to a request's headers, replacing any a client sent.
    pub(crate) fn write(&self, headers: &mut HeaderMap) {
        remove_all(headers);
        let received = self
            .received_at
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros();
        let number = |n: u128| HeaderValue::from(n as u64);
        headers.insert(HeaderName::from_static(APP), number(self.app as u128));
        headers.insert(
            HeaderName::from_static(SCRIPT_NAME_LEN),
            number(self.script_name_len as u128),
        );
        headers.insert(
            HeaderName::from_static(LISTENER),
            number(self.listener as u128),
        );
        headers.insert(
            HeaderName::from_static(REMOTE),
            text(&self.remote.to_string()),
        );
        headers.insert(
            HeaderName::from_static(LOCAL),
            text(&self.local.to_string()),
        );
        headers.insert(HeaderName::from_static(REQUEST_ID), text(&self.request_id));
        headers.insert(HeaderName::from_static(RECEIVED), number(received));
        headers.insert(
            HeaderName::from_static(BODY_LIMIT),
            HeaderValue::from(self.body_limit),
        );
        if self.version == Version::HTTP_10 {
            headers.insert(
                HeaderName::from_static(VERSION),
                HeaderValue::from_static("1.0"),
            );
        }
        let path = percent_encoding::percent_encode(&self.path, ESCAPED).to_string();
        headers.insert(HeaderName::from_static(PATH), text(&path));
    }

    /// Takes the fields out of a forwarded request's headers (every `oxwsgi-internal-` header
    /// goes, whatever it is).
    pub(crate) fn take(headers: &mut HeaderMap) -> Result<Hop, HopError> {
        let hop = Hop {
            app: parsed(headers, APP)?,
            script_name_len: parsed(headers, SCRIPT_NAME_LEN)?,
            listener: parsed(headers, LISTENER)?,
            remote: parsed(headers, REMOTE)?,
            local: parsed(headers, LOCAL)?,
            request_id: parsed(headers, REQUEST_ID)?,
            received_at: UNIX_EPOCH + Duration::from_micros(parsed(headers, RECEIVED)?),
            body_limit: parsed(headers, BODY_LIMIT)?,
            version: match headers.get(VERSION) {
                Some(value) if value == "1.0" => Version::HTTP_10,
                Some(_) => return Err(HopError(VERSION)),
                None => Version::HTTP_11,
            },
            path: match headers.get(PATH) {
                Some(value) => Bytes::from(
                    percent_encoding::percent_decode(value.as_bytes()).collect::<Vec<u8>>(),
                ),
                None => return Err(HopError(PATH)),
            },
        };
        if hop.script_name_len > hop.path.len() {
            return Err(HopError(SCRIPT_NAME_LEN));
        }
        remove_all(headers);
        Ok(hop)
    }
}

fn text(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).expect("addresses and request ids are visible ASCII")
}

fn parsed<T: std::str::FromStr>(headers: &HeaderMap, name: &'static str) -> Result<T, HopError> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .ok_or(HopError(name))
}

/// Removes every header of the hop.
fn remove_all(headers: &mut HeaderMap) {
    // Headers are few and the prefix is rare: look before collecting anything.
    if !headers.keys().any(is_hop_header) {
        return;
    }
    let names: Vec<HeaderName> = headers
        .keys()
        .filter(|n| is_hop_header(n))
        .cloned()
        .collect();
    for name in names {
        headers.remove(name);
    }
}

fn is_hop_header(name: &HeaderName) -> bool {
    name.as_str().starts_with(PREFIX)
}

/// How an [`AppError`] is written in [`ERROR`].
pub(crate) fn error_token(error: AppError) -> &'static str {
    match error {
        AppError::Internal => "internal",
        AppError::QueueTimeout => "queue-timeout",
        AppError::Unavailable => "unavailable",
        AppError::BodyTooLarge => "body-too-large",
        AppError::BodyTimeout => "body-timeout",
        AppError::RequestTimeout => "request-timeout",
        AppError::MalformedBody => "malformed-body",
        AppError::IncompleteBody => "incomplete-body",
        AppError::Lost => "lost",
    }
}

/// The [`AppError`] an [`ERROR`] value names.
pub(crate) fn error_from_token(token: &[u8]) -> Option<AppError> {
    [
        AppError::Internal,
        AppError::QueueTimeout,
        AppError::Unavailable,
        AppError::BodyTooLarge,
        AppError::BodyTimeout,
        AppError::RequestTimeout,
        AppError::MalformedBody,
        AppError::IncompleteBody,
        AppError::Lost,
    ]
    .into_iter()
    .find(|error| error_token(*error).as_bytes() == token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hop_reads_back_as_written_and_leaves_no_header_behind() {
        let hop = Hop {
            app: 3,
            script_name_len: 4,
            listener: 1,
            remote: "[::1]:5000".parse().unwrap(),
            local: "127.0.0.1:80".parse().unwrap(),
            request_id: "abc-1".to_owned(),
            received_at: UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456),
            body_limit: u64::MAX,
            version: Version::HTTP_10,
            path: Bytes::from_static(b"/a b/\xff/%2F"),
        };
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("example.org"));
        headers.insert(
            "oxwsgi-internal-remote",
            HeaderValue::from_static("6.6.6.6:1"),
        );
        headers.insert("oxwsgi-internal-forged", HeaderValue::from_static("x"));
        hop.write(&mut headers);
        assert!(!headers.contains_key("oxwsgi-internal-forged"));
        assert_eq!(Hop::take(&mut headers), Ok(hop));
        assert_eq!(headers.len(), 1);
    }

    #[test]
    fn a_request_without_the_hop_is_refused() {
        let mut headers = HeaderMap::new();
        headers.insert("oxwsgi-internal-app", HeaderValue::from_static("x"));
        assert_eq!(
            Hop::take(&mut headers),
            Err(HopError("oxwsgi-internal-app"))
        );
    }

    #[test]
    fn every_error_has_its_token() {
        for token in [
            "internal",
            "queue-timeout",
            "unavailable",
            "body-too-large",
            "body-timeout",
            "request-timeout",
            "malformed-body",
            "incomplete-body",
            "lost",
        ] {
            let error = error_from_token(token.as_bytes()).expect(token);
            assert_eq!(error_token(error), token);
        }
        assert_eq!(error_from_token(b"other"), None);
    }
}

#[cfg(test)]
#[path = "fuzz/hop.rs"]
mod fuzz;
