//! What a worker process may use before it is replaced, and how a stuck or evicted one is let
//! go: mod_wsgi's `cpu-time-limit`, `memory-limit` and `virtual-memory-limit` (kernel resource
//! limits of each worker, as mod_wsgi sets them with `setrlimit`), a resident-memory limit past
//! which a worker is recycled gracefully (beyond mod_wsgi; uWSGI's `reload-on-rss`),
//! `interrupt-timeout` (a request past the request timeout first gets `mod_wsgi.RequestTimeout`
//! raised in its thread) and `eviction-timeout` (the grace of a worker replaced by a restart
//! signal). The command line ([`WorkerLimitsArgs`]) and `WSGIDaemonProcess` options both make a
//! [`WorkerLimits`].
//!
//! Two express options of the same family land elsewhere in the model: `--response-socket-timeout`
//! is [`crate::HttpSettings::socket_timeout`] (oxwsgi's socket timeout is already only the time a
//! response may wait for the client to read), and `--connect-timeout` is
//! [`crate::ProcessGroup::connect_timeout`] (the wait for room in a worker's full request queue,
//! as mod_wsgi's is the wait for room in a daemon's full listen queue).

use std::time::Duration;

use clap::Args;
use serde::{Deserialize, Serialize};

/// Limits of each worker process of a group; nothing is limited by default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerLimits {
    /// CPU time a worker may use (`RLIMIT_CPU`). Past it the kernel sends SIGXCPU and the
    /// worker is replaced gracefully; the hard limit, a second plus the shutdown timeout later,
    /// kills a worker that has not gone by then (as mod_wsgi sets it).
    pub cpu_time: Option<Duration>,
    /// Bytes of data segment (heap) a worker may have (`RLIMIT_DATA`, mod_wsgi's
    /// `memory-limit`). An allocation past it fails: Python raises `MemoryError`, the request
    /// gets a 500 and the worker is replaced gracefully.
    pub memory: Option<u64>,
    /// Bytes of address space a worker may have (`RLIMIT_AS`, mod_wsgi's
    /// `virtual-memory-limit`); past it, as for `memory`.
    pub virtual_memory: Option<u64>,
    /// Resident memory (RSS) past which the supervisor replaces a worker gracefully: its
    /// replacement starts first, then it finishes the requests it has. Read from `/proc` by the
    /// supervisor once a second, so requests pay nothing.
    pub maximum_rss: Option<u64>,
    /// With a request timeout: a request past it first gets `mod_wsgi.RequestTimeout` raised in
    /// its Python thread and a 504; the worker is replaced only if the request has not unwound
    /// this long after.
    pub interrupt_timeout: Option<Duration>,
    /// The graceful timeout of a worker replaced because of a restart signal (SIGHUP, SIGUSR1),
    /// instead of the graceful timeout.
    pub eviction_timeout: Option<Duration>,
}

impl WorkerLimits {
    /// The hard `RLIMIT_CPU`: the soft one plus a second plus the shutdown timeout, as mod_wsgi
    /// sets it, so a worker that ignores SIGXCPU is killed by the kernel.
    pub fn cpu_time_hard(&self, shutdown_timeout: Duration) -> Option<u64> {
        self.cpu_time.map(|soft| {
            soft.as_secs()
                .saturating_add(1)
                .saturating_add(shutdown_timeout.as_secs())
        })
    }
}

/// The command line's options for [`WorkerLimits`], and the two express timeouts of the same
/// family.
#[derive(Debug, Clone, Default, Args)]
pub struct WorkerLimitsArgs {
    /// Seconds of CPU time each worker process may use (RLIMIT_CPU); when it has used them it
    /// is replaced gracefully (its replacement starts first, it finishes its requests within
    /// --graceful-timeout), and killed if it is still there --shutdown-timeout seconds later. 0
    /// sets no limit.
    #[arg(
        long,
        default_value_t = 0,
        value_name = "SECONDS",
        help_heading = "Worker limits"
    )]
    pub cpu_time_limit: u64,

    /// Bytes of heap (data segment, RLIMIT_DATA, as mod_wsgi's memory-limit) each worker
    /// process may have. An allocation past it fails: Python raises MemoryError, the request
    /// gets a 500, and the worker is replaced gracefully. 0 sets no limit.
    #[arg(
        long,
        default_value_t = 0,
        value_name = "BYTES",
        help_heading = "Worker limits"
    )]
    pub memory_limit: u64,

    /// Bytes of address space (RLIMIT_AS, as mod_wsgi's virtual-memory-limit) each worker
    /// process may have; past it, as for --memory-limit. Python threads reserve their stacks
    /// in it: leave room. 0 sets no limit.
    #[arg(
        long,
        default_value_t = 0,
        value_name = "BYTES",
        help_heading = "Worker limits"
    )]
    pub virtual_memory_limit: u64,

    /// Replace a worker process gracefully once its resident memory (RSS) passes this many
    /// megabytes: its replacement starts first, then it finishes the requests it has, so no
    /// request fails. Checked by the supervisor once a second (requests pay nothing). Also
    /// --reload-on-rss, uWSGI's name. 0 never does.
    #[arg(
        long,
        visible_alias = "reload-on-rss",
        default_value_t = 0,
        value_name = "MEGABYTES",
        help_heading = "Worker limits"
    )]
    pub maximum_rss_size: u64,

    /// When a request passes --request-timeout, first raise mod_wsgi.RequestTimeout (a
    /// BaseException) in the Python thread running it and answer 504; the thread serves on if
    /// the request unwinds, and the worker process is replaced only if it has not unwound this
    /// many seconds later. Code blocked in C (time.sleep, a socket read) sees the exception only
    /// when it returns. 0: the worker is replaced at once.
    #[arg(
        long,
        default_value_t = 0,
        value_name = "SECONDS",
        help_heading = "Worker limits"
    )]
    pub interrupt_timeout: u64,

    /// Seconds a worker replaced because of a restart signal (SIGHUP, SIGUSR1) has to finish
    /// its requests, instead of --graceful-timeout; 0 uses --graceful-timeout.
    #[arg(
        long,
        default_value_t = 0,
        value_name = "SECONDS",
        help_heading = "Worker limits"
    )]
    pub eviction_timeout: u64,

    /// Seconds a request arriving when the worker's request queue is full (--daemon-backlog
    /// requests already waiting for a Python thread) waits for room in it before it is answered
    /// 503, as mod_wsgi's Apache child keeps retrying a daemon's full listen queue for this
    /// long. It waits without polling and is queued as soon as a request leaves the queue;
    /// once queued, --queue-timeout bounds its wait for a thread. 0 answers 503 at once.
    #[arg(
        long,
        default_value_t = 15,
        value_name = "SECONDS",
        help_heading = "Worker limits"
    )]
    pub connect_timeout: u64,

    /// Seconds a response may wait for the client to read it before the connection is closed
    /// (mod_wsgi's response-socket-timeout); 0 uses --socket-timeout.
    #[arg(
        long,
        default_value_t = 0,
        value_name = "SECONDS",
        help_heading = "Worker limits"
    )]
    pub response_socket_timeout: u64,
}

impl WorkerLimitsArgs {
    /// The [`WorkerLimits`] these options make.
    pub fn resolve(&self) -> WorkerLimits {
        let seconds = |s: u64| (s > 0).then(|| crate::resolve::seconds(s));
        let bytes = |b: u64| (b > 0).then_some(b);
        WorkerLimits {
            cpu_time: seconds(self.cpu_time_limit),
            memory: bytes(self.memory_limit),
            virtual_memory: bytes(self.virtual_memory_limit),
            maximum_rss: bytes(self.maximum_rss_size.saturating_mul(1024 * 1024)),
            interrupt_timeout: seconds(self.interrupt_timeout),
            eviction_timeout: seconds(self.eviction_timeout),
        }
    }

    /// The time a response may wait for its client: --response-socket-timeout, else
    /// `socket_timeout` (--socket-timeout).
    pub fn response_timeout(&self, socket_timeout: Duration) -> Duration {
        match self.response_socket_timeout {
            0 => socket_timeout,
            seconds => crate::resolve::seconds(seconds),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        limits: WorkerLimitsArgs,
    }

    fn parse(args: &[&str]) -> WorkerLimitsArgs {
        Cli::parse_from(std::iter::once("x").chain(args.iter().copied())).limits
    }

    #[test]
    fn nothing_is_limited_by_default() {
        let args = parse(&[]);
        assert_eq!(args.resolve(), WorkerLimits::default());
        assert_eq!(args.connect_timeout, 15, "express's default");
        assert_eq!(
            args.response_timeout(Duration::from_secs(60)),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn options_make_their_limits() {
        let args = parse(&[
            "--cpu-time-limit",
            "30",
            "--memory-limit",
            "1000000",
            "--virtual-memory-limit",
            "2000000",
            "--reload-on-rss",
            "200",
            "--interrupt-timeout",
            "5",
            "--eviction-timeout",
            "40",
            "--response-socket-timeout",
            "7",
        ]);
        let limits = args.resolve();
        assert_eq!(limits.cpu_time, Some(Duration::from_secs(30)));
        assert_eq!(limits.memory, Some(1_000_000));
        assert_eq!(limits.virtual_memory, Some(2_000_000));
        assert_eq!(limits.maximum_rss, Some(200 * 1024 * 1024));
        assert_eq!(limits.interrupt_timeout, Some(Duration::from_secs(5)));
        assert_eq!(limits.eviction_timeout, Some(Duration::from_secs(40)));
        assert_eq!(
            args.response_timeout(Duration::from_secs(60)),
            Duration::from_secs(7)
        );
        assert_eq!(
            limits.cpu_time_hard(Duration::from_secs(5)),
            Some(36),
            "mod_wsgi's hard limit: soft + 1 + shutdown timeout"
        );
    }
}
