//! Side services (`--service-script`): one process per service, started with the first
//! workers, started again whenever it dies (after a back-off that grows while it keeps dying
//! soon after starting, up to [`MAX_BACKOFF`]: a broken service must not eat the machine, nor
//! stop the server, whose requests do not depend on it), and stopped last when the server
//! stops: once every worker has exited (a request draining may still talk to it), SIGTERM,
//! then SIGKILL after the shutdown timeout.
//!
//! A service is followed by its exit alone: it reports nothing on the control pipe, and the
//! supervisor signals it, like a worker, only through the task that owns its child process.

use std::process::ExitStatus;
use std::time::Instant;

use oxwsgi_logging::notice;

use crate::replacement::backoff;
use crate::worker::{self, SignalSender, WorkerId, describe_exit};
use crate::{MAX_BACKOFF, Phase, QUICK_CRASH, Supervisor};

/// One service, as the supervisor follows it.
#[derive(Debug, Default)]
pub(crate) struct ServiceSlot {
    /// Its process, while it runs.
    running: Option<ServiceProcess>,
    /// Deaths in a row that came soon after a start.
    quick_deaths: u32,
    /// When to start it again, after it died.
    respawn_at: Option<Instant>,
}

/// A running service process.
#[derive(Debug)]
struct ServiceProcess {
    id: WorkerId,
    pid: u32,
    since: Instant,
    signals: SignalSender,
    /// Told to stop (SIGTERM sent): SIGKILL follows at this moment.
    kill_at: Option<Instant>,
    /// SIGKILL sent: only its exit is awaited.
    killed: bool,
}

impl ServiceProcess {
    fn signal(&self, signal: rustix::process::Signal) {
        let _ = self.signals.send(signal);
    }
}

impl Supervisor {
    /// Starts every service (with the first workers).
    pub(crate) fn start_services(&mut self) {
        for index in 0..self.config.services.len() {
            self.start_service(index);
        }
    }

    /// Starts service `index`; a failure to start the process is retried later.
    fn start_service(&mut self, index: usize) {
        let id = self.next_id;
        self.next_id += 1;
        let name = self.config.services[index].name.clone();
        let spawned = worker::spawn(
            &self.launcher,
            &self.exe,
            &self.config,
            &self.sockets,
            worker::Kind::Service(index),
            id,
            &self.events_tx,
        );
        let slot = &mut self.services[index];
        slot.respawn_at = None;
        match spawned {
            Ok(worker::Spawned { pid, signals }) => {
                notice!("service '{name}' started (pid {pid})");
                slot.running = Some(ServiceProcess {
                    id,
                    pid,
                    since: Instant::now(),
                    signals,
                    kill_at: None,
                    killed: false,
                });
            }
            Err(err) => {
                slot.quick_deaths += 1;
                let wait = backoff(slot.quick_deaths).min(MAX_BACKOFF);
                tracing::error!(
                    "cannot start the process of service '{name}': {err}; trying again in \
                     {:.1}s",
                    wait.as_secs_f64()
                );
                slot.respawn_at = Some(Instant::now() + wait);
            }
        }
    }

    /// Handles the exit of process `id` if it is a service's (and says whether it was): when
    /// the server is not stopping, the service starts again, at once if it had run a while,
    /// else after a back-off.
    pub(crate) fn on_service_exit(&mut self, id: WorkerId, status: ExitStatus) -> bool {
        let Some(index) = self
            .services
            .iter()
            .position(|s| s.running.as_ref().is_some_and(|p| p.id == id))
        else {
            return false;
        };
        let stopping = self.phase == Phase::Stopping;
        let name = &self.config.services[index].name;
        let slot = &mut self.services[index];
        let Some(process) = slot.running.take() else {
            return true;
        };
        let how = describe_exit(status, true);
        if stopping || process.kill_at.is_some() {
            notice!("service '{name}' (pid {}) stopped: {how}", process.pid);
            return true;
        }
        if process.since.elapsed() > QUICK_CRASH {
            slot.quick_deaths = 0;
        } else {
            slot.quick_deaths += 1;
        }
        let wait = backoff(slot.quick_deaths).min(MAX_BACKOFF);
        tracing::error!(
            "service '{name}' (pid {}) exited: {how}; starting it again in {:.1}s",
            process.pid,
            wait.as_secs_f64()
        );
        slot.respawn_at = Some(Instant::now() + wait);
        true
    }

    /// Whether any service process is still running.
    pub(crate) fn services_running(&self) -> bool {
        self.services.iter().any(|s| s.running.is_some())
    }

    /// Tells every running service to stop (SIGTERM), to be killed after the shutdown
    /// timeout; none is started again. Called once the workers are gone.
    pub(crate) fn stop_services(&mut self) {
        let grace = self
            .config
            .groups
            .iter()
            .map(|g| g.lifecycle.shutdown_timeout)
            .max()
            .unwrap_or_default();
        for (index, slot) in self.services.iter_mut().enumerate() {
            slot.respawn_at = None;
            if let Some(process) = slot.running.as_mut().filter(|p| p.kill_at.is_none()) {
                tracing::info!(
                    "stopping service '{}' (pid {})",
                    self.config.services[index].name,
                    process.pid
                );
                process.signal(rustix::process::Signal::TERM);
                process.kill_at = Some(Instant::now() + grace);
            }
        }
    }

    /// Forgets the services' pending restarts (the server stops).
    pub(crate) fn cancel_service_restarts(&mut self) {
        for slot in &mut self.services {
            slot.respawn_at = None;
        }
    }

    /// Kills every service process at once.
    pub(crate) fn kill_services(&mut self) {
        for process in self.services.iter_mut().filter_map(|s| s.running.as_mut()) {
            process.signal(rustix::process::Signal::KILL);
            process.killed = true;
        }
    }

    /// The earliest restart or kill due.
    pub(crate) fn services_deadline(&self) -> Option<Instant> {
        self.services
            .iter()
            .flat_map(|slot| {
                let kill = slot
                    .running
                    .as_ref()
                    .filter(|p| !p.killed)
                    .and_then(|p| p.kill_at);
                [slot.respawn_at, kill]
            })
            .flatten()
            .min()
    }

    /// Restarts and kills that are due.
    pub(crate) fn on_service_deadlines(&mut self, now: Instant) {
        for index in 0..self.services.len() {
            let slot = &mut self.services[index];
            if let Some(process) = slot.running.as_mut() {
                if !process.killed && process.kill_at.is_some_and(|at| now >= at) {
                    tracing::warn!(
                        "service '{}' (pid {}) still running after the shutdown timeout; \
                         killing it",
                        self.config.services[index].name,
                        process.pid
                    );
                    process.signal(rustix::process::Signal::KILL);
                    process.killed = true;
                }
            }
            let due = slot.respawn_at.is_some_and(|at| now >= at);
            if due && self.phase != Phase::Stopping {
                self.start_service(index);
            }
        }
    }
}
