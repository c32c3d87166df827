//! What the `oxwsgi` command does, whichever way oxwsgi was installed: the binary's `main` and
//! the Python package's console script both call [`main`] with the command line and the
//! [`Launcher`] that says how oxwsgi's processes are started.
//!
//! * Run by a user, it parses the command line. `start-server` resolves the configuration,
//!   then becomes the supervisor, titled `oxwsgi: supervisor` in `ps`, which binds the sockets,
//!   prints the banner and starts the workers. The binary executes itself again with that title
//!   as `argv[0]`; the Python package stays in the same process and writes its title over the
//!   argument area instead (the interpreter is already running there, idle: re-executing it
//!   would only start another idle interpreter).
//! * Executed by the supervisor with a worker title (`oxwsgi: worker 1 [localhost:8000]`), the
//!   binary is a worker: it reads its start-up data from standard input (see
//!   `oxwsgi_worker::run`). The Python package's workers enter through [`worker`].
//!
//! Exit status:
//!
//! * 0 — the server ran and stopped when asked (SIGTERM or SIGINT);
//! * 1 — the server could not start or could not go on: the application did not load, a port
//!   could not be bound, the workers kept crashing;
//! * 2 — the command line or the configuration is invalid (nothing was started).

#![deny(unsafe_code)]

mod banner;
mod rewrite_rules;
mod routing;
mod setup_server;

use std::ffi::OsString;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;

use clap::{CommandFactory, FromArgMatches};
use oxwsgi_config::ServerConfig;
use oxwsgi_config::apache;
use oxwsgi_config::cli::{CheckConfig, Cli, Command, StartServer};
use oxwsgi_config::resolve::{self, Environment};
use oxwsgi_process::{Launcher, envvars_script, handoff, sockets, title};
pub use oxwsgi_wsgi_bridge::Startup;

/// The server could not start, or stopped with an error.
const EXIT_FAILURE: u8 = 1;
/// The command line or configuration is invalid.
const EXIT_USAGE: u8 = 2;

/// Runs the `oxwsgi` command with `args` (the program name first); returns the exit status.
///
/// With [`Launcher::Binary`], `args[0]` may be a process title that the binary gave itself:
/// the supervisor's, or a worker's (then this process serves as a worker).
pub fn main(args: Vec<OsString>, launcher: Launcher) -> u8 {
    let role = match &launcher {
        Launcher::Binary => {
            let arg0 = args
                .first()
                .map(|a| a.to_string_lossy().into_owned())
                .unwrap_or_default();
            let role = title::role(&arg0);
            title::set_short_name(role);
            role
        }
        // The interpreter runs the console script; workers come in through `worker`.
        Launcher::Python(_) => title::Role::Command,
    };
    if matches!(role, title::Role::Worker | title::Role::Service) {
        return worker(Startup::Embedded);
    }
    let matches = match Cli::command().try_get_matches_from(&args) {
        Ok(matches) => matches,
        Err(err) => return clap_exit(&err),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(err) => return clap_exit(&err),
    };
    match cli.command {
        Command::StartServer(args_of) => {
            let given = matches
                .subcommand_matches("start-server")
                .map(explicit_options)
                .unwrap_or_default();
            start_server(&args_of, &given, role, &args, launcher)
        }
        Command::SetupServer(mut args_of) => {
            let given = matches
                .subcommand_matches("setup-server")
                .map(explicit_options)
                .unwrap_or_default();
            args_of.setup_only = true;
            start_server(&args_of, &given, role, &args, launcher)
        }
        Command::CheckConfig(args) => check_config(&args),
    }
}

/// Runs this process as a worker whose start-up data is on standard input; returns its exit
/// status. `startup` says whether Python is to be started here, or is already running (the
/// interpreter that executed the Python package's bootstrap).
pub fn worker(startup: Startup) -> u8 {
    oxwsgi_worker::run(startup).clamp(0, 255) as u8
}

/// Prints clap's message (help, version or a usage error) where clap would, and gives the exit
/// status clap would exit with.
fn clap_exit(err: &clap::Error) -> u8 {
    let _ = err.print();
    err.exit_code().clamp(0, 255) as u8
}

/// The options that go with `--config`: the rest is the configuration files' to say.
const WITH_CONFIG: &[&str] = &[
    "config",
    "define",
    "ignore_unsupported",
    "server_root",
    "log_to_terminal",
    "setup_only",
    "envvars_script",
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
fn check_config(args: &CheckConfig) -> u8 {
    if let Some(file) = &args.from_setup {
        return setup_server::configtest(file);
    }
    let options = read_options(&args.defines);
    let config = match apache::read_config(&args.files, &options) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("oxwsgi: {err}");
            return EXIT_USAGE;
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
        return EXIT_USAGE;
    }
    print!("{}", report.summary());
    if let Some(would_run) = would_run {
        print!("{would_run}");
    }
    println!("Syntax OK");
    0
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

fn start_server(
    args: &StartServer,
    given: &[String],
    role: title::Role,
    argv: &[OsString],
    launcher: Launcher,
) -> u8 {
    let handed_over = std::env::var(handoff::VARIABLE)
        .ok()
        .filter(|_| role == title::Role::Supervisor);
    let resolved = if let Some(number) = handed_over {
        // Resolved once, before the exec that made this process the supervisor.
        handoff::take_over(&number)
            .map_err(|err| format!("cannot read the configuration handed over: {err}"))
    } else if let Err(err) = setup_server::check_options(args, given) {
        Err(err)
    } else if let Some(Err(err)) = sourced_first(args, argv, &launcher) {
        Err(err)
    } else if let Some(file) = &args.from_setup {
        setup_server::load(file)
    } else if args.config.is_empty() {
        Environment::from_process()
            .map_err(|err| err.to_string())
            .and_then(|env| {
                let mut config = resolve::start_server(args, &env).map_err(|e| e.to_string())?;
                include_files(args, &env, &mut config)?;
                rewrite_rules::apply(args, &env, &mut config)?;
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
        if let Launcher::Python(python) = &launcher {
            python.check(&config).map_err(|err| err.to_string())?;
        }
        Ok(config)
    });
    let config = match checked {
        Ok(config) => config,
        Err(err) => {
            if !err.is_empty() {
                eprintln!("oxwsgi: {err}");
            }
            return EXIT_USAGE;
        }
    };
    // mod_wsgi-express's options that tune Apache itself: named once, with why.
    let notice = args.express.notice();
    if args.setup_only {
        if let Some(notice) = &notice {
            eprint!("{notice}");
        }
        return setup_server::write(args, argv, &config, &launcher);
    }
    if matches!(launcher, Launcher::Python(_)) {
        // No exec: the interpreter stays, idle, and this process is titled as the supervisor.
        let _ = title::set(title::SUPERVISOR, title::Role::Supervisor);
    } else if role != title::Role::Supervisor {
        // Become the supervisor under its own title, with the configuration resolved here;
        // `exec` returns only if it failed, and then this process simply goes on untitled.
        let mut supervisor = std::process::Command::new("/proc/self/exe");
        supervisor.arg0(title::SUPERVISOR).args(argv.iter().skip(1));
        let handed = handoff::hand_over(&config);
        if let Ok(fd) = &handed {
            supervisor.env(handoff::VARIABLE, fd.as_raw_fd().to_string());
        }
        let _ = supervisor.exec();
    }
    if let Some(name) = &config.process_name {
        // mod_wsgi-express's --process-name: what ps shows for the server's parent process.
        let _ = title::set(name, title::Role::Supervisor);
    }
    oxwsgi_logging::init(config.logging.level, config.logging.error_format.as_deref());
    match run(config, launcher, notice) {
        Ok(()) => 0,
        Err(message) => {
            // Through the log's descriptor, so that the start-up log says why too.
            oxwsgi_logging::startup::print_error(&format!("oxwsgi: {message}\n"));
            EXIT_FAILURE
        }
    }
}

/// `--envvars-script` without a setup: this command executes itself again with the
/// environment the script ends with, before anything is resolved (with a setup, the control
/// script written sources it instead). Returns only on an error.
fn sourced_first(
    args: &StartServer,
    argv: &[OsString],
    launcher: &Launcher,
) -> Option<Result<(), String>> {
    let script = args.envvars_script.as_ref().filter(|_| !args.setup_only)?;
    if std::env::var_os(envvars_script::SOURCED).is_some() {
        // This is the command executed again, in the script's environment.
        return None;
    }
    let environment = match envvars_script::source(script) {
        Ok(environment) => environment,
        Err(err) => return Some(Err(err.to_string())),
    };
    let mut again = match launcher {
        Launcher::Binary => {
            let mut command = std::process::Command::new("/proc/self/exe");
            if let Some(arg0) = argv.first() {
                command.arg0(arg0);
            }
            command
        }
        Launcher::Python(python) => {
            let mut command = std::process::Command::new(&python.executable);
            command.args(["-m", "oxwsgi"]);
            command
        }
    };
    again
        .args(argv.iter().skip(1))
        .env_clear()
        .envs(environment)
        .env(envvars_script::SOURCED, script);
    let err = again.exec();
    Some(Err(format!(
        "cannot start again with the environment of the --envvars-script {}: {err}",
        script.display()
    )))
}

/// Binds, prints the banner and supervises the workers until the server stops.
fn run(config: ServerConfig, launcher: Launcher, notice: Option<String>) -> Result<(), String> {
    for dir in [&config.server_root, &config.document_root] {
        std::fs::create_dir_all(dir)
            .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    }
    if let Some(path) = &config.log_files.startup_log {
        // Until every worker serves (the supervisor ends it then), or the start fails (a
        // port in use, an application that cannot load: the reason is written there too).
        if let Err(err) = oxwsgi_logging::startup::begin(path) {
            oxwsgi_logging::startup::print_error(&format!(
                "oxwsgi: cannot write the start-up log {}: {err}\n",
                path.display()
            ));
        }
    }
    // Bound here, or passed by socket activation (systemd's oxwsgi.socket).
    let listeners = sockets::bind_all(&config.listeners).map_err(|err| err.to_string())?;
    let bound = listeners
        .iter()
        .map(|l| match l {
            sockets::Bound::Tcp(socket) | sockets::Bound::Activated(socket) => socket.local_addr(),
            // The banner names a unix socket by its path, from the configuration.
            sockets::Bound::Unix(_) => Ok(std::net::SocketAddr::from(([0, 0, 0, 0], 0))),
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| format!("cannot read the bound address: {err}"))?;

    let internal = internal_sockets(&config)?;
    let metrics = metrics_listener(&config)?;
    let metrics_address = metrics.as_ref().and_then(|l| l.local_addr().ok());

    oxwsgi_logging::startup::print(&format!(
        "{}{}",
        banner::banner(&config, &bound, &launcher),
        banner::operations(&config, metrics_address)
    ));
    if let Some(notice) = notice {
        oxwsgi_logging::startup::print(&notice);
    }

    let sockets = oxwsgi_supervisor::Sockets {
        listeners,
        internal,
        metrics,
    };
    oxwsgi_supervisor::run(config, sockets, launcher).map_err(|err| err.to_string())
}

/// Binds and listens on the metrics listener (`--metrics-port`): the supervisor serves it
/// itself, from the start (`/ready` says 503 until the workers serve).
fn metrics_listener(config: &ServerConfig) -> Result<Option<std::net::TcpListener>, String> {
    let Some(metrics) = &config.operations.metrics else {
        return Ok(None);
    };
    let listener = sockets::bind(&oxwsgi_config::ListenerConfig {
        host: metrics.host.clone(),
        port: metrics.port,
        backlog: 128,
        tls: None,
        http2: false,
        unix: None,
    })
    .map_err(|err| format!("the metrics listener (--metrics-port): {err}"))?;
    sockets::listen(&listener, 128)
        .map_err(|err| format!("the metrics listener (--metrics-port): cannot listen: {err}"))?;
    Ok(Some(listener))
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
