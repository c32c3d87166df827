//! The developer's instruments (`--enable-profiler`, `--enable-coverage`, `--enable-recorder`):
//! written in Python (`instrumentation.py`, compiled into the binary), as they are made of
//! cProfile, coverage.py and the WSGI protocol itself. Coverage starts before the applications
//! load ([`start_instrumentation`]); the profiler and the recorder wrap each loaded application
//! ([`instrument_application`]). Nothing here runs unless an instrument is on.

use std::ffi::CString;

use oxwsgi_config::instrumentation::Instrumentation;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyModule;

use crate::{InterpreterError, LoadedApp, PythonRuntime, traceback};

/// The helper module, compiled once per process.
fn helper(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    static HELPER: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    HELPER
        .get_or_try_init(py, || {
            let source = CString::new(include_str!("instrumentation.py"))
                .expect("the instrumentation source has no NUL byte");
            PyModule::from_code(
                py,
                &source,
                c"<oxwsgi instrumentation>",
                c"_oxwsgi_instrumentation",
            )
            .map(Bound::unbind)
        })
        .map(|module| module.bind(py))
}

/// Creates the instruments' directories (as the worker's user) and starts coverage, if it is
/// on; call it before loading the applications, so that their imports are measured.
pub fn start_instrumentation(
    _runtime: &PythonRuntime,
    tools: &Instrumentation,
) -> Result<(), InterpreterError> {
    if !tools.any() {
        return Ok(());
    }
    Python::attach(|py| {
        let start = || -> PyResult<()> {
            let helper = helper(py)?;
            let directories: Vec<_> = [&tools.profiler, &tools.recorder]
                .into_iter()
                .flatten()
                .collect();
            helper.call_method1("prepare_directories", (directories,))?;
            if let Some(directory) = &tools.coverage {
                helper.call_method1("start_coverage", (directory,))?;
            }
            Ok(())
        };
        start().map_err(|err| InterpreterError::Instrumentation {
            message: traceback::format(py, &err),
        })
    })
}

/// Wraps a loaded application in the instruments that are on: the recorder innermost (it
/// records what the application itself reads and answers), then the profiler, then the
/// coverage tracing of the server's Python threads.
pub fn instrument_application(
    _runtime: &PythonRuntime,
    mut app: LoadedApp,
    tools: &Instrumentation,
) -> Result<LoadedApp, InterpreterError> {
    if !tools.any() {
        return Ok(app);
    }
    Python::attach(|py| {
        let wrap = || -> PyResult<Py<PyAny>> {
            let helper = helper(py)?;
            let mut callable = app.callable.bind(py).clone();
            if let Some(directory) = &tools.recorder {
                callable = helper.call_method1("recorded", (callable, directory))?;
            }
            if let Some(directory) = &tools.profiler {
                callable = helper.call_method1("profiled", (callable, directory))?;
            }
            if tools.coverage.is_some() {
                callable = helper.call_method1("trace_pool_threads", (callable,))?;
            }
            Ok(callable.unbind())
        };
        app.callable = wrap().map_err(|err| InterpreterError::Instrumentation {
            message: traceback::format(py, &err),
        })?;
        Ok(app)
    })
}
