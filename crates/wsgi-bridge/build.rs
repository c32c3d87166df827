//! Records which Python this crate is built against, so the server can name it in messages
//! (`--version`, the virtualenv version check) and start Python as that executable.
//!
//! Everything that links this crate links libpython, the Python's shared library. A Python
//! without one (built without `--enable-shared`: a default pyenv build, python-build-standalone
//! and so uv's interpreters; or Debian's `python3` without the `libpython3.X-dev` package) stops
//! the build here, with what to do instead of the linker's error. The Python package's build
//! (maturin, `PYO3_BUILD_EXTENSION_MODULE`) links no libpython and is not checked.
//!
//! The library's directory goes into the run path of this crate's test binaries, so that they
//! start without `LD_LIBRARY_PATH`, and to the build scripts of the crates that link this one
//! (`DEP_OXWSGI_PYTHON_LIB_DIR`), with the library's run-time name (`..._SONAME`) and the
//! interpreter (`..._EXECUTABLE`, `..._VERSION`) for the `oxwsgi` launcher's message.

use std::path::Path;

use pyo3_build_config::InterpreterConfig;

fn main() {
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    println!("cargo:rerun-if-env-changed=PYO3_BUILD_EXTENSION_MODULE");
    let config = pyo3_build_config::get();
    let version = config.version();
    let version = format!("{}.{}", version.major, version.minor);
    println!("cargo:rustc-env=OXWSGI_PYTHON_VERSION={version}");
    let executable = config.executable().unwrap_or_default();
    println!("cargo:rustc-env=OXWSGI_PYTHON_EXECUTABLE={executable}");
    println!("cargo:version={version}");
    println!("cargo:executable={executable}");

    let embedding = std::env::var_os("PYO3_BUILD_EXTENSION_MODULE").is_none();
    if embedding {
        if let Err(refusal) = check_shared_library(config, &version) {
            // `cargo::error` fails the build with the message alone, without the noise of a
            // panic or of the script's output.
            for line in refusal.lines() {
                println!("cargo::error={line}");
            }
            return;
        }
        if let Some(soname) = run_time_name(config) {
            println!("cargo:soname={soname}");
        }
    }
    if let Some(lib_dir) = config.lib_dir() {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib_dir}");
        println!("cargo:lib_dir={lib_dir}");
    }
}

/// The shared library PyO3 will link (`LIBDIR/lib<lib_name>.so`) must be there; otherwise the
/// explanation of what to install or use instead.
fn check_shared_library(config: &InterpreterConfig, version: &str) -> Result<(), String> {
    let interpreter = match config.executable() {
        Some(executable) => format!("{executable} (Python {version})"),
        None => format!("Python {version}"),
    };
    let lib_name = config
        .lib_name()
        .map_or_else(|| format!("python{version}"), str::to_owned);
    let missing = if !config.shared() {
        format!(
            "{interpreter} has no shared library: it was built with libpython linked statically \
             (a pyenv build without --enable-shared, or python-build-standalone, which uv installs)."
        )
    } else {
        let Some(lib_dir) = config.lib_dir() else {
            return Err(format!(
                "oxwsgi cannot find the directory of the shared library of {interpreter} \
                 (its sysconfig has no LIBDIR).\n{}",
                remedies(config, version)
            ));
        };
        let library = Path::new(lib_dir).join(format!("lib{lib_name}.so"));
        if library.is_file() {
            return Ok(());
        }
        format!(
            "{interpreter} has no shared library to link: {} is missing.",
            library.display()
        )
    };
    Err(format!(
        "oxwsgi embeds Python and links its shared library (libpython), but {missing}\n{}",
        remedies(config, version)
    ))
}

/// What to do: install the distribution's library package, use another Python, or the wheel.
fn remedies(config: &InterpreterConfig, version: &str) -> String {
    let system = config
        .executable()
        .is_some_and(|executable| executable.starts_with("/usr/bin/"));
    let install = if system {
        format!(
            "install it (Debian/Ubuntu: apt install libpython{version}-dev; Fedora: dnf install \
             python3-devel), or "
        )
    } else {
        String::new()
    };
    format!(
        "To build the oxwsgi binary, {install}name a Python built with --enable-shared in \
         PYO3_PYTHON (pyenv: PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install {version}). \
         Or install oxwsgi as a Python package, which needs no libpython: pip install oxwsgi"
    )
}

/// The name the dynamic loader looks the library up by (`libpython3.11.so.1.0`): the
/// interpreter's `INSTSONAME`.
fn run_time_name(config: &InterpreterConfig) -> Option<String> {
    config.executable()?;
    let name = config
        .run_python_script("import sysconfig; print(sysconfig.get_config_var('INSTSONAME') or '')")
        .ok()?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_owned())
}
