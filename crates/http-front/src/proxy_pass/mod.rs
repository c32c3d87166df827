//! The reverse proxy: sub-URLs (`--proxy-mount-point`) and host names
//! (`--proxy-virtual-host`) whose requests are passed on to another HTTP server instead of
//! being served here — what mod_wsgi-express configures httpd's mod_proxy for (`ProxyPass …
//! upgrade=websocket`, `ProxyPassReverse`, `ProxyTimeout`).
//!
//! **Where it runs.** In the process that accepts the client's connection, on its I/O
//! threads, as one more thing a path can be routed to ([`crate::service`]'s dispatch): each
//! worker's accept loop on the direct path, or the front tier when it spreads a listener over
//! several groups. A proxied request never reaches the application, its Python threads or
//! the front tier's hop, so a proxied server answers even while every Python thread is busy.
//! The access rules and authentication of the path still apply first (httpd's
//! `<Location>` sections do); `Redirect` and index scripts do not, as mod_proxy's URL
//! translation runs before mod_alias's.
//!
//! **What is passed on.** The request streams through as the client sends it (its body
//! limits and timeouts still apply), the response streams back as the target sends it;
//! neither is ever held whole. Hop-by-hop headers (`Connection` and what it names,
//! `Keep-Alive`, `Proxy-Connection`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`) are
//! not passed either way; `Expect: 100-continue` is answered here. The target gets its own
//! `Host` (httpd's `ProxyPreserveHost Off`), `X-Forwarded-For`, `-Host` and `-Server` as
//! mod_proxy adds them, and `X-Forwarded-Port`, `-Prefix` (mount points) and, over HTTPS,
//! `-Scheme`, as mod_wsgi-express's `RequestHeader` lines set them. A `Location`,
//! `Content-Location` or `URI` naming the target comes back naming this server
//! (`ProxyPassReverse`). A WebSocket upgrade ([`tunnel`]) becomes a tunnel both ways after the
//! target's `101`.
//!
//! **Failures.** A target that refuses the connection or breaks off before its response head
//! is a 502 (httpd answers 503 when it cannot connect, and marks the target unusable for a
//! minute; a 502 says more exactly whose fault it is); no response head within the proxy
//! timeout is a 504; a response body or a tunnel silent for the proxy timeout is cut.
//!
//! **The client.** hyper-util's pooled client (`client::legacy::Client` over its
//! `HttpConnector`): the server already speaks hyper on both sides, its connections are
//! kept alive and reused per target, it hands over upgraded connections
//! (`hyper::upgrade::on`), and it brings no second HTTP stack. reqwest (hyper underneath)
//! buffers nothing either but hides the upgrade and adds a second layer of types and
//! defaults (redirect following, decompression) a proxy must turn off; hyper-reverse-proxy
//! is a thin, little-kept wrapper over the same client that does not rewrite `Location`
//! or add `X-Forwarded-*` as mod_proxy does; pingora and sozu are whole proxy servers, not
//! libraries for one route. The tier's own hop (`crate::tier::forward`) uses hyper's
//! connection-level client because it wants a fresh connection per request; a proxied
//! target gains from a pool.

mod headers;
mod relay;
mod rules;
mod tunnel;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode, Version, header};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use oxwsgi_config::reverse_proxy::ReverseProxy;

use crate::application::BoxError;
use crate::body::ResponseBody;
use crate::conn::ConnActivity;
use crate::error_response::Refusal;

pub(crate) use relay::RelayedBody;
pub(crate) use rules::Matched;
pub(crate) use tunnel::TunnelState;

/// How long an unused connection to a target is kept for the next request.
const POOL_IDLE: Duration = Duration::from_secs(30);

/// The proxied sub-URLs and hosts, and the client that reaches their targets.
pub(crate) struct ProxyPass {
    config: ReverseProxy,
    client: Client<HttpConnector, UnsyncBoxBody<Bytes, BoxError>>,
    /// The server's name, for `X-Forwarded-Server`.
    server_name: String,
}

/// A request on its way to a target, with what its connection says of it.
pub(crate) struct Outgoing {
    /// The request's head, as the client sent it.
    pub(crate) head: http::request::Parts,
    /// Its body, if it has one.
    pub(crate) body: Option<oxwsgi_exchange::RequestBody>,
    /// The decoded, normalised path it was routed by.
    pub(crate) path: Bytes,
    pub(crate) remote: SocketAddr,
    pub(crate) local: SocketAddr,
    /// Whether the client's connection is TLS.
    pub(crate) https: bool,
    /// The client's connection, when it can be switched to a tunnel (HTTP/1).
    pub(crate) activity: Option<Arc<ConnActivity>>,
}

impl ProxyPass {
    /// The proxy for `config`, or `None` when nothing is proxied.
    pub(crate) fn new(config: &ReverseProxy, server_name: &str) -> Option<ProxyPass> {
        if config.is_empty() {
            return None;
        }
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(config.timeout));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE)
            .build(connector);
        Some(ProxyPass {
            config: config.clone(),
            client,
            server_name: server_name.to_owned(),
        })
    }

    /// Which proxied mount or host, if any, takes a request for `path` with this head.
    pub(crate) fn find(&self, head: &http::request::Parts, path: &[u8]) -> Option<Matched<'_>> {
        rules::find(&self.config, head, path)
    }

    /// Passes the request on and relays the answer (or, for a mount point asked for without
    /// its trailing slash, redirects to it).
    pub(crate) async fn forward<S>(
        &self,
        matched: Matched<'_>,
        outgoing: Outgoing,
    ) -> Result<Response<ResponseBody<S>>, Refusal> {
        let Outgoing {
            mut head,
            body,
            path,
            remote,
            local,
            https,
            activity,
        } = outgoing;
        let authority = headers::client_authority(&head, local);
        let scheme = if https { "https" } else { "http" };
        if matched.bare {
            let query = head
                .uri
                .query()
                .map(|q| format!("?{q}"))
                .unwrap_or_default();
            return Err(Refusal::Redirect {
                status: 302,
                location: format!("{scheme}://{authority}{}{query}", matched.prefix),
            });
        }
        let url = matched.target_url(&path, head.uri.query());
        let uri: http::Uri = url.parse().map_err(|err| {
            tracing::error!("cannot proxy to '{url}': not a valid URL ({err})");
            Refusal::ProxyUnreachable
        })?;
        // A WebSocket (or other) upgrade goes through only where the client's connection can
        // become a tunnel: HTTP/1.1, whose connection hyper hands over.
        let on_upgrade = (head.version == Version::HTTP_11
            && activity.is_some()
            && headers::wants_upgrade(&head.headers))
        .then(|| head.extensions.remove::<hyper::upgrade::OnUpgrade>())
        .flatten();
        let forwarded = headers::Forwarded {
            remote,
            client_authority: &authority,
            server_name: &self.server_name,
            port: headers::client_port(&head, local, https),
            prefix: matched.forwarded_prefix(),
            https,
        };
        let mut request = http::Request::new(match body {
            Some(body) => body.map_err(|err| Box::new(err) as BoxError).boxed_unsync(),
            None => http_body_util::Empty::new()
                .map_err(|never| match never {})
                .boxed_unsync(),
        });
        *request.method_mut() = head.method.clone();
        *request.uri_mut() = uri;
        *request.version_mut() = Version::HTTP_11;
        *request.headers_mut() = headers::outgoing(
            head.headers,
            &matched.target.authority,
            &forwarded,
            on_upgrade.is_some(),
        );
        let timeout = self.config.timeout;
        let sent = tokio::time::timeout(timeout, self.client.request(request)).await;
        let mut response = match sent {
            Ok(Ok(response)) => response,
            Ok(Err(err)) => {
                tracing::error!(
                    client.addr = %remote,
                    "cannot proxy {} to {url}: {}",
                    head.uri.path(),
                    error_chain(&err)
                );
                return Err(Refusal::ProxyUnreachable);
            }
            Err(_) => {
                tracing::error!(
                    client.addr = %remote,
                    "proxying {} to {url}: no response within {}s (--proxy-timeout)",
                    head.uri.path(),
                    timeout.as_secs()
                );
                return Err(Refusal::ProxyTimeout);
            }
        };
        let reverse = headers::Reverse {
            target: matched.target.url(),
            here: format!("{scheme}://{authority}{}", matched.public_prefix()),
        };
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            let (Some(client), Some(activity)) = (on_upgrade, activity) else {
                tracing::error!(
                    "the server at {url} switched protocols though the request asked for no \
                     upgrade it could have"
                );
                return Err(Refusal::ProxyUnreachable);
            };
            let target = hyper::upgrade::on(&mut response);
            let (parts, _) = response.into_parts();
            let mut out = Response::new(ResponseBody::empty());
            *out.status_mut() = parts.status;
            *out.headers_mut() = headers::incoming(parts.headers, &reverse, true);
            activity.tunnel.switch();
            tokio::spawn(tunnel::run(client, target, activity, timeout, url));
            return Ok(out);
        }
        let (parts, body) = response.into_parts();
        let mut out = Response::new(ResponseBody::proxied(RelayedBody::new(body, timeout)));
        *out.status_mut() = parts.status;
        *out.headers_mut() = headers::incoming(parts.headers, &reverse, false);
        if let Some(reason) = parts.extensions.get::<hyper::ext::ReasonPhrase>() {
            out.extensions_mut().insert(reason.clone());
        }
        out.headers_mut()
            .entry(header::SERVER)
            .or_insert(http::HeaderValue::from_static("oxwsgi"));
        Ok(out)
    }
}

/// An error with its causes, for the log (hyper-util's say only "client error" at the top).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
