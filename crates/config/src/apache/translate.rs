//! From a checked Apache configuration to the [`ServerConfig`] the server runs: the second
//! front end of the one model (the command line is the first).
//!
//! What runs so far: the main server and at most one `<VirtualHost>`, or several
//! `<VirtualHost>`s each on addresses of its own; with their process groups (a
//! `WSGIDaemonProcess`, or the default group when no script names one) running their
//! `WSGIScriptAlias` applications, `DocumentRoot` and `Alias` static files, logs, limits and
//! timeouts; `WSGIImportScript`s preloaded into groups, or run as side services from
//! `threads=0` groups. A listener served by one group is accepted on by that group's workers: a request
//! reaches its group with no hop. Where one site's scripts run in several groups, a front tier
//! group (Python-free) accepts instead and forwards to the groups' internal sockets
//! ([`GroupRole::Front`]). A directive httpd would honour and oxwsgi does not yet (mod_wsgi's
//! authentication scripts, rules that need an environment variable, …) stops the start with its
//! file and line:
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

use super::check::{Notice, Report, Severity};
use super::handlers::ScriptDirectories;
use super::lines::{EnvChange, ParsedEdit};
use super::{ApacheConfig, Node, Origin, Section};
use crate::access::{AccessRule, AuthSettings};
use crate::model::*;
use crate::redirect::{ErrorBody, Redirect};
use crate::resolve::{Environment, locale, seconds};

/// The directives `start-server` runs so far (in the limits the module documentation gives);
/// the other directives httpd honours are refused for now (see `docs/apache.md`).
pub const RUNS: &[&str] = &[
    "Listen",
    "ServerName",
    "ServerAlias",
    "ServerRoot",
    "DocumentRoot",
    "Alias",
    "AliasMatch",
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
    "WSGITrustedProxyHeaders",
    "WSGITrustedProxies",
    "Include",
    "IncludeOptional",
    "Define",
    "UnDefine",
    "Order",
    "Allow",
    "Satisfy",
    "Require",
    "AuthType",
    "AuthName",
    "AuthUserFile",
    "AuthGroupFile",
    "AuthBasicProvider",
    "AuthBasicAuthoritative",
    "AuthDigestProvider",
    "AuthDigestNonceLifetime",
    "AuthDigestQop",
    "AuthDigestDomain",
    "AuthDigestAlgorithm",
    "WSGIAuthUserScript",
    "WSGIAuthGroupScript",
    "WSGIAccessScript",
    "WSGIGroupAuthoritative",
    "SetEnv",
    "UnsetEnv",
    "Header",
    "RequestHeader",
    "WSGIChunkedRequest",
    "WSGIPythonWarnings",
    "WSGISwitchInterval",
    "WSGIErrorOverride",
    "WSGIMapHEADToGET",
    "WSGIServerMetrics",
    "WSGISlowRequests",
    "WSGIIgnoreActivity",
    "OxwsgiMetricsListen",
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
    "SSLEngine",
    "SSLCertificateFile",
    "SSLCertificateKeyFile",
    "SSLCertificateChainFile",
    "SSLCACertificateFile",
    "SSLCACertificatePath",
    "SSLVerifyClient",
    "SSLVerifyDepth",
    "SSLProtocol",
    "SSLOptions",
    "SSLRequireSSL",
    "Protocols",
];

mod groups;
mod hosts;
mod imports;
mod include;
mod proxy;
mod reading;
mod rules;
mod tls;

/// Applies the directives of `--include-file`s (`config`, checked into `report`) on top of
/// the configuration the command line made: see [`include`].
pub fn apply_include(
    config: &ApacheConfig,
    report: &Report,
    env: &Environment,
    base: &mut ServerConfig,
) -> Result<(), Vec<Notice>> {
    let mut t = Translator::new(config, env);
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
    let mut t = Translator::new(config, env);
    let mut virtual_hosts = Vec::new();
    for node in &config.nodes {
        match node {
            Node::Directive(d) => t.directive(d),
            // Its log is its services' (`imports.rs`); it serves nothing.
            Node::Section(s) if s.is("VirtualHost") && imports::is_service_host(s, report) => {}
            Node::Section(s) if s.is("VirtualHost") => virtual_hosts.push(s),
            Node::Section(s) => t.section(s),
        }
    }
    // The main server's directives, which the services' users and Python come from.
    let base = t.site.clone();
    let mut made = t.sites(&virtual_hosts, report, options);
    if let Some(made) = &mut made {
        t.attach_imports(report, made);
        made.services = t.services(config, report, &base);
    }
    let config = made;
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
    /// `AliasMatch` lines: the expression, the target (`$1`… in it), where.
    alias_matches: Vec<(String, String, Origin)>,
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
    /// `<Directory>` authentication settings (`AuthType`, `AuthUserFile`, …), by file-system
    /// path, each as the section writes it.
    directory_auth: Vec<(PathBuf, AuthSettings)>,
    /// `<Location>` authentication settings, by URL path.
    location_auth: Vec<(String, AuthSettings)>,
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
    /// mod_ssl's directives.
    tls: tls::SiteTls,
    /// `Protocols`, lower case (httpd's default: `http/1.1` only).
    protocols: Option<Vec<String>>,
    /// `WSGITrustedProxyHeaders` and `WSGITrustedProxies`.
    proxies: proxy::SiteProxies,
    /// `OxwsgiMetricsListen`, `SetHandler server-status`, `WSGIServerMetrics`.
    operations: crate::operations::Operations,
    /// `WSGIPythonWarnings` lines, in order.
    python_warnings: Vec<String>,
    /// `WSGISwitchInterval`.
    switch_interval: Option<Duration>,
    /// `WSGIErrorOverride On` (outside any section).
    error_override: bool,
    /// `WSGIMapHEADToGET` (outside any section).
    map_head_to_get: crate::HeadMapping,
}

/// httpd's own limits and timeouts, before a configuration sets any: `KeepAlive On` with
/// `KeepAliveTimeout` 5 s, `Timeout` 60 s, `LimitRequestBody` 1 GiB (httpd 2.4.54 and
/// later), `LimitRequestLine` and `LimitRequestFieldSize` 8190, `LimitRequestFields` 100,
/// mod_reqtimeout's `header=20-40,MinRate=500 body=20,MinRate=500`, chunked bodies refused
/// (`WSGIChunkedRequest Off`), `TraceEnable On`.
const HTTPD_DEFAULTS: HttpSettings = HttpSettings {
    keep_alive_timeout: Duration::from_secs(5),
    header_timeout: Duration::from_secs(20),
    header_max_timeout: Duration::from_secs(40),
    header_min_rate: 500,
    body_timeout: Duration::from_secs(20),
    body_max_timeout: None,
    body_min_rate: 500,
    limit_request_body: 1 << 30,
    socket_timeout: Duration::from_secs(60),
    limit_request_line: 8190,
    limit_request_field_size: 8190,
    limit_request_fields: 100,
    max_connections: 100,
    chunked_requests: false,
    trace: TraceMode::Echo,
};

/// The limits and timeouts a site sets, over `http` (httpd's defaults for a site file, the
/// command line's for `--include-file`).
fn apply_http_settings(site: &Site, http: &mut HttpSettings) {
    if let Some(limit) = site.limit_request_body {
        http.limit_request_body = if limit == 0 { u64::MAX } else { limit };
    }
    if let Some(limit) = site.limit_request_line {
        http.limit_request_line = limit.max(1);
    }
    if let Some(limit) = site.limit_request_field_size {
        http.limit_request_field_size = limit.max(1);
    }
    if let Some(limit) = site.limit_request_fields {
        http.limit_request_fields = limit.max(1);
    }
    if let Some(timeout) = site.timeout {
        http.socket_timeout = seconds(timeout.max(1));
    }
    match (site.keep_alive, site.keep_alive_timeout) {
        (Some(false), _) => http.keep_alive_timeout = Duration::ZERO,
        (_, Some(timeout)) => http.keep_alive_timeout = seconds(timeout),
        _ => {}
    }
    if let Some(timeouts) = site.request_read_timeout {
        http.header_timeout = seconds(timeouts.header.0.max(1));
        http.header_max_timeout = seconds(timeouts.header.1.max(timeouts.header.0).max(1));
        http.header_min_rate = timeouts.header.2;
        http.body_timeout = seconds(timeouts.body.0.max(1));
        http.body_max_timeout = (timeouts.body.1 > 0).then(|| seconds(timeouts.body.1));
        http.body_min_rate = timeouts.body.2;
    }
    if site.chunked_requests {
        http.chunked_requests = true;
    }
    match site.trace_enable.as_deref() {
        Some("off") => http.trace = TraceMode::Refuse,
        Some("on") => http.trace = TraceMode::Echo,
        _ => {}
    }
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
    fn new(config: &'a ApacheConfig, env: &'a Environment) -> Translator<'a> {
        Translator {
            root: &config.server_root,
            env,
            errors: Vec::new(),
            site: Site {
                first_origin: config.nodes.first().map(|n| n.origin().clone()),
                ..Site::default()
            },
        }
    }

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
            error_format: None,
        }
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
        let mut listeners: Vec<ListenerConfig> = site
            .listens
            .iter()
            .map(|(host, port)| ListenerConfig {
                host: host.clone(),
                port: *port,
                backlog: site.listen_backlog.unwrap_or(511),
                tls: None,
                http2: false,
                unix: None,
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
        let document_root = site
            .document_root
            .clone()
            .unwrap_or_else(|| server_root.join("htdocs"));
        let logging = self.logging(&site, options, &server_root);
        let access = self.access_rules(&site, &all_mounts, &document_root);
        let error_documents = Self::error_documents(&site);
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
        let client_certificates = self.finish_tls(
            &site.tls,
            &names,
            &mut listeners,
            &all_mounts,
            &document_root,
        );
        let protocols = site.protocols.as_deref().unwrap_or_default();
        for listener in &mut listeners {
            // mod_http2: `h2` over TLS, `h2c` in the clear.
            let wanted = if listener.tls.is_some() { "h2" } else { "h2c" };
            listener.http2 = protocols.iter().any(|p| p == wanted);
        }
        let hosts = vec![VirtualHost {
            names,
            listeners: (0..listeners.len()).collect(),
            logging: Some(logging.clone()),
            document_root: None,
            static_files: None,
            trusted_proxies: site.proxies.trusted(),
        }];
        let mut http = HTTPD_DEFAULTS;
        apply_http_settings(&site, &mut http);
        let proxy_timeout = http.socket_timeout;
        Some(ServerConfig {
            server_name,
            listeners,
            hosts,
            groups,
            mounts: all_mounts,
            http,
            logging,
            log_files: LogFiles::default(),
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
            client_certificates,
            server_root,
            operations: site.operations.clone(),
            // Made from the whole configuration, once the sites are (`imports.rs`).
            services: Vec::new(),
            instrumentation: Default::default(),
            // No directive says any of it: express writes it into its handler script.
            development: Default::default(),
            process_name: None,
            handler_scripts: Vec::new(),
            // `ProxyPass` is not read from site files (directives.rs says so).
            reverse_proxy: crate::reverse_proxy::ReverseProxy {
                timeout: proxy_timeout,
                ..Default::default()
            },
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
}
