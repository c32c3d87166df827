//! From a checked Apache configuration to the [`ServerConfig`] the server runs: the second
//! front end of the one model (the command line is the first).
//!
//! What runs so far: the main server and at most one `<VirtualHost>`, or several
//! `<VirtualHost>`s each on addresses of its own; with their process groups (a
//! `WSGIDaemonProcess`, or the default group when no script names one) running their
//! `WSGIScriptAlias` applications, `DocumentRoot` and `Alias` static files, logs, limits and
//! timeouts. A listener served by one group is accepted on by that group's workers: a request
//! reaches its group with no hop. Where one site's scripts run in several groups, a front tier
//! group (Python-free) accepts instead and forwards to the groups' internal sockets
//! ([`GroupRole::Front`]). A directive httpd would honour and oxwsgi does not yet (name-based
//! virtual hosts, access rules that need a user, …) stops the start with its file and line:
//! a site that cannot run exactly as written never runs half.
//!
//! Started as root, the workers switch to the group's `user=` (else httpd's `User`) before
//! Python starts, and one must be named: they never run as root, as with mod_wsgi. Not root,
//! they run as the current user, and a `user=` naming another is an error.
//!
//! Defaults are httpd's and mod_wsgi's, not mod_wsgi-express's: a daemon group has 15 threads,
//! `Timeout` is 60 s, `KeepAliveTimeout` 5 s, `LimitRequestBody` 1 GiB, mod_reqtimeout's
//! `header=20-40,MinRate=500 body=20,MinRate=500`, `deadlock-timeout` 300 s, no request
//! timeout.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::access;
use super::check::ScriptMount;
use super::check::{Notice, Report, Severity};
use super::daemon::DaemonProcess;
use super::directives::{Disposition, spec};
use super::handlers::ScriptDirectories;
use super::lines::{
    EnvChange, ParsedEdit, apply_environ, env_changes, parse_header_edit, parse_redirect,
};
use super::{ApacheConfig, Directive, Node, Origin, Section};
use crate::access::{AccessControl, AccessRule, AccessRules};
use crate::headers::{HeaderEdit, HeaderEdits};
use crate::model::*;
use crate::redirect::{ErrorBody, ErrorDocument, Redirect};
use crate::resolve::{Environment, inspect_python_home, locale, seconds};

/// The directives `start-server` runs so far (in the limits the module documentation gives);
/// the other directives httpd honours are refused for now (see `docs/apache.md`).
pub const RUNS: &[&str] = &[
    "Listen",
    "ServerName",
    "ServerAlias",
    "ServerRoot",
    "DocumentRoot",
    "Alias",
    "DirectoryIndex",
    "ErrorLog",
    "LogFormat",
    "CustomLog",
    "TransferLog",
    "LogLevel",
    "LimitRequestBody",
    "LimitRequestLine",
    "LimitRequestFieldSize",
    "LimitRequestFields",
    "Timeout",
    "KeepAlive",
    "KeepAliveTimeout",
    "RequestReadTimeout",
    "ListenBacklog",
    "PidFile",
    "TypesConfig",
    "AddType",
    "EnableSendfile",
    "WSGIPythonHome",
    "WSGIPythonPath",
    "WSGICallableObject",
    "WSGIPassAuthorization",
    "WSGIScriptReloading",
    "WSGIDaemonProcess",
    "WSGIScriptAlias",
    "WSGIScriptAliasMatch",
    "WSGIProcessGroup",
    "WSGIApplicationGroup",
    "WSGIImportScript",
    "Include",
    "IncludeOptional",
    "Define",
    "UnDefine",
    "Order",
    "Allow",
    "Satisfy",
    "Require",
    "SetEnv",
    "UnsetEnv",
    "Header",
    "RequestHeader",
    "WSGIChunkedRequest",
    "TraceEnable",
    "ErrorDocument",
    "Redirect",
    "RedirectMatch",
    "RedirectPermanent",
    "RedirectTemp",
    "PassEnv",
    "Deny",
    "RequireAll",
    "RequireAny",
    "RequireNone",
    "Options",
    "AllowOverride",
    "AddHandler",
    "SetHandler",
    "User",
    "Group",
    "Directory",
    "DirectoryMatch",
    "Location",
    "LocationMatch",
    "Files",
    "FilesMatch",
    "VirtualHost",
];

mod include;

/// Applies the directives of `--include-file`s (`config`, checked into `report`) on top of
/// the configuration the command line made: see [`include`].
pub fn apply_include(
    config: &ApacheConfig,
    report: &Report,
    env: &Environment,
    base: &mut ServerConfig,
) -> Result<(), Vec<Notice>> {
    let mut t = Translator {
        root: &config.server_root,
        env,
        errors: Vec::new(),
        site: Site::default(),
    };
    t.site.first_origin = config.nodes.first().map(|n| n.origin().clone());
    t.include(config, report, base);
    if t.errors.is_empty() {
        Ok(())
    } else {
        Err(t.errors)
    }
}

/// What the start adds to the files.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// Where run-time files go when the configuration names no place (`--server-root`).
    pub server_root: Option<PathBuf>,
    /// Both logs go to the terminal, whatever the files say (`--log-to-terminal`).
    pub log_to_terminal: bool,
}

/// The configuration to run, or the errors that prevent it.
pub fn server_config(
    config: &ApacheConfig,
    report: &Report,
    env: &Environment,
    options: &StartOptions,
) -> Result<ServerConfig, Vec<Notice>> {
    let mut t = Translator {
        root: &config.server_root,
        env,
        errors: Vec::new(),
        site: Site::default(),
    };
    t.site.first_origin = config.nodes.first().map(|n| n.origin().clone());
    let mut virtual_hosts = Vec::new();
    for node in &config.nodes {
        match node {
            Node::Directive(d) => t.directive(d),
            Node::Section(s) if s.is("VirtualHost") => virtual_hosts.push(s),
            Node::Section(s) => t.section(s),
        }
    }
    let config = t.sites(&virtual_hosts, report, options);
    if t.errors.is_empty() {
        config.ok_or_else(Vec::new)
    } else {
        // One problem, once (a line can be reached twice, as for a virtual host's script).
        let mut errors = t.errors;
        let mut seen = std::collections::BTreeSet::new();
        errors.retain(|e| seen.insert((e.origin.to_string(), e.message.clone())));
        Err(errors)
    }
}

/// What the site's directives set.
#[derive(Debug, Default, Clone)]
struct Site {
    listens: Vec<(Option<String>, u16)>,
    server_name: Option<String>,
    /// `ServerAlias` names, lower case.
    server_aliases: Vec<String>,
    document_root: Option<PathBuf>,
    aliases: Vec<(String, PathBuf, Origin)>,
    directory_index: Option<Option<String>>,
    directory_listing: bool,
    error_log: Option<LogDestination>,
    log_formats: BTreeMap<String, String>,
    access_log: Option<(LogDestination, String)>,
    log_level: Option<LogLevel>,
    limit_request_body: Option<u64>,
    limit_request_line: Option<usize>,
    limit_request_field_size: Option<usize>,
    limit_request_fields: Option<usize>,
    timeout: Option<u64>,
    keep_alive: Option<bool>,
    keep_alive_timeout: Option<u64>,
    request_read_timeout: Option<ReadTimeouts>,
    listen_backlog: Option<u32>,
    pid_file: Option<PathBuf>,
    mime_types: BTreeMap<String, String>,
    enable_sendfile: bool,
    python_home: Option<(PathBuf, Origin)>,
    python_path: Vec<PathBuf>,
    callable: Option<String>,
    pass_authorization: Option<bool>,
    /// `WSGIPassAuthorization` in `<Directory>` (by file-system path) and `<Location>` (by URL
    /// path) sections.
    directory_pass_authorization: Vec<(PathBuf, bool)>,
    location_pass_authorization: Vec<(String, bool, Origin)>,
    script_reloading: Option<bool>,
    user: Option<(String, Origin)>,
    group: Option<String>,
    /// `<Directory>` access rules, by file-system path.
    directory_rules: Vec<(PathBuf, AccessRule)>,
    /// `<Location>` access rules, by URL path.
    location_rules: Vec<(String, AccessRule, Origin)>,
    /// Access directives outside any section (accepted for the whole server, with a warning).
    server_access: Vec<Node>,
    /// `SetEnv`/`UnsetEnv`/`PassEnv` of the server and the virtual host, in order.
    environ: Vec<EnvChange>,
    /// Those of `<Directory>` sections, by file-system path.
    directory_environ: Vec<(PathBuf, Vec<EnvChange>)>,
    /// Those of `<Location>` sections, by URL path.
    location_environ: Vec<(String, Vec<EnvChange>, Origin)>,
    /// `Header` and `RequestHeader` lines, with the `<Location>` path they sit in ("/" outside
    /// any section), in order.
    header_edits: Vec<(String, bool, ParsedEdit)>,
    /// `Redirect` and `RedirectMatch` lines, in order.
    redirects: Vec<Redirect>,
    /// Directories of scripts (`AddHandler wsgi-script`).
    script_directories: ScriptDirectories,
    /// `WSGIChunkedRequest On`.
    chunked_requests: bool,
    /// `ErrorDocument` lines.
    error_documents: Vec<(u16, ErrorBody, Origin)>,
    /// `TraceEnable`'s value, lower case.
    trace_enable: Option<String>,
    /// Where to point an error about the site as a whole.
    first_origin: Option<Origin>,
}

/// mod_reqtimeout's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ReadTimeouts {
    header: (u64, u64, u64),
    body: (u64, u64, u64),
}

impl Default for ReadTimeouts {
    fn default() -> Self {
        ReadTimeouts {
            header: (20, 40, 500),
            body: (20, 0, 500),
        }
    }
}

struct Translator<'a> {
    root: &'a Path,
    env: &'a Environment,
    errors: Vec<Notice>,
    site: Site,
}

impl<'a> Translator<'a> {
    fn error(&mut self, origin: &Origin, message: impl Into<String>) {
        self.errors.push(Notice {
            severity: Severity::Error,
            origin: origin.clone(),
            message: message.into(),
        });
    }

    fn not_yet(&mut self, origin: &Origin, what: &str) {
        self.error(
            origin,
            format!(
                "{what} is not supported yet by start-server (check-config accepts it; see \
                 docs/apache.md for what runs)"
            ),
        );
    }

    /// A path of the configuration, relative to `ServerRoot` unless absolute.
    fn path(&self, value: &str) -> PathBuf {
        let path = Path::new(value);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.root.join(path)
        }
    }

    /// A virtual host's directives and sections, over what the main server set.
    fn apply(&mut self, vhost: &Section) {
        for node in &vhost.children {
            match node {
                Node::Directive(d) => self.directive(d),
                Node::Section(s) => self.section(s),
            }
        }
    }

    /// The main server, or its `<VirtualHost>`s, as one configuration: each virtual host a
    /// [`VirtualHost`] with its names, listeners and logs, what it mounts and its rules tagged
    /// with it, its process groups merged with the others' (a `WSGIDaemonProcess` at server
    /// level may serve several). What the model keeps once for the server (limits, timeouts,
    /// the document root) must be the same in all. Then each listener goes to the one group
    /// whose applications it serves, or to a front tier ([`Self::route_listeners`]).
    fn sites(
        &mut self,
        virtual_hosts: &[&Section],
        report: &Report,
        options: &StartOptions,
    ) -> Option<ServerConfig> {
        if virtual_hosts.len() <= 1 {
            // The main server's scripts are the one virtual host's too, as httpd merges them.
            if let Some(vhost) = virtual_hosts.first() {
                self.apply(vhost);
            }
            let user = self.front_user();
            let mut one = self.finish(report, options)?;
            for group in &mut one.groups {
                group.logging = None;
            }
            one.hosts[0].logging = None;
            self.route_listeners(&mut one, user)?;
            return Some(one);
        }
        if let Some(script) = report
            .scripts
            .iter()
            .find(|s| s.virtual_host_origin.is_none())
        {
            self.not_yet(
                &script.origin,
                "a WSGIScriptAlias outside the <VirtualHost>s when there are several",
            );
            return None;
        }
        let base = std::mem::take(&mut self.site);
        self.site = base.clone();
        let user = self.front_user();
        // One server root for all of them (each would otherwise derive its own, and with it
        // its own default document root, from its ServerName).
        let options = &StartOptions {
            server_root: Some(
                options
                    .server_root
                    .clone()
                    .unwrap_or_else(|| self.default_server_root(&base)),
            ),
            ..options.clone()
        };
        let mut merged: Option<ServerConfig> = None;
        for vhost in virtual_hosts {
            self.site = base.clone();
            self.apply(vhost);
            let scripts = report
                .scripts
                .iter()
                .filter(|s| s.virtual_host_origin.as_ref() == Some(&vhost.origin))
                .cloned()
                .collect();
            let one_host = Report {
                scripts,
                daemons: report.daemons.clone(),
                ..Report::default()
            };
            let Some(mut one) = self.finish(&one_host, options) else {
                continue;
            };
            one.hosts[0].listeners = self.vhost_listeners(vhost, &one.listeners);
            match &mut merged {
                None => {
                    tag_host(&mut one, 0);
                    merged = Some(one);
                }
                Some(all) => {
                    if one.http != all.http
                        || one.document_root != all.document_root
                        || one.static_files != all.static_files
                    {
                        self.not_yet(
                            &vhost.origin,
                            "<VirtualHost>s with different limits, timeouts, document roots or \
                             static-file settings",
                        );
                        return None;
                    }
                    self.merge_host(all, one, &vhost.origin)?;
                }
            }
        }
        let mut merged = merged?;
        if let Some(index) = (0..merged.listeners.len())
            .find(|l| !merged.hosts.iter().any(|h| h.listeners.contains(l)))
        {
            let listen = &merged.listeners[index];
            let address = format!("{}:{}", listen.host.as_deref().unwrap_or("*"), listen.port);
            let origin = virtual_hosts[0].origin.clone();
            self.not_yet(
                &origin,
                &format!("Listen {address}, which none of the <VirtualHost>s serves,"),
            );
            return None;
        }
        merged
            .mounts
            .sort_by_key(|mount| std::cmp::Reverse(mount.prefix.as_str().len()));
        // The supervisor's own messages go to the main server's log.
        merged.logging = self.logging(&base, options, &merged.server_root);
        self.route_listeners(&mut merged, user)?;
        Some(merged)
    }

    /// Adds virtual host `one` (a configuration of its own, already tagged with nothing) to
    /// `all`: its groups are merged with those of the same name and application group, which
    /// must then have the same settings.
    fn merge_host(
        &mut self,
        all: &mut ServerConfig,
        mut one: ServerConfig,
        origin: &Origin,
    ) -> Option<()> {
        let host = all.hosts.len();
        tag_host(&mut one, host);
        let mut group_index = Vec::new();
        for group in one.groups {
            let same = all.groups.iter().position(|g| {
                g.name == group.name && g.application_group == group.application_group
            });
            match same {
                Some(index) => {
                    let mut existing = all.groups[index].clone();
                    existing.logging = group.logging.clone();
                    if existing != group {
                        self.not_yet(
                            origin,
                            &format!(
                                "the process group '{}' in two <VirtualHost>s that give it \
                                 different settings (a user, a Python, WSGIPassAuthorization)",
                                group.name
                            ),
                        );
                        return None;
                    }
                    // Its error log is the server's once it serves several hosts.
                    all.groups[index].logging = None;
                    group_index.push(index);
                }
                None => {
                    group_index.push(all.groups.len());
                    all.groups.push(group);
                }
            }
        }
        for mut mount in one.mounts {
            if let MountTarget::Wsgi(app) = &mut mount.target {
                app.group = group_index[app.group];
            }
            all.mounts.push(mount);
        }
        all.hosts.extend(one.hosts);
        all.access.directories.extend(one.access.directories);
        all.access.locations.extend(one.access.locations);
        all.header_edits.request.extend(one.header_edits.request);
        all.header_edits.response.extend(one.header_edits.response);
        all.redirects.extend(one.redirects);
        all.error_documents.extend(one.error_documents);
        all.index_scripts.extend(one.index_scripts);
        Some(())
    }

    /// Decides who accepts on each listener: the one group whose applications its virtual
    /// hosts mount (no hop), or, where they mount those of several, the front tier, which
    /// forwards to the groups' internal sockets. A listener whose hosts mount no application
    /// goes to a group without applications (static files only). Groups left with nothing to
    /// serve are dropped.
    fn route_listeners(&mut self, config: &mut ServerConfig, user: FrontUser) -> Option<()> {
        let mut front_listeners = Vec::new();
        let mut forwarded = vec![false; config.groups.len()];
        for listener in 0..config.listeners.len() {
            let hosts: Vec<usize> = (0..config.hosts.len())
                .filter(|h| config.hosts[*h].listeners.contains(&listener))
                .collect();
            let mut groups: Vec<usize> = config
                .mounts
                .iter()
                .filter(|m| m.host.is_none_or(|h| hosts.contains(&h)))
                .filter_map(|m| match &m.target {
                    MountTarget::Wsgi(app) => Some(app.group),
                    MountTarget::Static(_) => None,
                })
                .collect();
            groups.sort_unstable();
            groups.dedup();
            match groups.as_slice() {
                [] => {
                    let without_apps = (0..config.groups.len())
                        .find(|g| config.apps_of_group(*g).next().is_none());
                    if let Some(group) = without_apps {
                        config.groups[group].listeners.push(listener);
                    }
                }
                [group] => config.groups[*group].listeners.push(listener),
                several => {
                    front_listeners.push(listener);
                    for group in several {
                        forwarded[*group] = true;
                    }
                }
            }
        }
        // Drop the groups left with nothing to serve (a host's own default group, when
        // another group serves its listener).
        let keep: Vec<bool> = (0..config.groups.len())
            .map(|g| forwarded[g] || !config.groups[g].listeners.is_empty())
            .collect();
        let mut new_index = Vec::new();
        let mut next = 0;
        for kept in &keep {
            new_index.push(next);
            next += usize::from(*kept);
        }
        for mount in &mut config.mounts {
            if let MountTarget::Wsgi(app) = &mut mount.target {
                app.group = new_index[app.group];
            }
        }
        let mut index = 0;
        config.groups.retain(|_| {
            index += 1;
            keep[index - 1]
        });
        let forwarded: Vec<bool> = forwarded
            .into_iter()
            .zip(&keep)
            .filter(|(_, kept)| **kept)
            .map(|(f, _)| f)
            .collect();
        if !front_listeners.is_empty() {
            self.add_front_tier(config, front_listeners, &forwarded, user)?;
        }
        Some(())
    }

    /// httpd's `User` and `Group` as the site sets them, for the front tier.
    fn front_user(&self) -> FrontUser {
        FrontUser {
            user: self.site.user.clone(),
            group: self.site.group.clone(),
        }
    }

    /// The listeners (indexes) a `<VirtualHost addr:port ...>` answers on.
    fn vhost_listeners(&mut self, vhost: &Section, listeners: &[ListenerConfig]) -> Vec<usize> {
        let mut found = Vec::new();
        for address in &vhost.args {
            let (host, port) = match address.rsplit_once(':') {
                Some((host, port)) => (host.trim_start_matches('[').trim_end_matches(']'), port),
                None => (address.as_str(), "*"),
            };
            let any_host = matches!(host, "*" | "_default_" | "0.0.0.0" | "::");
            let matching: Vec<usize> = listeners
                .iter()
                .enumerate()
                .filter(|(_, l)| port == "*" || port.parse() == Ok(l.port))
                .filter(|(_, l)| any_host || l.host.is_none() || l.host.as_deref() == Some(host))
                .map(|(i, _)| i)
                .collect();
            if matching.is_empty() {
                self.error(
                    &vhost.origin,
                    format!("<VirtualHost {address}> matches no Listen address"),
                );
            }
            found.extend(matching);
        }
        found.sort_unstable();
        found.dedup();
        found
    }

    /// The access rules of a site, laid out by URL path: each `<Directory>` rule at the URL
    /// paths its files are served at (the most specific directory around each mounted file or
    /// directory, and the directories inside a served one), each `<Location>` rule at its path.
    fn access_rules(&mut self, site: &Site, mounts: &[Mount], document_root: &Path) -> AccessRules {
        let mut directories = site.directory_rules.clone();
        if !site.server_access.is_empty() {
            match access::section_rule(&site.server_access) {
                // The whole server: the least specific directory of all.
                Ok(Some(rule)) => directories.insert(0, (PathBuf::from("/"), rule)),
                Ok(None) => {}
                Err(problem) if problem.not_yet => self.not_yet(&problem.origin, &problem.message),
                Err(problem) => self.error(&problem.origin, problem.message),
            }
        }
        let around = |path: &Path| {
            directories
                .iter()
                .filter(|(dir, _)| path.starts_with(dir))
                .max_by_key(|(dir, _)| dir.components().count())
                .map(|(_, rule)| rule.clone())
        };
        let mut by_url = Vec::new();
        let served_directory = |url: &str, dir: &Path, by_url: &mut Vec<AccessControl>| {
            if let (Some(rule), Some(prefix)) = (around(dir), MountPoint::parse(url)) {
                by_url.push(AccessControl {
                    prefix,
                    rule,
                    host: None,
                });
            }
            for (inner, rule) in &directories {
                let Ok(rest) = inner.strip_prefix(dir) else {
                    continue;
                };
                if rest.as_os_str().is_empty() {
                    continue;
                }
                let url = format!("{}/{}", url.trim_end_matches('/'), rest.display());
                if let Some(prefix) = MountPoint::parse(&url) {
                    by_url.push(AccessControl {
                        prefix,
                        rule: rule.clone(),
                        host: None,
                    });
                }
            }
        };
        // Document root first, then aliases, then applications: for the same URL path the
        // last one wins, as the router gives the application the request.
        served_directory("/", document_root, &mut by_url);
        for mount in mounts {
            match &mount.target {
                MountTarget::Static(StaticTarget::Directory(dir)) => {
                    served_directory(&mount.prefix.to_string(), dir, &mut by_url);
                }
                MountTarget::Static(StaticTarget::File(file)) => {
                    if let Some(rule) = around(file) {
                        by_url.push(AccessControl {
                            prefix: mount.prefix.clone(),
                            rule,
                            host: None,
                        });
                    }
                }
                MountTarget::Wsgi(_) => {}
            }
        }
        for mount in mounts {
            if let MountTarget::Wsgi(WsgiApp {
                entry: AppEntry::Script(script),
                ..
            }) = &mount.target
            {
                if let Some(rule) = around(script) {
                    by_url.push(AccessControl {
                        prefix: mount.prefix.clone(),
                        rule,
                        host: None,
                    });
                }
            }
        }
        let locations = site
            .location_rules
            .iter()
            .filter_map(|(url, rule, origin)| match MountPoint::parse(url) {
                Some(prefix) => Some(AccessControl {
                    prefix,
                    rule: rule.clone(),
                    host: None,
                }),
                None => {
                    self.error(
                        origin,
                        format!("<Location {url}>: the URL path must start with /"),
                    );
                    None
                }
            })
            .collect();
        // For equal prefixes the last one pushed applies (`AccessRules::allows`).
        AccessRules {
            directories: by_url,
            locations,
        }
    }

    /// The environ variables a script gets: the server's and virtual host's `SetEnv`s, then
    /// those of the `<Directory>`s around the script (least specific first), then those of
    /// the `<Location>`s around its whole URL space. A `<Location>` inside the application's
    /// URL space would set variables per request, which is not supported yet.
    fn script_environ(
        &mut self,
        site: &Site,
        script: &Path,
        mount: &MountPoint,
        mounts: &[MountPoint],
    ) -> Option<Vec<(String, String)>> {
        let mut environ = Vec::new();
        apply_environ(&mut environ, &site.environ);
        let mut directories: Vec<&(PathBuf, Vec<EnvChange>)> = site
            .directory_environ
            .iter()
            .filter(|(dir, _)| script.starts_with(dir))
            .collect();
        directories.sort_by_key(|(dir, _)| dir.components().count());
        for (_, changes) in directories {
            apply_environ(&mut environ, changes);
        }
        let mut locations = Vec::new();
        for (url, changes, at) in &site.location_environ {
            let Some(location) = MountPoint::parse(url) else {
                continue;
            };
            if location.matches(mount.as_str().as_bytes()) {
                locations.push((location, changes));
            } else if inside_app(&location, mount, mounts) {
                self.not_yet(
                    at,
                    &format!("SetEnv in <Location {url}> inside the application at {mount}"),
                );
                return None;
            }
        }
        locations.sort_by_key(|(location, _)| location.as_str().len());
        for (_, changes) in locations {
            apply_environ(&mut environ, changes);
        }
        Some(environ)
    }

    /// Whether `Authorization` reaches a script: the server's or virtual host's
    /// `WSGIPassAuthorization`, then the `<Directory>`s around the script, then the
    /// `<Location>`s around its URL space, each more specific one winning (mod_wsgi's merge).
    /// One inside its URL space would apply per request: not yet.
    fn pass_authorization(
        &mut self,
        site: &Site,
        script: &Path,
        mount: &MountPoint,
        mounts: &[MountPoint],
        base: bool,
    ) -> Option<bool> {
        let mut pass = site.pass_authorization.unwrap_or(base);
        let mut directories: Vec<&(PathBuf, bool)> = site
            .directory_pass_authorization
            .iter()
            .filter(|(dir, _)| script.starts_with(dir))
            .collect();
        directories.sort_by_key(|(dir, _)| dir.components().count());
        if let Some((_, on)) = directories.last() {
            pass = *on;
        }
        let mut locations = Vec::new();
        for (url, on, at) in &site.location_pass_authorization {
            let Some(location) = MountPoint::parse(url) else {
                continue;
            };
            if location.matches(mount.as_str().as_bytes()) {
                locations.push((location, *on));
            } else if inside_app(&location, mount, mounts) {
                self.not_yet(
                    at,
                    &format!(
                        "WSGIPassAuthorization in <Location {url}> inside the application at {mount}"
                    ),
                );
                return None;
            }
        }
        locations.sort_by_key(|(location, _)| location.as_str().len());
        if let Some((_, on)) = locations.last() {
            pass = *on;
        }
        Some(pass)
    }

    /// The `ErrorDocument`s; a local path must be served by a static alias (an application's
    /// page would need an internal request, which is not supported yet).
    fn error_documents(&mut self, site: &Site, mounts: &[Mount]) -> Vec<ErrorDocument> {
        let mut documents = Vec::new();
        for (status, body, origin) in &site.error_documents {
            if let ErrorBody::Local(path) = body {
                let served_by_alias = mounts
                    .iter()
                    .filter(|m| m.prefix.matches(path.as_bytes()))
                    .max_by_key(|m| m.prefix.path_len())
                    .is_some_and(|m| matches!(m.target, MountTarget::Static(_)));
                if !served_by_alias {
                    self.not_yet(
                        origin,
                        &format!("ErrorDocument {status} {path} (a path not served by an Alias)"),
                    );
                    continue;
                }
            }
            documents.push(ErrorDocument {
                status: *status,
                body: body.clone(),
                host: None,
            });
        }
        documents
    }

    /// The name `WSGIApplicationGroup` gives a script's interpreter (`mod_wsgi.application_group`):
    /// `%{GLOBAL}` is `""`, `%{SERVER}` the server's name (with a port other than 80 and 443),
    /// `%{RESOURCE}` (mod_wsgi's default) that and the mount point, `%{ENV:NAME}` a variable the
    /// configuration sets (else the text itself, as mod_wsgi does), anything else itself.
    fn application_group_name(
        &mut self,
        value: Option<&str>,
        site: &Site,
        mount: &MountPoint,
        environ: &[(String, String)],
        origin: &Origin,
    ) -> Option<String> {
        let server_name = site.server_name.as_deref().unwrap_or("localhost");
        let port = site.listens.first().map_or(80, |(_, p)| *p);
        let host = if port == 80 || port == 443 {
            server_name.to_owned()
        } else {
            format!("{server_name}:{port}")
        };
        Some(match value {
            None | Some("%{RESOURCE}") => format!("{host}|{}", mount.as_str()),
            Some("%{GLOBAL}") => String::new(),
            Some("%{SERVER}") => host,
            Some(env) if env.starts_with("%{ENV:") && env.ends_with('}') => {
                let name = &env[6..env.len() - 1];
                environ
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map_or_else(|| env.to_owned(), |(_, v)| v.clone())
            }
            Some(other) if other.starts_with("%{") => {
                self.not_yet(origin, &format!("WSGIApplicationGroup {other}"));
                return None;
            }
            Some(name) => name.to_owned(),
        })
    }

    /// The logs a site's directives describe.
    fn logging(&self, site: &Site, options: &StartOptions, server_root: &Path) -> LogSettings {
        let error_log = if options.log_to_terminal {
            LogDestination::Terminal
        } else {
            site.error_log
                .clone()
                .unwrap_or_else(|| LogDestination::File(server_root.join("error_log")))
        };
        let access_log = site
            .access_log
            .clone()
            .map(|(destination, format)| AccessLogSettings {
                destination: if options.log_to_terminal {
                    LogDestination::Terminal
                } else {
                    destination
                },
                format,
            });
        LogSettings {
            level: site.log_level.unwrap_or(LogLevel::Warn),
            error_log,
            access_log,
        }
    }

    /// A `<Directory>`, `<Location>` or `<Files>` section: what it holds must mean the same
    /// as the site without it, except for what the translation reads from it.
    fn section(&mut self, section: &Section) {
        let Some(spec) = spec(&section.name, true) else {
            return;
        };
        if spec.disposition != Disposition::Honoured {
            return;
        }
        let container = [
            "Directory",
            "Location",
            "Files",
            "FilesMatch",
            "DirectoryMatch",
            "LocationMatch",
        ]
        .iter()
        .any(|name| section.is(name));
        if !container {
            self.not_yet(&section.origin, &format!("<{}>", section.name));
            return;
        }
        match access::section_rule(&section.children) {
            Ok(Some(rule)) => {
                let target = section.args.first().cloned().unwrap_or_default();
                if section.is("Directory") {
                    let dir = self.path(target.trim_end_matches('/'));
                    self.site.directory_rules.push((dir, rule));
                } else if section.is("Location") {
                    self.site
                        .location_rules
                        .push((target, rule, section.origin.clone()));
                } else if rule != AccessRule::All(true) {
                    self.not_yet(
                        &section.origin,
                        &format!("access rules inside <{}>", section.name),
                    );
                }
            }
            Ok(None) => {}
            Err(problem) if problem.not_yet => self.not_yet(&problem.origin, &problem.message),
            Err(problem) => self.error(&problem.origin, problem.message),
        }
        let changes: Vec<EnvChange> = section
            .children
            .iter()
            .filter_map(|n| match n {
                Node::Directive(d) if ["SetEnv", "UnsetEnv", "PassEnv"].iter().any(|x| d.is(x)) => {
                    Some(env_changes(d))
                }
                _ => None,
            })
            .flatten()
            .collect();
        if !changes.is_empty() {
            let target = section.args.first().cloned().unwrap_or_default();
            if section.is("Directory") {
                let dir = self.path(target.trim_end_matches('/'));
                self.site.directory_environ.push((dir, changes));
            } else if section.is("Location") {
                self.site
                    .location_environ
                    .push((target, changes, section.origin.clone()));
            } else {
                self.not_yet(
                    &section.origin,
                    &format!("SetEnv inside <{}>", section.name),
                );
            }
        }
        for node in section.children.iter().filter(|n| !access::is_access(n)) {
            match node {
                Node::Section(inner) => self.section(inner),
                Node::Directive(d) if ["SetEnv", "UnsetEnv", "PassEnv"].iter().any(|x| d.is(x)) => {
                }
                Node::Directive(d) => self.inside_section(d, section),
            }
        }
    }

    fn inside_section(&mut self, d: &Directive, section: &Section) {
        if spec(&d.name, false).is_none_or(|s| s.disposition != Disposition::Honoured) {
            return;
        }
        let args: Vec<String> = d.args.iter().map(|a| a.to_ascii_lowercase()).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match d.name.to_ascii_lowercase().as_str() {
            // Read by the check's routing (process and application groups), or harmless; a
            // directory of scripts takes its groups from its own.
            "wsgiprocessgroup" | "wsgiapplicationgroup" if section.is("Directory") => {
                let dir = self.path(section.args.first().map_or("", String::as_str));
                let value = d.args.first().cloned().unwrap_or_default();
                if d.is("WSGIProcessGroup") {
                    self.site.script_directories.process_group(dir, value);
                } else {
                    self.site.script_directories.application_group(dir, value);
                }
            }
            "wsgiprocessgroup" | "wsgiapplicationgroup" | "allowoverride" => {}
            "addhandler" | "sethandler"
                if section.is("Directory") && args.first() == Some(&"wsgi-script") =>
            {
                let dir = self.path(section.args.first().map_or("", String::as_str));
                let extensions = d.is("AddHandler").then(|| d.args[1..].to_vec());
                self.site
                    .script_directories
                    .handler(dir, extensions, &d.origin);
            }
            "options" => {
                let is_document_root = section.is("Directory")
                    && section.args.first().is_some_and(|dir| {
                        self.site
                            .document_root
                            .as_deref()
                            .is_some_and(|root| Path::new(dir.trim_end_matches('/')) == root)
                    });
                if section.is("Directory")
                    && args
                        .iter()
                        .any(|a| matches!(*a, "execcgi" | "+execcgi" | "all"))
                {
                    let dir = self.path(section.args.first().map_or("", String::as_str));
                    self.site.script_directories.exec_cgi(dir);
                }
                for option in &args {
                    let option = option.trim_start_matches(['+', '-']);
                    match option {
                        "indexes" if is_document_root || section.is("Directory") => {
                            self.site.directory_listing =
                                !d.args.iter().any(|a| a.eq_ignore_ascii_case("-indexes"));
                        }
                        "followsymlinks"
                        | "symlinksifownermatch"
                        | "execcgi"
                        | "none"
                        | "all"
                        | "includes"
                        | "includesnoexec"
                        | "multiviews"
                        | "indexes" => {}
                        other => {
                            self.error(&d.origin, format!("Options: unknown option '{other}'"))
                        }
                    }
                }
            }
            "directoryindex" => {
                if section.is("Directory") {
                    let dir = self.path(section.args.first().map_or("", String::as_str));
                    self.site.script_directories.index(dir, d.args.clone());
                }
                self.directory_index(d);
            }
            "header" | "requestheader" if section.is("Location") => {
                let location = section.args.first().cloned().unwrap_or_default();
                self.header_line(d, &location);
            }
            "sethandler" if section.is("Location") && args == ["none"] => {
                // httpd: no handler here, so the static files' own. The router already
                // gives an `Alias` precedence over an application.
            }
            "wsgipassauthorization" => {
                let place = section.args.first().cloned().unwrap_or_default();
                if section.is("Location") {
                    let origin = d.origin.clone();
                    self.site
                        .location_pass_authorization
                        .push((place, on(d), origin));
                } else if section.is("Directory") {
                    let dir = self.path(&place);
                    self.site.directory_pass_authorization.push((dir, on(d)));
                } else {
                    self.not_yet(&d.origin, &format!("{} inside <{}>", d.name, section.name));
                }
            }
            "wsgiscriptreloading" => self.site.script_reloading = Some(on(d)),
            _ => self.not_yet(&d.origin, &format!("{} inside <{}>", d.name, section.name)),
        }
    }

    fn directory_index(&mut self, d: &Directive) {
        self.site.directory_index = Some(match d.args.first() {
            Some(first) if first.eq_ignore_ascii_case("disabled") => None,
            first => first.cloned(),
        });
    }

    fn directive(&mut self, d: &Directive) {
        if spec(&d.name, false).is_none_or(|s| s.disposition != Disposition::Honoured) {
            return;
        }
        let first = d.args.first().map(String::as_str).unwrap_or("");
        match d.name.to_ascii_lowercase().as_str() {
            "listen" => self.listen(d),
            "servername" => {
                let name = first.split_once("://").map_or(first, |(_, rest)| rest);
                let host = name
                    .rsplit_once(':')
                    .filter(|(_, p)| p.parse::<u16>().is_ok())
                    .map_or(name, |(h, _)| h);
                self.site.server_name = Some(host.to_owned());
            }
            "serveralias" => self
                .site
                .server_aliases
                .extend(d.args.iter().map(|a| a.to_ascii_lowercase())),
            "serverroot" => {}
            "documentroot" => self.site.document_root = Some(self.path(first)),
            "alias" => match d.args.as_slice() {
                [url, path] => {
                    let path = self.path(path);
                    self.site
                        .aliases
                        .push((url.clone(), path, d.origin.clone()));
                }
                _ => self.error(&d.origin, "Alias takes a URL path and a file or directory"),
            },
            "directoryindex" => self.directory_index(d),
            "errorlog" => {
                if first.starts_with('|') || first.starts_with("syslog") {
                    self.not_yet(&d.origin, "an ErrorLog to a program or syslog");
                } else {
                    self.site.error_log = Some(LogDestination::File(self.path(first)));
                }
            }
            "logformat" => match d.args.as_slice() {
                [format] => {
                    self.site.log_formats.insert(String::new(), format.clone());
                }
                [format, nickname] => {
                    self.site
                        .log_formats
                        .insert(nickname.clone(), format.clone());
                }
                _ => self.error(
                    &d.origin,
                    "LogFormat takes a format and an optional nickname",
                ),
            },
            "customlog" | "transferlog" => self.custom_log(d),
            "loglevel" => {
                let level = d
                    .args
                    .iter()
                    .find(|a| !a.contains(':'))
                    .and_then(|a| LogLevel::parse(a));
                match level {
                    Some(level) => self.site.log_level = Some(level),
                    None if d.args.iter().all(|a| a.contains(':')) => {}
                    None => self.error(
                        &d.origin,
                        format!(
                            "LogLevel '{}': not one of {}",
                            d.args.join(" "),
                            LogLevel::NAMES.join(", ")
                        ),
                    ),
                }
            }
            "limitrequestbody" => self.site.limit_request_body = self.number(d),
            "limitrequestline" => self.site.limit_request_line = self.number(d).map(|n| n as usize),
            "limitrequestfieldsize" => {
                self.site.limit_request_field_size = self.number(d).map(|n| n as usize)
            }
            "limitrequestfields" => {
                self.site.limit_request_fields = self.number(d).map(|n| n as usize)
            }
            "timeout" => self.site.timeout = self.number(d),
            "keepalive" => self.site.keep_alive = Some(on(d)),
            "keepalivetimeout" => {
                let value = first.trim_end_matches("ms");
                match value.parse::<u64>() {
                    Ok(n) if first.ends_with("ms") => {
                        self.site.keep_alive_timeout = Some(n.div_ceil(1000))
                    }
                    Ok(n) => self.site.keep_alive_timeout = Some(n),
                    Err(_) => self.error(
                        &d.origin,
                        format!("KeepAliveTimeout '{first}' is not a number of seconds"),
                    ),
                }
            }
            "requestreadtimeout" => self.request_read_timeout(d),
            "listenbacklog" => {
                self.site.listen_backlog = self.number(d).map(|n| n.min(u64::from(u32::MAX)) as u32)
            }
            "pidfile" => self.site.pid_file = Some(self.path(first)),
            "typesconfig" => {
                let path = self.path(first);
                match std::fs::read_to_string(&path) {
                    Ok(text) => self.site.mime_types.extend(crate::mime_types::parse(&text)),
                    Err(err) => self.error(
                        &d.origin,
                        format!("TypesConfig '{}' cannot be read: {err}", path.display()),
                    ),
                }
            }
            "addtype" => {
                if let Some((media_type, extensions)) = d.args.split_first() {
                    for ext in extensions {
                        let ext = ext.trim_start_matches('.').to_ascii_lowercase();
                        self.site.mime_types.insert(ext, media_type.clone());
                    }
                }
            }
            "enablesendfile" => self.site.enable_sendfile = on(d),
            // The user of groups that name none; httpd ignores both unless started as root.
            "user" => self.site.user = Some((first.to_owned(), d.origin.clone())),
            "group" => self.site.group = Some(first.to_owned()),
            "wsgipythonhome" => self.site.python_home = Some((self.path(first), d.origin.clone())),
            "wsgipythonpath" => {
                let paths: Vec<PathBuf> = first
                    .split(':')
                    .filter(|p| !p.is_empty())
                    .map(|p| self.path(p))
                    .collect();
                self.site.python_path.extend(paths);
            }
            "wsgicallableobject" => self.site.callable = Some(first.to_owned()),
            "wsgichunkedrequest" => self.site.chunked_requests = on(d),
            "errordocument" => match d.args.as_slice() {
                [code, target] if code.len() == 3 && code.parse::<u16>().is_ok_and(|c| (400..=599).contains(&c)) => {
                    let status = code.parse().unwrap_or(500);
                    let body = if target.starts_with('/') {
                        ErrorBody::Local(target.clone())
                    } else if target.contains("://") {
                        ErrorBody::Url(target.clone())
                    } else if target.eq_ignore_ascii_case("default") {
                        self.site.error_documents.retain(|(s, _, _)| *s != status);
                        return;
                    } else {
                        ErrorBody::Text(target.clone())
                    };
                    self.site.error_documents.retain(|(s, _, _)| *s != status);
                    self.site.error_documents.push((status, body, d.origin.clone()));
                }
                _ => self.error(&d.origin, "ErrorDocument takes an error status (400-599) and a text, a local path or a URL"),
            },
            "traceenable" => match first.to_ascii_lowercase().as_str() {
                value @ ("on" | "off") => self.site.trace_enable = Some(value.to_owned()),
                _ => self.not_yet(&d.origin, &format!("TraceEnable {first}")),
            },
            "header" | "requestheader" => self.header_line(d, "/"),
            "redirect" | "redirectmatch" | "redirectpermanent" | "redirecttemp" => {
                match parse_redirect(d) {
                    Ok(redirect) => self.site.redirects.push(redirect),
                    Err(why) => self.error(&d.origin, why),
                }
            }
            "setenv" | "unsetenv" | "passenv" => {
                let changes = env_changes(d);
                self.site.environ.extend(changes);
            }
            "wsgipassauthorization" => self.site.pass_authorization = Some(on(d)),
            "wsgiscriptreloading" => self.site.script_reloading = Some(on(d)),
            // Read through the check's report, or decided while reading.
            "wsgidaemonprocess"
            | "wsgiscriptalias"
            | "wsgiscriptaliasmatch"
            | "wsgiprocessgroup"
            | "wsgiapplicationgroup"
            | "include"
            | "includeoptional"
            | "define"
            | "undefine"
            | "wsgiimportscript" => {}
            "order" | "satisfy" | "allow" | "deny" | "require" => {
                self.site.server_access.push(Node::Directive(d.clone()));
            }
            _ => self.not_yet(&d.origin, &d.name),
        }
    }

    fn header_line(&mut self, d: &Directive, location: &str) {
        match parse_header_edit(d) {
            Ok(edit) => {
                self.site
                    .header_edits
                    .push((location.to_owned(), d.is("RequestHeader"), edit))
            }
            Err((true, what)) => self.not_yet(&d.origin, &what),
            Err((false, why)) => self.error(&d.origin, why),
        }
    }

    fn number(&mut self, d: &Directive) -> Option<u64> {
        match d.args.first().map(|a| a.parse::<u64>()) {
            Some(Ok(n)) => Some(n),
            _ => {
                self.error(&d.origin, format!("{} takes a whole number", d.name));
                None
            }
        }
    }

    fn listen(&mut self, d: &Directive) {
        let Some(address) = d.args.first() else {
            return;
        };
        if d.args
            .get(1)
            .is_some_and(|p| p.eq_ignore_ascii_case("https"))
        {
            self.not_yet(&d.origin, "Listen ... https");
            return;
        }
        let (host, port) = match address.rsplit_once(':') {
            Some((host, port)) => (
                Some(
                    host.trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_owned(),
                ),
                port,
            ),
            None => (None, address.as_str()),
        };
        match port.parse::<u16>() {
            Ok(port) => self.site.listens.push((
                host.filter(|h| !h.is_empty() && h != "*" && h != "0.0.0.0"),
                port,
            )),
            Err(_) => self.error(&d.origin, format!("Listen '{address}': not a port")),
        }
    }

    fn custom_log(&mut self, d: &Directive) {
        let (path, format) = match d.args.as_slice() {
            [path] => (path, None),
            [path, format] => (path, Some(format)),
            [_, _, condition, ..] => {
                self.not_yet(
                    &d.origin,
                    &format!("a conditional access log ({condition})"),
                );
                return;
            }
            [] => return,
        };
        if path.starts_with('|') || path.starts_with("syslog") {
            self.not_yet(&d.origin, "an access log to a program or syslog");
            return;
        }
        let format = match format {
            Some(f) => self
                .site
                .log_formats
                .get(f)
                .cloned()
                .unwrap_or_else(|| f.clone()),
            None => self
                .site
                .log_formats
                .get("")
                .cloned()
                .unwrap_or_else(|| "common".to_owned()),
        };
        if let Err(err) = crate::access_format::AccessFormat::parse(&format) {
            self.error(&d.origin, err.to_string());
            return;
        }
        if self.site.access_log.is_some() {
            self.not_yet(&d.origin, "a second access log");
            return;
        }
        self.site.access_log = Some((LogDestination::File(self.path(path)), format));
    }

    fn request_read_timeout(&mut self, d: &Directive) {
        let mut timeouts = self.site.request_read_timeout.unwrap_or_default();
        for arg in &d.args {
            let Some((stage, spec)) = arg.split_once('=') else {
                self.error(
                    &d.origin,
                    format!("RequestReadTimeout '{arg}': write it as header=... or body=..."),
                );
                return;
            };
            let mut parts = spec.split(',');
            let times = parts.next().unwrap_or("");
            let (timeout, max) = match times.split_once('-') {
                Some((t, m)) => (t.parse::<u64>(), m.parse::<u64>()),
                None => (times.parse::<u64>(), Ok(0)),
            };
            let rate = match parts.next() {
                Some(rate) => rate
                    .strip_prefix("MinRate=")
                    .or_else(|| rate.strip_prefix("minrate="))
                    .and_then(|r| r.parse::<u64>().ok()),
                None => Some(0),
            };
            let (Ok(timeout), Ok(max), Some(rate)) = (timeout, max, rate) else {
                self.error(
                    &d.origin,
                    format!(
                        "RequestReadTimeout '{arg}': not of the form {stage}=20-40,MinRate=500"
                    ),
                );
                return;
            };
            match stage.to_ascii_lowercase().as_str() {
                "header" => timeouts.header = (timeout, max, rate),
                "body" => timeouts.body = (timeout, max, rate),
                "handshake" => {}
                _ => {
                    self.error(
                        &d.origin,
                        format!(
                            "RequestReadTimeout '{arg}': the stages are header, body and handshake"
                        ),
                    );
                    return;
                }
            }
        }
        self.site.request_read_timeout = Some(timeouts);
    }

    /// The model, from what was read and the check's report.
    fn finish(&mut self, report: &Report, options: &StartOptions) -> Option<ServerConfig> {
        let site = std::mem::take(&mut self.site);
        let (with_handlers, index_scripts) = self.handler_scripts(report, &site)?;
        let report = with_handlers.as_ref().unwrap_or(report);
        let (mut groups, mounts) = self.groups_and_mounts(report, &site)?;
        let server_name = site
            .server_name
            .clone()
            .unwrap_or_else(|| "localhost".to_owned());
        let listeners: Vec<ListenerConfig> = site
            .listens
            .iter()
            .map(|(host, port)| ListenerConfig {
                host: host.clone(),
                port: *port,
                backlog: site.listen_backlog.unwrap_or(511),
            })
            .collect();
        if listeners.is_empty() {
            let origin = report.scripts.first().map(|s| s.origin.clone());
            match origin {
                Some(origin) => self.error(
                    &origin,
                    "the configuration has no Listen directive: add one, such as Listen 8080",
                ),
                None => return None,
            }
            return None;
        }
        let server_root = options
            .server_root
            .clone()
            .unwrap_or_else(|| self.default_server_root(&site));
        let mut all_mounts = self.alias_mounts(&site);
        all_mounts.extend(mounts);
        all_mounts.sort_by_key(|mount| std::cmp::Reverse(mount.prefix.as_str().len()));
        let timeouts = site.request_read_timeout.unwrap_or_default();
        let keep_alive = site.keep_alive.unwrap_or(true);
        let document_root = site
            .document_root
            .clone()
            .unwrap_or_else(|| server_root.join("htdocs"));
        let logging = self.logging(&site, options, &server_root);
        let access = self.access_rules(&site, &all_mounts, &document_root);
        let error_documents = self.error_documents(&site, &all_mounts);
        let header_edits = self.header_edits(&site);
        for group in &mut groups {
            group.logging = Some(logging.clone());
        }
        let mut names: Vec<String> = site
            .server_name
            .iter()
            .map(|name| name.to_ascii_lowercase())
            .collect();
        names.extend(site.server_aliases.iter().cloned());
        let hosts = vec![VirtualHost {
            names,
            listeners: (0..listeners.len()).collect(),
            logging: Some(logging.clone()),
        }];
        Some(ServerConfig {
            server_name,
            listeners,
            hosts,
            groups,
            mounts: all_mounts,
            http: HttpSettings {
                keep_alive_timeout: if keep_alive {
                    seconds(site.keep_alive_timeout.unwrap_or(5))
                } else {
                    Duration::ZERO
                },
                header_timeout: seconds(timeouts.header.0.max(1)),
                header_max_timeout: seconds(timeouts.header.1.max(timeouts.header.0).max(1)),
                header_min_rate: timeouts.header.2,
                body_timeout: seconds(timeouts.body.0.max(1)),
                body_max_timeout: (timeouts.body.1 > 0).then(|| seconds(timeouts.body.1)),
                body_min_rate: timeouts.body.2,
                limit_request_body: match site.limit_request_body.unwrap_or(1 << 30) {
                    0 => u64::MAX,
                    limit => limit,
                },
                socket_timeout: seconds(site.timeout.unwrap_or(60).max(1)),
                limit_request_line: site.limit_request_line.unwrap_or(8190).max(1),
                limit_request_field_size: site.limit_request_field_size.unwrap_or(8190).max(1),
                limit_request_fields: site.limit_request_fields.unwrap_or(100).max(1),
                max_connections: 100,
                chunked_requests: site.chunked_requests,
                trace: match site.trace_enable.as_deref() {
                    Some("off") => TraceMode::Refuse,
                    _ => TraceMode::Echo,
                },
            },
            logging,
            locale: locale(None, self.env.locale.as_deref()),
            static_files: StaticSettings {
                overlay: true,
                overlay_applications: false,
                directory_index: site
                    .directory_index
                    .clone()
                    .unwrap_or_else(|| Some("index.html".to_owned())),
                directory_listing: site.directory_listing,
                serve_hidden_files: false,
                mime_types: site.mime_types.clone(),
                enable_sendfile: site.enable_sendfile,
                compress_responses: false,
            },
            pid_file: site
                .pid_file
                .clone()
                .unwrap_or_else(|| server_root.join("oxwsgi.pid")),
            document_root,
            access,
            header_edits,
            redirects: site.redirects.clone(),
            error_documents,
            index_scripts,
            server_root,
        })
    }

    /// Where run-time files go when neither the files nor `--server-root` say:
    /// `$TMPDIR/oxwsgi-NAME:PORT:UID`, as mod_wsgi-express names its server root.
    fn default_server_root(&self, site: &Site) -> PathBuf {
        let name = site.server_name.as_deref().unwrap_or("localhost");
        let port = site.listens.first().map_or(80, |(_, port)| *port);
        let tmp = self
            .env
            .tmpdir
            .clone()
            .unwrap_or_else(|| PathBuf::from("/tmp"));
        tmp.join(format!("oxwsgi-{name}:{port}:{}", self.env.uid))
    }

    /// The static mounts of the site's `Alias`es.
    fn alias_mounts(&mut self, site: &Site) -> Vec<Mount> {
        let mut mounts = Vec::new();
        for (url, path, origin) in &site.aliases {
            // `Alias /static/ …` serves what is below /static/, not /static itself.
            let prefix = if url.len() > 1 && url.ends_with('/') {
                MountPoint::below_only(url)
            } else {
                MountPoint::parse(url)
            };
            let Some(prefix) = prefix else {
                self.error(
                    origin,
                    format!("Alias '{url}': the URL path must start with /"),
                );
                continue;
            };
            let target = if path.is_dir() {
                StaticTarget::Directory(path.clone())
            } else if path.is_file() {
                StaticTarget::File(path.clone())
            } else {
                self.error(
                    origin,
                    format!(
                        "Alias {url}: '{}' is neither a file nor a directory",
                        path.display()
                    ),
                );
                continue;
            };
            mounts.push(Mount {
                prefix,
                target: MountTarget::Static(target),
                host: None,
                pattern: None,
            });
        }
        mounts
    }

    /// The site's `Header` and `RequestHeader` lines.
    fn header_edits(&self, site: &Site) -> HeaderEdits {
        let mut header_edits = HeaderEdits::default();
        for (location, request, edit) in &site.header_edits {
            let Some(prefix) = MountPoint::parse(location) else {
                continue;
            };
            let edit = HeaderEdit {
                prefix,
                host: None,
                always: edit.always,
                action: edit.action,
                name: edit.name.clone(),
                value: edit.value.clone(),
            };
            if *request {
                header_edits.request.push(edit);
            } else {
                header_edits.response.push(edit);
            }
        }
        header_edits
    }

    /// The process groups the scripts name (the default group for those that name none, and
    /// for a site without scripts), in order of first use, and the applications they run.
    fn groups_and_mounts(
        &mut self,
        report: &Report,
        site: &Site,
    ) -> Option<(Vec<ProcessGroup>, Vec<Mount>)> {
        // Each group's name (`None`: the default group) and application group.
        let mut groups: Vec<(Option<&str>, Option<String>)> = Vec::new();
        // What is mounted where: a `<Location>` below one of these is not another's.
        let mount_points: Vec<MountPoint> = report
            .scripts
            .iter()
            .map(|script| script.url.as_str())
            .chain(site.aliases.iter().map(|(url, _, _)| url.as_str()))
            .filter_map(MountPoint::parse)
            .collect();
        let mut mounts = Vec::new();
        for script in &report.scripts {
            let name = script
                .process_group
                .as_deref()
                .filter(|g| *g != "%{GLOBAL}");
            let Some(entries) = self.script_entries(script) else {
                continue;
            };
            for (path, prefix, pattern) in entries {
                let Some(environ) = self.script_environ(site, &path, &prefix, &mount_points) else {
                    continue;
                };
                let Some(pass_authorization) =
                    self.pass_authorization(site, &path, &prefix, &mount_points, false)
                else {
                    continue;
                };
                if pattern.is_some() && script.application_group.is_none() {
                    // %{RESOURCE} names each request's SCRIPT_NAME, which a pattern
                    // decides per request: one interpreter per script cannot follow it.
                    self.not_yet(
                        &script.origin,
                        "WSGIScriptAliasMatch with the default application group \
                         (%{RESOURCE}; set WSGIApplicationGroup %{GLOBAL} or a name)",
                    );
                    break;
                }
                let Some(app_group) = self.application_group_name(
                    script.application_group.as_deref(),
                    site,
                    &prefix,
                    &environ,
                    &script.origin,
                ) else {
                    continue;
                };
                // mod_wsgi gives each application group an interpreter of its own; oxwsgi runs
                // one per process, so each application group of a process group gets workers of
                // its own, with the group's settings (docs/apache.md).
                let key = (name, Some(app_group));
                let index = match groups.iter().position(|group| *group == key) {
                    Some(index) => index,
                    None => {
                        groups.push(key);
                        groups.len() - 1
                    }
                };
                mounts.push(Mount {
                    prefix,
                    target: MountTarget::Wsgi(WsgiApp {
                        group: index,
                        entry: AppEntry::Script(path),
                        callable: site
                            .callable
                            .clone()
                            .unwrap_or_else(|| "application".to_owned()),
                        environ,
                        pass_authorization,
                    }),
                    host: None,
                    pattern: pattern.clone(),
                });
            }
        }
        if groups.is_empty() {
            groups.push((None, None));
        }
        let mut process_groups = Vec::new();
        for (name, application_group) in groups {
            let daemon = name.and_then(|name| report.daemons.iter().find(|d| d.name == name));
            let group = self.process_group(daemon, site, application_group.unwrap_or_default())?;
            process_groups.push(group);
        }
        Some((process_groups, mounts))
    }

    /// The report with the scripts of the site's directories of scripts added, and the
    /// directory URLs whose index is a script (`None`: the site has none).
    fn handler_scripts(
        &mut self,
        report: &Report,
        site: &Site,
    ) -> Option<(Option<Report>, Vec<IndexScript>)> {
        if site.script_directories.is_empty() {
            return Some((None, Vec::new()));
        }
        let mut bases: Vec<(String, PathBuf)> = site
            .aliases
            .iter()
            .map(|(url, path, _)| (url.clone(), path.clone()))
            .collect();
        if let Some(root) = &site.document_root {
            bases.push(("/".to_owned(), root.clone()));
        }
        // The longest URL first: a file under an Alias is served there, not by the root.
        bases.sort_by_key(|(url, _)| std::cmp::Reverse(url.len()));
        let default_index: Vec<String> = match &site.directory_index {
            Some(Some(name)) => vec![name.clone()],
            Some(None) => Vec::new(),
            None => vec!["index.html".to_owned()],
        };
        match site.script_directories.scripts(&bases, &default_index) {
            Ok(found) => {
                let mut report = report.clone();
                report.scripts.extend(found.scripts);
                let indexes = found
                    .index_scripts
                    .into_iter()
                    .map(|(directory, script)| IndexScript {
                        directory,
                        script,
                        host: None,
                    })
                    .collect();
                Some((Some(report), indexes))
            }
            Err(errors) => {
                for (origin, message) in errors {
                    self.error(&origin, message);
                }
                None
            }
        }
    }

    /// The scripts a `WSGIScriptAlias` or `WSGIScriptAliasMatch` mounts: each one's file, the
    /// mount point its rules are found by, and the pattern that leads to it. A pattern's
    /// scripts are the files its script names (`$1`… as `*`), loaded at start; one added later
    /// is not served until a restart.
    fn script_entries(
        &mut self,
        script: &ScriptMount,
    ) -> Option<Vec<(PathBuf, MountPoint, Option<ScriptPattern>)>> {
        if !script.pattern {
            let path = self.path(&script.script);
            if path.is_dir() {
                self.not_yet(
                    &script.origin,
                    "a WSGIScriptAlias to a directory of scripts",
                );
                return None;
            }
            if !path.is_file() {
                self.error(
                    &script.origin,
                    format!("the WSGI script '{}' does not exist", path.display()),
                );
                return None;
            }
            let Some(prefix) = MountPoint::parse(&script.url) else {
                self.error(
                    &script.origin,
                    format!(
                        "WSGIScriptAlias '{}': the URL path must start with /",
                        script.url
                    ),
                );
                return None;
            };
            return Some(vec![(path, prefix, None)]);
        }
        if let Err(err) = regex::bytes::Regex::new(&script.url) {
            self.error(
                &script.origin,
                format!(
                    "WSGIScriptAliasMatch '{}' is not a regular expression oxwsgi can use \
                     (Rust's regex syntax: no look-around, no back-references): {err}",
                    script.url
                ),
            );
            return None;
        }
        let target = self.path(&script.script);
        let target = target.to_string_lossy();
        let files = script_files(&target);
        if files.is_empty() {
            self.error(
                &script.origin,
                format!(
                    "WSGIScriptAliasMatch: no script matches '{target}' ($1… standing for any \
                     name); oxwsgi loads a pattern's scripts at start"
                ),
            );
            return None;
        }
        let pattern = ScriptPattern {
            regex: script.url.clone(),
            script: target.into_owned(),
        };
        let prefix = literal_prefix(&script.url);
        Some(
            files
                .into_iter()
                .map(|file| (file, prefix.clone(), Some(pattern.clone())))
                .collect(),
        )
    }

    /// The front tier of listeners whose applications run in several groups: its workers
    /// accept on those listeners and forward to the groups marked in `forwarded`, which get
    /// internal sockets. Started as root, it runs as httpd's `User`, as httpd's own processes
    /// do, or without one as the first forwarded group's user (it needs to read only what
    /// that group reads: the site's static files).
    fn add_front_tier(
        &mut self,
        config: &mut ServerConfig,
        listeners: Vec<usize>,
        forwarded: &[bool],
        user: FrontUser,
    ) -> Option<()> {
        let server_root = config.server_root.clone();
        let groups = &mut config.groups;
        for (index, group) in groups.iter_mut().enumerate() {
            if forwarded[index] {
                group.internal_socket = Some(server_root.join(format!("group-{index}.sock")));
            }
        }
        let first = forwarded
            .iter()
            .position(|f| *f)
            .expect("a forwarded group");
        let run_as = match &user.user {
            Some((name, origin)) if self.env.uid == 0 => {
                match crate::users::run_as(name, user.group.as_deref(), None) {
                    Ok(run_as) => Some(run_as),
                    Err(why) => {
                        self.error(origin, format!("user {name}: {why}"));
                        return None;
                    }
                }
            }
            _ => groups[first].run_as.clone(),
        };
        let template = &groups[first];
        let lifecycle = Lifecycle {
            maximum_requests: 0,
            maximum_requests_jitter: 0,
            restart_interval: None,
            inactivity_timeout: None,
            request_timeout: None,
            deadlock_timeout: None,
            reload_on_script_change: false,
            // It drains as long as the longest of the groups it forwards to.
            graceful_timeout: groups
                .iter()
                .map(|g| g.lifecycle.graceful_timeout)
                .max()
                .unwrap_or_default(),
            ..template.lifecycle.clone()
        };
        let front = ProcessGroup {
            name: "front-tier".to_owned(),
            threads: 1,
            processes: 1,
            multiprocess: false,
            python: template.python.clone(),
            application_group: String::new(),
            queue_backlog: template.queue_backlog,
            queue_timeout: template.queue_timeout,
            lifecycle,
            run_as,
            listeners,
            internal_socket: None,
            role: GroupRole::Front,
            logging: None,
        };
        groups.push(front);
        Some(())
    }

    fn process_group(
        &mut self,
        daemon: Option<&DaemonProcess>,
        site: &Site,
        application_group: String,
    ) -> Option<ProcessGroup> {
        let option = |name: &str| daemon.and_then(|d| d.options.get(name)).map(String::as_str);
        let number = |name: &str| option(name).and_then(|v| v.parse::<u64>().ok());
        let optional = |name: &str| number(name).filter(|n| *n > 0).map(seconds);
        let run_as = self.run_as(daemon, site)?;
        if let Some(daemon) = daemon {
            for name in ["umask", "switch-interval"] {
                if daemon.options.contains_key(name) {
                    self.not_yet(&daemon.origin, &format!("WSGIDaemonProcess {name}="));
                }
            }
        }
        let home = match (option("python-home"), &site.python_home) {
            (Some(dir), _) => Some((self.path(dir), daemon.map(|d| d.origin.clone()))),
            (None, Some((dir, origin))) => Some((dir.clone(), Some(origin.clone()))),
            (None, None) => None,
        };
        let home = match home {
            Some((dir, origin)) => match inspect_python_home("python-home", &dir) {
                Ok(home) => Some(home),
                Err(err) => {
                    if let Some(origin) = origin {
                        self.error(&origin, err.to_string());
                    }
                    return None;
                }
            },
            None => None,
        };
        let mut paths = match option("python-path") {
            Some(list) => list
                .split(':')
                .filter(|p| !p.is_empty())
                .map(|p| self.path(p))
                .collect(),
            None => site.python_path.clone(),
        };
        paths.dedup();
        let working_directory = option("home")
            .map(|h| self.path(h))
            .unwrap_or_else(|| self.env.current_dir.clone());
        let name = daemon.map(|d| d.name.clone()).unwrap_or_default();
        Some(ProcessGroup {
            name,
            threads: number("threads").map_or(15, |n| n as usize),
            processes: number("processes").map_or(1, |n| n as usize),
            multiprocess: option("processes").is_some(),
            python: PythonSettings {
                home,
                paths,
                working_directory,
            },
            application_group,
            queue_backlog: number("listen-backlog").map_or(100, |n| n.max(1) as usize),
            queue_timeout: optional("queue-timeout").unwrap_or(LONG_QUEUE),
            lifecycle: Lifecycle {
                maximum_requests: number("maximum-requests").unwrap_or(0),
                maximum_requests_jitter: 0,
                restart_interval: optional("restart-interval"),
                inactivity_timeout: optional("inactivity-timeout"),
                request_timeout: optional("request-timeout"),
                startup_timeout: optional("startup-timeout").unwrap_or(Duration::from_secs(15)),
                graceful_timeout: number("graceful-timeout")
                    .map_or(Duration::from_secs(15), seconds),
                shutdown_timeout: number("shutdown-timeout")
                    .map_or(Duration::from_secs(5), seconds),
                deadlock_timeout: Some(
                    number("deadlock-timeout").map_or(Duration::from_secs(300), seconds),
                )
                .filter(|d| !d.is_zero()),
                reload_on_script_change: site.script_reloading.unwrap_or(true),
            },
            run_as,
            listeners: Vec::new(),
            internal_socket: None,
            role: GroupRole::Applications,
            logging: None,
        })
    }

    /// The user a group's workers run as: its `user=` (with `group=` and
    /// `supplementary-groups=`), else httpd's `User` (and `Group`). Started as root, one must
    /// be named (workers never run as root); otherwise they run as the current user, and a
    /// `user=` naming another is an error.
    fn run_as(&mut self, daemon: Option<&DaemonProcess>, site: &Site) -> Option<Option<RunAs>> {
        let option = |name: &str| daemon.and_then(|d| d.options.get(name)).map(String::as_str);
        let daemon_origin = daemon.map(|d| d.origin.clone());
        if self.env.uid != 0 {
            if let (Some(user), Some(origin)) = (option("user"), &daemon_origin) {
                let current = crate::users::user_name(self.env.uid);
                if current.as_deref() != Some(user) && user != format!("#{}", self.env.uid) {
                    let current = current.unwrap_or_else(|| format!("#{}", self.env.uid));
                    self.error(
                        origin,
                        format!(
                            "WSGIDaemonProcess user={user}: only root can run the workers as \
                             another user (oxwsgi runs as {current}); start it as root, or \
                             remove user="
                        ),
                    );
                    return None;
                }
            }
            return Some(None);
        }
        let (user, origin, group) = match (option("user"), &site.user) {
            (Some(user), _) => (
                user.to_owned(),
                daemon_origin.clone(),
                option("group").map(str::to_owned),
            ),
            (None, Some((user, origin))) => (
                user.clone(),
                Some(origin.clone()),
                option("group")
                    .map(str::to_owned)
                    .or_else(|| site.group.clone()),
            ),
            (None, None) => {
                if let Some(origin) = daemon_origin.or_else(|| site.first_origin.clone()) {
                    self.error(
                        &origin,
                        "oxwsgi was started as root and nothing names the user the workers run \
                         as: add `User www-data` (or user= to the WSGIDaemonProcess); the \
                         workers never run as root",
                    );
                }
                return None;
            }
        };
        match crate::users::run_as(&user, group.as_deref(), option("supplementary-groups")) {
            Ok(run_as) => Some(Some(run_as)),
            Err(why) => {
                if let Some(origin) = origin {
                    self.error(&origin, format!("user {user}: {why}"));
                }
                None
            }
        }
    }
}

/// httpd's `User` and `Group`, which the front tier runs as when started as root.
struct FrontUser {
    user: Option<(String, Origin)>,
    group: Option<String>,
}

/// Tags what a virtual host's configuration mounts and sets as that host's (`host`).
fn tag_host(config: &mut ServerConfig, host: usize) {
    for mount in &mut config.mounts {
        mount.host = Some(host);
    }
    for control in config
        .access
        .directories
        .iter_mut()
        .chain(config.access.locations.iter_mut())
    {
        control.host = Some(host);
    }
    for edit in config
        .header_edits
        .request
        .iter_mut()
        .chain(config.header_edits.response.iter_mut())
    {
        edit.host = Some(host);
    }
    for redirect in &mut config.redirects {
        redirect.host = Some(host);
    }
    for document in &mut config.error_documents {
        document.host = Some(host);
    }
    for index in &mut config.index_scripts {
        index.host = Some(host);
    }
}

/// The files a pattern's script can name: `$0`…`$9` as `*`, the rest taken literally.
fn script_files(script: &str) -> Vec<PathBuf> {
    let mut glob = String::new();
    let mut literal = String::new();
    let mut chars = script.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            chars.next();
            glob.push_str(&glob::Pattern::escape(&literal));
            literal.clear();
            glob.push('*');
        } else {
            literal.push(c);
        }
    }
    glob.push_str(&glob::Pattern::escape(&literal));
    let Ok(paths) = glob::glob(&glob) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = paths.flatten().filter(|p| p.is_file()).collect();
    files.sort();
    files
}

/// The literal start of a `WSGIScriptAliasMatch` expression, up to its last `/` before the
/// first special character: the URL path the configuration's `<Location>`s are compared with.
fn literal_prefix(regex: &str) -> MountPoint {
    let text = regex.strip_prefix('^').unwrap_or(regex);
    let literal: String = text
        .chars()
        .take_while(|c| !"\\.+*?()|[]{}^$".contains(*c))
        .collect();
    let cut = literal.rfind('/').map_or("/", |at| &literal[..at.max(1)]);
    MountPoint::parse(cut).unwrap_or_else(MountPoint::root)
}

/// Whether some requests under `location` reach the application at `mount`: it is below the
/// mount, and not within a longer mount point (another application's, or an `Alias`).
fn inside_app(location: &MountPoint, mount: &MountPoint, mounts: &[MountPoint]) -> bool {
    let path = location.as_str().as_bytes();
    mount.matches(path)
        && !mounts
            .iter()
            .any(|other| other.as_str().len() > mount.as_str().len() && other.matches(path))
}

/// mod_wsgi's queue has no timeout unless `queue-timeout` is set: a very long one.
const LONG_QUEUE: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);

fn on(d: &Directive) -> bool {
    d.args.first().is_some_and(|a| a.eq_ignore_ascii_case("on"))
}
