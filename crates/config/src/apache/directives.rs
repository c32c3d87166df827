//! Every directive and section oxwsgi knows, where httpd allows it, and what oxwsgi does with
//! it. `docs/apache.md` is this table in prose; keep the two together.
//!
//! * [`Disposition::Honoured`]: oxwsgi gives it httpd's (and mod_wsgi's) meaning.
//! * [`Disposition::Ignored`]: it only tunes httpd itself (processes, modules, mutexes, …) or
//!   has no meaning for oxwsgi; accepted, and reported at `info` with the reason.
//! * [`Disposition::Unsupported`]: it changes what a request gets, and oxwsgi does not do it;
//!   the start stops naming its file and line, unless `--ignore-unsupported` makes it a
//!   warning.
//!
//! A name not in the table is an error, as in httpd ("Invalid command").

/// Where a directive may appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contexts(u8);

impl Contexts {
    /// The main configuration, outside any section.
    pub const SERVER: Contexts = Contexts(1);
    /// Inside `<VirtualHost>`.
    pub const VHOST: Contexts = Contexts(2);
    /// Inside `<Directory>`, `<Location>`, `<Files>` and their `Match` forms.
    pub const DIRECTORY: Contexts = Contexts(4);
    /// The main configuration and virtual hosts.
    pub const SERVER_VHOST: Contexts = Contexts(1 | 2);
    /// Everywhere.
    pub const ANY: Contexts = Contexts(1 | 2 | 4);

    /// Whether `context` is one of these.
    pub fn allows(self, context: Contexts) -> bool {
        self.0 & context.0 != 0
    }
}

/// What oxwsgi does with a directive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Given httpd's meaning.
    Honoured,
    /// Accepted without effect, for the reason given.
    Ignored(&'static str),
    /// Refused (or, with `--ignore-unsupported`, skipped with a warning), for the reason given.
    Unsupported(&'static str),
}

/// One directive or section.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// The name as httpd's documentation spells it.
    pub name: &'static str,
    /// Whether it opens a section (`<Name>`).
    pub section: bool,
    /// The module that defines it, as `<IfModule>` names it.
    pub module: &'static str,
    /// Where it may appear.
    pub contexts: Contexts,
    /// What oxwsgi does with it.
    pub disposition: Disposition,
}

use Contexts as C;
use Disposition::{Honoured as H, Ignored as I, Unsupported as U};

const TUNES_HTTPD: &str = "it tunes httpd's own processes; oxwsgi's are set by WSGIDaemonProcess";
const MODULES: &str = "oxwsgi has the modules it implements built in";
const NO_REWRITE: &str = "oxwsgi has no mod_rewrite; express the rule with Alias, Redirect or \
                          in the application";
const NO_PROXY: &str = "oxwsgi is not a proxy; put one in front of it (nginx, HAProxy)";
const RUSTLS_CIPHERS: &str = "rustls offers only modern cipher suites, in its own order of \
                              strength, and keeps its own session cache and tickets";
const NO_CGI: &str = "oxwsgi runs WSGI applications only, not CGI scripts or other handlers";
const LISTING_LOOK: &str = "oxwsgi's directory listings have one fixed look";
const NO_EFFECT: &str = "it has no effect on how oxwsgi serves requests";

const fn d(
    name: &'static str,
    module: &'static str,
    contexts: Contexts,
    disposition: Disposition,
) -> Spec {
    Spec {
        name,
        section: false,
        module,
        contexts,
        disposition,
    }
}

const fn s(
    name: &'static str,
    module: &'static str,
    contexts: Contexts,
    disposition: Disposition,
) -> Spec {
    Spec {
        name,
        section: true,
        module,
        contexts,
        disposition,
    }
}

/// The table.
pub const SPECS: &[Spec] = &[
    // Sections.
    s("VirtualHost", "core", C::SERVER, H),
    s("Directory", "core", C::SERVER_VHOST, H),
    s("DirectoryMatch", "core", C::SERVER_VHOST, H),
    s("Location", "core", C::SERVER_VHOST, H),
    s("LocationMatch", "core", C::SERVER_VHOST, H),
    s("Files", "core", C::ANY, H),
    s("FilesMatch", "core", C::ANY, H),
    s("Limit", "core", C::ANY, H),
    s("LimitExcept", "core", C::ANY, H),
    s("RequireAll", "authz_core", C::DIRECTORY, H),
    s("RequireAny", "authz_core", C::DIRECTORY, H),
    s("RequireNone", "authz_core", C::DIRECTORY, H),
    s(
        "If",
        "core",
        C::ANY,
        U("oxwsgi does not evaluate httpd's run-time expressions"),
    ),
    s(
        "ElseIf",
        "core",
        C::ANY,
        U("oxwsgi does not evaluate httpd's run-time expressions"),
    ),
    s(
        "Else",
        "core",
        C::ANY,
        U("oxwsgi does not evaluate httpd's run-time expressions"),
    ),
    s("Proxy", "proxy", C::SERVER_VHOST, U(NO_PROXY)),
    s("ProxyMatch", "proxy", C::SERVER_VHOST, U(NO_PROXY)),
    s(
        "Macro",
        "macro",
        C::ANY,
        U("mod_macro is not supported; write the sections out"),
    ),
    s(
        "WSGIInterpreterOptions",
        "wsgi",
        C::SERVER,
        I("oxwsgi runs one interpreter per process"),
    ),
    // mod_wsgi.
    d("WSGIScriptAlias", "wsgi", C::SERVER_VHOST, H),
    d("WSGIScriptAliasMatch", "wsgi", C::SERVER_VHOST, H),
    d("WSGIDaemonProcess", "wsgi", C::SERVER_VHOST, H),
    d("WSGIProcessGroup", "wsgi", C::ANY, H),
    d("WSGIApplicationGroup", "wsgi", C::ANY, H),
    d("WSGICallableObject", "wsgi", C::ANY, H),
    d("WSGIPythonHome", "wsgi", C::SERVER, H),
    d("WSGIPythonPath", "wsgi", C::SERVER, H),
    d("WSGIPassAuthorization", "wsgi", C::ANY, H),
    d("WSGIChunkedRequest", "wsgi", C::ANY, H),
    d("WSGIScriptReloading", "wsgi", C::ANY, H),
    d("WSGIImportScript", "wsgi", C::SERVER_VHOST, H),
    d(
        "WSGIRestrictEmbedded",
        "wsgi",
        C::SERVER,
        I("oxwsgi has no embedded mode: every application runs in a worker process"),
    ),
    d(
        "WSGILazyInitialization",
        "wsgi",
        C::SERVER,
        I(
            "removed in mod_wsgi 6.0; Python starts only in the worker processes, after they switch user",
        ),
    ),
    d("WSGIErrorOverride", "wsgi", C::ANY, H),
    d(
        "WSGISocketPrefix",
        "wsgi",
        C::SERVER,
        I("oxwsgi's processes talk over inherited sockets, not files under a prefix"),
    ),
    d("WSGIAcceptMutex", "wsgi", C::SERVER, I(TUNES_HTTPD)),
    d("WSGIPythonOptimize", "wsgi", C::SERVER, H),
    d("WSGIPythonWarnings", "wsgi", C::SERVER, H),
    d("WSGIPythonHashSeed", "wsgi", C::SERVER, H),
    d("WSGIDontWriteBytecode", "wsgi", C::SERVER, H),
    d(
        "WSGIPythonEggs",
        "wsgi",
        C::SERVER,
        I("Python eggs are no longer unpacked to a cache"),
    ),
    d(
        "WSGIRestrictStdin",
        "wsgi",
        C::SERVER,
        I("oxwsgi's workers never read standard input"),
    ),
    d(
        "WSGIRestrictStdout",
        "wsgi",
        C::SERVER,
        I("oxwsgi sends standard output to the error log"),
    ),
    d(
        "WSGIRestrictSignal",
        "wsgi",
        C::SERVER,
        I("oxwsgi's workers own their signals"),
    ),
    d(
        "WSGIVerboseDebugging",
        "wsgi",
        C::SERVER,
        I("without effect in mod_wsgi 6.0 too"),
    ),
    d(
        "WSGICaseSensitivity",
        "wsgi",
        C::ANY,
        I("file names are case-sensitive on the systems oxwsgi runs on"),
    ),
    d("WSGIMapHEADToGET", "wsgi", C::ANY, H),
    d("WSGIEnableSendfile", "wsgi", C::ANY, H),
    d("WSGIDestroyInterpreter", "wsgi", C::SERVER, I(NO_EFFECT)),
    d("WSGITrustedProxyHeaders", "wsgi", C::ANY, H),
    d("WSGITrustedProxies", "wsgi", C::ANY, H),
    // mod_wsgi's authentication scripts (read with the section's other authentication
    // directives, apache/access.rs).
    d("WSGIAccessScript", "wsgi", C::DIRECTORY, H),
    d("WSGIAuthUserScript", "wsgi", C::DIRECTORY, H),
    d("WSGIAuthGroupScript", "wsgi", C::DIRECTORY, H),
    d("WSGIGroupAuthoritative", "wsgi", C::DIRECTORY, H),
    d(
        "WSGIRestrictProcess",
        "wsgi",
        C::ANY,
        U("restricting which process groups may be chosen is not supported yet"),
    ),
    d(
        "WSGIPassApacheRequest",
        "wsgi",
        C::ANY,
        I("there is no Apache request object to pass"),
    ),
    d("WSGIIgnoreActivity", "wsgi", C::ANY, H),
    d(
        "WSGISocketRotation",
        "wsgi",
        C::SERVER,
        I("oxwsgi's processes talk over inherited sockets, not files under a prefix"),
    ),
    d("WSGIServerMetrics", "wsgi", C::SERVER, H),
    // oxwsgi's own: the metrics listener (/metrics, /ready, /live), as --metrics-port.
    d("OxwsgiMetricsListen", "oxwsgi", C::SERVER, H),
    d("WSGISwitchInterval", "wsgi", C::SERVER, H),
    d(
        "WSGIPerInterpreterGIL",
        "wsgi",
        C::SERVER,
        I("oxwsgi runs one interpreter per process"),
    ),
    d(
        "WSGIFreeThreading",
        "wsgi",
        C::SERVER,
        I("oxwsgi runs the Python it finds; free threading is the build's choice"),
    ),
    d(
        "WSGITelemetryService",
        "wsgi",
        C::SERVER,
        I("oxwsgi's metrics are its own"),
    ),
    d("WSGISlowRequests", "wsgi", C::SERVER, H),
    d(
        "WSGITelemetryOptions",
        "wsgi",
        C::SERVER,
        I("oxwsgi's metrics are its own"),
    ),
    d(
        "WSGINewRelicConfigFile",
        "wsgi",
        C::SERVER,
        I("removed in mod_wsgi 6.0; configure the agent in the application"),
    ),
    d(
        "WSGINewRelicEnvironment",
        "wsgi",
        C::SERVER,
        I("removed in mod_wsgi 6.0; configure the agent in the application"),
    ),
    d(
        "WSGIDispatchScript",
        "wsgi",
        C::ANY,
        U("dispatch scripts are not supported; use WSGIProcessGroup and WSGIApplicationGroup"),
    ),
    d("WSGIHandlerScript", "wsgi", C::ANY, U(NO_CGI)),
    // httpd's core.
    d("Listen", "core", C::SERVER, H),
    d("ServerName", "core", C::SERVER_VHOST, H),
    d("ServerAlias", "core", C::VHOST, H),
    d("ServerRoot", "core", C::SERVER, H),
    d(
        "ServerAdmin",
        "core",
        C::SERVER_VHOST,
        I("oxwsgi's error pages do not show an address"),
    ),
    d(
        "ServerSignature",
        "core",
        C::ANY,
        I("oxwsgi's error pages carry no signature"),
    ),
    d(
        "ServerTokens",
        "core",
        C::SERVER,
        I("oxwsgi's Server header is always `oxwsgi`"),
    ),
    d("ServerLimit", "mpm", C::SERVER, I(TUNES_HTTPD)),
    d("DocumentRoot", "core", C::SERVER_VHOST, H),
    d("ErrorLog", "core", C::SERVER_VHOST, H),
    d(
        "ErrorLogFormat",
        "core",
        C::SERVER_VHOST,
        I("oxwsgi's error log has one format"),
    ),
    d("LogLevel", "core", C::ANY, H),
    d("LimitRequestBody", "core", C::ANY, H),
    d("LimitRequestLine", "core", C::SERVER_VHOST, H),
    d("LimitRequestFieldSize", "core", C::SERVER_VHOST, H),
    d("LimitRequestFields", "core", C::SERVER_VHOST, H),
    d("LimitXMLRequestBody", "core", C::ANY, I(NO_EFFECT)),
    d("Timeout", "core", C::SERVER_VHOST, H),
    d("KeepAlive", "core", C::SERVER_VHOST, H),
    d("KeepAliveTimeout", "core", C::SERVER_VHOST, H),
    d("MaxKeepAliveRequests", "core", C::SERVER_VHOST, H),
    d("User", "unixd", C::SERVER, H),
    d("Group", "unixd", C::SERVER, H),
    d("Options", "core", C::ANY, H),
    d("AllowOverride", "core", C::DIRECTORY, H),
    d(
        "AllowOverrideList",
        "core",
        C::DIRECTORY,
        I("oxwsgi never reads .htaccess files"),
    ),
    d(
        "AccessFileName",
        "core",
        C::SERVER_VHOST,
        I("oxwsgi never reads .htaccess files"),
    ),
    d("SetHandler", "core", C::ANY, H),
    d("AddDefaultCharset", "core", C::ANY, H),
    d(
        "DefaultType",
        "core",
        C::ANY,
        I("removed in httpd 2.4; without effect there too"),
    ),
    d("EnableSendfile", "core", C::ANY, H),
    d("EnableMMAP", "core", C::ANY, I(NO_EFFECT)),
    d(
        "FileETag",
        "core",
        C::ANY,
        I("oxwsgi's ETags are made from size and modification time"),
    ),
    d(
        "HostnameLookups",
        "core",
        C::ANY,
        I("client names are looked up only for access rules that name hosts, as in httpd"),
    ),
    d(
        "UseCanonicalName",
        "core",
        C::ANY,
        I("SERVER_NAME comes from the Host header, as with httpd's default"),
    ),
    d("UseCanonicalPhysicalPort", "core", C::ANY, I(NO_EFFECT)),
    d("TraceEnable", "core", C::SERVER_VHOST, H),
    d("Protocols", "core", C::SERVER_VHOST, H),
    d(
        "ProtocolsHonorOrder",
        "core",
        C::SERVER_VHOST,
        I("oxwsgi prefers h2 to http/1.1 when a client offers both"),
    ),
    d(
        "HttpProtocolOptions",
        "core",
        C::SERVER_VHOST,
        I("oxwsgi is always strict about HTTP (httpd's default)"),
    ),
    d("ErrorDocument", "core", C::ANY, H),
    d("PidFile", "mpm", C::SERVER, H),
    d("Mutex", "core", C::SERVER, I(TUNES_HTTPD)),
    d("IncludeOptional", "core", C::ANY, H),
    d("Include", "core", C::ANY, H),
    d("Define", "core", C::ANY, H),
    d("UnDefine", "core", C::ANY, H),
    d("LoadModule", "so", C::SERVER, I(MODULES)),
    d("LoadFile", "so", C::SERVER, I(MODULES)),
    d("StartServers", "mpm", C::SERVER, I(TUNES_HTTPD)),
    d("MinSpareServers", "mpm", C::SERVER, I(TUNES_HTTPD)),
    d("MaxSpareServers", "mpm", C::SERVER, I(TUNES_HTTPD)),
    d("MinSpareThreads", "mpm", C::SERVER, I(TUNES_HTTPD)),
    d("MaxSpareThreads", "mpm", C::SERVER, I(TUNES_HTTPD)),
    d("ThreadLimit", "mpm", C::SERVER, I(TUNES_HTTPD)),
    d("ThreadsPerChild", "mpm", C::SERVER, I(TUNES_HTTPD)),
    d("MaxRequestWorkers", "mpm", C::SERVER, I(TUNES_HTTPD)),
    d("MaxClients", "mpm", C::SERVER, I(TUNES_HTTPD)),
    d("MaxConnectionsPerChild", "mpm", C::SERVER, I(TUNES_HTTPD)),
    d("MaxRequestsPerChild", "mpm", C::SERVER, I(TUNES_HTTPD)),
    d("AsyncRequestWorkerFactor", "mpm", C::SERVER, I(TUNES_HTTPD)),
    d("ListenBacklog", "mpm", C::SERVER, H),
    d("GracefulShutdownTimeout", "mpm", C::SERVER, H),
    d("ScoreBoardFile", "mpm", C::SERVER, I(TUNES_HTTPD)),
    d("ExtendedStatus", "status", C::SERVER, I(NO_EFFECT)),
    d("TypesConfig", "mime", C::SERVER, H),
    d("AddType", "mime", C::ANY, H),
    d(
        "AddCharset",
        "mime",
        C::ANY,
        I("oxwsgi names a charset only for text types, as utf-8"),
    ),
    d("AddEncoding", "mime", C::ANY, I(NO_EFFECT)),
    d(
        "AddLanguage",
        "mime",
        C::ANY,
        I("oxwsgi does no content negotiation"),
    ),
    d("AddHandler", "mime", C::ANY, H),
    d("RemoveHandler", "mime", C::ANY, H),
    d(
        "AddOutputFilter",
        "mime",
        C::ANY,
        I("oxwsgi has no output filters (server-side includes)"),
    ),
    d(
        "AddOutputFilterByType",
        "filter",
        C::ANY,
        I("oxwsgi compresses text responses with --compress-responses instead"),
    ),
    d(
        "DefaultLanguage",
        "mime",
        C::ANY,
        I("oxwsgi does no content negotiation"),
    ),
    d(
        "LanguagePriority",
        "negotiation",
        C::ANY,
        I("oxwsgi does no content negotiation"),
    ),
    d(
        "ForceLanguagePriority",
        "negotiation",
        C::ANY,
        I("oxwsgi does no content negotiation"),
    ),
    d("DirectoryIndex", "dir", C::ANY, H),
    d(
        "DirectorySlash",
        "dir",
        C::ANY,
        I("oxwsgi always redirects a directory to its URL with a slash"),
    ),
    d("IndexOptions", "autoindex", C::ANY, I(LISTING_LOOK)),
    d("IndexIgnore", "autoindex", C::ANY, I(LISTING_LOOK)),
    d("IndexOrderDefault", "autoindex", C::ANY, I(LISTING_LOOK)),
    d("IndexStyleSheet", "autoindex", C::ANY, I(LISTING_LOOK)),
    d("HeaderName", "autoindex", C::ANY, I(LISTING_LOOK)),
    d("ReadmeName", "autoindex", C::ANY, I(LISTING_LOOK)),
    d("AddIcon", "autoindex", C::ANY, I(LISTING_LOOK)),
    d("AddIconByType", "autoindex", C::ANY, I(LISTING_LOOK)),
    d("AddIconByEncoding", "autoindex", C::ANY, I(LISTING_LOOK)),
    d("AddAlt", "autoindex", C::ANY, I(LISTING_LOOK)),
    d("AddDescription", "autoindex", C::ANY, I(LISTING_LOOK)),
    d("DefaultIcon", "autoindex", C::ANY, I(LISTING_LOOK)),
    d("Alias", "alias", C::SERVER_VHOST, H),
    d("AliasMatch", "alias", C::SERVER_VHOST, H),
    d("Redirect", "alias", C::ANY, H),
    d("RedirectMatch", "alias", C::SERVER_VHOST, H),
    d("RedirectPermanent", "alias", C::ANY, H),
    d("RedirectTemp", "alias", C::ANY, H),
    d("ScriptAlias", "alias", C::SERVER_VHOST, U(NO_CGI)),
    d("ScriptAliasMatch", "alias", C::SERVER_VHOST, U(NO_CGI)),
    d("Require", "authz_core", C::DIRECTORY, H),
    d("Order", "access_compat", C::DIRECTORY, H),
    d("Allow", "access_compat", C::DIRECTORY, H),
    d("Deny", "access_compat", C::DIRECTORY, H),
    d("Satisfy", "access_compat", C::DIRECTORY, H),
    d("SetEnv", "env", C::ANY, H),
    d("UnsetEnv", "env", C::ANY, H),
    d("PassEnv", "env", C::ANY, H),
    d(
        "BrowserMatch",
        "setenvif",
        C::ANY,
        I("workarounds for browsers of the 1990s; oxwsgi needs none"),
    ),
    d(
        "BrowserMatchNoCase",
        "setenvif",
        C::ANY,
        I("workarounds for browsers of the 1990s; oxwsgi needs none"),
    ),
    d(
        "SetEnvIf",
        "setenvif",
        C::ANY,
        U("conditional environment variables are not supported yet"),
    ),
    d(
        "SetEnvIfNoCase",
        "setenvif",
        C::ANY,
        U("conditional environment variables are not supported yet"),
    ),
    d(
        "SetEnvIfExpr",
        "setenvif",
        C::ANY,
        U("conditional environment variables are not supported yet"),
    ),
    d("LogFormat", "log_config", C::SERVER_VHOST, H),
    d("CustomLog", "log_config", C::SERVER_VHOST, H),
    d("TransferLog", "log_config", C::SERVER_VHOST, H),
    d("BufferedLogs", "log_config", C::SERVER, I(NO_EFFECT)),
    d("Header", "headers", C::ANY, H),
    d("RequestHeader", "headers", C::ANY, H),
    d("RequestReadTimeout", "reqtimeout", C::SERVER_VHOST, H),
    // What a site may use that oxwsgi does not do.
    d("RewriteEngine", "rewrite", C::ANY, U(NO_REWRITE)),
    d("RewriteRule", "rewrite", C::ANY, U(NO_REWRITE)),
    d("RewriteCond", "rewrite", C::ANY, U(NO_REWRITE)),
    d("RewriteBase", "rewrite", C::DIRECTORY, U(NO_REWRITE)),
    d("RewriteMap", "rewrite", C::SERVER_VHOST, U(NO_REWRITE)),
    d("RewriteOptions", "rewrite", C::ANY, U(NO_REWRITE)),
    d("ProxyPass", "proxy", C::ANY, U(NO_PROXY)),
    d("ProxyPassMatch", "proxy", C::ANY, U(NO_PROXY)),
    d("ProxyPassReverse", "proxy", C::ANY, U(NO_PROXY)),
    d("ProxyPreserveHost", "proxy", C::ANY, U(NO_PROXY)),
    d("ProxyRequests", "proxy", C::SERVER_VHOST, U(NO_PROXY)),
    d("ProxyTimeout", "proxy", C::SERVER_VHOST, U(NO_PROXY)),
    d("AuthType", "authn_core", C::DIRECTORY, H),
    d("AuthName", "authn_core", C::DIRECTORY, H),
    d("AuthUserFile", "authn_file", C::DIRECTORY, H),
    d("AuthGroupFile", "authz_groupfile", C::DIRECTORY, H),
    d("AuthBasicProvider", "auth_basic", C::DIRECTORY, H),
    d("AuthBasicAuthoritative", "auth_basic", C::DIRECTORY, H),
    d("AuthDigestProvider", "auth_digest", C::DIRECTORY, H),
    d("AuthDigestNonceLifetime", "auth_digest", C::DIRECTORY, H),
    d("AuthDigestQop", "auth_digest", C::DIRECTORY, H),
    d("AuthDigestDomain", "auth_digest", C::DIRECTORY, H),
    d("AuthDigestAlgorithm", "auth_digest", C::DIRECTORY, H),
    d(
        "AuthDigestShmemSize",
        "auth_digest",
        C::SERVER,
        I("oxwsgi's nonces need no shared memory: each carries its time and a signature"),
    ),
    d("SSLEngine", "ssl", C::SERVER_VHOST, H),
    d("SSLCertificateFile", "ssl", C::SERVER_VHOST, H),
    d("SSLCertificateKeyFile", "ssl", C::SERVER_VHOST, H),
    d("SSLCertificateChainFile", "ssl", C::SERVER_VHOST, H),
    d("SSLCACertificateFile", "ssl", C::SERVER_VHOST, H),
    d("SSLCACertificatePath", "ssl", C::SERVER_VHOST, H),
    d("SSLVerifyClient", "ssl", C::ANY, H),
    d("SSLVerifyDepth", "ssl", C::ANY, H),
    d("SSLProtocol", "ssl", C::SERVER_VHOST, H),
    d("SSLCipherSuite", "ssl", C::ANY, I(RUSTLS_CIPHERS)),
    d("SSLOptions", "ssl", C::ANY, H),
    d("SSLRequireSSL", "ssl", C::DIRECTORY, H),
    d(
        "SSLHonorCipherOrder",
        "ssl",
        C::SERVER_VHOST,
        I(RUSTLS_CIPHERS),
    ),
    d("SSLSessionCache", "ssl", C::SERVER, I(RUSTLS_CIPHERS)),
    d(
        "SSLSessionTickets",
        "ssl",
        C::SERVER_VHOST,
        I(RUSTLS_CIPHERS),
    ),
    d(
        "SSLCompression",
        "ssl",
        C::SERVER_VHOST,
        I("TLS compression is never used (CRIME)"),
    ),
    d("SSLUseStapling", "ssl", C::SERVER_VHOST, I(NO_EFFECT)),
    d("SSLRandomSeed", "ssl", C::SERVER, I(NO_EFFECT)),
    d("SSLPassPhraseDialog", "ssl", C::SERVER, I(NO_EFFECT)),
    d(
        "SSLSessionCacheTimeout",
        "ssl",
        C::SERVER_VHOST,
        I(NO_EFFECT),
    ),
    d("SSLStaplingCache", "ssl", C::SERVER, I(NO_EFFECT)),
    d(
        "ExpiresActive",
        "expires",
        C::ANY,
        U("mod_expires is not supported: let the application set Cache-Control"),
    ),
    d(
        "ExpiresDefault",
        "expires",
        C::ANY,
        U("mod_expires is not supported: let the application set Cache-Control"),
    ),
    d(
        "ExpiresByType",
        "expires",
        C::ANY,
        U("mod_expires is not supported: let the application set Cache-Control"),
    ),
    d("ScriptSock", "cgid", C::SERVER, I(NO_EFFECT)),
    d("Action", "actions", C::ANY, U(NO_CGI)),
];

/// The entry for a directive or section name (ignoring case).
pub fn spec(name: &str, section: bool) -> Option<&'static Spec> {
    SPECS
        .iter()
        .find(|spec| spec.section == section && spec.name.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod docs {
    use super::*;
    use crate::apache::RUNS;

    /// The table of docs/apache.md, as the code has it.
    fn table() -> String {
        let mut out = String::from(
            "| directive | module | where httpd allows it | oxwsgi |\n|---|---|---|---|\n",
        );
        for spec in SPECS {
            let name = if spec.section {
                format!("`<{}>`", spec.name)
            } else {
                format!("`{}`", spec.name)
            };
            let place = match spec.contexts {
                c if c == Contexts::ANY => "anywhere",
                c if c == Contexts::SERVER_VHOST => "server, virtual host",
                c if c == Contexts::SERVER => "server",
                c if c == Contexts::VHOST => "virtual host",
                c if c == Contexts::DIRECTORY => "directory",
                _ => "?",
            };
            let status = match spec.disposition {
                Disposition::Honoured if RUNS.contains(&spec.name) => "runs".to_owned(),
                Disposition::Honoured => {
                    "planned: check-config accepts it, start-server refuses it for now".to_owned()
                }
                Disposition::Ignored(why) => format!("accepted without effect: {why}"),
                Disposition::Unsupported(why) => format!("refused: {why}"),
            };
            out.push_str(&format!(
                "| {name} | {} | {place} | {status} |\n",
                spec.module
            ));
        }
        out
    }

    const BEGIN: &str = "<!-- directives: begin (generated; OXWSGI_BLESS=1 cargo test -p oxwsgi-config docs_apache_md) -->\n";
    const END: &str = "<!-- directives: end -->";

    #[test]
    fn docs_apache_md_lists_every_directive() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/apache.md");
        let text = std::fs::read_to_string(&path).expect("docs/apache.md");
        let start = text.find(BEGIN).expect("the begin marker") + BEGIN.len();
        let end = text.find(END).expect("the end marker");
        let expected = table();
        if std::env::var_os("OXWSGI_BLESS").is_some() {
            let updated = format!("{}{expected}{}", &text[..start], &text[end..]);
            std::fs::write(&path, updated).unwrap();
            return;
        }
        assert_eq!(
            &text[start..end],
            expected,
            "docs/apache.md is stale: run OXWSGI_BLESS=1 cargo test -p oxwsgi-config docs_apache_md"
        );
    }

    #[test]
    fn what_runs_is_honoured() {
        for name in RUNS {
            let spec = SPECS
                .iter()
                .find(|s| s.name == *name)
                .unwrap_or_else(|| panic!("{name}"));
            assert_eq!(spec.disposition, Disposition::Honoured, "{name}");
        }
    }
}
