//! The `oxwsgi` binary: one executable for every kind of oxwsgi process, linking the Python it
//! was built against. What it does is `oxwsgi_cli::main`'s, which the Python package's console
//! script runs too; see that crate for the processes and the exit statuses.

#![deny(unsafe_code)]

use std::process::ExitCode;

use oxwsgi_process::Launcher;

fn main() -> ExitCode {
    ExitCode::from(oxwsgi_cli::main(
        std::env::args_os().collect(),
        Launcher::Binary,
    ))
}
