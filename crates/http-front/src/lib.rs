//! oxwsgi's HTTP side: listeners, connections, routing, refusals and the access log.
//!
//! It knows nothing of Python. Requests that pass its checks go to an [`Application`] as
//! [`AppRequest`]s; everything refused is refused here, with a response from
//! [`error_response`](crate::error_response). Bodies of every kind leave through one
//! [`ResponseBody`] type.

#![deny(unsafe_code)]

mod access_log;
mod application;
mod body;
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
mod redirect;
mod request_body;
mod request_id;
mod router;
mod service;
mod static_files;
mod strict;
mod tier;

use std::sync::Arc;
use std::time::Duration;

use std::path::PathBuf;

use oxwsgi_config::{HttpSettings, MountPoint, StaticSettings, StaticTarget};
use tokio::sync::watch;

pub use access_log::{AccessLog, AccessLogError, OpenedAccessLog};
pub use application::{
    AppBody, AppError, AppRequest, AppResponse, Application, BodyError, BoxError, FileRegion,
    InFlightGuard,
};
pub use body::{NoStream, ResponseBody};
pub use error_response::{Refusal, error_response};
pub use path::{PathError, normalize};
pub use request_id::RequestIds;
pub use router::{Mounted, Route, Router};
pub use tier::forward::{ForwardTarget, Forwarder, Relayed};

/// Settings of the HTTP side.
#[derive(Debug, Clone)]
pub struct FrontSettings {
    /// Protocol limits and timeouts.
    pub http: HttpSettings,
    /// What is served where.
    pub url_space: UrlSpace,
}

/// The URL space one server serves.
#[derive(Debug, Clone)]
pub struct UrlSpace {
    /// The mount points of the applications; an application's index in this list is the
    /// index [`AppRequest::app`] carries.
    pub apps: Vec<MountPoint>,
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

/// Serves `listeners` (already listening; each with the index [`AppRequest::listener`]
/// carries for it), and the front tier's requests on `internal` (the group's unix socket,
/// listening), until `stop` turns true, then drains: no new
/// connections are accepted, every further response closes its connection, in-flight requests
/// finish, idle connections close after the keep-alive timeout, and after `grace` whatever is
/// left is cut.
pub async fn serve<A: Application>(
    listeners: Vec<(usize, std::net::TcpListener)>,
    internal: Option<std::os::unix::net::UnixListener>,
    app: Arc<A>,
    settings: FrontSettings,
    access_log: Option<AccessLog>,
    stop: watch::Receiver<bool>,
    grace: Duration,
) -> std::io::Result<ServeReport> {
    let space = &settings.url_space;
    let mut mounts: Vec<(MountPoint, Mounted)> = space
        .apps
        .iter()
        .enumerate()
        .map(|(index, mount)| (mount.clone(), Mounted::App(index)))
        .collect();
    mounts.extend(
        space
            .aliases
            .iter()
            .enumerate()
            .map(|(index, (mount, _))| (mount.clone(), Mounted::Alias(index))),
    );
    let aliases: Vec<&StaticTarget> = space.aliases.iter().map(|(_, target)| target).collect();
    let static_files =
        static_files::StaticFiles::new(&space.static_files, &space.document_root, &aliases);
    static_files.spawn_refresher();
    let server = Arc::new(service::ServerShared {
        app,
        router: Router::new(mounts),
        redirects: redirect::Redirects::new(&space.redirects),
        compress_responses: space.static_files.compress_responses,
        static_files,
        access_log: access_log.map(Arc::new),
        ids: RequestIds::new(),
        connection_slots: Arc::new(tokio::sync::Semaphore::new(settings.http.max_connections)),
        draining: std::sync::atomic::AtomicBool::new(false),
        settings,
    });
    let (open_tx, open_rx) = watch::channel(());
    if let Some(internal) = internal {
        tokio::spawn(tier::internal::accept_loop(
            tokio::net::UnixListener::from_std(internal)?,
            Arc::clone(&server.app),
            stop.clone(),
            open_rx.clone(),
        ));
    }
    for (index, listener) in listeners {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        tokio::spawn(listener::accept_loop(
            listener,
            index,
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
    let connections_cut = match tokio::time::timeout(grace, open_tx.closed()).await {
        Ok(()) => 0,
        Err(_) => open_tx.receiver_count(),
    };
    Ok(ServeReport { connections_cut })
}
