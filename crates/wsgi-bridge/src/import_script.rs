//! `WSGIImportScript` preloading: a script a group's workers import at start, before their
//! applications load, as the module an application script of that path gets (so that an
//! application of the same file is not executed twice).
//!
//! As in mod_wsgi (`wsgi_python_child_init` → `wsgi_load_source`), a script that raises does
//! not stop the process: the error is logged, the module is dropped, and the worker goes on to
//! load its applications and serve. A `SystemExit` is logged without a traceback, as mod_wsgi
//! logs it.

use std::path::Path;

use pyo3::exceptions::PySystemExit;
use pyo3::prelude::*;

use crate::interpreter::PythonRuntime;

/// How an import script failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportFailure {
    /// It raised `SystemExit`.
    SystemExit,
    /// It raised another exception, or could not be read or compiled (the traceback).
    Raised(String),
}

/// Imports the script at `path` into the interpreter.
pub fn import_script(_runtime: &PythonRuntime, path: &Path) -> Result<(), ImportFailure> {
    Python::attach(|py| {
        let run = crate::app::bootstrap(py)
            .and_then(|helper| helper.call_method1("preload_script", (path,)));
        match run {
            Ok(_) => Ok(()),
            Err(err) if err.is_instance_of::<PySystemExit>(py) => Err(ImportFailure::SystemExit),
            Err(err) => Err(ImportFailure::Raised(crate::traceback::format(py, &err))),
        }
    })
}
