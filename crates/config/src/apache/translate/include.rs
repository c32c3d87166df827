//! `start-server --include-file`: Apache directives applied on top of the configuration the
//! command line made (mod_wsgi-express includes the file at the end of the httpd.conf it
//! generates).
//!
//! What the command line already says is not said again here: where to listen, the
//! applications and their daemon group, users, logs, the document root and Python each have
//! their option, and a directive for one of them is refused, naming the option. What adds to
//! the command line's configuration applies as in a site file: `Alias`, access rules in
//! `<Directory>` and `<Location>`, `SetEnv`/`UnsetEnv`/`PassEnv`, `Header`/`RequestHeader`,
//! `Redirect*`, `ErrorDocument`, `AddType`, `WSGIPassAuthorization`, `WSGIChunkedRequest`,
//! `TraceEnable`, `WSGITrustedProxyHeaders` and `WSGITrustedProxies` (which add to
//! `--trust-proxy-header` and `--trust-proxy`), and the limits and timeouts (`LimitRequest*`, `Timeout`, `KeepAlive*`,
//! `RequestReadTimeout`), which replace the command line's values.

use super::{ApacheConfig, MountPoint, Node, Report, ServerConfig, Translator};
use crate::model::{AppEntry, MountTarget};

/// Directives that say what the command line says, with the option that says it.
const COMMAND_LINE_SAYS: &[(&str, &str)] = &[
    ("listen", "--port and --host"),
    ("servername", "--server-name"),
    ("serveralias", "--server-alias"),
    ("serverroot", "--server-root"),
    ("documentroot", "--document-root"),
    ("user", "--user"),
    ("group", "--group"),
    ("errorlog", "--log-directory and --error-log-name"),
    ("customlog", "--access-log and --access-log-format"),
    ("transferlog", "--access-log"),
    ("loglevel", "--log-level"),
    ("pidfile", "--pid-file"),
    ("wsgiprocessgroup", "the command line's one daemon group"),
    (
        "wsgiapplicationgroup",
        "the command line's one daemon group",
    ),
    ("wsgipythonhome", "--python-home"),
    ("wsgipythonpath", "--python-path"),
    (
        "wsgiimportscript",
        "the command line's preloading of its application",
    ),
    ("directoryindex", "--directory-index"),
];

impl Translator<'_> {
    /// An error for each directive, in any section, that says what an option says, and for
    /// each `<VirtualHost>`.
    fn refuse_what_the_command_line_says(&mut self, nodes: &[Node]) {
        for node in nodes {
            match node {
                Node::Directive(d) => {
                    let name = d.name.to_ascii_lowercase();
                    if let Some((_, option)) = COMMAND_LINE_SAYS.iter().find(|(n, _)| *n == name) {
                        self.error(
                            &d.origin,
                            format!(
                                "{} is not for --include-file: the command line says it \
                                 ({option})",
                                d.name
                            ),
                        );
                    }
                }
                Node::Section(s) if s.is("VirtualHost") => self.error(
                    &s.origin,
                    "<VirtualHost> is not for --include-file: the command line's server is the \
                     one host (run a site file with --config instead)",
                ),
                Node::Section(s) => self.refuse_what_the_command_line_says(&s.children),
            }
        }
    }

    /// Applies the directives of `config` (checked into `report`) to `base`.
    pub(super) fn include(
        &mut self,
        config: &ApacheConfig,
        report: &Report,
        base: &mut ServerConfig,
    ) {
        self.site.document_root = Some(base.document_root.clone());
        self.refuse_what_the_command_line_says(&config.nodes);
        for node in &config.nodes {
            match node {
                Node::Directive(d) => self.directive(d),
                Node::Section(s) if s.is("VirtualHost") => {}
                Node::Section(s) => self.section(s),
            }
        }
        for daemon in &report.daemons {
            self.error(
                &daemon.origin,
                "a WSGIDaemonProcess is not for --include-file: the command line's daemon group \
                 is set with --processes, --threads and the other daemon options",
            );
        }
        for script in &report.scripts {
            self.error(
                &script.origin,
                "a WSGIScriptAlias is not for --include-file: mount applications with \
                 ENTRY_POINT and --mount-point",
            );
        }
        if !self.errors.is_empty() {
            return;
        }
        let site = std::mem::take(&mut self.site);

        // What adds to the URL space and its rules.
        let aliases = self.alias_mounts(&site);
        base.mounts.extend(aliases);
        base.mounts
            .sort_by_key(|mount| std::cmp::Reverse(mount.prefix.as_str().len()));
        let access = self.access_rules(&site, &base.mounts, &base.document_root);
        base.access.extend(access);
        let edits = self.header_edits(&site);
        base.header_edits.request.extend(edits.request);
        base.header_edits.response.extend(edits.response);
        base.redirects.extend(site.redirects.iter().cloned());
        let documents = Self::error_documents(&site);
        base.error_documents.extend(documents);
        base.static_files
            .mime_types
            .extend(site.mime_types.iter().map(|(k, v)| (k.clone(), v.clone())));

        // The applications' environ and Authorization.
        let mount_points: Vec<MountPoint> = base.mounts.iter().map(|m| m.prefix.clone()).collect();
        let changes_environ = !site.environ.is_empty()
            || !site.directory_environ.is_empty()
            || !site.location_environ.is_empty();
        let changes_authorization = site.pass_authorization.is_some()
            || !site.directory_pass_authorization.is_empty()
            || !site.location_pass_authorization.is_empty();
        for index in 0..base.mounts.len() {
            let prefix = base.mounts[index].prefix.clone();
            let MountTarget::Wsgi(app) = &base.mounts[index].target else {
                continue;
            };
            let script = match &app.entry {
                AppEntry::Script(path) | AppEntry::Paste(path) => path.clone(),
                AppEntry::Module(_) | AppEntry::Welcome => Default::default(),
            };
            let environ = if changes_environ {
                self.script_environ(&site, &script, &prefix, &mount_points)
            } else {
                Some(Vec::new())
            };
            let current = app.pass_authorization;
            let pass = if changes_authorization {
                self.pass_authorization(&site, &script, &prefix, &mount_points, current)
            } else {
                None
            };
            let MountTarget::Wsgi(app) = &mut base.mounts[index].target else {
                continue;
            };
            if let Some(environ) = environ {
                app.environ.extend(environ);
            }
            if let Some(pass) = pass {
                app.pass_authorization = pass;
            }
        }

        // Trusted proxy headers and proxies add to the command line's, as mod_wsgi-express
        // includes the file after its own lines.
        if !site.proxies.is_empty() {
            for host in &mut base.hosts {
                site.proxies.add_to(&mut host.trusted_proxies);
            }
        }

        // The limits and timeouts the file sets replace the command line's.
        super::apply_http_settings(&site, &mut base.http);
    }
}
