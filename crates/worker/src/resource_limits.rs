//! The kernel's resource limits of a worker process (`--cpu-time-limit`, `--memory-limit`,
//! `--virtual-memory-limit`), set on itself before its Python threads start, as mod_wsgi's
//! daemon processes set theirs; and what the worker does when it reaches one: SIGXCPU (CPU time)
//! or a `MemoryError` (memory) make it ask to be replaced, gracefully.
//!
//! mod_wsgi's choices are kept: the CPU limit's hard value is the soft one plus a second plus
//! the shutdown timeout, so a worker still running then is killed by the kernel; the memory
//! limit is the data segment (`RLIMIT_DATA`, which on Linux counts every private writable
//! mapping, so the heap of both Python and the server), the virtual one the address space
//! (`RLIMIT_AS`). A limit that cannot be set is logged and the worker runs without it, as in
//! mod_wsgi. An allocation of the server's own (not Python's) that fails aborts the worker,
//! which the supervisor then starts again.

use std::time::Duration;

use oxwsgi_config::worker_limits::WorkerLimits;
use rustix::process::{Resource, Rlimit, setrlimit};

/// Sets this process's limits.
pub(crate) fn apply(limits: &WorkerLimits, shutdown_timeout: Duration) {
    let wanted = [
        (
            "CPU time",
            Resource::Cpu,
            limits.cpu_time.map(|t| t.as_secs()),
            limits.cpu_time_hard(shutdown_timeout),
        ),
        ("memory", Resource::Data, limits.memory, limits.memory),
        (
            "virtual memory",
            Resource::As,
            limits.virtual_memory,
            limits.virtual_memory,
        ),
    ];
    for (what, resource, soft, hard) in wanted {
        let Some(soft) = soft else { continue };
        let limit = Rlimit {
            current: Some(soft),
            maximum: hard,
        };
        match setrlimit(resource, limit) {
            Ok(()) => tracing::debug!("{what} limit of this worker: {soft}"),
            Err(err) => tracing::warn!(
                "cannot set the {what} limit of {soft} ({err}); the worker runs without it"
            ),
        }
    }
}

/// Whether a `MemoryError` means the worker reached its memory limit.
pub(crate) fn has_memory_limit(limits: &WorkerLimits) -> bool {
    limits.memory.is_some() || limits.virtual_memory.is_some()
}

/// Waits for the first SIGXCPU: the worker has used its CPU time. `None` without a CPU limit
/// (it never comes), or when the handler cannot be installed (logged). The handler is in place
/// when this returns.
pub(crate) fn cpu_time_exhausted(
    limits: &WorkerLimits,
) -> Option<impl std::future::Future<Output = ()> + use<>> {
    use tokio::signal::unix::{SignalKind, signal};
    limits.cpu_time?;
    let xcpu = SignalKind::from_raw(rustix::process::Signal::XCPU.as_raw());
    match signal(xcpu) {
        Ok(mut received) => Some(async move {
            received.recv().await;
        }),
        Err(err) => {
            tracing::warn!("cannot watch for SIGXCPU ({err}); the CPU limit kills the worker");
            None
        }
    }
}
