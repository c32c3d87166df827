//! `ErrorDocument`: the page an error response shows instead of the server's own, and the
//! internal request (httpd's `ap_die`) that a local path is served by.
//!
//! Separate because it is a second trip through routing for a request already answered,
//! with its own rules (a GET without a body, no second `ErrorDocument`, the failed request
//! named to the application), which the ordinary flow in [`super`] need not know.

use http::{HeaderValue, Request, Response, header};

use super::dispatch::dispatch;
use super::shared::{ConnShared, HostShared};
use super::{Made, Pending};
use crate::application::Application;
use crate::body::ResponseBody;
use crate::error_response::{Refusal, error_response};
use crate::path::normalize;
use oxwsgi_config::redirect::{ErrorBody, ErrorDocument};
use oxwsgi_exchange::ErrorRedirect;

/// An `ErrorDocument`'s page for an error response with `status`: its text, a redirect to its
/// URL, or what its local path gives. `failed` is the request that got the error, `user` the
/// user its credentials named. `None` keeps the server's own page.
///
/// A local path is served as httpd's `ap_die` does, by an internal request: a GET for the
/// path (see [`internal_request`]), routed like any request. A file is sent with the error's
/// status (httpd's handler leaves the status alone); an application's response is sent as it
/// is, status included (mod_wsgi sets the status the application gives). If the internal
/// request fails, the server's own page stays: an error is never answered with a second
/// `ErrorDocument`.
pub(super) async fn error_document<A: Application>(
    conn: &ConnShared<A>,
    host: &HostShared,
    document: &ErrorDocument,
    status: http::StatusCode,
    failed: Option<Pending>,
    user: &mut Option<oxwsgi_exchange::Authenticated>,
) -> Option<Response<ResponseBody<A::Stream>>> {
    let mut response = match &document.body {
        ErrorBody::Text(text) => {
            let mut response = Response::new(ResponseBody::full(bytes::Bytes::from(text.clone())));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            response
        }
        ErrorBody::Url(url) => {
            let refusal = Refusal::Redirect {
                status: 302,
                location: url.clone(),
            };
            return Some(error_response(&refusal));
        }
        ErrorBody::Local(target) => {
            // Always there: the application takes it only where no local document can need it.
            let failed = failed?;
            let Some((head, path, redirect)) = internal_request(target, &failed.head, status)
            else {
                tracing::info!(
                    client.addr = %conn.remote,
                    "ErrorDocument {status} {target}: not a valid local path"
                );
                return None;
            };
            let mut internal = Some(Pending { head, ..failed });
            let mut no_body = None;
            let outcome = dispatch(
                conn,
                host,
                &mut internal,
                path,
                &mut no_body,
                Some(redirect),
                user,
            );
            match outcome.await {
                Ok((response, Made::ByApplication)) => return Some(response),
                Ok((response, Made::ByServer)) if response.status() == http::StatusCode::OK => {
                    response
                }
                Ok((response, Made::ByServer)) => {
                    tracing::info!(
                        client.addr = %conn.remote,
                        "a {} was encountered while trying to use the ErrorDocument {target} \
                         for a {status}",
                        response.status()
                    );
                    return None;
                }
                Err(refusal) => {
                    tracing::info!(
                        client.addr = %conn.remote,
                        "a {} was encountered while trying to use the ErrorDocument {target} \
                         for a {status}: {}",
                        refusal.status(),
                        refusal.message()
                    );
                    return None;
                }
            }
        }
    };
    *response.status_mut() = status;
    Some(response)
}

/// httpd's internal request for the local `ErrorDocument` `target` of `failed`, which got
/// `status` (`ap_die`, then `ap_internal_redirect`): a GET ("no matter what the original method
/// was") for the document's path and its own query, with the failed request's version and
/// headers, less those of its body, which the internal request has none of. With the decoded,
/// normalised path to route, and the failed request as the application's environ shows it.
/// `None` if `target` is not a path that can be routed.
fn internal_request(
    target: &str,
    failed: &http::request::Parts,
    status: http::StatusCode,
) -> Option<(http::request::Parts, bytes::Bytes, ErrorRedirect)> {
    // What a request target cannot hold as it is (a space, say) is escaped.
    const UNSAFE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'<')
        .add(b'>')
        .add(b'`')
        .add(b'{')
        .add(b'}')
        .add(b'#');
    let target = percent_encoding::utf8_percent_encode(target, UNSAFE).to_string();
    let target = http::uri::PathAndQuery::try_from(target).ok()?;
    let path = normalize(target.path()).ok()?;
    let mut uri = http::Uri::builder();
    // A target in absolute-form keeps naming its host.
    if let (Some(scheme), Some(authority)) = (failed.uri.scheme(), failed.uri.authority()) {
        uri = uri.scheme(scheme.clone()).authority(authority.clone());
    }
    let uri = uri.path_and_query(target).build().ok()?;
    let mut head = Request::new(()).into_parts().0;
    head.method = http::Method::GET;
    head.uri = uri;
    head.version = failed.version;
    head.headers = failed.headers.clone();
    for name in [
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
        header::EXPECT,
    ] {
        head.headers.remove(name);
    }
    let raw_path = failed.uri.path();
    let redirect = ErrorRedirect {
        status,
        method: failed.method.clone(),
        uri: failed.uri.clone(),
        url: normalize(raw_path)
            .unwrap_or_else(|_| bytes::Bytes::copy_from_slice(raw_path.as_bytes())),
    };
    Some((head, path, redirect))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Version;

    fn failed(method: &str, target: &str) -> http::request::Parts {
        Request::builder()
            .method(method)
            .uri(target)
            .version(Version::HTTP_10)
            .header(header::HOST, "site.test")
            .header("x-test", "yes")
            .header(header::CONTENT_TYPE, "text/plain")
            .header(header::CONTENT_LENGTH, "7")
            .header(header::TRANSFER_ENCODING, "chunked")
            .header(header::EXPECT, "100-continue")
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    #[test]
    fn an_error_documents_request_is_a_get_for_its_path_with_the_failed_requests_headers() {
        let failed = failed("POST", "/denied/a%20b?x=1&y=2");
        let (head, path, redirect) =
            internal_request("/oops?from=403", &failed, http::StatusCode::FORBIDDEN).unwrap();
        assert_eq!(head.method, http::Method::GET);
        assert_eq!(head.uri, "/oops?from=403");
        assert_eq!(head.version, Version::HTTP_10);
        assert_eq!(&path[..], b"/oops");
        let names: Vec<&str> = head.headers.keys().map(|n| n.as_str()).collect();
        assert_eq!(names, ["host", "x-test", "content-type"]);
        assert_eq!(
            redirect,
            ErrorRedirect {
                status: http::StatusCode::FORBIDDEN,
                method: http::Method::POST,
                uri: http::Uri::from_static("/denied/a%20b?x=1&y=2"),
                url: bytes::Bytes::from_static(b"/denied/a b"),
            }
        );
    }

    #[test]
    fn a_head_requests_error_document_is_a_get_too() {
        let (head, _, redirect) =
            internal_request("/oops", &failed("HEAD", "/x"), http::StatusCode::NOT_FOUND).unwrap();
        assert_eq!(head.method, http::Method::GET);
        assert_eq!(redirect.method, http::Method::HEAD);
        assert_eq!(redirect.uri.query(), None);
    }

    #[test]
    fn a_documents_path_is_escaped_where_a_target_cannot_hold_it_and_routed_decoded() {
        let (head, path, _) = internal_request(
            "/errors/not found é.html",
            &failed("GET", "/x"),
            http::StatusCode::NOT_FOUND,
        )
        .unwrap();
        assert_eq!(head.uri, "/errors/not%20found%20%C3%A9.html");
        assert_eq!(&path[..], "/errors/not found é.html".as_bytes());
    }

    #[test]
    fn an_absolute_form_target_keeps_naming_its_host() {
        let (head, _, redirect) = internal_request(
            "/oops",
            &failed("GET", "http://other.test:8080/missing"),
            http::StatusCode::NOT_FOUND,
        )
        .unwrap();
        assert_eq!(head.uri, "http://other.test:8080/oops");
        assert_eq!(&redirect.url[..], b"/missing");
    }

    #[test]
    fn a_document_that_climbs_above_the_root_is_no_path_to_serve() {
        let failed = failed("GET", "/x");
        for target in ["/../etc/passwd", "/a/%2e%2e/%2e%2e/b"] {
            assert!(
                internal_request(target, &failed, http::StatusCode::NOT_FOUND).is_none(),
                "{target}"
            );
        }
    }

    #[test]
    fn a_failed_path_that_does_not_decode_is_named_as_sent() {
        let (_, _, redirect) = internal_request(
            "/oops",
            &failed("GET", "/bad%zz"),
            http::StatusCode::BAD_REQUEST,
        )
        .unwrap();
        assert_eq!(&redirect.url[..], b"/bad%zz");
    }
}
