//! What crosses between the HTTP side and a Python thread: a request in, a reply out.
//!
//! These types use only `http`, `bytes` and tokio's channels, so the HTTP side can produce and
//! consume them without knowing anything about Python.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use tokio::sync::{mpsc, oneshot};

/// Any error, boxed, as request bodies report them.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request body as the bridge reads it: frames of `Bytes`, polled only when the application
/// reads `wsgi.input` (so `100 Continue` is sent only then).
pub type RequestBody = Pin<Box<dyn http_body::Body<Data = Bytes, Error = BodyError> + Send>>;

/// Why a request body stopped before its end, as the HTTP side tells the two apart: the
/// application sees `OSError` either way, but the response status differs.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The client broke the body's framing (a bad chunk size, say): a 400.
    #[error("the request body is not well-formed: {0}")]
    Malformed(#[source] BoxError),
    /// The client went away before the body ended.
    #[error("the client disconnected during the request body: {0}")]
    Disconnected(#[source] BoxError),
}

/// One request for a WSGI application.
pub struct WsgiRequest {
    /// Which application (index into the list the pool was started with).
    pub app: usize,
    /// Which listener it came in on (index into [`crate::EnvironSettings::listeners`]).
    pub listener: usize,
    /// Method, URI, version and headers as received.
    pub head: http::request::Parts,
    /// The percent-decoded request path, with dot-segments resolved.
    pub path: Bytes,
    /// How many leading bytes of `path` are the mount point (`SCRIPT_NAME`); the rest is
    /// `PATH_INFO`.
    pub script_name_len: usize,
    /// The body, when the request has one.
    pub body: Option<RequestBody>,
    /// The most body bytes the application may read; more is a 413.
    pub body_limit: u64,
    /// The client's address.
    pub remote: SocketAddr,
    /// The local address the connection was accepted on.
    pub local: SocketAddr,
    /// The request's id, as in the logs and `mod_wsgi.request_id`.
    pub request_id: String,
    /// When the request head was received (wall clock, for `mod_wsgi.request_start`).
    pub received_at: SystemTime,
}

impl std::fmt::Debug for WsgiRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsgiRequest")
            .field("app", &self.app)
            .field("method", &self.head.method)
            .field("uri", &self.head.uri)
            .field("request_id", &self.request_id)
            .finish_non_exhaustive()
    }
}

/// What a Python thread answers.
#[derive(Debug)]
pub enum WsgiReply {
    /// The application produced a response (its body may still be streaming).
    Response(WsgiResponse),
    /// No response could be produced; the HTTP side answers with an error status.
    Failed(WsgiFailure),
}

/// Why a request got no response from the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsgiFailure {
    /// The request waited longer than the queue timeout for a free Python thread and was never
    /// given to the application.
    QueueTimeout,
    /// The application raised, or broke the WSGI protocol, before starting its response; the
    /// traceback is in the error log.
    ApplicationError,
    /// The request body was larger than the limit.
    BodyTooLarge,
    /// The client took too long to send the request body.
    BodyTimeout,
    /// The client broke the request body's framing.
    MalformedBody,
    /// The pool is shutting down and no longer runs requests.
    ShuttingDown,
    /// The application ran past the request timeout without starting its response.
    RequestTimeout,
}

/// A response from the application.
#[derive(Debug)]
pub struct WsgiResponse {
    /// The status code.
    pub status: StatusCode,
    /// The application's reason phrase when it differs from the standard one for the code.
    pub reason: Option<Bytes>,
    /// The headers, as the application gave them (framing headers checked).
    pub headers: HeaderMap,
    /// The body.
    pub body: WsgiBody,
}

/// A response body.
#[derive(Debug)]
pub enum WsgiBody {
    /// No bytes.
    Empty,
    /// The whole body, known before the head was sent.
    Full(Bytes),
    /// Chunks still being produced by the application, which waits when this channel is full.
    Stream(ChunkReceiver),
    /// A region of a file given through `wsgi.file_wrapper`, sent without Python.
    File(FileBody),
}

/// The receiving end of a streamed body.
#[derive(Debug)]
pub struct ChunkReceiver {
    pub(crate) rx: mpsc::Receiver<Result<Bytes, StreamAborted>>,
    /// Fires when the request times out mid-stream; dropped unfired when the request ends.
    pub(crate) cut: Option<oneshot::Receiver<()>>,
}

impl ChunkReceiver {
    /// Polls for the next chunk; `None` once the body is complete.
    ///
    /// An `Err` means the application failed part-way: the connection must be closed without
    /// ending the body properly, so the client cannot mistake a truncated body for a whole one.
    pub fn poll_recv(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Bytes, StreamAborted>>> {
        if let Some(cut) = &mut self.cut {
            match std::pin::Pin::new(cut).poll(cx) {
                std::task::Poll::Ready(Ok(())) => {
                    self.cut = None;
                    self.rx.close();
                    return std::task::Poll::Ready(Some(Err(StreamAborted::Timeout)));
                }
                std::task::Poll::Ready(Err(_)) => self.cut = None,
                std::task::Poll::Pending => {}
            }
        }
        self.rx.poll_recv(cx)
    }
}

/// A streamed response ended abnormally; the reason is in the error log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StreamAborted {
    /// The application raised while producing the body.
    #[error("the application raised while producing the response body")]
    ApplicationError,
    /// The body ended before the `Content-Length` the application declared.
    #[error("the response body ended before its declared Content-Length")]
    ShortBody,
    /// The request ran out of time while the body was being produced.
    #[error("the request timed out while producing the response body")]
    Timeout,
}

/// A file region sent on behalf of `wsgi.file_wrapper`.
#[derive(Debug)]
pub struct FileBody {
    /// The file (a duplicate of the application's descriptor, owned here).
    pub file: std::fs::File,
    /// Where the region starts.
    pub offset: u64,
    /// How many bytes to send.
    pub len: u64,
    /// Dropped when the file has been sent (or the client went away), which lets the Python
    /// thread call the wrapper's `close()`.
    pub done: oneshot::Sender<()>,
}

/// A request handed to a Python thread, with where to send the reply.
pub(crate) struct Job {
    pub(crate) request: WsgiRequest,
    pub(crate) reply: oneshot::Sender<WsgiReply>,
    pub(crate) queued_at: Instant,
    pub(crate) queued_at_wall: SystemTime,
}
