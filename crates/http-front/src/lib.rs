//! oxwsgi's HTTP side: listeners, connections, routing, refusals and the access log.
//!
//! It knows nothing of Python. Requests that pass its checks go to an [`Application`] as
//! [`AppRequest`]s; everything refused is refused here, with a response from
//! [`error_response`](crate::error_response). Bodies of every kind leave through one
//! [`ResponseBody`] type.

#![deny(unsafe_code)]

mod access_json;
mod access_log;
mod application;
mod auth;
mod body;
mod client_name;
mod compress;
mod conn;
mod error_response;
mod framing;
mod head_clock;
mod header_edits;
mod host;
mod late_answer;
mod limits;
mod listener;
mod path;
mod proxy_pass;
mod redirect;
mod request_body;
mod request_id;
mod router;
mod server_status;
mod service;
mod static_files;
mod strict;
mod tier;
pub mod tls;

use std::sync::Arc;
use std::time::Duration;

use std::path::PathBuf;

use oxwsgi_config::{HttpSettings, MountPoint, StaticSettings, StaticTarget};
use tokio::sync::watch;

pub use access_log::{AccessLog, AccessLogError, OpenedAccessLog};
pub use application::{
    AppBody, AppError, AppRequest, AppResponse, Application, AuthAnswer, AuthQuery, AuthQuestion,
    BodyError, BoxError, FileRegion, InFlightGuard,
};
pub use body::{NoStream, ResponseBody};
pub use error_response::{DigestChallenge, Refusal, error_response};
pub use listener::ListenSocket;
pub use path::{PathError, normalize};
pub use request_id::RequestIds;
pub use router::{Mounted, Route, Router};
pub use tier::forward::{ForwardTarget, Forwarder, Relayed};

/// Settings of the HTTP side.
#[derive(Debug, Clone)]
pub struct FrontSettings {
    /// Protocol limits and timeouts.
    pub http: HttpSettings,
    /// The listeners (by index) that speak TLS, with their certificates.
    pub tls: Vec<(usize, tls::TlsConfig)>,
    /// The listeners (by index) that speak HTTP/2 besides HTTP/1.1.
    pub http2: Vec<usize>,
    /// The virtual hosts served, each with what it serves where.
    pub hosts: Vec<HostSettings>,
    /// A secret every process of the server has, and no one else: the key of the nonces of
    /// Digest authentication, so that any worker accepts a nonce another gave.
    pub auth_secret: [u8; 32],
    /// This worker's board on the scoreboard, where its requests are counted.
    pub board: oxwsgi_scoreboard::Board,
    /// The URL path of the status page (`--server-status`), when there is one.
    pub server_status: Option<String>,
    /// The sub-URLs and host names passed on to other servers.
    pub reverse_proxy: oxwsgi_config::reverse_proxy::ReverseProxy,
    /// The server's name (`X-Forwarded-Server` on proxied requests).
    pub server_name: String,
}

/// One virtual host: which requests it takes, what it serves, where it logs them.
#[derive(Debug, Clone)]
pub struct HostSettings {
    /// Its names and listeners (httpd's name-based virtual hosts: see
    /// [`oxwsgi_config::VirtualHost`]).
    pub host: oxwsgi_config::VirtualHost,
    /// What it serves where.
    pub url_space: UrlSpace,
    /// Its access log.
    pub access_log: Option<Arc<AccessLog>>,
}

/// The URL space one virtual host serves.
#[derive(Debug, Clone)]
pub struct UrlSpace {
    /// The mount points of the applications, each with the index [`AppRequest::app`]
    /// carries for it.
    pub apps: Vec<(MountPoint, usize)>,
    /// `WSGIScriptAliasMatch` patterns, in order, each with the applications loaded from the
    /// scripts it names (file, index).
    pub app_patterns: Vec<(oxwsgi_config::ScriptPattern, Vec<(PathBuf, usize)>)>,
    /// `AliasMatch` patterns, in order, each with the directory its targets are below.
    pub alias_patterns: Vec<(oxwsgi_config::ScriptPattern, PathBuf)>,
    /// Directory URLs (ending in `/`) whose index is a script, with the script's URL: a
    /// request for the directory is routed as one for the script.
    pub index_scripts: Vec<(String, String)>,
    /// The `--url-alias` mounts.
    pub aliases: Vec<(MountPoint, StaticTarget)>,
    /// The document root.
    pub document_root: PathBuf,
    /// How static files are served.
    pub static_files: StaticSettings,
    /// Who may make requests where.
    pub access: oxwsgi_config::access::AccessRules,
    /// `RequestHeader` and `Header` changes.
    pub header_edits: oxwsgi_config::headers::HeaderEdits,
    /// `Redirect` and `RedirectMatch`, in order.
    pub redirects: Vec<oxwsgi_config::redirect::Redirect>,
    /// `ErrorDocument`s.
    pub error_documents: Vec<oxwsgi_config::redirect::ErrorDocument>,
    /// The applications (by index) whose error responses are replaced by the server's
    /// (`WSGIErrorOverride`).
    pub error_override_apps: Vec<usize>,
    /// File extensions (lower case, with the dot) whose files under the document root an
    /// application answers for (by index): `--add-handler`.
    pub handlers: Vec<(String, usize)>,
    /// Where requests over TLS need a client certificate.
    pub client_certificates: Vec<oxwsgi_config::tls::ClientCertificateRule>,
}

/// The [`Application`] of a server without applications (`--application-type static`): the
/// router never sends it a request.
#[derive(Debug, Default)]
pub struct NoApplication;

impl Application for NoApplication {
    type Stream = NoStream;

    fn call(
        &self,
        _request: AppRequest,
    ) -> impl std::future::Future<Output = Result<AppResponse<NoStream>, AppError>> + Send + 'static
    {
        std::future::ready(Err(AppError::Internal))
    }
}

/// How a server run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeReport {
    /// Connections still open when the graceful timeout ran out, and cut.
    pub connections_cut: usize,
}

/// Serves `listeners` (TCP or unix sockets, already listening; each with the index
/// [`AppRequest::listener`] carries for it), and the front tier's requests on `internal` (the group's unix socket,
/// listening), until `stop` turns true, then drains: no new
/// connections are accepted, every further response closes its connection, in-flight requests
/// finish, idle connections close after the keep-alive timeout, and after `grace` (its value
/// when the drain begins: a worker evicted by a restart signal has another) whatever is left
/// is cut.
pub async fn serve<A: Application>(
    listeners: Vec<(usize, ListenSocket)>,
    internal: Option<std::os::unix::net::UnixListener>,
    app: Arc<A>,
    settings: FrontSettings,
    stop: watch::Receiver<bool>,
    grace: watch::Receiver<Duration>,
) -> std::io::Result<ServeReport> {
    let hosts = settings
        .hosts
        .iter()
        .map(|host| service::HostShared::new(host, &settings.auth_secret))
        .collect();
    let compress_responses = settings
        .hosts
        .iter()
        .any(|host| host.url_space.static_files.compress_responses);
    let server = Arc::new(service::ServerShared {
        app,
        hosts,
        compress_responses,
        ids: RequestIds::new(),
        connection_slots: Arc::new(tokio::sync::Semaphore::new(settings.http.max_connections)),
        draining: std::sync::atomic::AtomicBool::new(false),
        started: std::time::Instant::now(),
        proxy: proxy_pass::ProxyPass::new(&settings.reverse_proxy, &settings.server_name),
        settings,
    });
    let (open_tx, open_rx) = watch::channel(());
    if let Some(internal) = internal {
        tokio::spawn(tier::internal::accept_loop(
            tokio::net::UnixListener::from_std(internal)?,
            Arc::clone(&server.app),
            tier::internal::max_headers(server.settings.http.limit_request_fields),
            stop.clone(),
            open_rx.clone(),
            server.settings.board.clone(),
        ));
    }
    for (index, listener) in listeners {
        let listener = match listener {
            ListenSocket::Tcp(listener) => listener,
            ListenSocket::Unix(listener) => {
                tokio::spawn(listener::accept_unix_loop(
                    tokio::net::UnixListener::from_std(listener)?,
                    index,
                    server.settings.http2.contains(&index),
                    Arc::clone(&server),
                    stop.clone(),
                    open_rx.clone(),
                ));
                continue;
            }
        };
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let tls = server
            .settings
            .tls
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, tls)| tls.clone());
        let http2 = server.settings.http2.contains(&index);
        tokio::spawn(listener::accept_loop(
            listener,
            index,
            tls,
            http2,
            Arc::clone(&server),
            stop.clone(),
            open_rx.clone(),
        ));
    }
    drop(open_rx);

    let mut stop = stop;
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            break;
        }
    }
    server
        .draining
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let open = open_tx.receiver_count();
    tracing::debug!("draining: waiting for {open} connection(s) to finish");
    let grace = *grace.borrow();
    let connections_cut = match tokio::time::timeout(grace, open_tx.closed()).await {
        Ok(()) => 0,
        Err(_) => open_tx.receiver_count(),
    };
    Ok(ServeReport { connections_cut })
}
