//! An application's answer as the response hyper sends.
//!
//! Shared by the direct path ([`super::dispatch`]) and a worker's side of the front tier's
//! hop ([`crate::tier::internal`]), which both send what an application gave.

use http::{HeaderValue, Response, header};

use crate::application::{AppBody, AppResponse};
use crate::body::ResponseBody;

/// `response` as hyper sends it: its body, status, reason phrase and headers, with a `Server`
/// header unless the application gave one.
pub(crate) fn app_response<S>(response: AppResponse<S>) -> Response<ResponseBody<S>> {
    let body = match response.body {
        AppBody::Empty => ResponseBody::empty(),
        AppBody::Full(data) => ResponseBody::full(data),
        AppBody::Stream(stream) => ResponseBody::stream(stream),
        AppBody::File(region) => ResponseBody::file(region),
    }
    .holding(response.in_flight);
    let mut out = Response::new(body);
    *out.status_mut() = response.status;
    *out.headers_mut() = response.headers;
    if let Some(reason) = response.reason {
        if let Ok(reason) = hyper::ext::ReasonPhrase::try_from(reason) {
            out.extensions_mut().insert(reason);
        }
    }
    out.headers_mut()
        .entry(header::SERVER)
        .or_insert(HeaderValue::from_static("oxwsgi"));
    out
}
