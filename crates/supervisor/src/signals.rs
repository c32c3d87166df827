//! What the supervisor does on a signal: SIGTERM and SIGINT stop the server (with
//! `--drain-delay`, after serving a while with `/ready` at 503), SIGHUP and SIGUSR1 restart the
//! workers one by one, SIGUSR2 reopens the log files.

use std::time::{Duration, Instant};

use oxwsgi_logging::notice;
use oxwsgi_scoreboard::BoardState;

use crate::metrics::ExitReason;
use crate::worker::{Event, SignalKind, WorkerId, WorkerState};
use crate::{Phase, Supervisor, SupervisorError, Why};

impl Supervisor {
    pub(crate) fn watch_signals(&self) -> Result<(), SupervisorError> {
        use tokio::signal::unix::{SignalKind as Kind, signal};
        for (kind, ours) in [
            (Kind::terminate(), SignalKind::Terminate),
            (Kind::interrupt(), SignalKind::Interrupt),
            (Kind::hangup(), SignalKind::Hangup),
            (Kind::user_defined1(), SignalKind::User1),
            (Kind::user_defined2(), SignalKind::User2),
        ] {
            let mut stream = signal(kind).map_err(|source| SupervisorError::Io {
                what: "cannot install signal handlers",
                source,
            })?;
            let events = self.events_tx.clone();
            tokio::spawn(async move {
                while stream.recv().await.is_some() {
                    let _ = events.send(Event::Signal(ours));
                }
            });
        }
        Ok(())
    }

    pub(crate) fn on_signal(&mut self, signal: SignalKind) {
        match signal {
            SignalKind::Terminate | SignalKind::Interrupt => {
                if self.phase == Phase::Stopping {
                    if signal == SignalKind::Interrupt {
                        notice!("caught a second SIGINT: stopping the workers at once");
                        self.kill_all();
                    } else if self.drain_at.take().is_some() {
                        notice!("caught a second SIGTERM: draining the workers now");
                        self.drain_all();
                    }
                    return;
                }
                // SIGTERM is how load balancers' orchestrators stop an instance: with
                // --drain-delay, it keeps serving (and /ready says 503) for that long first.
                let delay = match signal {
                    SignalKind::Terminate if self.phase == Phase::Running => {
                        self.config.operations.drain_delay
                    }
                    _ => Duration::ZERO,
                };
                if delay.is_zero() {
                    notice!(
                        "caught {}: draining the workers, then stopping",
                        signal.name()
                    );
                } else {
                    notice!(
                        "caught {}: /ready answers 503 now; draining the workers in {}s \
                         (--drain-delay), then stopping",
                        signal.name(),
                        delay.as_secs()
                    );
                }
                // First of all: a load balancer polling /ready stops sending here while the
                // workers still accept.
                self.observed.set_ready(false);
                self.phase = Phase::Stopping;
                self.reloading = false;
                self.notifier.stopping(&format!(
                    "{}: draining the workers, then stopping",
                    signal.name()
                ));
                let longest = self
                    .config
                    .groups
                    .iter()
                    .map(|g| g.lifecycle.graceful_timeout + g.lifecycle.shutdown_timeout)
                    .max()
                    .unwrap_or_default();
                self.stop_deadline = Some(Instant::now() + delay + longest);
                for group in &mut self.groups {
                    group.pending.clear();
                    group.respawns.clear();
                    group.retries.clear();
                }
                self.cancel_service_restarts();
                if delay.is_zero() {
                    self.drain_all();
                } else {
                    self.drain_at = Some(Instant::now() + delay);
                }
            }
            SignalKind::User2 => {
                self.reopen_logs();
                // Written after the reopen: the first line of the new error log.
                notice!("caught SIGUSR2: reopened the log files and told the workers to");
            }
            SignalKind::Hangup | SignalKind::User1 => {
                if self.phase == Phase::Spawning {
                    // The workers starting now read the same files; one restart after they
                    // serve does what was asked.
                    self.held_restart = Some(signal);
                    return;
                }
                if self.phase != Phase::Running {
                    return;
                }
                notice!(
                    "caught {}: restarting the workers one by one",
                    signal.name()
                );
                let ready: Vec<WorkerId> = self
                    .workers
                    .iter()
                    .filter(|w| w.state == WorkerState::Ready)
                    .map(|w| w.id)
                    .collect();
                if !ready.is_empty() {
                    self.reloading = true;
                    self.notifier.reloading(&format!(
                        "{}: restarting the workers one by one",
                        signal.name()
                    ));
                }
                for id in ready {
                    self.queue_replacement(id, Why::Signal(signal));
                }
            }
        }
    }

    /// Reopens the supervisor's log files and tells every worker that serves or drains to
    /// reopen its own: after a rotation, or on SIGUSR2. A starting worker is told when it
    /// becomes ready (its signal handler is in place only then).
    pub(crate) fn reopen_logs(&mut self) {
        self.log_generation += 1;
        for err in oxwsgi_logging::reopen_all() {
            tracing::error!("{err}; its lines go on to the renamed file");
        }
        let generation = self.log_generation;
        for worker in &mut self.workers {
            if matches!(worker.state, WorkerState::Ready | WorkerState::Draining) && !worker.killed
            {
                worker.reopen_logs(generation);
            }
        }
    }

    /// Makes the listening sockets take no new connection ([`Bound::refuse_new_connections`]):
    /// the server stops, and a load balancer in front is to send new requests elsewhere
    /// rather than into a queue that would be reset at exit.
    ///
    /// [`Bound::refuse_new_connections`]: oxwsgi_process::sockets::Bound::refuse_new_connections
    pub(crate) fn refuse_new_connections(&self) {
        for (socket, config) in self.sockets.listeners.iter().zip(&self.config.listeners) {
            if let Err(err) = socket.refuse_new_connections(config) {
                tracing::warn!(
                    "cannot make {} refuse new connections while the workers drain: {err}",
                    socket.describe()
                );
            }
        }
    }

    /// Tells the service manager a rolling restart is over, once no group has a replacement
    /// pending or under way. A replacement that failed to start leaves the old worker serving
    /// (and is tried again later): the restart is over all the same.
    pub(crate) fn check_reloaded(&mut self) {
        if !self.reloading || self.phase != Phase::Running {
            return;
        }
        let busy = self
            .groups
            .iter()
            .any(|g| !g.pending.is_empty() || g.replacing.is_some());
        if !busy {
            self.reloading = false;
            self.notifier.ready(&self.serving_status());
        }
    }

    /// What the service manager shows while the server serves.
    pub(crate) fn serving_status(&self) -> String {
        let processes: usize = self.config.groups.iter().map(|g| g.processes).sum();
        let addresses: Vec<String> = self
            .sockets
            .listeners
            .iter()
            .map(|l| l.describe())
            .collect();
        format!(
            "serving {} with {processes} worker process(es)",
            addresses.join(", ")
        )
    }

    /// Tells every worker to drain: the stop proper. The listening sockets take no new
    /// connection from now on (see [`Supervisor::refuse_new_connections`]).
    pub(crate) fn drain_all(&mut self) {
        self.refuse_new_connections();
        for worker in &mut self.workers {
            if worker.state == WorkerState::Draining {
                continue;
            }
            worker.drain(ExitReason::Stop);
            if let Some(board) = worker.board {
                self.scoreboard
                    .set_state(worker.group, board, BoardState::Draining);
            }
        }
    }

    pub(crate) fn kill_all(&mut self) {
        for worker in &mut self.workers {
            worker.kill();
        }
        self.kill_services();
    }
}
