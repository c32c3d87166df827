//! `mod_wsgi.RequestTimeout`: the exception raised in a Python thread whose request ran past the
//! request timeout, when `--interrupt-timeout` gives it a chance to unwind (as mod_wsgi 5.1 and
//! later do) rather than having its whole worker replaced.
//!
//! It is raised with `PyThreadState_SetAsyncExc`, which Python checks between bytecodes: a pure
//! Python loop sees it at once, code blocked in C (`time.sleep`, a socket read) only when the
//! call returns. It derives from `BaseException`, as mod_wsgi's does, so an `except Exception:`
//! does not swallow it. A thread whose request ended before the exception was delivered could
//! see it in its next request: the thread that had one raised consumes what is still pending
//! before it runs the next application, as mod_wsgi clears it.
//!
//! It is consumed by running a line of Python, not by `PyThreadState_SetAsyncExc(id, NULL)`:
//! on CPython 3.11 that call leaves the interpreter's "asynchronous exception" flag set with
//! no exception to deliver, so every thread then checks for it at every function call and
//! loop — and a thread being profiled (cProfile, `--enable-profiler`) loops on the check for
//! ever.

use std::os::raw::c_long;

use pyo3::prelude::*;

pyo3::create_exception!(
    mod_wsgi,
    RequestTimeout,
    pyo3::exceptions::PyBaseException,
    "Raised by the server in a request's thread when the request ran past the request \
     timeout and --interrupt-timeout is set. Derives from BaseException so that \
     'except Exception:' does not catch it; code may catch it to clean up, and should re-raise \
     it so the thread is freed (the client has been answered with a 504)."
);

/// Raises [`RequestTimeout`] in the Python thread with this `threading.get_ident()`, if
/// `still_running` (asked with the GIL held, so the thread cannot move on meanwhile) says the
/// request is still the one to interrupt. Returns whether it was raised.
#[allow(unsafe_code)]
pub(crate) fn raise_in_thread(py: Python<'_>, ident: u64, still_running: bool) -> bool {
    if !still_running || ident == 0 {
        return false;
    }
    let exception = py.get_type::<RequestTimeout>();
    // SAFETY: the GIL is held (`py`), and the exception type is a live object it borrows for
    // the call; CPython takes its own reference.
    let found =
        unsafe { pyo3::ffi::PyThreadState_SetAsyncExc(ident as c_long, exception.as_ptr()) };
    found == 1
}

/// Delivers, and drops, a [`RequestTimeout`] still pending for the calling thread (its request
/// ended before Python ran another bytecode), so it cannot hit the next request: evaluating any
/// Python code checks for it on entry.
pub(crate) fn consume_pending(py: Python<'_>) {
    match py.run(c"pass", None, None) {
        Ok(()) => {}
        Err(err) if is_request_timeout(py, &err) => {}
        Err(err) => tracing::warn!("clearing a pending mod_wsgi.RequestTimeout: {err}"),
    }
}

/// Whether `err` is the [`RequestTimeout`] the server raised.
pub(crate) fn is_request_timeout(py: Python<'_>, err: &PyErr) -> bool {
    err.is_instance_of::<RequestTimeout>(py)
}
