//! Starting the embedded CPython with mod_wsgi's `python-home` semantics.
//!
//! PyO3's own `Python::initialize` cannot say which executable Python believes it is, and that is
//! what decides whether a virtual environment is used: Python finds `pyvenv.cfg` next to its
//! executable. So this module fills a `PyConfig` through the C API, the way mod_wsgi does with
//! `Py_SetProgramName`, and is therefore the one place in the crate allowed `unsafe` for
//! initialisation. Every block states why it is sound.
//!
//! Python is started with its signal handlers off: the server, not Python, owns SIGTERM, SIGINT
//! and SIGHUP.
//!
//! When oxwsgi is installed as a Python package, the worker is a Python interpreter already
//! (its bootstrap set SIGINT back to its default action before entering oxwsgi): [`initialize`]
//! then adopts it, with [`Startup::Adopted`], and applies the same `sys.path`, working
//! directory and standard streams, so an application cannot tell the two apart. There is
//! never a second initialisation.

use std::ffi::{CStr, CString, c_char};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use oxwsgi_config::{PythonHome, PythonSettings};
use pyo3::prelude::*;

use crate::error::InterpreterError;

/// The `major.minor` version of the Python this server embeds, fixed at build time.
pub const PYTHON_VERSION: &str = env!("OXWSGI_PYTHON_VERSION");

/// The interpreter executable found when oxwsgi was built; Python starts as this program when
/// no virtual environment is given, so `sys.executable` names a real Python rather than oxwsgi.
const BUILD_PYTHON_EXECUTABLE: &str = env!("OXWSGI_PYTHON_EXECUTABLE");

/// Proof that the embedded interpreter is running in this process.
///
/// Only [`initialize`] makes one, so code that takes a `&PythonRuntime` cannot run before Python
/// is up.
#[derive(Debug)]
pub struct PythonRuntime {
    _private: (),
}

/// Which Python a process group runs, described for the start-up banner without starting it:
/// the embedded version and the environment's directory.
pub fn describe_python(settings: &PythonSettings) -> String {
    let place = match &settings.home {
        Some(home) => home.path().to_path_buf(),
        // The prefix of the interpreter oxwsgi was built against: `<prefix>/bin/python3`.
        None => Path::new(BUILD_PYTHON_EXECUTABLE)
            .ancestors()
            .nth(2)
            .map(Path::to_path_buf)
            .unwrap_or_default(),
    };
    format!("Python {PYTHON_VERSION} ({})", place.display())
}

/// Runs the functions registered with `atexit`, as Python does at exit: applications flush and
/// close things there. Called once no request runs any more.
pub fn run_exit_functions(_runtime: &PythonRuntime) {
    Python::attach(|py| {
        let run = py
            .import("atexit")
            .and_then(|atexit| atexit.call_method0("_run_exitfuncs"));
        if let Err(err) = run {
            tracing::error!(
                "an atexit function raised:\n{}",
                crate::traceback::format(py, &err)
            );
        }
    });
}

/// Whether the worker's Python is started here or is already running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Startup {
    /// The oxwsgi binary: Python is started in this process from a `PyConfig`, with
    /// mod_wsgi's `python-home` rules.
    Embedded,
    /// The Python package: this process is the interpreter (chosen by the supervisor from
    /// `python-home`), which called into oxwsgi on its main thread and released its lock.
    Adopted,
}

/// Starts Python in this process, on this thread (which becomes Python's main thread), or
/// adopts the interpreter that runs it (see [`Startup`]); then prepares `sys.path`, the
/// working directory and the standard streams.
///
/// Must be called once, before any other thread exists that might touch Python.
pub fn initialize(
    settings: &PythonSettings,
    startup: Startup,
) -> Result<PythonRuntime, InterpreterError> {
    match startup {
        Startup::Embedded => embed(settings)?,
        Startup::Adopted => adopt(settings)?,
    }
    // Python is now up and this thread does not hold the GIL; PyO3 sees the running interpreter
    // and does not initialise it a second time.
    pyo3::Python::initialize();
    Python::attach(|py| {
        prepare_sys_path(py, settings)?;
        crate::startup_settings::apply(py, settings)?;
        crate::errors_stream::install_std_streams(py).map_err(|err| InterpreterError::SysPath {
            message: crate::traceback::format(py, &err),
        })
    })?;
    Ok(PythonRuntime { _private: () })
}

/// Checks that the running interpreter can be adopted: it runs (this code was called from it),
/// and it is the `python-home` environment's version (the supervisor started the environment's
/// own interpreter, so this only fails if the environment was changed in between).
#[allow(unsafe_code)]
fn adopt(settings: &PythonSettings) -> Result<(), InterpreterError> {
    // SAFETY: `Py_IsInitialized` may be called at any time, with or without the GIL.
    if unsafe { pyo3::ffi::Py_IsInitialized() } == 0 {
        return Err(InterpreterError::Start {
            message: "no Python interpreter runs in this process to adopt".into(),
        });
    }
    if let Some(PythonHome::VirtualEnv { root, version }) = &settings.home {
        check_venv_version(root, version.as_deref())?;
    }
    Ok(())
}

/// Starts the embedded interpreter from a `PyConfig` (the binary's way).
fn embed(settings: &PythonSettings) -> Result<(), InterpreterError> {
    let program = match &settings.home {
        Some(PythonHome::VirtualEnv { root, version }) => {
            check_venv_version(root, version.as_deref())?;
            Some(venv_python(root))
        }
        Some(PythonHome::Prefix(_)) => None,
        None => {
            let built_with = Path::new(BUILD_PYTHON_EXECUTABLE);
            built_with.is_file().then(|| built_with.to_path_buf())
        }
    };
    let home = match &settings.home {
        Some(PythonHome::Prefix(prefix)) => Some(prefix.clone()),
        _ => None,
    };
    start_python(program.as_deref(), home.as_deref())
}

/// The interpreter of a virtual environment: `bin/python`, or `bin/python3` when only that exists.
fn venv_python(root: &Path) -> PathBuf {
    let python = root.join("bin").join("python");
    if python.exists() {
        python
    } else {
        root.join("bin").join("python3")
    }
}

/// Refuses a virtual environment made from another Python: its site-packages hold extension
/// modules built for that version, which would fail to import or crash.
fn check_venv_version(root: &Path, version: Option<&str>) -> Result<(), InterpreterError> {
    let Some(version) = version else {
        return Ok(());
    };
    let major_minor: String = version.split('.').take(2).collect::<Vec<_>>().join(".");
    if major_minor == PYTHON_VERSION {
        return Ok(());
    }
    Err(InterpreterError::VenvVersionMismatch {
        venv: root.to_path_buf(),
        venv_version: version.to_owned(),
        embedded: PYTHON_VERSION,
    })
}

fn c_path(path: &Path) -> Result<CString, InterpreterError> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| InterpreterError::Start {
        message: format!("the path {} contains a NUL byte", path.display()),
    })
}

/// Initialises CPython from a `PyConfig`.
#[allow(unsafe_code)]
fn start_python(program: Option<&Path>, home: Option<&Path>) -> Result<(), InterpreterError> {
    let program = program.map(c_path).transpose()?;
    let home = home.map(c_path).transpose()?;
    let argv0 = c"oxwsgi";

    let mut config = std::mem::MaybeUninit::<pyo3::ffi::PyConfig>::uninit();
    // SAFETY: `PyConfig_InitPythonConfig` fully initialises the struct it is given; this is the
    // documented way to obtain a `PyConfig`, and Python is not running yet (checked by the caller
    // being the first to start it: `Py_IsInitialized` is tested below before anything happens).
    let config = unsafe {
        if pyo3::ffi::Py_IsInitialized() != 0 {
            return Err(InterpreterError::Start {
                message: "Python is already running in this process".into(),
            });
        }
        pyo3::ffi::PyConfig_InitPythonConfig(config.as_mut_ptr());
        config.assume_init_mut()
    };
    config.install_signal_handlers = 0;
    config.parse_argv = 0;

    let result = (|| {
        let cfg: *mut pyo3::ffi::PyConfig = config;
        // SAFETY: `cfg` points to the initialised config above, which outlives these calls; the
        // field pointers are derived from it without creating overlapping references, and the
        // strings are NUL-terminated `CString`s that live until the end of this function.
        // Python copies every string it is given.
        unsafe {
            if let Some(program) = &program {
                status(pyo3::ffi::PyConfig_SetBytesString(
                    cfg,
                    std::ptr::addr_of_mut!((*cfg).program_name),
                    program.as_ptr(),
                ))?;
            }
            if let Some(home) = &home {
                status(pyo3::ffi::PyConfig_SetBytesString(
                    cfg,
                    std::ptr::addr_of_mut!((*cfg).home),
                    home.as_ptr(),
                ))?;
            }
            let mut argv: [*const c_char; 1] = [argv0.as_ptr()];
            status(pyo3::ffi::PyConfig_SetBytesArgv(cfg, 1, argv.as_mut_ptr()))?;
            status(pyo3::ffi::Py_InitializeFromConfig(cfg))?;
            // Initialisation leaves this thread holding the GIL; give it up so that every later
            // use goes through PyO3's attach, which reuses this thread's state.
            pyo3::ffi::PyEval_SaveThread();
        }
        Ok(())
    })();

    // SAFETY: the config was initialised by `PyConfig_InitPythonConfig`; clearing frees the
    // strings Python copied into it, and it is not used afterwards.
    unsafe { pyo3::ffi::PyConfig_Clear(config) };
    result
}

/// Turns a failed `PyStatus` into an error carrying Python's own message.
#[allow(unsafe_code)]
fn status(status: pyo3::ffi::PyStatus) -> Result<(), InterpreterError> {
    // SAFETY: `PyStatus_Exception` only reads the status value it is given.
    if unsafe { pyo3::ffi::PyStatus_Exception(status) } == 0 {
        return Ok(());
    }
    let text = |ptr: *const c_char| {
        if ptr.is_null() {
            String::new()
        } else {
            // SAFETY: a non-null `func`/`err_msg` of a PyStatus is a static NUL-terminated C
            // string owned by Python.
            unsafe { CStr::from_ptr(ptr) }
                .to_string_lossy()
                .into_owned()
        }
    };
    let mut message = text(status.err_msg);
    let func = text(status.func);
    if !func.is_empty() {
        message = format!("{func}: {message}");
    }
    Err(InterpreterError::Start { message })
}

/// Applies `--python-path` (with `site.addsitedir`, so `.pth` files work) and
/// `--working-directory` (first on `sys.path`, and the process's current directory).
fn prepare_sys_path(py: Python<'_>, settings: &PythonSettings) -> Result<(), InterpreterError> {
    let apply = || -> PyResult<()> {
        let site = py.import("site")?;
        for dir in &settings.paths {
            site.call_method1("addsitedir", (dir,))?;
        }
        let os = py.import("os")?;
        os.call_method1("chdir", (&settings.working_directory,))?;
        let sys_path = py.import("sys")?.getattr("path")?;
        let dir = settings.working_directory.to_string_lossy().into_owned();
        if !sys_path.contains(&dir)? {
            sys_path.call_method1("insert", (0, dir))?;
        }
        Ok(())
    };
    apply().map_err(|err| InterpreterError::SysPath {
        message: crate::traceback::format(py, &err),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn venv_of_the_embedded_version_is_accepted() {
        let root = Path::new("/srv/venv");
        let same = format!("{PYTHON_VERSION}.4");
        assert!(check_venv_version(root, Some(&same)).is_ok());
        assert!(check_venv_version(root, None).is_ok());
    }

    #[test]
    fn venv_of_another_version_is_refused_naming_both() {
        let err = check_venv_version(Path::new("/srv/venv"), Some("2.7.18")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("2.7.18"), "{text}");
        assert!(text.contains(PYTHON_VERSION), "{text}");
        assert!(text.contains("/srv/venv"), "{text}");
    }
}
