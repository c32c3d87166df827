//! Watching the Python threads: requests that run too long, and a GIL that cannot be taken.
//!
//! Each Python thread has a [`ThreadSlot`] saying what it is running. The request's reply
//! channel lives in the slot while the request runs, so the watchdog can answer a stuck request
//! (504) even though the thread running it never returns; whichever of the two takes the reply
//! first answers.
//!
//! On a request timeout the watchdog logs the request, the worker's pid, the thread, and that
//! thread's Python stack (taken from `sys._current_frames()`), and reports
//! [`PoolEvent::RequestTimeout`] so the worker can be replaced: a thread stuck in application
//! code cannot be freed any other way — unless an interrupt timeout is set: then the request
//! is answered, `mod_wsgi.RequestTimeout` is raised in its thread (see `crate::interrupt`), and
//! only a request that has not unwound when the interrupt timeout has passed is reported. A separate probe thread takes the GIL once a second;
//! when it has not managed to for the deadlock timeout, [`PoolEvent::Deadlock`] is reported.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use http::{Method, Uri};
use pyo3::prelude::*;
use tokio::sync::oneshot;

use oxwsgi_exchange::{AppError, AuthAnswer};

use crate::request::Reply;
use oxwsgi_scoreboard::{Board, ThreadState};

/// Something the pool's owner must act on.
#[derive(Debug, Clone)]
pub enum PoolEvent {
    /// A request ran past the request timeout; its thread is stuck in the application.
    RequestTimeout {
        /// The request, as `METHOD URI`.
        request: String,
        /// How long it had run.
        elapsed: Duration,
    },
    /// The application raised `MemoryError`: an allocation failed, most likely at the
    /// worker's memory limit (`--memory-limit`), and the process is best replaced.
    OutOfMemory {
        /// The request, as `METHOD URI`.
        request: String,
    },
    /// No thread could take Python's lock (the GIL) for this long.
    Deadlock {
        /// How long the GIL has been unavailable.
        stalled: Duration,
    },
}

/// What one Python thread is running.
pub(crate) struct ThreadSlot {
    running: Mutex<Option<Running>>,
    /// The worker's board, where this thread's state and the worker's counts are shown to
    /// other processes (see `oxwsgi_scoreboard`).
    board: Board,
    /// This thread's number on the board, from 0.
    index: usize,
    /// `threading.get_ident()` of the thread, to find its frame.
    python_ident: AtomicU64,
    /// Body bytes the running request's response has produced so far.
    body_bytes: AtomicU64,
    /// Counts the requests the thread has begun: an interrupt meant for one request must not
    /// reach the next.
    generation: AtomicU64,
    /// A `mod_wsgi.RequestTimeout` was raised in the thread and may not have been delivered.
    interrupt_raised: AtomicBool,
}

struct Running {
    started: Instant,
    method: Method,
    uri: Uri,
    request_id: String,
    reply: Option<oneshot::Sender<Reply>>,
    /// Where an authentication script's answer goes, when the thread runs one rather than the
    /// application: a script stuck past the request timeout is answered as failed, as a stuck
    /// request is answered with a 504.
    answer: Option<oneshot::Sender<AuthAnswer>>,
    /// Cuts the response's stream, once its head has gone out with a streamed body.
    cut: Option<oneshot::Sender<()>>,
    /// Where it is past the request timeout.
    overdue: Overdue,
    /// Logged as slow (`--slow-requests`) already.
    reported_slow: bool,
}

impl ThreadSlot {
    pub(crate) fn new(board: Board, index: usize) -> ThreadSlot {
        ThreadSlot {
            running: Mutex::new(None),
            board,
            index,
            python_ident: AtomicU64::new(0),
            body_bytes: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            interrupt_raised: AtomicBool::new(false),
        }
    }

    /// Whether a `mod_wsgi.RequestTimeout` was raised in the thread since it was last asked;
    /// asked by the thread itself, with the GIL, before it runs a request.
    pub(crate) fn take_interrupt_raised(&self) -> bool {
        self.interrupt_raised.swap(false, Ordering::Relaxed)
    }

    /// Shows the request on the board.
    fn show(&self, state: ThreadState, method: &Method, uri: &Uri) {
        let target = uri.path_and_query().map_or("/", |p| p.as_str());
        self.board
            .thread(self.index)
            .begin(state, method.as_str(), target);
        self.board.counters().thread_busy();
    }

    fn lock(&self) -> MutexGuard<'_, Option<Running>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn set_python_ident(&self, ident: u64) {
        self.python_ident.store(ident, Ordering::Relaxed);
    }

    /// `threading.get_ident()` of the thread (0 before it is known).
    pub(crate) fn python_ident(&self) -> u64 {
        self.python_ident.load(Ordering::Relaxed)
    }

    /// Whether the thread still runs request `generation` and it was interrupted. Asked with the
    /// GIL held, which the thread needs to move on to another request.
    fn still_interrupted(&self, generation: u64) -> bool {
        self.generation.load(Ordering::Relaxed) == generation
            && self
                .lock()
                .as_ref()
                .is_some_and(|running| matches!(running.overdue, Overdue::Interrupted(_)))
    }

    /// Marks the start of a request, holding its reply channel.
    pub(crate) fn begin(
        &self,
        method: &Method,
        uri: &Uri,
        request_id: &str,
        reply: oneshot::Sender<Reply>,
    ) {
        self.show(ThreadState::Busy, method, uri);
        *self.lock() = Some(Running {
            started: Instant::now(),
            method: method.clone(),
            uri: uri.clone(),
            request_id: request_id.to_owned(),
            reply: Some(reply),
            answer: None,
            cut: None,
            overdue: Overdue::No,
            reported_slow: false,
        });
        self.body_bytes.store(0, Ordering::Relaxed);
        self.generation.fetch_add(1, Ordering::Relaxed);
    }

    /// Marks the start of a call to an authentication script about a request, holding the
    /// channel of its answer.
    pub(crate) fn begin_auth(
        &self,
        method: &Method,
        uri: &Uri,
        request_id: &str,
        answer: oneshot::Sender<AuthAnswer>,
    ) {
        self.show(ThreadState::Auth, method, uri);
        *self.lock() = Some(Running {
            started: Instant::now(),
            method: method.clone(),
            uri: uri.clone(),
            request_id: request_id.to_owned(),
            reply: None,
            answer: Some(answer),
            cut: None,
            overdue: Overdue::No,
            reported_slow: false,
        });
        self.body_bytes.store(0, Ordering::Relaxed);
        self.generation.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes the channel of an authentication script's answer; `None` if the watchdog already
    /// answered.
    pub(crate) fn take_auth_answer(&self) -> Option<oneshot::Sender<AuthAnswer>> {
        self.lock()
            .as_mut()
            .and_then(|running| running.answer.take())
    }

    /// The response is streaming: a request timeout cuts it through `cut`.
    pub(crate) fn streaming(&self, cut: oneshot::Sender<()>) {
        if let Some(running) = self.lock().as_mut() {
            running.cut = Some(cut);
        }
    }

    /// Records how many body bytes the response has produced.
    pub(crate) fn note_body(&self, bytes: u64) {
        self.body_bytes.store(bytes, Ordering::Relaxed);
    }

    /// Takes the reply channel to answer the request; `None` if the watchdog already answered.
    pub(crate) fn take_reply(&self) -> Option<oneshot::Sender<Reply>> {
        self.lock()
            .as_mut()
            .and_then(|running| running.reply.take())
    }

    /// Marks the end of the request.
    pub(crate) fn end(&self) {
        if self.lock().take().is_some() {
            let ran = self.board.thread(self.index).end();
            self.board.counters().thread_idle(ran);
        }
    }
}

/// How far a request is past the request timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Overdue {
    /// Within it.
    No,
    /// `mod_wsgi.RequestTimeout` was raised in its thread at this moment; it has the interrupt
    /// timeout to unwind.
    Interrupted(Instant),
    /// Reported for its worker to be replaced.
    Reported,
}

/// What the watchdog does about an overdue request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Answer it and raise `mod_wsgi.RequestTimeout` in its thread.
    Interrupt,
    /// Answer it and report it: its worker is replaced.
    Replace,
    /// It did not unwind after the interrupt: report it.
    GiveUp,
}

/// Timeouts the watchdog enforces.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) request_timeout: Option<Duration>,
    /// The time a request interrupted past the request timeout has to unwind.
    pub(crate) interrupt_timeout: Option<Duration>,
    pub(crate) deadlock_timeout: Option<Duration>,
    /// Requests running longer are logged once, with their stack (`--slow-requests`).
    pub(crate) slow_requests: Option<Duration>,
}

/// The watchdog's view of the pool, shared with the GIL probe.
pub(crate) struct Watch {
    slots: Box<[Arc<ThreadSlot>]>,
    limits: Limits,
    on_event: Box<dyn Fn(PoolEvent) + Send + Sync>,
    /// When the GIL probe last held the GIL, in milliseconds since `epoch`.
    gil_taken_ms: AtomicU64,
    epoch: Instant,
    closing: Mutex<bool>,
    wake: Condvar,
    deadlock_reported: AtomicBool,
}

impl Watch {
    pub(crate) fn new(
        slots: Box<[Arc<ThreadSlot>]>,
        limits: Limits,
        on_event: Box<dyn Fn(PoolEvent) + Send + Sync>,
    ) -> Watch {
        Watch {
            slots,
            limits,
            on_event,
            gil_taken_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            closing: Mutex::new(false),
            wake: Condvar::new(),
            deadlock_reported: AtomicBool::new(false),
        }
    }

    pub(crate) fn slot(&self, index: usize) -> Arc<ThreadSlot> {
        Arc::clone(&self.slots[index])
    }

    /// Reports an event found outside the watchdog (by a Python thread).
    pub(crate) fn report(&self, event: PoolEvent) {
        (self.on_event)(event);
    }

    /// Stops the watchdog and the probe.
    pub(crate) fn close(&self) {
        *self.closing.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.wake.notify_all();
    }

    /// Sleeps for `period` unless the pool closes first; `false` once it has.
    pub(crate) fn pause(&self, period: Duration) -> bool {
        let closing = self.closing.lock().unwrap_or_else(PoisonError::into_inner);
        let (closing, _) = self
            .wake
            .wait_timeout_while(closing, period, |closing| !*closing)
            .unwrap_or_else(PoisonError::into_inner);
        !*closing
    }

    /// Records that the GIL probe holds the GIL now.
    pub(crate) fn gil_taken(&self) {
        let now = self.epoch.elapsed().as_millis() as u64;
        self.gil_taken_ms.store(now, Ordering::Relaxed);
    }

    /// How often the watchdog looks: often enough to honour short timeouts within a quarter of
    /// them, never more than once every 100 ms.
    fn period(&self) -> Duration {
        [
            self.limits.request_timeout,
            self.limits.interrupt_timeout,
            self.limits.deadlock_timeout,
            self.limits.slow_requests,
        ]
        .into_iter()
        .flatten()
        .map(|t| t / 4)
        .min()
        .unwrap_or(Duration::from_secs(1))
        .clamp(Duration::from_millis(100), Duration::from_secs(1))
    }

    /// The watchdog thread's body.
    pub(crate) fn run(self: Arc<Self>) {
        let period = self.period();
        while self.pause(period) {
            if let Some(after) = self.limits.slow_requests {
                for (index, slot) in self.slots.iter().enumerate() {
                    check_slow(index, slot, after);
                }
            }
            if let Some(limit) = self.limits.request_timeout {
                for (index, slot) in self.slots.iter().enumerate() {
                    self.check_request(index, slot, limit);
                }
            }
            if let Some(limit) = self.limits.deadlock_timeout {
                let taken = Duration::from_millis(self.gil_taken_ms.load(Ordering::Relaxed));
                let stalled = self.epoch.elapsed().saturating_sub(taken);
                if stalled > limit && !self.deadlock_reported.swap(true, Ordering::Relaxed) {
                    (self.on_event)(PoolEvent::Deadlock { stalled });
                }
            }
        }
    }

    fn check_request(&self, index: usize, slot: &Arc<ThreadSlot>, limit: Duration) {
        let (step, request, request_id, elapsed, reply, answer, cut) = {
            let mut running = slot.lock();
            let Some(running) = running.as_mut() else {
                return;
            };
            let elapsed = running.started.elapsed();
            if elapsed <= limit {
                return;
            }
            let step = match (running.overdue, self.limits.interrupt_timeout) {
                (Overdue::No, Some(_)) => {
                    running.overdue = Overdue::Interrupted(Instant::now());
                    Step::Interrupt
                }
                (Overdue::No, None) => {
                    running.overdue = Overdue::Reported;
                    Step::Replace
                }
                (Overdue::Interrupted(at), Some(grace)) if at.elapsed() > grace => {
                    running.overdue = Overdue::Reported;
                    Step::GiveUp
                }
                _ => return,
            };
            (
                step,
                format!("{} {}", running.method, running.uri),
                running.request_id.clone(),
                elapsed,
                running.reply.take(),
                running.answer.take(),
                running.cut.take(),
            )
        };
        let body_bytes = slot.body_bytes.load(Ordering::Relaxed);
        // Say what the client got: a 504 if nothing had gone out, otherwise the response as far
        // as it went.
        let outcome = if step == Step::GiveUp {
            format!(
                "it did not unwind within the interrupt timeout ({}s) after mod_wsgi.RequestTimeout \
                 was raised in its thread (its client was answered then)",
                self.limits.interrupt_timeout.unwrap_or_default().as_secs()
            )
        } else if let Some(reply) = reply {
            let _ = reply.send(Err(AppError::RequestTimeout));
            "it was answered with a 504".to_owned()
        } else if let Some(answer) = answer {
            let _ = answer.send(AuthAnswer::Failed);
            "it was in an authentication script, whose answer was taken as a failure (a 500)"
                .to_owned()
        } else if let Some(cut) = cut {
            let _ = cut.send(());
            format!(
                "its response had already started, so it was cut after {body_bytes} bytes of body"
            )
        } else {
            format!(
                "its response had already been handed over ({body_bytes} bytes of body) and is \
                 left to finish"
            )
        };
        if step != Step::GiveUp {
            slot.board.counters().request_timed_out();
        }
        // Taking the stack needs the GIL, which a deadlocked application may never give back:
        // do it on its own thread so the watchdog itself never blocks.
        let ident = slot.python_ident();
        let thread = index + 1;
        let log_request = request.clone();
        let generation = slot.generation.load(Ordering::Relaxed);
        let interrupted = Arc::clone(slot);
        let interrupt_timeout = self.limits.interrupt_timeout.unwrap_or_default();
        let _ = std::thread::Builder::new()
            .name("stack-dump".into())
            .spawn(move || {
                let stack = python_stack(ident);
                let pid = std::process::id();
                let seconds = elapsed.as_secs_f64();
                if step != Step::Interrupt {
                    tracing::error!(
                        request_id = %request_id,
                        "request timeout: {log_request} has run for {seconds:.1}s on Python \
                         thread {thread} of worker process {pid}; {outcome} and the process \
                         will be replaced. Python stack of the thread:\n{stack}",
                    );
                    return;
                }
                let raised = Python::attach(|py| {
                    let still = interrupted.still_interrupted(generation);
                    let raised = crate::interrupt::raise_in_thread(py, ident, still);
                    // With the GIL still held: the thread cannot begin its next request (and
                    // look at the flag) before the flag is set.
                    interrupted
                        .interrupt_raised
                        .store(raised, Ordering::Relaxed);
                    raised
                });
                if raised {
                    tracing::warn!(
                        request_id = %request_id,
                        "request timeout: {log_request} has run for {seconds:.1}s on Python \
                         thread {thread} of worker process {pid}; {outcome} and \
                         mod_wsgi.RequestTimeout was raised in its thread, which has {}s \
                         (--interrupt-timeout) to unwind before the process is replaced. \
                         Python stack of the thread:\n{stack}",
                        interrupt_timeout.as_secs(),
                    );
                } else {
                    tracing::info!(
                        request_id = %request_id,
                        "request timeout: {log_request} has run for {seconds:.1}s on Python \
                         thread {thread} of worker process {pid}; {outcome}, and it ended by \
                         itself before mod_wsgi.RequestTimeout could be raised",
                    );
                }
            });
        if step != Step::Interrupt {
            (self.on_event)(PoolEvent::RequestTimeout { request, elapsed });
        }
    }
}

/// Logs a request that has run longer than `after`, once, with its thread's Python stack
/// (`--slow-requests`): nothing is stopped, unlike a request timeout.
fn check_slow(index: usize, slot: &Arc<ThreadSlot>, after: Duration) {
    let (request, request_id, elapsed) = {
        let mut running = slot.lock();
        let Some(running) = running.as_mut() else {
            return;
        };
        let elapsed = running.started.elapsed();
        if running.reported_slow || elapsed <= after {
            return;
        }
        running.reported_slow = true;
        (
            format!("{} {}", running.method, running.uri),
            running.request_id.clone(),
            elapsed,
        )
    };
    slot.board.counters().slow_request();
    let ident = slot.python_ident.load(Ordering::Relaxed);
    // The stack needs the GIL: taken on a thread of its own, as for a request timeout.
    let _ = std::thread::Builder::new()
        .name("stack-dump".into())
        .spawn(move || {
            let stack = python_stack(ident);
            tracing::warn!(
                request_id = %request_id,
                "slow request: {request} has run for {:.1}s on Python thread {} of worker \
                 process {} and is still running. Python stack of the thread:\n{stack}",
                elapsed.as_secs_f64(),
                index + 1,
                std::process::id(),
            );
        });
}

/// The Python stack of the thread with this `threading.get_ident()`.
fn python_stack(ident: u64) -> String {
    Python::attach(|py| {
        let stack = (|| -> PyResult<String> {
            let frames = py.import("sys")?.call_method0("_current_frames")?;
            let Some(frame) = frames
                .call_method1("get", (ident,))
                .ok()
                .filter(|f| !f.is_none())
            else {
                return Ok("(the thread has no Python frame)".to_owned());
            };
            let lines: Vec<String> = py
                .import("traceback")?
                .call_method1("format_stack", (frame,))?
                .extract()?;
            Ok(lines.concat().trim_end().to_owned())
        })();
        stack.unwrap_or_else(|err| format!("(the stack could not be read: {err})"))
    })
}
