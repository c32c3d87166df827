//! The `oxwsgi` binary: one executable for every kind of oxwsgi process.
//!
//! * Run by a user, it parses the command line. `start-server` resolves the configuration and
//!   then executes itself again with the title `oxwsgi: supervisor`, so that `ps` shows what
//!   the process is; the supervisor binds the sockets, prints the banner and starts the
//!   workers.
//! * Executed by the supervisor with a worker title (`oxwsgi: worker 1 [localhost:8000]`), it
//!   is a worker: it reads its start-up data from standard input (see `oxwsgi_worker::run`).
//!
//! Exit status:
//!
//! * 0 — the server ran and stopped when asked (SIGTERM or SIGINT);
//! * 1 — the server could not start or could not go on: the application did not load, a port
//!   could not be bound, the workers kept crashing;
//! * 2 — the command line or the configuration is invalid (nothing was started).

#![deny(unsafe_code)]

mod banner;

use std::io::Write as _;
use std::os::unix::process::CommandExt;
use std::process::ExitCode;

use clap::Parser;
use oxwsgi_config::ServerConfig;
use oxwsgi_config::apache;
use oxwsgi_config::cli::{CheckConfig, Cli, Command, StartServer};
use oxwsgi_config::resolve::{self, Environment};
use oxwsgi_process::{sockets, title};

/// The server could not start, or stopped with an error.
const EXIT_FAILURE: u8 = 1;
/// The command line or configuration is invalid.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let arg0 = std::env::args_os()
        .next()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    let role = title::role(&arg0);
    title::set_short_name(role);
    if role == title::Role::Worker {
        return ExitCode::from(oxwsgi_worker::run().clamp(0, 255) as u8);
    }
    let cli = Cli::parse();
    match cli.command {
        Command::StartServer(args) => start_server(&args, role),
        Command::CheckConfig(args) => check_config(&args),
    }
}

/// `oxwsgi check-config`: reads and checks Apache configuration files; prints the problems
/// (standard error) and what would run (standard output).
fn check_config(args: &CheckConfig) -> ExitCode {
    let options = apache::ReadOptions {
        defines: args
            .defines
            .iter()
            .map(|d| match d.split_once('=') {
                Some((name, value)) => (name.to_owned(), value.to_owned()),
                None => (d.clone(), String::new()),
            })
            .collect(),
        environment: None,
    };
    let config = match apache::read_config(&args.files, &options) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("oxwsgi: {err}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let report = apache::check(&config, args.ignore_unsupported);
    for notice in &report.notices {
        if args.verbose || notice.severity != apache::Severity::Info {
            eprintln!("{notice}");
        }
    }
    if report.has_errors() {
        let errors = report
            .notices
            .iter()
            .filter(|n| n.severity == apache::Severity::Error)
            .count();
        eprintln!("oxwsgi: the configuration has {errors} error(s); nothing was started");
        return ExitCode::from(EXIT_USAGE);
    }
    print!("{}", report.summary());
    println!("Syntax OK");
    ExitCode::SUCCESS
}

fn start_server(args: &StartServer, role: title::Role) -> ExitCode {
    let config = match Environment::from_process().and_then(|env| resolve::start_server(args, &env))
    {
        Ok(config) => config,
        Err(err) => {
            eprintln!("oxwsgi: {err}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if role != title::Role::Supervisor {
        // Become the supervisor under its own title; `exec` returns only if it failed, and then
        // this process simply goes on untitled.
        let _ = std::process::Command::new("/proc/self/exe")
            .arg0(title::SUPERVISOR)
            .args(std::env::args_os().skip(1))
            .exec();
    }
    oxwsgi_logging::init(config.logging.level);
    match run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("oxwsgi: {message}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// Binds, prints the banner and supervises the workers until the server stops.
fn run(config: ServerConfig) -> Result<(), String> {
    for dir in [&config.server_root, &config.document_root] {
        std::fs::create_dir_all(dir)
            .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    }
    let listeners = config
        .listeners
        .iter()
        .map(sockets::bind)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| err.to_string())?;
    let bound = listeners
        .iter()
        .map(|l| l.local_addr())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| format!("cannot read the bound address: {err}"))?;

    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(banner::banner(&config, &bound).as_bytes());
    let _ = stdout.flush();
    drop(stdout);

    oxwsgi_supervisor::run(config, listeners).map_err(|err| err.to_string())
}
