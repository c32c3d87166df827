//! `WSGIImportScript`, as mod_wsgi runs it, once the process groups are made:
//!
//! * into a service group (`WSGIDaemonProcess ... threads=0`, mod_wsgi-express's
//!   `--service-script`): a side [`Service`], the one the command line's `--service-script`
//!   makes, with the group's user, Python and working directory, and the `ErrorLog` of the
//!   `<VirtualHost>` the group is defined in as its log (express's `--service-log-file`);
//! * into an ordinary group: each of its workers imports the script at start, before its
//!   applications load ([`ProcessGroup::import_scripts`]). A worker runs one interpreter, so
//!   the application group must be `%{GLOBAL}` or the group's own.
//!
//! Separate because it works on the finished groups (their application groups are known only
//! then) and on the check's report.

use super::{Site, Translator};
use crate::apache::check::Report;
use crate::apache::{ApacheConfig, Node, Section};
use crate::model::{GroupRole, ServerConfig, Service};

/// Whether a `<VirtualHost>` holds only service groups, their scripts and a log: the shape
/// mod_wsgi-express writes for `--service-log-file`. httpd would serve the main server's
/// content through it with that log; oxwsgi gives the log to the services and makes no virtual
/// host of it.
pub(super) fn is_service_host(section: &Section, report: &Report) -> bool {
    let mut services = 0;
    for node in &section.children {
        let Node::Directive(d) = node else {
            return false;
        };
        if d.is("WSGIDaemonProcess") {
            let service = report
                .daemons
                .iter()
                .any(|daemon| daemon.origin == d.origin && daemon.is_service());
            if !service {
                return false;
            }
            services += 1;
        } else if !(d.is("WSGIImportScript") || d.is("ErrorLog") || d.is("LogLevel")) {
            return false;
        }
    }
    services > 0
}

/// How messages name a process group (`""` is `%{GLOBAL}`, the default group).
fn shown(name: &str) -> String {
    if name.is_empty() {
        "%{GLOBAL}".to_owned()
    } else {
        format!("'{name}'")
    }
}

impl Translator<'_> {
    /// Gives each import into an ordinary group to the workers of that group that run its
    /// application group (all of them for `%{GLOBAL}`: each process has one interpreter).
    pub(super) fn attach_imports(&mut self, report: &Report, config: &mut ServerConfig) {
        let services: Vec<&str> = report
            .daemons
            .iter()
            .filter(|d| d.is_service())
            .map(|d| d.name.as_str())
            .collect();
        for import in &report.imports {
            if services.contains(&import.process_group.as_str()) {
                continue;
            }
            let group = &import.process_group;
            let named: Vec<usize> = (0..config.groups.len())
                .filter(|&g| {
                    let candidate = &config.groups[g];
                    candidate.role == GroupRole::Applications && &candidate.name == group
                })
                .collect();
            if named.is_empty() {
                self.error(
                    &import.origin,
                    format!(
                        "WSGIImportScript: the process group {} runs no application here (no \
                         WSGIScriptAlias is served by it), so no process of it starts; a script \
                         that runs on its own goes in a group with threads=0 (a service)",
                        shown(group)
                    ),
                );
                continue;
            }
            let wanted = &import.application_group;
            let chosen: Vec<usize> = named
                .iter()
                .copied()
                .filter(|&g| wanted.is_empty() || &config.groups[g].application_group == wanted)
                .collect();
            if chosen.is_empty() {
                let has: Vec<String> = named
                    .iter()
                    .map(|&g| shown(&config.groups[g].application_group))
                    .collect();
                self.error(
                    &import.origin,
                    format!(
                        "WSGIImportScript application-group={wanted}: the process group {} has \
                         no such application group (its applications run in {}); oxwsgi runs \
                         one interpreter per process: write %{{GLOBAL}} or one of those",
                        shown(group),
                        has.join(", ")
                    ),
                );
                continue;
            }
            for g in chosen {
                let scripts = &mut config.groups[g].import_scripts;
                if !scripts.contains(&import.path) {
                    scripts.push(import.path.clone());
                }
            }
        }
    }

    /// The side services: one per service group (`threads=0`) and its script, with the
    /// group's user, Python and home (over `base`, the main server's directives).
    pub(super) fn services(
        &mut self,
        config: &ApacheConfig,
        report: &Report,
        base: &Site,
    ) -> Vec<Service> {
        let mut services: Vec<Service> = Vec::new();
        for daemon in report.daemons.iter().filter(|d| d.is_service()) {
            let Some(import) = report
                .imports
                .iter()
                .find(|i| i.process_group == daemon.name)
            else {
                continue;
            };
            let Some(group) = self.process_group(Some(daemon), base, String::new()) else {
                continue;
            };
            let log_file = match host_error_log(config, daemon) {
                None => None,
                Some((value, origin)) => {
                    if value.starts_with('|') || value.starts_with("syslog") {
                        self.not_yet(&origin, "an ErrorLog to a program or syslog");
                        continue;
                    }
                    Some(self.path(&value))
                }
            };
            // `service:NAME`, as express names the group, is the command line's NAME.
            let short = daemon.name.strip_prefix("service:").unwrap_or(&daemon.name);
            let name = if services.iter().any(|s| s.name == short) {
                daemon.name.clone()
            } else {
                short.to_owned()
            };
            services.push(Service {
                name,
                script: import.path.clone(),
                python: group.python,
                run_as: group.run_as,
                log_file,
            });
        }
        services
    }
}

/// The `ErrorLog` of the `<VirtualHost>` a `WSGIDaemonProcess` is defined in, with its origin:
/// the log of that group's processes, as in mod_wsgi.
fn host_error_log(
    config: &ApacheConfig,
    daemon: &crate::apache::daemon::DaemonProcess,
) -> Option<(String, crate::apache::Origin)> {
    let host = config.nodes.iter().find_map(|node| match node {
        Node::Section(s)
            if s.is("VirtualHost")
                && s.children
                    .iter()
                    .any(|c| matches!(c, Node::Directive(d) if d.origin == daemon.origin)) =>
        {
            Some(s)
        }
        _ => None,
    })?;
    host.children.iter().rev().find_map(|node| match node {
        Node::Directive(d) if d.is("ErrorLog") => {
            d.args.first().map(|a| (a.clone(), d.origin.clone()))
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::shown;

    #[test]
    fn the_default_group_is_shown_as_global() {
        assert_eq!(shown(""), "%{GLOBAL}");
        assert_eq!(shown("app"), "'app'");
    }
}
