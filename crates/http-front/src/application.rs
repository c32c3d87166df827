//! The seam between the HTTP side and whatever runs applications.
//!
//! The HTTP side parses, routes and limits requests; an [`Application`] turns an
//! [`AppRequest`] into an [`AppResponse`]. The worker process implements it with the Python
//! thread pool; tests can implement it with plain Rust. Nothing here knows about Python.

use std::future::Future;
use std::net::SocketAddr;
use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

/// Any error, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Runs the applications mounted in the URL space.
pub trait Application: Send + Sync + 'static {
    /// The type of streamed response bodies.
    type Stream: http_body::Body<Data = Bytes, Error = BoxError> + Send + Unpin + 'static;

    /// Handles one request routed to the application at `request.app`.
    fn call(
        &self,
        request: AppRequest,
    ) -> impl Future<Output = Result<AppResponse<Self::Stream>, AppError>> + Send + 'static;
}

/// A request on its way to an application.
#[derive(Debug)]
pub struct AppRequest {
    /// Which mounted application (its index among the WSGI mounts, in mount order).
    pub app: usize,
    /// Which listener it came in on (index into the listeners served).
    pub listener: usize,
    /// Method, URI, version and headers, as received.
    pub head: http::request::Parts,
    /// The percent-decoded, normalised path.
    pub path: Bytes,
    /// How many leading bytes of `path` are the mount point.
    pub script_name_len: usize,
    /// The body, when the request has one; it is read only when the application reads it.
    pub body: Option<crate::RequestBody>,
    /// The most body bytes the application may read.
    pub body_limit: u64,
    /// The client's address.
    pub remote: SocketAddr,
    /// The address the connection was accepted on.
    pub local: SocketAddr,
    /// The request's id, as in the logs.
    pub request_id: String,
    /// When the request head was received.
    pub received_at: SystemTime,
}

/// An application's response.
#[derive(Debug)]
pub struct AppResponse<S> {
    /// The status code.
    pub status: StatusCode,
    /// A reason phrase that differs from the standard one, to be sent as is.
    pub reason: Option<Bytes>,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: AppBody<S>,
    /// Dropped once the body has been sent or abandoned, not when the head goes out: lets the
    /// application count a request as active until its response is complete (mod_wsgi's rule,
    /// which `--inactivity-timeout` relies on for streamed responses).
    pub in_flight: Option<InFlightGuard>,
}

/// Anything held for the life of a response body; see [`AppResponse::in_flight`].
pub type InFlightGuard = Box<dyn std::any::Any + Send + Sync>;

/// An application's response body.
#[derive(Debug)]
pub enum AppBody<S> {
    /// No body.
    Empty,
    /// The whole body at once.
    Full(Bytes),
    /// A body still being produced.
    Stream(S),
    /// A region of a file, sent by the server.
    File(FileRegion),
}

/// A region of an open file to send as a body.
#[derive(Debug)]
pub struct FileRegion {
    /// The file.
    pub file: std::fs::File,
    /// Where the region starts.
    pub offset: u64,
    /// How many bytes to send.
    pub len: u64,
    /// Dropped once the region has been sent or abandoned, to tell whoever waits.
    pub done: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Why an application produced no response; each maps to one status in
/// [`crate::error_response`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    /// The application failed (its traceback is in the error log): 500.
    #[error("the application failed")]
    Internal,
    /// No thread became free within the queue timeout: 504.
    #[error("the request waited too long for a free thread")]
    QueueTimeout,
    /// Too many requests are waiting already, or the server is stopping: 503.
    #[error("the server cannot take the request now")]
    Unavailable,
    /// The request body grew past the limit while being read: 413.
    #[error("the request body is too large")]
    BodyTooLarge,
    /// The client stopped sending the request body: 408.
    #[error("the client stopped sending the request body")]
    BodyTimeout,
    /// The application did not start its response within the request timeout: 504.
    #[error("the application did not answer within the request timeout")]
    RequestTimeout,
    /// The request body's framing was broken: 400.
    #[error("the request body is not well-formed")]
    MalformedBody,
}
