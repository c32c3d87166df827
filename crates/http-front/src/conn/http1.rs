//! Serving one HTTP/1 connection: hyper's HTTP/1 engine plus what it lacks for this server — an idle
//! keep-alive timeout distinct from the header timeout, and per-request bookkeeping.
//!
//! hyper's `header_read_timeout` bounds the wait for a complete request head, idle time
//! included. Apache, and therefore mod_wsgi users, expect two separate limits: a short
//! `KeepAliveTimeout` (default 2 s) for an idle connection between requests, and a longer
//! header timeout (default 15 s) for a request in progress. The connection records when bytes
//! last arrived and how many requests are in flight ([`ConnActivity`]); once it has served a
//! request and then sat idle for the keep-alive timeout, it is shut down gracefully (hyper closes
//! an idle connection at once).
//!
//! hyper has no write timeout either: a client that stops reading a response would hold the
//! connection, and through the full response channel the Python thread producing it, forever.
//! A connection whose response makes no progress (no byte read or written) for the socket
//! timeout is closed, which ends the response and frees that thread.
//!
//! Every byte read is followed by [`Framing`] before hyper gets it; a request head it refuses
//! never reaches hyper, and is answered here once hyper is done with the connection.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;

use super::ConnStream;
use super::activity::ConnActivity;
use crate::application::Application;
use crate::error_response::{Refusal, raw_response};
use crate::framing::{Breach, Framing};
use crate::head_clock::HeadLimits;
use crate::late_answer;
use crate::service::{ConnShared, handle};

/// The socket, noting when bytes arrive and leave, with what arrives followed by [`Framing`]
/// (tokio's traits, so that the bytes of each read can be counted and looked at; hyper gets it
/// through `TokioIo`).
struct TrackedIo<S> {
    inner: S,
    activity: Arc<ConnActivity>,
    framing: Framing,
    /// What reads give hyper once the stream was cut.
    cut: Option<Cut>,
}

/// How a cut stream ends for hyper.
#[derive(Debug, Clone, Copy)]
enum Cut {
    /// The request body being read is malformed: one read fails, then the stream ends.
    BodyError(&'static str),
    /// The stream ends before a request head that is refused. The refusal is answered only
    /// if hyper reads on to this end: after a response that closes the connection, it never
    /// would have read that request.
    BeforeRefused,
    /// The stream has ended.
    Ended,
}

impl<S: ConnStream> AsyncRead for TrackedIo<S> {
    /// One read for hyper: the bytes the socket has, followed by [`Framing`]. While a request
    /// that started in this read waits for its body, the socket is read on at once (never
    /// waiting: [`TrackedIo::read_on`]), so that a body already sent is followed before any of
    /// the request goes on.
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.activity.tunnel.is_switched() {
            // A proxied WebSocket's bytes: not HTTP, not followed.
            let before = buf.filled().len();
            ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
            this.activity.received(buf.filled().len() - before);
            return Poll::Ready(Ok(()));
        }
        if let Some(ended) = this.end_cut() {
            return Poll::Ready(ended);
        }
        let start = buf.filled().len();
        this.framing.start_read();
        loop {
            let before = buf.filled().len();
            if before == start {
                ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
            } else if !this.read_on(buf) {
                return Poll::Ready(Ok(()));
            }
            let read = buf.filled().len() - before;
            this.activity.received(read);
            if read == 0 {
                if let Some(request_start) = this.framing.end_of_stream() {
                    buf.set_filled(start + request_start);
                    this.cut = Some(Cut::BeforeRefused);
                    if request_start == 0 {
                        return Poll::Ready(this.end_cut().expect("the stream was cut"));
                    }
                }
                return Poll::Ready(Ok(()));
            }
            let fed = before - start;
            let passed = this.framing.feed(&mut buf.filled_mut()[start..], fed);
            buf.set_filled(start + passed);
            if let Some(breach) = this.framing.breach() {
                this.cut = Some(match breach {
                    Breach::Head(_) => Cut::BeforeRefused,
                    Breach::Body(why) => Cut::BodyError(why),
                });
                if passed > 0 {
                    return Poll::Ready(Ok(()));
                }
                return Poll::Ready(this.end_cut().expect("the stream was cut"));
            }
            if passed < fed + read {
                // A request line's version is being decided: read on, unless bytes before it
                // can go now.
                if passed > 0 {
                    return Poll::Ready(Ok(()));
                }
                continue;
            }
            if !(this.framing.awaits_fresh_body() && buf.remaining() > 0) {
                return Poll::Ready(Ok(()));
            }
        }
    }
}

impl<S: ConnStream> TrackedIo<S> {
    /// Reads what the stream already has into `buf`, without waiting: whether it read anything
    /// or found the end of the stream (then `buf` is as it was).
    fn read_on(&mut self, buf: &mut ReadBuf<'_>) -> bool {
        self.inner.read_now(buf)
    }

    /// What a read gives hyper once the stream was cut, if it was.
    fn end_cut(&mut self) -> Option<std::io::Result<()>> {
        match self.cut? {
            Cut::BodyError(why) => {
                self.cut = Some(Cut::Ended);
                let error = std::io::Error::new(std::io::ErrorKind::InvalidData, why);
                Some(Err(error))
            }
            Cut::BeforeRefused => {
                self.cut = Some(Cut::Ended);
                if let Some(Breach::Head(refusal)) = self.framing.breach() {
                    let _ = self.activity.refused.set(refusal.clone());
                }
                Some(Ok(()))
            }
            Cut::Ended => Some(Ok(())),
        }
    }
}

impl<S: ConnStream> AsyncWrite for TrackedIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.activity.wrote(&result, |&n| n > 0);
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.activity.refused.get().is_some() {
            // The refusal still has to go out, after hyper (see `serve_connection`).
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.activity.wrote(&result, |&n| n > 0);
        result
    }
}

/// hyper's smallest read buffer.
const MIN_HYPER_BUFFER: usize = 8192;

/// Serves one accepted connection until it closes, the keep-alive timeout passes, or the server
/// drains (`stop` turns true), in which case in-flight requests finish first.
pub(crate) async fn serve_connection<A: Application, S: ConnStream>(
    stream: S,
    mut shared: ConnShared<A>,
    mut stop: watch::Receiver<bool>,
) {
    let activity = Arc::new(ConnActivity::new(shared.server.settings.board.clone()));
    shared.activity = Some(Arc::clone(&activity));
    let settings = &shared.server.settings;
    let keep_alive = settings.http.keep_alive_timeout;
    let socket_timeout = settings.http.socket_timeout;
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // A backstop: the head's own clock (`head_clock`) runs out first and answers 408.
        .header_read_timeout(settings.http.header_max_timeout + Duration::from_secs(1))
        .keep_alive(!keep_alive.is_zero())
        // A client may shut down its sending side once its request is out (`nc -N`, scripts
        // that `shutdown(SHUT_WR)`); it still gets its answer, as from Apache or nginx.
        .half_close(true)
        // The head as a whole, and the number of fields, hyper bounds (a 431); the length of
        // the request line and of each field, `limits::check` (414 and 431, with a page).
        .max_buf_size(settings.http.max_head_size().max(MIN_HYPER_BUFFER))
        .max_header_size(settings.http.max_head_size())
        .max_headers(settings.http.limit_request_fields)
        // Header names go out as `Content-Type`, the way Apache and most servers write them.
        // (hyper's `pipeline_flush` is not used: with it, hyper's automatic 400 for a
        // malformed request is never flushed.)
        .title_case_headers(true);
    let head_limits = HeadLimits {
        timeout: settings.http.header_timeout,
        max_timeout: settings.http.header_max_timeout,
        min_rate: settings.http.header_min_rate,
    };
    let io = TokioIo::new(TrackedIo {
        inner: stream,
        activity: Arc::clone(&activity),
        framing: Framing::new(),
        cut: None,
    });
    let remote = shared.remote;
    let service = hyper::service::service_fn(move |request| handle(shared.clone(), request));
    // Taken apart for a late answer, which goes out on its stream once hyper is done.
    // With upgrades: a proxied WebSocket's `101` hands the connection to its tunnel
    // (`proxy_pass`).
    let mut connection = builder.serve_connection(io, service).with_upgrades();

    // While serving normally, idle connections close after the keep-alive timeout. Once the
    // server drains, responses carry `Connection: close` (see `service`), and connections with
    // nothing in flight close after the keep-alive timeout counted from the drain's start.
    let idle_limit = if keep_alive.is_zero() {
        Duration::from_secs(1)
    } else {
        keep_alive
    };
    let mut drain_started = stop.borrow().then(Instant::now);
    let mut closing = false;
    loop {
        let idle_at = if closing || (keep_alive.is_zero() && drain_started.is_none()) {
            None
        } else {
            activity.idle_deadline(idle_limit, drain_started)
        };
        let stall_at = activity.stall_deadline(socket_timeout);
        let head_at = activity.head_deadline(head_limits).map(|(at, _)| at);
        // Requests come and go inside `connection` without waking this loop, and each may set
        // an earlier deadline than those known now: look again after a keep-alive period at
        // the latest.
        let wake_at = [
            idle_at,
            stall_at,
            head_at,
            Some(Instant::now() + idle_limit),
        ]
        .into_iter()
        .flatten()
        .min()
        .expect("the list has a deadline");
        tokio::select! {
            result = Pin::new(&mut connection) => {
                // A parse error is one hyper answered itself (at a byte before the cut).
                let hyper_answered = matches!(&result, Err(err) if err.is_parse());
                if let Err(err) = &result {
                    tracing::debug!(client.addr = %remote, "connection ended: {err:#}");
                }
                if result.is_ok() && activity.tunnel.is_switched() {
                    // The connection is a proxied WebSocket's until its tunnel ends; it keeps
                    // its slot and holds the drain until then.
                    activity.tunnel.ended().await;
                    return;
                }
                if let Some(refusal) = activity.refused.get().filter(|_| !hyper_answered) {
                    tracing::info!(
                        client.addr = %remote,
                        status = refusal.status().as_u16(),
                        "refused a request before parsing it: {}",
                        refusal.message()
                    );
                    if let Some(parts) = connection.into_parts() {
                        let stream = parts.io.into_inner().inner;
                        late_answer::close(stream, Some(&raw_response(refusal))).await;
                    }
                }
                return;
            }
            changed = stop.changed(), if drain_started.is_none() => {
                if changed.is_err() || *stop.borrow() {
                    drain_started = Some(Instant::now());
                }
            }
            _ = tokio::time::sleep_until(wake_at.into()) => {
                let now = Instant::now();
                if activity.stall_deadline(socket_timeout).is_some_and(|at| now >= at) {
                    tracing::info!(
                        client.addr = %remote,
                        "closing the connection: no byte of the response went out for {}s \
                         (the client stopped reading, or the application stopped producing; \
                         --socket-timeout)",
                        socket_timeout.as_secs()
                    );
                    return;
                }
                if let Some((at, started)) = activity.head_deadline(head_limits) {
                    if now >= at {
                        tracing::info!(
                            client.addr = %remote,
                            "closing the connection: the request head did not arrive in time \
                             (--header-timeout, --header-max-timeout, --header-min-rate)"
                        );
                        if let Some(parts) = connection.into_parts() {
                            let stream = parts.io.into_inner().inner;
                            let page = started.then(|| raw_response(&Refusal::HeadTimeout));
                            late_answer::close(stream, page.as_deref()).await;
                        }
                        return;
                    }
                }
                let deadline = activity.idle_deadline(idle_limit, drain_started);
                if !closing && deadline.is_some_and(|deadline| now >= deadline) {
                    closing = true;
                    Pin::new(&mut connection).graceful_shutdown();
                }
            }
        }
    }
}
