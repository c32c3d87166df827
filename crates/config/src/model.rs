//! The resolved configuration: what the server will actually do.
//!
//! Every front end (the `start-server` command line today, Apache-style configuration files later)
//! produces one [`ServerConfig`]. Values here are final: paths are absolute and checked, defaults
//! are filled in, and nothing refers back to how the user spelled it. The rest of the server reads
//! only this model.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Everything one `oxwsgi` server runs: its listeners, its process groups and its URL space.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerConfig {
    /// The directory holding the server's run-time files (logs, pid file).
    pub server_root: PathBuf,
    /// The host name used in the server URL and as `SERVER_NAME` when a request has no `Host`.
    pub server_name: String,
    /// Where connections are accepted.
    pub listeners: Vec<ListenerConfig>,
    /// The virtual hosts: which names on which listeners. A request goes to the first host of
    /// its listener whose names include its `Host`, else to the first host of its listener
    /// (httpd's name-based virtual hosts). The command line makes one, on every listener.
    pub hosts: Vec<VirtualHost>,
    /// The groups of worker processes; the command line makes exactly one.
    pub groups: Vec<ProcessGroup>,
    /// The URL space: which prefix goes to which application. Ordered longest prefix first.
    pub mounts: Vec<Mount>,
    /// HTTP protocol limits and timeouts.
    pub http: HttpSettings,
    /// Error log and access log.
    pub logging: LogSettings,
    /// What the server does with its log files besides writing them: rotation, the start-up
    /// log.
    #[serde(default)]
    pub log_files: LogFiles,
    /// The locale the worker processes run with (`LANG` and `LC_ALL`).
    pub locale: String,
    /// The directory whose files `DOCUMENT_ROOT` names, and what is served from it.
    pub document_root: PathBuf,
    /// How static files are served.
    pub static_files: StaticSettings,
    /// Where the supervisor writes its process id.
    pub pid_file: PathBuf,
    /// Who may make requests where (httpd's `Require`, `Order`/`Allow`/`Deny`); everyone
    /// everywhere when empty.
    pub access: crate::access::AccessRules,
    /// Changes to request and response headers (httpd's `RequestHeader` and `Header`).
    pub header_edits: crate::headers::HeaderEdits,
    /// Requests sent elsewhere (httpd's `Redirect` and `RedirectMatch`), checked in order.
    pub redirects: Vec<crate::redirect::Redirect>,
    /// The server's error pages replaced (httpd's `ErrorDocument`).
    pub error_documents: Vec<crate::redirect::ErrorDocument>,
    /// Directory URLs whose `DirectoryIndex` is a script: a request for one runs the script.
    pub index_scripts: Vec<IndexScript>,
    /// Where requests over TLS need a client certificate.
    pub client_certificates: Vec<crate::tls::ClientCertificateRule>,
    /// Metrics, status and health endpoints, slow-request reports.
    #[serde(default)]
    pub operations: crate::operations::Operations,
    /// Side services: Python scripts run in processes of their own beside the workers
    /// (mod_wsgi-express's `--service-script`).
    #[serde(default)]
    pub services: Vec<Service>,
    /// The developer's instruments: per-request profiles, coverage, request recording.
    #[serde(default)]
    pub instrumentation: crate::instrumentation::Instrumentation,
    /// The developer's tools: reloading on code changes, debug mode, the debugger.
    #[serde(default)]
    pub development: crate::development::Development,
    /// The supervisor's process title, instead of `oxwsgi: supervisor`
    /// (mod_wsgi-express's `--process-name`, which names the Apache parent process).
    #[serde(default)]
    pub process_name: Option<String>,
    /// Applications that answer for the document root's files of an extension
    /// (mod_wsgi-express's `--add-handler`: `AddHandler` with a `WSGIHandlerScript`).
    #[serde(default)]
    pub handler_scripts: Vec<HandlerScript>,
    /// Sub-URLs and host names passed on to other HTTP servers (mod_wsgi-express's
    /// `--proxy-mount-point`, `--proxy-virtual-host`).
    #[serde(default)]
    pub reverse_proxy: crate::reverse_proxy::ReverseProxy,
}

/// A WSGI script that answers the requests for the document root's files of one extension:
/// the file's URL is its `SCRIPT_NAME`, the rest of the path its `PATH_INFO`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandlerScript {
    /// The extension, lower case, with its dot (`.md`).
    pub extension: String,
    /// The handler and the group that runs it.
    pub app: WsgiApp,
}

/// A side service: a Python script that runs as the main program of a supervised process of
/// its own, serving no requests (mod_wsgi's daemon process group with `threads=0` and a
/// `WSGIImportScript`, which mod_wsgi-express's `--service-script` makes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// Its name, unique among the services: titles (`oxwsgi: service NAME`) and logs.
    pub name: String,
    /// The script (absolute path).
    pub script: PathBuf,
    /// The Python it runs in: the application's.
    pub python: PythonSettings,
    /// The user it switches to when the supervisor runs as root; `None`: it stays the
    /// supervisor's user.
    pub run_as: Option<RunAs>,
    /// Where its output and log lines go: its own file, else the server's error log.
    pub log_file: Option<PathBuf>,
}

/// A directory URL whose index is a WSGI script (httpd's `DirectoryIndex index.wsgi` in a
/// directory of scripts): the request runs the script, as mod_dir's internal redirect does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexScript {
    /// The directory's URL path, ending in `/`.
    pub directory: String,
    /// The script's URL path.
    pub script: String,
    /// The only virtual host it applies in; every one when `None`.
    pub host: Option<usize>,
}

impl ServerConfig {
    /// The process group with this index.
    ///
    /// Indexes come from [`WsgiApp::group`], which the resolver checks.
    pub fn group(&self, index: usize) -> &ProcessGroup {
        &self.groups[index]
    }

    /// What a group's workers are called in process titles and logs: its name, and where
    /// several groups share a name (one `WSGIDaemonProcess` split by application group), its
    /// application group too (`%{GLOBAL}` for the main one).
    pub fn group_title(&self, index: usize) -> String {
        let group = &self.groups[index];
        // mod_wsgi's embedded mode names no process group.
        let name = match group.name.as_str() {
            "" => "embedded",
            name => name,
        };
        if self.groups.iter().filter(|g| g.name == group.name).count() > 1 {
            let application_group = match group.application_group.as_str() {
                "" => "%{GLOBAL}",
                name => name,
            };
            format!("{name}:{application_group}")
        } else {
            name.to_owned()
        }
    }

    /// The document root of virtual host `host` (the server's for `None`).
    pub fn document_root_of(&self, host: Option<usize>) -> &std::path::Path {
        host.and_then(|h| self.hosts[h].document_root.as_deref())
            .unwrap_or(&self.document_root)
    }

    /// How virtual host `host` serves static files (the server's settings for `None`).
    pub fn static_files_of(&self, host: Option<usize>) -> &StaticSettings {
        host.and_then(|h| self.hosts[h].static_files.as_ref())
            .unwrap_or(&self.static_files)
    }

    /// The logs of a group's workers: its own, or the server's.
    pub fn logging_of_group(&self, index: usize) -> &LogSettings {
        self.groups[index].logging.as_ref().unwrap_or(&self.logging)
    }

    /// The applications the front tier forwards, in mount order: each one's mount, its
    /// group, and its index among that group's applications (see [`Self::apps_of_group`]).
    pub fn forwarded_apps(&self) -> Vec<(&Mount, usize, usize)> {
        let mut counts = vec![0; self.groups.len()];
        let mut apps = Vec::new();
        for mount in &self.mounts {
            if let MountTarget::Wsgi(app) = &mount.target {
                let index = counts[app.group];
                counts[app.group] += 1;
                if self.groups[app.group].internal_socket.is_some() {
                    apps.push((mount, app.group, index));
                }
            }
        }
        apps
    }

    /// The WSGI applications of one group, with their mounts, in mount order.
    pub fn app_mounts_of_group(&self, group: usize) -> impl Iterator<Item = (&Mount, &WsgiApp)> {
        self.mounts
            .iter()
            .filter_map(move |mount| match &mount.target {
                MountTarget::Wsgi(app) if app.group == group => Some((mount, app)),
                MountTarget::Wsgi(_) | MountTarget::Static(_) => None,
            })
    }

    /// The WSGI applications of one group, with their mount points, in mount order.
    pub fn apps_of_group(&self, group: usize) -> impl Iterator<Item = (&MountPoint, &WsgiApp)> {
        self.mounts
            .iter()
            .filter_map(move |mount| match &mount.target {
                MountTarget::Wsgi(app) if app.group == group => Some((&mount.prefix, app)),
                MountTarget::Wsgi(_) | MountTarget::Static(_) => None,
            })
    }
}

/// One address to listen on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerConfig {
    /// The interface to bind; `None` binds every interface (IPv4 and IPv6).
    pub host: Option<String>,
    /// The TCP port; 0 asks the kernel for a free one.
    pub port: u16,
    /// The kernel's accept queue length for this socket.
    pub backlog: u32,
    /// Whether it speaks HTTPS, and with which certificates.
    pub tls: Option<crate::tls::ListenerTls>,
    /// Whether it speaks HTTP/2 besides HTTP/1.1: chosen by ALPN over TLS (`h2`), by the
    /// client's connection preface in the clear (`h2c` with prior knowledge).
    pub http2: bool,
    /// A unix socket instead of a TCP address (`host` and `port` are then unused): for a
    /// proxy on the same machine, such as nginx, which needs no port and whose access the
    /// socket file's owner and mode decide.
    #[serde(default)]
    pub unix: Option<UnixSocket>,
}

impl ListenerConfig {
    /// How messages and the banner name the listener: `host:port` (`*` for every
    /// interface), or `unix:PATH`.
    pub fn describe(&self) -> String {
        match &self.unix {
            Some(unix) => format!("unix:{}", unix.path.display()),
            None => format!("{}:{}", self.host.as_deref().unwrap_or("*"), self.port),
        }
    }
}

/// A listening unix socket: where it is, and who may connect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnixSocket {
    /// The socket file's absolute path.
    pub path: PathBuf,
    /// The file's permission bits (`0o660`: its owner and group may connect).
    pub mode: u32,
    /// Who owns the file, when not the user oxwsgi starts as.
    pub owner: Option<SocketOwner>,
}

/// The owner a unix socket file is given (looked up when the configuration was resolved).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketOwner {
    /// As the user wrote it, for messages: `USER` or `USER:GROUP`.
    pub name: String,
    /// The user id.
    pub uid: u32,
    /// The group id: the one given, else the user's primary group.
    pub gid: u32,
}

/// A virtual host: the names it answers to, where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualHost {
    /// `ServerName` and the `ServerAlias`es, lower case and without a port; an alias may hold
    /// `*` and `?` wildcards. Empty: the host answers only as its listener's default.
    pub names: Vec<String>,
    /// The listeners (indexes into [`ServerConfig::listeners`]) it answers on.
    pub listeners: Vec<usize>,
    /// Its own logs (its access log is written by whichever process serves it); the server's
    /// when `None`.
    pub logging: Option<LogSettings>,
    /// Its own `DocumentRoot`; the server's when `None`.
    pub document_root: Option<PathBuf>,
    /// How it serves static files (`DirectoryIndex`, `Options Indexes`, `AddType`, …); the
    /// server's when `None`.
    pub static_files: Option<StaticSettings>,
    /// The request headers a proxy in front may say who the client was with, and which
    /// proxies (mod_wsgi's `WSGITrustedProxyHeaders` and `WSGITrustedProxies`).
    pub trusted_proxies: crate::proxy::TrustedProxies,
}

impl VirtualHost {
    /// Whether `host` (a `Host` value without its port, in any case) is one of the names.
    pub fn answers_to(&self, host: &str) -> bool {
        self.names
            .iter()
            .any(|name| glob_matches(name.as_bytes(), host.as_bytes()))
    }
}

/// Whether `host` (any case, no port) is the name `pattern` (lower case, `*` and `?`
/// wildcards, as in `ServerAlias`) describes: for virtual hosts and TLS certificates alike.
pub fn host_name_matches(pattern: &str, host: &str) -> bool {
    glob_matches(pattern.as_bytes(), host.as_bytes())
}

/// httpd's wildcard match of a `ServerAlias` (`pattern`, lower case): `*` any run of
/// characters, `?` one; letters of `text` in any case. The host is
/// the client's: the match backtracks only to the last `*`, so it takes at most
/// pattern × host steps, whatever the pattern.
fn glob_matches(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where the last `*` was, and the text position it now stands up to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c.eq_ignore_ascii_case(&text[t]) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// HTTP limits and timeouts that apply to every connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpSettings {
    /// How long an idle keep-alive connection is kept open; zero disables keep-alive.
    pub keep_alive_timeout: Duration,
    /// How long a client may take to send a complete request head, before the extension it
    /// earns by sending (`header_min_rate`).
    pub header_timeout: Duration,
    /// The most time a request head may take, however fast it arrives.
    pub header_max_timeout: Duration,
    /// Bytes of a request head that earn it one more second; 0 earns nothing.
    pub header_min_rate: u64,
    /// How long a read of the request body may wait for the next bytes from the client, and
    /// the body's time as a whole before what it earns (`body_min_rate`).
    pub body_timeout: Duration,
    /// The most time a request body may take; `None`: no maximum.
    pub body_max_timeout: Option<Duration>,
    /// Bytes of a request body that earn it one more second; 0: no overall clock.
    pub body_min_rate: u64,
    /// The largest request body accepted, in bytes; larger ones get a 413.
    pub limit_request_body: u64,
    /// How long a response may wait for the client to read before the connection is closed.
    pub socket_timeout: Duration,
    /// The longest request line accepted, in bytes (Apache's LimitRequestLine).
    pub limit_request_line: usize,
    /// The longest request header field (`name: value`) accepted, in bytes (Apache's
    /// LimitRequestFieldSize).
    pub limit_request_field_size: usize,
    /// The most request header fields accepted (Apache's LimitRequestFields).
    pub limit_request_fields: usize,
    /// The most connections one process serves at once; further ones wait in the backlog.
    pub max_connections: usize,
    /// Whether a request body may come chunked (mod_wsgi's `WSGIChunkedRequest`); without,
    /// such a request gets a 411.
    pub chunked_requests: bool,
    /// How a `TRACE` request is answered (httpd's `TraceEnable`).
    pub trace: TraceMode,
}

/// What happens to a `TRACE` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TraceMode {
    /// It goes to the application like any other method.
    Application,
    /// The server answers it by echoing the request (httpd's `TraceEnable On`, its default).
    Echo,
    /// The server refuses it with a 405 (`TraceEnable Off`).
    Refuse,
}

impl HttpSettings {
    /// The largest request head the limits allow: the request line, every field at its
    /// longest, and the line ends. hyper refuses a longer head with a 431 before parsing it.
    pub fn max_head_size(&self) -> usize {
        let line = self.limit_request_line + 2;
        let fields = self.limit_request_fields * (self.limit_request_field_size + 2);
        line + fields + 2
    }
}

/// A group of identical worker processes running the same Python applications.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessGroup {
    /// The group's name, shown as `mod_wsgi.process_group` and in process titles.
    pub name: String,
    /// How many Python threads each process runs requests on.
    pub threads: usize,
    /// How many processes the group runs.
    pub processes: usize,
    /// Whether `wsgi.multiprocess` is true: mod_wsgi's rule is that it is when the number of
    /// processes was given explicitly, even as 1.
    pub multiprocess: bool,
    /// Where Python comes from and what it imports.
    pub python: PythonSettings,
    /// The value of `mod_wsgi.application_group` (the interpreter name; `""` is the main one).
    pub application_group: String,
    /// How many requests may wait for a free Python thread before new ones are refused.
    pub queue_backlog: usize,
    /// How long a request may wait for a free Python thread before it gets a 504.
    pub queue_timeout: Duration,
    /// How long a request arriving when the queue is full waits for room in it before it gets
    /// a 503 (mod_wsgi's connect-timeout: the time an Apache child retries the daemon's full
    /// listen queue); zero refuses it at once.
    pub connect_timeout: Duration,
    /// When worker processes are recycled and how long each step of their life may take.
    pub lifecycle: Lifecycle,
    /// The user the workers switch to before Python starts; `None`: they stay the
    /// supervisor's user.
    pub run_as: Option<RunAs>,
    /// The listeners (indexes into [`ServerConfig::listeners`]) the group's workers accept
    /// on themselves: a request on one of them reaches them with no hop.
    pub listeners: Vec<usize>,
    /// Where the front tier reaches the group's workers (a unix socket they accept on), when
    /// a listener's URL space spans several groups and the front tier serves it.
    pub internal_socket: Option<PathBuf>,
    /// What the group's workers run.
    pub role: GroupRole,
    /// The group's own logs (those of the one virtual host it serves); the server's when
    /// `None`.
    pub logging: Option<LogSettings>,
    /// Scripts each worker imports at start, in order, before the applications load
    /// (mod_wsgi's `WSGIImportScript` preloading); one that raises is logged and skipped,
    /// as in mod_wsgi.
    #[serde(default)]
    pub import_scripts: Vec<PathBuf>,
}

impl ProcessGroup {
    /// Whether the group's workers accept on listener `index`.
    pub fn serves_listener(&self, index: usize) -> bool {
        self.listeners.contains(&index)
    }
}

/// What a process group's workers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupRole {
    /// The applications mounted for the group (or static files only, without any), in Python.
    Applications,
    /// The front tier of listeners whose URL space spans several groups: no Python; it serves
    /// static files and refusals itself and forwards each application's requests to the
    /// workers of its group, over their internal sockets (mod_wsgi's daemon mode, where
    /// httpd's own processes forward to the daemons).
    Front,
}

/// A user to run as, looked up when the configuration was resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunAs {
    /// The user's name, for messages and the banner.
    pub user: String,
    /// The user id.
    pub uid: u32,
    /// The primary group id.
    pub gid: u32,
    /// The supplementary group ids (the user's groups, as `initgroups` finds them, unless the
    /// configuration names them).
    pub groups: Vec<u32>,
}

/// The life of a group's worker processes: when they are replaced, and the time limits that
/// decide a worker is stuck.
///
/// Every replacement is graceful and starts the new worker first: the old one keeps serving
/// until its replacement is ready, then stops accepting and finishes what it has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lifecycle {
    /// Recycle a worker after this many requests (0: never).
    pub maximum_requests: u64,
    /// Up to this many requests are added at random to `maximum_requests`, per worker, so
    /// workers started together are not all recycled together.
    pub maximum_requests_jitter: u64,
    /// Recycle a worker after it has run this long.
    pub restart_interval: Option<Duration>,
    /// Recycle a worker that has had no request for this long.
    pub inactivity_timeout: Option<Duration>,
    /// A request running longer gets a 504 and its worker is replaced.
    pub request_timeout: Option<Duration>,
    /// A worker not ready this long after it was started is killed and started again.
    pub startup_timeout: Duration,
    /// How long a stopping worker may take to finish its requests.
    pub graceful_timeout: Duration,
    /// How long after the graceful period a worker that has not exited is killed.
    pub shutdown_timeout: Duration,
    /// A worker whose Python lock (the GIL) cannot be taken for this long is replaced.
    pub deadlock_timeout: Option<Duration>,
    /// Whether a change of the entry script's modification time restarts the workers.
    pub reload_on_script_change: bool,
    /// Resource limits of each worker, and how a stuck or evicted one is let go.
    #[serde(default)]
    pub limits: crate::worker_limits::WorkerLimits,
}

impl Lifecycle {
    /// The settings of mod_wsgi-express's defaults.
    pub fn mod_wsgi_defaults() -> Lifecycle {
        Lifecycle {
            maximum_requests: 0,
            maximum_requests_jitter: 0,
            restart_interval: None,
            inactivity_timeout: None,
            request_timeout: Some(Duration::from_secs(60)),
            startup_timeout: Duration::from_secs(15),
            graceful_timeout: Duration::from_secs(15),
            shutdown_timeout: Duration::from_secs(5),
            deadlock_timeout: Some(Duration::from_secs(60)),
            reload_on_script_change: true,
            limits: Default::default(),
        }
    }
}

/// The Python environment of a process group.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PythonSettings {
    /// The Python installation or virtual environment to run in.
    pub home: Option<PythonHome>,
    /// Extra directories added with `site.addsitedir`, in order.
    pub paths: Vec<PathBuf>,
    /// The directory the worker changes into; also first on `sys.path`.
    pub working_directory: PathBuf,
    /// The workers' `PYTHON_EGG_CACHE`: where zipped eggs are unpacked (mod_wsgi's
    /// `python-eggs`); left as the environment has it when `None`.
    #[serde(default)]
    pub egg_cache: Option<PathBuf>,
    /// Entries for the warnings filter, in Python's `-W` syntax
    /// (`action:message:category:module:lineno`), applied in order at start (mod_wsgi's
    /// `WSGIPythonWarnings`).
    #[serde(default)]
    pub warnings: Vec<String>,
    /// `sys.setswitchinterval` at start (mod_wsgi's `switch-interval=` and
    /// `WSGISwitchInterval`); Python's own (5 ms) when `None`.
    #[serde(default)]
    pub switch_interval: Option<Duration>,
}

/// What `--python-home` pointed at, after looking at the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PythonHome {
    /// A virtual environment (it has a `pyvenv.cfg`): Python starts as its `bin/python`.
    VirtualEnv {
        /// The environment's root directory.
        root: PathBuf,
        /// The Python version recorded in `pyvenv.cfg`, such as `3.11.7`, when it says.
        version: Option<String>,
    },
    /// A Python installation prefix: used as `PYTHONHOME`.
    Prefix(PathBuf),
}

impl PythonHome {
    /// The directory the user gave.
    pub fn path(&self) -> &std::path::Path {
        match self {
            PythonHome::VirtualEnv { root, .. } => root,
            PythonHome::Prefix(prefix) => prefix,
        }
    }
}

/// A URL prefix an application is mounted at, normalised: `""` for the root, otherwise it
/// starts with `/` and does not end with one. This is the application's `SCRIPT_NAME`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MountPoint(String);

impl MountPoint {
    /// The root of the URL space.
    pub fn root() -> MountPoint {
        MountPoint(String::new())
    }

    /// Normalises a user-given prefix such as `/`, `/app` or `/app/`.
    ///
    /// Returns `None` unless it starts with `/`.
    pub fn parse(prefix: &str) -> Option<MountPoint> {
        if !prefix.starts_with('/') {
            return None;
        }
        Some(MountPoint(prefix.trim_end_matches('/').to_owned()))
    }

    /// A prefix that matches only what is below it, not itself: httpd's `Alias /static/ …`
    /// serves `/static/x` but leaves `/static` to the rest of the site. `None` unless it starts
    /// with `/` and is more than `/`.
    pub fn below_only(prefix: &str) -> Option<MountPoint> {
        let trimmed = prefix.trim_end_matches('/');
        if !prefix.starts_with('/') || trimmed.is_empty() {
            return None;
        }
        Some(MountPoint(format!("{trimmed}/")))
    }

    /// The prefix as `SCRIPT_NAME`: `""` for the root (`/static/` for a [`below_only`]
    /// prefix).
    ///
    /// [`below_only`]: MountPoint::below_only
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The length of the part of a matching path that is the mount point's (without the
    /// slash a [`below_only`](MountPoint::below_only) prefix ends with).
    pub fn path_len(&self) -> usize {
        self.0.trim_end_matches('/').len()
    }

    /// Whether a decoded request path falls under this mount point: equal to it, or below it at
    /// a `/` boundary, so `/app` matches `/app` and `/app/x` but not `/application`.
    pub fn matches(&self, path: &[u8]) -> bool {
        let prefix = self.0.as_bytes();
        if prefix.ends_with(b"/") {
            return path.starts_with(prefix);
        }
        path.starts_with(prefix) && (path.len() == prefix.len() || path[prefix.len()] == b'/')
    }
}

impl fmt::Display for MountPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("/")
        } else {
            f.write_str(&self.0)
        }
    }
}

/// How static files are served (the document root overlay and URL aliases).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticSettings {
    /// Whether the document root's files are served, where nothing is mounted.
    pub overlay: bool,
    /// Whether they are served over the applications too (mod_wsgi-express's overlay: a file
    /// wins over the application mounted at its URL); httpd's `DocumentRoot` does not.
    pub overlay_applications: bool,
    /// The file served for a directory that contains it, such as `index.html`.
    pub directory_index: Option<String>,
    /// Whether directories without an index file are listed.
    pub directory_listing: bool,
    /// Whether names starting with a dot are served (`.well-known` always is).
    pub serve_hidden_files: bool,
    /// File extension (lower case, without the dot) to media type, from `--mime-types`; these
    /// win over the built-in table.
    pub mime_types: std::collections::BTreeMap<String, String>,
    /// Whether file bodies are memory-mapped instead of read into buffers.
    pub enable_sendfile: bool,
    /// Whether text-like responses are compressed on the fly.
    pub compress_responses: bool,
}

/// One entry of the URL space.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// Where it is mounted.
    pub prefix: MountPoint,
    /// What answers there.
    pub target: MountTarget,
    /// The only virtual host (index into [`ServerConfig::hosts`]) it is mounted in; every one
    /// when `None`. An application's process group is in its [`WsgiApp`].
    pub host: Option<usize>,
    /// For an application mounted by `WSGIScriptAliasMatch`: the pattern that leads to it (it
    /// is one of the scripts the pattern names; `prefix` is then the pattern's literal start,
    /// for the configuration's rules, not where it is mounted).
    pub pattern: Option<ScriptPattern>,
}

/// A `WSGIScriptAliasMatch`: a request whose path the expression matches goes to the script
/// it names, with the matched part as `SCRIPT_NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptPattern {
    /// The regular expression on the decoded path, as written.
    pub regex: String,
    /// The script file, `$1`… standing for the expression's groups.
    pub script: String,
}

/// What answers requests under a mount point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MountTarget {
    /// A Python WSGI application.
    Wsgi(WsgiApp),
    /// A file or a directory (`--url-alias`).
    Static(StaticTarget),
}

/// What a `--url-alias` serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StaticTarget {
    /// One file, at exactly the alias's URL path.
    File(PathBuf),
    /// A directory tree below the alias's URL path.
    Directory(PathBuf),
}

/// A WSGI application and the group that runs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WsgiApp {
    /// Index into [`ServerConfig::groups`].
    pub group: usize,
    /// Where the application comes from.
    pub entry: AppEntry,
    /// The name of the WSGI callable in the script or module.
    pub callable: String,
    /// Variables added to every request's environ (httpd's `SetEnv` and `PassEnv` for the
    /// application), in order; the server's own keys win over them.
    pub environ: Vec<(String, String)>,
    /// Whether the `Authorization` header reaches it as `HTTP_AUTHORIZATION` (mod_wsgi's
    /// `WSGIPassAuthorization`, which may differ from one URL to another).
    pub pass_authorization: bool,
    /// Whether its error responses (status 400 and above) are replaced by the server's own
    /// page for that status, or its `ErrorDocument` (mod_wsgi's `WSGIErrorOverride`).
    #[serde(default)]
    pub error_override: bool,
    /// Whether a `HEAD` request reaches it as a `GET` (mod_wsgi's `WSGIMapHEADToGET`).
    #[serde(default)]
    pub map_head_to_get: HeadMapping,
}

/// When a `HEAD` request reaches an application as a `GET` (mod_wsgi's `WSGIMapHEADToGET`).
/// The server sends only the head of the response either way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum HeadMapping {
    /// Never: the application sees `HEAD`.
    Off,
    /// Always: the application sees `GET` and its body is thrown away.
    On,
    /// When the server transforms the response body (compression, which sets headers from the
    /// whole body): then the application must produce it for the headers to be right.
    #[default]
    Auto,
}

impl HeadMapping {
    /// Parses `Off`, `On` or `Auto`, in any case.
    pub fn parse(value: &str) -> Option<HeadMapping> {
        match value.to_ascii_lowercase().as_str() {
            "off" => Some(HeadMapping::Off),
            "on" => Some(HeadMapping::On),
            "auto" => Some(HeadMapping::Auto),
            _ => None,
        }
    }

    /// Whether a `HEAD` request is passed on as a `GET`, where responses are compressed or not.
    pub fn as_get(self, compress_responses: bool) -> bool {
        match self {
            HeadMapping::Off => false,
            HeadMapping::On => true,
            HeadMapping::Auto => compress_responses,
        }
    }
}

/// How an application is found, one per `--application-type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppEntry {
    /// A WSGI script file, executed as a module the way mod_wsgi does (absolute path).
    Script(PathBuf),
    /// A Python module imported by name.
    Module(String),
    /// A PasteDeploy `.ini` file loaded with `paste.deploy.loadapp` (absolute path).
    Paste(PathBuf),
    /// No application was given: oxwsgi's own welcome page.
    Welcome,
}

impl AppEntry {
    /// How the application is named in messages: its path, its module name, or "the welcome page".
    pub fn describe(&self) -> String {
        match self {
            AppEntry::Script(path) => format!("WSGI script '{}'", path.display()),
            AppEntry::Module(name) => format!("module '{name}'"),
            AppEntry::Paste(path) => format!("PasteDeploy configuration '{}'", path.display()),
            AppEntry::Welcome => "the built-in welcome page".to_owned(),
        }
    }
}

/// Error and access logging.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSettings {
    /// The least severe level written to the error log.
    pub level: LogLevel,
    /// Where the error log goes.
    pub error_log: LogDestination,
    /// The access log, when enabled.
    pub access_log: Option<AccessLogSettings>,
    /// Apache's `ErrorLogFormat` for the error log's lines; Apache's default line when `None`.
    #[serde(default)]
    pub error_format: Option<String>,
}

/// What the server does with its log files besides writing them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogFiles {
    /// Rotate each log file when it grows past a size (mod_wsgi-express's `--rotate-logs`).
    pub rotation: Option<Rotation>,
    /// Where the start-up messages are also written (mod_wsgi-express's `--startup-log`): the
    /// banner and everything logged until the server serves or fails.
    pub startup_log: Option<PathBuf>,
}

/// Size-based rotation of every log file: `FILE` becomes `FILE.1`, `FILE.1` becomes `FILE.2`,
/// and so on; the oldest beyond [`Rotation::max_files`] is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotation {
    /// A file is rotated once it is larger than this.
    pub max_bytes: u64,
    /// How many rotated files are kept besides the one written to.
    pub max_files: u32,
}

/// Where a log is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogDestination {
    /// The terminal: standard error for the error log, standard output for the access log.
    Terminal,
    /// A file, appended to.
    File(PathBuf),
}

impl fmt::Display for LogDestination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogDestination::Terminal => f.write_str("(terminal)"),
            LogDestination::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// The access log: where, and in which Apache `LogFormat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessLogSettings {
    /// Where each line goes.
    pub destination: LogDestination,
    /// The Apache `LogFormat` string, or the name `common` or `combined`.
    pub format: String,
}

/// Apache's error log levels, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum LogLevel {
    /// The server is unusable.
    Emerg,
    /// Action must be taken immediately.
    Alert,
    /// Critical conditions.
    Crit,
    /// Errors, such as an exception raised by the application.
    Error,
    /// Warnings: something was wrong but was handled.
    Warn,
    /// Normal but significant events, such as start and stop.
    Notice,
    /// Informational messages, such as refused requests.
    Info,
    /// Debugging detail.
    Debug,
}

impl LogLevel {
    /// Every level, most severe first, as named on the command line.
    pub const NAMES: [&'static str; 8] = [
        "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug",
    ];

    /// The level's name as Apache spells it.
    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// Parses an Apache level name.
    pub fn parse(name: &str) -> Option<LogLevel> {
        const LEVELS: [LogLevel; 8] = [
            LogLevel::Emerg,
            LogLevel::Alert,
            LogLevel::Crit,
            LogLevel::Error,
            LogLevel::Warn,
            LogLevel::Notice,
            LogLevel::Info,
            LogLevel::Debug,
        ];
        let index = Self::NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))?;
        Some(LEVELS[index])
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_point_is_normalised_without_trailing_slash() {
        assert_eq!(MountPoint::parse("/").unwrap().as_str(), "");
        assert_eq!(MountPoint::parse("/app/").unwrap().as_str(), "/app");
        assert_eq!(MountPoint::parse("/app").unwrap().to_string(), "/app");
        assert!(MountPoint::parse("app").is_none());
    }

    #[test]
    fn mount_point_matches_only_at_segment_boundaries() {
        let app = MountPoint::parse("/app").unwrap();
        assert!(app.matches(b"/app"));
        assert!(app.matches(b"/app/x"));
        assert!(!app.matches(b"/application"));
        assert!(MountPoint::root().matches(b"/anything"));
    }

    #[test]
    fn log_levels_parse_by_apache_name() {
        assert_eq!(LogLevel::parse("WARN"), Some(LogLevel::Warn));
        assert_eq!(LogLevel::parse("debug"), Some(LogLevel::Debug));
        assert_eq!(LogLevel::parse("loud"), None);
        assert!(LogLevel::Error < LogLevel::Info);
    }
}

#[cfg(test)]
#[path = "fuzz/model.rs"]
mod fuzz;
