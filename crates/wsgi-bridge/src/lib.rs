//! oxwsgi's embedded CPython: the only crate that links Python.
//!
//! It starts the interpreter ([`initialize`]), loads WSGI applications ([`load_application`])
//! and mod_wsgi's authentication scripts ([`load_auth_scripts`]), and runs them on a fixed pool
//! of Python threads ([`WsgiPool`]). The HTTP side talks to it
//! only through `oxwsgi-exchange`'s request and response types, which are made of `http`,
//! `bytes` and tokio channel types: it never sees a Python object.
//!
//! GIL handling is confined to [`gil`]: each Python thread attaches once for its life and
//! detaches only to wait. `unsafe` code is allowed in these places only, each explained where it
//! is: filling CPython's `PyConfig`, or finding the interpreter that runs this process when oxwsgi
//! is installed as a Python package ([`interpreter`]), sharing a `bytes` buffer without copying
//! it ([`owned_bytes`]), duplicating the descriptor of a `wsgi.file_wrapper` file
//! ([`file_wrapper`]), and raising `mod_wsgi.RequestTimeout` in a stuck request's thread
//! (`interrupt`).

#![deny(unsafe_code)]

mod app;
mod auth_script;
#[doc(hidden)]
pub mod bench_support;
mod body_channel;
mod crash;
pub mod development;
mod environ;
mod error;
mod errors_stream;
mod file_wrapper;
mod fork;
mod gil;
mod handler;
mod import_script;
mod input;
mod instrumentation;
mod interpreter;
mod interrupt;
mod metrics;
mod owned_bytes;
mod pool;
mod request;
mod response;
mod service;
mod start_response;
mod startup_settings;
mod traceback;
mod watchdog;

pub use app::{LoadedApp, load_application};
pub use auth_script::{AuthScripts, load_auth_scripts};
pub use crash::{dump_python_stacks, install_crash_reports};
pub use environ::{AppIdentity, EnvironSettings, ListenerIdentity};
pub use error::{AppLoadError, InterpreterError};
pub use import_script::{ImportFailure, import_script};
pub use instrumentation::{instrument_application, start_instrumentation};
pub use interpreter::{
    PYTHON_VERSION, PythonRuntime, Startup, describe_python, initialize, run_exit_functions,
};
pub use metrics::ModWsgiInfo;
pub use pool::{MountedApp, PoolSettings, PoolStartError, Rejected, WsgiPool};
pub use request::{ChunkStream, Reply, StreamAborted};
pub use service::{ServiceEnd, run_service_script};
pub use watchdog::PoolEvent;

/// Puts the `mod_wsgi` module in `sys.modules`, before the applications load (see
/// [`metrics`]).
pub fn install_mod_wsgi_module(
    _runtime: &PythonRuntime,
    info: ModWsgiInfo,
) -> Result<(), InterpreterError> {
    pyo3::Python::attach(|py| {
        metrics::install(py, info).map_err(|err| InterpreterError::ModWsgiModule {
            message: traceback::format(py, &err),
        })
    })
}

/// Makes children the application forks close `server_fds` (the listening sockets and the
/// control pipe) and end if they return into the server; see [`fork`]. Call it before loading
/// applications, which may fork at import.
pub fn guard_forked_children(
    _runtime: &PythonRuntime,
    server_fds: &[std::os::fd::RawFd],
) -> Result<(), InterpreterError> {
    pyo3::Python::attach(|py| {
        fork::guard(py, server_fds).map_err(|err| InterpreterError::ForkGuard {
            message: traceback::format(py, &err),
        })
    })
}
