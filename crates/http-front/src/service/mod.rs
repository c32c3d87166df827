//! Handling one request: check it, route it, hand it to the application, and turn the answer
//! (or the refusal) into a response.
//!
//! Everything a request is refused for is refused here, before the application sees it: a
//! malformed or escaping path, a missing, repeated or invalid `Host`, an unsupported `Expect`, a declared
//! body over the limit (413, without reading the body), or a path nothing is mounted at.
//!
//! This module keeps the flow ([`handle`]): what is done to every request and its response,
//! in order. Each step that has rules of its own is a module:
//!
//! * [`shared`]: what a server, a virtual host and a connection share, and host selection;
//! * [`checks`]: the checks on the request's head (and the `TRACE` echo);
//! * [`dispatch`]: answering a checked request by its path;
//! * [`access`]: the access rules of its path, and authentication;
//! * [`error_document`](mod@error_document): an `ErrorDocument`'s page, and the internal
//!   request for a local one;
//! * [`app_response`](mod@app_response): an application's answer as a hyper response;
//! * [`proxy`]: what a trusted proxy's headers say of the client's request.

mod access;
mod app_response;
mod authenticate;
mod checks;
mod dispatch;
mod error_document;
mod error_override;
mod handler_script;
mod proxy;
mod shared;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use http::{HeaderValue, Request, Response, Version, header};

use crate::application::Application;
use crate::body::ResponseBody;
use crate::compress;
use crate::conn::RequestTracker;
use crate::error_response::error_response;
use crate::header_edits;
use crate::request_body::{BodyRate, DrainDecision, DrainLimits, IncomingBody};
use checks::route;
use error_document::error_document;

pub(crate) use app_response::app_response;
pub(crate) use shared::{ConnShared, HostShared, ServerShared};

/// The hyper service function.
pub(crate) async fn handle<A: Application>(
    conn: ConnShared<A>,
    mut request: Request<hyper::body::Incoming>,
) -> Result<Response<ResponseBody<A::Stream>>, Infallible> {
    let started = Instant::now();
    let received_at = SystemTime::now();
    let server = &conn.server;
    let host = server.host_for(conn.listener, &request);
    let request_id = server.ids.next();
    let mut log = host.access_log.as_ref().map(|log| {
        let entry = log.begin(&request, conn.remote, conn.local, &request_id, started);
        (Arc::clone(log), Box::new(entry))
    });
    let activity = conn
        .activity
        .clone()
        .expect("the connection sets its activity before serving");
    let http_1_0 = request.version() == Version::HTTP_10;
    // HTTP/2 has no `Connection` header: the connection's end is its GOAWAY, and a stream
    // whose body is not read is reset, not drained.
    let http_2 = request.version() == Version::HTTP_2;
    let (codings, untagged) = if server.compress_responses {
        let untagged = compress::untag_conditions(request.headers_mut());
        (compress::accepted(request.headers()), untagged)
    } else {
        (Vec::new(), None)
    };

    let expects_continue = request.headers().contains_key(header::EXPECT);
    let http_settings = &server.settings.http;
    let limits = DrainLimits {
        bytes: http_settings.limit_request_body,
        wait: http_settings.body_timeout,
        rate: BodyRate {
            timeout: http_settings.body_timeout,
            max_timeout: http_settings.body_max_timeout,
            min_rate: http_settings.body_min_rate,
        },
    };
    let client_closes = client_closes(&request);
    // With header edits configured: the path they are chosen by, and the request's own.
    let edits = &host.header_edits;
    let edit_path = if edits.is_empty() {
        None
    } else {
        crate::path::normalize(request.uri().path()).ok()
    };
    if let Some(path) = &edit_path {
        header_edits::apply(request.headers_mut(), &edits.request, path.as_ref(), false);
    }
    // Behind a proxy: what its trusted headers say, read as mod_wsgi reads them (after the
    // `RequestHeader` edits); the access log shows the client they name, if they name an
    // address (their value is taken as it is: it may be any text).
    let proxied = host
        .trusted_proxies
        .as_ref()
        .and_then(|trusted| proxy::apply(trusted, request.headers_mut(), conn.remote.ip()));
    if let (Some(client), Some((_, entry))) = (
        proxied
            .as_ref()
            .and_then(|p| proxy::address(p.client.as_ref()?)),
        log.as_mut(),
    ) {
        entry.set_client(client);
    }
    let mut tracker = RequestTracker::new(activity, log, started, request.method());
    let (head, body) = request.into_parts();
    let (body, body_state) = IncomingBody::new(body, limits, expects_continue);
    let decision = DrainDecision(Arc::clone(&body_state));
    // Taken by the application only if it is called. Whoever drops it unread, the rest is read
    // and thrown away only once `decision` (below) says the connection goes on.
    let mut body = Some(body);

    // Taken by the application if it is called (unless a local `ErrorDocument` may need it).
    let mut request = Some(Pending {
        head,
        request_id,
        received_at,
        proxied,
    });

    // The user the request's credentials name, once read (the access log's `%u`).
    let mut user = None;
    let routed = route(&conn, host, &mut request, &mut body, &mut user).await;
    let (mut response, made, refused) = match routed {
        Ok((response, made)) => (response, made, false),
        Err(refusal) => {
            let message = refusal.message().replace('\n', " ");
            tracing::info!(client.addr = %conn.remote, "refused: {} {message}", refusal.status());
            (error_response(&refusal), Made::ByServer, true)
        }
    };
    // httpd's error responses: the server's own 4xx and 5xx, a file's 404 — not the
    // application's responses, whatever their status.
    let error = refused || (made == Made::ByServer && response.status().as_u16() >= 400);
    if error && !host.error_documents.is_empty() {
        let status = response.status();
        let document = host
            .error_documents
            .iter()
            .find(|d| d.status == status.as_u16());
        if let Some(document) = document {
            let failed = request.take();
            if let Some(mut replaced) =
                error_document(&conn, host, document, status, failed, &mut user).await
            {
                // A refusal that ends the connection still does, whatever page it shows; a
                // 401 still asks for credentials (httpd keeps its `err_headers_out`).
                for name in [header::CONNECTION, header::WWW_AUTHENTICATE] {
                    if let Some(value) = response.headers_mut().remove(&name) {
                        replaced.headers_mut().insert(name, value);
                    }
                }
                response = replaced;
            }
        }
    }
    if let Some(path) = &edit_path {
        // Error responses get only the `always` edits.
        header_edits::apply(
            response.headers_mut(),
            &edits.response,
            path.as_ref(),
            error,
        );
    }
    let mut response = compress::maybe_compress(&codings, response);
    compress::retag_not_modified(&mut response, untagged);
    // An HTTP/1.0 client reads a body of unknown length until the connection closes; hyper
    // would otherwise answer its `Connection: keep-alive` in kind.
    let unknown_length = http_body::Body::size_hint(response.body())
        .exact()
        .is_none();
    // A client that sent `Expect: 100-continue` and was never asked for its body may send it
    // now or never: the connection cannot be reused, so say so.
    let body_never_asked = expects_continue && !body_state.polled() && !body_state.finished();
    // A `101` (a proxied WebSocket's) keeps its `Connection: upgrade`: the connection ends
    // with its tunnel anyway.
    let switching = response.status() == http::StatusCode::SWITCHING_PROTOCOLS;
    if !http_2
        && !switching
        && (server.draining.load(std::sync::atomic::Ordering::Relaxed)
            || (http_1_0 && unknown_length)
            || body_never_asked)
    {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        if http_1_0 {
            // Marked as an HTTP/1.0 response, hyper takes the missing `keep-alive` as the end of
            // the connection; left at 1.1, it would append `keep-alive` to our `close`.
            *response.version_mut() = Version::HTTP_10;
        }
    }
    // An unread rest of the body is read and thrown away only if the connection goes on.
    let closes = http_2
        || client_closes
        || response
            .headers()
            .get(header::CONNECTION)
            .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"close"));
    decision.0.decide(!closes);
    drop(body);
    if let Some(user) = user {
        tracker.set_user(user.user);
    }
    tracker.respond(response.status(), response.headers());
    Ok(response.map(|body| body.tracked(tracker)))
}

/// Whether the client asked for the connection to end with this request (`Connection: close`,
/// or HTTP/1.0 without `keep-alive`).
fn client_closes<B>(request: &Request<B>) -> bool {
    let tokens = || {
        request
            .headers()
            .get_all(header::CONNECTION)
            .iter()
            .flat_map(|value| value.as_bytes().split(|&b| b == b','))
            .map(|token| token.trim_ascii())
    };
    if request.version() == Version::HTTP_10 {
        !tokens().any(|t| t.eq_ignore_ascii_case(b"keep-alive"))
    } else {
        tokens().any(|t| t.eq_ignore_ascii_case(b"close"))
    }
}

/// A request on its way to be answered: what the application takes if it is called.
struct Pending {
    head: http::request::Parts,
    request_id: String,
    received_at: SystemTime,
    /// What a trusted proxy's headers said of the client's request.
    proxied: Option<Box<oxwsgi_exchange::Proxied>>,
}

impl Pending {
    /// A copy, for the application to take while the original stays (the extensions, which
    /// only hyper reads, are not copied).
    fn copy(&self) -> Pending {
        let mut head = Request::new(()).into_parts().0;
        head.method = self.head.method.clone();
        head.uri = self.head.uri.clone();
        head.version = self.head.version;
        head.headers = self.head.headers.clone();
        Pending {
            head,
            request_id: self.request_id.clone(),
            received_at: self.received_at,
            proxied: self.proxied.clone(),
        }
    }
}

/// Who made a response: the application, or the server (its files, its refusals).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Made {
    ByApplication,
    ByServer,
}

/// The body length the request declares (`Content-Length`), if it declares a valid one.
fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}
