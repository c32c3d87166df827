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
mod routing;

use std::io::Write as _;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use oxwsgi_config::ServerConfig;
use oxwsgi_config::apache;
use oxwsgi_config::cli::{CheckConfig, Cli, Command, StartServer};
use oxwsgi_config::resolve::{self, Environment};
use oxwsgi_process::{handoff, sockets, title};

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
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
    match cli.command {
        Command::StartServer(args) => {
            let given = matches
                .subcommand_matches("start-server")
                .map(explicit_options)
                .unwrap_or_default();
            start_server(&args, &given, role)
        }
        Command::CheckConfig(args) => check_config(&args),
    }
}

/// The options that go with `--config`: the rest is the configuration files' to say.
const WITH_CONFIG: &[&str] = &[
    "config",
    "define",
    "ignore_unsupported",
    "server_root",
    "log_to_terminal",
];

/// `start-server --config`: the server's configuration from Apache files. Problems are printed
/// as `file:line: ...` lines.
fn apache_server_config(args: &StartServer, given: &[String]) -> Result<ServerConfig, String> {
    if let Some(other) = given.iter().find(|id| !WITH_CONFIG.contains(&id.as_str())) {
        let option = match other.as_str() {
            "entry_point" => "an ENTRY_POINT".to_owned(),
            "entry_point_option" => "--entry-point".to_owned(),
            id => format!("--{}", id.replace('_', "-")),
        };
        return Err(format!(
            "{option} cannot be used with --config: the configuration files say what runs \
             (only --server-root, --log-to-terminal, --define and --ignore-unsupported go with it)"
        ));
    }
    let options = read_options(&args.define);
    let config = apache::read_config(&args.config, &options).map_err(|err| err.to_string())?;
    let checked = apache::check(&config, args.ignore_unsupported);
    let env = Environment::from_process().map_err(|err| err.to_string())?;
    let start = apache::StartOptions {
        server_root: args.server_root.as_ref().map(|root| {
            if root.is_absolute() {
                root.clone()
            } else {
                env.current_dir.join(root)
            }
        }),
        log_to_terminal: args.log_to_terminal,
    };
    let translated = if checked.has_errors() {
        Err(Vec::new())
    } else {
        apache::server_config(&config, &checked, &env, &start)
    };
    told(&checked, translated, "configuration")
}

/// Prints the check's warnings and errors and those of what was made from the files, and
/// gives what was made, or the count of errors (`what` names the files in it).
fn told<T>(
    checked: &apache::Report,
    made: Result<T, Vec<apache::Notice>>,
    what: &str,
) -> Result<T, String> {
    let mut notices: Vec<&apache::Notice> = checked
        .notices
        .iter()
        .filter(|n| n.severity != apache::Severity::Info)
        .collect();
    if let Err(errors) = &made {
        notices.extend(errors);
    }
    for notice in &notices {
        eprintln!("{notice}");
    }
    let errors = notices
        .iter()
        .filter(|n| n.severity == apache::Severity::Error)
        .count();
    made.map_err(|_| format!("the {what} has {errors} error(s); nothing was started"))
}

/// Applies the `--include-file`s on top of the command line's configuration, printing what
/// the files get wrong, by file and line.
fn include_files(
    args: &StartServer,
    env: &Environment,
    config: &mut ServerConfig,
) -> Result<(), String> {
    if args.include_file.is_empty() {
        return Ok(());
    }
    let options = read_options(&args.define);
    let files = apache::read_config(&args.include_file, &options).map_err(|err| err.to_string())?;
    let checked = apache::check(&files, args.ignore_unsupported);
    let applied = if checked.has_errors() {
        Err(Vec::new())
    } else {
        apache::apply_include(&files, &checked, env, config)
    };
    told(&checked, applied, "--include-file configuration")
}

fn read_options(defines: &[String]) -> apache::ReadOptions {
    apache::ReadOptions {
        defines: defines
            .iter()
            .map(|d| match d.split_once('=') {
                Some((name, value)) => (name.to_owned(), value.to_owned()),
                None => (d.clone(), String::new()),
            })
            .collect(),
        environment: None,
    }
}

/// `oxwsgi check-config`: reads and checks Apache configuration files; prints the problems
/// (standard error) and what would run (standard output).
fn check_config(args: &CheckConfig) -> ExitCode {
    let options = read_options(&args.defines);
    let config = match apache::read_config(&args.files, &options) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("oxwsgi: {err}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let mut report = apache::check(&config, args.ignore_unsupported);
    let mut would_run = None;
    if !report.has_errors() {
        // What httpd would run but start-server cannot yet: told, not an error of the files.
        let env = Environment::from_process().ok().unwrap_or_default();
        match apache::server_config(&config, &report, &env, &Default::default()) {
            Ok(resolved) => would_run = Some(routing::summary(&resolved)),
            Err(problems) => report
                .notices
                .extend(problems.into_iter().map(|mut notice| {
                    notice.severity = apache::Severity::Warning;
                    notice
                })),
        }
    }
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
    if let Some(would_run) = would_run {
        print!("{would_run}");
    }
    println!("Syntax OK");
    ExitCode::SUCCESS
}

/// The options given on the command line (not left at their defaults), by their ids.
fn explicit_options(matches: &clap::ArgMatches) -> Vec<String> {
    matches
        .ids()
        // clap also counts the derive's argument group (named after the struct) as given.
        .filter(|id| !id.as_str().starts_with(|c: char| c.is_ascii_uppercase()))
        .filter(|id| {
            matches.value_source(id.as_str()) == Some(clap::parser::ValueSource::CommandLine)
        })
        .map(|id| id.as_str().to_owned())
        .collect()
}

fn start_server(args: &StartServer, given: &[String], role: title::Role) -> ExitCode {
    let handed_over = std::env::var(handoff::VARIABLE)
        .ok()
        .filter(|_| role == title::Role::Supervisor);
    let resolved = if let Some(number) = handed_over {
        // Resolved once, before the exec that made this process the supervisor.
        handoff::take_over(&number)
            .map_err(|err| format!("cannot read the configuration handed over: {err}"))
    } else if args.config.is_empty() {
        Environment::from_process()
            .map_err(|err| err.to_string())
            .and_then(|env| {
                let mut config = resolve::start_server(args, &env).map_err(|e| e.to_string())?;
                include_files(args, &env, &mut config)?;
                Ok(config)
            })
    } else {
        apache_server_config(args, given)
    };
    let checked = resolved.and_then(|config| {
        if role != title::Role::Supervisor {
            // Certificates and keys as the workers will read them: a bad file stops the start
            // here, naming it, before anything listens.
            oxwsgi_worker::check_certificates(&config).map_err(|err| err.to_string())?;
        }
        Ok(config)
    });
    let config = match checked {
        Ok(config) => config,
        Err(err) => {
            if !err.is_empty() {
                eprintln!("oxwsgi: {err}");
            }
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if role != title::Role::Supervisor {
        // Become the supervisor under its own title, with the configuration resolved here;
        // `exec` returns only if it failed, and then this process simply goes on untitled.
        let mut supervisor = std::process::Command::new("/proc/self/exe");
        supervisor
            .arg0(title::SUPERVISOR)
            .args(std::env::args_os().skip(1));
        let handed = handoff::hand_over(&config);
        if let Ok(fd) = &handed {
            supervisor.env(handoff::VARIABLE, fd.as_raw_fd().to_string());
        }
        let _ = supervisor.exec();
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

    let internal = internal_sockets(&config)?;

    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(banner::banner(&config, &bound).as_bytes());
    let _ = stdout.flush();
    drop(stdout);

    let sockets = oxwsgi_supervisor::Sockets {
        listeners,
        internal,
    };
    oxwsgi_supervisor::run(config, sockets).map_err(|err| err.to_string())
}

/// Binds the unix socket of each group the front tier forwards to, owned by the front tier's
/// user: only it may connect.
fn internal_sockets(
    config: &ServerConfig,
) -> Result<Vec<Option<std::os::unix::net::UnixListener>>, String> {
    let front_user = config
        .groups
        .iter()
        .find(|g| g.role == oxwsgi_config::GroupRole::Front)
        .and_then(|g| g.run_as.as_ref())
        .map(|run_as| (run_as.uid, run_as.gid));
    config
        .groups
        .iter()
        .map(|group| {
            group
                .internal_socket
                .as_deref()
                .map(|path| sockets::bind_internal(path, &group.name, front_user))
                .transpose()
                .map_err(|err| err.to_string())
        })
        .collect()
}
