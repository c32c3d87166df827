//! Turning what the application returns into a response on its way to the client.
//!
//! The head goes out together with the first non-empty piece of body (PEP 3333), in one message
//! to the HTTP side. When that first piece is the whole body — a list or tuple, or a first chunk
//! that reaches the declared `Content-Length` — the response is sent whole, so a small response
//! leaves in one write. Otherwise the rest streams through a bounded channel: when the client
//! reads slowly the channel fills and the application waits (with the GIL released), so memory
//! stays flat and the first chunk reaches the client before a generator finishes.
//!
//! The declared `Content-Length` is binding: extra bytes are cut off, and a body that ends short
//! closes the connection instead of leaving the client waiting for bytes that never come. Both
//! are reported in the error log.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use pyo3::exceptions::{PyAssertionError, PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use tokio::sync::oneshot;

use crate::body_channel::{self, BodySender};

use crate::file_wrapper::FileWrapper;
use crate::owned_bytes::bytes_of;
use oxwsgi_exchange::{AppBody, AppError, AppResponse, FileRegion};

use crate::request::{ChunkStream, StreamAborted};

/// A response body as the bridge hands it over.
type WsgiBody = AppBody<ChunkStream>;
use crate::start_response::{StartResponse, type_name};
use crate::watchdog::ThreadSlot;

/// The status and headers given to `start_response`.
pub(crate) struct ResponseHead {
    pub(crate) status: StatusCode,
    pub(crate) reason: Option<Bytes>,
    pub(crate) headers: HeaderMap,
    pub(crate) content_length: Option<u64>,
}

/// Whether the application should go on producing body data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Keep going.
    Continue,
    /// The body is complete (the declared length is reached, or the response has no body).
    Complete,
    /// The client has gone; nothing more can be sent.
    ClientGone,
}

/// Where the response is.
enum Phase {
    /// `start_response` not called yet.
    Waiting,
    /// `start_response` called; nothing sent.
    HeadSet(ResponseHead),
    /// Head sent; the body streams through this sender.
    Streaming(BodySender),
    /// Everything that will be sent has been handed over.
    Complete,
    /// The client went away.
    ClientGone,
}

/// Irregularities the handler reports in the log once the request is over.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct BodyIrregularities {
    /// The application produced more than its `Content-Length`; the excess was dropped.
    pub(crate) truncated: bool,
    /// The body ended short of its `Content-Length`: `(produced, declared)`.
    pub(crate) short: Option<(u64, u64)>,
}

impl BodyIrregularities {
    /// Whether there is anything to report.
    pub(crate) fn any(&self) -> bool {
        self.truncated || self.short.is_some()
    }
}

/// The response of one request, from `start_response` to the last byte.
pub(crate) struct ResponseWriter {
    /// Holds the reply channel while the request runs (the watchdog may answer in its place).
    slot: Arc<ThreadSlot>,
    phase: Phase,
    head_request: bool,
    body_allowed: bool,
    declared: Option<u64>,
    written: u64,
    /// Set when the request is over: a `write` or `start_response` the application kept and
    /// calls later must fail, not vanish.
    ended: bool,
    pub(crate) irregularities: BodyIrregularities,
}

impl ResponseWriter {
    pub(crate) fn new(slot: Arc<ThreadSlot>, head_request: bool) -> ResponseWriter {
        ResponseWriter {
            slot,
            phase: Phase::Waiting,
            head_request,
            body_allowed: !head_request,
            declared: None,
            written: 0,
            ended: false,
            irregularities: BodyIrregularities::default(),
        }
    }

    /// Marks the request as over; see [`ResponseWriter::check_open`].
    pub(crate) fn end_request(&mut self) {
        self.ended = true;
    }

    /// Fails when the request this writer belonged to is over.
    pub(crate) fn check_open(&self) -> PyResult<()> {
        if self.ended {
            return Err(PyRuntimeError::new_err(
                "the request has ended: start_response() and write() can no longer be used",
            ));
        }
        Ok(())
    }

    /// Whether the client went away before the response was complete, and how many body bytes
    /// the application had produced by then.
    pub(crate) fn client_gone(&self) -> Option<u64> {
        matches!(self.phase, Phase::ClientGone).then_some(self.written)
    }

    /// Whether `start_response` has been called.
    pub(crate) fn head_set(&self) -> bool {
        !matches!(self.phase, Phase::Waiting)
    }

    /// Whether the head has gone to the client (so the status can no longer change).
    pub(crate) fn head_sent(&self) -> bool {
        matches!(
            self.phase,
            Phase::Streaming(_) | Phase::Complete | Phase::ClientGone
        )
    }

    pub(crate) fn set_head(&mut self, head: ResponseHead) {
        self.body_allowed = !self.head_request
            && head.status != StatusCode::NO_CONTENT
            && head.status != StatusCode::NOT_MODIFIED;
        self.declared = head.content_length;
        self.phase = Phase::HeadSet(head);
    }

    /// Cuts `data` to what the declared length still allows, and counts it.
    fn clip(&mut self, mut data: Bytes) -> Bytes {
        if let Some(declared) = self.declared {
            let room = declared.saturating_sub(self.written);
            if data.len() as u64 > room {
                data.truncate(room as usize);
                self.irregularities.truncated = true;
            }
        }
        self.written += data.len() as u64;
        self.slot.note_body(self.written);
        data
    }

    fn reached_declared(&self) -> bool {
        self.declared == Some(self.written)
    }

    fn short_of_declared(&mut self) -> bool {
        match self.declared {
            Some(declared) if self.body_allowed && self.written < declared => {
                self.irregularities.short = Some((self.written, declared));
                true
            }
            _ => false,
        }
    }

    /// Hands the head and the body to the HTTP side; `false` if the client is gone.
    fn send_head(&mut self, head: ResponseHead, body: WsgiBody) -> bool {
        let Some(reply) = self.slot.take_reply() else {
            return false;
        };
        let response = AppResponse {
            status: head.status,
            reason: head.reason,
            headers: head.headers,
            body,
            in_flight: None,
        };
        reply.send(Ok(response)).is_ok()
    }

    fn take_head(&mut self) -> Option<ResponseHead> {
        match std::mem::replace(&mut self.phase, Phase::Complete) {
            Phase::HeadSet(head) => Some(head),
            other => {
                self.phase = other;
                None
            }
        }
    }

    /// Sends one piece of body, waiting (without the GIL) while the client is behind.
    pub(crate) fn write(&mut self, py: Python<'_>, data: Bytes) -> PyResult<Flow> {
        if data.is_empty() {
            return Ok(match self.phase {
                Phase::Complete => Flow::Complete,
                Phase::ClientGone => Flow::ClientGone,
                _ => Flow::Continue,
            });
        }
        match &self.phase {
            Phase::Waiting => Err(PyAssertionError::new_err(
                "the application produced response data before calling start_response()",
            )),
            Phase::Complete => {
                if self.body_allowed {
                    self.irregularities.truncated = true;
                }
                Ok(Flow::Complete)
            }
            Phase::ClientGone => Ok(Flow::ClientGone),
            Phase::HeadSet(_) => {
                let data = self.clip(data);
                let head = self.take_head().expect("the phase is HeadSet");
                if !self.body_allowed {
                    return Ok(self.hand_over(head, WsgiBody::Empty));
                }
                if self.reached_declared() {
                    return Ok(self.hand_over(head, WsgiBody::Full(data)));
                }
                let (tx, rx) = body_channel::channel();
                tx.try_send(Ok(data)).expect("a new channel has room");
                let (cut_tx, cut) = oneshot::channel();
                self.slot.streaming(cut_tx);
                let body = WsgiBody::Stream(ChunkStream::new(rx, Some(cut)));
                if !self.send_head(head, body) {
                    self.phase = Phase::ClientGone;
                    return Ok(Flow::ClientGone);
                }
                self.phase = Phase::Streaming(tx);
                Ok(Flow::Continue)
            }
            Phase::Streaming(_) => {
                let data = self.clip(data);
                let complete = self.reached_declared();
                let Phase::Streaming(tx) = &self.phase else {
                    unreachable!("checked above")
                };
                if !push(py, tx, Ok(data)) {
                    self.phase = Phase::ClientGone;
                    return Ok(Flow::ClientGone);
                }
                if complete {
                    self.phase = Phase::Complete;
                    return Ok(Flow::Complete);
                }
                Ok(Flow::Continue)
            }
        }
    }

    /// Sends the head with a body that completes the response.
    fn hand_over(&mut self, head: ResponseHead, body: WsgiBody) -> Flow {
        if self.send_head(head, body) {
            self.phase = Phase::Complete;
            Flow::Complete
        } else {
            self.phase = Phase::ClientGone;
            Flow::ClientGone
        }
    }

    /// Gives a HEAD response for a `wsgi.file_wrapper` file the file's length, which is what the
    /// GET sends. No other length is ever made up for a HEAD: what an application returns for a
    /// HEAD need not be what it returns for the GET (Bottle returns nothing), and RFC 9110
    /// §9.3.2 forbids a HEAD `Content-Length` that differs from the GET's.
    fn announce_head_length(&self, head: &mut ResponseHead, len: u64) {
        let has_body_status = head.status != StatusCode::NO_CONTENT
            && head.status != StatusCode::NOT_MODIFIED
            && !head.status.is_informational();
        if self.head_request && head.content_length.is_none() && has_body_status {
            head.headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        }
    }

    /// Sends a body that is known whole (a list or tuple of bytes).
    fn send_whole(&mut self, py: Python<'_>, data: Bytes) -> PyResult<()> {
        if !matches!(self.phase, Phase::HeadSet(_)) {
            self.write(py, data)?;
            return self.finish(py);
        }
        let data = self.clip(data);
        let head = self.take_head().expect("the phase is HeadSet");
        let body = if !self.body_allowed {
            WsgiBody::Empty
        } else if self.short_of_declared() {
            aborted_after(data, StreamAborted::ShortBody)
        } else if data.is_empty() {
            WsgiBody::Empty
        } else {
            WsgiBody::Full(data)
        };
        self.hand_over(head, body);
        Ok(())
    }

    /// Sends a file region for `wsgi.file_wrapper` without Python.
    fn send_file(&mut self, region: FileRegion) -> FileSend {
        let Some(mut head) = self.take_head() else {
            return FileSend::Iterate;
        };
        let len = match self.declared {
            Some(declared) => declared.min(region.len),
            None => region.len,
        };
        self.announce_head_length(&mut head, len);
        self.written = len;
        self.slot.note_body(len);
        if !self.body_allowed {
            self.hand_over(head, WsgiBody::Empty);
            return FileSend::NoBody;
        }
        // A file shorter than the declared length: the HTTP side sends what there is and then
        // closes the connection, because the body cannot be completed.
        self.short_of_declared();
        let (done, sent) = oneshot::channel();
        let body = WsgiBody::File(FileRegion {
            len,
            done: Some(done),
            ..region
        });
        self.hand_over(head, body);
        FileSend::Sending(sent)
    }

    /// Ends the response after the application's iterable is exhausted.
    pub(crate) fn finish(&mut self, py: Python<'_>) -> PyResult<()> {
        match std::mem::replace(&mut self.phase, Phase::Complete) {
            Phase::Waiting => {
                self.phase = Phase::Waiting;
                Err(PyAssertionError::new_err(
                    "the application returned without calling start_response()",
                ))
            }
            Phase::HeadSet(head) => {
                let body = if self.short_of_declared() {
                    aborted_after(Bytes::new(), StreamAborted::ShortBody)
                } else {
                    WsgiBody::Empty
                };
                self.hand_over(head, body);
                Ok(())
            }
            Phase::Streaming(tx) => {
                if self.short_of_declared() {
                    push(py, &tx, Err(StreamAborted::ShortBody));
                }
                Ok(())
            }
            other => {
                self.phase = other;
                Ok(())
            }
        }
    }

    /// Ends the response because something failed: before the head went out the client gets an
    /// error status; after, the connection is cut so the truncation is visible.
    pub(crate) fn fail(&mut self, py: Python<'_>, failure: AppError, cut: StreamAborted) {
        match std::mem::replace(&mut self.phase, Phase::Complete) {
            Phase::Waiting | Phase::HeadSet(_) => {
                if let Some(reply) = self.slot.take_reply() {
                    let _ = reply.send(Err(failure));
                }
            }
            Phase::Streaming(tx) => {
                push(py, &tx, Err(cut));
            }
            other => self.phase = other,
        }
    }
}

/// What became of a `wsgi.file_wrapper` result.
enum FileSend {
    /// The file is on its way; the receiver resolves when it has been sent.
    Sending(oneshot::Receiver<()>),
    /// The response has no body (a HEAD request, a 204 or a 304): the head was sent alone.
    NoBody,
    /// The file cannot be sent directly (the head is out already, or `start_response` was not
    /// called): iterate the wrapper like any other iterable.
    Iterate,
}

/// A body that sends `data` and then breaks off.
fn aborted_after(data: Bytes, why: StreamAborted) -> WsgiBody {
    let (tx, rx) = body_channel::channel();
    if !data.is_empty() {
        tx.try_send(Ok(data)).expect("a new channel has room");
    }
    tx.try_send(Err(why)).expect("a new channel has room");
    WsgiBody::Stream(ChunkStream::new(rx, None))
}

/// Puts an item into the stream, waiting without the GIL while it is full; `false` when the
/// receiving side (the client's connection) is gone.
fn push(py: Python<'_>, tx: &BodySender, item: Result<Bytes, StreamAborted>) -> bool {
    match tx.try_send(item) {
        Ok(sent) => sent,
        Err(item) => crate::gil::blocking(py, || tx.send_blocking(item)),
    }
}

/// Sends everything the application's result holds. The caller calls `close()` on the result
/// afterwards, whatever happens here, and then ends an iterated response (see [`Ending`]).
pub(crate) fn send_result(
    py: Python<'_>,
    start_response: &Bound<'_, StartResponse>,
    result: &Bound<'_, PyAny>,
) -> PyResult<Ending> {
    if let Ok(wrapper) = result.cast::<FileWrapper>() {
        let region = wrapper.get().file_region(py);
        if let Some(region) = region {
            let sent = start_response.get().writer_for_server(py).send_file(region);
            match sent {
                FileSend::Sending(sent) => {
                    // The bytes go from the file to the socket in Rust; this thread only waits
                    // for the end, so that close() comes after the file was sent.
                    crate::gil::blocking(py, move || {
                        let _ = sent.blocking_recv();
                    });
                    return Ok(Ending::Done);
                }
                FileSend::NoBody => return Ok(Ending::Done),
                FileSend::Iterate => {}
            }
        }
    }
    if let Ok(list) = result.cast::<PyList>() {
        return send_sequence(py, start_response, list.iter()).map(|()| Ending::Done);
    }
    if let Ok(tuple) = result.cast::<PyTuple>() {
        return send_sequence(py, start_response, tuple.iter()).map(|()| Ending::Done);
    }
    for item in result.try_iter()? {
        let item = item?;
        crate::fork::leave_if_forked(py);
        let data = body_bytes(&item)?;
        // The borrow ends before the next item is produced: the application may call write()
        // from inside its generator.
        let flow = start_response
            .get()
            .writer_for_server(py)
            .write(py, bytes_of(data))?;
        if flow != Flow::Continue {
            break;
        }
    }
    Ok(Ending::AfterClose)
}

/// What is left to do once the application's result has been sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// The response is complete.
    Done,
    /// An iterated body: it ends with [`ResponseWriter::finish`] once the result's `close()`
    /// has returned, so that a `close()` that raises cuts the response instead of following
    /// one that already looks complete.
    AfterClose,
}

/// A list or tuple: every item is already made, so the body is gathered and sent whole.
fn send_sequence<'py>(
    py: Python<'py>,
    start_response: &Bound<'py, StartResponse>,
    items: impl ExactSizeIterator<Item = Bound<'py, PyAny>>,
) -> PyResult<()> {
    let mut writer = start_response.get().writer_for_server(py);
    let items: Vec<Bound<'py, PyAny>> = items.collect();
    let mut chunks = Vec::with_capacity(items.len());
    for item in &items {
        chunks.push(body_bytes(item)?);
    }
    let body = match chunks.as_slice() {
        [] => Bytes::new(),
        [one] => bytes_of(one),
        many => {
            let total = many.iter().map(|c| c.as_bytes().len()).sum();
            let mut joined = BytesMut::with_capacity(total);
            for chunk in many {
                joined.extend_from_slice(chunk.as_bytes());
            }
            joined.freeze()
        }
    };
    writer.send_whole(py, body)
}

fn body_bytes<'a, 'py>(item: &'a Bound<'py, PyAny>) -> PyResult<&'a Bound<'py, PyBytes>> {
    item.cast::<PyBytes>().map_err(|_| {
        PyTypeError::new_err(format!(
            "the response body must be an iterable of bytes, but it yielded a {}",
            type_name(item)
        ))
    })
}
