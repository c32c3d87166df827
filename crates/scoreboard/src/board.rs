//! What one worker process and each of its Python threads record.
//!
//! Every field is an `AtomicU64` at a fixed place (`repr(C)`), so the supervisor and the
//! workers — separate processes of the same binary, or of the same extension module — agree on
//! the layout. Writers use relaxed operations: each number is read on its own, and a reading
//! that is a request behind is as good as one that is not. The one thing read as a whole, the
//! request a thread runs, is guarded by a sequence number ([`ThreadBoard::set_request`]).

use std::sync::atomic::{AtomicU64, Ordering, fence};

use crate::monotonic_ns;

/// The request methods counted on their own; any other counts as `other`.
pub const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other",
];

/// The response status classes, as Prometheus labels.
pub const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The upper bounds of the duration histograms' buckets, in microseconds (a last bucket takes
/// what is above): from 5 ms to a minute, the range a web request lives in.
pub const DURATION_BOUNDS_US: [u64; 13] = [
    5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000,
    10_000_000, 30_000_000, 60_000_000,
];

const BUCKETS: usize = DURATION_BOUNDS_US.len() + 1;

/// The index of a method in [`METHODS`].
pub fn method_index(method: &[u8]) -> usize {
    METHODS[..METHODS.len() - 1]
        .iter()
        .position(|m| m.as_bytes() == method)
        .unwrap_or(METHODS.len() - 1)
}

fn bucket(us: u64) -> usize {
    DURATION_BOUNDS_US
        .iter()
        .position(|&bound| us <= bound)
        .unwrap_or(DURATION_BOUNDS_US.len())
}

/// Where a board's worker is in its life (written by the supervisor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoardState {
    /// No worker has the board now.
    Free = 0,
    /// Its worker is loading the application.
    Starting = 1,
    /// Its worker serves.
    Serving = 2,
    /// Its worker finishes what it has and stops.
    Draining = 3,
}

impl BoardState {
    pub(crate) fn from_u64(value: u64) -> BoardState {
        match value {
            1 => BoardState::Starting,
            2 => BoardState::Serving,
            3 => BoardState::Draining,
            _ => BoardState::Free,
        }
    }

    /// The state's name on the status page and in metrics.
    pub fn name(self) -> &'static str {
        match self {
            BoardState::Free => "free",
            BoardState::Starting => "starting",
            BoardState::Serving => "serving",
            BoardState::Draining => "draining",
        }
    }
}

/// A histogram of durations: a count per bucket of [`DURATION_BOUNDS_US`] and the sum.
#[repr(C)]
#[derive(Debug, Default)]
pub struct DurationHistogram {
    pub(crate) buckets: [AtomicU64; BUCKETS],
    pub(crate) sum_us: AtomicU64,
}

impl DurationHistogram {
    /// Counts one duration.
    pub fn record(&self, us: u64) {
        self.buckets[bucket(us)].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }
}

/// One worker process's board.
#[repr(C)]
#[derive(Debug, Default)]
pub struct WorkerBoard {
    // Who has the board: written by the supervisor.
    pub(crate) state: AtomicU64,
    pub(crate) pid: AtomicU64,
    /// The slot number of the worker (from 1), as its title shows.
    pub(crate) slot: AtomicU64,
    /// How many workers have had the board.
    pub(crate) generation: AtomicU64,
    /// When its worker started, on [`monotonic_ns`]'s clock, and as wall time.
    pub(crate) started_ns: AtomicU64,
    pub(crate) started_unix_us: AtomicU64,
    /// The board's request count when its worker took it: the worker's own count is the
    /// difference.
    pub(crate) requests_before: AtomicU64,
    pub(crate) bytes_before: AtomicU64,

    // Counters, kept across workers.
    pub(crate) requests: [[AtomicU64; STATUS_CLASSES.len()]; METHODS.len()],
    pub(crate) duration: DurationHistogram,
    pub(crate) queue_wait: DurationHistogram,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    pub(crate) connections: AtomicU64,
    pub(crate) request_timeouts: AtomicU64,
    pub(crate) queue_timeouts: AtomicU64,
    pub(crate) queue_full: AtomicU64,
    pub(crate) gil_waits: AtomicU64,
    pub(crate) gil_wait_us: AtomicU64,
    pub(crate) slow_requests: AtomicU64,
    pub(crate) log_write_failures: AtomicU64,
    /// Time Python threads spent in requests (mod_wsgi's `request_busy_time`).
    pub(crate) busy_us: AtomicU64,

    // Gauges, started again with each worker.
    pub(crate) connections_open: AtomicU64,
    pub(crate) in_flight: AtomicU64,
    pub(crate) busy_threads: AtomicU64,
}

impl WorkerBoard {
    /// Counts a connection accepted (and open until [`WorkerBoard::connection_closed`]).
    pub fn connection_opened(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
        self.connections_open.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a connection that ended.
    pub fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Ordering::Relaxed);
    }

    /// Counts bytes read from clients.
    pub fn received(&self, bytes: u64) {
        self.bytes_in.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Counts a request that arrived (in flight until [`WorkerBoard::request_done`]).
    pub fn request_arrived(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request whose response has been sent (or abandoned): its method, its status,
    /// how long it took from its head's arrival, and the bytes of its response.
    pub fn request_done(&self, method: usize, status: u16, us: u64, sent: u64) {
        let class = (status / 100).clamp(1, 5) as usize - 1;
        self.requests[method.min(METHODS.len() - 1)][class].fetch_add(1, Ordering::Relaxed);
        self.duration.record(us);
        self.bytes_out.fetch_add(sent, Ordering::Relaxed);
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// Counts how long a request waited for a Python thread.
    pub fn queue_waited(&self, us: u64) {
        self.queue_wait.record(us);
    }

    /// Counts a request answered 504 because it waited past `--queue-timeout`.
    pub fn queue_timed_out(&self) {
        self.queue_timeouts.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request refused with a 503 because the queue was full.
    pub fn queue_was_full(&self) {
        self.queue_full.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request that ran past `--request-timeout`.
    pub fn request_timed_out(&self) {
        self.request_timeouts.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request reported as slow (`--slow-requests`).
    pub fn slow_request(&self) {
        self.slow_requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a Python thread that starts a request.
    pub fn thread_busy(&self) {
        self.busy_threads.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a Python thread that finished a request of `us` microseconds.
    pub fn thread_idle(&self, us: u64) {
        self.busy_threads.fetch_sub(1, Ordering::Relaxed);
        self.busy_us.fetch_add(us, Ordering::Relaxed);
    }

    /// Counts a wait for the GIL of `us` microseconds.
    pub fn gil_waited(&self, us: u64) {
        self.gil_waits.fetch_add(1, Ordering::Relaxed);
        self.gil_wait_us.fetch_add(us, Ordering::Relaxed);
    }

    /// Counts log writes that failed (a full disk, an unwritable file).
    pub fn log_writes_failed(&self, count: u64) {
        self.log_write_failures.fetch_add(count, Ordering::Relaxed);
    }

    /// The requests this board has counted, by every worker that had it.
    pub(crate) fn requests_total(&self) -> u64 {
        self.requests
            .iter()
            .flatten()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    /// Hands the board to a new worker: counters stay, gauges start again.
    pub(crate) fn take(&self, slot: usize) {
        self.generation.fetch_add(1, Ordering::Relaxed);
        self.slot.store(slot as u64, Ordering::Relaxed);
        self.pid.store(0, Ordering::Relaxed);
        self.started_ns.store(monotonic_ns(), Ordering::Relaxed);
        self.started_unix_us
            .store(crate::unix_us(), Ordering::Relaxed);
        self.requests_before
            .store(self.requests_total(), Ordering::Relaxed);
        self.bytes_before
            .store(self.bytes_out.load(Ordering::Relaxed), Ordering::Relaxed);
        for gauge in [&self.connections_open, &self.in_flight, &self.busy_threads] {
            gauge.store(0, Ordering::Relaxed);
        }
        self.state
            .store(BoardState::Starting as u64, Ordering::Release);
    }

    pub(crate) fn set_state(&self, state: BoardState) {
        self.state.store(state as u64, Ordering::Release);
    }

    pub(crate) fn set_pid(&self, pid: u32) {
        self.pid.store(u64::from(pid), Ordering::Relaxed);
    }
}

/// What a Python thread is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadState {
    /// Waiting for a request.
    Idle = 0,
    /// Running a request.
    Busy = 1,
    /// Running an authentication script about a request.
    Auth = 2,
}

impl ThreadState {
    pub(crate) fn from_u64(value: u64) -> ThreadState {
        match value {
            1 => ThreadState::Busy,
            2 => ThreadState::Auth,
            _ => ThreadState::Idle,
        }
    }

    /// The state's name on the status page.
    pub fn name(self) -> &'static str {
        match self {
            ThreadState::Idle => "idle",
            ThreadState::Busy => "busy",
            ThreadState::Auth => "auth",
        }
    }
}

/// The longest request line a thread's board keeps (longer ones are cut).
pub(crate) const REQUEST_TEXT: usize = 256;
const TEXT_WORDS: usize = REQUEST_TEXT / 8;

/// One Python thread's board. Only its own thread writes it.
#[repr(C)]
#[derive(Debug, Default)]
pub struct ThreadBoard {
    /// Odd while the request text is being written.
    seq: AtomicU64,
    pub(crate) state: AtomicU64,
    /// When the running request started, on [`monotonic_ns`]'s clock.
    pub(crate) started_ns: AtomicU64,
    /// When the last request ended, as wall time.
    pub(crate) last_used_unix_us: AtomicU64,
    /// Requests this thread has run (since its worker started).
    pub(crate) requests: AtomicU64,
    text_len: AtomicU64,
    text: [AtomicU64; TEXT_WORDS],
}

impl ThreadBoard {
    /// Marks the start of a request (`METHOD /target`, cut to 256 bytes).
    pub fn begin(&self, state: ThreadState, method: &str, target: &str) {
        self.set_request(method, target);
        self.started_ns.store(monotonic_ns(), Ordering::Relaxed);
        self.state.store(state as u64, Ordering::Release);
    }

    /// Marks the end of the request; returns how long it ran, in microseconds.
    pub fn end(&self) -> u64 {
        let ran = monotonic_ns().saturating_sub(self.started_ns.load(Ordering::Relaxed)) / 1000;
        self.state
            .store(ThreadState::Idle as u64, Ordering::Release);
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.last_used_unix_us
            .store(crate::unix_us(), Ordering::Relaxed);
        ran
    }

    /// Writes the request text, a sequence lock around it: a reader that sees the sequence
    /// number change (or odd) while it reads tries again.
    fn set_request(&self, method: &str, target: &str) {
        let mut bytes = [0u8; REQUEST_TEXT];
        let mut len = 0;
        for part in [method.as_bytes(), b" ", target.as_bytes()] {
            let take = part.len().min(REQUEST_TEXT - len);
            bytes[len..len + take].copy_from_slice(&part[..take]);
            len += take;
        }
        let seq = self.seq.load(Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        for (word, chunk) in self
            .text
            .iter()
            .zip(bytes.chunks_exact(8))
            .take(len.div_ceil(8))
        {
            word.store(
                u64::from_ne_bytes(chunk.try_into().expect("8 bytes")),
                Ordering::Relaxed,
            );
        }
        self.text_len.store(len as u64, Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
    }

    /// Reads the request text as a whole (lossy UTF-8).
    pub(crate) fn request(&self) -> String {
        for _ in 0..100 {
            let before = self.seq.load(Ordering::Acquire);
            if before % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let len = (self.text_len.load(Ordering::Relaxed) as usize).min(REQUEST_TEXT);
            let mut bytes = [0u8; REQUEST_TEXT];
            for (word, chunk) in self.text.iter().zip(bytes.chunks_exact_mut(8)) {
                chunk.copy_from_slice(&word.load(Ordering::Relaxed).to_ne_bytes());
            }
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == before {
                return String::from_utf8_lossy(&bytes[..len]).into_owned();
            }
        }
        String::new()
    }

    /// Starts the thread's board again for a new worker.
    pub(crate) fn reset(&self) {
        self.state.store(0, Ordering::Relaxed);
        self.requests.store(0, Ordering::Relaxed);
        self.last_used_unix_us.store(0, Ordering::Relaxed);
        self.text_len.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_method_and_class() {
        let board = WorkerBoard::default();
        board.request_arrived();
        board.request_done(method_index(b"POST"), 201, 7_000, 10);
        board.request_arrived();
        board.request_done(method_index(b"BREW"), 418, 70_000_000, 5);
        assert_eq!(board.requests[2][1].load(Ordering::Relaxed), 1);
        assert_eq!(board.requests[7][3].load(Ordering::Relaxed), 1);
        assert_eq!(board.duration.buckets[1].load(Ordering::Relaxed), 1);
        assert_eq!(board.duration.buckets[13].load(Ordering::Relaxed), 1);
        assert_eq!(board.in_flight.load(Ordering::Relaxed), 0);
        assert_eq!(board.bytes_out.load(Ordering::Relaxed), 15);
    }

    #[test]
    fn a_new_worker_keeps_the_counters_and_starts_the_gauges_again() {
        let board = WorkerBoard::default();
        board.take(1);
        board.request_arrived();
        board.request_arrived();
        board.request_done(0, 200, 1, 1);
        board.take(1);
        assert_eq!(board.requests_total(), 1);
        assert_eq!(board.requests_before.load(Ordering::Relaxed), 1);
        assert_eq!(board.in_flight.load(Ordering::Relaxed), 0);
        assert_eq!(board.generation.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn the_request_text_is_cut_and_read_back_whole() {
        let thread = ThreadBoard::default();
        thread.begin(ThreadState::Busy, "GET", "/sleep?x=1");
        assert_eq!(thread.request(), "GET /sleep?x=1");
        let long = format!("/{}", "a".repeat(400));
        thread.begin(ThreadState::Busy, "POST", &long);
        let text = thread.request();
        assert_eq!(text.len(), REQUEST_TEXT);
        assert!(text.starts_with("POST /aaa"));
        thread.end();
        assert_eq!(thread.requests.load(Ordering::Relaxed), 1);
        assert_eq!(
            ThreadState::from_u64(thread.state.load(Ordering::Relaxed)),
            ThreadState::Idle
        );
    }
}
