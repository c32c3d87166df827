//! Loading WSGI applications at start-up: script files, modules, PasteDeploy configurations and
//! the built-in welcome page.
//!
//! Loading runs once per worker process on its main thread, before any socket is served, so a
//! broken application is reported (with its traceback and a hint) and the server stops before it
//! takes traffic.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use oxwsgi_config::AppEntry;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyModule;

use crate::error::AppLoadError;
use crate::interpreter::PythonRuntime;

/// A loaded WSGI application: the callable, ready to be called on any Python thread.
#[derive(Debug)]
pub struct LoadedApp {
    pub(crate) callable: Py<PyAny>,
    /// How messages name it, such as "WSGI script '/srv/app.wsgi'".
    pub(crate) description: String,
    /// The file whose change means the code changed (the script, or the ini file).
    entry_file: Option<PathBuf>,
}

impl LoadedApp {
    /// How log messages name this application.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The file that defines the application, when there is one.
    pub fn entry_file(&self) -> Option<&Path> {
        self.entry_file.as_deref()
    }
}

/// The bootstrap helper module, compiled once per process.
pub(crate) fn bootstrap(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    static BOOTSTRAP: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    BOOTSTRAP
        .get_or_try_init(py, || {
            let source = CString::new(include_str!("bootstrap.py"))
                .expect("the bootstrap source has no NUL byte");
            PyModule::from_code(py, &source, c"<oxwsgi bootstrap>", c"_oxwsgi_bootstrap")
                .map(Bound::unbind)
        })
        .map(|module| module.bind(py))
}

/// The error of code that raised while being loaded (`what` names it): its traceback, and a
/// hint on what to do.
pub(crate) fn load_failure(py: Python<'_>, err: &PyErr, what: &str) -> AppLoadError {
    let traceback = crate::traceback::format(py, err);
    let hint = bootstrap(py)
        .and_then(|b| b.call_method1("load_hint", (err.value(py), what)))
        .and_then(|h| h.extract::<String>())
        .unwrap_or_else(|_| "fix the error above".to_owned());
    AppLoadError::Raised {
        what: what.to_owned(),
        traceback,
        hint,
    }
}

/// Loads one application, the way `--application-type` says.
///
/// `server_software` is shown on the welcome page when no application is given. `callable`
/// may name alternatives separated by `|`, the first one the script defines being used.
pub fn load_application(
    _runtime: &PythonRuntime,
    entry: &AppEntry,
    callable: &str,
    server_software: &str,
) -> Result<LoadedApp, AppLoadError> {
    let what = entry.describe();
    Python::attach(|py| {
        let raised = |err: PyErr| load_failure(py, &err, &what);
        let helper = bootstrap(py).map_err(raised)?;
        let (namespace, entry_file) = match entry {
            AppEntry::Script(path) => (
                helper
                    .call_method1("load_app_script", (path,))
                    .map_err(raised)?,
                Some(path.clone()),
            ),
            AppEntry::Module(name) => (
                helper
                    .call_method1("load_module", (name,))
                    .map_err(raised)?,
                None,
            ),
            AppEntry::Paste(ini) => {
                // PasteDeploy returns the application itself, not a module.
                let app = helper.call_method1("load_paste", (ini,)).map_err(raised)?;
                return Ok(LoadedApp {
                    callable: app.unbind(),
                    description: what,
                    entry_file: Some(ini.clone()),
                });
            }
            AppEntry::Welcome => {
                let app = helper
                    .call_method1("welcome_application", (server_software,))
                    .map_err(raised)?;
                return Ok(LoadedApp {
                    callable: app.unbind(),
                    description: what,
                    entry_file: None,
                });
            }
        };
        // Names separated by `|` are tried in order (a handler script's `handle_request`, else
        // its `application`).
        let found = callable
            .split('|')
            .find_map(|name| namespace.getattr(name).ok());
        let app = match found {
            Some(app) => app,
            None => {
                let names = helper
                    .call_method1("public_callables", (&namespace,))
                    .and_then(|n| n.extract::<Vec<String>>())
                    .unwrap_or_default();
                return Err(AppLoadError::MissingCallable {
                    what,
                    callable: callable.to_owned(),
                    names,
                });
            }
        };
        if !app.is_callable() {
            let type_name = app
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_else(|_| "object".to_owned());
            return Err(AppLoadError::NotCallable {
                what,
                callable: callable.to_owned(),
                type_name,
            });
        }
        Ok(LoadedApp {
            callable: app.unbind(),
            description: what,
            entry_file,
        })
    })
}
