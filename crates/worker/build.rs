//! Links this crate's binaries and tests so they find the Python shared library oxwsgi was
//! built against without `LD_LIBRARY_PATH`: its directory goes into their run path. The
//! directory comes from the wsgi-bridge crate, which is the one that knows the Python.

fn main() {
    if let Ok(lib_dir) = std::env::var("DEP_OXWSGI_PYTHON_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib_dir}");
    }
}
