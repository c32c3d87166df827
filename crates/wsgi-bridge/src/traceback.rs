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

/// Where in the application a result came from, as a traceback line would say it: a
/// generator's current (or first) line, else the application callable's definition.
pub(crate) fn location(
    callable: &Bound<'_, PyAny>,
    result: Option<&Bound<'_, PyAny>>,
) -> Option<String> {
    let py = callable.py();
    let generator = result.and_then(|result| {
        let code = result.getattr(pyo3::intern!(py, "gi_code")).ok()?;
        let line = result
            .getattr(pyo3::intern!(py, "gi_frame"))
            .ok()
            .filter(|frame| !frame.is_none())
            .and_then(|frame| frame.getattr(pyo3::intern!(py, "f_lineno")).ok());
        Some((code, line))
    });
    let (code, line) = match generator {
        Some(found) => found,
        None => (code_of(callable)?, None),
    };
    let file: String = code
        .getattr(pyo3::intern!(py, "co_filename"))
        .ok()?
        .extract()
        .ok()?;
    let name: String = code
        .getattr(pyo3::intern!(py, "co_name"))
        .ok()?
        .extract()
        .ok()?;
    let line: u32 = match line {
        Some(line) => line.extract().ok()?,
        None => code
            .getattr(pyo3::intern!(py, "co_firstlineno"))
            .ok()?
            .extract()
            .ok()?,
    };
    Some(format!("File \"{file}\", line {line}, in {name}"))
}

/// The code object of a function, a method, or an object's `__call__`.
fn code_of<'py>(callable: &Bound<'py, PyAny>) -> Option<Bound<'py, PyAny>> {
    let py = callable.py();
    let code = pyo3::intern!(py, "__code__");
    if let Ok(code) = callable.getattr(code) {
        return Some(code);
    }
    callable
        .get_type()
        .getattr(pyo3::intern!(py, "__call__"))
        .ok()?
        .getattr(code)
        .ok()
}
