//! The start-up banner: mod_wsgi-express's fields, in its order and layout, with the values this
//! server actually runs with.

use std::fmt::Write as _;
use std::net::SocketAddr;

use oxwsgi_config::{
    GroupRole, LogDestination, MountTarget, ProcessGroup, PythonSettings, ServerConfig,
    StaticTarget,
};
use oxwsgi_process::Launcher;

/// Which Python a group runs, without starting it: the embedded one for the binary, the
/// interpreter the package is installed in otherwise; and the environment's directory.
fn describe_python(launcher: &Launcher, settings: &PythonSettings) -> String {
    match launcher {
        Launcher::Binary => oxwsgi_wsgi_bridge::describe_python(settings),
        Launcher::Python(python) => {
            let place = settings
                .home
                .as_ref()
                .map_or(python.prefix.as_path(), |home| home.path());
            format!("Python {} ({})", python.version, place.display())
        }
    }
}

/// The banner's lines for what operators watch: the metrics listener, the status page.
pub(crate) fn operations(config: &ServerConfig, metrics: Option<SocketAddr>) -> String {
    let mut out = String::new();
    let operations = &config.operations;
    if let (Some(listener), Some(address)) = (&operations.metrics, metrics) {
        let host = listener.host.as_deref().unwrap_or(&config.server_name);
        let _ = writeln!(
            out,
            "{:<19}: http://{host}:{}/metrics (/ready, /live)",
            "Metrics URL",
            address.port()
        );
    }
    if let Some(path) = &operations.server_status {
        let _ = writeln!(out, "{:<19}: {path} (local clients)", "Server Status");
    }
    if let Some(after) = operations.slow_requests {
        let _ = writeln!(
            out,
            "{:<19}: logged after {}s",
            "Slow Requests",
            after.as_secs_f64()
        );
    }
    out
}

/// The banner, one `Label : value` line per field.
pub(crate) fn banner(config: &ServerConfig, bound: &[SocketAddr], launcher: &Launcher) -> String {
    let mut out = String::new();
    let mut line = |label: &str, value: String| {
        let _ = writeln!(out, "{label:<19}: {value}");
    };
    for (listener, address) in config.listeners.iter().zip(bound) {
        if let Some(unix) = &listener.unix {
            let owner = unix
                .owner
                .as_ref()
                .map(|owner| format!(", owner {}", owner.name))
                .unwrap_or_default();
            line(
                "Unix Socket",
                format!("{} (mode {:04o}{owner})", unix.path.display(), unix.mode),
            );
            continue;
        }
        let host = listener.host.as_deref().unwrap_or(&config.server_name);
        let (scheme, default_port, label) = match listener.tls {
            Some(_) => ("https", 443, "Server URL (HTTPS)"),
            None => ("http", 80, "Server URL"),
        };
        let url = if address.port() == default_port {
            format!("{scheme}://{host}/")
        } else {
            format!("{scheme}://{host}:{}/", address.port())
        };
        line(label, url);
    }
    line("Server Root", config.server_root.display().to_string());
    let error_log = match &config.logging.error_log {
        LogDestination::Terminal => "/dev/stderr".to_owned(),
        LogDestination::File(path) => path.display().to_string(),
    };
    line(
        "Error Log File",
        format!("{error_log} ({})", config.logging.level),
    );
    if let Some(access) = &config.logging.access_log {
        let file = match &access.destination {
            LogDestination::Terminal => "/dev/stdout".to_owned(),
            LogDestination::File(path) => path.display().to_string(),
        };
        line("Access Log File", file);
    }
    if let Some(path) = &config.log_files.startup_log {
        line("Startup Log File", path.display().to_string());
    }
    let mut has_apps = false;
    for mount in &config.mounts {
        match &mount.target {
            MountTarget::Wsgi(app) => {
                has_apps = true;
                let at = match &mount.pattern {
                    Some(pattern) => format!("paths matching {}", pattern.regex),
                    None => mount.prefix.to_string(),
                };
                line("Application", format!("{} at {at}", app.entry.describe()));
            }
            MountTarget::Static(StaticTarget::File(path)) => {
                line(
                    "URL Alias",
                    format!("{} -> {}", mount.prefix, path.display()),
                );
            }
            MountTarget::Static(StaticTarget::Directory(path)) => {
                line(
                    "URL Alias",
                    format!("{} -> {}/", mount.prefix, path.display()),
                );
            }
        }
    }
    if !has_apps {
        line("Application", "none: static files only".to_owned());
    }
    line("Document Root", config.document_root.display().to_string());
    let app_groups: Vec<_> = config
        .groups
        .iter()
        .enumerate()
        .filter(|(_, g)| g.role == GroupRole::Applications)
        .collect();
    if has_apps && app_groups.len() > 1 {
        // Several groups: one line each, and the front tier that spreads requests over them.
        line("Operating Mode", "daemon".to_owned());
        for &(index, group) in &app_groups {
            let user = group
                .run_as
                .as_ref()
                .map(|run_as| format!(", user {}", run_as.user))
                .unwrap_or_default();
            line(
                "Process Group",
                format!(
                    "{}: {} ({}) {}{user}",
                    config.group_title(index),
                    group.processes * group.threads,
                    capacity(group),
                    describe_python(launcher, &group.python),
                ),
            );
        }
        for front in config.groups.iter().filter(|g| g.role == GroupRole::Front) {
            let user = front
                .run_as
                .as_ref()
                .map(|run_as| format!(" as {}", run_as.user))
                .unwrap_or_default();
            line(
                "Front Tier",
                format!(
                    "{} {}{user}, forwarding to the groups over unix sockets",
                    front.processes,
                    if front.processes == 1 {
                        "process"
                    } else {
                        "processes"
                    },
                ),
            );
        }
    } else {
        single_group(&mut line, config, has_apps, launcher);
    }
    for service in &config.services {
        let user = service
            .run_as
            .as_ref()
            .map(|run_as| format!(", user {}", run_as.user))
            .unwrap_or_default();
        let log = service
            .log_file
            .as_ref()
            .map(|file| format!(", log {}", file.display()))
            .unwrap_or_default();
        line(
            "Service Script",
            format!("{}: {}{user}{log}", service.name, service.script.display()),
        );
    }
    // mod_wsgi-express's lines for its debug-mode instruments.
    let tools = &config.instrumentation;
    if let Some(directory) = &tools.coverage {
        line(
            "Coverage Output",
            directory.join("index.html").display().to_string(),
        );
    }
    if let Some(directory) = &tools.profiler {
        line("Profiler Output", directory.display().to_string());
    }
    if let Some(directory) = &tools.recorder {
        line("Recorder Output", directory.display().to_string());
    }
    line(
        "Server Capacity",
        format!("{} (connections per process)", config.http.max_connections),
    );
    let backlog = config.listeners.first().map_or(0, |l| l.backlog);
    line("Server Backlog", format!("{backlog} (connections)"));
    line("Locale Setting", config.locale.clone());
    line("PID File", config.pid_file.display().to_string());
    out
}

/// A group's processes and threads, as `2 processes * 5 threads`.
fn capacity(group: &ProcessGroup) -> String {
    let processes = if group.processes == 1 {
        "process"
    } else {
        "processes"
    };
    format!(
        "{} {processes} * {} threads",
        group.processes, group.threads
    )
}

/// The lines of a server whose applications run in one group (or that has none).
fn single_group(
    line: &mut impl FnMut(&str, String),
    config: &ServerConfig,
    has_apps: bool,
    launcher: &Launcher,
) {
    let group = config
        .groups
        .iter()
        .find(|g| g.role == GroupRole::Applications);
    if let Some(group) = group.filter(|_| has_apps) {
        line("Python", describe_python(launcher, &group.python));
        if let Some(run_as) = &group.run_as {
            line(
                "Daemon User",
                format!("{} (uid {}, gid {})", run_as.user, run_as.uid, run_as.gid),
            );
        }
    }
    // mod_wsgi-express's word for --debug-mode too.
    let debug_mode = config.development.debug_mode;
    let mode = if debug_mode { "debug" } else { "daemon" };
    line("Operating Mode", mode.to_owned());
    // Without an application, no Python runs: capacity in requests and Python's timeouts mean
    // nothing there.
    let Some(group) = group.filter(|_| has_apps) else {
        return;
    };
    let lifecycle = &group.lifecycle;
    line(
        "Request Capacity",
        format!("{} ({})", group.processes * group.threads, capacity(group)),
    );
    if let Some(timeout) = lifecycle.request_timeout {
        line(
            "Request Timeout",
            format!("{} (seconds)", timeout.as_secs()),
        );
    }
    // Debug mode waits for a worker as long as a debugger holds it: no limit to show.
    if !debug_mode {
        line(
            "Startup Timeout",
            format!("{} (seconds)", lifecycle.startup_timeout.as_secs()),
        );
    }
    line(
        "Queue Backlog",
        format!("{} (requests)", group.queue_backlog),
    );
    line(
        "Queue Timeout",
        format!("{} (seconds)", group.queue_timeout.as_secs()),
    );
    if lifecycle.maximum_requests > 0 {
        line(
            "Maximum Requests",
            format!("{} (per process)", lifecycle.maximum_requests),
        );
    }
}
