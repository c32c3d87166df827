//! The one place where a refusal or failure becomes an HTTP response.
//!
//! Each [`Refusal`] has exactly one status and one short page, in the spirit of Apache's own
//! error documents: they say what went wrong from the client's side and never include server
//! internals (a traceback goes to the error log, not here).

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

use crate::application::AppError;
use crate::body::ResponseBody;
use crate::path::PathError;

/// Why the server answers with an error instead of the application's response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The request is malformed: 400.
    BadRequest(&'static str),
    /// Nothing is mounted at the path, or the path is refused: 404.
    NotFound,
    /// The configuration's access rules do not allow this client here: 403.
    Forbidden,
    /// The access rules want an authenticated user, and the request has none they let in
    /// (no credentials, wrong ones, or a user they refuse): 401, asking for Basic credentials
    /// for `realm` (the `AuthName`), or Digest ones when `digest` says how.
    Unauthorized {
        /// The realm, as `AuthName` wrote it.
        realm: String,
        /// For `AuthType Digest`: what the challenge offers.
        digest: Option<Box<DigestChallenge>>,
    },
    /// A static file asked for with a method other than GET or HEAD: 405.
    MethodNotAllowed,
    /// The client stopped sending the body: 408.
    RequestTimeout,
    /// The request head did not arrive in time: 408.
    HeadTimeout,
    /// The body is larger than the limit: 413.
    BodyTooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The request line is longer than `--limit-request-line`: 414.
    RequestLineTooLong {
        /// The limit, in bytes.
        limit: usize,
    },
    /// A header field is longer than `--limit-request-field-size`: 431.
    HeaderFieldTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// An `Expect` other than `100-continue`: 417.
    ExpectationFailed,
    /// A request `Transfer-Encoding` other than `chunked`: 501.
    UnsupportedTransferCoding,
    /// `CONNECT`: 405 (the server is not a proxy).
    ConnectNotSupported,
    /// The application failed: 500.
    Internal,
    /// The process running the application ended before it answered: 502.
    BadGateway,
    /// The server cannot take the request now: 503.
    Unavailable,
    /// The request waited too long for a free thread: 504.
    QueueTimeout,
    /// The application did not answer within the request timeout: 504.
    AppTimeout,
    /// The request line names an HTTP version other than 1.x: 505.
    VersionNotSupported,
    /// A `Redirect`: a 3xx to `location`.
    Redirect {
        /// The status.
        status: u16,
        /// The absolute URL.
        location: String,
    },
    /// A `Redirect gone`: 410.
    Gone,
    /// A chunked request body where they are not accepted (`WSGIChunkedRequest Off`): 411.
    LengthRequired,
    /// `TRACE` where it is refused (`TraceEnable Off`): 405.
    TraceRefused,
    /// The server a proxied path or host is passed to cannot be reached, or broke off: 502.
    ProxyUnreachable,
    /// The server a proxied path or host is passed to did not answer within the proxy
    /// timeout: 504.
    ProxyTimeout,
}

impl Refusal {
    /// The status this refusal is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::BadRequest(_) => StatusCode::BAD_REQUEST,
            Refusal::NotFound => StatusCode::NOT_FOUND,
            Refusal::Forbidden => StatusCode::FORBIDDEN,
            Refusal::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Refusal::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Refusal::RequestTimeout | Refusal::HeadTimeout => StatusCode::REQUEST_TIMEOUT,
            Refusal::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::ExpectationFailed => StatusCode::EXPECTATION_FAILED,
            Refusal::RequestLineTooLong { .. } => StatusCode::URI_TOO_LONG,
            Refusal::HeaderFieldTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Refusal::UnsupportedTransferCoding => StatusCode::NOT_IMPLEMENTED,
            Refusal::ConnectNotSupported => StatusCode::METHOD_NOT_ALLOWED,
            Refusal::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Refusal::BadGateway => StatusCode::BAD_GATEWAY,
            Refusal::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::QueueTimeout | Refusal::AppTimeout => StatusCode::GATEWAY_TIMEOUT,
            Refusal::VersionNotSupported => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            Refusal::Redirect { status, .. } => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::FOUND)
            }
            Refusal::Gone => StatusCode::GONE,
            Refusal::LengthRequired => StatusCode::LENGTH_REQUIRED,
            Refusal::TraceRefused => StatusCode::METHOD_NOT_ALLOWED,
            Refusal::ProxyUnreachable => StatusCode::BAD_GATEWAY,
            Refusal::ProxyTimeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The sentence shown on the error page.
    pub fn message(&self) -> String {
        match self {
            Refusal::BadRequest(why) => format!("Bad request: {why}."),
            Refusal::NotFound => "The requested URL was not found on this server.".to_owned(),
            Refusal::Forbidden => "You don't have permission to access this resource.".to_owned(),
            // httpd's own words (and lines), from `get_canned_error_string`.
            Refusal::Unauthorized { .. } => "This server could not verify that you\n\
                                             are authorized to access the document\n\
                                             requested.  Either you supplied the wrong\n\
                                             credentials (e.g., bad password), or your\n\
                                             browser doesn't understand how to supply\n\
                                             the credentials required."
                .to_owned(),
            Refusal::MethodNotAllowed => {
                "A static file can only be fetched, with GET or HEAD.".to_owned()
            }
            Refusal::RequestTimeout => {
                "The server timed out waiting for the rest of the request body.".to_owned()
            }
            Refusal::HeadTimeout => "The server timed out waiting for the request head.".to_owned(),
            Refusal::BodyTooLarge { limit } => {
                format!("The request body is larger than the limit of {limit} bytes.")
            }
            Refusal::ExpectationFailed => {
                "Only the expectation 100-continue is supported.".to_owned()
            }
            Refusal::RequestLineTooLong { limit } => {
                format!("The request line is longer than the limit of {limit} bytes.")
            }
            Refusal::HeaderFieldTooLarge { limit } => {
                format!("A request header field is longer than the limit of {limit} bytes.")
            }
            Refusal::UnsupportedTransferCoding => {
                "The request's Transfer-Encoding is not supported: only chunked is.".to_owned()
            }
            Refusal::ConnectNotSupported => {
                "CONNECT is not supported: this server is not a proxy.".to_owned()
            }
            Refusal::Internal => "The server encountered an internal error and could not \
                                  complete the request. The error has been logged."
                .to_owned(),
            Refusal::BadGateway => {
                "The process running the application ended before it answered. The error has \
                 been logged."
                    .to_owned()
            }
            Refusal::Unavailable => {
                "The server is temporarily unable to take the request; try again shortly."
                    .to_owned()
            }
            Refusal::QueueTimeout => {
                "The request waited too long for the application to become free.".to_owned()
            }
            Refusal::AppTimeout => {
                "The application did not answer within the request timeout.".to_owned()
            }
            Refusal::Redirect { location, .. } => format!(
                "The document has moved <a href=\"{}\">here</a>.",
                escape_html(location)
            ),
            Refusal::LengthRequired => {
                "A request body must come with a Content-Length here, not chunked.".to_owned()
            }
            Refusal::TraceRefused => "The requested method TRACE is not allowed here.".to_owned(),
            Refusal::ProxyUnreachable => {
                "The server this request is passed on to could not be reached, or gave no \
                 valid answer."
                    .to_owned()
            }
            Refusal::ProxyTimeout => {
                "The server this request is passed on to did not answer in time.".to_owned()
            }
            Refusal::Gone => "The requested resource is no longer available on this server and \
                              there is no forwarding address."
                .to_owned(),
            Refusal::VersionNotSupported => {
                "The request's HTTP version is not supported: this server speaks HTTP/1.1 and \
                 HTTP/1.0."
                    .to_owned()
            }
        }
    }

    /// Whether the connection must close after this response: the client misbehaved, or the
    /// request body was left unread and cannot be skipped safely — as with a request that timed
    /// out, whose thread may hold its body for as long as it stays stuck.
    fn closes_connection(&self) -> bool {
        matches!(
            self,
            Refusal::BadRequest(_)
                | Refusal::RequestTimeout
                | Refusal::HeadTimeout
                | Refusal::BodyTooLarge { .. }
                | Refusal::ExpectationFailed
                | Refusal::UnsupportedTransferCoding
                | Refusal::ConnectNotSupported
                | Refusal::RequestLineTooLong { .. }
                | Refusal::HeaderFieldTooLarge { .. }
                | Refusal::AppTimeout
                | Refusal::VersionNotSupported
                | Refusal::LengthRequired
        )
    }

    /// The methods a 405 names in its `Allow` header (RFC 9110 §15.5.6 requires one).
    fn allow(&self) -> Option<&'static str> {
        match self {
            Refusal::MethodNotAllowed => Some("GET, HEAD"),
            Refusal::ConnectNotSupported => Some(SERVER_METHODS),
            Refusal::TraceRefused => Some(SERVER_METHODS),
            _ => None,
        }
    }
}

/// Every way an application can fail to answer, each refused by [`Refusal::from_app`].
pub(crate) const APP_ERRORS: [AppError; 9] = [
    AppError::Internal,
    AppError::QueueTimeout,
    AppError::Unavailable,
    AppError::BodyTooLarge,
    AppError::BodyTimeout,
    AppError::RequestTimeout,
    AppError::MalformedBody,
    AppError::IncompleteBody,
    AppError::Lost,
];

/// Why a request whose body the client cut short is refused.
pub(crate) const INCOMPLETE_BODY: &str =
    "the client closed the connection before sending the whole request body";

impl Refusal {
    /// The refusal for an application's failure; `body_limit` is the limit a too-large body
    /// exceeded.
    pub fn from_app(error: AppError, body_limit: u64) -> Refusal {
        match error {
            AppError::Internal => Refusal::Internal,
            AppError::QueueTimeout => Refusal::QueueTimeout,
            AppError::Unavailable => Refusal::Unavailable,
            AppError::BodyTooLarge => Refusal::BodyTooLarge { limit: body_limit },
            AppError::BodyTimeout => Refusal::RequestTimeout,
            AppError::RequestTimeout => Refusal::AppTimeout,
            AppError::MalformedBody => Refusal::BadRequest("the request body is not well-formed"),
            AppError::IncompleteBody => Refusal::BadRequest(INCOMPLETE_BODY),
            AppError::Lost => Refusal::BadGateway,
        }
    }
}

impl From<PathError> for Refusal {
    fn from(error: PathError) -> Refusal {
        match error {
            PathError::EncodedSlashOrNul => Refusal::NotFound,
            PathError::NotAbsolute => Refusal::BadRequest("the request target is not a path"),
            PathError::BadEscape => {
                Refusal::BadRequest("the request path has a malformed %-escape")
            }
            // A traversal attempt: nothing is there, whatever the client hoped for.
            PathError::AboveRoot => Refusal::NotFound,
        }
    }
}

/// The page of a refusal.
fn page(refusal: &Refusal) -> String {
    let status = refusal.status();
    let reason = status.canonical_reason().unwrap_or("Error");
    format!(
        "<!DOCTYPE html>\n<html><head><title>{code} {reason}</title></head>\n<body>\n\
         <h1>{reason}</h1>\n<p>{message}</p>\n</body></html>\n",
        code = status.as_u16(),
        message = refusal.message(),
    )
}

/// The response for a refusal.
pub fn error_response<S>(refusal: &Refusal) -> Response<ResponseBody<S>> {
    let status = refusal.status();
    let mut response = Response::new(ResponseBody::full(Bytes::from(page(refusal))));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if refusal.closes_connection() {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if let Some(allow) = refusal.allow() {
        headers.insert(header::ALLOW, HeaderValue::from_static(allow));
    }
    if let Refusal::Unauthorized { realm, digest } = refusal {
        let challenge = match digest {
            None => format!("Basic realm=\"{}\"", escape_quotes(realm)),
            Some(digest) => digest.header(realm),
        };
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_bytes(challenge.as_bytes())
                .unwrap_or_else(|_| HeaderValue::from_static("Basic realm=\"\"")),
        );
    }
    if let Refusal::Redirect { location, .. } = refusal {
        if let Ok(location) = HeaderValue::from_str(location) {
            headers.insert(header::LOCATION, location);
        }
    }
    response
}

/// What a 401 for `AuthType Digest` offers (mod_auth_digest's `note_digest_auth_failure`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestChallenge {
    /// A fresh nonce.
    pub nonce: String,
    /// `AuthDigestDomain`'s URIs, if set.
    pub domain: Option<Vec<String>>,
    /// Whether the client's nonce was one the server gave but is too old (or not one it
    /// gave): it may retry with the new one without asking its user again.
    pub stale: bool,
    /// Whether `qop="auth"` is offered (`AuthDigestQop none` offers none).
    pub qop: bool,
}

impl DigestChallenge {
    /// `Digest realm="R", nonce="N", algorithm=MD5[, domain="…"][, stale=true][, qop="auth"]`,
    /// in mod_auth_digest's order.
    fn header(&self, realm: &str) -> String {
        let mut challenge = format!(
            "Digest realm=\"{}\", nonce=\"{}\", algorithm=MD5",
            escape_quotes(realm),
            self.nonce
        );
        if let Some(domain) = &self.domain {
            challenge.push_str(&format!(
                ", domain=\"{}\"",
                escape_quotes(&domain.join(" "))
            ));
        }
        if self.stale {
            challenge.push_str(", stale=true");
        }
        if self.qop {
            challenge.push_str(", qop=\"auth\"");
        }
        challenge
    }
}

/// A realm as a challenge quotes it: its quotes escaped as httpd's `ap_escape_quotes` escapes
/// them (a `"` gets a backslash; a backslash and the character after it are kept as they are).
fn escape_quotes(realm: &str) -> String {
    let mut escaped = String::with_capacity(realm.len() + 2);
    let mut chars = realm.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                escaped.push(c);
                if let Some(next) = chars.next() {
                    escaped.push(next);
                }
            }
            '"' => escaped.push_str("\\\""),
            c => escaped.push(c),
        }
    }
    escaped
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A refusal as the bytes of a whole HTTP/1.1 response that closes its connection, for the
/// answers a connection writes itself, outside hyper.
pub(crate) fn raw_response(refusal: &Refusal) -> Vec<u8> {
    let status = refusal.status();
    let page = page(refusal);
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: text/html; charset=utf-8\r\n\
         Connection: close\r\nContent-Length: {length}\r\n\r\n{page}",
        code = status.as_u16(),
        reason = status.canonical_reason().unwrap_or("Error"),
        length = page.len(),
    )
    .into_bytes()
}

/// The methods the server passes to applications, as `OPTIONS *` and a 405 for `CONNECT` name
/// them.
pub(crate) const SERVER_METHODS: &str = "OPTIONS, GET, HEAD, POST, PUT, DELETE, PATCH";

/// The server's own answer to `OPTIONS *` (a question about the server, not a resource: no
/// application is asked).
pub(crate) fn server_options<S>() -> Response<ResponseBody<S>> {
    let mut response = Response::new(ResponseBody::empty());
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(SERVER_METHODS));
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_has_its_status() {
        assert_eq!(Refusal::NotFound.status(), 404);
        assert_eq!(Refusal::BodyTooLarge { limit: 1 }.status(), 413);
        assert_eq!(Refusal::QueueTimeout.status(), 504);
        assert_eq!(Refusal::from(PathError::EncodedSlashOrNul).status(), 404);
        assert_eq!(Refusal::from(PathError::AboveRoot).status(), 404);
    }

    #[test]
    fn a_401_asks_for_basic_credentials_for_its_realm_in_httpds_words() {
        let refusal = Refusal::Unauthorized {
            realm: r#"The "Site" \"x"#.to_owned(),
            digest: None,
        };
        let response: Response<ResponseBody<crate::body::NoStream>> = error_response(&refusal);
        assert_eq!(response.status(), 401);
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            r#"Basic realm="The \"Site\" \"x""#
        );
        assert!(!response.headers().contains_key(header::CONNECTION));
        assert!(page(&refusal).contains(
            "<p>This server could not verify that you\nare authorized to access the document\n\
             requested.  Either you supplied the wrong\ncredentials (e.g., bad password), or \
             your\nbrowser doesn't understand how to supply\nthe credentials required.</p>"
        ));
    }

    #[test]
    fn a_raw_response_is_complete_and_closes() {
        let raw = String::from_utf8(raw_response(&Refusal::HeadTimeout)).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 408 Request Timeout\r\n"));
        assert!(head.contains("\r\nConnection: close\r\n"));
        assert!(head.ends_with(&format!("Content-Length: {}", body.len())));
        assert!(body.contains("<p>The server timed out waiting for the request head.</p>"));
    }

    #[test]
    fn pages_name_the_limit_and_close_when_the_body_is_unread() {
        let response: Response<ResponseBody<crate::body::NoStream>> =
            error_response(&Refusal::BodyTooLarge { limit: 1024 });
        assert_eq!(response.headers()[header::CONNECTION], "close");
        assert!(
            Refusal::BodyTooLarge { limit: 1024 }
                .message()
                .contains("1024 bytes")
        );
    }
}
