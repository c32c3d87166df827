//! Gives the binaries a run path to the Python library they link (as oxwsgi's wsgi-bridge does),
//! so `inline` starts without LD_LIBRARY_PATH.

fn main() {
    let config = pyo3_build_config::get();
    if let Some(lib_dir) = config.lib_dir() {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib_dir}");
    }
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
}
