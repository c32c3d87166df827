//! `--maximum-rss-size`: a worker whose resident memory passed the group's limit is replaced
//! gracefully, new first, like a recycled one: no request fails. The supervisor reads each
//! worker's RSS from `/proc` once a second (as `/metrics` does), so requests pay nothing, and a
//! worker grows past the limit by at most what it allocates in a second before it is noticed.

use oxwsgi_logging::notice;
use oxwsgi_process::ReplaceReason;

use crate::worker::WorkerState;
use crate::{Supervisor, Why};

impl Supervisor {
    /// Whether any group has a resident-memory limit to check.
    pub(crate) fn limits_resident_memory(&self) -> bool {
        self.config
            .groups
            .iter()
            .any(|g| g.lifecycle.limits.maximum_rss.is_some())
    }

    /// Queues the replacement of each serving worker over its group's limit (once).
    pub(crate) fn check_resident_memory(&mut self) {
        let over: Vec<_> = self
            .workers
            .iter()
            .filter(|w| w.state == WorkerState::Ready)
            .filter(|w| {
                let queued = self.groups[w.group]
                    .pending
                    .iter()
                    .any(|(id, _)| *id == w.id);
                let replacing = self.workers.iter().any(|n| n.replaces == Some(w.id));
                !queued && !replacing
            })
            .filter_map(|w| {
                let limit = self.config.group(w.group).lifecycle.limits.maximum_rss?;
                let rss = crate::prometheus::resident_bytes(w.pid)?;
                (rss > limit).then_some((w.id, w.slot, w.group, w.pid, rss, limit))
            })
            .collect();
        for (id, slot, group, pid, rss, limit) in over {
            notice!(
                "worker {slot} of '{}' (pid {pid}) has {} MB resident, past --maximum-rss-size \
                 ({} MB)",
                self.config.group_title(group),
                rss >> 20,
                limit >> 20
            );
            self.queue_replacement(id, Why::Asked(ReplaceReason::MaximumRss));
        }
    }
}
