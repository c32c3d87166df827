//! The control pipe: one line per report from a worker to its supervisor.
//!
//! Reports are text lines (`ready`, `replace maximum-requests`), so the protocol can be read in
//! `strace` output and needs no framing beyond the newline. The supervisor talks back with
//! signals only: SIGTERM asks a worker to drain and exit, SIGKILL ends it.

use std::fmt;

/// What a worker tells its supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// The application is loaded and the worker accepts connections.
    Ready,
    /// The worker should be replaced: the supervisor starts a new one and, once that is ready,
    /// tells this one to drain.
    Replace(ReplaceReason),
}

/// Why a worker asks to be replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplaceReason {
    /// It has handled `--maximum-requests` requests.
    MaximumRequests,
    /// It has run for `--restart-interval`.
    RestartInterval,
    /// It has had no request for `--inactivity-timeout`.
    InactivityTimeout,
    /// A request ran past `--request-timeout`; the thread running it is stuck.
    RequestTimeout,
    /// The application's entry file changed.
    ScriptChanged,
    /// It used its `--cpu-time-limit` of CPU time (SIGXCPU).
    CpuTimeLimit,
    /// An allocation failed (`MemoryError`) under its `--memory-limit` or
    /// `--virtual-memory-limit`.
    MemoryLimit,
    /// Its resident memory passed `--maximum-rss-size` (the supervisor found it).
    MaximumRss,
    /// The source file of a module it imported, or a file `--reload-on-changes=GLOB` names,
    /// changed.
    CodeChanged,
}

impl ReplaceReason {
    const ALL: [ReplaceReason; 9] = [
        ReplaceReason::MaximumRequests,
        ReplaceReason::RestartInterval,
        ReplaceReason::InactivityTimeout,
        ReplaceReason::RequestTimeout,
        ReplaceReason::ScriptChanged,
        ReplaceReason::CpuTimeLimit,
        ReplaceReason::MemoryLimit,
        ReplaceReason::MaximumRss,
        ReplaceReason::CodeChanged,
    ];

    /// The reason's name on the wire and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ReplaceReason::MaximumRequests => "maximum-requests",
            ReplaceReason::RestartInterval => "restart-interval",
            ReplaceReason::InactivityTimeout => "inactivity-timeout",
            ReplaceReason::RequestTimeout => "request-timeout",
            ReplaceReason::ScriptChanged => "script-changed",
            ReplaceReason::CpuTimeLimit => "cpu-time-limit",
            ReplaceReason::MemoryLimit => "memory-limit",
            ReplaceReason::MaximumRss => "maximum-rss-size",
            ReplaceReason::CodeChanged => "code-changed",
        }
    }
}

impl fmt::Display for ReplaceReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Report {
    /// The report as one line, newline included.
    pub fn encode(self) -> String {
        match self {
            Report::Ready => "ready\n".to_owned(),
            Report::Replace(reason) => format!("replace {reason}\n"),
        }
    }

    /// Parses one line (without its newline); `None` for anything else.
    pub fn decode(line: &str) -> Option<Report> {
        match line.trim_end().split_once(' ') {
            None if line.trim_end() == "ready" => Some(Report::Ready),
            Some(("replace", reason)) => ReplaceReason::ALL
                .into_iter()
                .find(|r| r.as_str() == reason)
                .map(Report::Replace),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_round_trip() {
        for report in [
            Report::Ready,
            Report::Replace(ReplaceReason::MaximumRequests),
            Report::Replace(ReplaceReason::ScriptChanged),
            Report::Replace(ReplaceReason::CpuTimeLimit),
            Report::Replace(ReplaceReason::MemoryLimit),
            Report::Replace(ReplaceReason::MaximumRss),
            Report::Replace(ReplaceReason::CodeChanged),
        ] {
            assert_eq!(Report::decode(&report.encode()), Some(report));
        }
    }

    #[test]
    fn unknown_lines_are_ignored() {
        assert_eq!(Report::decode("hello"), None);
        assert_eq!(Report::decode("replace nothing"), None);
    }
}
