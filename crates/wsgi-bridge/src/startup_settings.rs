//! What a process group's Python settings change in the running interpreter before anything
//! is imported: the warnings filter (mod_wsgi's `WSGIPythonWarnings`, Python's `-W`) and the
//! thread switch interval (mod_wsgi's `switch-interval=`).

use oxwsgi_config::PythonSettings;
use pyo3::prelude::*;

use crate::error::InterpreterError;

/// Adds each warnings entry as `-W` would (in order: a later one takes precedence), and sets
/// the switch interval. An entry Python cannot read is reported on standard error (the error
/// log) and skipped, as Python does with a bad `-W` option.
pub(crate) fn apply(py: Python<'_>, settings: &PythonSettings) -> Result<(), InterpreterError> {
    let run = || -> PyResult<()> {
        let sys = py.import("sys")?;
        if !settings.warnings.is_empty() {
            let options = sys.getattr("warnoptions")?;
            for spec in &settings.warnings {
                options.call_method1("append", (spec,))?;
            }
            py.import("warnings")?
                .call_method1("_processoptions", (settings.warnings.clone(),))?;
        }
        if let Some(interval) = settings.switch_interval {
            sys.call_method1("setswitchinterval", (interval.as_secs_f64(),))?;
        }
        Ok(())
    };
    run().map_err(|err| InterpreterError::Settings {
        message: crate::traceback::format(py, &err),
    })
}
