//! `oxwsgi setup-server` (and `start-server --setup-only`): mod_wsgi-express's command that
//! writes a server root to run later, instead of running now.
//!
//! The configuration is resolved and checked exactly as `start-server` does (the same errors,
//! before anything is written); then the server root gets:
//!
//! * `oxwsgi.json`: the resolved configuration ([`oxwsgi_process::saved`]), which
//!   `start-server --from-setup FILE` runs as it was resolved (express's `httpd.conf`);
//! * `apachectl`: the control script, with express's arguments (`start`, `stop`, `restart`,
//!   `graceful`, `graceful-stop`, `configtest`, `status`, and `start -DFOREGROUND`);
//! * `envvars`: sourced by the control script before the server starts (empty, or
//!   `. FILE-PATH` with `--envvars-script`), as express writes it;
//! * `oxwsgi.service` and `oxwsgi.socket`: systemd units (`Type=notify`, reload by SIGHUP, the
//!   listeners for socket activation).
//!
//! Then the banner is printed, with express's `Control Script` line, and nothing is started.

use std::ffi::OsString;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use oxwsgi_config::cli::StartServer;
use oxwsgi_config::{AppEntry, ListenerConfig, MountTarget, ServerConfig};
use oxwsgi_process::{Launcher, saved};

use crate::{EXIT_FAILURE, EXIT_USAGE};

/// The control script's name in the server root (express's).
const CONTROL_SCRIPT: &str = "apachectl";
/// The environment script's name in the server root (express's).
const ENVVARS: &str = "envvars";
/// The systemd service unit's name in the server root.
const SERVICE_UNIT: &str = "oxwsgi.service";
/// The systemd socket unit's name in the server root.
const SOCKET_UNIT: &str = "oxwsgi.socket";

/// What is refused before anything is resolved: `--from-setup` with other options (the saved
/// configuration is what runs).
pub(crate) fn check_options(args: &StartServer, given: &[String]) -> Result<(), String> {
    if args.from_setup.is_some() {
        if let Some(other) = given.iter().find(|id| id.as_str() != "from_setup") {
            let option = match other.as_str() {
                "entry_point" => "an ENTRY_POINT".to_owned(),
                id => format!("--{}", id.replace('_', "-")),
            };
            return Err(format!(
                "{option} cannot be used with --from-setup: the saved configuration is what \
                 runs; run `oxwsgi setup-server` again to change it"
            ));
        }
    }
    Ok(())
}

/// `start-server --from-setup FILE`: the configuration setup-server saved.
pub(crate) fn load(file: &Path) -> Result<ServerConfig, String> {
    saved::load(file).map_err(|err| err.to_string())
}

/// `check-config --from-setup FILE` (the control script's `configtest`): the saved
/// configuration can be read by this oxwsgi, its certificates and keys load, and the files it
/// names are there. Prints `Syntax OK` as `apachectl configtest` does.
pub(crate) fn configtest(file: &Path) -> u8 {
    let checked = load(file).and_then(|config| {
        oxwsgi_worker::check_certificates(&config).map_err(|err| err.to_string())?;
        missing_files(&config)?;
        Ok(config)
    });
    match checked {
        Ok(config) => {
            print!("{}", crate::routing::summary(&config));
            println!("Syntax OK");
            0
        }
        Err(err) => {
            eprintln!("oxwsgi: {err}");
            EXIT_USAGE
        }
    }
}

/// The files the configuration runs that are no longer there.
fn missing_files(config: &ServerConfig) -> Result<(), String> {
    for mount in &config.mounts {
        if let MountTarget::Wsgi(app) = &mount.target {
            if let AppEntry::Script(path) | AppEntry::Paste(path) = &app.entry {
                if !path.is_file() {
                    return Err(format!(
                        "{} is no longer there (the {} at {})",
                        path.display(),
                        app.entry.describe(),
                        mount.prefix
                    ));
                }
            }
        }
    }
    for group in &config.groups {
        if let Some(home) = &group.python.home {
            if !home.path().is_dir() {
                return Err(format!(
                    "the Python home {} is no longer there",
                    home.path().display()
                ));
            }
        }
    }
    Ok(())
}

/// Writes the server root for `config` (resolved from `argv`) and prints the banner.
pub(crate) fn write(
    args: &StartServer,
    argv: &[OsString],
    config: &ServerConfig,
    launcher: &Launcher,
) -> u8 {
    match write_files(args, argv, config, launcher) {
        Ok(written) => {
            let addresses: Vec<SocketAddr> = config
                .listeners
                .iter()
                .map(|l| SocketAddr::from(([0, 0, 0, 0], l.port)))
                .collect();
            let banner = crate::banner::banner(config, &addresses, launcher);
            print!("{}", with_setup_lines(&banner, &written));
            0
        }
        Err(err) => {
            eprintln!("oxwsgi: {err}");
            EXIT_FAILURE
        }
    }
}

/// What was written where, for the banner.
struct Written {
    config: PathBuf,
    envvars: PathBuf,
    control_script: PathBuf,
    service: PathBuf,
    socket: Option<PathBuf>,
}

fn write_files(
    args: &StartServer,
    argv: &[OsString],
    config: &ServerConfig,
    launcher: &Launcher,
) -> Result<Written, String> {
    let root = &config.server_root;
    for dir in [root, &config.document_root] {
        std::fs::create_dir_all(dir)
            .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    }
    let write = |name: &str, contents: &str, mode: u32| -> Result<PathBuf, String> {
        let path = root.join(name);
        saved::write_whole(&path, contents.as_bytes(), mode)
            .map_err(|err| format!("cannot write {}: {err}", path.display()))?;
        Ok(path)
    };

    let command: Vec<String> = argv
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let config_file = root.join(saved::FILE_NAME);
    saved::save(&config_file, config, &command)
        .map_err(|err| format!("cannot write {}: {err}", config_file.display()))?;

    let envvars = root.join(ENVVARS);
    let envvars_shown = match &args.envvars_script {
        Some(script) => {
            let script = std::path::absolute(script)
                .map_err(|err| format!("{}: {err}", script.display()))?;
            write(ENVVARS, &format!(". {}\n", shell_quote(&script)), 0o644)?;
            script
        }
        None => {
            if !envvars.is_file() {
                write(ENVVARS, "", 0o644)?;
            }
            envvars
        }
    };

    let oxwsgi = oxwsgi_command(argv, launcher)?;
    let control_script = write(
        CONTROL_SCRIPT,
        &control_script(config, &oxwsgi, &command).replacen("#!/bin/sh", &shebang(args), 1),
        0o755,
    )?;
    let service = write(
        SERVICE_UNIT,
        &service_unit(config, &control_script, &command),
        0o644,
    )?;
    let socket = match socket_unit(config) {
        Some(unit) => Some(write(SOCKET_UNIT, &unit, 0o644)?),
        None => {
            // A port the kernel picks at start cannot be opened by systemd beforehand.
            let _ = std::fs::remove_file(root.join(SOCKET_UNIT));
            None
        }
    };
    Ok(Written {
        config: config_file,
        envvars: envvars_shown,
        control_script,
        service,
        socket,
    })
}

/// The banner with the setup's lines: `Server Conf` after `Server Root`, and the files to run
/// it with after the logs, where mod_wsgi-express puts them.
fn with_setup_lines(banner: &str, written: &Written) -> String {
    let line = |label: &str, value: &Path| format!("{label:<19}: {}\n", value.display());
    let mut setup = line("Environ Variables", &written.envvars);
    setup += &line("Control Script", &written.control_script);
    setup += &line("Systemd Service", &written.service);
    if let Some(socket) = &written.socket {
        setup += &line("Systemd Socket", socket);
    }
    let mut out = String::new();
    let mut placed = false;
    for banner_line in banner.lines() {
        if !placed
            && (banner_line.starts_with("Application") || banner_line.starts_with("URL Alias"))
        {
            out += &setup;
            placed = true;
        }
        out += banner_line;
        out.push('\n');
        if banner_line.starts_with("Server Root") {
            out += &line("Server Conf", &written.config);
        }
    }
    if !placed {
        out += &setup;
    }
    out
}

/// The command that runs this oxwsgi again: this executable for the binary; for the Python
/// package, its interpreter running the console script it was started as (or `-m oxwsgi`).
fn oxwsgi_command(argv: &[OsString], launcher: &Launcher) -> Result<Vec<PathBuf>, String> {
    match launcher {
        Launcher::Binary => {
            let exe = std::env::current_exe()
                .map_err(|err| format!("cannot find the oxwsgi executable: {err}"))?;
            // This is `oxwsgi-embedded`; the `oxwsgi` launcher installed beside it is the
            // command, which explains a missing libpython (src/launcher.rs).
            let launcher = exe.with_file_name("oxwsgi");
            let named_embedded = exe
                .file_name()
                .is_some_and(|name| name == "oxwsgi-embedded");
            Ok(vec![if named_embedded && launcher.is_file() {
                launcher
            } else {
                exe
            }])
        }
        Launcher::Python(python) => {
            let script = argv
                .first()
                .map(PathBuf::from)
                .filter(|path| path.is_file())
                .and_then(|path| std::path::absolute(path).ok());
            Ok(match script {
                Some(script) => vec![python.executable.clone(), script],
                None => vec![
                    python.executable.clone(),
                    PathBuf::from("-m"),
                    PathBuf::from("oxwsgi"),
                ],
            })
        }
    }
}

/// `value` as one word for the shell.
fn shell_quote(value: &Path) -> String {
    shell_quote_str(&value.to_string_lossy())
}

fn shell_quote_str(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// The longest a stop may take: the slowest group's graceful and shutdown timeouts, after
/// which the supervisor has killed what was left, and a margin for it to exit.
fn stop_timeout(config: &ServerConfig) -> u64 {
    let longest = config
        .groups
        .iter()
        .map(|g| (g.lifecycle.graceful_timeout + g.lifecycle.shutdown_timeout).as_secs())
        .max()
        .unwrap_or(20);
    longest + 10
}

/// The first URL the server answers on.
fn server_url(config: &ServerConfig) -> String {
    config
        .listeners
        .first()
        .map(|listener| {
            let host = listener.host.as_deref().unwrap_or(&config.server_name);
            let scheme = if listener.tls.is_some() {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{host}:{}/", listener.port)
        })
        .unwrap_or_default()
}

/// The control script's `#!` line: mod_wsgi-express's --shell-executable, else /bin/sh.
fn shebang(args: &StartServer) -> String {
    let shell = args.express.shell_executable.as_deref();
    format!(
        "#!{}",
        shell.map_or("/bin/sh".into(), |s| s.to_string_lossy())
    )
}

/// The control script: mod_wsgi-express's `apachectl` arguments, for oxwsgi's supervisor.
fn control_script(config: &ServerConfig, oxwsgi: &[PathBuf], command: &[String]) -> String {
    let error_log = match &config.logging.error_log {
        oxwsgi_config::LogDestination::File(path) => shell_quote(path),
        oxwsgi_config::LogDestination::Terminal => "''".to_owned(),
    };
    let working_directory = config
        .groups
        .first()
        .map(|g| g.python.working_directory.clone())
        .unwrap_or_else(|| config.server_root.clone());
    let oxwsgi: Vec<String> = oxwsgi.iter().map(|p| shell_quote(p)).collect();
    let written_for: Vec<String> = command.iter().map(|a| shell_quote_str(a)).collect();
    CONTROL_SCRIPT_TEMPLATE
        .replace("@VERSION@", env!("CARGO_PKG_VERSION"))
        .replace("@COMMAND@", &written_for.join(" ").replace('\n', " "))
        .replace("@OXWSGI@", &oxwsgi.join(" "))
        .replace("@SERVER_ROOT@", &shell_quote(&config.server_root))
        .replace(
            "@SERVER_CONF@",
            &shell_quote(&config.server_root.join(saved::FILE_NAME)),
        )
        .replace("@PID_FILE@", &shell_quote(&config.pid_file))
        .replace("@ERROR_LOG@", &error_log)
        .replace("@WORKING_DIRECTORY@", &shell_quote(&working_directory))
        .replace("@STOP_TIMEOUT@", &stop_timeout(config).to_string())
        .replace("@SERVER_URL@", &shell_quote_str(&server_url(config)))
}

const CONTROL_SCRIPT_TEMPLATE: &str = r#"#!/bin/sh
# The control script of an oxwsgi server, written by `oxwsgi setup-server` (oxwsgi @VERSION@)
# for: @COMMAND@
#
# Its arguments are those of mod_wsgi-express's apachectl:
#
#   apachectl start                 start the server in the background
#   apachectl start -DFOREGROUND    start it in the foreground (what oxwsgi.service runs)
#   apachectl stop                  stop it: requests in progress finish first (SIGTERM)
#   apachectl graceful-stop         the same: oxwsgi always lets requests finish
#   apachectl graceful              restart the workers one by one, new ones first (SIGHUP):
#                                   no request is lost; the configuration stays the one the
#                                   server started with
#   apachectl restart               stop, then start: runs the configuration saved now
#                                   (after `oxwsgi setup-server` was run again)
#   apachectl configtest            check the saved configuration
#   apachectl status                whether the server runs (exit status 0) or not (3)
#
# The envvars script next to this one is sourced first: set the server's environment there.

OXWSGI_SERVER_ROOT=@SERVER_ROOT@
OXWSGI_SERVER_CONF=@SERVER_CONF@
OXWSGI_PID_FILE=@PID_FILE@
OXWSGI_ERROR_LOG=@ERROR_LOG@
OXWSGI_WORKING_DIRECTORY=@WORKING_DIRECTORY@
OXWSGI_STOP_TIMEOUT=@STOP_TIMEOUT@
OXWSGI_SERVER_URL=@SERVER_URL@

ACMD="$1"

if test -f "$OXWSGI_SERVER_ROOT/envvars"; then
    . "$OXWSGI_SERVER_ROOT/envvars"
fi

cd "$OXWSGI_WORKING_DIRECTORY" || exit 1

# Whether process $1 is an oxwsgi server (not a process that reused its pid, nor one that
# has exited and waits to be reaped).
is_oxwsgi() {
    if test -d /proc/self; then
        grep -q oxwsgi "/proc/$1/cmdline" 2>/dev/null
    else
        kill -0 "$1" 2>/dev/null
    fi
}

# Whether process $1, a child of this script, has ended (or only waits to be reaped).
has_ended() {
    if test -r "/proc/$1/stat"; then
        test "$(sed 's/^.*) \(.\).*$/\1/' "/proc/$1/stat" 2>/dev/null)" = Z
    elif test -d /proc/self; then
        return 0
    else
        ! kill -0 "$1" 2>/dev/null
    fi
}

# Prints the pid of the running server, from the pid file; fails when it does not run.
running_pid() {
    pid=$(cat "$OXWSGI_PID_FILE" 2>/dev/null) || return 1
    case $pid in
        '' | *[!0-9]*) return 1 ;;
    esac
    is_oxwsgi "$pid" || return 1
    echo "$pid"
}

not_running() {
    if test -f "$OXWSGI_PID_FILE"; then
        echo "oxwsgi (pid $(cat "$OXWSGI_PID_FILE" 2>/dev/null)?) not running"
    else
        echo "oxwsgi (no pid file) not running"
    fi
}

start_server() {
    if pid=$(running_pid); then
        echo "oxwsgi (pid $pid) already running"
        test "$1" != foreground
        return
    fi
    rm -f "$OXWSGI_PID_FILE"
    if test "$1" = foreground; then
        exec @OXWSGI@ start-server --from-setup "$OXWSGI_SERVER_CONF"
    fi
    # In the background, in a session of its own (no terminal's signals reach it), its output
    # appended to the error log (or the terminal's, with --log-to-terminal).
    detach=
    if command -v setsid >/dev/null 2>&1; then
        detach=setsid
    fi
    if test -n "$OXWSGI_ERROR_LOG"; then
        $detach @OXWSGI@ start-server --from-setup "$OXWSGI_SERVER_CONF" \
            </dev/null >>"$OXWSGI_ERROR_LOG" 2>&1 &
    else
        $detach @OXWSGI@ start-server --from-setup "$OXWSGI_SERVER_CONF" </dev/null &
    fi
    child=$!
    # The server writes its pid file once its sockets are bound; wait for that, or its end.
    tries=0
    while ! running_pid >/dev/null; do
        if has_ended "$child"; then
            wait "$child"
            status=$?
            if running_pid >/dev/null; then
                return 0
            fi
            echo "oxwsgi: the server did not start (exit status $status)" >&2
            if test -n "$OXWSGI_ERROR_LOG"; then
                tail -n 20 "$OXWSGI_ERROR_LOG" >&2
            fi
            return 1
        fi
        tries=$((tries + 1))
        if test "$tries" -gt 600; then
            echo "oxwsgi: no pid file $OXWSGI_PID_FILE after 60 seconds" >&2
            return 1
        fi
        sleep 0.1
    done
    return 0
}

# Waits for process $1 to end, at most $OXWSGI_STOP_TIMEOUT seconds.
wait_for_exit() {
    tries=0
    while is_oxwsgi "$1"; do
        tries=$((tries + 1))
        if test "$tries" -gt $((OXWSGI_STOP_TIMEOUT * 10)); then
            echo "oxwsgi (pid $1) still running after $OXWSGI_STOP_TIMEOUT seconds" >&2
            return 1
        fi
        sleep 0.1
    done
}

stop_server() {
    if ! pid=$(running_pid); then
        not_running
        return 0
    fi
    kill -TERM "$pid" || return 1
    wait_for_exit "$pid"
}

case $ACMD in
start)
    if test "$2" = -DFOREGROUND; then
        start_server foreground
    else
        start_server
    fi
    ;;
stop | graceful-stop)
    stop_server
    ;;
graceful)
    if pid=$(running_pid); then
        kill -HUP "$pid"
    else
        echo "oxwsgi not running, trying to start"
        start_server
    fi
    ;;
restart)
    if running_pid >/dev/null; then
        stop_server || exit 1
    else
        echo "oxwsgi not running, trying to start"
    fi
    start_server
    ;;
configtest)
    exec @OXWSGI@ check-config --from-setup "$OXWSGI_SERVER_CONF"
    ;;
status)
    if pid=$(running_pid); then
        echo "oxwsgi (pid $pid) running: $OXWSGI_SERVER_URL"
    else
        not_running
        exit 3
    fi
    ;;
-h | --help | help)
    sed -n '5,19s/^# \{0,1\}//p' "$0"
    ;;
*)
    echo "usage: $0 start|stop|restart|graceful|graceful-stop|configtest|status" >&2
    exit 1
    ;;
esac
"#;

/// `value` as one word of a systemd unit's command line.
fn systemd_quote(value: &str) -> String {
    let escaped = value.replace('%', "%%").replace('$', "$$");
    if escaped
        .chars()
        .any(|c| c.is_whitespace() || c == '"' || c == '\'' || c == '\\' || c == ';')
    {
        format!("\"{}\"", escaped.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        escaped
    }
}

/// The systemd service: the control script's foreground start (it sources `envvars`, then
/// becomes the server, which stays the main process), readiness by `sd_notify`.
fn service_unit(config: &ServerConfig, control_script: &Path, command: &[String]) -> String {
    let description = config
        .mounts
        .iter()
        .find_map(|m| match &m.target {
            MountTarget::Wsgi(app) => Some(app.entry.describe()),
            MountTarget::Static(_) => None,
        })
        .unwrap_or_else(|| "static files".to_owned());
    let startup = config
        .groups
        .iter()
        .map(|g| g.lifecycle.startup_timeout.as_secs())
        .max()
        .unwrap_or(15);
    let env = oxwsgi_config::resolve::Environment::from_process().unwrap_or_default();
    let user = match env.uid {
        // As root the workers run as --user; the supervisor stays root to bind and switch.
        0 => String::new(),
        uid => oxwsgi_config::users::user_name(uid)
            .map(|name| format!("User={name}\n"))
            .unwrap_or_else(|| format!("User={uid}\n")),
    };
    let script = systemd_quote(&control_script.to_string_lossy());
    let socket_note = if socket_unit(config).is_some() {
        format!(
            "# With {SOCKET_UNIT} installed and enabled too, systemd opens the ports and passes them\n\
             # (socket activation): ports below 1024 need no root, and connections wait while the\n\
             # service restarts.\n"
        )
    } else {
        String::new()
    };
    format!(
        "# The systemd unit of an oxwsgi server, written by `oxwsgi setup-server` (oxwsgi {version})\n\
         # for: {command}\n\
         #\n\
         # Install:  cp {service_path} /etc/systemd/system/NAME.service\n\
         #           systemctl daemon-reload && systemctl enable --now NAME\n\
         # Reload:   systemctl reload NAME   (the workers restart one by one; no request is lost)\n\
         {socket_note}\
         \n\
         [Unit]\n\
         Description=oxwsgi: {description} ({url})\n\
         After=network.target\n\
         \n\
         [Service]\n\
         Type=notify\n\
         NotifyAccess=main\n\
         ExecStart={script} start -DFOREGROUND\n\
         ExecReload=/bin/kill -HUP $MAINPID\n\
         KillSignal=SIGTERM\n\
         KillMode=mixed\n\
         TimeoutStartSec={start_timeout}\n\
         TimeoutStopSec={stop_timeout}\n\
         Restart=on-failure\n\
         {user}\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n",
        version = env!("CARGO_PKG_VERSION"),
        command = command.join(" ").replace('\n', " "),
        service_path = config.server_root.join(SERVICE_UNIT).display(),
        description = description.replace('\n', " ").replace('%', "%%"),
        url = server_url(config).replace('%', "%%"),
        start_timeout = (startup * 2 + 30).max(90),
        stop_timeout = stop_timeout(config),
    )
}

/// The systemd socket unit: one `ListenStream=` per listener. None when a listener's port is
/// chosen at start (`--port 0`).
fn socket_unit(config: &ServerConfig) -> Option<String> {
    let mut listens = String::new();
    // A --unix-socket is bound by the server itself (socket activation passes TCP sockets).
    for listener in config.listeners.iter().filter(|l| l.unix.is_none()) {
        listens += &format!("ListenStream={}\n", listen_stream(listener)?);
    }
    let backlog = config
        .listeners
        .iter()
        .map(|l| l.backlog)
        .max()
        .unwrap_or(500);
    Some(format!(
        "# The systemd socket unit of an oxwsgi server, written by `oxwsgi setup-server`\n\
         # (oxwsgi {version}). Install it next to {SERVICE_UNIT}, with the same NAME:\n\
         #\n\
         #   cp {socket_path} /etc/systemd/system/NAME.socket\n\
         #   systemctl daemon-reload && systemctl enable --now NAME.socket\n\
         #\n\
         # systemd then binds the ports and passes them to the server (LISTEN_FDS), which takes\n\
         # them instead of binding: ports below 1024 need no root, and the sockets stay open\n\
         # while the service restarts.\n\
         \n\
         [Unit]\n\
         Description=oxwsgi sockets: {url}\n\
         \n\
         [Socket]\n\
         {listens}\
         Backlog={backlog}\n\
         \n\
         [Install]\n\
         WantedBy=sockets.target\n",
        version = env!("CARGO_PKG_VERSION"),
        socket_path = config.server_root.join(SOCKET_UNIT).display(),
        url = server_url(config).replace('%', "%%"),
    ))
}

/// A listener's address as `ListenStream=` takes it: the port alone for every interface, else
/// the host's address (IPv4 first, as the server binds it).
fn listen_stream(listener: &ListenerConfig) -> Option<String> {
    if listener.port == 0 {
        return None;
    }
    let Some(host) = &listener.host else {
        return Some(listener.port.to_string());
    };
    let address = (host.as_str(), listener.port)
        .to_socket_addrs()
        .ok()?
        .min_by_key(|a| a.is_ipv6())?;
    Some(address.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_survive_quotes() {
        assert_eq!(shell_quote_str("/a b/it's"), r"'/a b/it'\''s'");
    }

    #[test]
    fn systemd_words_escape_specifiers_and_spaces() {
        assert_eq!(systemd_quote("/srv/a%b"), "/srv/a%%b");
        assert_eq!(systemd_quote("/srv/a b"), "\"/srv/a b\"");
        assert_eq!(
            systemd_quote("/tmp/oxwsgi-localhost:8000:0"),
            "/tmp/oxwsgi-localhost:8000:0"
        );
    }

    #[test]
    fn listen_streams_name_the_port_or_the_address() {
        let listener = |host: Option<&str>, port| ListenerConfig {
            host: host.map(str::to_owned),
            port,
            backlog: 100,
            tls: None,
            http2: false,
            unix: None,
        };
        assert_eq!(listen_stream(&listener(None, 80)).as_deref(), Some("80"));
        assert_eq!(
            listen_stream(&listener(Some("127.0.0.1"), 8000)).as_deref(),
            Some("127.0.0.1:8000")
        );
        assert_eq!(
            listen_stream(&listener(Some("::1"), 8000)).as_deref(),
            Some("[::1]:8000")
        );
        assert_eq!(listen_stream(&listener(None, 0)), None);
    }
}
