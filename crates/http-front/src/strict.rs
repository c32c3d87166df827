//! What RFC 9112 forbids in a request and hyper lets through, refused before routing.
//!
//! hyper's parser (httparse) already refuses malformed request lines, header names that are not
//! tokens, whitespace before a colon, obsolete line folding, control characters in values,
//! invalid or differing `Content-Length`s, and a `Transfer-Encoding` whose last coding is not
//! `chunked`. It accepts a few things a server in front of WSGI applications must not pass on,
//! because the application (or a proxy in front of the server) could read them differently:
//!
//! * a `Transfer-Encoding` that names `chunked` more than once, or names a coding oxwsgi cannot
//!   decode (only `chunked` is understood: RFC 9112 §6.1 asks for a 501), or any
//!   `Transfer-Encoding` in an HTTP/1.0 request (§6.1: the framing is faulty);
//! * bytes outside visible ASCII in the request target (§3.2: the target is ASCII; raw UTF-8
//!   would reach `REQUEST_URI` and `PATH_INFO` as mojibake), a fragment (`#` is never sent), or
//!   user information in an absolute-form target (RFC 9110 §4.2.4 says to treat it as an error);
//! * an authority-form target outside `CONNECT`, an asterisk-form one outside `OPTIONS` (§3.2),
//!   and `CONNECT` itself (oxwsgi is not a proxy).
//!
//! `Content-Length` beside `Transfer-Encoding`, a classic request-smuggling vector, is left to
//! hyper, which takes the option RFC 9112 §6.3 gives besides refusing: it decodes the body by
//! its `Transfer-Encoding` alone, drops the `Content-Length` (so the application never sees it)
//! and closes the connection after the response, so nothing after the body can be taken for a
//! request. An invalid one, which hyper would drop unread, is refused before hyper, with the
//! request-line version, a fragment and chunk extensions ([`crate::framing`]).

use http::{Method, Version, header, request::Parts};

use crate::error_response::Refusal;

/// What the server answers itself, without routing.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The request may go on to routing.
    Route,
    /// `OPTIONS *`: a question about the server, answered by the server.
    ServerOptions,
}

/// Checks a request head against the rules above.
pub(crate) fn check(head: &Parts) -> Result<Verdict, Refusal> {
    check_transfer_encoding(head)?;
    check_target(head)
}

fn check_transfer_encoding(head: &Parts) -> Result<(), Refusal> {
    let mut values = head.headers.get_all(header::TRANSFER_ENCODING).iter();
    let Some(first) = values.next() else {
        return Ok(());
    };
    if head.version == Version::HTTP_10 {
        return Err(Refusal::BadRequest(
            "Transfer-Encoding is not allowed in an HTTP/1.0 request",
        ));
    }
    let mut chunked = 0;
    for coding in std::iter::once(first)
        .chain(values)
        .flat_map(|value| value.as_bytes().split(|&b| b == b','))
        .map(|coding| coding.trim_ascii())
    {
        if coding.is_empty() {
            return Err(Refusal::BadRequest(
                "the request's Transfer-Encoding has an empty coding",
            ));
        }
        if !coding.eq_ignore_ascii_case(b"chunked") {
            return Err(Refusal::UnsupportedTransferCoding);
        }
        chunked += 1;
    }
    if chunked > 1 {
        return Err(Refusal::BadRequest(
            "the request's Transfer-Encoding names chunked more than once",
        ));
    }
    Ok(())
}

fn check_target(head: &Parts) -> Result<Verdict, Refusal> {
    let uri = &head.uri;
    // hyper keeps the target as received; only visible ASCII belongs there.
    let target = uri.path_and_query().map_or("", |pq| pq.as_str()).as_bytes();
    if target.iter().any(|&b| !b.is_ascii_graphic()) {
        return Err(Refusal::BadRequest(
            "the request target has a byte that is not visible ASCII (send it %-encoded)",
        ));
    }
    if target.contains(&b'#') {
        return Err(Refusal::BadRequest(
            "the request target has a fragment (#), which a client never sends",
        ));
    }
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(Refusal::BadRequest(
            "the request target has user information (user@host), which is not allowed",
        ));
    }
    if head.method == Method::CONNECT {
        return Err(Refusal::ConnectNotSupported);
    }
    if uri.scheme().is_none() && uri.authority().is_some() {
        return Err(Refusal::BadRequest(
            "an authority-form request target is only allowed with CONNECT",
        ));
    }
    if uri.scheme().is_none() && target == b"*" {
        return if head.method == Method::OPTIONS {
            Ok(Verdict::ServerOptions)
        } else {
            Err(Refusal::BadRequest(
                "the request target * is only allowed with OPTIONS",
            ))
        };
    }
    Ok(Verdict::Route)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(request: http::request::Builder) -> Parts {
        request.body(()).unwrap().into_parts().0
    }

    #[test]
    fn one_chunked_is_the_only_transfer_encoding_accepted() {
        let ok = head(http::Request::post("/").header("transfer-encoding", "Chunked"));
        assert_eq!(check(&ok), Ok(Verdict::Route));
        let twice = head(
            http::Request::post("/")
                .header("transfer-encoding", "chunked")
                .header("transfer-encoding", "chunked"),
        );
        assert!(
            matches!(check(&twice), Err(Refusal::BadRequest(why)) if why.contains("more than once"))
        );
        let gzip = head(http::Request::post("/").header("transfer-encoding", "gzip, chunked"));
        assert_eq!(check(&gzip), Err(Refusal::UnsupportedTransferCoding));
        let empty = head(http::Request::post("/").header("transfer-encoding", "chunked, "));
        assert!(matches!(check(&empty), Err(Refusal::BadRequest(_))));
    }

    #[test]
    fn transfer_encoding_in_http_1_0_is_refused() {
        let old = head(
            http::Request::post("/")
                .version(Version::HTTP_10)
                .header("transfer-encoding", "chunked"),
        );
        assert!(matches!(check(&old), Err(Refusal::BadRequest(why)) if why.contains("HTTP/1.0")));
    }

    #[test]
    fn targets_are_checked_by_form_and_method() {
        let star = head(http::Request::get("*"));
        assert!(matches!(check(&star), Err(Refusal::BadRequest(_))));
        let options = head(http::Request::options("*"));
        assert_eq!(check(&options), Ok(Verdict::ServerOptions));
        let authority = head(http::Request::get("example.com:80"));
        assert!(matches!(check(&authority), Err(Refusal::BadRequest(_))));
        let connect = head(http::Request::connect("example.com:443"));
        assert_eq!(check(&connect), Err(Refusal::ConnectNotSupported));
        let absolute = head(http::Request::get("http://example.com/a?b"));
        assert_eq!(check(&absolute), Ok(Verdict::Route));
        let userinfo = head(http::Request::get("http://user@example.com/a"));
        assert!(matches!(check(&userinfo), Err(Refusal::BadRequest(why)) if why.contains("user")));
    }
}

#[cfg(test)]
#[path = "fuzz/strict.rs"]
mod fuzz;
