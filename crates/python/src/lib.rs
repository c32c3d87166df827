//! `oxwsgi._oxwsgi`: oxwsgi as a Python extension module, for `pip install oxwsgi`.
//!
//! The wheel's `oxwsgi` console script calls [`main`] with `sys.argv`; the command line, the
//! banner, the configuration checks and the supervisor then run in Rust, in the console
//! script's process, while the interpreter stays idle (its lock released). Workers are fresh
//! processes of the group's interpreter, started by the supervisor with a small bootstrap (see
//! `oxwsgi_process::launch`) that loads this module by its path and calls [`worker`].
//!
//! Nothing here links libpython: the interpreter that loads the module provides Python, which
//! is what lets oxwsgi run on Pythons without a shared library (Debian's, pyenv's, uv's).

use std::ffi::OsString;
use std::path::PathBuf;

use oxwsgi_process::{Launcher, PythonLauncher};
use pyo3::prelude::*;

/// What the console script's interpreter is, read from `sys` and this module's `__file__`:
/// the workers run it (or a `python-home` environment of the same version).
fn launcher(module: &Bound<'_, PyModule>) -> PyResult<Launcher> {
    let py = module.py();
    let sys = py.import("sys")?;
    let path = |name: &str| -> PyResult<PathBuf> { sys.getattr(name)?.extract() };
    let version_info = sys.getattr("version_info")?;
    let major: u8 = version_info.get_item(0)?.extract()?;
    let minor: u8 = version_info.get_item(1)?.extract()?;
    let abiflags: String = sys.getattr("abiflags")?.extract()?;
    Ok(Launcher::Python(PythonLauncher {
        executable: path("executable")?,
        prefix: path("prefix")?,
        version: format!("{major}.{minor}{abiflags}"),
        extension: module.getattr("__file__")?.extract()?,
    }))
}

/// Runs the `oxwsgi` command with `argv` (`sys.argv`); returns its exit status.
///
/// The console script has set SIGINT back to its default action first, so the supervisor's
/// own handler takes Ctrl-C and Python never raises `KeyboardInterrupt`.
#[pyfunction]
#[pyo3(pass_module)]
fn main(module: &Bound<'_, PyModule>, argv: Vec<OsString>) -> PyResult<u8> {
    let launcher = launcher(module)?;
    // The supervisor runs no Python: the interpreter's lock is free while it runs.
    Ok(module.py().detach(move || oxwsgi_cli::main(argv, launcher)))
}

/// Runs this interpreter as a worker (start-up data on standard input) and ends the process
/// with the worker's exit status; never returns.
///
/// The process ends without finalising Python, exactly as the oxwsgi binary's workers do, and
/// without taking the interpreter's lock back: a worker that exits because the application
/// holds the lock forever (a deadlock, exit status 5) could never get it, and finalisation
/// would wait for the worker's Python threads or tear the interpreter down under them.
/// `atexit` functions have already run (the worker runs them once no request is left).
#[pyfunction]
fn worker(py: Python<'_>) {
    // Released for the worker's life: its own threads attach and detach as they need.
    py.detach(|| {
        let status = oxwsgi_cli::worker(oxwsgi_cli::Startup::Adopted);
        #[allow(clippy::exit)] // the worker's life ends here, see above
        std::process::exit(i32::from(status))
    })
}

/// The module. It declares that it needs the GIL: on a free-threaded interpreter, Python keeps
/// the GIL on once oxwsgi is imported (the worker's thread pool and its deadlock watchdog are
/// built around one lock).
#[pymodule(gil_used = true)]
fn _oxwsgi(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(main, module)?)?;
    module.add_function(wrap_pyfunction!(worker, module)?)?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
