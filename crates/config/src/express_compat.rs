//! The rest of mod_wsgi-express's `start-server` options (6.0.x), so that a command line
//! written for it (a Dockerfile, a Procfile, a systemd unit) starts oxwsgi unchanged.
//!
//! Each option keeps express's name and argument form (a flag, one value, a value repeated,
//! a float between 0 and 1), and is one of three kinds:
//!
//! * implemented: `--lang` (the old name of `--locale`), `--python-eggs` (the workers'
//!   `PYTHON_EGG_CACHE`), `--shell-executable` (the `#!` line of the control script
//!   setup-server writes) and `--rewrite-rules` (checked in the document root's `<Directory>`
//!   like an `--include-file`, so a `RewriteRule` in it is refused, or skipped with
//!   `--ignore-unsupported`, naming its line; applied by the `oxwsgi` command);
//! * accepted without effect: the options that tune Apache itself (its MPM, the sockets
//!   between its child processes and the daemons, the programs it runs) or features of
//!   express's that oxwsgi does differently; [`ExpressCompatArgs::notice`] names those given,
//!   each with why, in one line at start-up;
//! * refused: `--with-cgi` and `--with-php5` ([`ExpressCompatArgs::check`]): oxwsgi runs
//!   no CGI scripts and no PHP, and starting without them would serve the scripts' source.
//!
//! docs/express-options.md is the table of every express option.

use std::path::PathBuf;

use clap::Args;

use crate::error::ConfigError;

/// The `--help` heading of these options.
const HEADING: &str = "mod_wsgi-express compatibility";

/// Why an Apache MPM option does nothing here: oxwsgi sizes its workers from --processes and
/// --threads alone.
const MPM: &str = "sizes Apache's MPM child processes; oxwsgi has no front tier of Apache \
                   children: its --processes workers accept connections themselves";
/// Why an option about the channel between Apache and the daemons does nothing here.
const DAEMON_CHANNEL: &str = "tunes the socket between Apache's children and the daemon \
                              processes; oxwsgi's workers accept the client connection \
                              themselves, with no such hop";

/// The command line's mod_wsgi-express options not covered elsewhere. Values may start with
/// a hyphen (`--telemetry-options -CaptureHost`), as optparse takes the next argument whatever
/// it is.
#[derive(Debug, Clone, Default, Args)]
pub struct ExpressCompatArgs {
    /// The old name of --locale (mod_wsgi-express still accepts it); --locale wins when both
    /// are given [default: none].
    #[arg(long, value_name = "NAME", allow_hyphen_values = true, help_heading = HEADING)]
    pub lang: Option<String>,

    /// The directory Python eggs are unpacked into: the workers' PYTHON_EGG_CACHE, as
    /// mod_wsgi's python-eggs= [default: not set; mod_wsgi-express sets
    /// SERVER_ROOT/python-eggs].
    #[arg(long, value_name = "DIRECTORY-PATH", allow_hyphen_values = true, help_heading = HEADING)]
    pub python_eggs: Option<PathBuf>,

    /// The shell of the control script (SERVER_ROOT/apachectl) that setup-server writes: its
    /// #! line [default: /bin/sh].
    #[arg(long, value_name = "FILE-PATH", allow_hyphen_values = true, help_heading = HEADING)]
    pub shell_executable: Option<PathBuf>,

    /// mod_wsgi-express's file of mod_rewrite rules for the document root. oxwsgi has no
    /// mod_rewrite: the file is read like an --include-file in the document root's
    /// <Directory>, so a RewriteRule in it is refused naming its line (or skipped with a
    /// warning under --ignore-unsupported); an empty file, as express writes by default, is
    /// fine [default: none].
    #[arg(long, value_name = "FILE-PATH", allow_hyphen_values = true, help_heading = HEADING)]
    pub rewrite_rules: Option<PathBuf>,

    /// Refused: mod_wsgi-express's CGI support (.cgi scripts under the document root). oxwsgi
    /// runs WSGI applications only.
    #[arg(long, help_heading = HEADING)]
    pub with_cgi: bool,

    /// Refused: mod_wsgi-express's PHP 5 support (.php files under the document root). oxwsgi
    /// runs no PHP.
    #[arg(long, help_heading = HEADING)]
    pub with_php5: bool,

    /// No effect: mod_wsgi-express runs the application inside Apache's own child processes
    /// with it; oxwsgi always runs it in its worker processes (mod_wsgi's daemon mode, which
    /// express uses by default).
    #[arg(long, help_heading = HEADING)]
    pub embedded_mode: bool,

    /// No effect: serves mod_wsgi's bundled documentation at /__wsgi__/docs; oxwsgi ships no
    /// copy of it.
    #[arg(long, help_heading = HEADING)]
    pub enable_docs: bool,

    /// No effect: an option of older mod_wsgi-express (commented out in 6.0) to run Apache as
    /// a child forwarding signals; oxwsgi is always the foreground process and handles Ctrl-C
    /// and SIGTERM itself.
    #[arg(long, help_heading = HEADING)]
    pub isatty: bool,

    /// No effect: turns on mod_wsgi's internal trace messages (WSGIVerboseDebugging); oxwsgi's
    /// own are --log-level debug.
    #[arg(long, help_heading = HEADING)]
    pub verbose_debugging: bool,

    /// No effect: runs the mod_wsgi-telemetry ingester and web UI beside the application;
    /// oxwsgi's own metrics are --metrics-port and --server-status.
    #[arg(long, conflicts_with = "telemetry_service", help_heading = HEADING)]
    pub enable_telemetry: bool,

    /// No effect: where mod_wsgi pushes telemetry (unix:/path); oxwsgi's own metrics are
    /// --metrics-port and --server-status [default: none].
    #[arg(long, value_name = "TARGET", allow_hyphen_values = true, help_heading = HEADING)]
    pub telemetry_service: Option<String>,

    /// No effect: the port of the mod_wsgi-telemetry web UI [default: 8888].
    #[arg(long, value_name = "NUMBER", allow_hyphen_values = true, help_heading = HEADING)]
    pub telemetry_ui_port: Option<i64>,

    /// No effect: mod_wsgi's telemetry sampling interval [default: 1.0].
    #[arg(long, value_name = "SECONDS", allow_hyphen_values = true, help_heading = HEADING)]
    pub telemetry_interval: Option<f64>,

    /// No effect: a WSGITelemetryOptions line; may be repeated [default: none].
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true, help_heading = HEADING)]
    pub telemetry_options: Vec<String>,

    /// No effect: runs a free-threaded (PEP 703) Python without the GIL; oxwsgi's workers keep
    /// the GIL on, their thread pool and deadlock watchdog being built around one lock.
    #[arg(long, help_heading = HEADING)]
    pub free_threading: bool,

    /// No effect: skips destroying the Python interpreter when a process stops; oxwsgi's
    /// workers never destroy it (they run the atexit functions, then exit).
    #[arg(long, help_heading = HEADING)]
    pub orphan_interpreter: bool,

    /// No effect: the directory of the unix sockets between Apache's children and the daemon
    /// processes; a command-line oxwsgi has none [default: the server root].
    #[arg(long, value_name = "DIRECTORY-PATH", allow_hyphen_values = true, help_heading = HEADING)]
    pub socket_prefix: Option<PathBuf>,

    /// No effect: the buffer for response headers read from a daemon process, in bytes
    /// [default: 0].
    #[arg(long, value_name = "NUMBER", allow_hyphen_values = true, help_heading = HEADING)]
    pub header_buffer_size: Option<i64>,

    /// No effect: how much response Apache passes on from a daemon without a flush, in bytes
    /// [default: 0].
    #[arg(long, value_name = "NUMBER", allow_hyphen_values = true, help_heading = HEADING)]
    pub response_buffer_size: Option<i64>,

    /// No effect: how long Apache waits for more response data from a daemon before
    /// flushing; oxwsgi sends what the application yields as it comes [default: 5].
    #[arg(long, value_name = "MILLISECONDS", allow_hyphen_values = true, help_heading = HEADING)]
    pub response_flush_delay: Option<i64>,

    /// No effect: the socket buffer for data from the daemon processes [default: 0].
    #[arg(long, value_name = "NUMBER", allow_hyphen_values = true, help_heading = HEADING)]
    pub receive_buffer_size: Option<i64>,

    /// No effect: the socket buffer for data to the daemon processes [default: 0].
    #[arg(long, value_name = "NUMBER", allow_hyphen_values = true, help_heading = HEADING)]
    pub send_buffer_size: Option<i64>,

    /// No effect: Apache's children started at first, as a fraction (0 to 1) of
    /// --max-clients [default: by MPM].
    #[arg(
        long,
        value_name = "NUMBER",
        value_parser = fraction,
        allow_hyphen_values = true,
        help_heading = HEADING
    )]
    pub initial_workers: Option<f64>,

    /// No effect: the fewest idle Apache children, as a fraction (0 to 1) of --max-clients
    /// [default: by MPM].
    #[arg(
        long,
        value_name = "NUMBER",
        value_parser = fraction,
        allow_hyphen_values = true,
        help_heading = HEADING
    )]
    pub minimum_spare_workers: Option<f64>,

    /// No effect: the most idle Apache children, as a fraction (0 to 1) of --max-clients
    /// [default: by MPM].
    #[arg(
        long,
        value_name = "NUMBER",
        value_parser = fraction,
        allow_hyphen_values = true,
        help_heading = HEADING
    )]
    pub maximum_spare_workers: Option<f64>,

    /// No effect: the Apache MPM to prefer (event, worker, prefork); may be repeated
    /// [default: event, then worker, then prefork].
    #[arg(long, value_name = "NAME", allow_hyphen_values = true, help_heading = HEADING)]
    pub server_mpm: Vec<String>,

    /// No effect: the Apache httpd program; oxwsgi is the server [default: that of the
    /// build].
    #[arg(long, value_name = "FILE-PATH", allow_hyphen_values = true, help_heading = HEADING)]
    pub httpd_executable: Option<PathBuf>,

    /// No effect: the directory of Apache's modules [default: that of the build].
    #[arg(long, value_name = "DIRECTORY-PATH", allow_hyphen_values = true, help_heading = HEADING)]
    pub modules_directory: Option<PathBuf>,

    /// No effect: Apache's rotatelogs program; oxwsgi rotates its logs itself with
    /// --rotate-logs [default: that of the build].
    #[arg(long, value_name = "FILE-PATH", allow_hyphen_values = true, help_heading = HEADING)]
    pub rotatelogs_executable: Option<PathBuf>,

    /// No effect: runs Apache under gdb in debug mode; attach gdb to a worker instead (gdb -p
    /// PID).
    #[arg(long, help_heading = HEADING)]
    pub enable_gdb: bool,

    /// No effect: the gdb program of --enable-gdb [default: gdb].
    #[arg(long, value_name = "FILE-PATH", allow_hyphen_values = true, help_heading = HEADING)]
    pub gdb_executable: Option<PathBuf>,
}

/// Parses a fraction between 0 and 1, as mod_wsgi-express checks its worker percentages.
fn fraction(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("'{text}' is not a number"))?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err("the value needs to be within the range 0 to 1".to_owned())
    }
}

/// An option given that has no effect in oxwsgi, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoEffect {
    /// The option, as typed (`--server-mpm`).
    pub option: &'static str,
    /// Why it has none.
    pub reason: &'static str,
}

impl ExpressCompatArgs {
    /// Refuses the options whose feature oxwsgi does not provide: starting without it would
    /// serve what it was meant to run (a `.cgi` or `.php` file) as it is.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.with_cgi {
            return Err(ConfigError::Refused {
                option: "--with-cgi",
                reason: "oxwsgi runs WSGI applications only, not CGI scripts; serve them from \
                         a web server with mod_cgi",
            });
        }
        if self.with_php5 {
            return Err(ConfigError::Refused {
                option: "--with-php5",
                reason: "oxwsgi runs no PHP; serve .php files from a web server with PHP",
            });
        }
        Ok(())
    }

    /// The options given that have no effect, in `--help` order, each with why.
    pub fn without_effect(&self) -> Vec<NoEffect> {
        let flags = [
            (
                self.embedded_mode,
                "--embedded-mode",
                "oxwsgi always runs the application in its worker processes (daemon mode)",
            ),
            (
                self.enable_docs,
                "--enable-docs",
                "oxwsgi ships no copy of mod_wsgi's documentation",
            ),
            (
                self.isatty,
                "--isatty",
                "oxwsgi is always the foreground process and handles signals itself",
            ),
            (
                self.verbose_debugging,
                "--verbose-debugging",
                "mod_wsgi's internal tracing; use --log-level debug",
            ),
            (
                self.enable_telemetry,
                "--enable-telemetry",
                "mod_wsgi-telemetry is not run; oxwsgi's metrics are --metrics-port and \
                 --server-status",
            ),
            (
                self.free_threading,
                "--free-threading",
                "oxwsgi's workers keep the GIL on",
            ),
            (
                self.orphan_interpreter,
                "--orphan-interpreter",
                "oxwsgi's workers never destroy the interpreter",
            ),
            (
                self.enable_gdb,
                "--enable-gdb",
                "Apache is not run; attach gdb to a worker with gdb -p PID",
            ),
        ];
        let values = [
            (
                self.telemetry_service.is_some(),
                "--telemetry-service",
                "oxwsgi's metrics are --metrics-port and --server-status",
            ),
            (
                self.telemetry_ui_port.is_some(),
                "--telemetry-ui-port",
                "mod_wsgi-telemetry is not run",
            ),
            (
                self.telemetry_interval.is_some(),
                "--telemetry-interval",
                "mod_wsgi-telemetry is not run",
            ),
            (
                !self.telemetry_options.is_empty(),
                "--telemetry-options",
                "mod_wsgi-telemetry is not run",
            ),
            (
                self.socket_prefix.is_some(),
                "--socket-prefix",
                DAEMON_CHANNEL,
            ),
            (
                self.header_buffer_size.is_some(),
                "--header-buffer-size",
                DAEMON_CHANNEL,
            ),
            (
                self.response_buffer_size.is_some(),
                "--response-buffer-size",
                DAEMON_CHANNEL,
            ),
            (
                self.response_flush_delay.is_some(),
                "--response-flush-delay",
                DAEMON_CHANNEL,
            ),
            (
                self.receive_buffer_size.is_some(),
                "--receive-buffer-size",
                DAEMON_CHANNEL,
            ),
            (
                self.send_buffer_size.is_some(),
                "--send-buffer-size",
                DAEMON_CHANNEL,
            ),
            (self.initial_workers.is_some(), "--initial-workers", MPM),
            (
                self.minimum_spare_workers.is_some(),
                "--minimum-spare-workers",
                MPM,
            ),
            (
                self.maximum_spare_workers.is_some(),
                "--maximum-spare-workers",
                MPM,
            ),
            (!self.server_mpm.is_empty(), "--server-mpm", MPM),
            (
                self.httpd_executable.is_some(),
                "--httpd-executable",
                "oxwsgi is the server; Apache is not run",
            ),
            (
                self.modules_directory.is_some(),
                "--modules-directory",
                "oxwsgi is the server; Apache is not run",
            ),
            (
                self.rotatelogs_executable.is_some(),
                "--rotatelogs-executable",
                "oxwsgi rotates its logs itself (--rotate-logs)",
            ),
            (
                self.gdb_executable.is_some(),
                "--gdb-executable",
                "Apache is not run under gdb",
            ),
        ];
        flags
            .into_iter()
            .chain(values)
            .filter(|(given, _, _)| *given)
            .map(|(_, option, reason)| NoEffect { option, reason })
            .collect()
    }

    /// The one line that reports the options given without effect, or `None` when there is
    /// none: `oxwsgi: notice: mod_wsgi-express options without effect here: --a (why), ...`.
    pub fn notice(&self) -> Option<String> {
        let ignored = self.without_effect();
        if ignored.is_empty() {
            return None;
        }
        let list: Vec<String> = ignored
            .iter()
            .map(|NoEffect { option, reason }| format!("{option} ({reason})"))
            .collect();
        Some(format!(
            "oxwsgi: notice: mod_wsgi-express options without effect here: {}\n",
            list.join("; ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Line {
        #[command(flatten)]
        express: ExpressCompatArgs,
    }

    fn parse(args: &[&str]) -> Result<ExpressCompatArgs, clap::Error> {
        Line::try_parse_from(std::iter::once("oxwsgi").chain(args.iter().copied()))
            .map(|line| line.express)
    }

    #[test]
    fn nothing_given_means_no_notice() {
        assert_eq!(parse(&[]).unwrap().notice(), None);
    }

    #[test]
    fn the_notice_names_each_option_given_once_with_why() {
        let args = parse(&[
            "--server-mpm",
            "event",
            "--server-mpm",
            "worker",
            "--embedded-mode",
            "--response-flush-delay",
            "0",
            "--initial-workers",
            "0.5",
        ])
        .unwrap();
        let options: Vec<&str> = args.without_effect().iter().map(|n| n.option).collect();
        assert_eq!(
            options,
            [
                "--embedded-mode",
                "--response-flush-delay",
                "--initial-workers",
                "--server-mpm"
            ]
        );
        let notice = args.notice().unwrap();
        assert_eq!(notice.lines().count(), 1);
        assert_eq!(notice.matches("--server-mpm").count(), 1);
        assert!(notice.contains("--embedded-mode (oxwsgi always runs the application"));
    }

    #[test]
    fn worker_fractions_are_checked_as_express_does() {
        assert_eq!(
            parse(&["--maximum-spare-workers", "1"])
                .unwrap()
                .maximum_spare_workers,
            Some(1.0)
        );
        for bad in ["1.5", "-0.1", "half"] {
            let err = parse(&["--initial-workers", bad]).unwrap_err();
            assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
        }
    }

    #[test]
    fn telemetry_service_and_enable_telemetry_exclude_each_other() {
        let err = parse(&["--enable-telemetry", "--telemetry-service", "unix:/t"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn cgi_and_php_are_refused_with_a_reason() {
        let err = parse(&["--with-cgi"]).unwrap().check().unwrap_err();
        assert_eq!(
            err.to_string(),
            "--with-cgi is refused: oxwsgi runs WSGI applications only, not CGI scripts; \
             serve them from a web server with mod_cgi"
        );
        let err = parse(&["--with-php5"]).unwrap().check().unwrap_err();
        assert!(err.to_string().starts_with("--with-php5 is refused: "));
        assert!(parse(&["--embedded-mode"]).unwrap().check().is_ok());
    }

    /// `start-server` with `extra`, resolved in the temporary directory.
    fn resolve(extra: &[&str]) -> Result<crate::ServerConfig, ConfigError> {
        let argv = ["oxwsgi", "start-server"].iter().chain(extra).copied();
        let crate::cli::Command::StartServer(args) = crate::cli::Cli::parse_from(argv).command
        else {
            panic!("not start-server")
        };
        let env = crate::resolve::Environment {
            current_dir: std::env::temp_dir(),
            uid: 1000,
            ..Default::default()
        };
        crate::resolve::start_server(&args, &env)
    }

    fn start_server(extra: &[&str]) -> Result<Box<crate::cli::StartServer>, clap::Error> {
        let argv = ["oxwsgi", "start-server"].iter().chain(extra).copied();
        match crate::cli::Cli::try_parse_from(argv)?.command {
            crate::cli::Command::StartServer(args) => Ok(args),
            _ => panic!("not start-server"),
        }
    }

    #[test]
    fn the_command_line_parses_as_optparse_does() {
        // Given again, an option's last value wins; a flag may be repeated.
        let args = start_server(&["--port", "80", "--access-log", "--port", "8000"]).unwrap();
        assert_eq!(args.port, 8000);
        assert!(
            start_server(&["--access-log", "--access-log"])
                .unwrap()
                .access_log
        );
        // Repeatable options still collect every value, pairs included.
        let args = start_server(&[
            "--url-alias",
            "/a",
            "a",
            "--python-path",
            "/p",
            "--url-alias",
            "/b",
            "b",
            "--python-path",
            "/q",
        ])
        .unwrap();
        assert_eq!(args.url_alias, ["/a", "a", "/b", "b"]);
        assert_eq!(args.python_path.len(), 2);
        let args = start_server(&["--server-mpm", "event", "--server-mpm", "worker"]).unwrap();
        assert_eq!(args.express.server_mpm, ["event", "worker"]);
        // A unique prefix of a long option is that option; an ambiguous one is an error.
        // (`--proc` is ambiguous: --processes, --process-group, --process-name.)
        let args = start_server(&["--processe", "4", "--thr", "10"]).unwrap();
        assert_eq!((args.processes, args.threads), (Some(4), 10));
        let err = start_server(&["--ser", "x"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::UnknownArgument);
    }

    #[test]
    fn lang_is_the_locale_unless_locale_is_given() {
        assert_eq!(
            resolve(&["--lang", "en_GB.UTF-8"]).unwrap().locale,
            "en_GB.UTF-8"
        );
        let both = resolve(&["--lang", "en_GB.UTF-8", "--locale", "C.UTF-8"]).unwrap();
        assert_eq!(both.locale, "C.UTF-8");
    }

    #[test]
    fn python_eggs_is_the_groups_egg_cache_made_absolute() {
        let config = resolve(&["--python-eggs", "eggs"]).unwrap();
        let expected = std::env::temp_dir().join("eggs");
        assert_eq!(config.groups[0].python.egg_cache, Some(expected));
        assert_eq!(resolve(&[]).unwrap().groups[0].python.egg_cache, None);
    }

    #[test]
    fn resolving_refuses_cgi() {
        let err = resolve(&["--with-cgi"]).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Refused {
                option: "--with-cgi",
                ..
            }
        ));
    }

    #[test]
    fn implemented_options_are_not_reported() {
        let args = parse(&[
            "--lang",
            "C.UTF-8",
            "--python-eggs",
            "/tmp/eggs",
            "--shell-executable",
            "/bin/bash",
            "--rewrite-rules",
            "rewrite.conf",
        ])
        .unwrap();
        assert_eq!(args.notice(), None);
        assert_eq!(args.lang.as_deref(), Some("C.UTF-8"));
    }
}
