//! Records which Python this crate is built against, so the server can name it in messages
//! (`--version`, the virtualenv version check) and start Python as that executable.
//!
//! Everything that links this crate links libpython; test binaries of this crate get the
//! library's directory as their run path so they start without `LD_LIBRARY_PATH`.

fn main() {
    let config = pyo3_build_config::get();
    let version = config.version();
    println!(
        "cargo:rustc-env=OXWSGI_PYTHON_VERSION={}.{}",
        version.major, version.minor
    );
    let executable = config.executable().unwrap_or_default();
    println!("cargo:rustc-env=OXWSGI_PYTHON_EXECUTABLE={executable}");
    if let Some(lib_dir) = config.lib_dir() {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib_dir}");
        println!("cargo:lib_dir={lib_dir}");
    }
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
}
