//! Log writes that failed: a full disk, a file that cannot be written, a closed terminal.
//!
//! A log that cannot be written never stops the server: the line is dropped and counted
//! ([`write_failures`], for the metrics), and the outage is reported once, when it starts, and
//! once more when the log can be written again — never once per line, which would fill whatever
//! the report goes to as fast as the requests come.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Lines this process could not write to a log, since it started.
static FAILURES: AtomicU64 = AtomicU64::new(0);

/// How many lines this process could not write to one of its logs (error, access or start-up
/// log) since it started.
pub fn write_failures() -> u64 {
    FAILURES.load(Ordering::Relaxed)
}

/// The state of one log: whether its writes are failing, and how many lines were lost since.
#[derive(Debug, Default)]
pub(crate) struct Outage {
    failing: AtomicBool,
    lost: AtomicU64,
}

/// What a write's outcome changes about a log's outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// Nothing to report.
    Same,
    /// Writes started failing with this write: report it.
    Started,
    /// Writes succeed again after this many lines were lost: report it.
    Ended(u64),
}

impl Outage {
    pub(crate) const fn new() -> Outage {
        Outage {
            failing: AtomicBool::new(false),
            lost: AtomicU64::new(0),
        }
    }

    /// Records that `lines` lines could not be written.
    pub(crate) fn failed(&self, lines: u64) -> Change {
        FAILURES.fetch_add(lines, Ordering::Relaxed);
        self.lost.fetch_add(lines, Ordering::Relaxed);
        if self.failing.swap(true, Ordering::AcqRel) {
            Change::Same
        } else {
            Change::Started
        }
    }

    /// Records a successful write.
    pub(crate) fn succeeded(&self) -> Change {
        // The common case costs one load.
        if !self.failing.load(Ordering::Acquire) || !self.failing.swap(false, Ordering::AcqRel) {
            return Change::Same;
        }
        Change::Ended(self.lost.swap(0, Ordering::AcqRel))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_reported_when_it_starts_and_ends_not_per_line() {
        let outage = Outage::new();
        let before = write_failures();
        assert_eq!(outage.succeeded(), Change::Same);
        assert_eq!(outage.failed(1), Change::Started);
        assert_eq!(outage.failed(3), Change::Same);
        assert_eq!(outage.failed(1), Change::Same);
        assert!(write_failures() >= before + 5);
        assert_eq!(outage.succeeded(), Change::Ended(5));
        assert_eq!(outage.succeeded(), Change::Same);
        assert_eq!(outage.failed(1), Change::Started);
    }
}
