//! oxwsgi's supervisor: the parent process. It runs no Python and serves no request; it starts
//! the worker processes of every process group, watches them, replaces them, and stops them.
//!
//! * **Start.** The first worker of each group starts alone; the others follow once it is
//!   ready. A broken application therefore fails once, with its own error message, and the
//!   supervisor stops (exit 1) without ever having listened.
//! * **Replace, new first.** A worker that asks to be replaced (maximum requests, restart
//!   interval, inactivity, a timed-out request, a changed script) or that SIGHUP/SIGUSR1
//!   restarts keeps serving until its replacement reports ready; only then is it told to drain.
//!   Replacements happen one at a time per group, so capacity never drops below the configured
//!   number of processes.
//! * **Crashes.** A worker that dies is started again after a back-off that grows with repeated
//!   failures. A worker that fails to start three times in a row in a group with no serving
//!   worker is a crash loop: the supervisor stops with a message instead of spinning.
//! * **Time limits.** A worker not ready within the startup timeout is killed (and counts as a
//!   failed start). A draining worker still alive after the graceful and shutdown timeouts is
//!   killed.
//! * **Stop.** SIGTERM or SIGINT drains every worker, then the supervisor exits 0; a second
//!   SIGINT kills them at once. With `--drain-delay`, SIGTERM first serves on for that long
//!   with `/ready` at 503 (`signals.rs`; replacements and exits are in `replacement.rs`).
//! * **Metrics.** Every worker counts into its board of the scoreboard the supervisor shares
//!   with them; the metrics listener reads them out of band (`metrics.rs`, `prometheus.rs`).
//! * **Logs.** With `--rotate-logs`, the supervisor rotates the log files every process writes
//!   (`rotation.rs`); SIGUSR2 makes it and every worker reopen them (after logrotate). Either
//!   way each worker is told with SIGWINCH through its own process's task, like every other
//!   signal.
//! * **Service managers.** With `NOTIFY_SOCKET` set (systemd's `Type=notify`), the supervisor
//!   says when it serves, reloads and stops (`notify.rs`).
//!
//! Every state change is logged: workers starting and becoming ready at `info`, exits and
//! restarts at `notice`, failures at `error`.

#![deny(unsafe_code)]

mod memory;
mod metrics;
mod notify;
mod prometheus;
mod replacement;
mod rotation;
mod services;
mod signals;
mod worker;

use std::collections::VecDeque;
use std::net::TcpListener;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use oxwsgi_config::{GroupRole, LogDestination, ServerConfig};
use oxwsgi_logging::notice;
use oxwsgi_process::{Launcher, ReplaceReason, Report, fds};
use oxwsgi_scoreboard::{BoardState, Scoreboard};

use crate::metrics::ExitReason;
use tokio::sync::mpsc;

use crate::worker::{Event, SignalKind, Worker, WorkerId, WorkerState};

/// Failed starts in a row, in a group with no serving worker, that make a crash loop.
const CRASH_LOOP_STARTS: u32 = 3;
/// The longest wait before starting a crashed worker again.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The longest wait before starting a crashed worker again when no other worker of its group
/// serves.
const LONE_BACKOFF: Duration = Duration::from_secs(1);
/// A serving worker that dies sooner than this after starting counts towards the back-off.
const QUICK_CRASH: Duration = Duration::from_secs(10);

/// Why the supervisor stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    /// The first worker could not start; what it printed says why.
    #[error(
        "the first worker of process group '{group}' could not start ({status}); see above for why"
    )]
    FirstStart {
        /// The group's name.
        group: String,
        /// How the worker ended.
        status: String,
    },
    /// Workers kept failing to start.
    #[error(
        "worker {slot} of process group '{group}' failed to start {CRASH_LOOP_STARTS} times in a \
         row (last: {status}) and no worker of the group is serving; stopping instead of \
         retrying. The error log has each failure."
    )]
    CrashLoop {
        /// The group's name.
        group: String,
        /// The slot that failed.
        slot: usize,
        /// How the last attempt ended.
        status: String,
    },
    /// Something the supervisor needs from the system failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
}

/// The supervisor's phase, logged as it changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Starting the first workers.
    Spawning,
    /// Serving; replacements and restarts happen here.
    Running,
    /// Draining every worker before exiting.
    Stopping,
}

/// Why a worker is being replaced (for the log).
#[derive(Debug, Clone, Copy)]
enum Why {
    Asked(ReplaceReason),
    Signal(SignalKind),
}

impl Why {
    /// How `oxwsgi_worker_exits_total` counts the end of a worker replaced for this.
    fn exit_reason(self) -> ExitReason {
        match self {
            Why::Asked(
                ReplaceReason::MaximumRequests
                | ReplaceReason::RestartInterval
                | ReplaceReason::InactivityTimeout,
            ) => ExitReason::Recycle,
            Why::Asked(ReplaceReason::RequestTimeout) => ExitReason::Timeout,
            Why::Asked(ReplaceReason::ScriptChanged | ReplaceReason::CodeChanged)
            | Why::Signal(_) => ExitReason::Reload,
            Why::Asked(
                ReplaceReason::CpuTimeLimit
                | ReplaceReason::MemoryLimit
                | ReplaceReason::MaximumRss,
            ) => ExitReason::Limit,
        }
    }
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Why::Asked(reason) => write!(f, "{reason}"),
            Why::Signal(signal) => write!(f, "{} restart", signal.name()),
        }
    }
}

/// A replacement under way: `new` is starting to take `old`'s place.
#[derive(Debug, Clone, Copy)]
struct Replacing {
    new: WorkerId,
    old: WorkerId,
    why: Why,
}

/// The replacement work of one process group.
#[derive(Debug, Default)]
struct GroupState {
    /// Workers waiting to be replaced, in order.
    pending: VecDeque<(WorkerId, Why)>,
    /// The replacement being started now.
    replacing: Option<Replacing>,
    /// Failed starts in a row.
    failed_starts: u32,
    /// Ready workers in a row that died within [`QUICK_CRASH`] of starting: an application that
    /// crashes on its first requests is started again with a growing delay, not in a tight loop.
    quick_crashes: u32,
    /// Slots to start again, and when.
    respawns: Vec<(Instant, usize)>,
    /// Replacements to try again (their first attempt failed to start), and when.
    retries: Vec<(Instant, WorkerId, Why)>,
}

/// The sockets the supervisor hands to its workers, bound (not listening): the workers listen
/// on them once their application is loaded.
#[derive(Debug)]
pub struct Sockets {
    /// The listening sockets, in the order of the configuration's listeners.
    pub listeners: Vec<oxwsgi_process::sockets::Bound>,
    /// The unix sockets the front tier reaches each group on, by group (`None` for a group it
    /// does not forward to).
    pub internal: Vec<Option<UnixListener>>,
    /// The metrics listener (`--metrics-port`), listening.
    pub metrics: Option<TcpListener>,
}

/// Runs the supervisor until the server stops; `launcher` says how its workers are started.
pub fn run(
    config: ServerConfig,
    sockets: Sockets,
    launcher: Launcher,
) -> Result<(), SupervisorError> {
    let open_files = oxwsgi_process::limits::raise_open_files();
    tracing::debug!("open files limit: {open_files:?}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| SupervisorError::Io {
            what: "cannot start the supervisor's runtime",
            source,
        })?;
    runtime.block_on(async move {
        let mut supervisor = Supervisor::new(config, sockets, launcher)?;
        supervisor.run().await
    })
}

struct Supervisor {
    config: Arc<ServerConfig>,
    sockets: Sockets,
    exe: PathBuf,
    launcher: Launcher,
    workers: Vec<Worker>,
    groups: Vec<GroupState>,
    next_id: WorkerId,
    phase: Phase,
    events_tx: mpsc::UnboundedSender<Event>,
    events_rx: mpsc::UnboundedReceiver<Event>,
    stop_deadline: Option<Instant>,
    /// The service manager, told of readiness, reloads and the stop.
    notifier: notify::Notifier,
    /// A rolling restart asked by a signal is under way (the service manager was told
    /// `RELOADING=1` and waits for `READY=1`).
    reloading: bool,
    /// A restart signal that came while the first workers were starting: held until they
    /// serve, then acted on (a control script's `graceful` right after `start` is not lost).
    held_restart: Option<SignalKind>,
    /// Every worker's counters, in memory the workers share (see `oxwsgi_scoreboard`).
    scoreboard: Arc<Scoreboard>,
    /// What the metrics listener reports besides the scoreboard.
    observed: Arc<metrics::Observed>,
    /// When a stop delayed by `--drain-delay` drains the workers.
    drain_at: Option<Instant>,
    /// Rotates the log files, with `--rotate-logs`.
    rotator: Option<rotation::Rotator>,
    /// How many times the log files were rotated or reopened: a worker started before the
    /// last time and ready after it is told to reopen when it becomes ready.
    log_generation: u64,
    /// The side services, in the configuration's order ([`services`]).
    services: Vec<services::ServiceSlot>,
}

impl Supervisor {
    fn new(
        config: ServerConfig,
        sockets: Sockets,
        launcher: Launcher,
    ) -> Result<Supervisor, SupervisorError> {
        let fds = sockets
            .listeners
            .iter()
            .map(|l| l.as_fd())
            .chain(sockets.internal.iter().flatten().map(|l| l.as_fd()));
        for fd in fds {
            fds::make_inheritable(fd).map_err(|source| SupervisorError::Io {
                what: "cannot share the listening sockets with the workers",
                source,
            })?;
        }
        // /proc/self/exe stays valid even if the binary is replaced on disk while running.
        let exe = PathBuf::from("/proc/self/exe");
        let exe = if exe.exists() {
            exe
        } else {
            std::env::current_exe().map_err(|source| SupervisorError::Io {
                what: "cannot find the oxwsgi binary to start workers",
                source,
            })?
        };
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let scoreboard = Scoreboard::create(oxwsgi_process::start::scoreboard_layout(&config))
            .map_err(|source| SupervisorError::Io {
                what: "cannot create the scoreboard",
                source: std::io::Error::other(source),
            })?;
        fds::make_inheritable(scoreboard.fd()).map_err(|source| SupervisorError::Io {
            what: "cannot share the scoreboard with the workers",
            source,
        })?;
        let rotator = rotation::Rotator::of(&config);
        let services = config
            .services
            .iter()
            .map(|_| services::ServiceSlot::default())
            .collect();
        Ok(Supervisor {
            scoreboard: Arc::new(scoreboard),
            observed: Arc::new(metrics::Observed::new(config.groups.len())),
            drain_at: None,
            groups: config
                .groups
                .iter()
                .map(|_| GroupState::default())
                .collect(),
            config: Arc::new(config),
            sockets,
            exe,
            launcher,
            workers: Vec::new(),
            next_id: 1,
            phase: Phase::Spawning,
            events_tx,
            events_rx,
            stop_deadline: None,
            notifier: notify::Notifier::from_env(),
            reloading: false,
            held_restart: None,
            rotator,
            log_generation: 0,
            services,
        })
    }

    async fn run(&mut self) -> Result<(), SupervisorError> {
        self.watch_signals()?;
        if let Some(listener) = self.sockets.metrics.take() {
            let state = Arc::new(metrics::MetricsState {
                scoreboard: Arc::clone(&self.scoreboard),
                observed: Arc::clone(&self.observed),
            });
            tokio::spawn(metrics::serve(listener, state));
        }
        write_pid_file(&self.config);
        self.notifier.status("starting the workers");
        for group in 0..self.config.groups.len() {
            // The first worker starts alone; the others follow when it is ready. The front
            // tier waits for the groups it forwards to (`start_front_tier`).
            if self.config.group(group).role != GroupRole::Front {
                self.start_worker(group, 1, None)?;
            }
        }
        self.start_services();
        let result = self.event_loop().await;
        let _ = std::fs::remove_file(&self.config.pid_file);
        for listener in &self.config.listeners {
            if let Some(unix) = &listener.unix {
                oxwsgi_process::unix_socket::remove(&unix.path);
            }
        }
        if let Err(err) = &result {
            self.notifier.status(&format!("stopped: {err}"));
        }
        result
    }

    async fn event_loop(&mut self) -> Result<(), SupervisorError> {
        let mut rotation_checks = self.rotator.is_some().then(|| {
            let mut every_second = tokio::time::interval(Duration::from_secs(1));
            every_second.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            every_second
        });
        let mut memory_checks = self.limits_resident_memory().then(|| {
            let mut every_second = tokio::time::interval(Duration::from_secs(1));
            every_second.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            every_second
        });
        loop {
            let deadline = self.next_deadline();
            tokio::select! {
                event = self.events_rx.recv() => {
                    let Some(event) = event else { return Ok(()) };
                    self.on_event(event)?;
                }
                () = sleep_until(deadline) => self.on_deadlines()?,
                () = tick(&mut rotation_checks) => {
                    let rotated = self.rotator.as_mut().is_some_and(|r| r.check());
                    if rotated {
                        self.reopen_logs();
                    }
                }
                () = tick(&mut memory_checks) => self.check_resident_memory(),
            }
            self.check_reloaded();
            if self.phase == Phase::Stopping && self.workers.is_empty() {
                // The services stop last: a request draining may still have talked to one.
                self.stop_services();
                if !self.services_running() {
                    notice!("all workers stopped; exiting");
                    return Ok(());
                }
            }
        }
    }

    fn start_worker(
        &mut self,
        group: usize,
        slot: usize,
        replaces: Option<WorkerId>,
    ) -> Result<WorkerId, SupervisorError> {
        let id = self.next_id;
        self.next_id += 1;
        let board = self.scoreboard.take(group, slot);
        if board.is_none() {
            tracing::warn!(
                "every scoreboard place of '{}' is taken: the numbers of worker {slot} are not \
                 counted",
                self.config.group_title(group)
            );
        }
        // Workers of the first start copy what they print to the start-up log.
        let startup_log = match self.phase {
            Phase::Spawning => self.config.log_files.startup_log.as_deref(),
            Phase::Running | Phase::Stopping => None,
        };
        let spawned = worker::spawn(
            &self.launcher,
            &self.exe,
            &self.config,
            &self.sockets,
            worker::Kind::Worker {
                group,
                slot,
                board: board.map(|b| (self.scoreboard.fd().as_raw_fd(), b)),
                startup_log,
            },
            id,
            &self.events_tx,
        );
        let worker::Spawned { pid, signals } = match spawned {
            Ok(spawned) => spawned,
            Err(source) => {
                if let Some(board) = board {
                    self.scoreboard.release(group, board);
                }
                return Err(SupervisorError::Io {
                    what: "cannot start a worker process",
                    source,
                });
            }
        };
        if let Some(board) = board {
            self.scoreboard.started(group, board, pid);
        }
        self.observed.started(group);
        let name = &self.config.group_title(group);
        if self.phase == Phase::Spawning {
            // Quiet during start-up: the "ready" line names these workers.
            tracing::info!("worker {slot} of '{name}' started (pid {pid})");
        } else {
            notice!("worker {slot} of '{name}' started (pid {pid})");
        }
        self.workers.push(Worker {
            id,
            group,
            slot,
            pid,
            state: WorkerState::Starting,
            since: Instant::now(),
            replaces,
            killed: false,
            signals,
            board,
            exit_reason: None,
            grace: self.config.group(group).lifecycle.graceful_timeout,
            log_generation: self.log_generation,
        });
        Ok(id)
    }

    fn worker(&mut self, id: WorkerId) -> Option<&mut Worker> {
        self.workers.iter_mut().find(|w| w.id == id)
    }

    fn on_event(&mut self, event: Event) -> Result<(), SupervisorError> {
        match event {
            Event::Report(id, Report::Ready) => self.on_ready(id),
            Event::Report(id, Report::Replace(reason)) => {
                self.queue_replacement(id, Why::Asked(reason));
                Ok(())
            }
            Event::Exited(id, status) if self.on_service_exit(id, status) => Ok(()),
            Event::Exited(id, status) => self.on_exit(id, status),
            Event::Signal(signal) => {
                self.on_signal(signal);
                Ok(())
            }
        }
    }

    fn on_ready(&mut self, id: WorkerId) -> Result<(), SupervisorError> {
        let log_generation = self.log_generation;
        let Some(worker) = self.worker(id) else {
            return Ok(());
        };
        worker.state = WorkerState::Ready;
        worker.since = Instant::now();
        if worker.log_generation != log_generation {
            // The logs were rotated while it started: it opened the file that is `.1` now.
            worker.reopen_logs(log_generation);
        }
        let (group, slot, pid, replaces) = (worker.group, worker.slot, worker.pid, worker.replaces);
        if let Some(board) = worker.board {
            self.scoreboard.set_state(group, board, BoardState::Serving);
        }
        let group_name = self.config.group_title(group);
        tracing::info!("worker {slot} of '{group_name}' ready (pid {pid})");
        self.groups[group].failed_starts = 0;

        if let Some(old_id) = replaces {
            let why = self.groups[group].replacing.take().map(|r| r.why);
            let reason = why.map_or(ExitReason::Reload, Why::exit_reason);
            let eviction = self.config.group(group).lifecycle.limits.eviction_timeout;
            if let Some(old) = self.worker(old_id) {
                let old_pid = old.pid;
                match (why, eviction) {
                    (Some(Why::Signal(_)), Some(grace)) => old.evict(reason, grace),
                    _ => old.drain(reason),
                }
                if let Some(board) = old.board {
                    self.scoreboard
                        .set_state(group, board, BoardState::Draining);
                }
                notice!(
                    "worker {slot} of '{group_name}' replaced: pid {pid} serves, pid {old_pid} \
                     drains"
                );
            }
            self.start_next_replacement(group)?;
        }

        if self.phase == Phase::Spawning {
            let processes = self.config.group(group).processes;
            let started = self.workers.iter().filter(|w| w.group == group).count();
            if started == 1 && processes > 1 {
                for slot in 2..=processes {
                    self.start_worker(group, slot, None)?;
                }
            }
            self.start_front_tier()?;
            self.check_spawned();
        }
        Ok(())
    }

    /// Starts the front tier once every group it forwards to has a ready worker: it listens
    /// as soon as it is ready, and until then connections wait in the kernel's queue rather
    /// than get a 503 from a front tier whose groups are still loading their applications.
    fn start_front_tier(&mut self) -> Result<(), SupervisorError> {
        let groups = &self.config.groups;
        let fronts: Vec<usize> = (0..groups.len())
            .filter(|&g| groups[g].role == GroupRole::Front)
            .filter(|&g| !self.workers.iter().any(|w| w.group == g))
            .collect();
        if fronts.is_empty() {
            return Ok(());
        }
        let groups_ready = (0..groups.len())
            .filter(|&g| groups[g].role != GroupRole::Front)
            .all(|g| {
                self.workers
                    .iter()
                    .any(|w| w.group == g && w.state == WorkerState::Ready)
            });
        if groups_ready {
            for front in fronts {
                self.start_worker(front, 1, None)?;
            }
        }
        Ok(())
    }

    /// Moves to Running once every group has all its workers ready.
    fn check_spawned(&mut self) {
        let all_ready = self.config.groups.iter().enumerate().all(|(index, group)| {
            self.workers
                .iter()
                .filter(|w| w.group == index && w.state == WorkerState::Ready)
                .count()
                >= group.processes
        });
        if !all_ready {
            return;
        }
        self.phase = Phase::Running;
        self.observed.set_ready(true);
        self.notifier.ready(&self.serving_status());
        let addresses: Vec<String> = self
            .sockets
            .listeners
            .iter()
            .map(|l| l.describe())
            .collect();
        let processes: usize = self.config.groups.iter().map(|g| g.processes).sum();
        // The start of each initial worker, logged quietly while the application loaded (if it
        // cannot, its error is all the user needs to see), is told here.
        let pids: Vec<String> = self.workers.iter().map(|w| w.pid.to_string()).collect();
        notice!(
            "oxwsgi/{} ready: serving {} with {processes} worker process(es) (pid {})",
            env!("CARGO_PKG_VERSION"),
            addresses.join(", "),
            pids.join(", ")
        );
        if let LogDestination::File(path) = &self.config.logging.error_log {
            // The start-up is over: from now on the supervisor logs (and workers started later
            // write) to the error log file.
            if let Err(err) = oxwsgi_logging::redirect_stderr_to(path) {
                tracing::error!("cannot open the error log {}: {err}", path.display());
            }
        }
        oxwsgi_logging::startup::end();
        if let Some(signal) = self.held_restart.take() {
            self.on_signal(signal);
        }
    }

    /// The earliest moment something is due: a startup or drain limit, a respawn, the stop.
    fn next_deadline(&self) -> Option<Instant> {
        let workers = self.workers.iter().filter(|w| !w.killed).filter_map(|w| {
            let lifecycle = &self.config.group(w.group).lifecycle;
            match w.state {
                WorkerState::Starting => Some(w.since + lifecycle.startup_timeout),
                WorkerState::Draining => Some(w.since + w.grace + lifecycle.shutdown_timeout),
                WorkerState::Ready => None,
            }
        });
        let respawns = self
            .groups
            .iter()
            .flat_map(|g| g.respawns.iter().map(|(at, _)| *at));
        let retries = self
            .groups
            .iter()
            .flat_map(|g| g.retries.iter().map(|(at, _, _)| *at));
        workers
            .chain(respawns)
            .chain(retries)
            .chain(self.stop_deadline)
            .chain(self.drain_at)
            .chain(self.services_deadline())
            .min()
    }

    fn on_deadlines(&mut self) -> Result<(), SupervisorError> {
        let now = Instant::now();
        for worker in self.workers.iter_mut().filter(|w| !w.killed) {
            let lifecycle = &self.config.group(worker.group).lifecycle;
            let name = &self.config.group_title(worker.group);
            match worker.state {
                WorkerState::Starting if now >= worker.since + lifecycle.startup_timeout => {
                    tracing::error!(
                        "worker {} of '{name}' (pid {}) not ready after the startup timeout \
                         ({}s); killing it",
                        worker.slot,
                        worker.pid,
                        lifecycle.startup_timeout.as_secs()
                    );
                    worker.kill();
                }
                WorkerState::Draining
                    if now >= worker.since + worker.grace + lifecycle.shutdown_timeout =>
                {
                    tracing::warn!(
                        "worker {} of '{name}' (pid {}) still running after the graceful and \
                         shutdown timeouts; killing it",
                        worker.slot,
                        worker.pid
                    );
                    worker.kill();
                }
                _ => {}
            }
        }
        if self.drain_at.is_some_and(|at| now >= at) {
            self.drain_at = None;
            self.drain_all();
        }
        if self.stop_deadline.is_some_and(|at| now >= at) {
            self.stop_deadline = None;
            self.kill_all();
        }
        self.on_service_deadlines(now);
        for group in 0..self.groups.len() {
            let due: Vec<usize> = self.groups[group]
                .respawns
                .iter()
                .filter(|(at, _)| now >= *at)
                .map(|(_, slot)| *slot)
                .collect();
            self.groups[group].respawns.retain(|(at, _)| now < *at);
            for slot in due {
                if self.phase != Phase::Stopping {
                    self.start_worker(group, slot, None)?;
                }
            }
            let retries: Vec<(WorkerId, Why)> = self.groups[group]
                .retries
                .iter()
                .filter(|(at, _, _)| now >= *at)
                .map(|(_, old, why)| (*old, *why))
                .collect();
            self.groups[group].retries.retain(|(at, _, _)| now < *at);
            for (old, why) in retries {
                self.queue_replacement(old, why);
            }
        }
        Ok(())
    }
}

/// The next tick of `interval`; never without one.
async fn tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Writes the supervisor's pid, for `kill $(cat ...)` and service managers.
fn write_pid_file(config: &ServerConfig) {
    if let Err(err) = std::fs::write(&config.pid_file, format!("{}\n", std::process::id())) {
        tracing::warn!(
            "cannot write the pid file {}: {err}",
            config.pid_file.display()
        );
    }
}
