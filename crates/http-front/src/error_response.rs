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
    /// A static file asked for with a method other than GET or HEAD: 405.
    MethodNotAllowed,
    /// The client stopped sending the body: 408.
    RequestTimeout,
    /// The body is larger than the limit: 413.
    BodyTooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// An `Expect` other than `100-continue`: 417.
    ExpectationFailed,
    /// The application failed: 500.
    Internal,
    /// The server cannot take the request now: 503.
    Unavailable,
    /// The request waited too long for a free thread: 504.
    QueueTimeout,
    /// The application did not answer within the request timeout: 504.
    AppTimeout,
}

impl Refusal {
    /// The status this refusal is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::BadRequest(_) => StatusCode::BAD_REQUEST,
            Refusal::NotFound => StatusCode::NOT_FOUND,
            Refusal::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Refusal::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Refusal::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::ExpectationFailed => StatusCode::EXPECTATION_FAILED,
            Refusal::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Refusal::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::QueueTimeout | Refusal::AppTimeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The sentence shown on the error page.
    pub fn message(&self) -> String {
        match self {
            Refusal::BadRequest(why) => format!("Bad request: {why}."),
            Refusal::NotFound => "The requested URL was not found on this server.".to_owned(),
            Refusal::MethodNotAllowed => {
                "A static file can only be fetched, with GET or HEAD.".to_owned()
            }
            Refusal::RequestTimeout => {
                "The server timed out waiting for the rest of the request body.".to_owned()
            }
            Refusal::BodyTooLarge { limit } => {
                format!("The request body is larger than the limit of {limit} bytes.")
            }
            Refusal::ExpectationFailed => {
                "Only the expectation 100-continue is supported.".to_owned()
            }
            Refusal::Internal => "The server encountered an internal error and could not \
                                  complete the request. The error has been logged."
                .to_owned(),
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
                | Refusal::BodyTooLarge { .. }
                | Refusal::ExpectationFailed
                | Refusal::AppTimeout
        )
    }
}

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

/// The response for a refusal.
pub fn error_response<S>(refusal: &Refusal) -> Response<ResponseBody<S>> {
    let status = refusal.status();
    let reason = status.canonical_reason().unwrap_or("Error");
    let page = format!(
        "<!DOCTYPE html>\n<html><head><title>{code} {reason}</title></head>\n<body>\n\
         <h1>{reason}</h1>\n<p>{message}</p>\n</body></html>\n",
        code = status.as_u16(),
        message = refusal.message(),
    );
    let mut response = Response::new(ResponseBody::full(Bytes::from(page)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if refusal.closes_connection() {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
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
