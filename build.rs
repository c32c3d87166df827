//! Links this package's binaries so they find the Python shared library oxwsgi was built
//! against without `LD_LIBRARY_PATH`: its directory goes into their run path (the launcher's
//! too, so that its check looks where the server's dynamic loader will). The directory, the
//! library's run-time name and the interpreter come from the wsgi-bridge crate, which is the
//! one that knows the Python; the launcher's message names them.

fn main() {
    if let Ok(lib_dir) = std::env::var("DEP_OXWSGI_PYTHON_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib_dir}");
    }
    for (published, name) in [
        ("LIB_DIR", "OXWSGI_LIBPYTHON_DIR"),
        ("SONAME", "OXWSGI_LIBPYTHON_SONAME"),
        ("VERSION", "OXWSGI_PYTHON_VERSION"),
        ("EXECUTABLE", "OXWSGI_PYTHON_EXECUTABLE"),
    ] {
        if let Ok(value) = std::env::var(format!("DEP_OXWSGI_PYTHON_{published}")) {
            println!("cargo:rustc-env={name}={value}");
        }
    }
}
