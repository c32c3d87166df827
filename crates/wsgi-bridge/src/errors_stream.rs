//! `wsgi.errors`, and the `sys.stdout`/`sys.stderr` replacements: text streams whose lines go
//! to the error log, tagged with the id of the request the writing thread is running.
//!
//! As with mod_wsgi, output is line-buffered: a partial line waits for its newline or a
//! `flush()`, so a traceback written piecemeal still appears as whole lines.

use std::cell::Cell;
use std::sync::{Mutex, PoisonError};

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyString;

/// The longest request id kept for tagging; ids are short, and longer ones are cut.
const TAG_CAPACITY: usize = 32;

/// The id of the request this thread is running, kept inline so setting it costs no allocation.
#[derive(Clone, Copy)]
struct RequestTag {
    bytes: [u8; TAG_CAPACITY],
    len: u8,
}

thread_local! {
    static CURRENT_REQUEST: Cell<Option<RequestTag>> = const { Cell::new(None) };
}

/// Marks the current thread as running `request_id` until the guard is dropped.
pub(crate) fn tag_thread(request_id: &str) -> TagGuard {
    let mut bytes = [0u8; TAG_CAPACITY];
    let len = request_id.len().min(TAG_CAPACITY);
    bytes[..len].copy_from_slice(&request_id.as_bytes()[..len]);
    CURRENT_REQUEST.set(Some(RequestTag {
        bytes,
        len: len as u8,
    }));
    TagGuard
}

/// Clears the thread's request tag when dropped.
pub(crate) struct TagGuard;

impl Drop for TagGuard {
    fn drop(&mut self) {
        CURRENT_REQUEST.set(None);
    }
}

fn with_current_request<R>(f: impl FnOnce(&str) -> R) -> R {
    let tag = CURRENT_REQUEST.get();
    let id = tag
        .as_ref()
        .and_then(|t| std::str::from_utf8(&t.bytes[..usize::from(t.len)]).ok())
        .unwrap_or("-");
    f(id)
}

/// A write-only text stream into the error log.
#[pyclass(module = "oxwsgi", name = "LogStream", frozen)]
pub(crate) struct LogStream {
    name: &'static str,
    pending: Mutex<String>,
}

impl LogStream {
    /// The `wsgi.errors` stream.
    pub(crate) fn wsgi_errors() -> LogStream {
        LogStream::new("<wsgi.errors>")
    }

    fn new(name: &'static str) -> LogStream {
        LogStream {
            name,
            pending: Mutex::new(String::new()),
        }
    }

    /// Writes complete lines to the log without the GIL: a log that blocks (a full pipe, a
    /// slow disk) must not stop every other Python thread.
    fn emit(py: Python<'_>, lines: &str) {
        if lines.is_empty() {
            return;
        }
        // The same thread runs the closure, so the request tag still applies.
        py.detach(|| {
            with_current_request(|request_id| {
                for line in lines.split_terminator('\n') {
                    tracing::error!(target: "wsgi", request_id, "{}", line.trim_end_matches('\r'));
                }
            });
        });
    }
}

#[pymethods]
impl LogStream {
    /// Appends text; every complete line goes to the error log.
    fn write(&self, text: &Bound<'_, PyAny>) -> PyResult<usize> {
        let py = text.py();
        let text = text.cast::<PyString>().map_err(|_| {
            PyTypeError::new_err(format!(
                "write() argument must be str, not {}",
                text.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ))
        })?;
        let text = text.to_cow()?;
        let complete = {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            pending.push_str(&text);
            match pending.rfind('\n') {
                Some(last) => {
                    let rest = pending.split_off(last + 1);
                    std::mem::replace(&mut *pending, rest)
                }
                None => String::new(),
            }
        };
        LogStream::emit(py, &complete);
        Ok(text.chars().count())
    }

    /// Writes each string of an iterable.
    fn writelines(&self, lines: &Bound<'_, PyAny>) -> PyResult<()> {
        for line in lines.try_iter()? {
            self.write(&line?)?;
        }
        Ok(())
    }

    /// Sends a pending partial line to the log.
    pub(crate) fn flush(&self, py: Python<'_>) {
        let partial =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        LogStream::emit(py, &partial);
    }

    fn isatty(&self) -> bool {
        false
    }

    fn readable(&self) -> bool {
        false
    }

    fn writable(&self) -> bool {
        true
    }

    fn seekable(&self) -> bool {
        false
    }

    /// The server's own descriptor of the error log (faulthandler writes to it directly): not
    /// 1 or 2, which the application may have closed and a client's socket may have taken.
    fn fileno(&self) -> i32 {
        oxwsgi_logging::log_fileno()
    }

    #[getter]
    fn closed(&self) -> bool {
        false
    }

    #[getter]
    fn name(&self) -> &'static str {
        self.name
    }

    #[getter]
    fn encoding(&self) -> &'static str {
        "utf-8"
    }

    #[getter]
    fn errors(&self) -> &'static str {
        "backslashreplace"
    }

    fn __repr__(&self) -> String {
        format!("<oxwsgi.LogStream name='{}'>", self.name)
    }
}

/// Replaces `sys.stdout` and `sys.stderr` with error-log streams, as mod_wsgi does, so `print()`
/// and tracebacks an application prints land in the error log as tagged lines.
pub(crate) fn install_std_streams(py: Python<'_>) -> PyResult<()> {
    let sys = py.import("sys")?;
    sys.setattr("stdout", Py::new(py, LogStream::new("<stdout>"))?)?;
    sys.setattr("stderr", Py::new(py, LogStream::new("<stderr>"))?)?;
    Ok(())
}
