//! A worker's side of the front tier's hop: the requests the front tier forwards, taken from
//! the group's unix socket and handed to the application.
//!
//! Everything a client could get wrong was checked by the front tier, which also writes the
//! access log, applies the access rules and serves the error pages: here a request only has its
//! hop fields taken out of its headers ([`super::hop`]) and goes to the application, and the
//! answer goes back as it is, or, when the application produced none, as a bare status with
//! the reason in a header, for the front tier to answer as it would itself.
//!
//! A question for an authentication script ([`AuthQuery`]) is never the application's: it goes
//! to [`Application::authorize`] with the same request the application would get (without a
//! body), and the answer goes back in a header of a bare 200.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{HeaderValue, Request, Response};
use http_body::Body;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use oxwsgi_exchange::{BodyError, RequestBody};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

use super::hop::{AuthHop, ERROR, Hop, error_token, write_answer};
use crate::application::{AppRequest, Application, AuthQuery};
use crate::body::ResponseBody;
use crate::conn::{ConnActivity, RequestTracker};
use crate::error_response::{Refusal, error_response};
use crate::service::app_response;

/// The most header fields a forwarded request may have: the client's, which the front tier
/// limited to `limit_request_fields` (the same configuration's), and the hop's own, one per
/// mod_ssl variable among them (some forty with `+StdEnvVars +ExportCertData`). hyper's default
/// of 100 would refuse a client the front tier let through.
pub(crate) fn max_headers(limit_request_fields: usize) -> usize {
    limit_request_fields.saturating_add(HOP_FIELDS_AT_MOST)
}

/// More than the hop ever adds to a request.
const HOP_FIELDS_AT_MOST: usize = 256;

/// Accepts the front tier's connections until the server drains; each serves one request.
pub(crate) async fn accept_loop<A: Application>(
    listener: UnixListener,
    app: Arc<A>,
    max_headers: usize,
    mut stop: watch::Receiver<bool>,
    open_connections: watch::Receiver<()>,
    board: oxwsgi_scoreboard::Board,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => {
                if *stop.borrow() { return } else { continue }
            }
        };
        match accepted {
            Ok((stream, _)) => {
                let app = Arc::clone(&app);
                let open = open_connections.clone();
                // The group counts the requests it runs on its board, as if its clients
                // had reached it directly (the front tier counts them on its own too).
                let activity = Arc::new(ConnActivity::hop(board.clone()));
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        handle(Arc::clone(&app), Arc::clone(&activity), request)
                    });
                    let served = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .keep_alive(false)
                        .max_headers(max_headers)
                        .serve_connection(TokioIo::new(Lingering(Some(stream))), service)
                        .await;
                    if let Err(err) = served {
                        tracing::debug!("forwarded request's connection ended: {err}");
                    }
                    drop(open);
                });
            }
            Err(err) => {
                tracing::error!(
                    "accept error on the group's internal socket: {err}; retrying in 1s"
                );
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// The front tier's connection, closed the way httpd closes one (its "lingering close"):
/// once the response is out, what the front tier still sends — the rest of a body the
/// application left unread — is read and thrown away until it stops, so that the front tier,
/// still writing it, is not cut off before it has read the response.
struct Lingering(Option<UnixStream>);

/// How long a lingering close waits for more bytes, and at most in all.
const LINGER_IDLE: Duration = Duration::from_secs(2);
const LINGER_MAX: Duration = Duration::from_secs(30);

impl Drop for Lingering {
    fn drop(&mut self) {
        let (Some(mut stream), Ok(runtime)) =
            (self.0.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        runtime.spawn(async move {
            use tokio::io::AsyncReadExt;
            let mut scratch = vec![0; 64 * 1024];
            let deadline = tokio::time::Instant::now() + LINGER_MAX;
            loop {
                let read = tokio::time::timeout(LINGER_IDLE, stream.read(&mut scratch));
                match tokio::time::timeout_at(deadline, read).await {
                    Ok(Ok(Ok(n))) if n > 0 => continue,
                    _ => break,
                }
            }
        });
    }
}

impl tokio::io::AsyncRead for Lingering {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let stream = self.0.as_mut().expect("open until dropped");
        Pin::new(stream).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Lingering {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let stream = self.0.as_mut().expect("open until dropped");
        Pin::new(stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let stream = self.0.as_mut().expect("open until dropped");
        Pin::new(stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let stream = self.0.as_mut().expect("open until dropped");
        Pin::new(stream).poll_shutdown(cx)
    }
}

async fn handle<A: Application>(
    app: Arc<A>,
    activity: Arc<ConnActivity>,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody<A::Stream>>, Infallible> {
    let started = std::time::Instant::now();
    let (mut head, body) = request.into_parts();
    let mut hop = match Hop::take(&mut head.headers) {
        Ok(hop) => hop,
        Err(err) => {
            tracing::error!("refused a request on the group's internal socket: {err}");
            return Ok(error_response(&Refusal::BadRequest(
                "the request did not come from the front tier",
            )));
        }
    };
    head.version = hop.version;
    if let Some(AuthHop { script, question }) = hop.auth.take() {
        // The front tier sends no body with a question.
        drop(body);
        let query = AuthQuery {
            script,
            question,
            request: app_request(hop, head, None),
        };
        let mut response = Response::new(ResponseBody::empty());
        write_answer(&app.authorize(query).await, response.headers_mut());
        return Ok(response);
    }
    // If the body breaks, the front tier knows why and tells the client; the application
    // sees the client gone.
    let body = (!body.is_end_stream()).then(|| {
        Box::pin(body.map_err(|err| BodyError::Disconnected(Box::new(err)))) as RequestBody
    });
    let mut tracker = RequestTracker::new(activity, None, started, &head.method);
    let request = app_request(hop, head, body);
    let response = match app.call(request).await {
        Ok(response) => app_response(response),
        Err(error) => {
            let mut response = Response::new(ResponseBody::empty());
            *response.status_mut() = Refusal::from_app(error, 0).status();
            response
                .headers_mut()
                .insert(ERROR, HeaderValue::from_static(error_token(error)));
            response
        }
    };
    tracker.respond(response.status(), response.headers());
    Ok(response.map(|body| body.tracked(tracker)))
}

/// The request the hop's fields and the head describe, as the front tier had it.
fn app_request(hop: Hop, head: http::request::Parts, body: Option<RequestBody>) -> AppRequest {
    AppRequest {
        app: hop.app,
        listener: hop.listener,
        head,
        path: hop.path,
        script_name_len: hop.script_name_len,
        body,
        body_limit: hop.body_limit,
        remote: hop.remote,
        local: hop.local,
        request_id: hop.request_id,
        received_at: hop.received_at,
        redirect: hop.redirect,
        tls: hop.tls.map(Arc::new),
        proxied: hop.proxied,
        authenticated: hop.authenticated,
    }
}
