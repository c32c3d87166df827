//! Checking a configuration read from Apache files: every directive known and in a place httpd
//! allows it, what oxwsgi does not do refused, `WSGIDaemonProcess` options valid, process
//! groups named by `WSGIProcessGroup` defined; and a summary of what would run.

use std::fmt::Write as _;
use std::path::Path;

use super::daemon::DaemonProcess;
use super::directives::{Contexts, Disposition, spec};
use super::{ApacheConfig, Directive, Node, Origin, Section};

/// How serious a notice is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The configuration cannot run.
    Error,
    /// It runs, but not exactly as httpd would run it.
    Warning,
    /// Accepted without effect.
    Info,
}

/// Something to tell about one directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// How serious.
    pub severity: Severity,
    /// The directive's file and line.
    pub origin: Origin,
    /// What, and what to do.
    pub message: String,
}

impl std::fmt::Display for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        };
        write!(f, "{}: {severity}: {}", self.origin, self.message)
    }
}

/// A WSGI application the configuration mounts, with the groups that would run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptMount {
    /// The URL path (or, for `WSGIScriptAliasMatch`, the pattern).
    pub url: String,
    /// Whether it is a `WSGIScriptAliasMatch` (a pattern, `$1`… in the script).
    pub pattern: bool,
    /// The script file (may hold `$1`… for a pattern).
    pub script: String,
    /// The `<VirtualHost>` it is in, by its address, if any.
    pub virtual_host: Option<String>,
    /// Where that `<VirtualHost>` starts.
    pub virtual_host_origin: Option<Origin>,
    /// The daemon process group, or `None` for the default group.
    pub process_group: Option<String>,
    /// The application group as written (`%{GLOBAL}`, …), if set.
    pub application_group: Option<String>,
    /// Where it was written.
    pub origin: Origin,
}

/// The outcome of a check.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Errors, warnings and infos, in file order.
    pub notices: Vec<Notice>,
    /// The `Listen` addresses.
    pub listens: Vec<(String, Origin)>,
    /// The `<VirtualHost>`s: address, server name.
    pub virtual_hosts: Vec<(String, Option<String>, Origin)>,
    /// The daemon process groups.
    pub daemons: Vec<DaemonProcess>,
    /// The applications.
    pub scripts: Vec<ScriptMount>,
    /// The `WSGIImportScript`s, checked: each names a defined group and an existing file.
    pub imports: Vec<ImportScript>,
}

impl Report {
    /// Whether any error was found.
    pub fn has_errors(&self) -> bool {
        self.notices.iter().any(|n| n.severity == Severity::Error)
    }

    /// What would run, for `check-config`.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "Listen:");
        if self.listens.is_empty() {
            let _ = writeln!(out, "  (none: the configuration has no Listen directive)");
        }
        for (listen, origin) in &self.listens {
            let _ = writeln!(out, "  {listen}  ({origin})");
        }
        if !self.virtual_hosts.is_empty() {
            let _ = writeln!(out, "Virtual hosts:");
            for (address, name, origin) in &self.virtual_hosts {
                let name = name.as_deref().unwrap_or("(no ServerName)");
                let _ = writeln!(out, "  {address} {name}  ({origin})");
            }
        }
        let _ = writeln!(out, "Daemon process groups:");
        if self.daemons.is_empty() {
            let _ = writeln!(out, "  (none: applications run in the default group)");
        }
        for daemon in &self.daemons {
            let options: Vec<String> = daemon
                .options
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let _ = writeln!(
                out,
                "  {} {}  ({})",
                daemon.name,
                options.join(" "),
                daemon.origin
            );
        }
        let _ = writeln!(out, "Applications:");
        if self.scripts.is_empty() {
            let _ = writeln!(out, "  (none: the configuration has no WSGIScriptAlias)");
        }
        for script in &self.scripts {
            let host = script
                .virtual_host
                .as_deref()
                .map(|h| format!(" [{h}]"))
                .unwrap_or_default();
            let group = script.process_group.as_deref().unwrap_or("(default group)");
            let app_group = script
                .application_group
                .as_deref()
                .unwrap_or("(per script)");
            let _ = writeln!(
                out,
                "  {}{host} -> {}  process group {group}, application group {app_group}  ({})",
                script.url, script.script, script.origin
            );
        }
        out
    }
}

/// Where in the file a node is.
#[derive(Debug, Clone)]
struct Scope<'a> {
    context: Contexts,
    /// The sections around the node, outermost first.
    sections: Vec<&'a Section>,
}

/// Checks `config`. With `ignore_unsupported`, what oxwsgi does not do is a warning, not an
/// error.
pub fn check(config: &ApacheConfig, ignore_unsupported: bool) -> Report {
    let mut checker = Checker {
        report: Report::default(),
        ignore_unsupported,
        all: &config.nodes,
        root: &config.server_root,
        daemon_hosts: Vec::new(),
    };
    let scope = Scope {
        context: Contexts::SERVER,
        sections: Vec::new(),
    };
    checker.walk(&config.nodes, &scope);
    checker.check_group_names();
    checker.check_service_groups();
    checker.report
}

struct Checker<'a> {
    report: Report,
    ignore_unsupported: bool,
    all: &'a [Node],
    /// `ServerRoot`, which relative script paths are under.
    root: &'a Path,
    /// For each of `report.daemons`, the `<VirtualHost>` it is defined in, if any.
    daemon_hosts: Vec<Option<&'a Section>>,
}

impl<'a> Checker<'a> {
    fn notice(&mut self, severity: Severity, origin: &Origin, message: String) {
        self.report.notices.push(Notice {
            severity,
            origin: origin.clone(),
            message,
        });
    }

    fn walk(&mut self, nodes: &'a [Node], scope: &Scope<'a>) {
        for node in nodes {
            match node {
                Node::Section(section) => self.section(section, scope),
                Node::Directive(directive) => self.directive(directive, scope),
            }
        }
    }

    /// A name no module oxwsgi knows defines: httpd's own words for it.
    fn unknown(&mut self, name: &str, origin: &Origin) {
        self.notice(
            Severity::Error,
            origin,
            format!(
                "Invalid command '{name}', perhaps misspelled or defined by a module not \
                 included in the server configuration"
            ),
        );
    }

    fn section(&mut self, section: &'a Section, scope: &Scope<'a>) {
        let Some(spec) = spec(&section.name, true) else {
            self.unknown(&format!("<{}>", section.name), &section.origin);
            return;
        };
        if !spec.contexts.allows(scope.context) {
            self.notice(
                Severity::Error,
                &section.origin,
                format!("<{}> is not allowed here{}", spec.name, inside(scope)),
            );
            return;
        }
        if !self.disposition(
            spec.disposition,
            &format!("<{}>", spec.name),
            &section.origin,
        ) {
            return;
        }
        let context = if section.is("VirtualHost") {
            self.report.virtual_hosts.push((
                section.args.join(" "),
                server_name(&section.children),
                section.origin.clone(),
            ));
            Contexts::VHOST
        } else if section.is("Limit") || section.is("LimitExcept") {
            scope.context
        } else {
            Contexts::DIRECTORY
        };
        let mut sections = scope.sections.clone();
        sections.push(section);
        self.walk(&section.children, &Scope { context, sections });
    }

    fn directive(&mut self, directive: &'a Directive, scope: &Scope<'a>) {
        let Some(spec) = spec(&directive.name, false) else {
            self.unknown(&directive.name, &directive.origin);
            return;
        };
        let access_2_2 = ["Order", "Allow", "Deny", "Satisfy"]
            .iter()
            .any(|name| directive.is(name));
        if access_2_2 && !scope.context.allows(Contexts::DIRECTORY) {
            self.notice(
                Severity::Warning,
                &directive.origin,
                format!(
                    "{} outside <Directory> or <Location> applies to the whole {} (httpd itself \
                     would refuse it here)",
                    spec.name,
                    if scope.context == Contexts::VHOST {
                        "virtual host"
                    } else {
                        "server"
                    }
                ),
            );
        } else if !spec.contexts.allows(scope.context) {
            self.notice(
                Severity::Error,
                &directive.origin,
                format!("{} is not allowed here{}", spec.name, inside(scope)),
            );
            return;
        }
        if !self.disposition(spec.disposition, spec.name, &directive.origin) {
            return;
        }
        self.arguments(directive, scope);
    }

    /// Reports an ignored or unsupported directive; whether to go on checking it.
    fn disposition(&mut self, disposition: Disposition, name: &str, origin: &Origin) -> bool {
        match disposition {
            Disposition::Honoured => true,
            Disposition::Ignored(why) => {
                self.notice(
                    Severity::Info,
                    origin,
                    format!("{name} is accepted without effect: {why}"),
                );
                false
            }
            Disposition::Unsupported(why) => {
                let (severity, tail) = if self.ignore_unsupported {
                    (Severity::Warning, "; skipped (--ignore-unsupported)")
                } else {
                    (
                        Severity::Error,
                        "; remove it, or start with --ignore-unsupported to skip it",
                    )
                };
                self.notice(
                    severity,
                    origin,
                    format!("{name} is not supported: {why}{tail}"),
                );
                false
            }
        }
    }

    /// The checks of particular directives' arguments.
    fn arguments(&mut self, directive: &'a Directive, scope: &Scope<'a>) {
        let name = directive.name.to_ascii_lowercase();
        match name.as_str() {
            "wsgidaemonprocess" => match DaemonProcess::parse(&directive.args, &directive.origin) {
                Ok(daemon) => {
                    if self.report.daemons.iter().any(|d| d.name == daemon.name) {
                        self.notice(
                            Severity::Error,
                            &directive.origin,
                            format!(
                                "WSGIDaemonProcess: the name '{}' duplicates a previous daemon \
                                 process group",
                                daemon.name
                            ),
                        );
                        return;
                    }
                    for (option, why) in daemon.ignored_options() {
                        self.notice(
                            Severity::Info,
                            &directive.origin,
                            format!("WSGIDaemonProcess option {option} is accepted without effect: {why}"),
                        );
                    }
                    self.report.daemons.push(daemon);
                    self.daemon_hosts.push(virtual_host(scope));
                }
                Err(err) => self.notice(Severity::Error, &directive.origin, err.0),
            },
            "wsgiscriptalias" | "wsgiscriptaliasmatch" => self.script_alias(directive, scope),
            "wsgiimportscript" => self.import_script(directive, scope),
            "sslprotocol" => match super::ssl::protocols(&directive.args) {
                Ok((_, Some(warning))) => {
                    self.notice(Severity::Warning, &directive.origin, warning)
                }
                Ok((_, None)) => {}
                Err(err) => self.notice(Severity::Error, &directive.origin, err),
            },
            "sslverifyclient" => {
                let level = directive.args.first().map_or("", String::as_str);
                if let Err(err) = super::ssl::verify_client(level) {
                    self.notice(Severity::Error, &directive.origin, err);
                }
            }
            "sslverifydepth" => {
                let depth = directive.args.first().map_or("", String::as_str);
                if let Err(err) = super::ssl::verify_depth(depth) {
                    self.notice(Severity::Error, &directive.origin, err);
                }
            }
            "ssloptions" => {
                if let Err(err) = super::ssl::options(&directive.args, false) {
                    self.notice(Severity::Error, &directive.origin, err);
                }
            }
            "listen" => match directive.args.as_slice() {
                [address] | [address, _] if listen_port(address).is_some() => {
                    self.report
                        .listens
                        .push((address.clone(), directive.origin.clone()));
                }
                _ => self.notice(
                    Severity::Error,
                    &directive.origin,
                    format!(
                        "Listen '{}': give a port, or an address and port, such as \
                         Listen 127.0.0.1:8080",
                        directive.args.join(" ")
                    ),
                ),
            },
            "wsgitrustedproxyheaders" => {
                for name in &directive.args {
                    if let Err(reason) = crate::proxy::ProxyHeader::parse(name) {
                        self.notice(
                            Severity::Error,
                            &directive.origin,
                            format!("WSGITrustedProxyHeaders '{name}' {reason}"),
                        );
                    }
                }
            }
            "wsgitrustedproxies" => {
                for proxy in &directive.args {
                    if crate::proxy::parse_proxy(proxy).is_err() {
                        // mod_wsgi's own words.
                        self.notice(
                            Severity::Error,
                            &directive.origin,
                            format!(
                                "Unable to parse trusted proxy IP address/subnet of \"{proxy}\"."
                            ),
                        );
                    }
                }
            }
            "allowoverride"
                if !directive
                    .args
                    .iter()
                    .all(|a| a.eq_ignore_ascii_case("none")) =>
            {
                self.notice(
                    Severity::Error,
                    &directive.origin,
                    format!(
                        "AllowOverride {} is not supported: oxwsgi never reads .htaccess \
                         files; use AllowOverride None and move their directives here",
                        directive.args.join(" ")
                    ),
                );
            }
            _ => {}
        }
    }

    fn script_alias(&mut self, directive: &'a Directive, scope: &Scope<'a>) {
        let (url, script, options) = match directive.args.as_slice() {
            [url, script, options @ ..] => (url, script, options),
            _ => {
                self.notice(
                    Severity::Error,
                    &directive.origin,
                    format!("{} takes a URL path and a script file", directive.name),
                );
                return;
            }
        };
        let mut process_group = None;
        let mut application_group = None;
        for option in options {
            match option.split_once('=') {
                Some(("process-group", value)) => {
                    process_group = Some(super::syntax::option_value(value))
                }
                Some(("application-group", value)) => {
                    application_group = Some(super::syntax::option_value(value))
                }
                Some(("callable-object" | "pass-authorization", _)) => {}
                _ => {
                    self.notice(
                        Severity::Error,
                        &directive.origin,
                        format!(
                            "{}: invalid option '{option}' (the options are process-group=, \
                             application-group=, callable-object= and pass-authorization=)",
                            directive.name
                        ),
                    );
                    return;
                }
            }
        }
        let virtual_host = scope
            .sections
            .iter()
            .find(|s| s.is("VirtualHost"))
            .map(|s| s.args.join(" "));
        let virtual_host_origin = scope
            .sections
            .iter()
            .find(|s| s.is("VirtualHost"))
            .map(|s| s.origin.clone());
        let vhost_nodes = scope
            .sections
            .iter()
            .find(|s| s.is("VirtualHost"))
            .map(|s| s.children.as_slice());
        let process_group = process_group
            .or_else(|| self.context_value("WSGIProcessGroup", script, url, vhost_nodes));
        let application_group = application_group
            .or_else(|| self.context_value("WSGIApplicationGroup", script, url, vhost_nodes));
        self.report.scripts.push(ScriptMount {
            url: url.clone(),
            pattern: directive.is("WSGIScriptAliasMatch"),
            script: script.clone(),
            virtual_host,
            virtual_host_origin,
            process_group,
            application_group,
            origin: directive.origin.clone(),
        });
    }

    /// The value a directive such as `WSGIProcessGroup` has for a script: from the innermost
    /// `<Directory>` around the script file, else a `<Location>` around its URL, else the
    /// virtual host, else the server level (the last one written wins at each level).
    fn context_value(
        &self,
        name: &str,
        script: &str,
        url: &str,
        vhost: Option<&'a [Node]>,
    ) -> Option<String> {
        let levels: Vec<&[Node]> = vhost.into_iter().chain(std::iter::once(self.all)).collect();
        for nodes in &levels {
            let mut best: Option<(usize, String)> = None;
            for section in sections(nodes) {
                let Some(path) = section.args.first() else {
                    continue;
                };
                let matches = if section.is("Directory") {
                    below(script, path)
                } else if section.is("Location") {
                    below(url, path)
                } else {
                    false
                };
                if let Some(value) = matches
                    .then(|| last_value(&section.children, name))
                    .flatten()
                {
                    if best.as_ref().is_none_or(|(len, _)| path.len() >= *len) {
                        best = Some((path.len(), value));
                    }
                }
            }
            if let Some((_, value)) = best {
                return Some(value);
            }
        }
        levels.iter().find_map(|nodes| last_value(nodes, name))
    }

    fn check_group_names(&mut self) {
        let mut unknown = Vec::new();
        for script in &self.report.scripts {
            if let Some(group) = &script.process_group {
                let defined = self.report.daemons.iter().any(|d| &d.name == group);
                if !defined && group != "%{GLOBAL}" && !group.starts_with("%{ENV:") {
                    unknown.push((script.origin.clone(), group.clone(), script.url.clone()));
                }
            }
        }
        for (origin, group, url) in unknown {
            self.notice(
                Severity::Error,
                &origin,
                format!(
                    "the process group '{group}' that serves {url} is not defined: add \
                     WSGIDaemonProcess {group} before it"
                ),
            );
        }
    }
}

/// The `<VirtualHost>` around a node, if any.
fn virtual_host<'a>(scope: &Scope<'a>) -> Option<&'a Section> {
    scope.sections.iter().find(|s| s.is("VirtualHost")).copied()
}

fn inside(scope: &Scope<'_>) -> String {
    scope
        .sections
        .last()
        .map(|s| format!(" (inside <{}>)", s.name))
        .unwrap_or_default()
}

fn server_name(nodes: &[Node]) -> Option<String> {
    last_value(nodes, "ServerName")
}

/// The first argument of the last directive `name` directly in `nodes`.
fn last_value(nodes: &[Node], name: &str) -> Option<String> {
    nodes.iter().rev().find_map(|node| match node {
        Node::Directive(d) if d.is(name) => d.args.first().cloned(),
        _ => None,
    })
}

/// The sections directly in `nodes`.
fn sections(nodes: &[Node]) -> impl Iterator<Item = &Section> {
    nodes.iter().filter_map(|node| match node {
        Node::Section(s) => Some(s),
        Node::Directive(_) => None,
    })
}

/// Whether `path` is `prefix` or below it.
fn below(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
        || prefix.is_empty()
}

/// The port of a `Listen` argument: `80`, `1.2.3.4:80`, `[::1]:80`.
pub fn listen_port(address: &str) -> Option<u16> {
    let port = address.rsplit_once(':').map_or(address, |(_, port)| port);
    port.parse().ok()
}

mod imports;
pub use imports::ImportScript;

#[cfg(test)]
mod tests;
