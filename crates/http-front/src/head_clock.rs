//! How long a client may take to send a request head: mod_reqtimeout's
//! `header=<timeout>-<max>,MinRate=<rate>`, as mod_wsgi-express sets it with `--header-timeout`,
//! `--header-max-timeout` and `--header-min-rate`.
//!
//! The clock starts when a connection opens, and on a kept-alive connection when the first byte
//! of its next request arrives. The head must be complete within `--header-timeout` seconds,
//! extended by one second for every `--header-min-rate` bytes received, up to
//! `--header-max-timeout`: a client that trickles a byte a second is cut at the base timeout
//! however regularly its bytes arrive, and one that sends an endless head quickly is cut at the
//! maximum. A client cut after sending part of a head gets a 408; one that sent nothing is
//! closed silently (a browser's speculative pre-connection is not an error to show).
//!
//! hyper's own `header_read_timeout` is a fixed total and answers with nothing; it stays as a
//! backstop one second after the maximum.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The limits of the clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeadLimits {
    pub(crate) timeout: Duration,
    pub(crate) max_timeout: Duration,
    /// Bytes that earn one more second; 0 earns nothing.
    pub(crate) min_rate: u64,
}

const NOT_RUNNING: u64 = u64::MAX;

/// The running clock of one connection: when its current head started and how much of it has
/// arrived. Milliseconds are counted from the connection's opening.
#[derive(Debug)]
pub(crate) struct HeadClock {
    started_ms: AtomicU64,
    bytes: AtomicU64,
}

impl HeadClock {
    /// A clock for a new connection, started at its opening.
    pub(crate) fn new() -> HeadClock {
        HeadClock {
            started_ms: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    /// Bytes arrived while no request was in flight: part of a head.
    pub(crate) fn received(&self, now_ms: u64, bytes: u64) {
        if self.started_ms.load(Ordering::Relaxed) == NOT_RUNNING {
            self.started_ms.store(now_ms, Ordering::Relaxed);
        }
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// The head is complete: the clock stops until the next request's first byte.
    pub(crate) fn stop(&self) {
        self.started_ms.store(NOT_RUNNING, Ordering::Relaxed);
        self.bytes.store(0, Ordering::Relaxed);
    }

    /// When the head in progress runs out of time, and whether any of it has arrived.
    pub(crate) fn deadline(&self, opened: Instant, limits: HeadLimits) -> Option<(Instant, bool)> {
        let started_ms = self.started_ms.load(Ordering::Relaxed);
        if started_ms == NOT_RUNNING {
            return None;
        }
        let bytes = self.bytes.load(Ordering::Relaxed);
        let earned = match limits.min_rate {
            0 => Duration::ZERO,
            rate => Duration::from_secs(bytes / rate),
        };
        let allowed = (limits.timeout + earned).min(limits.max_timeout.max(limits.timeout));
        Some((
            opened + Duration::from_millis(started_ms) + allowed,
            bytes > 0,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HeadLimits = HeadLimits {
        timeout: Duration::from_secs(15),
        max_timeout: Duration::from_secs(30),
        min_rate: 500,
    };

    #[test]
    fn bytes_earn_time_up_to_the_maximum() {
        let opened = Instant::now();
        let clock = HeadClock::new();
        assert_eq!(
            clock.deadline(opened, LIMITS),
            Some((opened + Duration::from_secs(15), false))
        );
        clock.received(0, 1000);
        assert_eq!(
            clock.deadline(opened, LIMITS),
            Some((opened + Duration::from_secs(17), true))
        );
        clock.received(0, 100_000);
        assert_eq!(
            clock.deadline(opened, LIMITS),
            Some((opened + Duration::from_secs(30), true))
        );
    }

    #[test]
    fn a_stopped_clock_restarts_at_the_next_byte() {
        let opened = Instant::now();
        let clock = HeadClock::new();
        clock.stop();
        assert_eq!(clock.deadline(opened, LIMITS), None);
        clock.received(5000, 10);
        assert_eq!(
            clock.deadline(opened, LIMITS),
            Some((opened + Duration::from_secs(20), true))
        );
    }
}
