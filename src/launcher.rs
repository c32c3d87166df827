//! `oxwsgi`, the command `cargo install` installs: a launcher in front of `oxwsgi-embedded`,
//! installed beside it, which is the server and links the libpython of the Python it was built
//! with.
//!
//! A binary that lists libpython among the libraries it needs cannot explain that library's
//! absence: the dynamic loader refuses to start it before `main`. This launcher links no
//! libpython. It loads the library the way the server's loader will (the same name, the same
//! run path, `LD_LIBRARY_PATH`), and when that fails it says so in one line and exits with
//! status 1; otherwise it executes `oxwsgi-embedded` with the same arguments, `argv[0]` and
//! environment. From there on nothing passes through the launcher: the supervisor and its
//! workers are `oxwsgi-embedded` executing itself from `/proc/self/exe`.

use std::ffi::{CStr, CString, OsString};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitCode};

/// The server binary, in the launcher's own directory.
const SERVER: &str = "oxwsgi-embedded";

fn main() -> ExitCode {
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| OsString::from("oxwsgi"));
    let server = match std::env::current_exe() {
        Ok(exe) => exe.with_file_name(SERVER),
        Err(err) => return refuse(&format!("cannot find its own executable: {err}")),
    };
    if let Some(soname) = option_env!("OXWSGI_LIBPYTHON_SONAME") {
        if let Err(reason) = load(soname) {
            return refuse(&missing_libpython(soname, &reason));
        }
    }
    let err = Command::new(&server).arg0(arg0).args(args).exec();
    refuse(&cannot_run(&server, &err))
}

fn refuse(message: &str) -> ExitCode {
    eprintln!("oxwsgi: {message}");
    ExitCode::FAILURE
}

fn missing_libpython(soname: &str, reason: &str) -> String {
    let version = env!("OXWSGI_PYTHON_VERSION");
    let python = option_env!("OXWSGI_PYTHON_EXECUTABLE").unwrap_or("?");
    let place = option_env!("OXWSGI_LIBPYTHON_DIR")
        .map(|dir| format!(", in {dir}"))
        .unwrap_or_default();
    format!(
        "cannot load {soname}, the library of the Python {version} it was built with \
         ({python}{place}): {reason}. Reinstall that Python, or rebuild oxwsgi with one that has \
         its shared library (cargo install oxwsgi), or use pip install oxwsgi"
    )
}

fn cannot_run(server: &Path, err: &std::io::Error) -> String {
    format!(
        "cannot run {} ({err}): it is installed beside the `oxwsgi` command; reinstall both \
         (cargo install oxwsgi)",
        server.display()
    )
}

/// Loads `soname` as the dynamic loader would for the server: from this executable, whose
/// run path is the server's. The library stays loaded until the `exec` that follows.
#[allow(unsafe_code)]
fn load(soname: &str) -> Result<(), String> {
    let name = CString::new(soname).map_err(|err| err.to_string())?;
    // SAFETY: `name` is a NUL-terminated string that outlives the call. Loading libpython runs
    // no Python code (the library has no initialisers that start the interpreter), and nothing
    // is looked up in it: the process only checks that it loads, then executes the server.
    let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_LAZY | libc::RTLD_LOCAL) };
    if !handle.is_null() {
        return Ok(());
    }
    // SAFETY: dlerror returns either NULL or a NUL-terminated string owned by the C library,
    // valid until the next dl* call on this thread; it is copied at once.
    let error = unsafe { libc::dlerror() };
    if error.is_null() {
        return Err("unknown error".to_owned());
    }
    // SAFETY: as above, `error` is a valid C string until the next dl* call.
    let reason = unsafe { CStr::from_ptr(error) };
    Err(reason.to_string_lossy().into_owned())
}
