//! What a connection has been doing — bytes in and out, requests in flight, the head in
//! progress — shared by its I/O, its requests and its watchdog (HTTP/1 and HTTP/2 alike).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::Poll;
use std::time::{Duration, Instant};

use crate::access_log::{AccessEntry, AccessLog};
use crate::error_response::Refusal;
use crate::head_clock::{HeadClock, HeadLimits};

/// What the connection has been doing, shared by its I/O, its requests and its watchdog.
#[derive(Debug)]
pub(crate) struct ConnActivity {
    opened: Instant,
    /// Milliseconds after `opened` when bytes last arrived or a response last finished.
    last_active_ms: AtomicU64,
    in_flight: AtomicU32,
    /// Requests whose response is being sent.
    responding: AtomicU32,
    /// The last write found the socket full. hyper lets go of a response's body (and so of its
    /// request's bookkeeping) once it has taken the last bytes into its own buffer, which may
    /// hold megabytes not yet sent: a client that stops reading then shows only here.
    write_blocked: AtomicBool,
    served: AtomicU64,
    /// The time the request head in progress has (see [`crate::head_clock`]).
    head: HeadClock,
    /// A request head refused before hyper saw it, to be answered once hyper is done.
    pub(super) refused: OnceLock<Refusal>,
    /// This worker's counters: connections, bytes, requests.
    board: oxwsgi_scoreboard::Board,
    /// A client's connection, counted as one (not the front tier's hop to a group).
    counted: bool,
    /// Set when a response switched the connection to another protocol (a proxied
    /// WebSocket): its bytes are no longer HTTP, and the connection lasts until the tunnel
    /// says it ended.
    pub(crate) tunnel: crate::proxy_pass::TunnelState,
}

impl Drop for ConnActivity {
    fn drop(&mut self) {
        if self.counted {
            self.board.counters().connection_closed();
        }
    }
}

impl ConnActivity {
    pub(super) fn new(board: oxwsgi_scoreboard::Board) -> ConnActivity {
        board.counters().connection_opened();
        ConnActivity::with_board(board, true)
    }

    /// The activity of the front tier's hop to this group: its requests are counted, the
    /// connection (not a client's) is not.
    pub(crate) fn hop(board: oxwsgi_scoreboard::Board) -> ConnActivity {
        ConnActivity::with_board(board, false)
    }

    fn with_board(board: oxwsgi_scoreboard::Board, counted: bool) -> ConnActivity {
        ConnActivity {
            board,
            counted,
            opened: Instant::now(),
            last_active_ms: AtomicU64::new(0),
            in_flight: AtomicU32::new(0),
            responding: AtomicU32::new(0),
            write_blocked: AtomicBool::new(false),
            served: AtomicU64::new(0),
            head: HeadClock::new(),
            refused: OnceLock::new(),
            tunnel: crate::proxy_pass::TunnelState::default(),
        }
    }

    pub(super) fn now_ms(&self) -> u64 {
        self.opened.elapsed().as_millis() as u64
    }

    pub(super) fn touch(&self) {
        self.last_active_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// Notes a write's outcome: bytes went out, or the socket was full.
    pub(super) fn wrote<T>(
        &self,
        result: &Poll<std::io::Result<T>>,
        progressed: impl Fn(&T) -> bool,
    ) {
        match result {
            Poll::Ready(Ok(n)) if progressed(n) => {
                self.write_blocked.store(false, Ordering::Relaxed);
                self.touch();
            }
            Poll::Pending => self.write_blocked.store(true, Ordering::Relaxed),
            Poll::Ready(_) => {}
        }
    }

    /// Bytes arrived on an HTTP/2 connection (whose heads have no clock of ours).
    pub(super) fn received_h2(&self, bytes: usize) {
        self.board.counters().received(bytes as u64);
        self.touch();
    }

    /// Bytes arrived; while no request is in flight they are part of the next head.
    pub(super) fn received(&self, bytes: usize) {
        self.board.counters().received(bytes as u64);
        let now = self.now_ms();
        self.last_active_ms.store(now, Ordering::Relaxed);
        if bytes > 0 && self.in_flight.load(Ordering::Relaxed) == 0 {
            self.head.received(now, bytes as u64);
        }
    }

    /// When the request head in progress runs out of time, and whether part of it arrived.
    pub(super) fn head_deadline(&self, limits: HeadLimits) -> Option<(Instant, bool)> {
        if self.in_flight.load(Ordering::Relaxed) != 0 {
            return None;
        }
        self.head.deadline(self.opened, limits)
    }

    /// When a response in progress counts as stalled, if one is in progress.
    pub(super) fn stall_deadline(&self, socket_timeout: Duration) -> Option<Instant> {
        let sending = self.responding.load(Ordering::Relaxed) > 0
            || self.write_blocked.load(Ordering::Relaxed);
        sending.then(|| {
            self.opened
                + Duration::from_millis(self.last_active_ms.load(Ordering::Relaxed))
                + socket_timeout
        })
    }

    /// Whether a request has finished on this connection.
    pub(super) fn has_served(&self) -> bool {
        self.served.load(Ordering::Relaxed) > 0
    }

    /// Since when the connection has had no request in flight; `None` while one is.
    pub(super) fn idle_since(&self) -> Option<Instant> {
        (self.in_flight.load(Ordering::Relaxed) == 0).then(|| {
            self.opened + Duration::from_millis(self.last_active_ms.load(Ordering::Relaxed))
        })
    }

    /// When an idle connection should be closed, if it is idle now.
    ///
    /// Normally only a connection that has served a request counts as idle (a new one has the
    /// header timeout to send its first request). While draining, every connection without a
    /// request in flight does, counted from the start of the drain at the earliest: a client
    /// that sends a request in that time still gets its answer (with `Connection: close`), so
    /// no request is lost to a connection closing under it.
    pub(super) fn idle_deadline(
        &self,
        keep_alive: Duration,
        drain_started: Option<Instant>,
    ) -> Option<Instant> {
        if self.in_flight.load(Ordering::Relaxed) != 0 {
            return None;
        }
        let last_active =
            self.opened + Duration::from_millis(self.last_active_ms.load(Ordering::Relaxed));
        match drain_started {
            Some(started) => Some(last_active.max(started) + keep_alive),
            None if self.served.load(Ordering::Relaxed) > 0 => Some(last_active + keep_alive),
            None => None,
        }
    }
}

/// Bookkeeping of one request: counts it in flight until its response body is done, then
/// writes its access log line and counts it on the scoreboard.
pub(crate) struct RequestTracker {
    activity: Arc<ConnActivity>,
    log: Option<(Arc<AccessLog>, Box<AccessEntry>)>,
    sent: u64,
    responding: bool,
    /// When its head arrived, its method (index of `oxwsgi_scoreboard::METHODS`), its status.
    started: Instant,
    method: usize,
    status: u16,
}

impl RequestTracker {
    pub(crate) fn new(
        activity: Arc<ConnActivity>,
        log: Option<(Arc<AccessLog>, Box<AccessEntry>)>,
        started: Instant,
        method: &http::Method,
    ) -> RequestTracker {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        activity.head.stop();
        activity.board.counters().request_arrived();
        RequestTracker {
            activity,
            log,
            sent: 0,
            responding: false,
            started,
            method: oxwsgi_scoreboard::method_index(method.as_str().as_bytes()),
            status: 0,
        }
    }

    /// Records that the response is being sent (for the socket timeout) and its head (for the
    /// access log).
    pub(crate) fn respond(&mut self, status: http::StatusCode, headers: &http::HeaderMap) {
        self.status = status.as_u16();
        if !self.responding {
            self.responding = true;
            self.activity.responding.fetch_add(1, Ordering::Relaxed);
            self.activity.touch();
        }
        if let Some((log, entry)) = &mut self.log {
            log.respond(entry, status, headers);
        }
    }

    /// Records the user the request's credentials named (the access log's `%u`).
    pub(crate) fn set_user(&mut self, user: bytes::Bytes) {
        if let Some((_, entry)) = &mut self.log {
            entry.set_user(user);
        }
    }

    pub(crate) fn add_sent(&mut self, bytes: u64) {
        self.sent += bytes;
    }
}

impl Drop for RequestTracker {
    fn drop(&mut self) {
        self.activity.touch();
        self.activity.served.fetch_add(1, Ordering::Relaxed);
        self.activity.in_flight.fetch_sub(1, Ordering::Relaxed);
        if self.responding {
            self.activity.responding.fetch_sub(1, Ordering::Relaxed);
        }
        if let Some((log, entry)) = &self.log {
            log.finish(entry, self.sent);
        }
        // A request dropped before it had a response (the client went away first) counts as
        // httpd logs it: a 400-class.
        let status = if self.status == 0 { 499 } else { self.status };
        self.activity.board.counters().request_done(
            self.method,
            status,
            self.started.elapsed().as_micros() as u64,
            self.sent,
        );
    }
}
