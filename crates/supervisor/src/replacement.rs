//! Replacing workers: asked by a worker (recycling, a stuck request, a changed script) or by a
//! signal, new first, one at a time per group; and what happens when one exits, with the
//! back-off that keeps a crash loop from eating the machine.

use std::process::ExitStatus;
use std::time::{Duration, Instant};

use oxwsgi_logging::notice;
use oxwsgi_process::ReplaceReason;

use crate::metrics::ExitReason;
use crate::worker::{WorkerId, WorkerState, describe_exit};
use crate::{
    CRASH_LOOP_STARTS, LONE_BACKOFF, MAX_BACKOFF, Phase, QUICK_CRASH, Replacing, Supervisor,
    SupervisorError, Why,
};

impl Supervisor {
    pub(crate) fn queue_replacement(&mut self, id: WorkerId, why: Why) {
        let Some(worker) = self.workers.iter().find(|w| w.id == id) else {
            return;
        };
        let group = worker.group;
        let already = self.groups[group].pending.iter().any(|(old, _)| *old == id)
            || self.workers.iter().any(|w| w.replaces == Some(id));
        if worker.state != WorkerState::Ready || already || self.phase == Phase::Stopping {
            return;
        }
        notice!(
            "worker {} of '{}' (pid {}) will be replaced: {why}",
            worker.slot,
            self.config.group_title(group),
            worker.pid
        );
        self.groups[group].pending.push_back((id, why));
        if self.phase == Phase::Running {
            if let Err(err) = self.start_next_replacement(group) {
                tracing::error!("{err}");
            }
        }
    }

    /// Starts the next pending replacement of `group`, unless one is under way.
    pub(crate) fn start_next_replacement(&mut self, group: usize) -> Result<(), SupervisorError> {
        if self.groups[group].replacing.is_some() || self.phase != Phase::Running {
            return Ok(());
        }
        while let Some((old, why)) = self.groups[group].pending.pop_front() {
            let Some(slot) = self
                .workers
                .iter()
                .find(|w| w.id == old && w.state == WorkerState::Ready)
                .map(|w| w.slot)
            else {
                continue;
            };
            let new = self.start_worker(group, slot, Some(old))?;
            self.groups[group].replacing = Some(Replacing { new, old, why });
            return Ok(());
        }
        Ok(())
    }

    pub(crate) fn on_exit(
        &mut self,
        id: WorkerId,
        status: ExitStatus,
    ) -> Result<(), SupervisorError> {
        let Some(index) = self.workers.iter().position(|w| w.id == id) else {
            return Ok(());
        };
        let worker = self.workers.remove(index);
        let reason = worker.exit_reason.unwrap_or(match worker.state {
            WorkerState::Starting => ExitReason::FailedStart,
            _ if self.phase == Phase::Stopping => ExitReason::Stop,
            _ if status.code() == Some(oxwsgi_process::exit_status::DEADLOCK) => {
                ExitReason::Deadlock
            }
            _ => ExitReason::Crash,
        });
        self.observed.exited(worker.group, reason);
        if let Some(board) = worker.board {
            self.scoreboard.release(worker.group, board);
        }
        let group_name = self.config.group_title(worker.group);
        let how = describe_exit(status, !matches!(worker.state, WorkerState::Starting));
        let (slot, pid, group) = (worker.slot, worker.pid, worker.group);
        match worker.state {
            WorkerState::Draining => {
                // It served until it was replaced (recycled, restarted): the application works,
                // so earlier quick deaths no longer point at a crash loop.
                self.groups[group].quick_crashes = 0;
                notice!("worker {slot} of '{group_name}' (pid {pid}) stopped: {how}");
            }
            _ if self.phase == Phase::Stopping => {
                notice!("worker {slot} of '{group_name}' (pid {pid}) stopped: {how}");
            }
            WorkerState::Starting if self.phase == Phase::Spawning => {
                // The worker printed why (its traceback and a hint); stop everything.
                self.kill_all();
                return Err(SupervisorError::FirstStart {
                    group: group_name,
                    status: how,
                });
            }
            WorkerState::Starting => {
                self.groups[group].failed_starts += 1;
                let failures = self.groups[group].failed_starts;
                tracing::error!(
                    "worker {slot} of '{group_name}' (pid {pid}) failed to start: {how}"
                );
                if worker.replaces.is_some() {
                    let replacing = self.groups[group].replacing.take();
                    tracing::error!(
                        "the worker it was to replace keeps serving with the code it has"
                    );
                    if let Some(replacing) = replacing.filter(|r| r.new == id) {
                        self.retry_replacement(group, replacing, failures);
                    }
                    self.start_next_replacement(group)?;
                } else {
                    self.schedule_respawn(group, slot, failures, MAX_BACKOFF);
                }
                let serving = self
                    .workers
                    .iter()
                    .any(|w| w.group == group && w.state == WorkerState::Ready);
                if failures >= CRASH_LOOP_STARTS && !serving {
                    self.kill_all();
                    return Err(SupervisorError::CrashLoop {
                        group: group_name,
                        slot,
                        status: how,
                    });
                }
            }
            WorkerState::Ready => {
                tracing::error!(
                    "worker {slot} of '{group_name}' (pid {pid}) exited unexpectedly: {how}; \
                     starting a replacement"
                );
                self.groups[group].pending.retain(|(old, _)| *old != id);
                let replacement_under_way = self.workers.iter().any(|w| w.replaces == Some(id));
                if !replacement_under_way {
                    // A worker that ran a while before dying gets replaced at once; one that
                    // keeps dying quickly waits longer each time.
                    let state = &mut self.groups[group];
                    if worker.since.elapsed() > QUICK_CRASH {
                        state.quick_crashes = 0;
                    } else {
                        state.quick_crashes += 1;
                    }
                    let failures = state.quick_crashes;
                    // With no other worker of the group serving, a long wait is an outage: the
                    // back-off then protects the machine, not the service, and a second is
                    // enough for that (Apache restarts a daemon process at once).
                    let others_serving = self
                        .workers
                        .iter()
                        .any(|w| w.group == group && matches!(w.state, WorkerState::Ready));
                    self.schedule_respawn(group, slot, failures, longest_backoff(others_serving));
                }
            }
        }
        Ok(())
    }

    /// Tries a failed replacement again after a back-off, unless it was for a changed script
    /// or module: the worker asks again when the code changes again (presumably fixed).
    pub(crate) fn retry_replacement(&mut self, group: usize, failed: Replacing, failures: u32) {
        if let Why::Asked(ReplaceReason::ScriptChanged | ReplaceReason::CodeChanged) = failed.why {
            return;
        }
        let at = Instant::now() + backoff(failures);
        self.groups[group]
            .retries
            .push((at, failed.old, failed.why));
    }

    pub(crate) fn schedule_respawn(
        &mut self,
        group: usize,
        slot: usize,
        failures: u32,
        longest: Duration,
    ) {
        let backoff = backoff(failures).min(longest);
        if !backoff.is_zero() {
            notice!(
                "worker {slot} of '{}' starts again in {:.1}s",
                self.config.group_title(group),
                backoff.as_secs_f64()
            );
        }
        self.groups[group]
            .respawns
            .push((Instant::now() + backoff, slot));
    }
}

/// The longest wait before a crashed serving worker is started again: long when others of its
/// group serve meanwhile, short when it was the last.
pub(crate) fn longest_backoff(others_serving: bool) -> Duration {
    if others_serving {
        MAX_BACKOFF
    } else {
        LONE_BACKOFF
    }
}

/// How long to wait before trying again after `failures` failures in a row.
pub(crate) fn backoff(failures: u32) -> Duration {
    if failures == 0 {
        Duration::ZERO
    } else {
        (Duration::from_millis(500) * 2u32.saturating_pow(failures.min(8))).min(MAX_BACKOFF)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(crate) fn quick_crashes_wait_longer_each_time_up_to_a_limit() {
        let waits: Vec<_> = (0..8).map(backoff).collect();
        assert_eq!(waits[0], Duration::ZERO);
        assert_eq!(waits[1], Duration::from_secs(1));
        assert_eq!(waits[2], Duration::from_secs(2));
        assert_eq!(waits[3], Duration::from_secs(4));
        assert!(waits.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(backoff(100), MAX_BACKOFF);
    }

    #[test]
    pub(crate) fn the_last_serving_worker_is_never_kept_down_long() {
        assert_eq!(backoff(6).min(longest_backoff(true)), MAX_BACKOFF);
        assert_eq!(backoff(6).min(longest_backoff(false)), LONE_BACKOFF);
    }
}
