//! One oxwsgi worker process: the composition root that joins the HTTP side to the Python side.
//!
//! The supervisor starts a worker by executing the oxwsgi binary with a worker title, or, when
//! oxwsgi is installed as a Python package, the group's Python interpreter with a bootstrap that
//! loads the extension module; either then calls [`run`], saying which ([`Startup`]). The worker:
//!
//! 1. reads its [`WorkerStart`] from standard input and adopts the inherited sockets and control
//!    pipe;
//! 2. starts Python on its main thread and loads every application of its process group, then
//!    the authentication scripts its hosts' rules name ([`load`]) — a failure exits with
//!    [`exit_status::APP_LOAD_FAILED`], before the sockets were ever put in the listening
//!    state;
//! 3. listens, starts the tokio runtime and the Python threads, and reports `ready`;
//! 4. serves until SIGTERM, then drains: no new connections, every response closes its
//!    connection, in-flight requests finish within the graceful timeout, Python's `atexit`
//!    functions run.
//!
//! Meanwhile it asks the supervisor to replace it when a lifecycle limit is reached
//! (`lifecycle.rs`) or a request times out, and exits at once if Python's lock stays stuck.

#![deny(unsafe_code)]

mod adapter;
mod auth_scripts;
mod code_watch;
mod control;
mod debug_mode;
mod hosts;
mod lifecycle;
mod loading;
mod privileges;
mod resource_limits;
mod service;

use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use std::time::Duration;

use oxwsgi_config::ServerConfig;
use oxwsgi_http_front::{
    AccessLogError, Application, Forwarder, FrontSettings, ListenSocket, NoApplication,
};
use oxwsgi_logging::notice;
use oxwsgi_process::{ReplaceReason, WorkerStart, exit_status, fds, sockets, title};
use oxwsgi_scoreboard::Board;
use oxwsgi_wsgi_bridge::{
    AppLoadError, EnvironSettings, InterpreterError, ListenerIdentity, PoolEvent, PoolSettings,
    PoolStartError, Startup, WsgiPool,
};
use tokio::sync::watch;

use crate::adapter::WsgiApplication;
use crate::control::Control;
use crate::lifecycle::Activity;
pub use crate::loading::{LoadedWorker, load};

/// What `SERVER_SOFTWARE` says.
pub const SERVER_SOFTWARE: &str = concat!("oxwsgi/", env!("CARGO_PKG_VERSION"));

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
    /// The worker could not become its group's user.
    #[error(transparent)]
    Switch(#[from] privileges::SwitchError),
    /// A listener's certificate or key could not be used.
    #[error(transparent)]
    Tls(#[from] oxwsgi_http_front::tls::TlsError),
    /// The runtime, a socket or the control pipe failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
}

impl WorkerError {
    fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> WorkerError {
        move |source| WorkerError::Io { what, source }
    }
}

/// Reads every listener's certificates and keys, as the workers will: run before anything
/// listens, so that a bad file stops the start naming it.
pub fn check_certificates(config: &ServerConfig) -> Result<(), oxwsgi_http_front::tls::TlsError> {
    for listener in &config.listeners {
        if let Some(tls) = &listener.tls {
            oxwsgi_http_front::tls::server_config(tls, listener.http2)?;
        }
    }
    Ok(())
}

/// Runs this process as a worker, from the start-up data on standard input; returns the exit
/// status (see [`exit_status`]). `startup` says whether Python is started here or already runs
/// this process (which must then have released its lock).
pub fn run(startup: Startup) -> i32 {
    let start = match WorkerStart::read_stdin() {
        Ok(start) => start,
        Err(err) => {
            eprintln!("oxwsgi: {err}");
            return exit_status::START_FAILED;
        }
    };
    if startup == Startup::Adopted {
        // An interpreter's `argv[0]` had to stay its own path: the title is written now.
        let role = match start.service {
            Some(_) => title::Role::Service,
            None => title::Role::Worker,
        };
        let _ = title::set(&start.title(), role);
    }
    // The application must not read the start-up data, nor wait on the supervisor's pipe.
    if let Ok(null) = std::fs::File::open("/dev/null") {
        let _ = rustix::stdio::dup2_stdin(&null);
    }
    if let Some(terminal) = start.terminal {
        if let Err(err) = debug_mode::adopt_terminal(terminal) {
            eprintln!("oxwsgi: --debug-mode: cannot take over the terminal: {err}");
        }
    }
    // A worker never outlives its supervisor: if the supervisor dies, this one drains and
    // exits (and one whose supervisor is already gone exits at once).
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM));
    let parent = rustix::process::getppid().map(|pid| pid.as_raw_nonzero().get() as u32);
    if parent != Some(start.supervisor_pid) {
        return exit_status::STOPPED;
    }
    if let Some(index) = start.service {
        return service::run(&start, index, startup);
    }
    let logging = start.config.logging_of_group(start.group);
    oxwsgi_logging::init(logging.level, logging.error_format.as_deref());
    if let Some(path) = &start.startup_log {
        // Only the workers of the first start are given it: what they print until they serve
        // is part of the server's start-up.
        if let Err(err) = oxwsgi_logging::startup::begin(path) {
            tracing::warn!("cannot write the start-up log {}: {err}", path.display());
        }
    }

    let group = start.config.group(start.group);
    // Before the Python threads start, as mod_wsgi sets them.
    resource_limits::apply(&group.lifecycle.limits, group.lifecycle.shutdown_timeout);
    let adopted = Control::adopt(start.control_fd).and_then(|control| {
        // Only the group's own sockets stay open: those of other groups (other users, other
        // virtual hosts) are closed before any application code could reach them.
        let mut listeners = Vec::new();
        for (index, &fd) in start.listener_fds.iter().enumerate() {
            let socket = fds::adopt(fd)?;
            if group.serves_listener(index) {
                let socket = match start.config.listeners[index].unix {
                    Some(_) => ListenSocket::Unix(socket.into()),
                    None => ListenSocket::Tcp(socket.into()),
                };
                listeners.push((index, socket));
            }
        }
        let mut internal = None;
        for (index, fd) in start.internal_fds.iter().enumerate() {
            if let Some(fd) = fd {
                let socket = fds::adopt(*fd)?;
                if index == start.group {
                    internal = Some(std::os::unix::net::UnixListener::from(socket));
                }
            }
        }
        Ok((control, listeners, internal))
    });
    let (control, listeners, internal) = match adopted {
        Ok(adopted) => adopted,
        Err(err) => {
            eprintln!(
                "oxwsgi: worker {}: cannot use the inherited descriptors: {err}",
                start.slot
            );
            return exit_status::START_FAILED;
        }
    };

    let board = match open_board(&start) {
        Ok(board) => board,
        Err(err) => {
            eprintln!(
                "oxwsgi: worker {}: cannot use the scoreboard: {err}",
                start.slot
            );
            return exit_status::START_FAILED;
        }
    };
    let server_fds: Vec<_> = listeners
        .iter()
        .map(|(_, socket)| socket.as_fd().as_raw_fd())
        .chain(internal.as_ref().map(|socket| socket.as_raw_fd()))
        .chain([start.control_fd])
        .collect();
    // Descriptors 0-2 are open before any application code runs (a supervisor started with
    // one closed passes the hole on), so nothing the server opens can take their numbers.
    oxwsgi_logging::restore_standard_streams();
    let loaded = load(&start.config, start.group, &server_fds, startup, &board);
    // An application may close a standard descriptor at import (daemonising helpers do); the
    // runtime started next would take the free number, and whatever writes to it later would
    // write into the runtime's descriptor. Fill it first.
    let filled = oxwsgi_logging::restore_standard_streams();
    if !filled.is_empty() {
        tracing::warn!(
            "the application closed standard descriptor(s) {filled:?} while loading; they now \
             lead to /dev/null (0) or the error log (1, 2)"
        );
    }
    let worker = match loaded {
        Ok(worker) => worker,
        Err(err) => {
            // Through the log's descriptor (the terminal still), so that the start-up log has
            // it too.
            oxwsgi_logging::startup::print_error(&format!("oxwsgi: {err}\n"));
            return exit_status::APP_LOAD_FAILED;
        }
    };
    let sockets = GroupSockets {
        listeners,
        internal,
    };
    match serve(
        worker,
        &start.config,
        sockets,
        Arc::new(control),
        start.auth_secret,
        board,
    ) {
        Ok(Stopped::Drained) => exit_status::STOPPED,
        Ok(Stopped::Deadlock) => exit_status::DEADLOCK,
        Err(err) => {
            tracing::error!("worker {} failed: {err}", start.slot);
            exit_status::START_FAILED
        }
    }
}

/// Moves this process's count of failed log writes onto its board once a second, for the
/// metrics: the logging side counts in an atomic of its own, and knows nothing of boards.
async fn count_log_failures(board: Board) {
    let mut counted = 0;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let failures = oxwsgi_logging::write_failures();
        if failures > counted {
            board.counters().log_writes_failed(failures - counted);
            counted = failures;
        }
    }
}

/// This worker's board on the scoreboard the supervisor shares; a board of its own, seen by
/// no one, when the supervisor had none to give.
fn open_board(start: &WorkerStart) -> Result<Board, oxwsgi_scoreboard::ScoreboardError> {
    let group = start.config.group(start.group);
    let Some((fd, board)) = start.scoreboard else {
        return Ok(oxwsgi_scoreboard::Scoreboard::private(group.threads));
    };
    let fd = fds::adopt(fd).map_err(oxwsgi_scoreboard::ScoreboardError::Map)?;
    let _ = rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC);
    let layout = oxwsgi_process::start::scoreboard_layout(&start.config);
    let scoreboard = oxwsgi_scoreboard::Scoreboard::open(fd, layout)?;
    Ok(Arc::new(scoreboard).into_board(start.group, board))
}

/// The sockets a worker serves: its group's listeners, each with its index in the
/// configuration (the environ describes a request's listener by it), and the group's internal
/// socket, if the front tier forwards to it.
struct GroupSockets {
    listeners: Vec<(usize, ListenSocket)>,
    internal: Option<std::os::unix::net::UnixListener>,
}

/// How a worker stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stopped {
    /// Asked to stop, it drained.
    Drained,
    /// Python's lock stayed unavailable: it exits without draining, to be replaced.
    Deadlock,
}

/// How many threads do the I/O of a process: the cores shared among the group's processes, at
/// least one and at most four (beyond that the Python side, not I/O, is the limit).
fn io_threads(processes: usize) -> usize {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    (cores / processes.max(1)).clamp(1, 4)
}

/// Serves until SIGTERM (or SIGINT), then drains and returns.
fn serve(
    worker: LoadedWorker,
    config: &ServerConfig,
    sockets: GroupSockets,
    control: Arc<Control>,
    auth_secret: [u8; 32],
    board: Board,
) -> Result<Stopped, WorkerError> {
    let group = config.group(worker.group);
    let lifecycle = &group.lifecycle;
    for (index, socket) in &sockets.listeners {
        let backlog = config.listeners[*index].backlog;
        sockets::listen(socket, backlog).map_err(WorkerError::io("cannot listen"))?;
    }
    if let Some(internal) = &sockets.internal {
        // Requests wait here for a worker of the group, as in mod_wsgi's daemon socket
        // (its `listen-backlog`).
        sockets::listen(internal, group.queue_backlog.max(128) as u32).map_err(WorkerError::io(
            "cannot listen on the group's internal socket",
        ))?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(io_threads(group.processes))
        .thread_name("io")
        .enable_all()
        .build()
        .map_err(WorkerError::io("cannot start the I/O runtime"))?;
    let activity = Arc::new(Activity::new(
        lifecycle,
        Arc::clone(&control),
        config.operations.clone(),
    ));
    let front = FrontSettings {
        http: config.http.clone(),
        hosts: worker.hosts,
        tls: worker.tls,
        http2: (0..config.listeners.len())
            .filter(|&index| config.listeners[index].http2)
            .collect(),
        auth_secret,
        board: board.clone(),
        server_status: config.operations.server_status.clone(),
        reverse_proxy: config.reverse_proxy.clone(),
        server_name: config.server_name.clone(),
    };
    let development = &config.development;
    let code_watch = development.reload_on_changes.then(|| {
        let imported = worker
            .python
            .as_ref()
            .map(oxwsgi_wsgi_bridge::development::ImportedFiles::new);
        code_watch::CodeWatch::start(imported, &development.reload_patterns)
    });
    let serving = Serving {
        sockets,
        front,
        error_log: worker.error_log,
        config,
        control: &control,
        activity: Arc::clone(&activity),
        entry_files: worker.entry_files,
        group: worker.group,
        code_watch: code_watch.flatten(),
    };

    let Some(python) = worker.python else {
        // Static files only, or the front tier: no Python, no Python threads.
        let (_never, events) = tokio::sync::mpsc::unbounded_channel();
        let stopped = match worker.forward {
            Some(targets) => serving.run(&runtime, Arc::new(Forwarder::new(targets)), events)?,
            None => serving.run(&runtime, Arc::new(NoApplication), events)?,
        };
        runtime.shutdown_timeout(Duration::from_secs(1));
        return Ok(stopped);
    };

    // Indexed like the configuration's listeners; those of other groups are never asked for.
    let identities = config
        .listeners
        .iter()
        .enumerate()
        .map(|(index, listener)| {
            let socket = serving.sockets.listeners.iter().find(|(i, _)| *i == index);
            let port = match socket {
                Some((_, ListenSocket::Tcp(socket))) => socket.local_addr()?.port(),
                // A unix socket has no port: a request whose Host names none meant the
                // scheme's (the proxy in front listens there).
                Some((_, ListenSocket::Unix(_))) => 80,
                None => listener.port,
            };
            let host = match &listener.unix {
                Some(unix) => unix.path.display().to_string(),
                None => listener.host.clone().unwrap_or_default(),
            };
            Ok(ListenerIdentity {
                host,
                port,
                scheme: if listener.tls.is_some() {
                    "https"
                } else {
                    "http"
                },
            })
        })
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(WorkerError::io("cannot read a listener's address"))?;
    let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
    let pool = WsgiPool::start(
        &python,
        worker.apps,
        worker.scripts,
        PoolSettings {
            threads: group.threads,
            queue_backlog: group.queue_backlog,
            queue_timeout: group.queue_timeout,
            connect_timeout: group.connect_timeout,
            body_timeout: config.http.body_timeout,
            environ: EnvironSettings {
                server_software: SERVER_SOFTWARE.to_owned(),
                server_name: config.server_name.clone(),
                process_group: group.name.clone(),
                application_group: group.application_group.clone(),
                multithread: group.threads != 1,
                multiprocess: group.multiprocess,
                // mod_wsgi's rule: a process that runs exactly one request and then exits.
                run_once: group.threads == 1 && lifecycle.maximum_requests == 1,
                listeners: identities,
            },
            runtime: runtime.handle().clone(),
            request_timeout: lifecycle.request_timeout,
            interrupt_timeout: lifecycle.limits.interrupt_timeout,
            deadlock_timeout: lifecycle.deadlock_timeout,
            slow_requests: config.operations.slow_requests,
            board,
            server_metrics: config.operations.server_metrics,
        },
        move |event| {
            let _ = events_tx.send(event);
        },
    )?;
    let app = Arc::new(WsgiApplication { pool, activity });
    let stopped = serving.run(&runtime, Arc::clone(&app), events_rx)?;
    if stopped == Stopped::Drained {
        if app.pool.shutdown(Duration::from_secs(1)) {
            oxwsgi_wsgi_bridge::run_exit_functions(&python);
        } else {
            tracing::warn!("a Python thread is still running a request; exiting without it");
        }
    }
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(stopped)
}

/// What serving needs besides the application.
struct Serving<'a> {
    sockets: GroupSockets,
    front: FrontSettings,
    error_log: Option<oxwsgi_logging::OpenedLog>,
    config: &'a ServerConfig,
    control: &'a Arc<Control>,
    activity: Arc<Activity>,
    entry_files: Vec<std::path::PathBuf>,
    group: usize,
    /// `--reload-on-changes`: the files whose change replaces this worker.
    code_watch: Option<code_watch::CodeWatch>,
}

impl Serving<'_> {
    /// Reports ready and serves `app` until told to stop, or until the pool reports a deadlock.
    fn run<A: Application>(
        self,
        runtime: &tokio::runtime::Runtime,
        app: Arc<A>,
        mut events: tokio::sync::mpsc::UnboundedReceiver<PoolEvent>,
    ) -> Result<Stopped, WorkerError> {
        let config = self.config;
        let lifecycle = &config.group(self.group).lifecycle;
        let limits = &lifecycle.limits;
        let control = Arc::clone(self.control);
        let (stop_tx, stop_rx) = watch::channel(false);
        // The graceful timeout, or the eviction timeout once a restart signal evicts the worker.
        let (grace_tx, grace_rx) = watch::channel(lifecycle.graceful_timeout);
        let eviction_grace = limits
            .eviction_timeout
            .unwrap_or(lifecycle.graceful_timeout);
        let outcome = runtime.block_on(async {
            tokio::spawn(lifecycle::watch(
                lifecycle.clone(),
                self.entry_files,
                self.activity,
                Arc::clone(&control),
                stop_rx.clone(),
            ));
            tokio::spawn(count_log_failures(self.front.board.clone()));
            let eviction = eviction_signal()?;
            if let Some(code_watch) = self.code_watch {
                tokio::spawn(code_watch.run(Arc::clone(&control), stop_rx.clone()));
            }
            tokio::spawn(async move {
                let evicted = tokio::select! {
                    signal = stop_signal() => {
                        notice!("caught {signal}, draining");
                        false
                    }
                    () = eviction => true,
                };
                if evicted {
                    notice!(
                        "evicted by a restart: draining within the eviction timeout ({}s)",
                        eviction_grace.as_secs()
                    );
                    let _ = grace_tx.send(eviction_grace);
                }
                let _ = stop_tx.send(true);
            });
            if let Some(exhausted) = resource_limits::cpu_time_exhausted(limits) {
                let control = Arc::clone(&control);
                let cpu_time = limits.cpu_time.unwrap_or_default().as_secs();
                tokio::spawn(async move {
                    exhausted.await;
                    tracing::warn!(
                        "this worker has used its CPU time limit ({cpu_time}s, \
                         --cpu-time-limit)"
                    );
                    control.replace(ReplaceReason::CpuTimeLimit);
                });
            }
            let memory_limited = resource_limits::has_memory_limit(limits);
            let report_to = Arc::clone(&control);
            let deadlock = async move {
                while let Some(event) = events.recv().await {
                    match event {
                        PoolEvent::RequestTimeout { .. } => {
                            report_to.replace(ReplaceReason::RequestTimeout);
                        }
                        PoolEvent::OutOfMemory { request } if memory_limited => {
                            tracing::warn!(
                                "{request} ran out of memory under this worker's memory limit \
                                 (--memory-limit, --virtual-memory-limit)"
                            );
                            report_to.replace(ReplaceReason::MemoryLimit);
                        }
                        PoolEvent::OutOfMemory { .. } => {}
                        PoolEvent::Deadlock { stalled } => {
                            tracing::error!(
                                "Python's lock (the GIL) could not be taken for {:.0}s: the \
                                 application is deadlocked; this worker exits to be replaced. \
                                 The Python stacks of its threads follow",
                                stalled.as_secs_f64()
                            );
                            oxwsgi_wsgi_bridge::dump_python_stacks();
                            return;
                        }
                    }
                }
                std::future::pending::<()>().await
            };

            // Installed before the supervisor hears of the worker: it may ask for a reopen as
            // soon as the worker is ready.
            tokio::spawn(reopen_logs_on_signal()?);
            oxwsgi_logging::startup::end();
            if let Some(file) = self.error_log {
                // From now on, everything this process writes goes to the error log. Before
                // the supervisor hears of the worker: a reopen it asks for then (the logs
                // were rotated while the worker started) finds the error log in place.
                if let Err(err) = oxwsgi_logging::redirect_stderr_to_file(file) {
                    tracing::error!("cannot write to the error log: {err}");
                }
                debug_mode::restore_terminal_output();
            }
            control.ready();
            let served = oxwsgi_http_front::serve(
                self.sockets.listeners,
                self.sockets.internal,
                app,
                self.front,
                stop_rx,
                grace_rx.clone(),
            );
            // A deadlocked interpreter cannot finish any request: leave without draining.
            tokio::select! {
                served = served => served.map(Some),
                () = deadlock => Ok(None),
            }
        });
        let Some(report) = outcome.map_err(WorkerError::io("serving failed"))? else {
            return Ok(Stopped::Deadlock);
        };
        if report.connections_cut > 0 {
            tracing::warn!(
                "{} connection(s) still busy after the graceful timeout ({}s) were cut",
                report.connections_cut,
                grace_rx.borrow().as_secs()
            );
        }
        Ok(Stopped::Drained)
    }
}

/// A task that reopens the log files on each SIGWINCH: the supervisor's way of telling this
/// worker that a log was rotated or that it got SIGUSR2 (see `oxwsgi_supervisor`'s `rotation`
/// module). SIGWINCH because its default action is to do nothing (one that came before this
/// handler cannot end the worker), no terminal reaches a worker (it has its own process
/// group), and SIGUSR2 is the worker's own signal for Python's stack dumps. The handler is in
/// place when this returns.
fn reopen_logs_on_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut reopen = signal(SignalKind::window_change())?;
    Ok(async move {
        while reopen.recv().await.is_some() {
            // Opening files is quick but blocking; the I/O threads have other work.
            let reopened = tokio::task::spawn_blocking(oxwsgi_logging::reopen_all).await;
            for err in reopened.unwrap_or_default() {
                tracing::error!("{err}; its lines go on to the renamed file");
            }
        }
    })
}

/// Waits for SIGUSR1, the supervisor's word that a restart signal evicts this worker: it
/// drains within the eviction timeout rather than the graceful one. The handler is in place
/// when this returns, before the supervisor hears the worker is ready.
fn eviction_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut evict = signal(SignalKind::user_defined1())?;
    Ok(async move {
        if evict.recv().await.is_none() {
            std::future::pending::<()>().await;
        }
    })
}

/// Waits for SIGTERM or SIGINT and names it.
async fn stop_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop the worker with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
