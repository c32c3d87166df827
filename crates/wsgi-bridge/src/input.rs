//! `wsgi.input`: the request body, streamed from the client as the application reads it.
//!
//! Nothing is read before the application asks, so `Expect: 100-continue` is answered only on
//! the first read, and a 100 MiB upload never sits in memory whole: each read waits (with the
//! GIL released) for just enough frames from the connection. Frames are kept as the `Bytes` the
//! HTTP side received; the only copy is into the `bytes` object returned to Python.
//!
//! A body that does not arrive whole is an error, never a short read: a client that disconnects
//! or stalls longer than the body timeout raises `OSError` in the application, and a chunked body
//! that grows past the limit raises too (and the response becomes a 413).

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http_body_util::BodyExt;
use pyo3::exceptions::{PyOSError, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use oxwsgi_exchange::{BodyError, RequestBody};

/// How bodies are read: the runtime that drives the connections, and the body timeout.
struct ReadSettings {
    runtime: tokio::runtime::Handle,
    timeout: Duration,
}

static READ_SETTINGS: OnceLock<ReadSettings> = OnceLock::new();

/// Sets, once per process, the runtime whose connections feed request bodies and how long a read
/// may wait for the client.
pub(crate) fn configure(runtime: tokio::runtime::Handle, timeout: Duration) {
    let _ = READ_SETTINGS.set(ReadSettings { runtime, timeout });
}

/// Why reading the body failed; once failed, every later read fails the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InputFailure {
    /// A chunked body grew past the request body limit.
    TooLarge { limit: u64 },
    /// The client sent nothing for longer than the body timeout.
    TimedOut,
    /// The client closed the connection mid-body.
    Disconnected { received: u64 },
    /// The client broke the body's framing (a bad chunk size, say).
    Malformed { received: u64 },
}

impl InputFailure {
    fn to_pyerr(self) -> PyErr {
        match self {
            InputFailure::TooLarge { limit } => PyOSError::new_err(format!(
                "request body is larger than the limit of {limit} bytes"
            )),
            InputFailure::TimedOut => {
                PyOSError::new_err("timed out waiting for the request body from the client")
            }
            InputFailure::Disconnected { received } => PyOSError::new_err(format!(
                "client disconnected before sending the whole request body ({received} bytes \
                 received)"
            )),
            InputFailure::Malformed { received } => PyOSError::new_err(format!(
                "the request body is not well-formed ({received} bytes received before the \
                 error)"
            )),
        }
    }
}

struct InputState {
    /// `None` once the body has ended, failed, or while a read is waiting on it.
    body: Option<RequestBody>,
    chunks: VecDeque<Bytes>,
    buffered: usize,
    eof: bool,
    received: u64,
    limit: u64,
    failure: Option<InputFailure>,
    /// The request is over: the body has been let go of.
    ended: bool,
}

impl InputState {
    /// Removes up to `n` bytes from the front of the buffer as a Python `bytes`.
    fn take<'py>(&mut self, py: Python<'py>, n: usize) -> PyResult<Bound<'py, PyBytes>> {
        let n = n.min(self.buffered);
        self.buffered -= n;
        if let Some(front) = self.chunks.front_mut() {
            if front.len() >= n {
                let out = PyBytes::new(py, &front[..n]);
                front.advance(n);
                if front.is_empty() {
                    self.chunks.pop_front();
                }
                return Ok(out);
            }
        }
        let chunks = &mut self.chunks;
        PyBytes::new_with(py, n, |out| {
            let mut filled = 0;
            while filled < n {
                let front = chunks.front_mut().expect("buffered counts these bytes");
                let step = front.len().min(n - filled);
                out[filled..filled + step].copy_from_slice(&front[..step]);
                front.advance(step);
                if front.is_empty() {
                    chunks.pop_front();
                }
                filled += step;
            }
            Ok(())
        })
    }

    /// The length of the first line within `limit` bytes, newline included.
    fn line_len(&self, limit: usize) -> Option<usize> {
        let mut seen = 0;
        for chunk in &self.chunks {
            let window = &chunk[..chunk.len().min(limit - seen)];
            if let Some(pos) = window.iter().position(|&b| b == b'\n') {
                return Some(seen + pos + 1);
            }
            seen += window.len();
            if seen >= limit {
                break;
            }
        }
        None
    }
}

/// How much a read needs before it can return.
#[derive(Clone, Copy)]
enum Want {
    Bytes(usize),
    Line(usize),
    All,
}

/// The `wsgi.input` object.
#[pyclass(module = "oxwsgi", name = "Input", frozen)]
pub(crate) struct WsgiInput {
    state: Mutex<InputState>,
}

impl WsgiInput {
    /// The input of a request that has a body.
    pub(crate) fn new(body: RequestBody, limit: u64) -> WsgiInput {
        WsgiInput::with_state(Some(body), limit, false)
    }

    /// The input of a request without a body: reads return `b""`.
    pub(crate) fn empty() -> WsgiInput {
        WsgiInput::with_state(None, 0, true)
    }

    fn with_state(body: Option<RequestBody>, limit: u64, eof: bool) -> WsgiInput {
        WsgiInput {
            state: Mutex::new(InputState {
                body,
                chunks: VecDeque::new(),
                buffered: 0,
                eof,
                received: 0,
                limit,
                failure: None,
                ended: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, InputState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Why reading failed, if it did; the response status depends on it.
    pub(crate) fn failure(&self) -> Option<InputFailure> {
        self.lock().failure
    }

    /// Lets go of the connection's body at the end of the request, even if Python still holds
    /// this object (a traceback can keep it alive).
    pub(crate) fn release(&self) {
        let mut state = self.lock();
        state.body = None;
        state.chunks.clear();
        state.buffered = 0;
        state.ended = true;
    }

    fn satisfied(state: &InputState, want: Want) -> bool {
        match want {
            Want::Bytes(n) => state.buffered >= n,
            Want::Line(limit) => state.buffered >= limit || state.line_len(limit).is_some(),
            Want::All => false,
        }
    }

    /// Reads frames from the client until `want` is met or the body ends.
    fn fill(&self, py: Python<'_>, want: Want) -> PyResult<()> {
        loop {
            let mut body = {
                let mut state = self.lock();
                if state.ended {
                    return Err(PyRuntimeError::new_err(
                        "the request has ended: its wsgi.input can no longer be read",
                    ));
                }
                if let Some(failure) = state.failure {
                    return Err(failure.to_pyerr());
                }
                if state.eof || WsgiInput::satisfied(&state, want) {
                    return Ok(());
                }
                match state.body.take() {
                    Some(body) => body,
                    None => {
                        return Err(PyRuntimeError::new_err(
                            "wsgi.input is being read by another thread",
                        ));
                    }
                }
            };
            let settings = READ_SETTINGS
                .get()
                .expect("the pool configures body reads before serving");
            let frame = crate::gil::blocking(py, || {
                settings
                    .runtime
                    .block_on(async { tokio::time::timeout(settings.timeout, body.frame()).await })
            });
            let mut state = self.lock();
            match frame {
                Err(_elapsed) => {
                    state.failure = Some(InputFailure::TimedOut);
                }
                Ok(None) => state.eof = true,
                Ok(Some(Err(error))) => {
                    let received = state.received;
                    state.failure = Some(match error {
                        BodyError::Malformed(_) => InputFailure::Malformed { received },
                        BodyError::Disconnected(_) => InputFailure::Disconnected { received },
                        BodyError::TooSlow => InputFailure::TimedOut,
                    });
                }
                Ok(Some(Ok(frame))) => {
                    // Trailers carry no body bytes; they are not part of wsgi.input.
                    if let Ok(data) = frame.into_data() {
                        state.received += data.len() as u64;
                        if state.received > state.limit {
                            state.failure = Some(InputFailure::TooLarge { limit: state.limit });
                            continue;
                        }
                        if !data.is_empty() {
                            state.buffered += data.len();
                            state.chunks.push_back(data);
                        }
                    }
                    state.body = Some(body);
                }
            }
        }
    }
}

#[pymethods]
impl WsgiInput {
    /// Reads up to `size` bytes, or everything left when `size` is omitted or negative.
    #[pyo3(signature = (size = None))]
    fn read<'py>(&self, py: Python<'py>, size: Option<i64>) -> PyResult<Bound<'py, PyBytes>> {
        let want = match size {
            Some(n) if n >= 0 => Want::Bytes(n as usize),
            _ => Want::All,
        };
        self.fill(py, want)?;
        let mut state = self.lock();
        let n = match want {
            Want::Bytes(n) => n,
            _ => state.buffered,
        };
        state.take(py, n)
    }

    /// Reads one line, newline included, of at most `size` bytes when given.
    #[pyo3(signature = (size = None))]
    fn readline<'py>(&self, py: Python<'py>, size: Option<i64>) -> PyResult<Bound<'py, PyBytes>> {
        let limit = match size {
            Some(n) if n >= 0 => n as usize,
            _ => usize::MAX,
        };
        self.fill(py, Want::Line(limit))?;
        let mut state = self.lock();
        let n = state.line_len(limit).unwrap_or(state.buffered.min(limit));
        state.take(py, n)
    }

    /// Reads lines until the end of the body, or until about `hint` bytes have been read.
    #[pyo3(signature = (hint = None))]
    fn readlines<'py>(&self, py: Python<'py>, hint: Option<i64>) -> PyResult<Bound<'py, PyList>> {
        let lines = PyList::empty(py);
        let mut total = 0usize;
        loop {
            let line = self.readline(py, None)?;
            let len = line.as_bytes().len();
            if len == 0 {
                break;
            }
            lines.append(line)?;
            total += len;
            if matches!(hint, Some(h) if h > 0 && total >= h as usize) {
                break;
            }
        }
        Ok(lines)
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let line = self.readline(py, None)?;
        Ok((!line.as_bytes().is_empty()).then_some(line))
    }
}
