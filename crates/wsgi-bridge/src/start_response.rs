//! `start_response` and the `write()` callable it returns (PEP 3333 §"The start_response()
//! Callable").
//!
//! The status line and headers are checked when the application passes them, so a mistake
//! raises in the application's own frame, with its traceback: a status that is not `"NNN
//! Reason"`, a header that is not a `(str, str)` tuple, a name that is not an HTTP token, a value
//! with CR, LF or NUL (header injection), or text that is not latin-1.

use bytes::Bytes;
use http::StatusCode;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};

use pyo3::exceptions::{PyAssertionError, PyOSError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

use crate::response::{Flow, ResponseHead, ResponseWriter};

/// The `start_response` callable of one request; it owns that request's [`ResponseWriter`].
///
/// The application may hand `write` to another thread (PEP 3333 does not forbid it), which then
/// writes while the request's own thread goes on — even while it ends the request. So the writer
/// sits behind a lock, taken in two ways:
///
/// * by the application's calls ([`StartResponse::writer_for_app`]): never waiting, because the
///   caller holds the GIL and the holder may need it; a busy writer is a `RuntimeError`;
/// * by the server on the request's thread ([`StartResponse::writer_for_server`]): waiting,
///   without the GIL, for another thread's `write()` to finish.
///
/// `ended` is set once the request is over (by [`EndOfResponse`], however it ends): a `write` or
/// `start_response` kept and called later fails with "the request has ended".
#[pyclass(module = "oxwsgi", name = "StartResponse", frozen)]
pub(crate) struct StartResponse {
    writer: Mutex<ResponseWriter>,
    ended: AtomicBool,
}

impl StartResponse {
    pub(crate) fn new(writer: ResponseWriter) -> StartResponse {
        StartResponse {
            writer: Mutex::new(writer),
            ended: AtomicBool::new(false),
        }
    }

    /// The writer for a call from the application.
    fn writer_for_app(&self) -> PyResult<MutexGuard<'_, ResponseWriter>> {
        if self.ended.load(Ordering::Acquire) {
            return Err(request_ended());
        }
        let writer = match self.writer.try_lock() {
            Ok(writer) => writer,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => {
                return Err(PyRuntimeError::new_err(
                    "another thread is in the middle of write() or start_response() for this \
                     response; a response can only be written by one thread at a time",
                ));
            }
        };
        writer.check_open()?;
        Ok(writer)
    }

    /// The writer for the server's own steps on the request's thread; waits (without the GIL)
    /// while another thread is inside `write()`.
    pub(crate) fn writer_for_server(&self, py: Python<'_>) -> MutexGuard<'_, ResponseWriter> {
        loop {
            match self.writer.try_lock() {
                Ok(writer) => return writer,
                Err(TryLockError::Poisoned(poisoned)) => return poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => {
                    crate::gil::blocking(py, || {
                        drop(self.writer.lock());
                    });
                }
            }
        }
    }
}

/// Ends the request's response when dropped: whatever path the request took, later calls of
/// its `write` or `start_response` fail.
pub(crate) struct EndOfResponse<'a, 'py>(pub(crate) &'a Bound<'py, StartResponse>);

impl Drop for EndOfResponse<'_, '_> {
    fn drop(&mut self) {
        let start_response = self.0.get();
        start_response.ended.store(true, Ordering::Release);
        start_response.writer_for_server(self.0.py()).end_request();
    }
}

fn request_ended() -> PyErr {
    PyRuntimeError::new_err(
        "the request has ended: start_response() and write() can no longer be used",
    )
}

#[pymethods]
impl StartResponse {
    /// Sets the response status and headers; returns the `write()` callable.
    #[pyo3(signature = (status, response_headers, exc_info = None))]
    fn __call__<'py>(
        slf: &Bound<'py, Self>,
        status: &Bound<'py, PyAny>,
        response_headers: &Bound<'py, PyAny>,
        exc_info: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let exc_info = exc_info.filter(|e| !e.is_none());
        {
            let writer = slf.get().writer_for_app()?;
            match exc_info {
                // After the head has gone out an error can no longer change it: PEP 3333 says to
                // re-raise the application's exception, which aborts the response.
                Some(exc_info) if writer.head_sent() => {
                    return Err(PyErr::from_value(exc_info.get_item(1)?));
                }
                None if writer.head_set() => {
                    return Err(PyAssertionError::new_err(
                        "start_response() was called a second time without exc_info",
                    ));
                }
                _ => {}
            }
        }
        let (status, reason) = parse_status(status)?;
        let (headers, content_length) = parse_headers(response_headers)?;
        slf.get().writer_for_app()?.set_head(ResponseHead {
            status,
            reason,
            headers,
            content_length,
        });
        slf.getattr(pyo3::intern!(py, "write"))
    }

    /// The legacy `write()` callable: sends `data` at once, after the headers.
    fn write(slf: &Bound<'_, Self>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = slf.py();
        let data = data.cast::<PyBytes>().map_err(|_| {
            PyTypeError::new_err(format!(
                "write() argument must be bytes, not {}",
                type_name(data)
            ))
        })?;
        let mut writer = slf.get().writer_for_app()?;
        if !writer.head_set() {
            return Err(PyAssertionError::new_err(
                "write() was called before start_response()",
            ));
        }
        match writer.write(py, crate::owned_bytes::bytes_of(data))? {
            Flow::Continue | Flow::Complete => Ok(()),
            Flow::ClientGone => Err(PyOSError::new_err(
                "the client closed the connection before the response was complete",
            )),
        }
    }
}

/// `repr(value)`, as Python would show it in a message.
fn repr(value: &Bound<'_, PyAny>) -> String {
    value
        .repr()
        .map(|r| r.to_string())
        .unwrap_or_else(|_| "<unprintable>".to_owned())
}

pub(crate) fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".to_owned())
}

/// Checks a status line such as `"200 OK"`; returns the code and, when it is not the standard
/// one, the application's reason phrase (latin-1 bytes), which is sent as given.
fn parse_status(status: &Bound<'_, PyAny>) -> PyResult<(StatusCode, Option<Bytes>)> {
    let text = status.cast::<PyString>().map_err(|_| {
        PyTypeError::new_err(format!("status must be a str, not {}", type_name(status)))
    })?;
    let text = text.to_cow()?;
    status_line(&text).map_err(|problem| {
        let shown = repr(status);
        PyValueError::new_err(match problem {
            StatusProblem::Malformed => format!(
                "invalid status {shown}: it must be a three-digit code, a space and a reason \
                 phrase, like '200 OK'"
            ),
            StatusProblem::Informational => format!(
                "invalid status {shown}: a WSGI application cannot send an informational (1xx) \
                 response"
            ),
            StatusProblem::NotLatin1 => {
                format!("invalid status {text:?}: the reason is not latin-1")
            }
            StatusProblem::Control => {
                format!("invalid status {shown}: the reason contains a control character")
            }
        })
    })
}

/// What is wrong with a status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusProblem {
    Malformed,
    Informational,
    NotLatin1,
    Control,
}

/// A WSGI status (`"200 OK"`): the code, and the reason phrase when it is not the code's usual
/// one.
fn status_line(text: &str) -> Result<(StatusCode, Option<Bytes>), StatusProblem> {
    let bytes = text.as_bytes();
    if bytes.len() < 4 || !bytes[..3].iter().all(u8::is_ascii_digit) || bytes[3] != b' ' {
        return Err(StatusProblem::Malformed);
    }
    let code = StatusCode::from_bytes(&bytes[..3]).map_err(|_| StatusProblem::Malformed)?;
    if code.is_informational() {
        return Err(StatusProblem::Informational);
    }
    let reason = text.get(4..).unwrap_or("");
    if reason.is_empty() || Some(reason) == code.canonical_reason() {
        return Ok((code, None));
    }
    let reason = latin1_bytes(reason)
        .map(|r| r.into_owned())
        .ok_or(StatusProblem::NotLatin1)?;
    if reason
        .iter()
        .any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
    {
        return Err(StatusProblem::Control);
    }
    Ok((code, Some(Bytes::from(reason))))
}

/// Checks the header list; returns the headers and the declared `Content-Length`.
///
/// `Transfer-Encoding` and `Keep-Alive` are hop-by-hop headers that PEP 3333 forbids
/// applications to send: the server decides the framing, so they are dropped.
fn parse_headers(headers: &Bound<'_, PyAny>) -> PyResult<(HeaderMap, Option<u64>)> {
    let list = headers.cast::<PyList>().map_err(|_| {
        PyTypeError::new_err(format!(
            "response headers must be a list of (name, value) tuples, not {}",
            type_name(headers)
        ))
    })?;
    // The list's length is the application's to choose; the map grows as it fills.
    let mut map = HeaderMap::with_capacity(list.len().min(32));
    let mut content_length = None;
    let mut head_size = 0;
    for item in list.iter() {
        let pair = item
            .cast::<PyTuple>()
            .ok()
            .filter(|t| t.len() == 2)
            .ok_or_else(|| {
                PyTypeError::new_err(format!(
                    "each response header must be a (name, value) tuple of two str, not {}",
                    item.repr().map(|r| r.to_string()).unwrap_or_default()
                ))
            })?;
        let (name, value) = (pair.get_item(0)?, pair.get_item(1)?);
        // Shown only in error messages, so only computed for them.
        let name_repr = || repr(&name);
        let value_repr = || repr(&value);
        let (Ok(name_str), Ok(value_str)) = (name.cast::<PyString>(), value.cast::<PyString>())
        else {
            return Err(PyTypeError::new_err(format!(
                "response header names and values must be str, not ({}, {})",
                type_name(&name),
                type_name(&value)
            )));
        };
        let name_text = name_str.to_cow()?;
        let value_text = value_str.to_cow()?;
        head_size += name_text.len() + value_text.len() + 4;
        if head_size > MAX_RESPONSE_HEADERS_SIZE {
            return Err(PyValueError::new_err(format!(
                "the response headers are larger than {MAX_RESPONSE_HEADERS_SIZE} bytes \
                 (reached at header number {}, {})",
                map.len() + 1,
                name_repr()
            )));
        }
        let (header_name, header_value) =
            header_pair(&name_text, &value_text).map_err(|problem| {
                PyValueError::new_err(match problem {
                    HeaderProblem::BadName => {
                        format!("invalid response header name {}", name_repr())
                    }
                    HeaderProblem::NotLatin1 => format!(
                        "the value of response header {} is not latin-1: {}",
                        name_repr(),
                        value_repr()
                    ),
                    HeaderProblem::LineBreakOrNul => format!(
                        "the value of response header {} contains CR, LF or NUL: {}",
                        name_repr(),
                        value_repr()
                    ),
                    HeaderProblem::Control => format!(
                        "the value of response header {} contains a control character: {}",
                        name_repr(),
                        value_repr()
                    ),
                    HeaderProblem::HopByHop => format!(
                        "the hop-by-hop header {} is not allowed in a WSGI response (PEP \
                         3333): the server alone manages the connection and the framing",
                        name_repr()
                    ),
                })
            })?;
        if header_name == header::CONTENT_LENGTH {
            let length = parse_content_length(&value_text).ok_or_else(|| {
                PyValueError::new_err(format!(
                    "Content-Length {} is not a non-negative whole number",
                    value_repr()
                ))
            })?;
            match content_length {
                // The same length twice is harmless (RFC 9110 §8.6 lets it be folded); two
                // different lengths would make the response's framing a guess.
                Some(earlier) if earlier == length => continue,
                Some(earlier) => {
                    return Err(PyValueError::new_err(format!(
                        "Content-Length given twice with different values: {earlier} and {length}"
                    )));
                }
                None => {}
            }
            content_length = Some(length);
            map.append(header_name, HeaderValue::from(length));
            continue;
        }
        map.append(header_name, header_value);
    }
    Ok((map, content_length))
}

/// What is wrong with a response header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeaderProblem {
    BadName,
    NotLatin1,
    LineBreakOrNul,
    Control,
    HopByHop,
}

/// One response header, checked: a token name, a latin-1 value without CR, LF, NUL or other
/// control characters (tab aside), and not a hop-by-hop header.
fn header_pair(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), HeaderProblem> {
    let header_name =
        HeaderName::from_bytes(name.as_bytes()).map_err(|_| HeaderProblem::BadName)?;
    let value_bytes = latin1_bytes(value).ok_or(HeaderProblem::NotLatin1)?;
    if value_bytes
        .iter()
        .any(|&b| matches!(b, b'\r' | b'\n' | b'\0'))
    {
        return Err(HeaderProblem::LineBreakOrNul);
    }
    let header_value = HeaderValue::from_bytes(&value_bytes).map_err(|_| HeaderProblem::Control)?;
    if is_hop_by_hop(&header_name) {
        return Err(HeaderProblem::HopByHop);
    }
    Ok((header_name, header_value))
}

/// The most bytes of response headers an application may send: mod_wsgi's default header
/// buffer (32 KiB), which no real response comes near, and which keeps a runaway header list
/// from growing without bound.
const MAX_RESPONSE_HEADERS_SIZE: usize = 32 * 1024;

/// Headers that belong to one connection, not to the response (RFC 9110 §7.6.1; `Trailer`
/// too, since a WSGI response has no trailers to announce).
fn is_hop_by_hop(name: &HeaderName) -> bool {
    *name == header::CONNECTION
        || *name == header::TRANSFER_ENCODING
        || *name == header::TE
        || *name == header::TRAILER
        || *name == header::UPGRADE
        || *name == header::PROXY_AUTHENTICATE
        || *name == header::PROXY_AUTHORIZATION
        || matches!(name.as_str(), "keep-alive" | "proxy-connection")
}

/// A `Content-Length` value: ASCII digits only (surrounding whitespace allowed), as RFC 9110
/// §8.6 requires; `+1`, `1.0` or `0x10` would otherwise mean different things to different
/// clients.
fn parse_content_length(text: &str) -> Option<u64> {
    let digits = text.trim_matches(|c| c == ' ' || c == '\t');
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A native string's bytes when every character is latin-1; `None` otherwise. ASCII text (the
/// usual case) is borrowed as is.
pub(crate) fn latin1_bytes(text: &str) -> Option<std::borrow::Cow<'_, [u8]>> {
    if text.is_ascii() {
        return Some(std::borrow::Cow::Borrowed(text.as_bytes()));
    }
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect::<Option<Vec<u8>>>()
        .map(std::borrow::Cow::Owned)
}

#[cfg(test)]
mod tests {
    use super::latin1_bytes;

    #[test]
    fn content_length_is_digits_only() {
        assert_eq!(super::parse_content_length(" 12 "), Some(12));
        assert_eq!(super::parse_content_length("0"), Some(0));
        for bad in [
            "",
            "+1",
            "-1",
            "1.0",
            "0x10",
            "1 2",
            "99999999999999999999999",
        ] {
            assert_eq!(super::parse_content_length(bad), None, "{bad}");
        }
    }

    #[test]
    fn latin1_keeps_high_bytes_and_refuses_wider_characters() {
        assert_eq!(latin1_bytes("caf\u{e9}").unwrap().as_ref(), b"caf\xe9");
        assert_eq!(latin1_bytes("\u{20ac}"), None);
        assert_eq!(latin1_bytes("ok").unwrap().as_ref(), b"ok");
    }
}

#[cfg(test)]
#[path = "fuzz/start_response.rs"]
mod fuzz;
