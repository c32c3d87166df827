//! The Python threads, and every place the GIL is taken or given up.
//!
//! Each Python thread attaches to the interpreter once, when it starts, and keeps that thread
//! state for its whole life: creating and destroying a thread state per request costs more than a
//! trivial request itself. The thread gives up the GIL (detaches) only to wait — for the next
//! request, for request-body bytes from the client, for room in a full response channel, or for a
//! file to finish sending — and [`blocking`] is the one helper through which those waits go.
//!
//! Between two requests a thread does not release the GIL if another request is already queued:
//! it takes that one straight away (see [`crate::pool`] for why).

use std::sync::Arc;

use pyo3::marker::Ungil;
use pyo3::prelude::*;
use pyo3::types::PyInt;

use crate::errors_stream::LogStream;
use crate::handler::{self, Shared};
use crate::input::WsgiInput;
use crate::watchdog::{ThreadSlot, Watch};

/// Runs `wait` with the GIL released, so other Python threads run meanwhile.
///
/// `wait` cannot touch Python objects (the `Ungil` bound keeps GIL-bound references out), and
/// must only wait on a channel, a socket or the disk.
pub(crate) fn blocking<T, F>(py: Python<'_>, wait: F) -> T
where
    F: Ungil + Send + FnOnce() -> T,
    T: Ungil + Send,
{
    let mut done = 0;
    let result = py.detach(|| {
        let result = wait();
        done = oxwsgi_scoreboard::monotonic_ns();
        result
    });
    // From the end of the wait to holding the GIL again: the GIL wait mod_wsgi reports.
    GIL_WAITS.with(|board| {
        if let Some(board) = board.get() {
            let waited = oxwsgi_scoreboard::monotonic_ns().saturating_sub(done) / 1000;
            board.counters().gil_waited(waited);
        }
    });
    result
}

thread_local! {
    /// Where this thread's GIL waits are counted: the worker's board, on its Python threads.
    static GIL_WAITS: std::cell::OnceCell<oxwsgi_scoreboard::Board> =
        const { std::cell::OnceCell::new() };
}

/// Objects a Python thread makes once and reuses for every request it runs.
pub(crate) struct ThreadContext {
    /// What this thread is running, as the watchdog sees it.
    pub(crate) slot: Arc<ThreadSlot>,
    /// `mod_wsgi.thread_id`: the index counted from 1.
    pub(crate) thread_id: Py<PyInt>,
    /// `wsgi.errors`: one stream per thread, tagging lines with the request that thread runs.
    pub(crate) errors: Py<LogStream>,
    /// The `wsgi.input` of requests without a body: always at end of file.
    pub(crate) empty_input: Py<WsgiInput>,
}

/// The body of one Python thread: attach, then serve requests until the pool closes.
pub(crate) fn run_python_thread(shared: Arc<Shared>, index: usize) {
    GIL_WAITS.with(|board| {
        let _ = board.set(shared.queue.board.clone());
    });
    Python::attach(|py| {
        let context = match make_context(py, index, shared.watch.slot(index)) {
            Ok(context) => context,
            Err(err) => {
                tracing::error!(
                    "Python thread {} could not start: {}",
                    index + 1,
                    crate::traceback::format(py, &err)
                );
                return;
            }
        };
        loop {
            let job = match shared.queue.try_take() {
                Some(job) => job,
                None => match blocking(py, || shared.queue.wait_for_job(index)) {
                    Some(job) => job,
                    None => break,
                },
            };
            // A bug in the server must cost one request, not a Python thread: the request's
            // reply is dropped (the client gets a 500) and the thread goes on.
            let served = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                handler::serve(py, &shared, &context, job)
            }));
            if let Err(panic) = served {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!("internal error while running a request (please report): {what}");
            }
        }
    });
}

pub(crate) fn make_context(
    py: Python<'_>,
    index: usize,
    slot: Arc<ThreadSlot>,
) -> PyResult<ThreadContext> {
    let ident: u64 = py
        .import("threading")?
        .call_method0("get_ident")?
        .extract()?;
    slot.set_python_ident(ident);
    Ok(ThreadContext {
        slot,
        thread_id: PyInt::new(py, index + 1).unbind(),
        errors: Py::new(py, LogStream::wsgi_errors())?,
        empty_input: Py::new(py, WsgiInput::empty())?,
    })
}

/// The GIL probe: takes the GIL once a second and records that it could, so the watchdog can
/// tell a stalled interpreter (a deadlock, or a C extension that never releases the GIL) from
/// a busy one. It keeps its thread state for life, like the request threads.
pub(crate) fn run_gil_probe(watch: Arc<Watch>) {
    Python::attach(|py| {
        watch.gil_taken();
        while blocking(py, || watch.pause(std::time::Duration::from_secs(1))) {
            watch.gil_taken();
        }
    });
}
