//! The front tier's application: each request goes on to the workers of its application's
//! group, over the group's unix socket, and their answer comes back as the response.
//!
//! One connection per request, as in mod_wsgi's daemon mode. A kept-alive connection could be
//! closed by a draining worker just as a request is written on it, and that request would fail
//! though no application ever saw it; a new connection is always accepted by a worker that
//! serves it (a draining worker stops accepting, and its replacement is ready before). The cost
//! is one `connect` and one `accept` per request.
//!
//! The body streams through as the application reads it. (The client is asked for a body it
//! announced with `Expect: 100-continue` when the request is forwarded, not when the
//! application first reads, as on the direct path: the hop cannot tell the front tier when.)
//!
//! A question for a Python authentication script ([`AuthQuery`]) goes the same way, on a
//! connection of its own: the request it is about with the same hop fields, no body, and the
//! question's fields; the worker's answer comes back in a header of the response.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::{Version, header};
use http_body::Body;
use http_body_util::combinators::{MapErr, UnsyncBoxBody};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use oxwsgi_exchange::{BodyError, RequestBody};

use super::hop::{self, AuthHop, ERROR, Hop, error_from_token, question_token};
use crate::application::{
    AppBody, AppError, AppRequest, AppResponse, Application, AuthAnswer, AuthQuery, BoxError,
};

/// Where the front tier sends one mounted application's requests.
#[derive(Debug, Clone)]
pub struct ForwardTarget {
    /// The group's name, for the log.
    pub group: String,
    /// The unix socket its workers accept on.
    pub socket: PathBuf,
    /// The application's index among its group's applications.
    pub app: usize,
}

/// Forwards each request to the workers of its application's group.
#[derive(Debug)]
pub struct Forwarder {
    /// Indexed like the front tier's application mounts.
    targets: Vec<Arc<ForwardTarget>>,
}

impl Forwarder {
    /// A forwarder for the applications mounted at the front tier, in mount order.
    pub fn new(targets: Vec<ForwardTarget>) -> Forwarder {
        Forwarder {
            targets: targets.into_iter().map(Arc::new).collect(),
        }
    }
}

impl Application for Forwarder {
    type Stream = Relayed;

    fn call(
        &self,
        request: AppRequest,
    ) -> impl Future<Output = Result<AppResponse<Relayed>, AppError>> + Send + 'static {
        let target = Arc::clone(&self.targets[request.app]);
        forward(target, request)
    }

    fn authorize(&self, query: AuthQuery) -> impl Future<Output = AuthAnswer> + Send + 'static {
        let target = self.targets.get(query.request.app).cloned();
        async move {
            match target {
                Some(target) => ask(target, query).await,
                None => {
                    tracing::error!(
                        "no group serves application {} to ask {} a question",
                        query.request.app,
                        query.script.display()
                    );
                    AuthAnswer::Failed
                }
            }
        }
    }
}

async fn forward(
    target: Arc<ForwardTarget>,
    request: AppRequest,
) -> Result<AppResponse<Relayed>, AppError> {
    let (hop, mut head, body) = split(&target, request);
    hop.write(&mut head.headers);
    head.version = Version::HTTP_11;
    let fault = Arc::new(OnceLock::new());
    let body = forwarded_body(body, Arc::clone(&fault));
    let request = http::Request::from_parts(head, body);

    let mut sender = connect(&target).await.ok_or(AppError::Unavailable)?;
    let response = match sender.send_request(request).await {
        Ok(response) => response,
        Err(err) => {
            return Err(match fault.get() {
                // The client's body failed: that, not the hop, is why.
                Some(fault) => *fault,
                None => {
                    tracing::error!(
                        "the worker of group '{}' serving {hop_id} ended before it answered: {err}",
                        target.group,
                        hop_id = hop.request_id
                    );
                    AppError::Lost
                }
            });
        }
    };
    let (mut parts, body) = response.into_parts();
    if let Some(token) = parts.headers.get(ERROR) {
        return Err(error_from_token(token.as_bytes()).unwrap_or(AppError::Internal));
    }
    // The hop's own framing and connection headers are not the client's.
    for name in [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::HeaderName::from_static("keep-alive"),
    ] {
        parts.headers.remove(name);
    }
    let reason = parts
        .extensions
        .get::<hyper::ext::ReasonPhrase>()
        .map(|reason| Bytes::copy_from_slice(reason.as_bytes()));
    Ok(AppResponse {
        status: parts.status,
        reason,
        headers: parts.headers,
        body: AppBody::Stream(body.map_err(relay_error as fn(hyper::Error) -> BoxError)),
        in_flight: None,
    })
}

/// Asks the workers of the query's group the question, and reads their answer: a failure to
/// reach them, or an answer that cannot be read, is [`AuthAnswer::Failed`] (and logged).
async fn ask(target: Arc<ForwardTarget>, query: AuthQuery) -> AuthAnswer {
    let AuthQuery {
        script,
        question,
        request,
    } = query;
    // The log names the question by its kind only: never its arguments (a password).
    let kind = question_token(&question);
    let (mut hop, mut head, _) = split(&target, request);
    hop.auth = Some(AuthHop {
        script: script.clone(),
        question,
    });
    hop.write(&mut head.headers);
    head.version = Version::HTTP_11;
    let request = http::Request::from_parts(head, Empty::<Bytes>::new());

    let Some(mut sender) = connect(&target).await else {
        return AuthAnswer::Failed;
    };
    let answer = match sender.send_request(request).await {
        Ok(response) => hop::answer(response.headers()),
        Err(err) => {
            tracing::error!(
                "the worker of group '{}' asking {} ({kind}) for {hop_id} ended before it \
                 answered: {err}",
                target.group,
                script.display(),
                hop_id = hop.request_id
            );
            return AuthAnswer::Failed;
        }
    };
    answer.unwrap_or_else(|err| {
        tracing::error!(
            "the worker of group '{}' asking {} ({kind}) for {hop_id} gave no answer: {err}",
            target.group,
            script.display(),
            hop_id = hop.request_id
        );
        AuthAnswer::Failed
    })
}

/// A connection to one of the group's workers, ready for one request; `None` (logged) when
/// none can be reached.
async fn connect<B>(target: &ForwardTarget) -> Option<SendRequest<B>>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let stream = tokio::net::UnixStream::connect(&target.socket)
        .await
        .map_err(|err| {
            let hint = match err.kind() {
                std::io::ErrorKind::PermissionDenied => {
                    " (the front tier's user must be able to traverse every directory above \
                     the socket: choose a --server-root it can reach)"
                }
                std::io::ErrorKind::ConnectionRefused => " (no worker of the group is ready)",
                _ => "",
            };
            tracing::error!(
                "cannot reach the workers of group '{}' at {}: {err}{hint}",
                target.group,
                target.socket.display()
            );
        })
        .ok()?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|err| {
            tracing::error!(
                "cannot talk to the workers of group '{}': {err}",
                target.group
            );
        })
        .ok()?;
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::debug!("forwarded connection ended: {err}");
        }
    });
    Some(sender)
}

/// A request's hop fields for its group (its application numbered as the group numbers it),
/// its head and its body.
fn split(
    target: &ForwardTarget,
    request: AppRequest,
) -> (Hop, http::request::Parts, Option<RequestBody>) {
    let AppRequest {
        head,
        body,
        path,
        script_name_len,
        listener,
        remote,
        local,
        request_id,
        received_at,
        body_limit,
        redirect,
        tls,
        proxied,
        authenticated,
        ..
    } = request;
    let version = head.version;
    let hop = Hop {
        app: target.app,
        script_name_len,
        listener,
        remote,
        local,
        request_id,
        received_at,
        body_limit,
        version,
        path,
        redirect,
        tls: tls.map(|tls| (*tls).clone()),
        proxied,
        authenticated,
        auth: None,
    };
    (hop, head, body)
}

/// A worker's response body, relayed to the client.
pub type Relayed = MapErr<Incoming, fn(hyper::Error) -> BoxError>;

fn relay_error(error: hyper::Error) -> BoxError {
    Box::new(error)
}

/// The client's body on its way to the worker, noting in `fault` why it failed if it does.
fn forwarded_body(
    body: Option<RequestBody>,
    fault: Arc<OnceLock<AppError>>,
) -> UnsyncBoxBody<Bytes, BodyError> {
    let Some(body) = body else {
        return Empty::new().map_err(|never| match never {}).boxed_unsync();
    };
    body.map_err(move |error| {
        let _ = fault.set(match &error {
            BodyError::Malformed(_) => AppError::MalformedBody,
            BodyError::Disconnected(_) => AppError::IncompleteBody,
            BodyError::TooSlow => AppError::BodyTimeout,
        });
        error
    })
    .boxed_unsync()
}
