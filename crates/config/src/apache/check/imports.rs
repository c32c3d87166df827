//! `WSGIImportScript FILE process-group=G application-group=A`, checked as mod_wsgi checks the
//! line when httpd reads it (`wsgi_add_import_script`: both options required, the group defined
//! before the line and reachable from where it is), plus what oxwsgi needs to run it: the file
//! exists, and a service group (`threads=0`) runs exactly one script, in `%{GLOBAL}`, in one
//! process. Whether the application group is one the group's workers have is decided later,
//! when the groups are made (`translate/imports.rs`).

use std::path::PathBuf;

use super::{Checker, Scope, Severity, virtual_host};
use crate::apache::{Directive, Origin, Section};

/// One `WSGIImportScript` line, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportScript {
    /// The script (relative paths are under `ServerRoot`).
    pub path: PathBuf,
    /// The `WSGIDaemonProcess` it is for; `""` for `%{GLOBAL}` (mod_wsgi's embedded mode,
    /// oxwsgi's default group).
    pub process_group: String,
    /// The application group, as written: mod_wsgi expands nothing in it but `%{GLOBAL}`,
    /// which is `""` here.
    pub application_group: String,
    /// Where it was written.
    pub origin: Origin,
}

const SHAPE: &str = "WSGIImportScript FILE process-group=NAME application-group=%{GLOBAL}";

impl<'a> Checker<'a> {
    /// Reads and checks one `WSGIImportScript` line; a valid one goes into the report.
    pub(super) fn import_script(&mut self, directive: &'a Directive, scope: &Scope<'a>) {
        let origin = &directive.origin;
        let Some((script, options)) = directive.args.split_first() else {
            self.notice(
                Severity::Error,
                origin,
                format!("WSGIImportScript needs a script file: {SHAPE}"),
            );
            return;
        };
        let mut process_group = None;
        let mut application_group = None;
        for option in options {
            let value = |v: &str| super::super::syntax::option_value(v);
            match option.split_once('=') {
                Some(("process-group", v)) if !value(v).is_empty() => {
                    process_group = Some(value(v))
                }
                Some(("application-group", v)) if !value(v).is_empty() => {
                    application_group = Some(value(v))
                }
                _ => {
                    self.notice(
                        Severity::Error,
                        origin,
                        format!(
                            "WSGIImportScript: invalid option '{option}' (the options are \
                             process-group=NAME and application-group=NAME)"
                        ),
                    );
                    return;
                }
            }
        }
        let Some(process_group) = process_group else {
            self.notice(
                Severity::Error,
                origin,
                format!(
                    "WSGIImportScript needs process-group=, the WSGIDaemonProcess group to load \
                     the script into: {SHAPE}"
                ),
            );
            return;
        };
        let Some(application_group) = application_group else {
            self.notice(
                Severity::Error,
                origin,
                format!(
                    "WSGIImportScript needs application-group=, the application group to load \
                     the script into: {SHAPE}"
                ),
            );
            return;
        };
        let global = |name: String| {
            if name == "%{GLOBAL}" {
                String::new()
            } else {
                name
            }
        };
        let process_group = global(process_group);
        if !process_group.is_empty() && !self.group_reachable(&process_group, origin, scope) {
            return;
        }
        let path = self.root.join(script);
        if !path.is_file() {
            self.notice(
                Severity::Error,
                origin,
                format!(
                    "WSGIImportScript: the script '{}' does not exist",
                    path.display()
                ),
            );
            return;
        }
        self.report.imports.push(ImportScript {
            path,
            process_group,
            application_group: global(application_group),
            origin: origin.clone(),
        });
    }

    /// Whether group `name` is defined before the line, where the line can name it: a group
    /// of a `<VirtualHost>` is for the hosts of its `ServerName` (mod_wsgi's "not yet
    /// configured", "not accessible" and "not matchable").
    fn group_reachable(&mut self, name: &str, origin: &Origin, scope: &Scope<'a>) -> bool {
        let Some(index) = self.report.daemons.iter().position(|d| d.name == name) else {
            self.notice(
                Severity::Error,
                origin,
                format!(
                    "WSGIImportScript: the process group '{name}' is not defined: add \
                     WSGIDaemonProcess {name} before it"
                ),
            );
            return false;
        };
        let Some(group_host) = self.daemon_hosts[index] else {
            return true;
        };
        let here = match virtual_host(scope) {
            Some(host) => host_name(host),
            None => super::last_value(self.all, "ServerName"),
        };
        if here == host_name(group_host) {
            return true;
        }
        self.notice(
            Severity::Error,
            origin,
            format!(
                "WSGIImportScript: the process group '{name}' belongs to the <VirtualHost> at \
                 {}, whose ServerName is not this one's: define the group at server level, or \
                 load the script from that host",
                group_host.origin
            ),
        );
        false
    }

    /// A service group (`threads=0`) runs one `WSGIImportScript`, as the main program of the
    /// main interpreter, in one process; it serves no requests; and one without a script has
    /// nothing to run.
    pub(super) fn check_service_groups(&mut self) {
        let mut problems: Vec<(Origin, String)> = Vec::new();
        for daemon in self.report.daemons.iter().filter(|d| d.is_service()) {
            let name = &daemon.name;
            let imports: Vec<_> = self
                .report
                .imports
                .iter()
                .filter(|i| &i.process_group == name)
                .collect();
            match imports.as_slice() {
                [] => problems.push((
                    daemon.origin.clone(),
                    format!(
                        "WSGIDaemonProcess {name} has threads=0, so it serves no requests, and \
                         no WSGIImportScript names it: there is nothing to run (add \
                         WSGIImportScript FILE process-group={name} \
                         application-group=%{{GLOBAL}}, or give it threads)"
                    ),
                )),
                [first, more @ ..] => {
                    for extra in more {
                        problems.push((
                            extra.origin.clone(),
                            format!(
                                "WSGIImportScript: the service group '{name}' (threads=0) \
                                 already runs {} ({}); oxwsgi runs one script per service: \
                                 give this one a WSGIDaemonProcess of its own",
                                first.path.display(),
                                first.origin
                            ),
                        ));
                    }
                    if !first.application_group.is_empty() {
                        problems.push((
                            first.origin.clone(),
                            format!(
                                "WSGIImportScript into the service group '{name}' (threads=0) \
                                 runs the script as the main program of the main interpreter: \
                                 write application-group=%{{GLOBAL}}"
                            ),
                        ));
                    }
                }
            }
            if daemon
                .options
                .get("processes")
                .is_some_and(|n| n.as_str() != "1")
            {
                problems.push((
                    daemon.origin.clone(),
                    format!(
                        "WSGIDaemonProcess {name}: a service group (threads=0) runs one \
                         process in oxwsgi; remove processes= or write processes=1"
                    ),
                ));
            }
            for script in self
                .report
                .scripts
                .iter()
                .filter(|s| s.process_group.as_ref() == Some(name))
            {
                problems.push((
                    script.origin.clone(),
                    format!(
                        "the process group '{name}' that serves {} has threads=0: it serves \
                         no requests (it runs a WSGIImportScript as a service); give it \
                         threads, or run the application in another group",
                        script.url
                    ),
                ));
            }
        }
        for (origin, message) in problems {
            self.notice(Severity::Error, &origin, message);
        }
    }
}

fn host_name(host: &Section) -> Option<String> {
    super::server_name(&host.children)
}
