//! Reading the scoreboard out: plain numbers, summed per group, for the pages that show them.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::board::{
    BoardState, DurationHistogram, METHODS, STATUS_CLASSES, ThreadBoard, ThreadState, WorkerBoard,
};
use crate::map::Scoreboard;
use crate::monotonic_ns;

fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// A histogram read out: counts per bucket (not cumulative), their sum, and the sum of the
/// values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    /// Counts per bucket of [`crate::DURATION_BOUNDS_US`], the last for what is above.
    pub buckets: Vec<u64>,
    /// The sum of the durations, in microseconds.
    pub sum_us: u64,
}

impl Histogram {
    fn add(&mut self, from: &DurationHistogram) {
        if self.buckets.is_empty() {
            self.buckets = vec![0; from.buckets.len()];
        }
        for (total, bucket) in self.buckets.iter_mut().zip(&from.buckets) {
            *total += get(bucket);
        }
        self.sum_us += get(&from.sum_us);
    }

    /// How many values were counted.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }
}

/// A group's numbers, summed over every board it has (counters include the workers that have
/// gone), and the workers it has now.
#[derive(Debug, Clone, Default)]
pub struct GroupTotals {
    /// The group's name.
    pub name: String,
    /// Python threads per worker.
    pub threads: usize,
    /// Requests by method (index of [`METHODS`]) and status class (of [`STATUS_CLASSES`]).
    pub requests: [[u64; STATUS_CLASSES.len()]; METHODS.len()],
    /// How long requests took, from their head's arrival to the end of their response.
    pub duration: Histogram,
    /// How long requests waited for a Python thread.
    pub queue_wait: Histogram,
    /// Bytes read from clients.
    pub bytes_in: u64,
    /// Bytes of responses sent.
    pub bytes_out: u64,
    /// Connections accepted.
    pub connections: u64,
    /// Requests that ran past the request timeout.
    pub request_timeouts: u64,
    /// Requests answered 504 after waiting past the queue timeout.
    pub queue_timeouts: u64,
    /// Requests refused 503 because the queue was full.
    pub queue_full: u64,
    /// Waits for the GIL, and their total in microseconds.
    pub gil_waits: u64,
    /// The time those waits took, in microseconds.
    pub gil_wait_us: u64,
    /// Requests reported as slow.
    pub slow_requests: u64,
    /// Log writes that failed.
    pub log_write_failures: u64,
    /// Time Python threads spent running requests, in microseconds.
    pub busy_us: u64,
    /// Connections open now.
    pub connections_open: u64,
    /// Requests in progress now.
    pub in_flight: u64,
    /// Python threads running a request now.
    pub busy_threads: u64,
    /// Python threads waiting for one now (of serving workers).
    pub idle_threads: u64,
    /// The workers that have a board now.
    pub workers: Vec<WorkerView>,
}

impl GroupTotals {
    /// All requests, whatever their method and status.
    pub fn requests_total(&self) -> u64 {
        self.requests.iter().flatten().sum()
    }
}

/// One worker as the scoreboard shows it.
#[derive(Debug, Clone)]
pub struct WorkerView {
    /// Its board's number in the group.
    pub board: usize,
    /// Its slot (from 1), as its title shows.
    pub slot: usize,
    /// Its process id (0 until started).
    pub pid: u32,
    /// Where it is in its life.
    pub state: BoardState,
    /// How many workers have had its board (mod_wsgi's `generation`).
    pub generation: u64,
    /// How long it has run, in microseconds.
    pub age_us: u64,
    /// When it started, as wall time in microseconds since the epoch.
    pub started_unix_us: u64,
    /// Requests it has served.
    pub requests: u64,
    /// Response bytes it has sent.
    pub bytes_out: u64,
    /// Requests in progress in it now.
    pub in_flight: u64,
    /// Its time in requests, in microseconds.
    pub busy_us: u64,
    /// Its Python threads.
    pub threads: Vec<ThreadView>,
}

/// One Python thread as the scoreboard shows it.
#[derive(Debug, Clone)]
pub struct ThreadView {
    /// Its number in the worker, from 0.
    pub index: usize,
    /// What it does now.
    pub state: ThreadState,
    /// The request it runs (`METHOD /target`), when it runs one.
    pub request: Option<String>,
    /// How long that request has run, in microseconds.
    pub running_us: u64,
    /// Requests it has run.
    pub requests: u64,
    /// When it last finished one, as wall time in microseconds since the epoch (0: never).
    pub last_used_unix_us: u64,
}

/// The whole scoreboard at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Each group's numbers.
    pub groups: Vec<GroupTotals>,
}

impl Snapshot {
    /// Reads every board.
    pub fn read(scoreboard: &Scoreboard) -> Snapshot {
        let now = monotonic_ns();
        let layout = scoreboard.layout();
        let groups = layout
            .groups()
            .iter()
            .enumerate()
            .map(|(g, shape)| {
                let mut totals = GroupTotals {
                    name: shape.name.clone(),
                    threads: shape.threads,
                    ..GroupTotals::default()
                };
                for b in 0..shape.boards() {
                    let board = scoreboard.worker(g, b);
                    add_counters(&mut totals, board);
                    let state = BoardState::from_u64(board.state.load(Ordering::Acquire));
                    if state == BoardState::Free {
                        continue;
                    }
                    let threads: Vec<ThreadView> = (0..shape.threads)
                        .map(|t| thread_view(t, scoreboard.thread(g, b, t), now))
                        .collect();
                    if state == BoardState::Serving {
                        let busy = threads
                            .iter()
                            .filter(|t| t.state != ThreadState::Idle)
                            .count() as u64;
                        totals.busy_threads += busy;
                        totals.idle_threads += shape.threads as u64 - busy;
                    }
                    totals.workers.push(WorkerView {
                        board: b,
                        slot: get(&board.slot) as usize,
                        pid: get(&board.pid) as u32,
                        state,
                        generation: get(&board.generation),
                        age_us: now.saturating_sub(get(&board.started_ns)) / 1000,
                        started_unix_us: get(&board.started_unix_us),
                        requests: board
                            .requests_total()
                            .saturating_sub(get(&board.requests_before)),
                        bytes_out: get(&board.bytes_out).saturating_sub(get(&board.bytes_before)),
                        in_flight: get(&board.in_flight),
                        busy_us: get(&board.busy_us),
                        threads,
                    });
                }
                totals.workers.sort_by_key(|w| (w.slot, w.board));
                totals
            })
            .collect();
        Snapshot { groups }
    }
}

fn add_counters(totals: &mut GroupTotals, board: &WorkerBoard) {
    for (method, classes) in board.requests.iter().enumerate() {
        for (class, count) in classes.iter().enumerate() {
            totals.requests[method][class] += get(count);
        }
    }
    totals.duration.add(&board.duration);
    totals.queue_wait.add(&board.queue_wait);
    totals.bytes_in += get(&board.bytes_in);
    totals.bytes_out += get(&board.bytes_out);
    totals.connections += get(&board.connections);
    totals.request_timeouts += get(&board.request_timeouts);
    totals.queue_timeouts += get(&board.queue_timeouts);
    totals.queue_full += get(&board.queue_full);
    totals.gil_waits += get(&board.gil_waits);
    totals.gil_wait_us += get(&board.gil_wait_us);
    totals.slow_requests += get(&board.slow_requests);
    totals.log_write_failures += get(&board.log_write_failures);
    totals.busy_us += get(&board.busy_us);
    totals.connections_open += get(&board.connections_open);
    totals.in_flight += get(&board.in_flight);
}

fn thread_view(index: usize, thread: &ThreadBoard, now: u64) -> ThreadView {
    let state = ThreadState::from_u64(thread.state.load(Ordering::Acquire));
    let running = state != ThreadState::Idle;
    ThreadView {
        index,
        state,
        request: running.then(|| thread.request()),
        running_us: if running {
            now.saturating_sub(get(&thread.started_ns)) / 1000
        } else {
            0
        },
        requests: get(&thread.requests),
        last_used_unix_us: get(&thread.last_used_unix_us),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GroupShape, Layout};

    #[test]
    fn counters_survive_a_board_changing_hands() {
        let layout = Layout::new(vec![GroupShape {
            name: "app".into(),
            processes: 1,
            threads: 2,
        }]);
        let scoreboard = Scoreboard::create(layout).unwrap();
        let first = scoreboard.take(0, 1).unwrap();
        scoreboard.set_state(0, first, BoardState::Serving);
        let counters = scoreboard.worker(0, first);
        for _ in 0..3 {
            counters.request_arrived();
            counters.request_done(0, 200, 10, 100);
        }
        scoreboard
            .thread(0, first, 1)
            .begin(ThreadState::Busy, "GET", "/sleep");
        let snapshot = Snapshot::read(&scoreboard);
        let group = &snapshot.groups[0];
        assert_eq!(group.requests_total(), 3);
        assert_eq!(group.busy_threads, 1);
        assert_eq!(group.idle_threads, 1);
        assert_eq!(
            group.workers[0].threads[1].request.as_deref(),
            Some("GET /sleep")
        );

        scoreboard.release(0, first);
        let second = scoreboard.take(0, 1).unwrap();
        assert_eq!(second, first);
        let counters = scoreboard.worker(0, second);
        counters.request_arrived();
        counters.request_done(2, 503, 10, 0);
        let group = &Snapshot::read(&scoreboard).groups[0];
        assert_eq!(group.requests_total(), 4);
        assert_eq!(group.workers[0].requests, 1);
        assert_eq!(group.workers[0].generation, 2);
        assert_eq!(group.requests[2][4], 1);
    }

    #[test]
    fn a_worker_opens_the_same_memory() {
        let shape = || {
            Layout::new(vec![GroupShape {
                name: "app".into(),
                processes: 2,
                threads: 1,
            }])
        };
        let scoreboard = Scoreboard::create(shape()).unwrap();
        let fd = scoreboard.fd().try_clone_to_owned().unwrap();
        let opened = Scoreboard::open(fd, shape()).unwrap();
        opened.worker(0, 3).received(42);
        assert_eq!(Snapshot::read(&scoreboard).groups[0].bytes_in, 42);
        let other = Layout::new(vec![GroupShape {
            name: "app".into(),
            processes: 2,
            threads: 9,
        }]);
        let fd = scoreboard.fd().try_clone_to_owned().unwrap();
        assert!(matches!(
            Scoreboard::open(fd, other),
            Err(crate::ScoreboardError::Mismatch) | Err(crate::ScoreboardError::Map(_))
        ));
    }
}
