//! The `oxwsgi` command line: `oxwsgi start-server [OPTIONS] [ENTRY_POINT]`.
//!
//! Option names and defaults are those of `mod_wsgi-express start-server`, so an existing
//! command line keeps working when `mod_wsgi-express` becomes `oxwsgi`. This module only
//! describes and parses what the user typed; [`crate::resolve`] checks it against the system and
//! turns it into a [`crate::ServerConfig`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// oxwsgi: a production WSGI server, the successor of Apache/mod_wsgi and mod_wsgi-express.
#[derive(Debug, Parser)]
#[command(name = "oxwsgi", version, propagate_version = true)]
#[command(about = "A production WSGI server for Python web applications")]
#[command(
    long_about = "oxwsgi hosts Python WSGI applications (Flask, Django, Pecan, Pyramid, \
PasteDeploy pipelines, ...) in an embedded CPython, with the command line of mod_wsgi-express.\n\n\
Start with:  oxwsgi start-server app.wsgi"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the server for a WSGI application, in the foreground.
    #[command(
        long_about = "Start the server for a WSGI application, in the foreground.\n\n\
The ENTRY_POINT is a WSGI script file (the default), a Python module name \
(--application-type module) or a PasteDeploy .ini file (--application-type paste). Without one, \
a welcome page is served.\n\n\
Stop the server with Ctrl-C or SIGTERM: requests in progress finish first."
    )]
    // Parsed as mod_wsgi-express's optparse does: an option given again replaces its value,
    // and a long option may be abbreviated to a unique prefix (`--proc 4`).
    #[command(args_override_self = true, infer_long_args = true)]
    StartServer(Box<StartServer>),
    /// Write a server root with the resolved configuration, a control script and systemd
    /// units, without starting the server.
    #[command(
        long_about = "Write a server root with the resolved configuration, a control script and \
systemd units, without starting the server (mod_wsgi-express's setup-server; the same as \
start-server --setup-only).\n\n\
Takes start-server's options and ENTRY_POINT, resolved and checked exactly as start-server does \
(nothing is written when one is wrong). Writes into the server root (--server-root):\n\n  \
oxwsgi.json      the resolved configuration (start-server --from-setup runs it)\n  \
apachectl        the control script: start, stop, restart, graceful, status, ...\n  \
envvars          sourced by apachectl before the server starts (--envvars-script)\n  \
oxwsgi.service   a systemd unit (Type=notify; reload = SIGHUP, a rolling restart)\n  \
oxwsgi.socket    a systemd socket unit with the listeners, for socket activation\n\n\
Use a lasting --server-root (not the default under $TMPDIR) for a service."
    )]
    #[command(args_override_self = true, infer_long_args = true)]
    SetupServer(Box<StartServer>),
    /// Check Apache configuration files, like `apachectl -t`, and print what would run.
    #[command(
        long_about = "Check Apache httpd configuration files (site files with WSGIScriptAlias, \
WSGIDaemonProcess, ...), like `apachectl -t`: every directive is read the way httpd reads it \
(Include, Define and ${VAR}, <IfModule>, <IfDefine>, <IfVersion>), checked, and the listeners, \
virtual hosts, daemon process groups and applications are printed.\n\n\
Exit status 0 when the files are valid, 2 with one `file:line: error: ...` line per problem \
otherwise. Directives oxwsgi accepts without effect are listed with --verbose.\n\n\
`oxwsgi start-server --config FILE` runs them; what it cannot run yet is listed here as \
warnings (docs/apache.md says what runs)."
    )]
    CheckConfig(CheckConfig),
}

/// The options of `check-config`.
#[derive(Debug, Args)]
pub struct CheckConfig {
    /// The configuration files, read in order as one configuration (a site file, or a whole
    /// tree's apache2.conf / httpd.conf).
    #[arg(value_name = "FILE", required_unless_present = "from_setup")]
    pub files: Vec<PathBuf>,

    /// Check the configuration setup-server saved (SERVER_ROOT/oxwsgi.json) instead: that it
    /// can be read by this oxwsgi, and that the files it names are there (what the control
    /// script's `configtest` runs).
    #[arg(long, value_name = "FILE", conflicts_with = "files")]
    pub from_setup: Option<PathBuf>,

    /// Defines a name for <IfDefine> and ${NAME}, as httpd's -D does: NAME or NAME=VALUE.
    #[arg(short = 'D', long = "define", value_name = "NAME[=VALUE]")]
    pub defines: Vec<String>,

    /// Report directives that change what a request gets and that oxwsgi does not implement
    /// (RewriteRule, ProxyPass, ...) as warnings instead of errors.
    #[arg(long)]
    pub ignore_unsupported: bool,

    /// Also list the directives accepted without effect, with the reason.
    #[arg(short, long)]
    pub verbose: bool,
}

/// How the entry point names the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ApplicationType {
    /// A WSGI script file, executed as a module the way mod_wsgi does.
    Script,
    /// A Python module, imported by name (such as mysite.wsgi for Django).
    Module,
    /// A PasteDeploy .ini file, loaded with paste.deploy.loadapp.
    Paste,
    /// No Python at all: serve the files of a directory (the entry point, else the current
    /// directory), like `python -m http.server`.
    Static,
}

/// The options of `start-server`.
#[derive(Debug, Args)]
pub struct StartServer {
    /// The application: a WSGI script file, a module name or an .ini file, depending on
    /// --application-type.
    #[arg(value_name = "ENTRY_POINT")]
    pub entry_point: Option<String>,

    /// Run an Apache httpd configuration (a site file with WSGIScriptAlias, WSGIDaemonProcess,
    /// ..., or several, read in order) instead of an ENTRY_POINT and these options; see
    /// `oxwsgi check-config --help` and docs/apache.md for what runs. Only --server-root,
    /// --log-to-terminal, --define and --ignore-unsupported go with it.
    #[arg(
        long = "config",
        value_name = "FILE",
        help_heading = "Apache configuration"
    )]
    pub config: Vec<PathBuf>,

    /// Apache configuration applied on top of what the command line says (mod_wsgi-express's
    /// option: the file is included at the end of the configuration): Alias, Require and
    /// Order/Allow in <Directory> and <Location>, SetEnv, Header, Redirect, ErrorDocument,
    /// AddType, WSGIPassAuthorization, limits and timeouts. What an option says (Listen,
    /// WSGIScriptAlias, WSGIDaemonProcess, User, logs, ...) is refused, naming the option. May
    /// be repeated; the files are read in order. See docs/apache.md.
    #[arg(
        long = "include-file",
        value_name = "FILE",
        help_heading = "Apache configuration"
    )]
    pub include_file: Vec<PathBuf>,

    /// Defines a name for the configuration's <IfDefine> and ${NAME}, as httpd's -D does:
    /// NAME or NAME=VALUE (with --config or --include-file).
    #[arg(
        long = "define",
        value_name = "NAME[=VALUE]",
        help_heading = "Apache configuration"
    )]
    pub define: Vec<String>,

    /// Skip the configuration's directives that change what a request gets and that oxwsgi
    /// does not implement (RewriteRule, ProxyPass, ...), with a warning each, instead of
    /// refusing to start (with --config or --include-file).
    #[arg(long, help_heading = "Apache configuration")]
    pub ignore_unsupported: bool,

    /// The application to run, given as an option (mod_wsgi-express's spelling) instead of the
    /// ENTRY_POINT argument; takes precedence over it.
    #[arg(
        long = "entry-point",
        value_name = "FILE-PATH|MODULE",
        help_heading = "Application"
    )]
    pub entry_point_option: Option<String>,

    /// What the entry point is: a WSGI script file, a module name to import, or a PasteDeploy
    /// .ini file.
    #[arg(
        long,
        value_enum,
        default_value_t = ApplicationType::Script,
        value_name = "TYPE",
        help_heading = "Application"
    )]
    pub application_type: ApplicationType,

    /// The name of the WSGI callable in the script file or module.
    #[arg(
        long,
        default_value = "application",
        value_name = "NAME",
        help_heading = "Application"
    )]
    pub callable_object: String,

    /// The URL prefix the application is mounted at; it becomes SCRIPT_NAME, and only URLs
    /// under it reach the application.
    #[arg(
        long,
        default_value = "/",
        value_name = "URL-PATH",
        help_heading = "Application"
    )]
    pub mount_point: String,

    /// The directory the server runs the application in. It becomes the current directory
    /// and is put first on sys.path [default: the current directory].
    #[arg(long, value_name = "DIRECTORY-PATH", help_heading = "Python")]
    pub working_directory: Option<PathBuf>,

    /// The Python installation or virtual environment to run in. A virtual environment (a
    /// directory with pyvenv.cfg) is used as if its bin/python were running; any other
    /// directory is used as PYTHONHOME [default: $VIRTUAL_ENV, if set].
    #[arg(long, value_name = "DIRECTORY-PATH", help_heading = "Python")]
    pub python_home: Option<PathBuf>,

    /// A directory to add to sys.path with site.addsitedir (so its .pth files are read).
    /// Repeat for several.
    #[arg(long, value_name = "DIRECTORY-PATH", help_heading = "Python")]
    pub python_path: Vec<PathBuf>,

    /// The directory whose files are served as they are, overlaying the application: a file
    /// that exists there wins over the application at the same URL [default:
    /// SERVER_ROOT/htdocs; with --application-type static, the entry point or the current
    /// directory].
    #[arg(long, value_name = "DIRECTORY-PATH", help_heading = "Static files")]
    pub document_root: Option<PathBuf>,

    /// The file served for a directory of the document root that contains it (such as
    /// index.html); such directories then win over the application too [default: none; with
    /// --application-type static, index.html].
    #[arg(long, value_name = "FILE-NAME", help_heading = "Static files")]
    pub directory_index: Option<String>,

    /// Serve a file or a directory at a URL path, whatever the application does there. Repeat
    /// for several.
    #[arg(
        long,
        num_args = 2,
        value_names = ["URL-PATH", "FILE-OR-DIRECTORY"],
        action = clap::ArgAction::Append,
        help_heading = "Static files"
    )]
    pub url_alias: Vec<String>,

    /// List the files of a directory of the document root (or of an alias) that has no index
    /// file.
    #[arg(long, help_heading = "Static files")]
    pub directory_listing: bool,

    /// Serve files and directories whose name starts with a dot (.git, .env); by default they
    /// are refused (404), except .well-known.
    #[arg(long, help_heading = "Static files")]
    pub serve_hidden_files: bool,

    /// An Apache mime.types file (`type ext ext ...` lines) whose types override the built-in
    /// table for the extensions it names [default: the built-in table only].
    #[arg(long, value_name = "FILE-PATH", help_heading = "Static files")]
    pub mime_types: Option<PathBuf>,

    /// Send static files without copying them through a read buffer (the file is memory-mapped;
    /// a file truncated while being sent makes the worker crash, as with Apache's EnableMMAP).
    /// Responses compressed by --compress-responses are always read, never mapped.
    #[arg(long, help_heading = "Static files")]
    pub enable_sendfile: bool,

    /// Compress text-like responses (HTML, CSS, JavaScript, JSON, XML, plain text) of the
    /// static files and the application with brotli or gzip, as the client accepts.
    #[arg(long, help_heading = "Static files")]
    pub compress_responses: bool,

    /// Metrics, status page, health checks (see "Operations").
    #[command(flatten)]
    pub operations: crate::operations::OperationsArgs,

    /// CPU and memory limits of the workers, interrupting stuck requests (see "Worker limits").
    #[command(flatten)]
    pub worker_limits: crate::worker_limits::WorkerLimitsArgs,

    /// Profiler, coverage and request recorder (see "Developer instruments").
    #[command(flatten)]
    pub instrumentation: crate::instrumentation::InstrumentationArgs,
    /// Reloading on code changes, debug mode, the debugger (see "Development").
    #[command(flatten)]
    pub development: crate::development::DevelopmentArgs,
    /// User, environ, Python settings, names, error documents (see "Application
    /// environment").
    #[command(flatten)]
    pub app_options: crate::app_options::AppOptionsArgs,
    /// Sub-URLs and host names passed on to other servers (see "Reverse proxy").
    #[command(flatten)]
    pub reverse_proxy: crate::reverse_proxy::ReverseProxyArgs,

    /// The IP address or host name to listen on [default: every interface].
    #[arg(long, value_name = "IP-ADDRESS", help_heading = "Network")]
    pub host: Option<String>,

    /// The port to listen on; 0 picks a free port, shown in the Server URL.
    #[arg(
        long,
        default_value_t = 8000,
        value_name = "NUMBER",
        help_heading = "Network"
    )]
    pub port: u16,

    /// Speak HTTP/2 besides HTTP/1.1: over HTTPS when the client asks for it (ALPN h2), and
    /// in the clear to a client that starts with HTTP/2's preface (h2c with prior knowledge,
    /// as a proxy in front may) — mod_http2's `Protocols h2 h2c http/1.1`.
    #[arg(long, help_heading = "Network")]
    pub http2: bool,

    /// Also listen on a unix socket at this path, for a proxy on the same machine (nginx:
    /// `server unix:PATH;` in an upstream). It serves what --port serves, in plain HTTP. A
    /// stale socket file a previous run left is replaced, a live one (another server answers
    /// on it) or a file that is not a socket is refused; the file is removed when the server
    /// stops. Requests over it come from 127.0.0.1 (REMOTE_PORT 0) unless a trusted proxy
    /// header says otherwise (--trust-proxy-header X-Forwarded-For; --trust-proxy 127.0.0.1
    /// covers it) [default: none].
    #[arg(long, value_name = "SOCKET-PATH", help_heading = "Network")]
    pub unix_socket: Option<PathBuf>,

    /// The permissions of the --unix-socket file, in octal: who may connect (writing to a
    /// socket is connecting). 0660 lets its owner and group in, 0666 everyone on the machine.
    #[arg(
        long,
        default_value = "0660",
        value_name = "OCTAL-MODE",
        help_heading = "Network"
    )]
    pub unix_socket_mode: String,

    /// The owner of the --unix-socket file, USER or USER:GROUP (a user or group may be given
    /// as #ID), so that the proxy's user (www-data for Debian's nginx) may connect; changing
    /// the owner needs root [default: the user oxwsgi starts as].
    #[arg(long, value_name = "USER[:GROUP]", help_heading = "Network")]
    pub unix_socket_owner: Option<String>,

    /// Also listen for HTTPS on this port (on the --host addresses), with the certificate of
    /// --ssl-certificate-file and --ssl-certificate-key-file (or --ssl-certificate). Plain
    /// HTTP stays on --port, unless --https-only [default: none: HTTP only].
    #[arg(
        long,
        alias = "ssl-port",
        value_name = "NUMBER",
        help_heading = "HTTPS"
    )]
    pub https_port: Option<u16>,

    /// Answer plain HTTP on --port only with a redirect (302) to the same URL on the HTTPS
    /// port, at the server name (--host, or localhost).
    #[arg(long, help_heading = "HTTPS")]
    pub https_only: bool,

    /// The server's certificate (PEM); intermediate certificates may follow it in the file
    /// [default: none].
    #[arg(long, value_name = "FILE-PATH", help_heading = "HTTPS")]
    pub ssl_certificate_file: Option<PathBuf>,

    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1). A file only root may read
    /// works: it is read before the workers drop their privileges [default: none].
    #[arg(long, value_name = "FILE-PATH", help_heading = "HTTPS")]
    pub ssl_certificate_key_file: Option<PathBuf>,

    /// The certificate and key by their common name: NAME.crt and NAME.key (mod_wsgi-express's
    /// shorthand for the two options above) [default: none].
    #[arg(long, value_name = "FILE-PATH", help_heading = "HTTPS")]
    pub ssl_certificate: Option<PathBuf>,

    /// Intermediate certificates (PEM) sent after the server's own [default: none: those of
    /// the certificate file].
    #[arg(long, value_name = "FILE-PATH", help_heading = "HTTPS")]
    pub ssl_certificate_chain_file: Option<PathBuf>,

    /// The authorities (PEM) whose client certificates are accepted. Alone, every HTTPS
    /// request needs a client certificate signed by one of them; with --ssl-verify-client,
    /// only those below its paths. Others get a 403. Plain HTTP on --port is not affected
    /// [default: none: no client certificates].
    #[arg(long, value_name = "FILE-PATH", help_heading = "HTTPS")]
    pub ssl_ca_certificate_file: Option<PathBuf>,

    /// Require a client certificate only for the HTTPS requests below this URL path; may be
    /// repeated. Needs --ssl-ca-certificate-file [default: every HTTPS request, once
    /// --ssl-ca-certificate-file is given].
    #[arg(
        long = "ssl-verify-client",
        value_name = "URL-PATH",
        help_heading = "HTTPS"
    )]
    pub ssl_verify_client: Vec<String>,

    /// Pass the TLS details to the application as mod_ssl's SSL_* environ keys (SSL_PROTOCOL,
    /// SSL_CIPHER, SSL_TLS_SNI, SSL_CLIENT_S_DN, SSL_CLIENT_VERIFY, ...; see docs/environ.md).
    #[arg(long, help_heading = "HTTPS")]
    pub ssl_environment: bool,

    /// The Strict-Transport-Security header's value for HTTPS responses, such as
    /// 'max-age=31536000; includeSubDomains'. Sent with --https-only, as with mod_wsgi-express
    /// [default: none].
    #[arg(long, value_name = "PARAMS", help_heading = "HTTPS")]
    pub hsts_policy: Option<String>,

    /// The name of a trusted HTTP header providing details of the front end client request
    /// when proxying, as with mod_wsgi-express (WSGITrustedProxyHeaders): X-Forwarded-For,
    /// X-Client-IP or X-Real-IP (the client's address, REMOTE_ADDR), X-Forwarded-Host or X-Host
    /// (HTTP_HOST), X-Forwarded-Server (SERVER_NAME), X-Forwarded-Port (SERVER_PORT),
    /// X-Forwarded-Proto, X-Forwarded-Scheme, X-Scheme, X-Forwarded-HTTPS, X-Forwarded-SSL or
    /// X-HTTPS (wsgi.url_scheme), X-Script-Name or X-Forwarded-Script-Name (SCRIPT_NAME), and
    /// Forwarded (RFC 7239's for=, proto= and host=; oxwsgi's addition). Repeat for several; the
    /// other headers of the same purpose are removed before the application sees the request
    /// [default: none: no header is trusted].
    #[arg(
        long = "trust-proxy-header",
        value_name = "HEADER-NAME",
        help_heading = "Behind a proxy"
    )]
    pub trust_proxy_header: Vec<String>,

    /// The IP address or subnet (10.0.0.5, 10.0.0.0/8, 2001:db8::/32) of a trusted proxy, as
    /// with mod_wsgi-express (WSGITrustedProxies): the trusted headers count only on
    /// connections from one, and X-Forwarded-For is read from the right, skipping them.
    /// Repeat for several [default: none: the trusted headers of every client count, as with
    /// mod_wsgi].
    #[arg(
        long = "trust-proxy",
        value_name = "IP-ADDRESS/SUBNET",
        help_heading = "Behind a proxy"
    )]
    pub trust_proxy: Vec<String>,

    /// The primary host name of the server: requests for another Host (that no
    /// --server-alias names) are refused with a 403, unless from this machine with
    /// --allow-localhost. A name starting with 'www.' also answers for the parent domain with
    /// a redirect (301) to the 'www.' name. It is the name in --https-only's redirect and the
    /// authentication realm [default: none: any Host is served].
    #[arg(long, value_name = "HOSTNAME", help_heading = "Network")]
    pub server_name: Option<String>,

    /// Another host name the server answers to with --server-name; '*' and '?' wildcards may
    /// be used ('*.example.com'). Repeat for several [default: none].
    #[arg(long, value_name = "HOSTNAME", help_heading = "Network")]
    pub server_alias: Vec<String>,

    /// With --server-name, still serve requests for another Host when they come from this
    /// machine (a loopback address).
    #[arg(long, help_heading = "Network")]
    pub allow_localhost: bool,

    /// A Python script whose allow_access(environ, host) decides, before anything else,
    /// whether a client may in: True lets it, False refuses it (403), None leaves it to the
    /// other checks; host is the client's address (mod_wsgi's WSGIAccessScript)
    /// [default: none].
    #[arg(long, value_name = "SCRIPT-PATH", help_heading = "Authentication")]
    pub host_access_script: Option<PathBuf>,

    /// A Python script whose check_password(environ, user, password) authenticates every
    /// request with HTTP Basic authentication: True lets the user in (REMOTE_USER), False
    /// (wrong password) or None (unknown user) answers 401; a string lets the user in under
    /// that name (mod_wsgi's WSGIAuthUserScript). The realm is HOST:PORT [default: none].
    #[arg(long, value_name = "SCRIPT-PATH", help_heading = "Authentication")]
    pub auth_user_script: Option<PathBuf>,

    /// The authentication scheme of --auth-user-script: Basic (the script's check_password)
    /// or Digest (its get_realm_hash(environ, user, realm), which returns the hex MD5 of
    /// 'user:realm:password', or None for an unknown user).
    #[arg(
        long,
        default_value = "Basic",
        value_name = "TYPE",
        help_heading = "Authentication"
    )]
    pub auth_type: String,

    /// A Python script whose groups_for_user(environ, user) lists the groups of a user
    /// --auth-user-script authenticated; only members of --auth-group are let in (others get
    /// a 401) (mod_wsgi's WSGIAuthGroupScript and Require wsgi-group) [default: none].
    #[arg(long, value_name = "SCRIPT-PATH", help_heading = "Authentication")]
    pub auth_group_script: Option<PathBuf>,

    /// The group a user must be in with --auth-group-script.
    #[arg(
        long,
        default_value = "wsgi",
        value_name = "NAME",
        help_heading = "Authentication"
    )]
    pub auth_group: String,

    /// The length of the kernel's queue of connections not yet accepted.
    #[arg(
        long,
        default_value_t = 500,
        value_name = "NUMBER",
        help_heading = "Network"
    )]
    pub server_backlog: u32,

    /// The number of worker processes. Giving it, even as 1, makes wsgi.multiprocess true, as
    /// with mod_wsgi [default: 1].
    #[arg(long, value_name = "NUMBER", help_heading = "Capacity")]
    pub processes: Option<usize>,

    /// The number of Python threads per process that run requests.
    #[arg(
        long,
        default_value_t = 5,
        value_name = "NUMBER",
        help_heading = "Capacity"
    )]
    pub threads: usize,

    /// How many requests may wait for a free Python thread; one more waits up to
    /// --connect-timeout for room, then is answered with a 503.
    #[arg(
        long,
        default_value_t = 100,
        value_name = "NUMBER",
        help_heading = "Capacity"
    )]
    pub daemon_backlog: usize,

    /// The most connections a process serves at once; more wait in the server backlog.
    #[arg(
        long,
        default_value_t = 1024,
        value_name = "NUMBER",
        help_heading = "Capacity"
    )]
    pub max_clients: usize,

    /// The largest request body accepted, in bytes; a larger one gets a 413 and never reaches
    /// the application. 0 means no limit.
    #[arg(
        long,
        default_value_t = 10_485_760,
        value_name = "NUMBER",
        help_heading = "Limits and timeouts"
    )]
    pub limit_request_body: u64,

    /// The longest request line (method, target and version) accepted, in bytes, as Apache's
    /// LimitRequestLine; a longer one gets a 414.
    #[arg(
        long,
        default_value_t = 8190,
        value_name = "BYTES",
        help_heading = "Limits and timeouts"
    )]
    pub limit_request_line: usize,

    /// The longest request header field (name, colon and value) accepted, in bytes, as Apache's
    /// LimitRequestFieldSize; a longer one gets a 431.
    #[arg(
        long,
        default_value_t = 8190,
        value_name = "BYTES",
        help_heading = "Limits and timeouts"
    )]
    pub limit_request_field_size: usize,

    /// The most request header fields accepted, as Apache's LimitRequestFields; more get a 431.
    #[arg(
        long,
        default_value_t = 100,
        value_name = "NUMBER",
        help_heading = "Limits and timeouts"
    )]
    pub limit_request_fields: usize,

    /// Seconds a request may wait for a free Python thread; after that it gets a 504 and the
    /// application never sees it.
    #[arg(
        long,
        default_value_t = 45,
        value_name = "SECONDS",
        help_heading = "Limits and timeouts"
    )]
    pub queue_timeout: u64,

    /// Seconds an idle connection is kept open for another request; 0 turns keep-alive off.
    #[arg(
        long,
        default_value_t = 2,
        value_name = "SECONDS",
        help_heading = "Limits and timeouts"
    )]
    pub keep_alive_timeout: u64,

    /// Seconds a client may take to send a complete request line and headers, extended by a
    /// second for every --header-min-rate bytes it sends, up to --header-max-timeout. A client
    /// cut after sending part of a head gets a 408.
    #[arg(
        long,
        default_value_t = 15,
        value_name = "SECONDS",
        help_heading = "Limits and timeouts"
    )]
    pub header_timeout: u64,

    /// The most seconds a request line and headers may take, however fast they arrive.
    #[arg(
        long,
        default_value_t = 30,
        value_name = "SECONDS",
        help_heading = "Limits and timeouts"
    )]
    pub header_max_timeout: u64,

    /// Bytes of request line and headers that earn one more second of --header-timeout; 0
    /// earns none.
    #[arg(
        long,
        default_value_t = 500,
        value_name = "BYTES",
        help_heading = "Limits and timeouts"
    )]
    pub header_min_rate: u64,

    /// Seconds a client may stop reading a response before its connection is closed (which
    /// frees the Python thread producing the response).
    #[arg(
        long,
        default_value_t = 60,
        value_name = "SECONDS",
        help_heading = "Limits and timeouts"
    )]
    pub socket_timeout: u64,

    /// Seconds a read of the request body may wait for more bytes from the client; also the
    /// time the body as a whole has, extended by a second for every --body-min-rate bytes, up
    /// to --body-max-timeout. Past either, the read fails and the request gets a 408.
    #[arg(
        long,
        default_value_t = 15,
        value_name = "SECONDS",
        help_heading = "Limits and timeouts"
    )]
    pub body_timeout: u64,

    /// The most seconds a request body may take, however fast it arrives; 0 means no maximum.
    #[arg(
        long,
        default_value_t = 0,
        value_name = "SECONDS",
        help_heading = "Limits and timeouts"
    )]
    pub body_max_timeout: u64,

    /// Bytes of request body that earn one more second of --body-timeout; 0 turns the body's
    /// overall clock off (each read still waits at most --body-timeout).
    #[arg(
        long,
        default_value_t = 500,
        value_name = "BYTES",
        help_heading = "Limits and timeouts"
    )]
    pub body_min_rate: u64,

    /// Recycle a worker process after it has handled this many requests; 0 never does. The
    /// replacement is started first, so no request is lost.
    #[arg(
        long,
        default_value_t = 0,
        value_name = "NUMBER",
        help_heading = "Process lifecycle"
    )]
    pub maximum_requests: u64,

    /// Add up to this many requests, at random per worker, to --maximum-requests, so workers
    /// started together are not recycled together.
    #[arg(
        long,
        default_value_t = 0,
        value_name = "NUMBER",
        help_heading = "Process lifecycle"
    )]
    pub maximum_requests_jitter: u64,

    /// Recycle a worker process after it has run this long; 0 never does.
    #[arg(
        long,
        default_value_t = 0,
        value_name = "SECONDS",
        help_heading = "Process lifecycle"
    )]
    pub restart_interval: u64,

    /// Recycle a worker process that has had no request for this long; 0 never does. A request
    /// counts until its response body has been sent, so a long stream is never cut by this.
    #[arg(
        long,
        default_value_t = 0,
        value_name = "SECONDS",
        help_heading = "Process lifecycle"
    )]
    pub inactivity_timeout: u64,

    /// A request still running after this long gets a 504 (or, if its response has started,
    /// has its stream cut), the Python stack of its thread is logged, and its worker process is
    /// replaced; 0 turns this off.
    #[arg(
        long,
        default_value_t = 60,
        value_name = "SECONDS",
        help_heading = "Process lifecycle"
    )]
    pub request_timeout: u64,

    /// A worker process that has not loaded its application this long after it started is
    /// killed and started again.
    #[arg(
        long,
        default_value_t = 15,
        value_name = "SECONDS",
        help_heading = "Process lifecycle"
    )]
    pub startup_timeout: u64,

    /// How long a stopping or recycled worker may take to finish the requests it has.
    #[arg(
        long,
        default_value_t = 15,
        value_name = "SECONDS",
        help_heading = "Process lifecycle"
    )]
    pub graceful_timeout: u64,

    /// How long after the graceful period a worker that has not exited is killed.
    #[arg(
        long,
        default_value_t = 5,
        value_name = "SECONDS",
        help_heading = "Process lifecycle"
    )]
    pub shutdown_timeout: u64,

    /// A worker process whose Python lock (the GIL) cannot be taken for this long is replaced;
    /// 0 turns this off.
    #[arg(
        long,
        default_value_t = 60,
        value_name = "SECONDS",
        help_heading = "Process lifecycle"
    )]
    pub deadlock_timeout: u64,

    /// Do not restart the workers when the WSGI script file (or .ini file) changes.
    #[arg(long, help_heading = "Process lifecycle")]
    pub disable_reloading: bool,

    /// Run a Python script as a side service: a process of its own, supervised beside the
    /// workers, that runs the script as its main program (`__name__ == "__main__"`) and serves
    /// no requests, such as a queue consumer or a notification subscriber. It is started
    /// again if it dies (waiting longer each time it dies soon after starting), stopped with
    /// the server (SIGTERM, which raises SystemExit in the script, then SIGKILL after
    /// --shutdown-timeout), and keeps running after the script returns if the script left
    /// threads behind, until the server stops. It runs the application's Python
    /// (--python-home, --python-path, --working-directory). Repeat for several services, each
    /// with its own NAME (mod_wsgi-express's option) [default: none].
    #[arg(
        long,
        num_args = 2,
        value_names = ["NAME", "SCRIPT-PATH"],
        action = clap::ArgAction::Append,
        help_heading = "Side services"
    )]
    pub service_script: Vec<String>,

    /// The user the service NAME runs as when oxwsgi starts as root (ignored otherwise, as
    /// with mod_wsgi-express) [default: the user oxwsgi starts as].
    #[arg(
        long,
        num_args = 2,
        value_names = ["NAME", "USER"],
        action = clap::ArgAction::Append,
        help_heading = "Side services"
    )]
    pub service_user: Vec<String>,

    /// The group the service NAME runs as when oxwsgi starts as root [default: the primary
    /// group of its --service-user].
    #[arg(
        long,
        num_args = 2,
        value_names = ["NAME", "GROUP"],
        action = clap::ArgAction::Append,
        help_heading = "Side services"
    )]
    pub service_group: Vec<String>,

    /// The file the service NAME's output (print, logging, tracebacks) goes to; a bare name
    /// is in the log directory [default: the error log].
    #[arg(
        long,
        num_args = 2,
        value_names = ["NAME", "FILE-NAME"],
        action = clap::ArgAction::Append,
        help_heading = "Side services"
    )]
    pub service_log_file: Vec<String>,

    /// Write the server root (configuration, control script, systemd units) and stop there,
    /// without starting the server: the same as `oxwsgi setup-server`.
    #[arg(long, help_heading = "Server setup")]
    pub setup_only: bool,

    /// A shell script sourced by /bin/sh (`. FILE-PATH`) before the server starts, to set
    /// environment variables for it and the application. start-server sources it before
    /// anything else is resolved, so what it exports also counts for --passenv and for ${VAR} in
    /// --include-file and --config files; the script stopping the shell (exit, a syntax error)
    /// stops the start. With setup-server or --setup-only it is written into SERVER_ROOT/envvars
    /// as `. FILE-PATH`, for the control script to source [default: none; SERVER_ROOT/envvars,
    /// empty, with a setup].
    #[arg(long, value_name = "FILE-PATH", help_heading = "Server setup")]
    pub envvars_script: Option<PathBuf>,

    /// Run the configuration setup-server saved (SERVER_ROOT/oxwsgi.json), as it was resolved
    /// then, instead of reading options: what the control script and the systemd unit run. No
    /// other option goes with it; run setup-server again to change it.
    #[arg(long, value_name = "FILE-PATH", help_heading = "Server setup")]
    pub from_setup: Option<PathBuf>,

    /// The file the supervisor writes its process id to [default: SERVER_ROOT/oxwsgi.pid].
    #[arg(long, value_name = "FILE-PATH", help_heading = "Process lifecycle")]
    pub pid_file: Option<PathBuf>,

    /// The locale the worker processes run with (LANG and LC_ALL) [default: the current
    /// locale, or C.UTF-8 when that is C or POSIX].
    #[arg(long, value_name = "NAME", help_heading = "Python")]
    pub locale: Option<String>,

    /// The directory for the server's run-time files and logs [default:
    /// $TMPDIR/oxwsgi-HOST:PORT:UID].
    #[arg(long, value_name = "DIRECTORY-PATH", help_heading = "Logging")]
    pub server_root: Option<PathBuf>,

    /// The least severe messages written to the error log.
    #[arg(
        long,
        default_value = "warn",
        value_name = "NAME",
        value_parser = crate::LogLevel::NAMES,
        help_heading = "Logging"
    )]
    pub log_level: String,

    /// Write the error log to the terminal (standard error) and the access log to standard
    /// output, instead of files in the server root.
    #[arg(long, help_heading = "Logging")]
    pub log_to_terminal: bool,

    /// The directory for the log files [default: the server root].
    #[arg(long, value_name = "DIRECTORY-PATH", help_heading = "Logging")]
    pub log_directory: Option<PathBuf>,

    /// The file name of the error log in the log directory.
    #[arg(
        long,
        default_value = "error_log",
        value_name = "FILE-NAME",
        help_heading = "Logging"
    )]
    pub error_log_name: String,

    /// Write an access log: one line per request, in --access-log-format, to the file
    /// --access-log-name in the log directory (standard output with --log-to-terminal).
    #[arg(long, help_heading = "Logging")]
    pub access_log: bool,

    /// The access log format: "common", "combined", "json" (one JSON object a line: the
    /// combined format's fields, the request id, the duration in microseconds, the process
    /// group and the worker's pid), or an Apache LogFormat string using %h %l %u %t %r %>s %b
    /// %{NAME}i %{NAME}o %D %T %m %U %q %H %L ...
    #[arg(
        long,
        default_value = "common",
        value_name = "FORMAT",
        help_heading = "Logging"
    )]
    pub access_log_format: String,

    /// The file name of the access log in the log directory.
    #[arg(
        long,
        default_value = "access_log",
        value_name = "FILE-NAME",
        help_heading = "Logging"
    )]
    pub access_log_name: String,

    /// The format of the error log's lines, as Apache's ErrorLogFormat: %t (%{u}t with
    /// microseconds, %{cu}t compact ISO 8601, %{%strftime}t), %l level, %P pid, %T thread id,
    /// %m module, %M message, %a client, %L request id, %F source file, %% and Apache's field
    /// rules and modifiers. An item oxwsgi cannot fill is refused at start [default: Apache's
    /// line, "[%{u}t] [%m:%l] [pid %P:tid %T] [request\ %L] %M"].
    #[arg(long, value_name = "FORMAT", help_heading = "Logging")]
    pub error_log_format: Option<String>,

    /// Also write the start-up messages (the banner and everything logged until the server
    /// serves, or why it could not start) to --startup-log-name in the log directory. With
    /// --log-to-terminal they are on standard error already, and no file is written.
    #[arg(long, help_heading = "Logging")]
    pub startup_log: bool,

    /// The file name of the start-up log in the log directory.
    #[arg(
        long,
        default_value = "startup_log",
        value_name = "FILE-NAME",
        help_heading = "Logging"
    )]
    pub startup_log_name: String,

    /// Rotate the error and access logs: once a file is larger than --max-log-size (the
    /// supervisor looks once a second, so a file ends a little past it), oxwsgi renames FILE to FILE.1 (FILE.1 to FILE.2 and so on, up to --max-log-files) and every
    /// process goes on in a new FILE; no line is lost. (With or without it, SIGUSR2 to the
    /// supervisor reopens every log file, for logrotate.) No effect with --log-to-terminal.
    #[arg(long, help_heading = "Logging")]
    pub rotate_logs: bool,

    /// The size in megabytes a log file may reach before it is rotated (with --rotate-logs).
    #[arg(long, default_value_t = 5, value_name = "MB", help_heading = "Logging")]
    pub max_log_size: u64,

    /// How many rotated files of each log are kept (FILE.1 the newest … FILE.N); an older one
    /// is removed (with --rotate-logs). Not in mod_wsgi-express, whose rotatelogs keeps every
    /// file.
    #[arg(
        long,
        default_value_t = 10,
        value_name = "NUMBER",
        help_heading = "Logging"
    )]
    pub max_log_files: u32,

    /// The rest of mod_wsgi-express's options (see "mod_wsgi-express compatibility").
    #[command(flatten)]
    pub express: crate::express_compat::ExpressCompatArgs,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_are_those_of_mod_wsgi_express() {
        let cli = Cli::parse_from(["oxwsgi", "start-server", "app.wsgi"]);
        let Command::StartServer(args) = cli.command else {
            panic!("not start-server")
        };
        assert_eq!(args.port, 8000);
        assert_eq!(args.threads, 5);
        assert_eq!(args.queue_timeout, 45);
        assert_eq!(args.keep_alive_timeout, 2);
        assert_eq!(args.limit_request_body, 10 * 1024 * 1024);
        assert_eq!(args.callable_object, "application");
        assert_eq!(args.mount_point, "/");
        assert_eq!(args.log_level, "warn");
        assert_eq!(args.max_log_size, 5);
        assert_eq!(args.startup_log_name, "startup_log");
        assert!(!args.rotate_logs && !args.startup_log);
        assert_eq!(args.application_type, ApplicationType::Script);
    }

    #[test]
    fn python_path_repeats() {
        let cli = Cli::parse_from([
            "oxwsgi",
            "start-server",
            "--python-path",
            "/a",
            "--python-path",
            "/b",
        ]);
        let Command::StartServer(args) = cli.command else {
            panic!("not start-server")
        };
        assert_eq!(args.python_path, [PathBuf::from("/a"), PathBuf::from("/b")]);
    }
}
