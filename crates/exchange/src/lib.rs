//! What crosses between the HTTP side and whatever runs applications: a request in, a response
//! (or the reason there is none) out.
//!
//! `http-front` produces [`AppRequest`]s and turns [`AppResponse`]s and [`AppError`]s into HTTP;
//! `wsgi-bridge` consumes the requests and produces the responses. Neither knows the other: these
//! types are made of `http`, `bytes` and tokio channel types only, so the HTTP side never sees a
//! Python object and the Python side never sees hyper. One set of types crosses the seam, moved,
//! never copied field by field.

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};

/// Any error, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request on its way to an application.
pub struct AppRequest {
    /// Which mounted application (its index among the application mounts, in mount order).
    pub app: usize,
    /// Which listener it came in on (index into the listeners served).
    pub listener: usize,
    /// Method, URI, version and headers, as received.
    pub head: http::request::Parts,
    /// The percent-decoded, normalised path, with dot-segments resolved.
    pub path: Bytes,
    /// How many leading bytes of `path` are the mount point (`SCRIPT_NAME`); the rest is
    /// `PATH_INFO`.
    pub script_name_len: usize,
    /// The body, when the request has one; it is read only when the application reads it (so
    /// `100 Continue` is sent only then).
    pub body: Option<RequestBody>,
    /// The most body bytes the application may read; more is a 413.
    pub body_limit: u64,
    /// The client's address.
    pub remote: SocketAddr,
    /// The address the connection was accepted on.
    pub local: SocketAddr,
    /// The request's id, as in the logs.
    pub request_id: String,
    /// When the request head was received.
    pub received_at: SystemTime,
    /// Set when this is the internal request for a local `ErrorDocument` (httpd's internal
    /// redirect): what the request that failed was.
    pub redirect: Option<ErrorRedirect>,
    /// Set when the request came over TLS: what mod_ssl would tell of its connection.
    pub tls: Option<std::sync::Arc<TlsDetails>>,
    /// Set when a trusted proxy's headers said something of the client's request (only when
    /// trusted proxy headers are configured).
    pub proxied: Option<Box<Proxied>>,
    /// Set when the server authenticated the request's user (`AuthType Basic`, before the
    /// application is called): `REMOTE_USER` and `AUTH_TYPE`.
    pub authenticated: Option<Authenticated>,
}

/// Who the server authenticated a request as, the way mod_auth_basic does: what the
/// application's environ shows as `REMOTE_USER` and `AUTH_TYPE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// The user name, as the client sent it (bytes: a Basic credential need not be UTF-8).
    pub user: Bytes,
    /// The `AuthType` that applied, as the configuration wrote it (`Basic`).
    pub auth_type: String,
}

/// What a trusted proxy's headers say of the client's request, as mod_wsgi applies them to
/// the environ (`WSGITrustedProxyHeaders`): each value replaces what the connection would
/// give, and is `None` where no trusted header said anything. Values are as the headers
/// carried them (mod_wsgi checks none of them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proxied {
    /// The client: `REMOTE_ADDR`.
    pub client: Option<HeaderValue>,
    /// The scheme the client used: `wsgi.url_scheme`, and `HTTPS` (`on`, or absent).
    pub scheme: Option<UrlScheme>,
    /// The host the client asked for: `HTTP_HOST`.
    pub host: Option<HeaderValue>,
    /// `SERVER_NAME`.
    pub server_name: Option<HeaderValue>,
    /// `SERVER_PORT`.
    pub server_port: Option<HeaderValue>,
    /// `SCRIPT_NAME` (and `mod_wsgi.mount_point`): where the proxy mounts the application.
    pub script_name: Option<HeaderValue>,
}

impl Proxied {
    /// Whether no trusted header said anything.
    pub fn is_empty(&self) -> bool {
        *self == Proxied::default()
    }
}

/// The scheme of a client's request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlScheme {
    /// `http`.
    Http,
    /// `https`.
    Https,
}

impl UrlScheme {
    /// `http` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            UrlScheme::Http => "http",
            UrlScheme::Https => "https",
        }
    }
}

/// What a request over TLS knows of its connection, made once per connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsDetails {
    /// Whether the client sent a certificate which the listener's authorities signed. One they
    /// did not sign fails the handshake, except under `SSLVerifyClient optional_no_ca`, which
    /// accepts it unverified (then this is false).
    pub client_verified: bool,
    /// mod_ssl's `SSL_*` variables (`SSL_PROTOCOL`, `SSL_CLIENT_S_DN`, …), when the listener
    /// passes them to the application (`SSLOptions +StdEnvVars`, `--ssl-environment`).
    pub environment: Option<Vec<(&'static str, String)>>,
}

/// The request that failed, when an application serves the local `ErrorDocument` of its
/// error: httpd answers with an internal redirect (`ap_die`, `ap_internal_redirect`), a GET for
/// the document's path with the original headers, whose environ — mod_wsgi copies httpd's
/// `subprocess_env` — names the original request in its `REDIRECT_*` keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorRedirect {
    /// The error's status: `REDIRECT_STATUS`.
    pub status: StatusCode,
    /// The original method: `REDIRECT_REQUEST_METHOD`.
    pub method: http::Method,
    /// The original request target, as sent: `REQUEST_URI` (httpd keeps the original request
    /// line), and its query, `REDIRECT_QUERY_STRING`.
    pub uri: http::Uri,
    /// The original path, decoded and normalised: `REDIRECT_URL` (httpd's `r->prev->uri`).
    pub url: Bytes,
}

impl std::fmt::Debug for AppRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppRequest")
            .field("app", &self.app)
            .field("method", &self.head.method)
            .field("uri", &self.head.uri)
            .field("request_id", &self.request_id)
            .field("redirect", &self.redirect)
            .finish_non_exhaustive()
    }
}

/// A request body: frames of `Bytes`, pulled only when the application reads.
pub type RequestBody = Pin<Box<dyn http_body::Body<Data = Bytes, Error = BodyError> + Send>>;

/// Why a request body stopped before its end. The application sees `OSError` either way, but
/// the response status differs; the cause is kept for the log.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The client broke the body's framing (a bad chunk size, say): a 400.
    #[error("the request body is not well-formed: {0}")]
    Malformed(#[source] BoxError),
    /// The client went away, or stopped, before the body ended.
    #[error("the client closed the connection before the request body ended: {0}")]
    Disconnected(#[source] BoxError),
    /// The client sent the body slower than `--body-min-rate` allows: a 408.
    #[error("the client sent the request body too slowly")]
    TooSlow,
}

/// An application's response.
#[derive(Debug)]
pub struct AppResponse<S> {
    /// The status code.
    pub status: StatusCode,
    /// A reason phrase that differs from the standard one, to be sent as is.
    pub reason: Option<Bytes>,
    /// The headers, as the application gave them (framing headers checked).
    pub headers: HeaderMap,
    /// The body.
    pub body: AppBody<S>,
    /// Dropped once the body has been sent or abandoned, not when the head goes out: lets the
    /// runner count a request as active until its response is complete (mod_wsgi's rule,
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

/// A region of an open file to send as a body (`wsgi.file_wrapper`).
#[derive(Debug)]
pub struct FileRegion {
    /// The file (a descriptor owned by the server).
    pub file: std::fs::File,
    /// Where the region starts.
    pub offset: u64,
    /// How many bytes to send.
    pub len: u64,
    /// Dropped once the region has been sent or abandoned, to tell whoever waits (the thread
    /// that calls the wrapper's `close()` after it).
    pub done: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Why an application produced no response; each maps to one status on the HTTP side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    /// The application failed or broke the protocol before its response started (its
    /// traceback is in the error log): 500.
    #[error("the application failed")]
    Internal,
    /// No thread became free within the queue timeout; the application never saw the request:
    /// 504.
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
    /// The client closed its side before sending the whole body: 400.
    #[error("the client closed the connection before sending the whole request body")]
    IncompleteBody,
    /// The process running the application went away before its response started (the front
    /// tier's hop to a worker that crashed or was killed): 502.
    #[error("the process running the application ended before it answered")]
    Lost,
}

/// A question for one of the configuration's Python authentication scripts (mod_wsgi's
/// `WSGIAuthUserScript`, `WSGIAuthGroupScript` and `WSGIAccessScript`), asked by the HTTP side
/// before the application is called and answered by the Python side of the request's group.
///
/// The script runs on one of the group's Python threads for the length of the call only; its
/// `environ` is the request's (as the application would see it, with `wsgi.errors` but no
/// body: `wsgi.input` reads nothing).
#[derive(Debug)]
pub struct AuthQuery {
    /// The script file, as the configuration names it (absolute).
    pub script: std::path::PathBuf,
    /// What to ask it.
    pub question: AuthQuestion,
    /// The request, for the script's `environ`: its `body` is `None`, and `app` is the
    /// application the request routes to (or the first of its virtual host when it routes to
    /// none: a static file), which the Python side uses for `SCRIPT_NAME` and the
    /// `mod_wsgi.*` keys.
    pub request: AppRequest,
}

/// The call an [`AuthQuery`] makes, by mod_wsgi's names. Its `Debug` never shows a password.
#[derive(Clone, PartialEq, Eq)]
pub enum AuthQuestion {
    /// `check_password(environ, user, password)` (Basic authentication): the strings are
    /// the credentials' bytes decoded as Latin-1, as mod_wsgi decodes them.
    CheckPassword {
        /// The user name the client sent.
        user: Bytes,
        /// The password the client sent.
        password: Bytes,
    },
    /// `get_realm_hash(environ, user, realm)` (Digest authentication): the hex MD5 of
    /// `user:realm:password`, or `None` for an unknown user.
    RealmHash {
        /// The user name the client sent.
        user: Bytes,
        /// The realm (`AuthName`).
        realm: String,
    },
    /// `groups_for_user(environ, user)` (`Require wsgi-group`): the user's groups.
    GroupsForUser {
        /// The authenticated user.
        user: Bytes,
    },
    /// `allow_access(environ, host)` (`WSGIAccessScript`): whether the client may in; `host`
    /// is the client's name when one is known, else its address.
    AllowAccess {
        /// The client's name or address.
        host: String,
    },
}

impl std::fmt::Debug for AuthQuestion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthQuestion::CheckPassword { user, password } => f
                .debug_struct("CheckPassword")
                .field("user", user)
                .field("password", &format_args!("<{} bytes>", password.len()))
                .finish(),
            AuthQuestion::RealmHash { user, realm } => f
                .debug_struct("RealmHash")
                .field("user", user)
                .field("realm", realm)
                .finish(),
            AuthQuestion::GroupsForUser { user } => {
                f.debug_struct("GroupsForUser").field("user", user).finish()
            }
            AuthQuestion::AllowAccess { host } => {
                f.debug_struct("AllowAccess").field("host", host).finish()
            }
        }
    }
}

/// What a script's function returned, by [`AuthQuestion`]. A script that raised, or returned
/// something its function may not, is [`AuthAnswer::Failed`] (logged, with the traceback, on
/// the Python side): the request gets a 500, as under mod_wsgi.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthAnswer {
    /// `check_password` returned `True`, or a user name (a string: the user the request is
    /// then authenticated as, `user`).
    Granted {
        /// The user name the script returned instead of the client's, if it did.
        user: Option<Bytes>,
    },
    /// `check_password` returned `False`: the password is wrong.
    Denied,
    /// `check_password` or `get_realm_hash` returned `None`: no such user.
    UnknownUser,
    /// What `get_realm_hash` returned: the hex digest.
    RealmHash(Bytes),
    /// What `groups_for_user` returned: the user's group names (Latin-1 bytes).
    Groups(Vec<Bytes>),
    /// `allow_access` returned `True` (`Some(true)`), `False` (`Some(false)`) or `None` (no
    /// opinion: the other rules decide).
    Access(Option<bool>),
    /// The script could not be loaded, has no such function, raised, or returned a value of
    /// the wrong type; or no Python side could be reached.
    Failed,
}
