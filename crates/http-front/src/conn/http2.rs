//! Serving one HTTP/2 connection (a TLS client that chose `h2` by ALPN): hyper's HTTP/2
//! engine with the same service as HTTP/1 — the same checks, routing, static files, access log
//! and applications — and the watchdog hyper lacks.
//!
//! HTTP/2 needs none of [`crate::framing`]: frames carry their own lengths, and hyper's h2
//! refuses malformed ones (a stream reset, or the connection's GOAWAY). What stays the
//! server's is time:
//!
//! * a connection with no stream open is closed after the keep-alive timeout, or, before its
//!   first request, after the header timeout;
//! * one whose responses make no progress for the socket timeout is cut (a client that stops
//!   reading, as over HTTP/1);
//! * when the server drains, a GOAWAY: the streams in flight finish, no new one starts, and
//!   the connection closes — no `Connection: close`, which HTTP/2 has not.
//!
//! Memory per connection is bounded by the flow-control windows (hyper's defaults: 1 MiB for
//! the connection, shared by its streams) and by [`MAX_STREAMS`].

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;

use super::ConnStream;
use super::activity::ConnActivity;
use crate::application::Application;
use crate::service::{ConnShared, handle};

/// The most streams a client may have open at once (Apache's `H2MaxSessionStreams` default).
pub(crate) const MAX_STREAMS: u32 = 100;

/// Serves an HTTP/2 connection until it closes, sits idle too long, stalls, or the server
/// drains (`stop` turns true: a GOAWAY, and the streams in flight finish).
pub(crate) async fn serve_http2<A: Application, S: ConnStream>(
    stream: S,
    mut shared: ConnShared<A>,
    mut stop: watch::Receiver<bool>,
) {
    let activity = Arc::new(ConnActivity::new(shared.server.settings.board.clone()));
    shared.activity = Some(Arc::clone(&activity));
    let settings = &shared.server.settings;
    let keep_alive = settings.http.keep_alive_timeout;
    let header_timeout = settings.http.header_timeout;
    let socket_timeout = settings.http.socket_timeout;
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_STREAMS)
        .max_header_list_size(u32::try_from(settings.http.max_head_size()).unwrap_or(u32::MAX));
    let io = TokioIo::new(CountedIo {
        inner: stream,
        activity: Arc::clone(&activity),
    });
    let remote = shared.remote;
    let service = hyper::service::service_fn(move |request| handle(shared.clone(), request));
    let mut connection = Box::pin(builder.serve_connection(io, service));

    // An idle HTTP/2 connection is one with no stream in flight; a new one gets the header
    // timeout for its first request, as over HTTP/1.
    let mut drain_started = stop.borrow().then(Instant::now);
    let mut going_away = false;
    if drain_started.is_some() {
        connection.as_mut().graceful_shutdown();
        going_away = true;
    }
    loop {
        let idle_limit = if activity.has_served() {
            keep_alive.max(Duration::from_secs(1))
        } else {
            header_timeout
        };
        let idle_at = activity.idle_since().map(|since| since + idle_limit);
        let stall_at = activity.stall_deadline(socket_timeout);
        let wake_at = [idle_at, stall_at, Some(Instant::now() + idle_limit)]
            .into_iter()
            .flatten()
            .min()
            .expect("the list has a deadline");
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(client.addr = %remote, "HTTP/2 connection ended: {err:#}");
                }
                return;
            }
            changed = stop.changed(), if drain_started.is_none() => {
                if changed.is_err() || *stop.borrow() {
                    drain_started = Some(Instant::now());
                    if !going_away {
                        going_away = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
            _ = tokio::time::sleep_until(wake_at.into()) => {
                let now = Instant::now();
                if activity.stall_deadline(socket_timeout).is_some_and(|at| now >= at) {
                    tracing::info!(
                        client.addr = %remote,
                        "closing the HTTP/2 connection: no byte of its responses went out for \
                         {}s (--socket-timeout)",
                        socket_timeout.as_secs()
                    );
                    return;
                }
                if idle_at.is_some_and(|at| now >= at) && !going_away {
                    going_away = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// The stream, noting when bytes arrive and leave (for the idle and stall decisions).
struct CountedIo<S> {
    inner: S,
    activity: Arc<ConnActivity>,
}

impl<S: ConnStream> AsyncRead for CountedIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.received_h2(buf.filled().len() - before);
        }
        result
    }
}

impl<S: ConnStream> AsyncWrite for CountedIo<S> {
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
