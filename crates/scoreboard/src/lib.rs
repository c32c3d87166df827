//! The scoreboard: what every worker process is doing and has done, in one piece of shared
//! memory, as Apache's scoreboard is.
//!
//! The supervisor creates the memory (a `memfd`, [`Scoreboard::create`]) before the first
//! worker starts and gives every worker its descriptor and a *board*: a fixed place in it
//! ([`WorkerBoard`], with one [`ThreadBoard`] per Python thread). A worker counts its requests
//! with relaxed atomic additions into its own board — no lock, no system call, no message on
//! the request path — and anyone holding the memory reads every board out of band: the
//! supervisor for `/metrics`, a worker for `/server-status` and `mod_wsgi.server_metrics()`.
//!
//! Why shared memory rather than reports on the control pipe: a report per request is a system
//! call per request, and a periodic report loses the counts of a worker killed between two
//! reports. Here a worker's numbers are in the memory the moment they happen and stay there
//! when it dies.
//!
//! Counters never go backwards: a board is handed to the next worker of its group as it is,
//! counters included, so the sum over a group's boards only grows, whatever replaces what.
//! Only the gauges (connections open, requests in flight, busy threads) and the per-thread
//! state start again with each worker. A group has more boards than processes (a replacement
//! starts before its predecessor leaves, and that one may drain for a while); the memory is
//! sparse, so the spare boards cost nothing until used.

mod board;
mod layout;
mod map;
mod read;
mod status;

pub use board::{
    BoardState, DURATION_BOUNDS_US, DurationHistogram, METHODS, STATUS_CLASSES, ThreadBoard,
    ThreadState, WorkerBoard, method_index,
};
pub use layout::{GroupShape, Layout};
pub use map::{Board, Scoreboard, ScoreboardError};
pub use read::{GroupTotals, Histogram, Snapshot, ThreadView, WorkerView};
pub use status::{StatusPage, render_auto, render_html};

/// The clock every board's times are on: `CLOCK_MONOTONIC`, the same in every process of the
/// machine, so one process can tell how long another's request has run. Read through the vDSO
/// (no system call).
pub fn monotonic_ns() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

/// Wall-clock time in microseconds since the epoch (for what is shown as a date).
pub fn unix_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}
