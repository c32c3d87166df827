//! How oxwsgi's processes are started: the two ways oxwsgi is installed.
//!
//! * **The binary** (`cargo install`, `cargo build`): one executable that links libpython. The
//!   supervisor and every worker are that executable again, and `argv[0]` carries their title
//!   (see [`crate::title`]), which also tells `main` what the process is.
//! * **The Python package** (`pip install oxwsgi`): a PyO3 extension module inside a Python
//!   interpreter, which has no libpython to link (Debian's `python3`, pyenv's and uv's builds
//!   link it statically). A worker is then the interpreter again — the same one, or the
//!   `bin/python` of the group's `python-home` — running [`BOOTSTRAP`], which loads the
//!   extension by its file path and enters the same Rust worker. `argv[0]` must stay the
//!   interpreter's path (Python finds its virtual environment from it), so the title is
//!   written over the argument area after start instead ([`crate::title::set`]).
//!
//! Either way a worker is a fresh `exec`, never a fork of a process in which Python runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use oxwsgi_config::{PythonHome, ServerConfig};

/// What starts oxwsgi's processes.
#[derive(Debug, Clone)]
pub enum Launcher {
    /// This executable embeds Python: workers are `/proc/self/exe` titled by `argv[0]`.
    Binary,
    /// oxwsgi runs as an extension module in a Python interpreter.
    Python(PythonLauncher),
}

/// The interpreter the `oxwsgi` console script runs in, as the extension found it.
#[derive(Debug, Clone)]
pub struct PythonLauncher {
    /// `sys.executable`: the workers' interpreter when no `python-home` is given.
    pub executable: PathBuf,
    /// `sys.prefix`: the environment the banner names when no `python-home` is given.
    pub prefix: PathBuf,
    /// `major.minor` of the interpreter, followed by its ABI flags (`t` for a free-threaded
    /// build): an extension module loads only into an interpreter of the same.
    pub version: String,
    /// The extension module's file, loaded by path in the workers, so a `python-home`
    /// environment without oxwsgi installed runs it too (its `sys.path` is left alone).
    pub extension: PathBuf,
}

/// The program a worker interpreter runs (`python -c BOOTSTRAP TITLE EXTENSION VERSION`).
///
/// It drops the `''` that `-c` puts first on `sys.path` (the embedded interpreter has none; the
/// worker puts the working directory there itself), makes `sys.argv` what the embedded
/// interpreter shows, refuses an interpreter the extension was not built for (exit status 3:
/// the application cannot load, so the server stops instead of restarting it), loads the
/// extension by path without adding it to `sys.modules` or `sys.path`, gives SIGINT back its
/// default action (the worker's Rust side handles it; Python must not raise
/// `KeyboardInterrupt`), and enters the worker, which never returns. `TITLE` is unused: it
/// shows in `ps` until the worker titles itself, and makes the argument area long enough for
/// the title to be written over it.
pub const BOOTSTRAP: &str = "\
import sys
if sys.path and sys.path[0] == '':
    del sys.path[0]
_, path, wanted = sys.argv[1:4]
sys.argv[:] = ['oxwsgi']
here = '%d.%d%s' % (sys.version_info[0], sys.version_info[1], getattr(sys, 'abiflags', ''))
from importlib import machinery, util
if here != wanted or not path.endswith(tuple(machinery.EXTENSION_SUFFIXES)):
    sys.stderr.write('oxwsgi: %s is Python %s, but oxwsgi (%s) is installed for Python %s\\n'
                     % (sys.executable, here, path, wanted))
    sys.exit(3)
spec = util.spec_from_file_location('oxwsgi._oxwsgi', path)
module = util.module_from_spec(spec)
spec.loader.exec_module(module)
import signal
signal.signal(signal.SIGINT, signal.SIG_DFL)
module.worker()
";

/// A group's Python cannot run this oxwsgi.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The environment's interpreter is of another version than the one oxwsgi is installed in.
    #[error(
        "{home} is a Python {found} environment, but this oxwsgi is installed in Python \
         {version} ({executable}): an extension module runs only in the Python it was built \
         for; install oxwsgi into a Python {found} environment, or give a Python {version} one"
    )]
    VersionMismatch {
        /// The `python-home` directory.
        home: PathBuf,
        /// Its Python version.
        found: String,
        /// The version oxwsgi is installed for.
        version: String,
        /// The interpreter oxwsgi runs in.
        executable: PathBuf,
    },
    /// No interpreter was found in the environment.
    #[error("{home} has no bin/python3 or bin/python to run the workers")]
    NoInterpreter {
        /// The `python-home` directory.
        home: PathBuf,
    },
}

impl PythonLauncher {
    /// The interpreter that runs the workers of a group with `home` as its `python-home`.
    pub fn interpreter(&self, home: Option<&PythonHome>) -> Result<PathBuf, LaunchError> {
        let Some(home) = home else {
            return Ok(self.executable.clone());
        };
        let bin = home.path().join("bin");
        let numbered = format!("python{}", self.version);
        let candidates: &[&str] = match home {
            // A virtual environment's `bin/python` is what its activation script runs.
            PythonHome::VirtualEnv { .. } => &["python", "python3", &numbered],
            // A prefix may hold several Pythons: the numbered one is this one if any is.
            PythonHome::Prefix(_) => &[&numbered, "python3", "python"],
        };
        candidates
            .iter()
            .map(|name| bin.join(name))
            .find(|path| path.is_file())
            .ok_or_else(|| LaunchError::NoInterpreter {
                home: home.path().to_path_buf(),
            })
    }

    /// Refuses a group whose `python-home` is of another Python version (or ABI), naming both,
    /// before anything is started. A virtual environment says its version in `pyvenv.cfg`; a
    /// free-threaded one holds a `pythonX.Yt`. The worker's bootstrap checks again, for the
    /// cases the files do not tell.
    pub fn check(&self, config: &ServerConfig) -> Result<(), LaunchError> {
        for (index, group) in config.groups.iter().enumerate() {
            // A group without applications (static files, the front tier) starts no Python.
            if config.apps_of_group(index).next().is_none() {
                continue;
            }
            let home = group.python.home.as_ref();
            if let Some(PythonHome::VirtualEnv {
                root,
                version: Some(version),
            }) = home
            {
                let major_minor = version.split('.').take(2).collect::<Vec<_>>().join(".");
                let threaded = root.join("bin").join(format!("python{major_minor}t"));
                let found = if threaded.exists() {
                    format!("{major_minor}t")
                } else {
                    major_minor
                };
                if found != self.version {
                    return Err(LaunchError::VersionMismatch {
                        home: root.clone(),
                        found,
                        version: self.version.clone(),
                        executable: self.executable.clone(),
                    });
                }
            }
            self.interpreter(home)?;
        }
        Ok(())
    }
}

impl Launcher {
    /// The command that starts a worker of a group whose `python-home` is `home`, titled `title`.
    /// Standard streams, environment and descriptors are the caller's to add.
    pub fn worker_command(
        &self,
        exe: &Path,
        title: &str,
        home: Option<&PythonHome>,
    ) -> Result<Command, LaunchError> {
        match self {
            Launcher::Binary => {
                use std::os::unix::process::CommandExt as _;
                let mut command = Command::new(exe);
                command.arg0(title);
                Ok(command)
            }
            Launcher::Python(python) => {
                let mut command = Command::new(python.interpreter(home)?);
                command
                    .arg("-c")
                    .arg(BOOTSTRAP)
                    .arg(title)
                    .arg(&python.extension)
                    .arg(&python.version);
                Ok(command)
            }
        }
    }
}
