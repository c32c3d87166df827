//! Building the WSGI `environ` dict (PEP 3333, with mod_wsgi's extra keys).
//!
//! Everything that is the same for every request of one application on one listener
//! (`wsgi.version`, `SCRIPT_NAME`, `SERVER_SOFTWARE`, the `mod_wsgi.*` identity keys, …) is put
//! once into a template dict at start-up; a request's environ starts as a copy of that template
//! (a single C-level dict copy) and only the request's own values are added. Keys are interned
//! Python strings, and the `HTTP_*` names of common headers are made once.
//!
//! Values are native strings decoded as latin-1, as PEP 3333 requires, so every byte the client
//! sent survives the round trip through `str.encode("latin-1")`.

use std::io::Write as _;
use std::net::SocketAddr;
use std::time::UNIX_EPOCH;

use http::HeaderName;
use http::header;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};

use oxwsgi_exchange::{AppRequest, ErrorRedirect, Proxied, UrlScheme};

/// Identity of the server, shared by every application's template.
#[derive(Debug, Clone)]
pub struct EnvironSettings {
    /// `SERVER_SOFTWARE`, such as `oxwsgi/0.1.0`.
    pub server_software: String,
    /// `SERVER_NAME` when the request carries no `Host` header.
    pub server_name: String,
    /// `mod_wsgi.process_group`.
    pub process_group: String,
    /// `mod_wsgi.application_group`.
    pub application_group: String,
    /// `wsgi.multithread`.
    pub multithread: bool,
    /// `wsgi.multiprocess`.
    pub multiprocess: bool,
    /// `wsgi.run_once`.
    pub run_once: bool,
    /// The listeners, indexed by [`AppRequest::listener`].
    pub listeners: Vec<ListenerIdentity>,
}

/// What the environ says about the socket a request came in on.
#[derive(Debug, Clone)]
pub struct ListenerIdentity {
    /// `mod_wsgi.listener_host`: the bound host as configured, `""` for all interfaces.
    pub host: String,
    /// `mod_wsgi.listener_port`, and `SERVER_PORT` when the `Host` header names no port.
    pub port: u16,
    /// `wsgi.url_scheme`: `http` or `https`.
    pub scheme: &'static str,
}

/// What the template of one mounted application needs to know about it.
#[derive(Debug, Clone)]
pub struct AppIdentity {
    /// `SCRIPT_NAME`: the mount point, `""` at the root; `None`: the part of each request's
    /// path its route matched (`WSGIScriptAliasMatch`).
    pub script_name: Option<String>,
    /// `SCRIPT_FILENAME`: the script or ini file, when there is one.
    pub script_filename: Option<String>,
    /// `mod_wsgi.callable_object`.
    pub callable: String,
    /// Variables from the configuration (`SetEnv`), set before the server's own keys, which
    /// win.
    pub environ: Vec<(String, String)>,
    /// Whether the `Authorization` header reaches the application as `HTTP_AUTHORIZATION`
    /// (mod_wsgi's `WSGIPassAuthorization`).
    pub pass_authorization: bool,
    /// `DOCUMENT_ROOT`: that of the virtual host it is mounted in.
    pub document_root: String,
    /// Whether a `HEAD` request's `REQUEST_METHOD` is `GET` (mod_wsgi's `WSGIMapHEADToGET`,
    /// decided for where the application is mounted).
    pub head_as_get: bool,
}

/// The mod_wsgi version whose environ oxwsgi reproduces; apps test `mod_wsgi.version` to find
/// out which features they may use.
const MOD_WSGI_COMPAT_VERSION: (u32, u32, u32) = (5, 0, 0);

/// Interned values and per-application templates: everything made once per process.
pub(crate) struct EnvironBuilder {
    /// `templates[app][listener]`.
    templates: Vec<Vec<Py<PyDict>>>,
    /// `HTTP_*` keys of the usual headers.
    header_keys: rustc_hash::FxHashMap<HeaderName, Py<PyString>>,
    /// The latin-1 `SERVER_NAME` and its port string used when there is no `Host` header.
    default_server_name: Py<PyString>,
    listener_ports: Vec<Py<PyString>>,
    /// Per application: whether `Authorization` reaches it.
    pass_authorization: Vec<bool>,
    /// Per application: whether its `SCRIPT_NAME` comes from each request.
    script_name_per_request: Vec<bool>,
    /// Per application: whether `HEAD` reaches it as `GET`.
    head_as_get: Vec<bool>,
}

impl EnvironBuilder {
    pub(crate) fn new(
        py: Python<'_>,
        settings: &EnvironSettings,
        apps: &[AppIdentity],
        file_wrapper: &Bound<'_, PyAny>,
    ) -> PyResult<EnvironBuilder> {
        let mut templates = Vec::with_capacity(apps.len());
        for app in apps {
            let mut per_listener = Vec::with_capacity(settings.listeners.len());
            for listener in &settings.listeners {
                per_listener.push(template(py, settings, app, listener, file_wrapper)?.unbind());
            }
            templates.push(per_listener);
        }
        let header_keys = COMMON_HEADERS
            .iter()
            .map(|name| {
                let key = environ_key(name.as_str()).expect("standard header names are valid");
                (name.clone(), PyString::intern(py, &key).unbind())
            })
            .collect();
        Ok(EnvironBuilder {
            templates,
            header_keys,
            default_server_name: PyString::new(py, &settings.server_name).unbind(),
            listener_ports: settings
                .listeners
                .iter()
                .map(|l| PyString::new(py, &l.port.to_string()).unbind())
                .collect(),
            pass_authorization: apps.iter().map(|app| app.pass_authorization).collect(),
            script_name_per_request: apps.iter().map(|app| app.script_name.is_none()).collect(),
            head_as_get: apps.iter().map(|app| app.head_as_get).collect(),
        })
    }

    /// Builds the environ of one request.
    pub(crate) fn build<'py>(
        &self,
        py: Python<'py>,
        request: &AppRequest,
        per_request: PerRequest<'_, 'py>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let environ = self.templates[request.app][request.listener]
            .bind(py)
            .copy()?;
        let head = &request.head;

        let request_method = if head.method == http::Method::HEAD && self.head_as_get[request.app] {
            intern!(py, "GET").clone()
        } else {
            method(py, &head.method)
        };
        environ.set_item(intern!(py, "REQUEST_METHOD"), request_method)?;
        environ.set_item(
            intern!(py, "PATH_INFO"),
            latin1(py, &request.path[request.script_name_len..]),
        )?;
        if self.script_name_per_request[request.app] {
            environ.set_item(
                intern!(py, "SCRIPT_NAME"),
                latin1(py, &request.path[..request.script_name_len]),
            )?;
        }
        let query = head.uri.query().unwrap_or("");
        environ.set_item(intern!(py, "QUERY_STRING"), PyString::new(py, query))?;
        environ.set_item(intern!(py, "REQUEST_URI"), request_uri(py, &head.uri))?;
        environ.set_item(intern!(py, "SERVER_PROTOCOL"), protocol(py, head.version))?;
        let (remote_addr, remote_port) = address_strings(py, request.remote);
        environ.set_item(intern!(py, "REMOTE_ADDR"), remote_addr)?;
        environ.set_item(intern!(py, "REMOTE_PORT"), remote_port)?;
        environ.set_item(
            intern!(py, "SERVER_ADDR"),
            address_strings(py, request.local).0,
        )?;
        self.set_server_name_and_port(py, &environ, request)?;
        self.set_headers(py, &environ, head, self.pass_authorization[request.app])?;

        environ.set_item(intern!(py, "wsgi.input"), per_request.input)?;
        environ.set_item(intern!(py, "wsgi.errors"), per_request.errors)?;
        environ.set_item(intern!(py, "mod_wsgi.thread_id"), per_request.thread_id)?;
        environ.set_item(
            intern!(py, "mod_wsgi.request_id"),
            PyString::new(py, &request.request_id),
        )?;
        let since_epoch = |t: std::time::SystemTime| {
            t.duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0)
        };
        environ.set_item(
            intern!(py, "mod_wsgi.request_start"),
            since_epoch(request.received_at),
        )?;
        environ.set_item(
            intern!(py, "mod_wsgi.queue_start"),
            since_epoch(per_request.queue_start),
        )?;
        if let Some(redirect) = &request.redirect {
            set_redirect(py, &environ, redirect)?;
        }
        if let Some(variables) = request.tls.as_ref().and_then(|t| t.environment.as_ref()) {
            for (name, value) in variables {
                environ.set_item(name, PyString::new(py, value))?;
            }
        }
        if let Some(proxied) = &request.proxied {
            set_proxied(py, &environ, proxied)?;
        }
        if let Some(authenticated) = &request.authenticated {
            // httpd's `ap_add_common_vars`, which mod_wsgi's environ copies: the user the
            // server authenticated, and the `AuthType` that did it.
            environ.set_item(intern!(py, "REMOTE_USER"), latin1(py, &authenticated.user))?;
            environ.set_item(
                intern!(py, "AUTH_TYPE"),
                PyString::new(py, &authenticated.auth_type),
            )?;
        }
        Ok(environ)
    }

    /// `SERVER_NAME` and `SERVER_PORT` come from the `Host` header when there is one, as with
    /// Apache's default `UseCanonicalName Off`, so that URLs the application builds point back
    /// at the name the client used. A request target in absolute-form names the host itself,
    /// and wins over `Host` (RFC 9112 §3.2.2).
    fn set_server_name_and_port(
        &self,
        py: Python<'_>,
        environ: &Bound<'_, PyDict>,
        request: &AppRequest,
    ) -> PyResult<()> {
        let host = match request.head.uri.authority() {
            Some(authority) => {
                let host_port = authority.as_str().rsplit('@').next().unwrap_or_default();
                Some(split_host(host_port.as_bytes()))
            }
            None => request
                .head
                .headers
                .get(header::HOST)
                .map(|h| split_host(h.as_bytes())),
        };
        let name = match host {
            Some((name, _)) if !name.is_empty() => latin1(py, name),
            _ => self.default_server_name.bind(py).clone(),
        };
        let port = match host {
            Some((_, Some(port))) => latin1(py, port),
            _ => self.listener_ports[request.listener].bind(py).clone(),
        };
        environ.set_item(intern!(py, "SERVER_NAME"), name)?;
        environ.set_item(intern!(py, "SERVER_PORT"), port)?;
        Ok(())
    }

    /// Adds `CONTENT_TYPE`, `CONTENT_LENGTH` and one `HTTP_*` key per header name.
    ///
    /// Repeated headers are joined with `", "`, cookies with `"; "`. Names with characters other
    /// than letters, digits and `-` are dropped (Apache does the same: `X-Foo_Bar` would
    /// otherwise be indistinguishable from `X-Foo-Bar`), and `Proxy` is never passed on as
    /// `HTTP_PROXY`, which CGI-style code would take for a proxy setting (httpoxy).
    fn set_headers(
        &self,
        py: Python<'_>,
        environ: &Bound<'_, PyDict>,
        head: &http::request::Parts,
        pass_authorization: bool,
    ) -> PyResult<()> {
        // A name's values come one after the other, each with a reference to the same name:
        // walking them in order needs no lookup by name.
        let mut headers = head.headers.iter().peekable();
        while let Some((name, first)) = headers.next() {
            let same_name = |(next, _): &(&HeaderName, _)| std::ptr::eq(*next, name);
            let value = match headers.next_if(same_name) {
                None => latin1(py, first.as_bytes()),
                Some((_, second)) => {
                    let separator: &[u8] = if name == header::COOKIE { b"; " } else { b", " };
                    let mut joined = Vec::with_capacity(first.len() + second.len() + 16);
                    joined.extend_from_slice(first.as_bytes());
                    joined.extend_from_slice(separator);
                    joined.extend_from_slice(second.as_bytes());
                    while let Some((_, value)) = headers.next_if(same_name) {
                        joined.extend_from_slice(separator);
                        joined.extend_from_slice(value.as_bytes());
                    }
                    latin1(py, &joined)
                }
            };
            if name == header::AUTHORIZATION && !pass_authorization {
                continue;
            }
            if name == header::CONTENT_TYPE {
                environ.set_item(intern!(py, "CONTENT_TYPE"), value)?;
            } else if name == header::CONTENT_LENGTH {
                environ.set_item(intern!(py, "CONTENT_LENGTH"), value)?;
            } else if let Some(key) = self.header_keys.get(name) {
                environ.set_item(key.bind(py), value)?;
            } else if let Some(key) = environ_key(name.as_str()) {
                if key != "HTTP_PROXY" {
                    environ.set_item(PyString::new(py, &key), value)?;
                }
            }
        }
        Ok(())
    }
}

/// The request target as the client sent it: usually origin-form (`/path?query`), but a
/// request in absolute-form (`http://host/path`, as proxies send) keeps its scheme and
/// authority, as Apache's `REQUEST_URI` does.
fn request_uri<'py>(py: Python<'py>, uri: &http::Uri) -> Bound<'py, PyString> {
    match uri.authority() {
        None => PyString::new(py, uri.path_and_query().map_or("/", |pq| pq.as_str())),
        Some(_) => PyString::new(py, &uri.to_string()),
    }
}

/// The keys of the internal request for a local `ErrorDocument`, as mod_wsgi shows them: httpd
/// renames the failed request's variables with a `REDIRECT_` prefix and adds
/// `REDIRECT_STATUS`, `REDIRECT_URL` and, when it had a query, `REDIRECT_QUERY_STRING`
/// (`ap_add_common_vars`); `REQUEST_URI` stays the failed request's, since httpd keeps its
/// request line.
fn set_redirect(
    py: Python<'_>,
    environ: &Bound<'_, PyDict>,
    redirect: &ErrorRedirect,
) -> PyResult<()> {
    environ.set_item(intern!(py, "REDIRECT_STATUS"), redirect.status.as_str())?;
    environ.set_item(intern!(py, "REDIRECT_URL"), latin1(py, &redirect.url))?;
    if let Some(query) = redirect.uri.query() {
        environ.set_item(
            intern!(py, "REDIRECT_QUERY_STRING"),
            PyString::new(py, query),
        )?;
    }
    environ.set_item(
        intern!(py, "REDIRECT_REQUEST_METHOD"),
        method(py, &redirect.method),
    )?;
    environ.set_item(intern!(py, "REQUEST_URI"), request_uri(py, &redirect.uri))?;
    Ok(())
}

/// What a trusted proxy's headers said of the client's request, over what the connection
/// gave, as mod_wsgi applies them (`wsgi_process_proxy_headers`): `REMOTE_ADDR`, `HTTP_HOST`,
/// `SERVER_NAME`, `SERVER_PORT`, `SCRIPT_NAME` (and `mod_wsgi.mount_point`, which mod_wsgi sets
/// with it), and the scheme: `wsgi.url_scheme`, with `HTTPS` `on` or absent. `REMOTE_PORT`
/// and `REQUEST_SCHEME` stay the connection's, as with mod_wsgi.
fn set_proxied(py: Python<'_>, environ: &Bound<'_, PyDict>, proxied: &Proxied) -> PyResult<()> {
    let values = [
        (intern!(py, "REMOTE_ADDR"), &proxied.client),
        (intern!(py, "HTTP_HOST"), &proxied.host),
        (intern!(py, "SERVER_NAME"), &proxied.server_name),
        (intern!(py, "SERVER_PORT"), &proxied.server_port),
        (intern!(py, "SCRIPT_NAME"), &proxied.script_name),
        (intern!(py, "mod_wsgi.mount_point"), &proxied.script_name),
    ];
    for (key, value) in values {
        if let Some(value) = value {
            environ.set_item(key, latin1(py, value.as_bytes()))?;
        }
    }
    match proxied.scheme {
        Some(UrlScheme::Https) => {
            environ.set_item(intern!(py, "wsgi.url_scheme"), intern!(py, "https"))?;
            environ.set_item(intern!(py, "HTTPS"), intern!(py, "on"))?;
        }
        Some(UrlScheme::Http) => {
            environ.set_item(intern!(py, "wsgi.url_scheme"), intern!(py, "http"))?;
            if environ.contains(intern!(py, "HTTPS"))? {
                environ.del_item(intern!(py, "HTTPS"))?;
            }
        }
        None => {}
    }
    Ok(())
}

/// The values of one request that do not come from the request itself.
pub(crate) struct PerRequest<'a, 'py> {
    pub(crate) input: &'a Bound<'py, PyAny>,
    pub(crate) errors: &'a Bound<'py, PyAny>,
    pub(crate) thread_id: &'a Bound<'py, PyAny>,
    pub(crate) queue_start: std::time::SystemTime,
}

fn template<'py>(
    py: Python<'py>,
    settings: &EnvironSettings,
    app: &AppIdentity,
    listener: &ListenerIdentity,
    file_wrapper: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let t = PyDict::new(py);
    for (key, value) in &app.environ {
        t.set_item(key, value)?;
    }
    t.set_item(intern!(py, "wsgi.version"), (1, 0))?;
    t.set_item(intern!(py, "wsgi.url_scheme"), listener.scheme)?;
    t.set_item(intern!(py, "wsgi.multithread"), settings.multithread)?;
    t.set_item(intern!(py, "wsgi.multiprocess"), settings.multiprocess)?;
    t.set_item(intern!(py, "wsgi.run_once"), settings.run_once)?;
    t.set_item(intern!(py, "wsgi.input_terminated"), true)?;
    t.set_item(intern!(py, "wsgi.file_wrapper"), file_wrapper)?;
    if let Some(script_name) = &app.script_name {
        t.set_item(intern!(py, "SCRIPT_NAME"), script_name)?;
    }
    if let Some(filename) = &app.script_filename {
        t.set_item(intern!(py, "SCRIPT_FILENAME"), filename)?;
    }
    t.set_item(intern!(py, "REQUEST_SCHEME"), listener.scheme)?;
    if listener.scheme == "https" {
        // mod_ssl sets it for every request over TLS (the other SSL_* keys need
        // `SSLOptions +StdEnvVars`).
        t.set_item(intern!(py, "HTTPS"), "on")?;
    }
    t.set_item(intern!(py, "GATEWAY_INTERFACE"), "CGI/1.1")?;
    t.set_item(intern!(py, "SERVER_SOFTWARE"), &settings.server_software)?;
    t.set_item(intern!(py, "DOCUMENT_ROOT"), &app.document_root)?;
    let (major, minor, micro) = MOD_WSGI_COMPAT_VERSION;
    t.set_item(
        intern!(py, "mod_wsgi.version"),
        PyTuple::new(py, [major, minor, micro])?,
    )?;
    t.set_item(
        intern!(py, "mod_wsgi.process_group"),
        &settings.process_group,
    )?;
    t.set_item(
        intern!(py, "mod_wsgi.application_group"),
        &settings.application_group,
    )?;
    t.set_item(intern!(py, "mod_wsgi.callable_object"), &app.callable)?;
    t.set_item(intern!(py, "mod_wsgi.listener_host"), &listener.host)?;
    t.set_item(
        intern!(py, "mod_wsgi.listener_port"),
        listener.port.to_string(),
    )?;
    t.set_item(intern!(py, "oxwsgi.version"), env!("CARGO_PKG_VERSION"))?;
    // Every request sets these: with a placeholder in the template, the copy already holds the
    // key, and setting it replaces a value instead of inserting (and growing the dict).
    for key in [
        intern!(py, "REQUEST_METHOD"),
        intern!(py, "PATH_INFO"),
        intern!(py, "QUERY_STRING"),
        intern!(py, "REQUEST_URI"),
        intern!(py, "SERVER_PROTOCOL"),
        intern!(py, "REMOTE_ADDR"),
        intern!(py, "REMOTE_PORT"),
        intern!(py, "SERVER_ADDR"),
        intern!(py, "SERVER_NAME"),
        intern!(py, "SERVER_PORT"),
        intern!(py, "wsgi.input"),
        intern!(py, "wsgi.errors"),
        intern!(py, "mod_wsgi.thread_id"),
        intern!(py, "mod_wsgi.request_id"),
        intern!(py, "mod_wsgi.request_start"),
        intern!(py, "mod_wsgi.queue_start"),
    ] {
        t.set_item(key, py.None())?;
    }
    reserve_room(py, &t)?;
    Ok(t)
}

/// Grows the template's key table so that its copies have room for a request's headers.
///
/// `dict.copy()` of a dict with few deleted entries clones the key table as it is, size
/// included; the headers then go into room already there instead of growing the copy (twice,
/// for a browser's dozen headers). Room is made by adding keys and deleting them again, as
/// many as CPython's fast copy tolerates (deleted entries at most a third of the table's
/// entries). This only changes how fast the copy fills, never what it holds.
fn reserve_room(py: Python<'_>, template: &Bound<'_, PyDict>) -> PyResult<()> {
    let spare = template.len() / 2;
    let keys: Vec<String> = (0..spare).map(|i| format!("oxwsgi.reserved.{i}")).collect();
    for key in &keys {
        template.set_item(key, py.None())?;
    }
    for key in &keys {
        template.del_item(key)?;
    }
    Ok(())
}

/// Headers whose `HTTP_*` key is made once per process.
const COMMON_HEADERS: &[HeaderName] = &[
    header::ACCEPT,
    header::ACCEPT_ENCODING,
    header::ACCEPT_LANGUAGE,
    header::AUTHORIZATION,
    header::CACHE_CONTROL,
    header::CONNECTION,
    header::COOKIE,
    header::HOST,
    header::IF_MATCH,
    header::IF_MODIFIED_SINCE,
    header::IF_NONE_MATCH,
    header::ORIGIN,
    header::PRAGMA,
    header::RANGE,
    header::REFERER,
    header::UPGRADE_INSECURE_REQUESTS,
    header::USER_AGENT,
    header::EXPECT,
    header::TRANSFER_ENCODING,
];

/// `HTTP_` plus the upper-cased name with `-` as `_`, or `None` when the name has a character
/// other than an ASCII letter, digit or `-`.
fn environ_key(name: &str) -> Option<String> {
    let mut key = String::with_capacity(5 + name.len());
    key.push_str("HTTP_");
    for c in name.chars() {
        match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' => key.push(c.to_ascii_uppercase()),
            '-' => key.push('_'),
            _ => return None,
        }
    }
    Some(key)
}

/// An address's IP and port as strings, formatted without allocating on the Rust side.
fn address_strings(
    py: Python<'_>,
    address: SocketAddr,
) -> (Bound<'_, PyString>, Bound<'_, PyString>) {
    // The longest IPv6 text (an IPv4-mapped address with a zone would not come from a socket).
    let mut buffer = [0u8; 64];
    let mut cursor = std::io::Cursor::new(&mut buffer[..]);
    write!(cursor, "{}", address.ip()).expect("an IP address fits 64 bytes");
    let ip_len = cursor.position() as usize;
    write!(cursor, "{}", address.port()).expect("and so does a port");
    let end = cursor.position() as usize;
    (
        latin1(py, &buffer[..ip_len]),
        latin1(py, &buffer[ip_len..end]),
    )
}

/// Bytes as a native string: each byte is one code point (latin-1), per PEP 3333.
pub(crate) fn latin1<'py>(py: Python<'py>, bytes: &[u8]) -> Bound<'py, PyString> {
    match std::str::from_utf8(bytes) {
        Ok(text) if text.is_ascii() => PyString::new(py, text),
        _ => {
            let text: String = bytes.iter().map(|&b| char::from(b)).collect();
            PyString::new(py, &text)
        }
    }
}

fn method<'py>(py: Python<'py>, method: &http::Method) -> Bound<'py, PyString> {
    match *method {
        http::Method::GET => intern!(py, "GET").clone(),
        http::Method::POST => intern!(py, "POST").clone(),
        http::Method::HEAD => intern!(py, "HEAD").clone(),
        http::Method::PUT => intern!(py, "PUT").clone(),
        http::Method::DELETE => intern!(py, "DELETE").clone(),
        http::Method::PATCH => intern!(py, "PATCH").clone(),
        http::Method::OPTIONS => intern!(py, "OPTIONS").clone(),
        _ => PyString::new(py, method.as_str()),
    }
}

fn protocol(py: Python<'_>, version: http::Version) -> Bound<'_, PyString> {
    match version {
        http::Version::HTTP_10 => intern!(py, "HTTP/1.0").clone(),
        // mod_http2 names it so (`r->protocol`), in the environ and the logs.
        http::Version::HTTP_2 => intern!(py, "HTTP/2.0").clone(),
        http::Version::HTTP_09 => intern!(py, "HTTP/0.9").clone(),
        _ => intern!(py, "HTTP/1.1").clone(),
    }
}

/// Splits a `Host` header value into name and port: `example.com:8080`, `[::1]:8080`, `[::1]`.
fn split_host(host: &[u8]) -> (&[u8], Option<&[u8]>) {
    let port_start = if host.first() == Some(&b'[') {
        // An IPv6 literal: the port, if any, follows the closing bracket.
        match host.iter().position(|&b| b == b']') {
            Some(end) if host.get(end + 1) == Some(&b':') => Some(end + 1),
            _ => None,
        }
    } else {
        host.iter().rposition(|&b| b == b':')
    };
    match port_start {
        Some(colon) => {
            let port = &host[colon + 1..];
            (&host[..colon], (!port.is_empty()).then_some(port))
        }
        None => (host, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_become_http_keys() {
        assert_eq!(
            environ_key("x-forwarded-for").unwrap(),
            "HTTP_X_FORWARDED_FOR"
        );
        assert_eq!(environ_key("accept").unwrap(), "HTTP_ACCEPT");
    }

    #[test]
    fn header_names_with_underscores_or_dots_are_dropped() {
        assert_eq!(environ_key("x-foo_bar"), None);
        assert_eq!(environ_key("x.foo"), None);
    }

    #[test]
    fn host_header_splits_into_name_and_port() {
        assert_eq!(
            split_host(b"example.com:8080"),
            (&b"example.com"[..], Some(&b"8080"[..]))
        );
        assert_eq!(split_host(b"example.com"), (&b"example.com"[..], None));
        assert_eq!(split_host(b"[::1]:80"), (&b"[::1]"[..], Some(&b"80"[..])));
        assert_eq!(split_host(b"[::1]"), (&b"[::1]"[..], None));
        assert_eq!(split_host(b"example.com:"), (&b"example.com"[..], None));
    }
}

#[cfg(test)]
#[path = "fuzz/environ.rs"]
mod fuzz;
