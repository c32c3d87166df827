//! The request body as applications get it: hyper's body, with its failures sorted into the
//! client's fault kinds, a note of whether it was read to the end, and the rest read and thrown
//! away when the application leaves it, so the connection can be kept alive.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use oxwsgi_exchange::BodyError;

/// Sorts hyper's body errors into the client's fault kinds.
fn classify(error: hyper::Error) -> BodyError {
    let malformed = error.is_parse()
        || std::error::Error::source(&error)
            .and_then(|source| source.downcast_ref::<std::io::Error>())
            .is_some_and(|io| {
                matches!(
                    io.kind(),
                    std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData
                )
            });
    if malformed {
        BodyError::Malformed(Box::new(error))
    } else {
        BodyError::Disconnected(Box::new(error))
    }
}

/// The most bytes of an unread body read and thrown away when `--limit-request-body` is 0 (the
/// option's default): beyond that, closing the connection is cheaper than reading on.
const DRAIN_WITHOUT_LIMIT: u64 = 10 * 1024 * 1024;

/// How much of a body the application left unread is read and thrown away, so the connection
/// can serve its next request (Apache's lingering read of an unread body).
#[derive(Debug, Clone, Copy)]
pub(crate) struct DrainLimits {
    /// The most body bytes read in all (`--limit-request-body`; 0: no limit).
    pub(crate) bytes: u64,
    /// The longest wait for the next piece of body (`--body-timeout`).
    pub(crate) wait: Duration,
    /// The body's own clock: mod_reqtimeout's `body=<timeout>-<max>,MinRate=<rate>`.
    pub(crate) rate: BodyRate,
}

/// How long a body may take as a whole: `--body-timeout` seconds from its first poll, plus one
/// for every `--body-min-rate` bytes received, up to `--body-max-timeout` (0: no maximum). A
/// client that trickles a byte a second is cut however regularly its bytes come, where the wait
/// for each piece alone would never cut it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyRate {
    pub(crate) timeout: Duration,
    pub(crate) max_timeout: Option<Duration>,
    /// Bytes that earn one more second; 0 turns the clock off (only the per-read wait stays).
    pub(crate) min_rate: u64,
}

impl BodyRate {
    fn allows(&self, elapsed: Duration, received: u64) -> bool {
        if self.min_rate == 0 {
            return true;
        }
        let earned = self.timeout + Duration::from_secs(received / self.min_rate);
        let allowed = match self.max_timeout {
            Some(max) => earned.min(max.max(self.timeout)),
            None => earned,
        };
        elapsed <= allowed
    }
}

/// What the request's handler knows of its body while someone else holds it, and what it
/// decides about an unread rest once the response is known.
#[derive(Debug, Default)]
pub(crate) struct BodyState {
    finished: AtomicBool,
    polled: AtomicBool,
    /// Set once the handler has decided; `drain` says what.
    decided: AtomicBool,
    drain: AtomicBool,
    decision: tokio::sync::Notify,
}

impl BodyState {
    /// Whether the body has been read to its end.
    pub(crate) fn finished(&self) -> bool {
        self.finished.load(Ordering::Relaxed)
    }

    /// Whether anyone asked for body bytes (which sends `100 Continue` to a client that waits
    /// for it).
    pub(crate) fn polled(&self) -> bool {
        self.polled.load(Ordering::Relaxed)
    }

    /// Says, once the response is known, whether an unread rest of the body is to be read and
    /// thrown away (the connection goes on) or not (it ends with this response).
    pub(crate) fn decide(&self, drain: bool) {
        if !self.decided.swap(true, Ordering::AcqRel) {
            self.drain.store(drain, Ordering::Release);
            self.decision.notify_one();
        }
    }

    /// Waits for the handler's decision: whether to read the rest.
    async fn drain_decided(&self) -> bool {
        if !self.decided.load(Ordering::Acquire) {
            // `notify_one` keeps a permit for a waiter that comes late.
            self.decision.notified().await;
        }
        self.drain.load(Ordering::Acquire)
    }
}

/// Decides "do not read the rest" if the handler ends (its future dropped: the connection is
/// going away) before deciding otherwise, so a waiting drain never waits forever.
pub(crate) struct DrainDecision(pub(crate) Arc<BodyState>);

impl Drop for DrainDecision {
    fn drop(&mut self) {
        self.0.decide(false);
    }
}

/// A request body on its way to an application.
///
/// Dropped before its end (the application did not read it all, or was never called), it is
/// read to the end and thrown away on the I/O runtime, within [`DrainLimits`], so the
/// connection stays usable — once the handler has decided that the connection goes on after
/// the response ([`BodyState::decide`]); only when reading fails is the connection closed. A client that waits
/// for `100 Continue` and was never asked for its body is not asked now: its response says
/// `Connection: close` instead (see `service`).
#[derive(Debug)]
pub(crate) struct IncomingBody {
    inner: Option<Incoming>,
    state: Arc<BodyState>,
    received: u64,
    limits: DrainLimits,
    expects_continue: bool,
    runtime: Option<tokio::runtime::Handle>,
    /// When the body was first asked for.
    started: Option<Instant>,
}

impl IncomingBody {
    pub(crate) fn new(
        inner: Incoming,
        limits: DrainLimits,
        expects_continue: bool,
    ) -> (IncomingBody, Arc<BodyState>) {
        let state = Arc::new(BodyState::default());
        (
            IncomingBody {
                inner: Some(inner),
                state: Arc::clone(&state),
                received: 0,
                limits,
                expects_continue,
                runtime: tokio::runtime::Handle::try_current().ok(),
                started: None,
            },
            state,
        )
    }

    /// How many more bytes may be read and thrown away: what `--limit-request-body` leaves, or
    /// [`DRAIN_WITHOUT_LIMIT`] when there is no limit.
    fn budget(&self) -> u64 {
        let limit = if self.limits.bytes > 0 {
            self.limits.bytes
        } else {
            DRAIN_WITHOUT_LIMIT
        };
        limit.saturating_sub(self.received)
    }
}

impl Drop for IncomingBody {
    fn drop(&mut self) {
        let Some(body) = self.inner.take() else {
            return;
        };
        let state = &self.state;
        if state.finished() || http_body::Body::is_end_stream(&body) {
            return;
        }
        if self.expects_continue && !state.polled() {
            return;
        }
        let Some(runtime) = &self.runtime else {
            return;
        };
        let state = Arc::clone(state);
        let (budget, wait) = (self.budget(), self.limits.wait);
        runtime.spawn(async move {
            // The application may let go of the body before the response is out; whether the
            // connection goes on is known only then.
            if state.drain_decided().await {
                drain(body, budget, wait).await;
            }
        });
    }
}

/// Reads the rest of a body and throws it away; gives up (and so closes the connection) past
/// the byte budget or when the client stalls.
async fn drain(mut body: Incoming, mut budget: u64, wait: Duration) {
    use http_body_util::BodyExt;
    loop {
        match tokio::time::timeout(wait, body.frame()).await {
            Ok(None) => return,
            Ok(Some(Ok(frame))) => {
                let len = frame.data_ref().map_or(0, |data| data.len() as u64);
                if len > budget {
                    tracing::info!(
                        "closing the connection: the rest of a request body the application did \
                         not read is larger than --limit-request-body (or 10 MiB without a limit)"
                    );
                    return;
                }
                budget -= len;
            }
            // The client broke the body off or its framing: hyper closes the connection.
            Ok(Some(Err(_))) => return,
            Err(_) => {
                tracing::info!(
                    "closing the connection: the client stopped sending the rest of a request \
                     body the application did not read (--body-timeout)"
                );
                return;
            }
        }
    }
}

impl http_body::Body for IncomingBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        this.state.polled.store(true, Ordering::Relaxed);
        let started = *this.started.get_or_insert_with(Instant::now);
        let frame = ready!(Pin::new(inner).poll_frame(cx));
        match &frame {
            None => this.state.finished.store(true, Ordering::Relaxed),
            Some(Ok(frame)) => {
                this.received += frame.data_ref().map_or(0, |data| data.len() as u64);
                if !this.limits.rate.allows(started.elapsed(), this.received) {
                    // The connection cannot be reused: the rest of the body is still coming.
                    this.inner = None;
                    return Poll::Ready(Some(Err(BodyError::TooSlow)));
                }
            }
            Some(Err(_)) => {}
        }
        Poll::Ready(frame.map(|frame| frame.map_err(classify)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner
            .as_ref()
            .is_none_or(|inner| inner.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |inner| inner.size_hint())
    }
}

#[cfg(test)]
mod rate_tests {
    use super::*;

    #[test]
    fn bytes_earn_time_and_the_maximum_caps_it() {
        let rate = BodyRate {
            timeout: Duration::from_secs(15),
            max_timeout: Some(Duration::from_secs(20)),
            min_rate: 500,
        };
        assert!(rate.allows(Duration::from_secs(15), 0));
        assert!(!rate.allows(Duration::from_secs(16), 499));
        assert!(rate.allows(Duration::from_secs(16), 500));
        assert!(!rate.allows(Duration::from_secs(21), 1_000_000));
        let unbounded = BodyRate {
            max_timeout: None,
            ..rate
        };
        assert!(unbounded.allows(Duration::from_secs(100), 1_000_000));
        let off = BodyRate {
            min_rate: 0,
            ..rate
        };
        assert!(off.allows(Duration::from_secs(1000), 0));
    }
}
