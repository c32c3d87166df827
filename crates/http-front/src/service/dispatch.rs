//! Answering a checked request by its path: index scripts, redirects, the TLS requirements
//! (`SSLRequireSSL`, client certificates: before authentication, as httpd runs mod_ssl's hook
//! first, so that no password is asked for in the clear), access rules and authentication
//! ([`super::access`]), then whatever serves the path (a file, an alias, an application).
//!
//! Separate from the head checks ([`super::checks`]) because it is also how a local
//! `ErrorDocument`'s internal request is served
//! ([`error_document`](mod@super::error_document)), which skips those checks.

use http::{Response, header};

use super::access;
use super::app_response::app_response;
use super::error_override;
use super::shared::{ConnShared, HostShared};
use super::{Made, Pending, declared_length};
use crate::application::{AppRequest, Application};
use crate::body::ResponseBody;
use crate::error_response::Refusal;
use crate::request_body::IncomingBody;
use crate::router::Route;
use crate::static_files::StaticRequest;
use oxwsgi_exchange::{Authenticated, ErrorRedirect};

/// Answers a checked request for the decoded, normalised `path`: index scripts, redirects,
/// access rules (and authentication: `user` gets the user the credentials name, see
/// [`access::check`]), then whatever serves the path. Also serves the internal request for a
/// local `ErrorDocument`, whose `redirect` names the failed request.
pub(super) async fn dispatch<A: Application>(
    conn: &ConnShared<A>,
    host: &HostShared,
    request: &mut Option<Pending>,
    mut path: bytes::Bytes,
    body: &mut Option<IncomingBody>,
    redirect: Option<ErrorRedirect>,
    user: &mut Option<Authenticated>,
) -> Result<(Response<ResponseBody<A::Stream>>, Made), Refusal> {
    let server = &conn.server;
    let limit = server.settings.http.limit_request_body;
    let head = &request.as_ref().expect("a request is dispatched once").head;
    // A proxied path or host: mod_proxy translates the URL before mod_dir and mod_alias, so
    // neither index scripts nor redirects apply; access rules still do (below).
    let proxied = match (&server.proxy, &redirect) {
        (Some(proxy), None) => proxy.find(head, &path),
        _ => None,
    };
    if proxied.is_none() && !host.index_scripts.is_empty() {
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
    if proxied.is_none() && !host.redirects.is_empty() {
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
    // mod_ssl's access check (`ssl_hook_Access`), before the access rules and authentication
    // as in httpd, so that a client is never asked for a password over plain HTTP where TLS
    // is required.
    match &conn.tls {
        // `SSLVerifyClient require` for the path: without a certificate the listener's
        // authorities signed, a 403 (a certificate they did not sign failed the handshake,
        // or, with `optional_no_ca`, was accepted unverified).
        Some(tls) => {
            if !tls.client_verified && host.client_certificates.required(&path) {
                return Err(Refusal::Forbidden);
            }
        }
        // `SSLRequireSSL` for the path: in the clear, a 403 (httpd's AH02219).
        None => {
            if host.client_certificates.tls_required(&path) {
                tracing::error!(
                    client.addr = %conn.remote,
                    "access to {} failed, reason: SSL connection required",
                    head.uri.path()
                );
                return Err(Refusal::Forbidden);
            }
        }
    }
    let pending = request.as_ref().expect("a request is dispatched once");
    // A proxied host is a virtual host of its own in mod_wsgi-express's configuration, with
    // no access rules: those of the host the request fell to (with --server-name, the
    // catch-all that refuses unknown names) are not its.
    let authenticated = if proxied.is_some_and(|matched| matched.host) {
        None
    } else {
        access::check(conn, host, pending, &path, redirect.as_ref(), user).await?
    };
    if let (Some(matched), Some(proxy)) = (proxied, &server.proxy) {
        if declared_length(&head.headers).is_some_and(|length| length > limit) {
            return Err(Refusal::BodyTooLarge { limit });
        }
        let head = request.take().expect("a request is dispatched once").head;
        let outgoing = crate::proxy_pass::Outgoing {
            head,
            body: body
                .take()
                .filter(|body| !http_body::Body::is_end_stream(body))
                .map(|body| Box::pin(body) as oxwsgi_exchange::RequestBody),
            path,
            remote: conn.remote,
            local: conn.local,
            https: conn.tls.is_some(),
            activity: conn.activity.clone(),
        };
        let response = proxy.forward(matched, outgoing).await?;
        // The proxied server's pages are its own, as the application's are (httpd's
        // `ProxyErrorOverride Off`): no `ErrorDocument` replaces them.
        return Ok((response, Made::ByApplication));
    }
    if let Some(status_path) = &server.settings.server_status {
        if status_path.as_bytes() == &path[..] {
            if forwarded_from_elsewhere(host, pending, &path) {
                tracing::error!(
                    client.addr = %conn.remote,
                    "Client denied by server configuration: '{}' (a trusted proxy forwarded \
                     it for a client on another machine)",
                    head.uri.path()
                );
                return Err(Refusal::Forbidden);
            }
            let response = crate::server_status::respond(
                &server.settings.board,
                &head.method,
                head.uri.query(),
                server.started,
            );
            return Ok((response, Made::ByServer));
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
    let handled = match &route {
        // Aliases serve what they name; a handler answers for the document root's files.
        Route::Alias { .. } | Route::AliasAt { .. } => None,
        _ => host.handlers.find(&path).await,
    };
    let (app, script_name_len) = match (handled, route) {
        (Some(found), _) => found,
        (None, route) => match route {
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
        proxied,
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
        proxied,
        authenticated,
    };
    match server.app.call(app_request).await {
        // The server's page stands in for it, and is then an error response of the server's.
        Ok(response)
            if host.error_override_apps.contains(&app) && error_override::applies(&response) =>
        {
            Ok((error_override::replace(response), Made::ByServer))
        }
        Ok(response) => Ok((app_response(response), Made::ByApplication)),
        Err(error) => Err(Refusal::from_app(error, limit)),
    }
}

/// Whether the status page's default rule (clients on this machine only) must refuse a request
/// that a trusted proxy on this machine forwarded for a client elsewhere: behind nginx on the
/// same host every connection is local, and `Require local` alone (httpd's, which looks at the
/// connection) would show the page to the world. A rule the configuration gives the page
/// itself (an `--include-file`'s `<Location /server-status>`) is left to decide alone.
fn forwarded_from_elsewhere(host: &HostShared, pending: &Pending, path: &[u8]) -> bool {
    let default_rule = matches!(
        host.access.rule_for(path),
        Some(oxwsgi_config::access::AccessRule::Local)
    );
    let client = pending
        .proxied
        .as_ref()
        .and_then(|proxied| super::proxy::address(proxied.client.as_ref()?));
    default_rule && client.is_some_and(|ip| !ip.to_canonical().is_loopback())
}
