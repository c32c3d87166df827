//! The queue between the HTTP side and the Python threads, and the pool's life cycle.
//!
//! # Why a queue with a wake policy rather than a channel
//!
//! On a small machine the cost of a WSGI server is not Python but hand-offs: waking a parked
//! thread, and moving the GIL from one thread to another. So:
//!
//! * a Python thread that finishes a request takes the next queued one *without* releasing the
//!   GIL (see [`crate::gil`]), so under load one thread serves a run of requests back to back;
//! * [`WsgiPool::submit`] wakes a parked thread only when no thread is already on its way to the
//!   queue (`searching`), and wakes the most recently parked one (its caches are warm);
//! * a parked thread waits on its own condition variable, so a wake-up is aimed, never a herd.
//!
//! A slow request never holds up the queue: the thread running it is busy, and the next
//! submission wakes another parked thread.
//!
//! Requests that wait longer than the queue timeout are answered with
//! [`AppError::QueueTimeout`] by a sweeper thread, without ever reaching Python.
//!
//! A request arriving when the queue is full waits for room up to the connect timeout (see
//! [`room`]) before it is refused.

mod room;

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::oneshot;

use pyo3::prelude::*;

use crate::app::LoadedApp;
use crate::environ::{AppIdentity, EnvironBuilder, EnvironSettings};
use crate::file_wrapper::FileWrapper;
use crate::gil;
use crate::handler::{AppSlot, Shared};
use crate::input;
use crate::interpreter::PythonRuntime;
use oxwsgi_exchange::{AppError, AppRequest};

use crate::auth_script::AuthScripts;
use crate::request::{Job, Reply, Task};
use crate::watchdog::{Limits, PoolEvent, ThreadSlot, Watch};
use oxwsgi_scoreboard::Board;

/// Python threads get the stack size a Python main thread usually has, so deep recursion in an
/// application behaves as it does elsewhere.
const PYTHON_THREAD_STACK: usize = 8 * 1024 * 1024;

/// An application and where it is mounted.
#[derive(Debug)]
pub struct MountedApp {
    /// The loaded callable.
    pub app: LoadedApp,
    /// What its environ says about it.
    pub identity: AppIdentity,
}

/// How a pool runs.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// How many Python threads run requests.
    pub threads: usize,
    /// How many requests may wait for a thread before more are refused.
    pub queue_backlog: usize,
    /// How long a request may wait for a thread before it is answered with a 504.
    pub queue_timeout: Duration,
    /// How long a request arriving when the queue is full waits for room in it before it is
    /// refused (mod_wsgi's connect-timeout); zero refuses it at once.
    pub connect_timeout: Duration,
    /// How long a `wsgi.input` read may wait for the client.
    pub body_timeout: Duration,
    /// The identity the environ reports.
    pub environ: EnvironSettings,
    /// The runtime whose connections deliver request bodies.
    pub runtime: tokio::runtime::Handle,
    /// A request running longer is answered with a 504 and reported.
    pub request_timeout: Option<Duration>,
    /// With a request timeout: a request past it first gets `mod_wsgi.RequestTimeout` raised
    /// in its thread, and is reported only if it has not unwound this long after.
    pub interrupt_timeout: Option<Duration>,
    /// The GIL being unavailable this long is reported as a deadlock.
    pub deadlock_timeout: Option<Duration>,
    /// Requests running longer are logged with their stack, once (`--slow-requests`).
    pub slow_requests: Option<Duration>,
    /// This worker's board on the scoreboard: its threads' states and its counts.
    pub board: Board,
    /// Whether `mod_wsgi.server_metrics()` answers (`--server-metrics`).
    pub server_metrics: bool,
}

/// The pool could not start.
#[derive(Debug, thiserror::Error)]
pub enum PoolStartError {
    /// Preparing the environ templates raised.
    #[error("could not prepare the WSGI environ:\n{0}")]
    Environ(String),
    /// A thread could not be started.
    #[error("could not start a Python thread: {0}")]
    Spawn(#[source] std::io::Error),
}

/// Why a request was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// As many requests are already waiting as the queue backlog allows.
    #[error("the request queue is full")]
    QueueFull,
    /// The pool is shutting down.
    #[error("the server is shutting down")]
    ShuttingDown,
}

/// Why a job is not in the queue; a job refused for a full queue is given back, so that it
/// can wait for room (boxed: only then is it moved around).
enum NotQueued {
    Full(Box<Job>),
    ShuttingDown,
}

/// What a Python thread is doing, as the queue sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ThreadState {
    /// Running a request, or between requests holding the GIL.
    Busy,
    /// Waiting on its condition variable, listed in `parked`.
    Parked,
    /// Told to look at the queue and not there yet.
    Woken,
}

struct Queue {
    jobs: VecDeque<Job>,
    /// Parked threads, most recently parked last.
    parked: Vec<usize>,
    state: Box<[ThreadState]>,
    /// Threads woken but not yet at the queue: while one is on its way, a new job needs no
    /// further wake-up.
    searching: usize,
    closing: bool,
    /// Requests waiting for room in a full queue: while there are any, a job taken out wakes
    /// one of them (see [`room`]).
    waiting_for_room: usize,
}

/// The queue and its wake-up machinery, shared by the submitters, the Python threads and the
/// sweeper.
pub(crate) struct JobQueue {
    queue: Mutex<Queue>,
    wake: Box<[Condvar]>,
    sweeper_wake: Condvar,
    limit: usize,
    queue_timeout: Duration,
    /// Woken when a job leaves a full queue that requests wait to enter (see [`room`]).
    room: tokio::sync::Notify,
    /// How long a request waits for room in a full queue; zero: refused at once.
    connect_timeout: Duration,
    /// Where refusals and queue timeouts are counted.
    pub(crate) board: Board,
}

impl JobQueue {
    pub(crate) fn new(
        threads: usize,
        limit: usize,
        queue_timeout: Duration,
        board: Board,
    ) -> JobQueue {
        JobQueue {
            queue: Mutex::new(Queue {
                jobs: VecDeque::with_capacity(limit.min(1024)),
                parked: Vec::with_capacity(threads),
                state: vec![ThreadState::Busy; threads].into_boxed_slice(),
                searching: 0,
                closing: false,
                waiting_for_room: 0,
            }),
            wake: (0..threads).map(|_| Condvar::new()).collect(),
            sweeper_wake: Condvar::new(),
            limit,
            queue_timeout,
            room: tokio::sync::Notify::new(),
            connect_timeout: Duration::ZERO,
            board,
        }
    }

    /// The same queue, where a request arriving when it is full waits up to `timeout` for
    /// room (see [`room`]).
    pub(crate) fn with_connect_timeout(mut self, timeout: Duration) -> JobQueue {
        self.connect_timeout = timeout;
        self
    }

    /// Locks the queue. A panic while it was held cannot leave it inconsistent (every critical
    /// section is a few field updates), so a poisoned lock is used as is.
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a job, or refuses it at once if the queue is full; a refusal for a full queue is
    /// counted.
    fn push(&self, job: Job) -> Result<(), Rejected> {
        match self.try_push(job) {
            Ok(()) => Ok(()),
            Err(NotQueued::Full(_)) => {
                self.board.counters().queue_was_full();
                Err(Rejected::QueueFull)
            }
            Err(NotQueued::ShuttingDown) => Err(Rejected::ShuttingDown),
        }
    }

    /// Queues a job if there is room; gives it back if not.
    fn try_push(&self, job: Job) -> Result<(), NotQueued> {
        let queue = self.lock();
        self.push_locked(queue, job)
    }

    /// Queues a job under the lock already taken, waking a thread for it if none is on its
    /// way; gives it back if the queue is full.
    fn push_locked(&self, mut queue: MutexGuard<'_, Queue>, job: Job) -> Result<(), NotQueued> {
        if queue.closing {
            return Err(NotQueued::ShuttingDown);
        }
        if queue.jobs.len() >= self.limit {
            return Err(NotQueued::Full(Box::new(job)));
        }
        queue.jobs.push_back(job);
        let wake = if queue.searching == 0 {
            queue.parked.pop()
        } else {
            None
        };
        if let Some(thread) = wake {
            queue.state[thread] = ThreadState::Woken;
            queue.searching += 1;
        }
        drop(queue);
        if let Some(thread) = wake {
            self.wake[thread].notify_one();
        }
        Ok(())
    }

    /// Takes the next job if one is queued, without waiting. Called with the GIL held.
    pub(crate) fn try_take(&self) -> Option<Job> {
        let mut queue = self.lock();
        let job = queue.jobs.pop_front()?;
        let wake = Self::wake_for_remaining(&mut queue);
        let room_waiters = queue.waiting_for_room > 0;
        drop(queue);
        self.notify(wake);
        self.made_room(room_waiters, 1);
        Some(job)
    }

    /// After a job is taken: if more are queued and no thread is on its way to them, wakes a
    /// parked thread. The taker is about to run a request that may take long; without this,
    /// the jobs behind it would wait for it even with idle threads parked.
    fn wake_for_remaining(queue: &mut Queue) -> Option<usize> {
        if queue.jobs.is_empty() || queue.searching > 0 {
            return None;
        }
        let thread = queue.parked.pop()?;
        queue.state[thread] = ThreadState::Woken;
        queue.searching += 1;
        Some(thread)
    }

    fn notify(&self, thread: Option<usize>) {
        if let Some(thread) = thread {
            self.wake[thread].notify_one();
        }
    }

    /// Waits for the next job; `None` once the pool is closing and the queue is empty. Called
    /// with the GIL released.
    pub(crate) fn wait_for_job(&self, me: usize) -> Option<Job> {
        let mut queue = self.lock();
        loop {
            if queue.state[me] == ThreadState::Woken {
                queue.searching -= 1;
            }
            queue.state[me] = ThreadState::Busy;
            if let Some(job) = queue.jobs.pop_front() {
                let wake = Self::wake_for_remaining(&mut queue);
                let room_waiters = queue.waiting_for_room > 0;
                drop(queue);
                self.notify(wake);
                self.made_room(room_waiters, 1);
                return Some(job);
            }
            if queue.closing {
                return None;
            }
            queue.state[me] = ThreadState::Parked;
            queue.parked.push(me);
            queue = self.wake[me]
                .wait(queue)
                .unwrap_or_else(PoisonError::into_inner);
            if queue.state[me] == ThreadState::Parked {
                // A spurious wake-up: nobody took us off the parked list.
                queue.parked.retain(|&t| t != me);
            }
        }
    }

    /// Stops new submissions and wakes every parked thread, so each exits once the queue is
    /// empty.
    fn close(&self) {
        let mut queue = self.lock();
        queue.closing = true;
        let parked = std::mem::take(&mut queue.parked);
        for &thread in &parked {
            queue.state[thread] = ThreadState::Woken;
            queue.searching += 1;
        }
        drop(queue);
        for thread in parked {
            self.wake[thread].notify_one();
        }
        self.sweeper_wake.notify_one();
        // Requests waiting for room learn that none will come.
        self.room.notify_waiters();
    }

    /// Whether a job queued at `queued_at` has waited longer than the queue timeout.
    pub(crate) fn expired_since(&self, queued_at: Instant, now: Instant) -> bool {
        now.duration_since(queued_at) > self.queue_timeout
    }

    /// The queue timeout.
    pub(crate) fn timeout(&self) -> Duration {
        self.queue_timeout
    }

    /// Answers every job that waited too long with a 504, until the pool closes.
    ///
    /// Expired jobs are taken out under the lock and answered (and logged) after it is let go:
    /// a log that blocks must not block every submission and every Python thread with it.
    fn sweep_expired(&self) {
        let mut queue = self.lock();
        loop {
            let now = Instant::now();
            let mut expired = Vec::new();
            while let Some(front) = queue.jobs.front() {
                if !self.expired_since(front.queued_at, now) {
                    break;
                }
                expired.push(queue.jobs.pop_front().expect("the front job exists"));
            }
            if !expired.is_empty() {
                let room_waiters = queue.waiting_for_room > 0;
                drop(queue);
                self.made_room(room_waiters, expired.len());
                let counters = self.board.counters();
                for job in expired {
                    // Its wait counts in the queue-wait histogram too, as when a Python thread
                    // finds it expired (handler::serve): the longest waits are what an
                    // operator looks for there.
                    counters.queue_waited(now.duration_since(job.queued_at).as_micros() as u64);
                    counters.queue_timed_out();
                    answer_queue_timeout(job.request, job.task, self.queue_timeout);
                }
                queue = self.lock();
                continue;
            }
            if queue.closing && queue.jobs.is_empty() {
                return;
            }
            // The oldest job expires first; with none queued, check again after a full timeout.
            let wait = match queue.jobs.front() {
                Some(front) => {
                    (front.queued_at + self.queue_timeout).saturating_duration_since(now)
                }
                None => self.queue_timeout,
            };
            queue = self
                .sweeper_wake
                .wait_timeout(queue, wait + Duration::from_millis(1))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// Replies 504 to a request that waited too long for a Python thread; a question for an
/// authentication script is answered as failed.
pub(crate) fn answer_queue_timeout(request: AppRequest, task: Task, timeout: Duration) {
    let reply = match task {
        Task::Respond(reply) => reply,
        Task::Authorize(task) => {
            return crate::auth_script::answer_queue_timeout(&request, task, timeout);
        }
    };
    tracing::warn!(
        request_id = %request.request_id,
        "queue timeout expired: {} {} waited more than {}s for a free Python thread and was \
         not run",
        request.head.method,
        request.head.uri,
        timeout.as_secs_f64(),
    );
    let _ = reply.send(Err(AppError::QueueTimeout));
}

/// The Python threads of one worker process and the queue that feeds them.
pub struct WsgiPool {
    queue: Arc<JobQueue>,
    watch: Arc<Watch>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl WsgiPool {
    /// Starts the Python threads for these applications.
    ///
    /// Application indexes in [`AppRequest::app`] refer to the order of `apps`.
    ///
    /// `on_event` is called, from a watchdog thread, when a request times out or the GIL
    /// seems deadlocked.
    ///
    /// `scripts` are the authentication scripts [`WsgiPool::authorize`] may ask.
    pub fn start(
        _runtime: &PythonRuntime,
        apps: Vec<MountedApp>,
        scripts: AuthScripts,
        settings: PoolSettings,
        on_event: impl Fn(PoolEvent) + Send + Sync + 'static,
    ) -> Result<WsgiPool, PoolStartError> {
        input::configure(settings.runtime.clone(), settings.body_timeout);
        let threads = settings.threads.max(1);
        let identities: Vec<AppIdentity> = apps.iter().map(|a| a.identity.clone()).collect();
        let environ = Python::attach(|py| {
            let file_wrapper = py.get_type::<FileWrapper>();
            EnvironBuilder::new(py, &settings.environ, &identities, file_wrapper.as_any())
                .map_err(|err| PoolStartError::Environ(crate::traceback::format(py, &err)))
        })?;
        let queue = Arc::new(
            JobQueue::new(
                threads,
                settings.queue_backlog.max(1),
                settings.queue_timeout,
                settings.board.clone(),
            )
            .with_connect_timeout(settings.connect_timeout),
        );
        let watch = Arc::new(Watch::new(
            (0..threads)
                .map(|index| Arc::new(ThreadSlot::new(settings.board.clone(), index)))
                .collect(),
            Limits {
                request_timeout: settings.request_timeout,
                interrupt_timeout: settings.interrupt_timeout,
                deadlock_timeout: settings.deadlock_timeout,
                slow_requests: settings.slow_requests,
            },
            Box::new(on_event),
        ));
        let shared = Arc::new(Shared {
            watch: Arc::clone(&watch),
            queue: Arc::clone(&queue),
            apps: apps
                .into_iter()
                .map(|mounted| AppSlot {
                    description: mounted.app.description().to_owned(),
                    callable: mounted.app.callable,
                })
                .collect(),
            environ,
            scripts,
        });
        let mut handles = Vec::with_capacity(threads);
        for index in 0..threads {
            let shared = Arc::clone(&shared);
            let handle = std::thread::Builder::new()
                .name(format!("python-{}", index + 1))
                .stack_size(PYTHON_THREAD_STACK)
                .spawn(move || gil::run_python_thread(shared, index))
                .map_err(PoolStartError::Spawn)?;
            handles.push(handle);
        }
        let sweeper_queue = Arc::clone(&queue);
        let sweeper = std::thread::Builder::new()
            .name("queue-sweeper".into())
            .spawn(move || sweeper_queue.sweep_expired())
            .map_err(PoolStartError::Spawn)?;
        handles.push(sweeper);
        for (name, body) in [
            ("watchdog", Watch::run as fn(Arc<Watch>)),
            ("gil-probe", gil::run_gil_probe as fn(Arc<Watch>)),
        ] {
            let watch = Arc::clone(&watch);
            let handle = std::thread::Builder::new()
                .name(name.into())
                .spawn(move || body(watch))
                .map_err(PoolStartError::Spawn)?;
            handles.push(handle);
        }
        Ok(WsgiPool {
            queue,
            watch,
            threads: Mutex::new(handles),
        })
    }

    /// Queues a request for the next free Python thread; the reply arrives on the receiver.
    ///
    /// The request is queued at once if there is room. If the queue is full, the future waits
    /// for room up to the connect timeout (holding nothing but its place among the waiters)
    /// and is refused with [`Rejected::QueueFull`] if none comes.
    pub fn submit(
        &self,
        request: AppRequest,
    ) -> impl std::future::Future<Output = Result<oneshot::Receiver<Reply>, Rejected>> + Send + 'static
    {
        let (reply, receiver) = oneshot::channel();
        let job = Job {
            request,
            task: Task::Respond(reply),
            queued_at: Instant::now(),
            queued_at_wall: SystemTime::now(),
        };
        let queued = match self.queue.try_push(job) {
            Ok(()) => Ok(None),
            Err(NotQueued::Full(job)) if !self.queue.connect_timeout.is_zero() => {
                Ok(Some((Arc::clone(&self.queue), job)))
            }
            Err(NotQueued::Full(_)) => {
                self.queue.board.counters().queue_was_full();
                Err(Rejected::QueueFull)
            }
            Err(NotQueued::ShuttingDown) => Err(Rejected::ShuttingDown),
        };
        async move {
            if let Some((queue, job)) = queued? {
                queue.push_when_room(*job).await?;
            }
            Ok(receiver)
        }
    }

    /// Queues a job of any kind (see [`crate::auth_script`] for the other kind).
    pub(crate) fn push(&self, job: Job) -> Result<(), Rejected> {
        self.queue.push(job)
    }

    /// Stops taking requests and lets the Python threads finish every queued one; waits up to
    /// `timeout` for them to exit. Returns whether they all did (a thread stuck in a request
    /// does not).
    pub fn shutdown(&self, timeout: Duration) -> bool {
        self.queue.close();
        self.watch.close();
        let deadline = Instant::now() + timeout;
        let mut threads = self.threads.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            threads.retain(|thread| !thread.is_finished());
            if threads.is_empty() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for WsgiPool {
    fn drop(&mut self) {
        self.queue.close();
        self.watch.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    pub(super) fn job() -> Job {
        let (reply, _receiver) = oneshot::channel();
        let (head, ()) = http::Request::new(()).into_parts();
        Job {
            request: AppRequest {
                app: 0,
                listener: 0,
                head,
                path: bytes::Bytes::from_static(b"/"),
                script_name_len: 0,
                body: None,
                body_limit: 0,
                remote: "127.0.0.1:1".parse().unwrap(),
                local: "127.0.0.1:2".parse().unwrap(),
                request_id: "test".into(),
                received_at: SystemTime::now(),
                redirect: None,
                tls: None,
                proxied: None,
                authenticated: None,
            },
            task: Task::Respond(reply),
            queued_at: Instant::now(),
            queued_at_wall: SystemTime::now(),
        }
    }

    /// A request the sweeper answers 504 counts as a queue timeout and its wait in the
    /// queue-wait histogram, as one a Python thread finds expired does.
    #[test]
    fn a_job_swept_after_the_queue_timeout_counts_its_wait() {
        let queue = Arc::new(JobQueue::new(
            1,
            10,
            Duration::from_millis(1),
            oxwsgi_scoreboard::Scoreboard::private(1),
        ));
        queue.push(job()).unwrap();
        let sweeper = {
            let queue = Arc::clone(&queue);
            std::thread::spawn(move || queue.sweep_expired())
        };
        let read = || {
            let snapshot = oxwsgi_scoreboard::Snapshot::read(queue.board.scoreboard());
            let group = &snapshot.groups[0];
            (group.queue_timeouts, group.queue_wait.count())
        };
        while read().0 == 0 {
            std::thread::yield_now();
        }
        queue.close();
        sweeper.join().unwrap();
        let (timeouts, waits) = read();
        assert_eq!((timeouts, waits), (1, 1));
        let snapshot = oxwsgi_scoreboard::Snapshot::read(queue.board.scoreboard());
        assert!(snapshot.groups[0].queue_wait.sum_us >= 1000);
    }

    /// Two requests arriving together while both threads are parked each get a thread, even
    /// though the first thread woken runs its request for a long time.
    #[test]
    fn jobs_behind_a_long_one_wake_another_thread() {
        for _ in 0..200 {
            let queue = Arc::new(JobQueue::new(
                2,
                10,
                Duration::from_secs(60),
                oxwsgi_scoreboard::Scoreboard::private(2),
            ));
            let (taken_tx, taken_rx) = mpsc::channel();
            let release = Arc::new((Mutex::new(false), Condvar::new()));
            let threads: Vec<_> = (0..2)
                .map(|me| {
                    let queue = Arc::clone(&queue);
                    let taken = taken_tx.clone();
                    let release = Arc::clone(&release);
                    std::thread::spawn(move || {
                        while let Some(_job) = queue.wait_for_job(me) {
                            taken.send(me).unwrap();
                            // A long request: hold the thread until the test is done.
                            let (lock, cvar) = &*release;
                            let mut done = lock.lock().unwrap();
                            while !*done {
                                done = cvar.wait(done).unwrap();
                            }
                        }
                    })
                })
                .collect();
            // Let both threads park.
            while queue.lock().parked.len() < 2 {
                std::thread::yield_now();
            }
            queue.push(job()).unwrap();
            queue.push(job()).unwrap();
            let mut got = [
                taken_rx
                    .recv_timeout(Duration::from_secs(5))
                    .expect("a first thread"),
                taken_rx
                    .recv_timeout(Duration::from_secs(5))
                    .expect("a second thread"),
            ];
            got.sort();
            assert_eq!(got, [0, 1]);
            queue.close();
            let (lock, cvar) = &*release;
            *lock.lock().unwrap() = true;
            cvar.notify_all();
            for thread in threads {
                thread.join().unwrap();
            }
        }
    }
}
