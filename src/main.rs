//! The `oxwsgi` binary: parse the command line, resolve the configuration, and run.
//!
//! Exit codes:
//!
//! * 0 — the server ran and stopped when asked;
//! * 1 — the server could not start or failed while running: the application did not load, a
//!   port could not be bound, a runtime error;
//! * 2 — the command line or the configuration is invalid (nothing was started).

mod banner;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser;
use oxwsgi_config::cli::{Cli, Command, StartServer};
use oxwsgi_config::resolve::{self, Environment};
use oxwsgi_config::{LogDestination, ServerConfig};
use oxwsgi_logging::notice;

/// The server could not start or stopped with an error.
const EXIT_FAILURE: u8 = 1;
/// The command line or configuration is invalid.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::StartServer(args) => start_server(&args),
    }
}

fn start_server(args: &StartServer) -> ExitCode {
    let config = match Environment::from_process().and_then(|env| resolve::start_server(args, &env))
    {
        Ok(config) => config,
        Err(err) => {
            eprintln!("oxwsgi: {err}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    oxwsgi_logging::init(config.logging.level);
    match run(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("oxwsgi: {message}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// Starts the server: application first, then sockets, so a broken application never takes a
/// port.
fn run(config: &ServerConfig) -> Result<(), String> {
    prepare_server_root(config)?;
    let worker = oxwsgi_worker::load(config, 0).map_err(|err| err.to_string())?;
    let listeners = config
        .listeners
        .iter()
        .map(oxwsgi_http_front::bind)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| err.to_string())?;
    let bound = listeners
        .iter()
        .map(|l| l.local_addr())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| format!("cannot read the bound address: {err}"))?;

    let mut stdout = std::io::stdout().lock();
    let _ =
        stdout.write_all(banner::banner(config, &bound, &worker.python_description()).as_bytes());
    let _ = stdout.flush();
    drop(stdout);

    if let LogDestination::File(path) = &config.logging.error_log {
        oxwsgi_logging::redirect_stderr_to(path)
            .map_err(|err| format!("cannot open the error log {}: {err}", path.display()))?;
    }
    for address in &bound {
        notice!(
            "oxwsgi/{} listening on {address}",
            env!("CARGO_PKG_VERSION")
        );
    }
    oxwsgi_worker::serve(worker, config, listeners).map_err(|err| err.to_string())
}

/// Creates the server root and its document root, as mod_wsgi-express does.
fn prepare_server_root(config: &ServerConfig) -> Result<(), String> {
    for dir in [&config.server_root, &config.document_root] {
        std::fs::create_dir_all(dir)
            .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    }
    Ok(())
}
