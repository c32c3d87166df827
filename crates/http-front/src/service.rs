//! Handling one request: check it, route it, hand it to the application, and turn the answer
//! (or the refusal) into a response.
//!
//! Everything a request is refused for is refused here, before the application sees it: a
//! malformed or escaping path, a missing, repeated or invalid `Host`, an unsupported `Expect`, a declared
//! body over the limit (413, without reading the body), or a path nothing is mounted at.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use http::{HeaderValue, Request, Response, Version, header};

use crate::FrontSettings;
use crate::access_log::AccessLog;
use crate::application::{AppBody, AppRequest, AppResponse, Application};
use crate::body::ResponseBody;
use crate::client_name::ClientName;
use crate::compress;
use crate::conn::{ConnActivity, RequestTracker};
use crate::error_response::{APP_ERRORS, Refusal, error_response, server_options};
use crate::header_edits;
use crate::host;
use crate::limits::{self, SizeLimits};
use crate::path::normalize;
use crate::request_body::{BodyRate, DrainDecision, DrainLimits, IncomingBody};
use crate::request_id::RequestIds;
use crate::router::{Mounted, Route, Router};
use crate::static_files::{StaticFiles, StaticRequest};
use crate::strict::{self, Verdict};
use oxwsgi_config::TraceMode;
use oxwsgi_config::redirect::{ErrorBody, ErrorDocument};
use oxwsgi_config::{MountPoint, ScriptPattern, StaticTarget};
use oxwsgi_exchange::ErrorRedirect;
use std::path::PathBuf;

/// What every connection of a server shares.
pub(crate) struct ServerShared<A> {
    pub(crate) app: Arc<A>,
    pub(crate) settings: FrontSettings,
    /// The virtual hosts, in the configuration's order (a listener's first is its default).
    pub(crate) hosts: Vec<HostShared>,
    pub(crate) compress_responses: bool,
    pub(crate) ids: RequestIds,
    pub(crate) connection_slots: Arc<tokio::sync::Semaphore>,
    /// Set when the server drains: every response then closes its connection.
    pub(crate) draining: std::sync::atomic::AtomicBool,
}

/// One virtual host, ready to serve.
pub(crate) struct HostShared {
    host: oxwsgi_config::VirtualHost,
    router: Router,
    redirects: crate::redirect::Redirects,
    static_files: StaticFiles,
    access_log: Option<Arc<AccessLog>>,
    access: oxwsgi_config::access::AccessRules,
    header_edits: oxwsgi_config::headers::HeaderEdits,
    error_documents: Vec<ErrorDocument>,
    /// Whether an `ErrorDocument` for a status an application's failure gives names a local
    /// path: a request the application takes is then kept (copied) until it is answered, for
    /// the document's internal request should the application fail.
    keeps_app_requests: bool,
    index_scripts: Vec<(String, String)>,
    client_certificates: crate::tls::ClientCertificates,
}

impl HostShared {
    pub(crate) fn new(settings: &crate::HostSettings) -> HostShared {
        let space = &settings.url_space;
        let mut mounts: Vec<(MountPoint, Mounted)> = space
            .apps
            .iter()
            .map(|(mount, index)| (mount.clone(), Mounted::App(*index)))
            .collect();
        mounts.extend(
            space
                .aliases
                .iter()
                .enumerate()
                .map(|(index, (mount, _))| (mount.clone(), Mounted::Alias(index))),
        );
        // The `AliasMatch` directories come after the prefix aliases, in the same numbering.
        let pattern_roots: Vec<StaticTarget> = space
            .alias_patterns
            .iter()
            .map(|(_, root)| StaticTarget::Directory(root.clone()))
            .collect();
        let aliases: Vec<&StaticTarget> = space
            .aliases
            .iter()
            .map(|(_, target)| target)
            .chain(&pattern_roots)
            .collect();
        let alias_patterns: Vec<(ScriptPattern, PathBuf, usize)> = space
            .alias_patterns
            .iter()
            .enumerate()
            .map(|(i, (pattern, root))| (pattern.clone(), root.clone(), space.aliases.len() + i))
            .collect();
        let static_files = StaticFiles::new(&space.static_files, &space.document_root, &aliases);
        static_files.spawn_refresher();
        HostShared {
            host: settings.host.clone(),
            router: Router::new(mounts)
                .with_patterns(&space.app_patterns)
                .with_alias_patterns(&alias_patterns),
            redirects: crate::redirect::Redirects::new(&space.redirects),
            static_files,
            access_log: settings.access_log.clone(),
            access: space.access.clone(),
            header_edits: space.header_edits.clone(),
            error_documents: space.error_documents.clone(),
            keeps_app_requests: space.error_documents.iter().any(|document| {
                matches!(document.body, ErrorBody::Local(_))
                    && APP_ERRORS
                        .iter()
                        .any(|e| Refusal::from_app(*e, 0).status().as_u16() == document.status)
            }),
            index_scripts: space.index_scripts.clone(),
            client_certificates: crate::tls::ClientCertificates::new(&space.client_certificates),
        }
    }
}

impl<A> ServerShared<A> {
    /// The virtual host a request on `listener` goes to: the first of the listener's hosts
    /// whose names include the request's host (its target's, else its `Host`), else the
    /// listener's first host, as in httpd.
    fn host_for<B>(&self, listener: usize, request: &Request<B>) -> &HostShared {
        if let [only] = self.hosts.as_slice() {
            return only;
        }
        let name = request
            .uri()
            .host()
            .or_else(|| {
                request
                    .headers()
                    .get(header::HOST)
                    .and_then(|value| value.to_str().ok())
                    .map(without_port)
            })
            .map(|name| name.trim_end_matches('.'));
        let mut default = None;
        for host in self.hosts.iter() {
            if !host.host.listeners.contains(&listener) {
                continue;
            }
            if name.is_some_and(|name| host.host.answers_to(name)) {
                return host;
            }
            default.get_or_insert(host);
        }
        default.unwrap_or(&self.hosts[0])
    }
}

/// A `Host` value without its port (`example.org:8080`, `[::1]:8080`).
fn without_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// What one connection's requests share.
pub(crate) struct ConnShared<A> {
    pub(crate) server: Arc<ServerShared<A>>,
    pub(crate) activity: Option<Arc<ConnActivity>>,
    pub(crate) remote: SocketAddr,
    pub(crate) local: SocketAddr,
    pub(crate) listener: usize,
    /// The client's host name, looked up the first time a request's access rule needs it.
    pub(crate) client_name: Arc<ClientName>,
    /// What its TLS says, when it speaks TLS.
    pub(crate) tls: Option<Arc<oxwsgi_exchange::TlsDetails>>,
}

impl<A> Clone for ConnShared<A> {
    fn clone(&self) -> Self {
        ConnShared {
            server: Arc::clone(&self.server),
            activity: self.activity.clone(),
            remote: self.remote,
            local: self.local,
            listener: self.listener,
            client_name: Arc::clone(&self.client_name),
            tls: self.tls.clone(),
        }
    }
}

/// The hyper service function.
pub(crate) async fn handle<A: Application>(
    conn: ConnShared<A>,
    mut request: Request<hyper::body::Incoming>,
) -> Result<Response<ResponseBody<A::Stream>>, Infallible> {
    let started = Instant::now();
    let received_at = SystemTime::now();
    let server = &conn.server;
    let host = server.host_for(conn.listener, &request);
    let request_id = server.ids.next();
    let log = host.access_log.as_ref().map(|log| {
        let entry = log.begin(&request, conn.remote, conn.local, &request_id, started);
        (Arc::clone(log), Box::new(entry))
    });
    let activity = conn
        .activity
        .clone()
        .expect("the connection sets its activity before serving");
    let mut tracker = RequestTracker::new(activity, log);
    let http_1_0 = request.version() == Version::HTTP_10;
    let (codings, untagged) = if server.compress_responses {
        let untagged = compress::untag_conditions(request.headers_mut());
        (compress::accepted(request.headers()), untagged)
    } else {
        (Vec::new(), None)
    };

    let expects_continue = request.headers().contains_key(header::EXPECT);
    let http_settings = &server.settings.http;
    let limits = DrainLimits {
        bytes: http_settings.limit_request_body,
        wait: http_settings.body_timeout,
        rate: BodyRate {
            timeout: http_settings.body_timeout,
            max_timeout: http_settings.body_max_timeout,
            min_rate: http_settings.body_min_rate,
        },
    };
    let client_closes = client_closes(&request);
    // With header edits configured: the path they are chosen by, and the request's own.
    let edits = &host.header_edits;
    let edit_path = if edits.is_empty() {
        None
    } else {
        crate::path::normalize(request.uri().path()).ok()
    };
    if let Some(path) = &edit_path {
        header_edits::apply(request.headers_mut(), &edits.request, path.as_ref(), false);
    }
    let (head, body) = request.into_parts();
    let (body, body_state) = IncomingBody::new(body, limits, expects_continue);
    let decision = DrainDecision(Arc::clone(&body_state));
    // Taken by the application only if it is called. Whoever drops it unread, the rest is read
    // and thrown away only once `decision` (below) says the connection goes on.
    let mut body = Some(body);

    // Taken by the application if it is called (unless a local `ErrorDocument` may need it).
    let mut request = Some(Pending {
        head,
        request_id,
        received_at,
    });

    let (mut response, made, refused) = match route(&conn, host, &mut request, &mut body).await {
        Ok((response, made)) => (response, made, false),
        Err(refusal) => {
            tracing::info!(client.addr = %conn.remote, "refused: {} {}", refusal.status(), refusal.message());
            (error_response(&refusal), Made::ByServer, true)
        }
    };
    // httpd's error responses: the server's own 4xx and 5xx, a file's 404 — not the
    // application's responses, whatever their status.
    let error = refused || (made == Made::ByServer && response.status().as_u16() >= 400);
    if error && !host.error_documents.is_empty() {
        let status = response.status();
        let document = host
            .error_documents
            .iter()
            .find(|d| d.status == status.as_u16());
        if let Some(document) = document {
            if let Some(mut replaced) =
                error_document(&conn, host, document, status, request.take()).await
            {
                // A refusal that ends the connection still does, whatever page it shows.
                if let Some(close) = response.headers_mut().remove(header::CONNECTION) {
                    replaced.headers_mut().insert(header::CONNECTION, close);
                }
                response = replaced;
            }
        }
    }
    if let Some(path) = &edit_path {
        // Error responses get only the `always` edits.
        header_edits::apply(
            response.headers_mut(),
            &edits.response,
            path.as_ref(),
            error,
        );
    }
    let mut response = compress::maybe_compress(&codings, response);
    compress::retag_not_modified(&mut response, untagged);
    // An HTTP/1.0 client reads a body of unknown length until the connection closes; hyper
    // would otherwise answer its `Connection: keep-alive` in kind.
    let unknown_length = http_body::Body::size_hint(response.body())
        .exact()
        .is_none();
    // A client that sent `Expect: 100-continue` and was never asked for its body may send it
    // now or never: the connection cannot be reused, so say so.
    let body_never_asked = expects_continue && !body_state.polled() && !body_state.finished();
    if server.draining.load(std::sync::atomic::Ordering::Relaxed)
        || (http_1_0 && unknown_length)
        || body_never_asked
    {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        if http_1_0 {
            // Marked as an HTTP/1.0 response, hyper takes the missing `keep-alive` as the end of
            // the connection; left at 1.1, it would append `keep-alive` to our `close`.
            *response.version_mut() = Version::HTTP_10;
        }
    }
    // An unread rest of the body is read and thrown away only if the connection goes on.
    let closes = client_closes
        || response
            .headers()
            .get(header::CONNECTION)
            .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"close"));
    decision.0.decide(!closes);
    drop(body);
    tracker.respond(response.status(), response.headers());
    Ok(response.map(|body| body.tracked(tracker)))
}

/// Whether the client asked for the connection to end with this request (`Connection: close`,
/// or HTTP/1.0 without `keep-alive`).
fn client_closes<B>(request: &Request<B>) -> bool {
    let tokens = || {
        request
            .headers()
            .get_all(header::CONNECTION)
            .iter()
            .flat_map(|value| value.as_bytes().split(|&b| b == b','))
            .map(|token| token.trim_ascii())
    };
    if request.version() == Version::HTTP_10 {
        !tokens().any(|t| t.eq_ignore_ascii_case(b"keep-alive"))
    } else {
        tokens().any(|t| t.eq_ignore_ascii_case(b"close"))
    }
}

/// A request on its way to be answered: what the application takes if it is called.
struct Pending {
    head: http::request::Parts,
    request_id: String,
    received_at: SystemTime,
}

impl Pending {
    /// A copy, for the application to take while the original stays (the extensions, which
    /// only hyper reads, are not copied).
    fn copy(&self) -> Pending {
        let mut head = Request::new(()).into_parts().0;
        head.method = self.head.method.clone();
        head.uri = self.head.uri.clone();
        head.version = self.head.version;
        head.headers = self.head.headers.clone();
        Pending {
            head,
            request_id: self.request_id.clone(),
            received_at: self.received_at,
        }
    }
}

/// Checks and answers a request; the application takes `request` (see
/// [`HostShared::keeps_app_requests`]) and `body` only if it is called.
async fn route<A: Application>(
    conn: &ConnShared<A>,
    host: &HostShared,
    request: &mut Option<Pending>,
    body: &mut Option<IncomingBody>,
) -> Result<(Response<ResponseBody<A::Stream>>, Made), Refusal> {
    let server = &conn.server;
    let head = &request.as_ref().expect("a request is routed once").head;
    let head_limits = SizeLimits {
        line: server.settings.http.limit_request_line,
        field_size: server.settings.http.limit_request_field_size,
    };
    limits::check(head, head_limits)?;
    let mut hosts = head.headers.get_all(header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (None, _) if head.version == Version::HTTP_11 => {
            return Err(Refusal::BadRequest(
                "an HTTP/1.1 request must have a Host header",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(Refusal::BadRequest(
                "the request has more than one Host header",
            ));
        }
        (Some(host), None) if !host::is_valid(host.as_bytes()) => {
            return Err(Refusal::BadRequest(
                "the Host header is not a valid host name",
            ));
        }
        _ => {}
    }
    if strict::check(head)? == Verdict::ServerOptions {
        return Ok((server_options(), Made::ByServer));
    }
    let protocol = &server.settings.http;
    if !protocol.chunked_requests && head.headers.contains_key(header::TRANSFER_ENCODING) {
        return Err(Refusal::LengthRequired);
    }
    if head.method == http::Method::TRACE {
        match protocol.trace {
            TraceMode::Application => {}
            TraceMode::Refuse => return Err(Refusal::TraceRefused),
            TraceMode::Echo => return trace_echo(head).map(|r| (r, Made::ByServer)),
        }
    }
    if let Some(expect) = head.headers.get(header::EXPECT) {
        if !expect.as_bytes().eq_ignore_ascii_case(b"100-continue") {
            return Err(Refusal::ExpectationFailed);
        }
    }
    let path = normalize(head.uri.path())?;
    dispatch(conn, host, request, path, body, None).await
}

/// Answers a checked request for the decoded, normalised `path`: index scripts, redirects,
/// access rules, then whatever serves the path. Also serves the internal request for a local
/// `ErrorDocument`, whose `redirect` names the failed request.
async fn dispatch<A: Application>(
    conn: &ConnShared<A>,
    host: &HostShared,
    request: &mut Option<Pending>,
    mut path: bytes::Bytes,
    body: &mut Option<IncomingBody>,
    redirect: Option<ErrorRedirect>,
) -> Result<(Response<ResponseBody<A::Stream>>, Made), Refusal> {
    let server = &conn.server;
    let limit = server.settings.http.limit_request_body;
    let head = &request.as_ref().expect("a request is dispatched once").head;
    if !host.index_scripts.is_empty() {
        for (directory, script) in &host.index_scripts {
            let directory = directory.as_bytes();
            if directory == &path[..] {
                // mod_dir's internal redirect to a script index: the request runs the script.
                path = bytes::Bytes::from(script.clone().into_bytes());
                break;
            }
            if directory.len() == path.len() + 1 && directory.starts_with(&path) {
                // mod_dir's DirectorySlash, with httpd's absolute URL.
                let authority = head
                    .headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .map_or_else(|| conn.local.to_string(), str::to_owned);
                let query = head
                    .uri
                    .query()
                    .map(|q| format!("?{q}"))
                    .unwrap_or_default();
                let directory = String::from_utf8_lossy(directory);
                return Err(Refusal::Redirect {
                    status: 301,
                    location: format!("http://{authority}{directory}{query}"),
                });
            }
        }
    }
    if !host.redirects.is_empty() {
        let authority = head
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map_or_else(|| conn.local.to_string(), str::to_owned);
        if let Some(redirect) = host
            .redirects
            .find(path.as_ref(), head.uri.query(), &authority)
        {
            return Err(redirect);
        }
    }
    if let Some(rule) = host.access.rule_for(path.as_ref()) {
        // httpd checks an internal redirect's access again, unless the section that decides
        // it is the failed request's own (`ap_process_request_internal` skips the check when
        // the configuration did not change).
        let inherited = redirect
            .as_ref()
            .and_then(|failed| host.access.rule_for(&failed.url))
            .is_some_and(|failed| std::ptr::eq(failed, rule));
        if !inherited {
            // Only a rule naming hosts waits for the client's name (once per connection).
            let name = if rule.needs_name() {
                conn.client_name.get().await
            } else {
                None
            };
            if !rule.allows(conn.remote.ip(), name) {
                return Err(Refusal::Forbidden);
            }
        }
    }
    if let Some(tls) = &conn.tls {
        // httpd's `SSLVerifyClient require` for the path: without a certificate the
        // listener's authorities signed, a 403 (a certificate they did not sign failed the
        // handshake already). Plain HTTP is not concerned, as with mod_ssl.
        if !tls.client_verified && host.client_certificates.required(&path) {
            return Err(Refusal::Forbidden);
        }
    }
    let route = host.router.route(&path);
    // A document's file is served whole, whatever the failed request's conditions and ranges.
    let no_headers;
    let static_request = StaticRequest {
        method: &head.method,
        headers: if redirect.is_some() {
            no_headers = http::HeaderMap::new();
            &no_headers
        } else {
            &head.headers
        },
        path: &path,
        query: head.uri.query(),
    };
    let (app, script_name_len) = match route {
        Route::Alias { alias, prefix_len } => {
            let rest = path.slice(prefix_len..);
            let response = host.static_files.alias(alias, static_request, &rest).await;
            return Ok((response, Made::ByServer));
        }
        Route::AliasAt { alias, relative } => {
            let response = host
                .static_files
                .alias(alias, static_request, &relative)
                .await;
            return Ok((response, Made::ByServer));
        }
        Route::App {
            app,
            script_name_len,
        } => match host.static_files.overlay(static_request, true).await {
            Some(response) => return Ok((response, Made::ByServer)),
            None => (app, script_name_len),
        },
        Route::Unmounted => match host.static_files.overlay(static_request, false).await {
            Some(response) => return Ok((response, Made::ByServer)),
            None => return Err(Refusal::NotFound),
        },
    };
    if declared_length(&head.headers).is_some_and(|length| length > limit) {
        return Err(Refusal::BodyTooLarge { limit });
    }
    let body = body
        .take()
        .filter(|body| !http_body::Body::is_end_stream(body))
        .map(|body| Box::pin(body) as oxwsgi_exchange::RequestBody);
    // A local `ErrorDocument` may need the request if the application fails.
    let keep = host.keeps_app_requests && redirect.is_none();
    let Pending {
        head,
        request_id,
        received_at,
    } = if keep {
        request.as_ref().map(Pending::copy)
    } else {
        request.take()
    }
    .expect("a request is dispatched once");
    let app_request = AppRequest {
        app,
        listener: conn.listener,
        head,
        path,
        script_name_len,
        body,
        body_limit: limit,
        remote: conn.remote,
        local: conn.local,
        request_id,
        received_at,
        redirect,
        tls: conn.tls.clone(),
    };
    match server.app.call(app_request).await {
        Ok(response) => Ok((app_response(response), Made::ByApplication)),
        Err(error) => Err(Refusal::from_app(error, limit)),
    }
}

fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// httpd's answer to `TRACE` (`TraceEnable On`): the request head, echoed as `message/http`
/// (names in lower case, as the server keeps them). A TRACE with a body is refused, as by
/// httpd.
fn trace_echo<S>(head: &http::request::Parts) -> Result<Response<ResponseBody<S>>, Refusal> {
    if head.headers.contains_key(header::TRANSFER_ENCODING)
        || declared_length(&head.headers).is_some_and(|length| length > 0)
    {
        return Err(Refusal::BadRequest("a TRACE request cannot have a body"));
    }
    let mut echo = format!("TRACE {} HTTP/1.1\r\n", head.uri).into_bytes();
    for (name, value) in &head.headers {
        echo.extend_from_slice(name.as_str().as_bytes());
        echo.extend_from_slice(b": ");
        echo.extend_from_slice(value.as_bytes());
        echo.extend_from_slice(b"\r\n");
    }
    echo.extend_from_slice(b"\r\n");
    let mut response = Response::new(ResponseBody::full(bytes::Bytes::from(echo)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("message/http"),
    );
    Ok(response)
}

/// An `ErrorDocument`'s page for an error response with `status`: its text, a redirect to its
/// URL, or what its local path gives. `failed` is the request that got the error. `None` keeps
/// the server's own page.
///
/// A local path is served as httpd's `ap_die` does, by an internal request: a GET for the
/// path (see [`internal_request`]), routed like any request. A file is sent with the error's
/// status (httpd's handler leaves the status alone); an application's response is sent as it
/// is, status included (mod_wsgi sets the status the application gives). If the internal
/// request fails, the server's own page stays: an error is never answered with a second
/// `ErrorDocument`.
async fn error_document<A: Application>(
    conn: &ConnShared<A>,
    host: &HostShared,
    document: &ErrorDocument,
    status: http::StatusCode,
    failed: Option<Pending>,
) -> Option<Response<ResponseBody<A::Stream>>> {
    let mut response = match &document.body {
        ErrorBody::Text(text) => {
            let mut response = Response::new(ResponseBody::full(bytes::Bytes::from(text.clone())));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            response
        }
        ErrorBody::Url(url) => {
            let refusal = Refusal::Redirect {
                status: 302,
                location: url.clone(),
            };
            return Some(error_response(&refusal));
        }
        ErrorBody::Local(target) => {
            // Always there: the application takes it only where no local document can need it.
            let failed = failed?;
            let Some((head, path, redirect)) = internal_request(target, &failed.head, status)
            else {
                tracing::info!(
                    client.addr = %conn.remote,
                    "ErrorDocument {status} {target}: not a valid local path"
                );
                return None;
            };
            let mut internal = Some(Pending { head, ..failed });
            let mut no_body = None;
            let outcome = dispatch(
                conn,
                host,
                &mut internal,
                path,
                &mut no_body,
                Some(redirect),
            );
            match outcome.await {
                Ok((response, Made::ByApplication)) => return Some(response),
                Ok((response, Made::ByServer)) if response.status() == http::StatusCode::OK => {
                    response
                }
                Ok((response, Made::ByServer)) => {
                    tracing::info!(
                        client.addr = %conn.remote,
                        "a {} was encountered while trying to use the ErrorDocument {target} \
                         for a {status}",
                        response.status()
                    );
                    return None;
                }
                Err(refusal) => {
                    tracing::info!(
                        client.addr = %conn.remote,
                        "a {} was encountered while trying to use the ErrorDocument {target} \
                         for a {status}: {}",
                        refusal.status(),
                        refusal.message()
                    );
                    return None;
                }
            }
        }
    };
    *response.status_mut() = status;
    Some(response)
}

/// httpd's internal request for the local `ErrorDocument` `target` of `failed`, which got
/// `status` (`ap_die`, then `ap_internal_redirect`): a GET ("no matter what the original method
/// was") for the document's path and its own query, with the failed request's version and
/// headers, less those of its body, which the internal request has none of. With the decoded,
/// normalised path to route, and the failed request as the application's environ shows it.
/// `None` if `target` is not a path that can be routed.
fn internal_request(
    target: &str,
    failed: &http::request::Parts,
    status: http::StatusCode,
) -> Option<(http::request::Parts, bytes::Bytes, ErrorRedirect)> {
    // What a request target cannot hold as it is (a space, say) is escaped.
    const UNSAFE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'<')
        .add(b'>')
        .add(b'`')
        .add(b'{')
        .add(b'}')
        .add(b'#');
    let target = percent_encoding::utf8_percent_encode(target, UNSAFE).to_string();
    let target = http::uri::PathAndQuery::try_from(target).ok()?;
    let path = normalize(target.path()).ok()?;
    let mut uri = http::Uri::builder();
    // A target in absolute-form keeps naming its host.
    if let (Some(scheme), Some(authority)) = (failed.uri.scheme(), failed.uri.authority()) {
        uri = uri.scheme(scheme.clone()).authority(authority.clone());
    }
    let uri = uri.path_and_query(target).build().ok()?;
    let mut head = Request::new(()).into_parts().0;
    head.method = http::Method::GET;
    head.uri = uri;
    head.version = failed.version;
    head.headers = failed.headers.clone();
    for name in [
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
        header::EXPECT,
    ] {
        head.headers.remove(name);
    }
    let raw_path = failed.uri.path();
    let redirect = ErrorRedirect {
        status,
        method: failed.method.clone(),
        uri: failed.uri.clone(),
        url: normalize(raw_path)
            .unwrap_or_else(|_| bytes::Bytes::copy_from_slice(raw_path.as_bytes())),
    };
    Some((head, path, redirect))
}

/// Who made a response: the application, or the server (its files, its refusals).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Made {
    ByApplication,
    ByServer,
}

pub(crate) fn app_response<S>(response: AppResponse<S>) -> Response<ResponseBody<S>> {
    let body = match response.body {
        AppBody::Empty => ResponseBody::empty(),
        AppBody::Full(data) => ResponseBody::full(data),
        AppBody::Stream(stream) => ResponseBody::stream(stream),
        AppBody::File(region) => ResponseBody::file(region),
    }
    .holding(response.in_flight);
    let mut out = Response::new(body);
    *out.status_mut() = response.status;
    *out.headers_mut() = response.headers;
    if let Some(reason) = response.reason {
        if let Ok(reason) = hyper::ext::ReasonPhrase::try_from(reason) {
            out.extensions_mut().insert(reason);
        }
    }
    out.headers_mut()
        .entry(header::SERVER)
        .or_insert(HeaderValue::from_static("oxwsgi"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(method: &str, target: &str) -> http::request::Parts {
        Request::builder()
            .method(method)
            .uri(target)
            .version(Version::HTTP_10)
            .header(header::HOST, "site.test")
            .header("x-test", "yes")
            .header(header::CONTENT_TYPE, "text/plain")
            .header(header::CONTENT_LENGTH, "7")
            .header(header::TRANSFER_ENCODING, "chunked")
            .header(header::EXPECT, "100-continue")
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    #[test]
    fn an_error_documents_request_is_a_get_for_its_path_with_the_failed_requests_headers() {
        let failed = failed("POST", "/denied/a%20b?x=1&y=2");
        let (head, path, redirect) =
            internal_request("/oops?from=403", &failed, http::StatusCode::FORBIDDEN).unwrap();
        assert_eq!(head.method, http::Method::GET);
        assert_eq!(head.uri, "/oops?from=403");
        assert_eq!(head.version, Version::HTTP_10);
        assert_eq!(&path[..], b"/oops");
        let names: Vec<&str> = head.headers.keys().map(|n| n.as_str()).collect();
        assert_eq!(names, ["host", "x-test", "content-type"]);
        assert_eq!(
            redirect,
            ErrorRedirect {
                status: http::StatusCode::FORBIDDEN,
                method: http::Method::POST,
                uri: http::Uri::from_static("/denied/a%20b?x=1&y=2"),
                url: bytes::Bytes::from_static(b"/denied/a b"),
            }
        );
    }

    #[test]
    fn a_head_requests_error_document_is_a_get_too() {
        let (head, _, redirect) =
            internal_request("/oops", &failed("HEAD", "/x"), http::StatusCode::NOT_FOUND).unwrap();
        assert_eq!(head.method, http::Method::GET);
        assert_eq!(redirect.method, http::Method::HEAD);
        assert_eq!(redirect.uri.query(), None);
    }

    #[test]
    fn a_documents_path_is_escaped_where_a_target_cannot_hold_it_and_routed_decoded() {
        let (head, path, _) = internal_request(
            "/errors/not found é.html",
            &failed("GET", "/x"),
            http::StatusCode::NOT_FOUND,
        )
        .unwrap();
        assert_eq!(head.uri, "/errors/not%20found%20%C3%A9.html");
        assert_eq!(&path[..], "/errors/not found é.html".as_bytes());
    }

    #[test]
    fn an_absolute_form_target_keeps_naming_its_host() {
        let (head, _, redirect) = internal_request(
            "/oops",
            &failed("GET", "http://other.test:8080/missing"),
            http::StatusCode::NOT_FOUND,
        )
        .unwrap();
        assert_eq!(head.uri, "http://other.test:8080/oops");
        assert_eq!(&redirect.url[..], b"/missing");
    }

    #[test]
    fn a_document_that_climbs_above_the_root_is_no_path_to_serve() {
        let failed = failed("GET", "/x");
        for target in ["/../etc/passwd", "/a/%2e%2e/%2e%2e/b"] {
            assert!(
                internal_request(target, &failed, http::StatusCode::NOT_FOUND).is_none(),
                "{target}"
            );
        }
    }

    #[test]
    fn a_failed_path_that_does_not_decode_is_named_as_sent() {
        let (_, _, redirect) = internal_request(
            "/oops",
            &failed("GET", "/bad%zz"),
            http::StatusCode::BAD_REQUEST,
        )
        .unwrap();
        assert_eq!(&redirect.url[..], b"/bad%zz");
    }
}
