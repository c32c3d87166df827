//! The bridge's errors. Each says what failed, names the file or setting involved, and where
//! Python raised, carries the traceback Python printed.

use std::path::PathBuf;

/// Python could not be started or prepared.
#[derive(Debug, thiserror::Error)]
pub enum InterpreterError {
    /// `--python-home` names a virtual environment built from another Python version.
    #[error(
        "the virtual environment {venv} was made with Python {venv_version}, but this oxwsgi \
         embeds Python {embedded}; recreate it with `python{embedded} -m venv {venv}`, or \
         rebuild oxwsgi against Python {venv_version} (set PYO3_PYTHON)",
        venv = venv.display()
    )]
    VenvVersionMismatch {
        /// The environment's root directory.
        venv: PathBuf,
        /// The version recorded in its `pyvenv.cfg`.
        venv_version: String,
        /// The `major.minor` version oxwsgi was built against.
        embedded: &'static str,
    },
    /// CPython's own initialisation failed.
    #[error("Python failed to start: {message}")]
    Start {
        /// What Python reported.
        message: String,
    },
    /// Applying `--python-path` or `--working-directory` raised.
    #[error("could not prepare sys.path:\n{message}")]
    SysPath {
        /// The Python traceback.
        message: String,
    },
    /// Applying `--python-warnings` or `--switch-interval` raised.
    #[error("could not apply the warnings filter or the switch interval:\n{message}")]
    Settings {
        /// The Python traceback.
        message: String,
    },
    /// The handler that makes forked children let go of the server could not be registered.
    #[error("could not register the os.fork() handler:\n{message}")]
    ForkGuard {
        /// The Python traceback.
        message: String,
    },
    /// The `mod_wsgi` module could not be made.
    #[error("could not make the mod_wsgi module:\n{message}")]
    ModWsgiModule {
        /// The Python traceback.
        message: String,
    },
    /// The crash reports (faulthandler, the os._exit wrapper) could not be installed.
    #[error("could not install the crash reports:\n{message}")]
    CrashReports {
        /// The Python traceback.
        message: String,
    },
    /// An instrument (--enable-profiler, --enable-coverage, --enable-recorder) could not be
    /// started: coverage.py missing, a directory that cannot be created.
    #[error("could not start the developer's instruments:\n{message}")]
    Instrumentation {
        /// The Python traceback.
        message: String,
    },
    /// The terminal or pdb could not be set up for `--debug-mode` and `--enable-debugger`.
    #[error("could not set up the debugger:\n{message}")]
    Debugger {
        /// The Python traceback.
        message: String,
    },
}

/// A WSGI application could not be loaded at start-up.
#[derive(Debug, thiserror::Error)]
pub enum AppLoadError {
    /// Importing or executing the application's code raised an exception.
    #[error("failed to load the {what}:\n{traceback}\nhint: {hint}")]
    Raised {
        /// The application, as [`oxwsgi_config::AppEntry::describe`] names it.
        what: String,
        /// The Python traceback, without oxwsgi's own loader frames.
        traceback: String,
        /// One line on what to do about it.
        hint: String,
    },
    /// The code loaded but has no attribute with the callable's name.
    #[error(
        "the {what} does not define '{callable}'{found}; name the WSGI callable with \
         --callable-object",
        found = if names.is_empty() { String::new() } else { format!(" (it defines: {})", names.join(", ")) }
    )]
    MissingCallable {
        /// The application.
        what: String,
        /// The name looked for.
        callable: String,
        /// Public callables the module does define, as suggestions.
        names: Vec<String>,
    },
    /// The attribute exists but cannot be called.
    #[error("'{callable}' in the {what} is a {type_name}, not a callable WSGI application")]
    NotCallable {
        /// The application.
        what: String,
        /// The name looked for.
        callable: String,
        /// The Python type of what was found.
        type_name: String,
    },
}
