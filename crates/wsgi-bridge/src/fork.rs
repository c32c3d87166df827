//! Children the application forks inside the worker.
//!
//! A worker process runs the server's threads beside Python's; a child made by `os.fork()` has
//! only a copy of the thread that forked, and a copy of every descriptor. Left alone, it would
//! keep the listening sockets open after the server stops (new connections would then wait
//! forever), ignore SIGTERM (the server's handler swallows it in the child), and — if it
//! returned from the application — run server code with no server threads behind it.
//!
//! So, before any application code runs, [`guard`] registers an `os.register_at_fork` handler:
//! the child closes the server's descriptors, restores the default action of the stop signals,
//! and is marked as forked. A marked child that comes back into the server is ended at once
//! ([`leave_if_forked`]), with `os._exit`, as the child of a fork must end.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::prelude::*;

/// Set in a child the application forked.
static FORKED: AtomicBool = AtomicBool::new(false);

/// Called by the at-fork handler, in the child.
#[pyfunction]
fn mark_forked() {
    FORKED.store(true, Ordering::Relaxed);
}

/// Registers the at-fork handler that makes a forked child close `server_fds`.
pub(crate) fn guard(py: Python<'_>, server_fds: &[RawFd]) -> PyResult<()> {
    let mark = wrap_pyfunction!(mark_forked, py)?;
    crate::app::bootstrap(py)?
        .call_method1("guard_forked_children", (server_fds.to_vec(), mark))?;
    Ok(())
}

/// Ends this process if it is a child the application forked that has come back into the
/// server (returned from the application, or iterating its response).
pub(crate) fn leave_if_forked(py: Python<'_>) {
    if !FORKED.load(Ordering::Relaxed) {
        return;
    }
    let _ = py
        .import("os")
        .and_then(|os| os.call_method1("_exit", (0,)));
    // `os._exit` does not return; if it could not even be called, end the hard way.
    std::process::abort();
}
