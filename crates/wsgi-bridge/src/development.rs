//! The Python side of the developer's tools: pdb on the terminal (`--debug-mode`,
//! `--enable-debugger`, `--debugger-startup`) and the files of the imported modules, which
//! `--reload-on-changes` watches. The helpers are in `development.py`.
//!
//! pdb waits for the terminal in Python's own `input()`, which releases the GIL while it reads,
//! so a debugging session stops nothing but its request.

use std::collections::HashSet;
use std::ffi::CString;
use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyModule;

use crate::app::LoadedApp;
use crate::error::InterpreterError;
use crate::interpreter::PythonRuntime;

/// The helper module, compiled once per process.
fn helpers(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    static HELPERS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    HELPERS
        .get_or_try_init(py, || {
            let source = CString::new(include_str!("development.py"))
                .expect("the helpers' source has no NUL byte");
            PyModule::from_code(py, &source, c"<oxwsgi development>", c"_oxwsgi_development")
                .map(Bound::unbind)
        })
        .map(|module| module.bind(py))
}

fn call(py: Python<'_>, function: &str) -> Result<(), InterpreterError> {
    helpers(py)
        .and_then(|h| h.call_method0(function))
        .map(drop)
        .map_err(|err| InterpreterError::Debugger {
            message: crate::traceback::format(py, &err),
        })
}

/// Gives the application the process's standard input and output (the terminal, under
/// `--debug-mode`) as `sys.stdin` and `sys.stdout`, in place of the error-log stream.
pub fn use_terminal(_runtime: &PythonRuntime) -> Result<(), InterpreterError> {
    Python::attach(|py| call(py, "use_terminal"))
}

/// Wraps `app` so that an exception escaping it (its call, iteration or close) opens pdb's
/// post-mortem session on the terminal before the server answers 500 (`--enable-debugger`).
/// Breakpoints set in a session stop later requests.
pub fn debug_post_mortem(
    _runtime: &PythonRuntime,
    app: &mut LoadedApp,
) -> Result<(), InterpreterError> {
    Python::attach(|py| {
        let wrapped = helpers(py)
            .and_then(|h| h.call_method1("PostMortem", (app.callable.bind(py),)))
            .map_err(|err| InterpreterError::Debugger {
                message: crate::traceback::format(py, &err),
            })?;
        app.callable = wrapped.unbind();
        Ok(())
    })
}

/// Opens pdb on the terminal, on this thread, until the developer continues
/// (`--debugger-startup`): breakpoints set there stop the requests.
pub fn debugger_startup(_runtime: &PythonRuntime) -> Result<(), InterpreterError> {
    Python::attach(|py| call(py, "startup"))
}

/// The files of the modules this process imported, as `--reload-on-changes` follows them: each
/// call returns those not returned before. It looks at `sys.modules` only when its size
/// changed, so calling it often costs one `len()` under the GIL.
#[derive(Debug, Default)]
pub struct ImportedFiles {
    modules_seen: usize,
    files: HashSet<PathBuf>,
}

impl ImportedFiles {
    /// Follows the modules of the running interpreter.
    pub fn new(_runtime: &PythonRuntime) -> ImportedFiles {
        ImportedFiles::default()
    }

    /// The files of modules imported since the last call (all of them, the first time).
    /// Takes the GIL: call it off the I/O threads.
    pub fn new_files(&mut self) -> Vec<PathBuf> {
        Python::attach(|py| {
            let count = py
                .import("sys")
                .and_then(|sys| sys.getattr("modules"))
                .and_then(|modules| modules.len())
                .unwrap_or(0);
            if count == self.modules_seen {
                return Vec::new();
            }
            self.modules_seen = count;
            let files: Vec<String> = match helpers(py)
                .and_then(|h| h.call_method0("imported_files"))
                .and_then(|files| files.extract())
            {
                Ok(files) => files,
                Err(err) => {
                    tracing::warn!(
                        "cannot list the imported modules:\n{}",
                        crate::traceback::format(py, &err)
                    );
                    return Vec::new();
                }
            };
            files
                .into_iter()
                .map(PathBuf::from)
                .filter(|path| self.files.insert(path.clone()))
                .collect()
        })
    }
}
