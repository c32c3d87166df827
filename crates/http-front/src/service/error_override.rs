//! mod_wsgi's `WSGIErrorOverride`: an application's error response (status 400 to 599) is
//! replaced by the server's own page for its status, which an `ErrorDocument` may in turn
//! replace, as httpd does once mod_wsgi hands the status back to it.

use bytes::Bytes;
use http::{HeaderValue, Response, header};

use crate::application::AppResponse;
use crate::body::ResponseBody;

/// Whether the server replaces this response of an application that has the override.
pub(super) fn applies<S>(response: &AppResponse<S>) -> bool {
    (400..600).contains(&response.status.as_u16())
}

/// The server's page for the application's status, with the application's body thrown away.
/// A 401 keeps the application's challenge (`WWW-Authenticate`), without which the client
/// could not answer it.
pub(super) fn replace<S>(response: AppResponse<S>) -> Response<ResponseBody<S>> {
    let status = response.status;
    let reason = status.canonical_reason().unwrap_or("Error");
    let page = format!(
        "<!DOCTYPE html>\n<html><head><title>{code} {reason}</title></head>\n<body>\n\
         <h1>{reason}</h1>\n</body></html>\n",
        code = status.as_u16(),
    );
    let mut replaced = Response::new(ResponseBody::full(Bytes::from(page)));
    *replaced.status_mut() = status;
    let headers = replaced.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    for challenge in response.headers.get_all(header::WWW_AUTHENTICATE) {
        headers.append(header::WWW_AUTHENTICATE, challenge.clone());
    }
    replaced
}
