//! When this worker should be replaced: after `--maximum-requests` requests, after
//! `--restart-interval`, after `--inactivity-timeout` without requests, or when the
//! application's entry file changes. The worker only asks; the supervisor starts the
//! replacement and drains this worker once the new one is ready, so no request is lost.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use oxwsgi_config::Lifecycle;
use oxwsgi_config::operations::Operations;
use oxwsgi_process::ReplaceReason;
use tokio::sync::watch;

use crate::control::Control;

/// Request counts the adapter keeps and the lifecycle watches.
#[derive(Debug)]
pub(crate) struct Activity {
    started: Instant,
    requests: AtomicU64,
    in_flight: AtomicUsize,
    last_request_ms: AtomicU64,
    /// The request count that triggers recycling (0: never).
    recycle_after: u64,
    control: Arc<Control>,
    /// Which requests count as activity (`--ignore-activity`).
    operations: Operations,
}

impl Activity {
    pub(crate) fn new(
        lifecycle: &Lifecycle,
        control: Arc<Control>,
        operations: Operations,
    ) -> Activity {
        Activity {
            started: Instant::now(),
            requests: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            last_request_ms: AtomicU64::new(0),
            recycle_after: recycle_after(lifecycle),
            control,
            operations,
        }
    }

    /// Whether a request for `path` keeps the worker from counting as idle: not a health
    /// check's (`--ignore-activity`).
    pub(crate) fn counts(&self, path: &str) -> bool {
        self.operations.counts_as_activity(path)
    }

    fn now(&self) -> Duration {
        self.started.elapsed()
    }

    /// Counts a request that starts; asks for recycling when it is the last one allowed. A
    /// request that is not activity (`counts` false) is counted, but neither keeps the worker
    /// busy nor restarts its idle time.
    pub(crate) fn request_started(&self, counts: bool) {
        self.started_at(self.now(), counts);
    }

    fn started_at(&self, now: Duration, counts: bool) {
        if counts {
            self.in_flight.fetch_add(1, Ordering::Relaxed);
            self.last_request_ms
                .store(now.as_millis() as u64, Ordering::Relaxed);
        }
        let count = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        if count == self.recycle_after {
            self.control.replace(ReplaceReason::MaximumRequests);
        }
    }

    /// Counts a request whose response has been sent (or abandoned). The worker is idle from
    /// now on, not from when the request started: a long stream is activity (mod_wsgi's rule).
    pub(crate) fn request_finished(&self) {
        self.finished_at(self.now());
    }

    fn finished_at(&self, now: Duration) {
        self.last_request_ms
            .fetch_max(now.as_millis() as u64, Ordering::Relaxed);
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Option<Duration> {
        self.idle_at(self.now())
    }

    /// How long no request has been in progress, at `now`; `None` while one is.
    fn idle_at(&self, now: Duration) -> Option<Duration> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let last = Duration::from_millis(self.last_request_ms.load(Ordering::Relaxed));
        Some(now.saturating_sub(last))
    }
}

/// `--maximum-requests` plus a random part of `--maximum-requests-jitter`, fixed per worker so
/// workers started together are recycled at different times.
fn recycle_after(lifecycle: &Lifecycle) -> u64 {
    if lifecycle.maximum_requests == 0 {
        return 0;
    }
    let jitter = if lifecycle.maximum_requests_jitter == 0 {
        0
    } else {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        hasher.finish() % (lifecycle.maximum_requests_jitter + 1)
    };
    lifecycle.maximum_requests + jitter
}

/// Watches the time-based triggers until the worker stops.
pub(crate) async fn watch(
    lifecycle: Lifecycle,
    entry_files: Vec<PathBuf>,
    activity: Arc<Activity>,
    control: Arc<Control>,
    mut stop: watch::Receiver<bool>,
) {
    let mut restart_at = lifecycle
        .restart_interval
        .map(|interval| tokio::time::Instant::now() + interval);
    let mut inactivity_reported = false;
    let mut files = FileWatch::new(entry_files, lifecycle.reload_on_script_change).await;
    // At most one check per second: a `stat` per entry file, so throughput is unaffected.
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {}
        }
        if restart_at.is_some_and(|at| tokio::time::Instant::now() >= at) {
            restart_at = None;
            control.replace(ReplaceReason::RestartInterval);
        }
        if let Some(limit) = lifecycle.inactivity_timeout {
            match activity.idle_for() {
                Some(idle) if idle >= limit && !inactivity_reported => {
                    inactivity_reported = true;
                    control.replace(ReplaceReason::InactivityTimeout);
                }
                Some(idle) if idle < limit => inactivity_reported = false,
                _ => {}
            }
        }
        if files.changed().await {
            control.replace(ReplaceReason::ScriptChanged);
        }
    }
}

/// The modification times of the application's entry files (mod_wsgi's script reloading).
struct FileWatch {
    files: Vec<(PathBuf, Option<SystemTime>)>,
}

impl FileWatch {
    async fn new(paths: Vec<PathBuf>, enabled: bool) -> FileWatch {
        let mut files = Vec::new();
        if enabled {
            for path in paths {
                let modified = modified(&path).await;
                files.push((path, modified));
            }
        }
        FileWatch { files }
    }

    /// Whether a file's modification time differs from the last one seen; each change is
    /// reported once.
    async fn changed(&mut self) -> bool {
        let mut changed = false;
        for (path, seen) in &mut self.files {
            let now = modified(path).await;
            if now.is_some() && now != *seen {
                tracing::info!("{} changed", path.display());
                *seen = now;
                changed = true;
            }
        }
        changed
    }
}

async fn modified(path: &std::path::Path) -> Option<SystemTime> {
    tokio::fs::metadata(path).await.ok()?.modified().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Idle time counts from the end of the last response, not its start: a worker that just
    /// finished a long stream is not idle at all.
    #[test]
    fn idle_time_counts_from_the_end_of_the_last_request() {
        let (reader, writer) = std::io::pipe().unwrap();
        let control = Arc::new(Control::adopt_owned(writer.into()));
        let activity = Activity::new(
            &Lifecycle::mod_wsgi_defaults(),
            control,
            Operations::default(),
        );
        let at = Duration::from_secs;
        activity.started_at(at(10), true);
        assert_eq!(activity.idle_at(at(20)), None, "a request is in progress");
        activity.finished_at(at(22));
        assert_eq!(activity.idle_at(at(22)), Some(at(0)));
        assert_eq!(activity.idle_at(at(25)), Some(at(3)));
        // Overlapping requests: the idle time starts when the last one ends.
        activity.started_at(at(30), true);
        activity.started_at(at(31), true);
        activity.finished_at(at(40));
        activity.finished_at(at(35));
        assert_eq!(activity.idle_at(at(41)), Some(at(1)));
        // A health check (--ignore-activity) neither keeps it busy nor restarts the idle time.
        activity.started_at(at(50), false);
        assert_eq!(activity.idle_at(at(51)), Some(at(11)));
        drop(reader);
    }

    #[test]
    fn recycling_is_off_at_zero_and_jitter_stays_in_range() {
        let mut lifecycle = Lifecycle::mod_wsgi_defaults();
        assert_eq!(recycle_after(&lifecycle), 0);
        lifecycle.maximum_requests = 50;
        assert_eq!(recycle_after(&lifecycle), 50);
        lifecycle.maximum_requests_jitter = 10;
        assert!((50..=60).contains(&recycle_after(&lifecycle)));
    }
}
