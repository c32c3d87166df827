//! Side services (`--service-script`): a Python script run as the main program of a process
//! that serves no requests. The script runs on this (Python's main) thread, holding the GIL as
//! any Python main program does; its threads take turns with it as usual. See the bootstrap's
//! `run_service` for what the script sees.

use std::path::Path;

use pyo3::prelude::*;

use crate::interpreter::PythonRuntime;

/// How a service script ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceEnd {
    /// It raised `SystemExit` (SIGTERM does), with this exit status.
    Exited(i32),
    /// It raised another exception (the traceback), or could not be read.
    Raised(String),
}

/// Runs the service script at `path` until it exits or the process is told to stop.
pub fn run_service_script(_runtime: &PythonRuntime, path: &Path) -> ServiceEnd {
    Python::attach(|py| {
        let run = crate::app::bootstrap(py)
            .and_then(|helper| helper.call_method1("run_service", (path,)))
            .and_then(|status| status.extract::<i32>());
        match run {
            Ok(status) => ServiceEnd::Exited(status),
            Err(err) => ServiceEnd::Raised(crate::traceback::format(py, &err)),
        }
    })
}
