//! The checks on a request's head before it is routed: size limits, `Host`, strict framing,
//! `OPTIONS *`, chunked bodies, `TRACE` and `Expect`.
//!
//! They refuse (or answer) a request from its head alone, whatever host and path it is for;
//! what depends on the path is [`super::dispatch`]'s. `TRACE` is answered here because
//! whether and how it is answered is one of these checks (`TraceEnable`), not a route.

use http::{HeaderValue, Response, Version, header};

use super::dispatch::dispatch;
use super::shared::{ConnShared, HostShared};
use super::{Made, Pending, declared_length};
use crate::application::Application;
use crate::body::ResponseBody;
use crate::error_response::{Refusal, server_options};
use crate::host;
use crate::limits::{self, SizeLimits};
use crate::path::normalize;
use crate::request_body::IncomingBody;
use crate::strict::{self, Verdict};
use oxwsgi_config::TraceMode;

/// Checks and answers a request; the application takes `request` (see
/// [`HostShared::keeps_app_requests`]) and `body` only if it is called. `user` gets the user
/// the request's credentials name, if its access rule asked for them.
pub(super) async fn route<A: Application>(
    conn: &ConnShared<A>,
    host: &HostShared,
    request: &mut Option<Pending>,
    body: &mut Option<IncomingBody>,
    user: &mut Option<oxwsgi_exchange::Authenticated>,
) -> Result<(Response<ResponseBody<A::Stream>>, Made), Refusal> {
    let server = &conn.server;
    let head = &request.as_ref().expect("a request is routed once").head;
    let head_limits = SizeLimits {
        line: server.settings.http.limit_request_line,
        field_size: server.settings.http.limit_request_field_size,
    };
    limits::check(head, head_limits)?;
    let mut hosts = head.headers.get_all(header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (None, _) if head.version == Version::HTTP_11 => {
            return Err(Refusal::BadRequest(
                "an HTTP/1.1 request must have a Host header",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(Refusal::BadRequest(
                "the request has more than one Host header",
            ));
        }
        (Some(host), None) if !host::is_valid(host.as_bytes()) => {
            return Err(Refusal::BadRequest(
                "the Host header is not a valid host name",
            ));
        }
        _ => {}
    }
    if strict::check(head)? == Verdict::ServerOptions {
        return Ok((server_options(), Made::ByServer));
    }
    let protocol = &server.settings.http;
    if !protocol.chunked_requests && head.headers.contains_key(header::TRANSFER_ENCODING) {
        return Err(Refusal::LengthRequired);
    }
    if head.method == http::Method::TRACE {
        match protocol.trace {
            TraceMode::Application => {}
            TraceMode::Refuse => return Err(Refusal::TraceRefused),
            TraceMode::Echo => return trace_echo(head).map(|r| (r, Made::ByServer)),
        }
    }
    if let Some(expect) = head.headers.get(header::EXPECT) {
        if !expect.as_bytes().eq_ignore_ascii_case(b"100-continue") {
            return Err(Refusal::ExpectationFailed);
        }
    }
    let path = normalize(head.uri.path())?;
    dispatch(conn, host, request, path, body, None, user).await
}

/// httpd's answer to `TRACE` (`TraceEnable On`): the request head, echoed as `message/http`
/// (names in lower case, as the server keeps them). A TRACE with a body is refused, as by
/// httpd.
fn trace_echo<S>(head: &http::request::Parts) -> Result<Response<ResponseBody<S>>, Refusal> {
    if head.headers.contains_key(header::TRANSFER_ENCODING)
        || declared_length(&head.headers).is_some_and(|length| length > 0)
    {
        return Err(Refusal::BadRequest("a TRACE request cannot have a body"));
    }
    let mut echo = format!("TRACE {} HTTP/1.1\r\n", head.uri).into_bytes();
    for (name, value) in &head.headers {
        echo.extend_from_slice(name.as_str().as_bytes());
        echo.extend_from_slice(b": ");
        echo.extend_from_slice(value.as_bytes());
        echo.extend_from_slice(b"\r\n");
    }
    echo.extend_from_slice(b"\r\n");
    let mut response = Response::new(ResponseBody::full(bytes::Bytes::from(echo)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("message/http"),
    );
    Ok(response)
}
