//! The start-up banner: mod_wsgi-express's fields, in its order and layout, with the values this
//! server actually runs with.

use std::fmt::Write as _;
use std::net::SocketAddr;

use oxwsgi_config::{LogDestination, MountTarget, ServerConfig, StaticTarget};

/// The banner, one `Label : value` line per field.
pub(crate) fn banner(config: &ServerConfig, bound: &[SocketAddr]) -> String {
    let mut out = String::new();
    let mut line = |label: &str, value: String| {
        let _ = writeln!(out, "{label:<19}: {value}");
    };
    for (listener, address) in config.listeners.iter().zip(bound) {
        let host = listener.host.as_deref().unwrap_or(&config.server_name);
        let url = if address.port() == 80 {
            format!("http://{host}/")
        } else {
            format!("http://{host}:{}/", address.port())
        };
        line("Server URL", url);
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
    let mut has_apps = false;
    for mount in &config.mounts {
        match &mount.target {
            MountTarget::Wsgi(app) => {
                has_apps = true;
                line(
                    "Application",
                    format!("{} at {}", app.entry.describe(), mount.prefix),
                );
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
    if has_apps {
        for group in &config.groups {
            line("Python", oxwsgi_wsgi_bridge::describe_python(&group.python));
            if let Some(run_as) = &group.run_as {
                line(
                    "Daemon User",
                    format!("{} (uid {}, gid {})", run_as.user, run_as.uid, run_as.gid),
                );
            }
        }
    }
    line("Operating Mode", "daemon".to_owned());
    // Without an application, no Python runs: capacity in requests and Python's timeouts mean
    // nothing there.
    for group in config.groups.iter().filter(|_| has_apps) {
        let lifecycle = &group.lifecycle;
        let processes = if group.processes == 1 {
            "process"
        } else {
            "processes"
        };
        line(
            "Request Capacity",
            format!(
                "{} ({} {processes} * {} threads)",
                group.processes * group.threads,
                group.processes,
                group.threads
            ),
        );
        if let Some(timeout) = lifecycle.request_timeout {
            line(
                "Request Timeout",
                format!("{} (seconds)", timeout.as_secs()),
            );
        }
        line(
            "Startup Timeout",
            format!("{} (seconds)", lifecycle.startup_timeout.as_secs()),
        );
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
