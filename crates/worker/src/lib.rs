//! One oxwsgi worker process: the composition root that joins the HTTP side to the Python side.
//!
//! A worker runs in two steps, so that a broken application stops the server before any port
//! is bound:
//!
//! 1. [`load`] starts Python on this (the main) thread, loads every application of the process
//!    group, and opens the access log;
//! 2. [`serve`] starts the tokio runtime and the Python threads, serves the listeners until
//!    SIGTERM or SIGINT, then drains: in-flight requests finish, and Python's `atexit` functions
//!    run.

mod adapter;

use std::sync::Arc;
use std::time::Duration;

use oxwsgi_config::{AppEntry, LogDestination, ServerConfig};
use oxwsgi_http_front::{AccessLog, AccessLogError, FrontSettings, Router};
use oxwsgi_logging::notice;
use oxwsgi_wsgi_bridge::{
    AppIdentity, AppLoadError, EnvironSettings, InterpreterError, ListenerIdentity, MountedApp,
    PoolSettings, PoolStartError, PythonRuntime, WsgiPool,
};
use tokio::sync::watch;

use crate::adapter::WsgiApplication;

/// What `SERVER_SOFTWARE` says.
pub const SERVER_SOFTWARE: &str = concat!("oxwsgi/", env!("CARGO_PKG_VERSION"));

/// How long in-flight requests get to finish once the server is asked to stop.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A worker could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// Python could not be started.
    #[error(transparent)]
    Interpreter(#[from] InterpreterError),
    /// An application could not be loaded.
    #[error(transparent)]
    AppLoad(#[from] AppLoadError),
    /// The access log could not be set up.
    #[error(transparent)]
    AccessLog(#[from] AccessLogError),
    /// The Python threads could not be started.
    #[error(transparent)]
    Pool(#[from] PoolStartError),
    /// The I/O runtime could not be started, or a listener could not be used.
    #[error("the I/O runtime failed: {0}")]
    Runtime(#[source] std::io::Error),
}

/// A worker whose applications are loaded, ready to serve.
pub struct LoadedWorker {
    python: PythonRuntime,
    apps: Vec<MountedApp>,
    router: Router,
    access_log: Option<AccessLog>,
    group: usize,
}

impl LoadedWorker {
    /// The embedded Python, described for the banner.
    pub fn python_description(&self) -> String {
        self.python.describe()
    }
}

/// Starts Python and loads the applications of process group `group`.
pub fn load(config: &ServerConfig, group: usize) -> Result<LoadedWorker, WorkerError> {
    let python = oxwsgi_wsgi_bridge::initialize(&config.group(group).python)?;
    let mut apps = Vec::new();
    let mut routes = Vec::new();
    for (index, (mount, app)) in config.apps_of_group(group).enumerate() {
        let loaded = oxwsgi_wsgi_bridge::load_application(
            &python,
            &app.entry,
            &app.callable,
            SERVER_SOFTWARE,
        )?;
        let script_filename = match &app.entry {
            AppEntry::Script(path) | AppEntry::Paste(path) => Some(path.display().to_string()),
            AppEntry::Module(_) | AppEntry::Welcome => None,
        };
        apps.push(MountedApp {
            app: loaded,
            identity: AppIdentity {
                script_name: mount.as_str().to_owned(),
                script_filename,
                callable: app.callable.clone(),
            },
        });
        routes.push((mount.clone(), index));
    }
    let access_log = match &config.logging.access_log {
        Some(settings) => Some(AccessLog::open(settings, &config.server_name)?),
        None => None,
    };
    Ok(LoadedWorker {
        python,
        apps,
        router: Router::new(routes),
        access_log,
        group,
    })
}

/// How many threads do the I/O of a process: one per core, at most four (beyond that the
/// Python side, not I/O, is the limit).
fn io_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(1, 4)
}

/// Serves the listeners until SIGTERM or SIGINT, then drains and returns.
pub fn serve(
    worker: LoadedWorker,
    config: &ServerConfig,
    listeners: Vec<std::net::TcpListener>,
) -> Result<(), WorkerError> {
    let group = config.group(worker.group);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(io_threads())
        .thread_name("io")
        .enable_all()
        .build()
        .map_err(WorkerError::Runtime)?;

    let identities = listeners
        .iter()
        .zip(&config.listeners)
        .map(|(socket, listener)| {
            Ok(ListenerIdentity {
                host: listener.host.clone().unwrap_or_default(),
                port: socket.local_addr()?.port(),
                scheme: "http",
            })
        })
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(WorkerError::Runtime)?;
    let pool = WsgiPool::start(
        &worker.python,
        worker.apps,
        PoolSettings {
            threads: group.threads,
            queue_backlog: group.queue_backlog,
            queue_timeout: group.queue_timeout,
            body_timeout: config.http.body_timeout,
            environ: EnvironSettings {
                server_software: SERVER_SOFTWARE.to_owned(),
                server_name: config.server_name.clone(),
                process_group: group.name.clone(),
                application_group: group.application_group.clone(),
                multithread: group.threads != 1,
                multiprocess: group.multiprocess,
                document_root: config.document_root.display().to_string(),
                listeners: identities,
            },
            runtime: runtime.handle().clone(),
        },
    )?;
    let app = Arc::new(WsgiApplication { pool });

    let front = FrontSettings {
        http: config.http.clone(),
    };
    let served = runtime.block_on(async {
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(async move {
            let signal = stop_signal().await;
            notice!("caught {signal}, shutting down");
            let _ = stop_tx.send(true);
        });
        oxwsgi_http_front::serve(
            listeners,
            Arc::clone(&app),
            front,
            worker.router,
            worker.access_log,
            stop_rx,
            SHUTDOWN_GRACE,
        )
        .await
    });
    let report = served.map_err(WorkerError::Runtime)?;
    if report.connections_cut > 0 {
        tracing::warn!(
            "{} connection(s) still busy after {}s were cut",
            report.connections_cut,
            SHUTDOWN_GRACE.as_secs()
        );
    }
    if app.pool.shutdown(Duration::from_secs(1)) {
        oxwsgi_wsgi_bridge::run_exit_functions(&worker.python);
    } else {
        tracing::warn!("a Python thread is still running a request; exiting without it");
    }
    runtime.shutdown_timeout(Duration::from_secs(1));
    if let LogDestination::File(_) = &config.logging.error_log {
        notice!("server stopped");
    }
    Ok(())
}

/// Waits for SIGTERM or SIGINT and names it.
async fn stop_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop the server with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
