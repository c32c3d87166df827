//! Turning Python exceptions into text for the error log.

use pyo3::prelude::*;

/// Formats an exception with its traceback, as Python would print it.
///
/// Never fails: if the `traceback` module itself cannot format the error, the exception's
/// `str()` is used instead.
pub(crate) fn format(py: Python<'_>, err: &PyErr) -> String {
    let formatted = (|| -> PyResult<String> {
        let bootstrap = crate::app::bootstrap(py)?;
        // The traceback is kept beside the exception by PyO3, not always on `__traceback__`.
        bootstrap
            .call_method1("format_exception", (err.value(py), err.traceback(py)))?
            .extract()
    })();
    match formatted {
        Ok(text) => text.trim_end().to_owned(),
        Err(_) => err.to_string(),
    }
}
