//! From what the user typed to what the server runs: checks every path and value against the
//! system, fills in defaults, and reports each problem with the option, the value and what to
//! do — before anything is started or bound.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::{ApplicationType, StartServer};
use crate::error::ConfigError;
use crate::model::*;
use crate::tls::{ListenerTls, NamedFile, TlsIdentity};

mod services;
mod site;
mod unix_socket;

/// The parts of the process environment that resolution reads, gathered once so that
/// resolution itself is a pure function (and testable).
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// The current directory.
    pub current_dir: PathBuf,
    /// `$VIRTUAL_ENV`.
    pub virtual_env: Option<PathBuf>,
    /// `$TMPDIR`.
    pub tmpdir: Option<PathBuf>,
    /// The real user id.
    pub uid: u32,
    /// The locale in effect (`$LC_ALL`, else `$LC_CTYPE`, else `$LANG`).
    pub locale: Option<String>,
}

impl Environment {
    /// Reads the environment of this process.
    pub fn from_process() -> Result<Environment, ConfigError> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        Ok(Environment {
            current_dir: std::env::current_dir().map_err(ConfigError::CurrentDir)?,
            virtual_env: var("VIRTUAL_ENV").map(PathBuf::from),
            tmpdir: var("TMPDIR").map(PathBuf::from),
            uid: rustix::process::getuid().as_raw(),
            locale: ["LC_ALL", "LC_CTYPE", "LANG"]
                .iter()
                .find_map(|name| var(name))
                .map(|v| v.to_string_lossy().into_owned()),
        })
    }

    fn absolute(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.current_dir.join(path)
        }
    }
}

/// Resolves `start-server` options into the server's configuration.
pub fn start_server(args: &StartServer, env: &Environment) -> Result<ServerConfig, ConfigError> {
    let server_name = args.host.clone().unwrap_or_else(|| "localhost".to_owned());
    let server_root = match &args.server_root {
        Some(root) => env.absolute(root),
        None => {
            let tmp = env.tmpdir.clone().unwrap_or_else(|| PathBuf::from("/tmp"));
            tmp.join(format!("oxwsgi-{server_name}:{}:{}", args.port, env.uid))
        }
    };
    let log_directory = match &args.log_directory {
        Some(dir) => env.absolute(dir),
        None => server_root.clone(),
    };

    let working_directory = match &args.working_directory {
        Some(dir) => existing_dir("--working-directory", &env.absolute(dir))?,
        None => env.current_dir.clone(),
    };
    args.express.check()?;
    let python = PythonSettings {
        home: python_home(args, env)?,
        paths: args.python_path.iter().map(|p| env.absolute(p)).collect(),
        working_directory,
        egg_cache: args.express.python_eggs.as_deref().map(|p| env.absolute(p)),
        // Set with the other application options (`app_options.rs`).
        warnings: Vec::new(),
        switch_interval: None,
    };

    let is_static = args.application_type == ApplicationType::Static;
    let entry = if is_static {
        None
    } else {
        Some(entry_point(args, env)?)
    };
    let mount_point = mount_point(&args.mount_point)?;
    let document_root = match (&args.document_root, is_static) {
        (Some(dir), _) => existing_dir("--document-root", &env.absolute(dir))?,
        (None, true) => match args
            .entry_point_option
            .as_ref()
            .or(args.entry_point.as_ref())
        {
            Some(dir) => existing_dir("the static files directory", &env.absolute(Path::new(dir)))?,
            None => env.current_dir.clone(),
        },
        (None, false) => server_root.join("htdocs"),
    };
    let mime_types = match &args.mime_types {
        Some(path) => {
            let path = env.absolute(path);
            let text =
                std::fs::read_to_string(&path).map_err(|source| ConfigError::Unreadable {
                    what: "MIME types file",
                    path: path.clone(),
                    source,
                })?;
            crate::mime_types::parse(&text)
        }
        None => Default::default(),
    };
    let static_files = StaticSettings {
        overlay: true,
        overlay_applications: true,
        directory_index: args
            .directory_index
            .clone()
            .or_else(|| is_static.then(|| "index.html".to_owned())),
        directory_listing: args.directory_listing,
        serve_hidden_files: args.serve_hidden_files,
        mime_types,
        enable_sendfile: args.enable_sendfile,
        compress_responses: args.compress_responses,
    };
    let mut mounts = url_aliases(&args.url_alias, env)?;
    // Values that cannot be 0: refused with the option named, never raised behind the user's
    // back.
    let at_least_one: [(&'static str, u64, &'static str); 12] = [
        (
            "--startup-timeout",
            args.startup_timeout,
            "a worker needs at least a second to start",
        ),
        (
            "--daemon-backlog",
            args.daemon_backlog as u64,
            "at least one request must be able to wait",
        ),
        (
            "--header-timeout",
            args.header_timeout,
            "a request head needs at least a second",
        ),
        (
            "--body-timeout",
            args.body_timeout,
            "a request body needs at least a second",
        ),
        (
            "--socket-timeout",
            args.socket_timeout,
            "a response needs at least a second",
        ),
        (
            "--limit-request-line",
            args.limit_request_line as u64,
            "a request line has at least one byte",
        ),
        (
            "--limit-request-field-size",
            args.limit_request_field_size as u64,
            "a header field has at least one byte",
        ),
        (
            "--limit-request-fields",
            args.limit_request_fields as u64,
            "a request has a Host field at least",
        ),
        (
            "--max-clients",
            args.max_clients as u64,
            "at least one connection must be served",
        ),
        (
            "--threads",
            args.threads as u64,
            "at least one thread is needed to run requests",
        ),
        (
            "--max-log-size",
            args.max_log_size,
            "a log file is rotated after its first megabyte at the earliest",
        ),
        (
            "--max-log-files",
            args.max_log_files as u64,
            "rotation keeps at least the last rotated file",
        ),
    ];
    if let Some((option, _, reason)) = at_least_one.iter().find(|(_, value, _)| *value == 0) {
        return Err(ConfigError::Invalid {
            option,
            value: "0".into(),
            reason,
        });
    }
    if args.threads == 0 {
        return Err(ConfigError::Invalid {
            option: "--threads",
            value: "0".into(),
            reason: "at least one thread is needed to run requests",
        });
    }
    if args.processes == Some(0) {
        return Err(ConfigError::Invalid {
            option: "--processes",
            value: "0".into(),
            reason: "at least one worker process is needed",
        });
    }
    let optional = |s: u64| (s > 0).then(|| seconds(s));
    let lifecycle = Lifecycle {
        maximum_requests: args.maximum_requests.min(MOST_REQUESTS),
        maximum_requests_jitter: args.maximum_requests_jitter.min(MOST_REQUESTS),
        restart_interval: optional(args.restart_interval),
        inactivity_timeout: optional(args.inactivity_timeout),
        request_timeout: optional(args.request_timeout),
        startup_timeout: seconds(args.startup_timeout),
        graceful_timeout: seconds(args.graceful_timeout),
        shutdown_timeout: seconds(args.shutdown_timeout),
        deadlock_timeout: optional(args.deadlock_timeout),
        reload_on_script_change: !args.disable_reloading,
        limits: args.worker_limits.resolve(),
    };

    let services = services::resolve(args, env, &python, &log_directory)?;
    let mut group = ProcessGroup {
        name: format!("{server_name}:{}", args.port),
        threads: args.threads,
        processes: args.processes.unwrap_or(1),
        // mod_wsgi's rule: multiprocess when the number of processes was given, even as 1.
        multiprocess: args.processes.is_some(),
        python,
        application_group: String::new(),
        queue_backlog: args.daemon_backlog,
        queue_timeout: seconds(args.queue_timeout),
        connect_timeout: seconds(args.worker_limits.connect_timeout),
        lifecycle,
        run_as: None,
        listeners: if args.https_port.is_some() {
            vec![0, 1]
        } else {
            vec![0]
        },
        internal_socket: None,
        role: GroupRole::Applications,
        logging: None,
        import_scripts: Vec::new(),
    };
    let development = args.development.resolve(&group.python.working_directory)?;
    development.apply_to(&mut group);
    crate::access_format::AccessFormat::parse(&args.access_log_format)?;
    if let Some(format) = &args.error_log_format {
        crate::error_format::ErrorFormat::parse(format)?;
    }
    let access_log = args.access_log.then(|| AccessLogSettings {
        destination: if args.log_to_terminal {
            LogDestination::Terminal
        } else {
            LogDestination::File(log_directory.join(&args.access_log_name))
        },
        format: args.access_log_format.clone(),
    });

    let public_name = match &args.server_name {
        Some(name) => name.to_ascii_lowercase(),
        None => server_name.clone(),
    };
    let mut https = https(args, env, &public_name)?;
    site::name_based(&mut https, args)?;
    if let Some(unix) = unix_socket::listener(args, env)? {
        // It serves what the plain port serves (the HTTPS one's hosts with --https-only: a
        // proxy in front has taken care of TLS, and a redirect would come back to it).
        let serving = usize::from(args.https_only);
        let index = https.listeners.len();
        https.listeners.push(unix);
        for host in &mut https.hosts {
            if host.listeners.contains(&serving) {
                host.listeners.push(index);
            }
        }
        group.listeners.push(index);
    }
    // Name-based hosting's rules come after, as a virtual host's `<Location>` sections come
    // after the server's in httpd, and override them.
    let mut access = site::scripts(args, env)?;
    access.extend(std::mem::take(&mut https.access));
    let operations = args.operations.resolve(args.host.as_ref())?;
    let instrumentation = args.instrumentation.resolve(&server_root, &env.current_dir);
    let reverse_proxy = args.reverse_proxy.resolve(seconds(args.socket_timeout))?;
    if let Some(path) = &operations.server_status {
        // mod_wsgi-express's `Require host localhost`; an --include-file's own
        // `<Location /server-status>` comes later and says otherwise.
        access.locations.insert(
            0,
            crate::access::AccessControl {
                prefix: MountPoint::parse(path).expect("a path starting with /"),
                rule: crate::access::AccessRule::Local,
                host: None,
            },
        );
    }
    let mut config = ServerConfig {
        hosts: https.hosts,
        listeners: https.listeners,
        server_name: public_name,
        groups: vec![group],
        mounts: {
            if let Some(entry) = entry {
                mounts.push(Mount {
                    prefix: mount_point,
                    target: MountTarget::Wsgi(WsgiApp {
                        group: 0,
                        entry,
                        callable: args.callable_object.clone(),
                        environ: Vec::new(),
                        // mod_wsgi-express writes `WSGIPassAuthorization On`.
                        pass_authorization: true,
                        error_override: false,
                        map_head_to_get: HeadMapping::Auto,
                    }),
                    host: None,
                    pattern: None,
                });
            }
            mounts
        },
        http: HttpSettings {
            keep_alive_timeout: seconds(args.keep_alive_timeout),
            header_timeout: seconds(args.header_timeout),
            // As with mod_reqtimeout, a maximum below the timeout (or 0) leaves the timeout.
            header_max_timeout: seconds(args.header_max_timeout.max(args.header_timeout)),
            header_min_rate: args.header_min_rate,
            body_timeout: seconds(args.body_timeout),
            body_max_timeout: (args.body_max_timeout > 0).then(|| seconds(args.body_max_timeout)),
            body_min_rate: args.body_min_rate,
            // As with Apache's LimitRequestBody, 0 means no limit.
            limit_request_body: match args.limit_request_body {
                0 => u64::MAX,
                limit => limit,
            },
            socket_timeout: args
                .worker_limits
                .response_timeout(seconds(args.socket_timeout)),
            limit_request_line: args.limit_request_line,
            limit_request_field_size: args.limit_request_field_size,
            limit_request_fields: args.limit_request_fields,
            max_connections: args.max_clients,
            // Today's behaviour; mod_wsgi-express's --chunked-request and TRACE are for the
            // options issue.
            chunked_requests: true,
            trace: TraceMode::Application,
        },
        logging: LogSettings {
            level: LogLevel::parse(&args.log_level).unwrap_or(LogLevel::Warn),
            error_log: if args.log_to_terminal {
                LogDestination::Terminal
            } else {
                LogDestination::File(log_directory.join(&args.error_log_name))
            },
            access_log,
            error_format: args.error_log_format.clone(),
        },
        log_files: log_files(args, &log_directory),
        locale: locale(
            args.locale.as_deref().or(args.express.lang.as_deref()),
            env.locale.as_deref(),
        ),
        document_root,
        static_files,
        pid_file: match &args.pid_file {
            Some(path) => env.absolute(path),
            None => server_root.join("oxwsgi.pid"),
        },
        server_root,
        access,
        header_edits: https.header_edits,
        redirects: https.redirects,
        error_documents: Vec::new(),
        index_scripts: Vec::new(),
        client_certificates: https.client_certificates,
        operations,
        services,
        instrumentation,
        development,
        process_name: None,
        handler_scripts: Vec::new(),
        reverse_proxy,
    };
    args.app_options
        .apply(&mut config, env.uid, args.port, &env.current_dir)?;
    Ok(config)
}

/// `--rotate-logs` and `--startup-log`. As with mod_wsgi-express, logs on the terminal are not
/// rotated, and the start-up log is then standard error (which has the messages already).
fn log_files(args: &StartServer, log_directory: &Path) -> LogFiles {
    let to_files = !args.log_to_terminal;
    LogFiles {
        rotation: (args.rotate_logs && to_files).then(|| Rotation {
            max_bytes: args.max_log_size.saturating_mul(1024 * 1024),
            max_files: args.max_log_files,
        }),
        startup_log: (args.startup_log && to_files)
            .then(|| log_directory.join(&args.startup_log_name)),
    }
}

/// `--trust-proxy-header` and `--trust-proxy`, as mod_wsgi-express passes them on to
/// `WSGITrustedProxyHeaders` and `WSGITrustedProxies`: a header name mod_wsgi does not know is
/// accepted and has no effect, as there.
fn trusted_proxies(args: &StartServer) -> Result<crate::proxy::TrustedProxies, ConfigError> {
    let mut trusted = crate::proxy::TrustedProxies::default();
    for name in &args.trust_proxy_header {
        match crate::proxy::ProxyHeader::parse(name) {
            Ok(header) => trusted.headers.extend(header),
            Err(reason) => {
                return Err(ConfigError::Invalid {
                    option: "--trust-proxy-header",
                    value: name.clone(),
                    reason,
                });
            }
        }
    }
    for proxy in &args.trust_proxy {
        let network = crate::proxy::parse_proxy(proxy).map_err(|reason| ConfigError::Invalid {
            option: "--trust-proxy",
            value: proxy.clone(),
            reason,
        })?;
        trusted.proxies.push(network);
    }
    Ok(trusted)
}

/// The listeners and virtual hosts of the command line, and what `--https-only` adds.
struct Https {
    listeners: Vec<ListenerConfig>,
    hosts: Vec<VirtualHost>,
    redirects: Vec<crate::redirect::Redirect>,
    header_edits: crate::headers::HeaderEdits,
    client_certificates: Vec<crate::tls::ClientCertificateRule>,
    /// The rules of name-based hosting ([`site::name_based`]).
    access: crate::access::AccessRules,
}

/// `--port`, and with `--https-port` a second listener that speaks TLS, as mod_wsgi-express
/// sets them up: one virtual host on both; with `--https-only`, the plain port's own host
/// redirects every request to the HTTPS port (and `--hsts-policy` is sent from there).
fn https(args: &StartServer, env: &Environment, server_name: &str) -> Result<Https, ConfigError> {
    let plain = ListenerConfig {
        host: args.host.clone(),
        port: args.port,
        backlog: args.server_backlog,
        tls: None,
        http2: args.http2,
        unix: None,
    };
    let trusted_proxies = trusted_proxies(args)?;
    let host = |listeners: Vec<usize>| VirtualHost {
        names: Vec::new(),
        listeners,
        logging: None,
        document_root: None,
        static_files: None,
        trusted_proxies: trusted_proxies.clone(),
    };
    let Some(https_port) = args.https_port else {
        let given = [
            ("--https-only", args.https_only),
            (
                "--ssl-certificate-file",
                args.ssl_certificate_file.is_some(),
            ),
            (
                "--ssl-certificate-key-file",
                args.ssl_certificate_key_file.is_some(),
            ),
            ("--ssl-certificate", args.ssl_certificate.is_some()),
            (
                "--ssl-certificate-chain-file",
                args.ssl_certificate_chain_file.is_some(),
            ),
            (
                "--ssl-ca-certificate-file",
                args.ssl_ca_certificate_file.is_some(),
            ),
            ("--ssl-verify-client", !args.ssl_verify_client.is_empty()),
            ("--ssl-environment", args.ssl_environment),
        ];
        if let Some((option, _)) = given.into_iter().find(|(_, given)| *given) {
            return Err(ConfigError::Needs {
                option,
                needed: "--https-port, the port that serves HTTPS",
            });
        }
        return Ok(Https {
            listeners: vec![plain],
            hosts: vec![host(vec![0])],
            redirects: Vec::new(),
            header_edits: Default::default(),
            client_certificates: Vec::new(),
            access: Default::default(),
        });
    };
    if https_port == args.port && https_port != 0 {
        return Err(ConfigError::Invalid {
            option: "--https-port",
            value: https_port.to_string(),
            reason: "is also --port: give HTTP and HTTPS different ports",
        });
    }
    let (certificate, key) = match (
        &args.ssl_certificate,
        &args.ssl_certificate_file,
        &args.ssl_certificate_key_file,
    ) {
        (Some(base), None, None) => {
            let base = env.absolute(base);
            let with = |extension: &str| {
                let mut name = base.clone().into_os_string();
                name.push(extension);
                PathBuf::from(name)
            };
            (
                (
                    with(".crt"),
                    "--ssl-certificate",
                    "certificate (--ssl-certificate NAME.crt)",
                ),
                (
                    with(".key"),
                    "--ssl-certificate",
                    "key (--ssl-certificate NAME.key)",
                ),
            )
        }
        (None, Some(certificate), Some(key)) => (
            (
                env.absolute(certificate),
                "--ssl-certificate-file",
                "certificate (--ssl-certificate-file)",
            ),
            (
                env.absolute(key),
                "--ssl-certificate-key-file",
                "key (--ssl-certificate-key-file)",
            ),
        ),
        _ => {
            return Err(ConfigError::Invalid {
                option: "--https-port",
                value: https_port.to_string(),
                reason: "needs one certificate: give --ssl-certificate-file and \
                         --ssl-certificate-key-file, or --ssl-certificate NAME for NAME.crt \
                         and NAME.key",
            });
        }
    };
    let named = |(path, origin, what): (PathBuf, &'static str, &'static str)| {
        let path = existing_file(what, &path)?;
        Ok::<_, ConfigError>(NamedFile::new(path, origin))
    };
    let identity = TlsIdentity {
        names: Vec::new(),
        certificate: named(certificate)?,
        key: named(key)?,
        chain: args
            .ssl_certificate_chain_file
            .as_ref()
            .map(|chain| {
                named((
                    env.absolute(chain),
                    "--ssl-certificate-chain-file",
                    "certificate chain (--ssl-certificate-chain-file)",
                ))
            })
            .transpose()?,
    };
    let client_ca = args
        .ssl_ca_certificate_file
        .as_ref()
        .map(|ca| {
            named((
                env.absolute(ca),
                "--ssl-ca-certificate-file",
                "client certificate authorities (--ssl-ca-certificate-file)",
            ))
        })
        .transpose()?;
    // mod_wsgi-express: the whole site, or only the --ssl-verify-client paths.
    let required_below = match (&client_ca, args.ssl_verify_client.as_slice()) {
        (None, []) => Vec::new(),
        (None, _) => {
            return Err(ConfigError::Needs {
                option: "--ssl-verify-client",
                needed: "--ssl-ca-certificate-file, the authorities that sign the client \
                         certificates",
            });
        }
        (Some(_), []) => vec![MountPoint::root()],
        (Some(_), paths) => paths
            .iter()
            .map(|path| {
                MountPoint::parse(path).ok_or_else(|| ConfigError::Invalid {
                    option: "--ssl-verify-client",
                    value: path.clone(),
                    reason: "a URL path must start with /",
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let client_certificates = required_below
        .into_iter()
        .map(|prefix| crate::tls::ClientCertificateRule {
            prefix,
            requirement: crate::tls::TlsRequirement::ClientCertificate(true),
            host: None,
        })
        .collect();
    let secure = ListenerConfig {
        port: https_port,
        tls: Some(ListenerTls {
            identities: vec![identity],
            client_ca,
            client_ca_path: None,
            accept_unverified: false,
            // mod_wsgi-express sets no SSLVerifyDepth: mod_ssl's default.
            verify_depth: crate::tls::DEFAULT_VERIFY_DEPTH,
            // mod_wsgi-express's --ssl-environment is `SSLOptions +StdEnvVars` alone.
            environment: args.ssl_environment,
            export_certificates: false,
            protocols: crate::tls::TlsProtocols::ALL,
        }),
        ..plain.clone()
    };
    if !args.https_only {
        return Ok(Https {
            listeners: vec![plain, secure],
            hosts: vec![host(vec![0, 1])],
            redirects: Vec::new(),
            header_edits: Default::default(),
            client_certificates,
            access: Default::default(),
        });
    }
    // mod_wsgi-express's rewrite: https://SERVER_NAME:HTTPS_PORT%{REQUEST_URI}, a 302.
    let redirect = crate::redirect::Redirect {
        when: crate::redirect::RedirectWhen::Prefix(MountPoint::root()),
        status: 302,
        target: Some(format!("https://{server_name}:{https_port}/")),
        host: Some(0),
    };
    let hsts = args
        .hsts_policy
        .iter()
        .map(|policy| crate::headers::HeaderEdit {
            prefix: MountPoint::root(),
            host: Some(1),
            always: false,
            action: crate::headers::HeaderAction::Set,
            name: "strict-transport-security".to_owned(),
            value: policy.clone(),
        });
    Ok(Https {
        listeners: vec![plain, secure],
        hosts: vec![host(vec![0]), host(vec![1])],
        redirects: vec![redirect],
        header_edits: crate::headers::HeaderEdits {
            request: Vec::new(),
            response: hsts.collect(),
        },
        client_certificates,
        access: Default::default(),
    })
}

/// The longest duration an option gives: longer ones mean "never" in practice, and the server
/// adds durations to the clock and to each other (`Instant + Duration` panics on overflow).
const LONGEST: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);

/// Seconds as a duration, at most [`LONGEST`].
pub(crate) fn seconds(s: u64) -> Duration {
    Duration::from_secs(s).min(LONGEST)
}

/// The most requests `--maximum-requests` and its jitter count: more are never reached, and
/// the worker adds the two (and 1 to the jitter), which must not overflow.
const MOST_REQUESTS: u64 = u64::MAX / 4;

/// The locale for the workers: `--locale`, else the current one, except that the plain C/POSIX
/// locale becomes C.UTF-8 so Python's text I/O is UTF-8 (mod_wsgi-express does the same with
/// en_US.UTF-8, which is not installed everywhere; C.UTF-8 is).
pub(crate) fn locale(option: Option<&str>, current: Option<&str>) -> String {
    match option.or(current) {
        Some("C") | Some("POSIX") | None => "C.UTF-8".to_owned(),
        Some(locale) => locale.to_owned(),
    }
}

/// `--url-alias URL-PATH FILE-OR-DIRECTORY` pairs: an existing file is served at exactly the
/// URL path; anything else is a directory (one that does not exist serves nothing but 404s, as
/// with mod_wsgi-express).
fn url_aliases(values: &[String], env: &Environment) -> Result<Vec<Mount>, ConfigError> {
    let mut mounts = Vec::new();
    for pair in values.chunks(2) {
        let [url, path] = pair else {
            return Err(ConfigError::Invalid {
                option: "--url-alias",
                value: pair.join(" "),
                reason: "it takes a URL path and a file or directory",
            });
        };
        let prefix = MountPoint::parse(url)
            .filter(|p| !p.as_str().is_empty() && !has_unreachable_segment(p.as_str()))
            .ok_or_else(|| ConfigError::Invalid {
                option: "--url-alias",
                value: url.clone(),
                reason: "the URL path must start with '/', have no empty, '.' or '..' segment \
                         (no request path reaches those) and not be '/' alone (use \
                         --document-root for the root)",
            })?;
        let path = env.absolute(Path::new(path));
        let target = if path.is_file() {
            StaticTarget::File(path)
        } else {
            StaticTarget::Directory(path)
        };
        mounts.push(Mount {
            prefix,
            target: MountTarget::Static(target),
            host: None,
            pattern: None,
        });
    }
    Ok(mounts)
}

/// The application named by the entry point, checked to exist.
fn entry_point(args: &StartServer, env: &Environment) -> Result<AppEntry, ConfigError> {
    let Some(entry) = args
        .entry_point_option
        .as_ref()
        .or(args.entry_point.as_ref())
    else {
        return Ok(AppEntry::Welcome);
    };
    match args.application_type {
        ApplicationType::Script => Ok(AppEntry::Script(existing_file(
            "WSGI script file",
            &env.absolute(Path::new(entry)),
        )?)),
        ApplicationType::Paste => Ok(AppEntry::Paste(existing_file(
            "PasteDeploy configuration file",
            &env.absolute(Path::new(entry)),
        )?)),
        ApplicationType::Static => Ok(AppEntry::Welcome),
        ApplicationType::Module => {
            let valid = !entry.is_empty()
                && entry.split('.').all(|part| {
                    part.chars()
                        .next()
                        .is_some_and(|c| c.is_alphabetic() || c == '_')
                        && part.chars().all(|c| c.is_alphanumeric() || c == '_')
                });
            if valid {
                Ok(AppEntry::Module(entry.clone()))
            } else {
                Err(ConfigError::BadModuleName {
                    name: entry.clone(),
                })
            }
        }
    }
}

pub(crate) fn existing_file(what: &'static str, path: &Path) -> Result<PathBuf, ConfigError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => {
            Ok(path.canonicalize().unwrap_or_else(|_| path.to_path_buf()))
        }
        Ok(_) => Err(ConfigError::NotAFile {
            what,
            path: path.to_path_buf(),
        }),
        Err(source) => Err(ConfigError::Unreadable {
            what,
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn existing_dir(option: &'static str, path: &Path) -> Result<PathBuf, ConfigError> {
    if path.is_dir() {
        Ok(path.to_path_buf())
    } else {
        Err(ConfigError::NotADirectory {
            option,
            path: path.to_path_buf(),
        })
    }
}

/// `--python-home`, or `$VIRTUAL_ENV`: a virtual environment when it has `pyvenv.cfg`.
fn python_home(args: &StartServer, env: &Environment) -> Result<Option<PythonHome>, ConfigError> {
    let (option, dir) = match (&args.python_home, &env.virtual_env) {
        (Some(dir), _) => ("--python-home", env.absolute(dir)),
        (None, Some(dir)) => ("$VIRTUAL_ENV", env.absolute(dir)),
        (None, None) => return Ok(None),
    };
    inspect_python_home(option, &dir).map(Some)
}

/// What the directory a Python home option names is: a virtual environment or an
/// installation prefix.
pub(crate) fn inspect_python_home(
    option: &'static str,
    dir: &Path,
) -> Result<PythonHome, ConfigError> {
    let dir = existing_dir(option, dir)?;
    let cfg = dir.join("pyvenv.cfg");
    if let Ok(text) = std::fs::read_to_string(&cfg) {
        return Ok(PythonHome::VirtualEnv {
            root: dir,
            version: pyvenv_version(&text),
        });
    }
    if !dir.join("lib").is_dir() {
        return Err(ConfigError::NotAPythonHome { option, path: dir });
    }
    Ok(PythonHome::Prefix(dir))
}

/// The Python version a `pyvenv.cfg` records (`version` from venv, `version_info` from
/// virtualenv).
fn pyvenv_version(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        matches!(key.trim(), "version" | "version_info").then(|| value.trim().to_owned())
    })
}

/// Whether a URL path (trailing slashes aside) has an empty, `.` or `..` segment: a request
/// path never has one once normalised, so a mount point or alias there could not be reached.
fn has_unreachable_segment(path: &str) -> bool {
    path.trim_end_matches('/')
        .split('/')
        .skip(1)
        .any(|s| s.is_empty() || s == "." || s == "..")
}

fn mount_point(value: &str) -> Result<MountPoint, ConfigError> {
    // Like mod_wsgi-express, a mount point without a leading slash is taken from the root.
    let prefixed;
    let value = if value.starts_with('/') {
        value
    } else {
        prefixed = format!("/{value}");
        &prefixed
    };
    if value.contains(['?', '#', '%']) || has_unreachable_segment(value) {
        return Err(ConfigError::Invalid {
            option: "--mount-point",
            value: value.to_owned(),
            reason: "a mount point is a plain URL path, without '.', '..', '//', '%', '?' or '#'",
        });
    }
    MountPoint::parse(value).ok_or_else(|| ConfigError::Invalid {
        option: "--mount-point",
        value: value.to_owned(),
        reason: "a mount point must start with '/'",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn parse(args: &[&str]) -> Box<StartServer> {
        let mut argv = vec!["oxwsgi", "start-server"];
        argv.extend_from_slice(args);
        let Command::StartServer(args) = Cli::parse_from(argv).command else {
            panic!("not start-server")
        };
        args
    }

    fn env(dir: &Path) -> Environment {
        Environment {
            current_dir: dir.to_path_buf(),
            uid: 1000,
            ..Environment::default()
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("oxwsgi-config-test-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn server_root_defaults_like_mod_wsgi_express() {
        let dir = temp_dir("root");
        let config = start_server(&parse(&["--port", "8123"]), &env(&dir)).unwrap();
        assert_eq!(
            config.server_root,
            PathBuf::from("/tmp/oxwsgi-localhost:8123:1000")
        );
        assert_eq!(config.groups[0].name, "localhost:8123");
        assert_eq!(
            config.logging.error_log,
            LogDestination::File(PathBuf::from("/tmp/oxwsgi-localhost:8123:1000/error_log"))
        );
    }

    #[test]
    fn missing_script_is_named() {
        let dir = temp_dir("missing");
        let err = start_server(&parse(&["nope.wsgi"]), &env(&dir)).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("nope.wsgi"), "{text}");
        assert!(text.starts_with("the WSGI script file"), "{text}");
    }

    #[test]
    fn no_entry_point_serves_the_welcome_page() {
        let dir = temp_dir("welcome");
        let config = start_server(&parse(&[]), &env(&dir)).unwrap();
        let MountTarget::Wsgi(app) = &config.mounts[0].target else {
            panic!("the welcome page is a WSGI application");
        };
        assert_eq!(app.entry, AppEntry::Welcome);
    }

    #[test]
    fn module_names_must_be_dotted_identifiers() {
        let dir = temp_dir("module");
        let ok = start_server(
            &parse(&["--application-type", "module", "mysite.wsgi"]),
            &env(&dir),
        );
        assert!(ok.is_ok());
        let err = start_server(
            &parse(&["--application-type", "module", "my-site"]),
            &env(&dir),
        );
        assert!(err.unwrap_err().to_string().contains("my-site"));
    }

    #[test]
    fn mount_point_gets_a_leading_slash() {
        assert_eq!(mount_point("app").unwrap().as_str(), "/app");
        assert_eq!(mount_point("/").unwrap().as_str(), "");
        assert!(mount_point("/a/../b").is_err());
    }

    #[test]
    fn processes_given_makes_multiprocess_even_as_one() {
        let dir = temp_dir("processes");
        let config = start_server(&parse(&["--processes", "1"]), &env(&dir)).unwrap();
        assert!(config.groups[0].multiprocess);
        assert_eq!(config.groups[0].processes, 1);
        let config = start_server(&parse(&[]), &env(&dir)).unwrap();
        assert!(!config.groups[0].multiprocess);
    }

    #[test]
    fn a_zero_that_cannot_mean_off_is_refused_not_raised() {
        let dir = temp_dir("zero");
        for (option, reason) in [
            ("--header-timeout", "a request head needs at least a second"),
            (
                "--limit-request-fields",
                "a request has a Host field at least",
            ),
            ("--max-clients", "at least one connection must be served"),
        ] {
            let err = start_server(&parse(&[option, "0"]), &env(&dir)).unwrap_err();
            assert_eq!(err.to_string(), format!("{option} 0: {reason}"));
        }
    }

    #[test]
    fn zero_turns_optional_timeouts_off() {
        let dir = temp_dir("timeouts");
        let config = start_server(&parse(&["--request-timeout", "0"]), &env(&dir)).unwrap();
        assert_eq!(config.groups[0].lifecycle.request_timeout, None);
        let config = start_server(&parse(&[]), &env(&dir)).unwrap();
        assert_eq!(
            config.groups[0].lifecycle,
            Lifecycle::mod_wsgi_defaults(),
            "the defaults are mod_wsgi-express's"
        );
    }

    #[test]
    fn static_type_serves_the_entry_directory_with_an_index() {
        let dir = temp_dir("static");
        let config = start_server(
            &parse(&["--application-type", "static", dir.to_str().unwrap()]),
            &env(&dir),
        )
        .unwrap();
        assert!(config.mounts.is_empty(), "no application");
        assert_eq!(config.document_root, dir);
        assert_eq!(
            config.static_files.directory_index.as_deref(),
            Some("index.html")
        );
    }

    #[test]
    fn url_aliases_map_files_and_directories() {
        let dir = temp_dir("alias");
        std::fs::write(dir.join("robots.txt"), "").unwrap();
        let robots = dir.join("robots.txt");
        let config = start_server(
            &parse(&[
                "--url-alias",
                "/robots.txt",
                robots.to_str().unwrap(),
                "--url-alias",
                "/static",
                dir.to_str().unwrap(),
            ]),
            &env(&dir),
        )
        .unwrap();
        assert_eq!(
            config.mounts[0].target,
            MountTarget::Static(StaticTarget::File(robots))
        );
        assert_eq!(
            config.mounts[1].target,
            MountTarget::Static(StaticTarget::Directory(dir.clone()))
        );
        assert!(start_server(&parse(&["--url-alias", "/", "x"]), &env(&dir)).is_err());
    }

    #[test]
    fn c_locale_becomes_c_utf8() {
        assert_eq!(locale(None, Some("C")), "C.UTF-8");
        assert_eq!(locale(None, Some("de_DE.UTF-8")), "de_DE.UTF-8");
        assert_eq!(locale(Some("fr_FR.UTF-8"), Some("C")), "fr_FR.UTF-8");
    }

    #[test]
    fn pyvenv_version_is_read_from_either_key() {
        assert_eq!(
            pyvenv_version("home = /usr/bin\nversion = 3.11.7\n").unwrap(),
            "3.11.7"
        );
        assert_eq!(
            pyvenv_version("version_info = 3.12.1.final.0").unwrap(),
            "3.12.1.final.0"
        );
        assert_eq!(pyvenv_version("home = /usr/bin"), None);
    }
}

#[cfg(test)]
#[path = "fuzz/resolve.rs"]
mod fuzz;
