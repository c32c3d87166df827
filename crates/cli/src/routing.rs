//! What `check-config` says would run: each address and who accepts there, each virtual
//! host and what it mounts, each process group and its settings (and the scripts it imports),
//! each side service — from the configuration
//! `start-server` would run, not from the files' words.

use std::fmt::Write as _;

use oxwsgi_config::{GroupRole, MountTarget, PythonHome, ServerConfig, StaticTarget};

/// The routing summary, one indented line per item.
pub(crate) fn summary(config: &ServerConfig) -> String {
    let mut out = String::from("Would run:\n");
    let address = |index: usize| config.listeners[index].describe();
    for index in 0..config.listeners.len() {
        let accepting: Vec<usize> = (0..config.groups.len())
            .filter(|&g| config.groups[g].serves_listener(index))
            .collect();
        let who = match accepting.as_slice() {
            [g] if config.groups[*g].role == GroupRole::Front => {
                let forwarded: Vec<String> = (0..config.groups.len())
                    .filter(|&f| config.groups[f].internal_socket.is_some())
                    .map(|f| config.group_title(f))
                    .collect();
                format!(
                    "the front tier, forwarding to {} over unix sockets",
                    forwarded.join(", ")
                )
            }
            [g] => format!("group {} (direct)", config.group_title(*g)),
            _ => "nobody".to_owned(),
        };
        let tls = if config.listeners[index].tls.is_some() {
            " (HTTPS)"
        } else {
            ""
        };
        let _ = writeln!(out, "  {}{tls} -> {who}", address(index));
    }
    for (index, host) in config.hosts.iter().enumerate() {
        let names = if host.names.is_empty() {
            "(any name)".to_owned()
        } else {
            host.names.join(", ")
        };
        let on: Vec<String> = host.listeners.iter().map(|&l| address(l)).collect();
        let _ = writeln!(out, "  virtual host {names} on {}:", on.join(", "));
        let trusted = &host.trusted_proxies;
        if !trusted.is_empty() {
            let headers: Vec<String> = trusted.headers.iter().map(|h| h.to_string()).collect();
            let from = if trusted.proxies.is_empty() {
                "every client".to_owned()
            } else {
                let proxies: Vec<String> = trusted.proxies.iter().map(|p| p.to_string()).collect();
                proxies.join(", ")
            };
            let _ = writeln!(
                out,
                "    trusted proxy headers {} from {from}",
                headers.join(", ")
            );
        }
        for mount in config
            .mounts
            .iter()
            .filter(|m| m.host.is_none_or(|h| h == index))
        {
            let at = match &mount.pattern {
                Some(pattern) => format!("{} (pattern)", pattern.regex),
                None => mount.prefix.to_string(),
            };
            let what = match &mount.target {
                MountTarget::Wsgi(app) => format!(
                    "{} in group {}",
                    app.entry.describe(),
                    config.group_title(app.group)
                ),
                MountTarget::Static(StaticTarget::File(path)) => {
                    format!("file {}", path.display())
                }
                MountTarget::Static(StaticTarget::Directory(path)) => {
                    format!("files of {}/", path.display())
                }
            };
            let _ = writeln!(out, "    {at} -> {what}");
        }
        let _ = writeln!(
            out,
            "    other paths -> files of {}/ (document root)",
            config.document_root_of(Some(index)).display()
        );
    }
    for (index, group) in config.groups.iter().enumerate() {
        let user = group
            .run_as
            .as_ref()
            .map(|run_as| format!(", as {}", run_as.user))
            .unwrap_or_default();
        let title = config.group_title(index);
        if group.role == GroupRole::Front {
            let _ = writeln!(
                out,
                "  front tier: {} process(es), no Python{user}",
                group.processes
            );
            continue;
        }
        let python = match &group.python.home {
            Some(PythonHome::VirtualEnv { root, .. }) => format!(", venv {}", root.display()),
            Some(PythonHome::Prefix(prefix)) => format!(", Python {}", prefix.display()),
            None => String::new(),
        };
        let recycling = match group.lifecycle.maximum_requests {
            0 => String::new(),
            n => format!(", recycled after {n} requests"),
        };
        let _ = writeln!(
            out,
            "  group {title}: {} process(es) x {} thread(s){user}{python}{recycling}",
            group.processes, group.threads
        );
        for script in &group.import_scripts {
            let _ = writeln!(out, "    imports {} at start", script.display());
        }
    }
    for service in &config.services {
        let user = service
            .run_as
            .as_ref()
            .map(|run_as| format!(", as {}", run_as.user))
            .unwrap_or_default();
        let log = service
            .log_file
            .as_ref()
            .map(|log| format!(", log {}", log.display()))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  service {}: runs {}{user}{log}",
            service.name,
            service.script.display()
        );
    }
    out
}
