//! Naming the application's file and line when a worker ends suddenly: a crash, a deadlocked
//! interpreter, or `os._exit()` (see `install_crash_reports` in bootstrap.py).
//!
//! Python's faulthandler writes every thread's stack to descriptor 2 (the error log) from a
//! signal handler, without the GIL, so it works when the GIL is lost for good: the server
//! raises [`DUMP_SIGNAL`] for that before a deadlocked worker exits.

use pyo3::prelude::*;

use crate::{InterpreterError, PythonRuntime, traceback};

/// The signal that makes faulthandler dump every thread's stack and go on.
const DUMP_SIGNAL: rustix::process::Signal = rustix::process::Signal::USR2;

/// Installs the crash reports; call it before loading applications.
pub fn install_crash_reports(_runtime: &PythonRuntime) -> Result<(), InterpreterError> {
    Python::attach(|py| {
        let signal = DUMP_SIGNAL.as_raw();
        crate::app::bootstrap(py)
            .and_then(|bootstrap| bootstrap.call_method1("install_crash_reports", (signal,)))
            .map(drop)
            .map_err(|err| InterpreterError::CrashReports {
                message: traceback::format(py, &err),
            })
    })
}

/// Writes every Python thread's stack to the error log, without needing the GIL.
pub fn dump_python_stacks() {
    let _ = rustix::process::kill_process(rustix::process::getpid(), DUMP_SIGNAL);
}
