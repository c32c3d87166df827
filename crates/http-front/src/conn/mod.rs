//! Serving one connection, over TCP or TLS: HTTP/1 ([`http1`]), or HTTP/2 ([`http2`]) when
//! the client chose it by ALPN. Both keep the connection's [`ConnActivity`] for the
//! keep-alive, stall and drain decisions, and count each request with a [`RequestTracker`].

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

mod activity;
mod http1;
mod http2;

pub(crate) use activity::{ConnActivity, RequestTracker};
pub(crate) use http1::serve_connection;
pub(crate) use http2::serve_http2;

/// The most a read-on takes at once (its buffer is zeroed first).
pub(crate) const READ_ON_MAX: usize = 16 * 1024;

/// A connection's byte stream: a TCP socket, or TLS over one.
pub(crate) trait ConnStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// Reads what the stream already has into `buf` (at most [`READ_ON_MAX`] bytes), without
    /// waiting: whether it read anything or found the end of the stream (then `buf` is as it
    /// was).
    fn read_now(&mut self, buf: &mut ReadBuf<'_>) -> bool;
}

impl ConnStream for TcpStream {
    /// A plain non-blocking `recv`, not tokio's read: tokio takes a read that did not fill its
    /// buffer for a drained socket and waits for the next readiness event without asking the
    /// socket again, and a client's last bytes and its FIN often come in one event.
    fn read_now(&mut self, buf: &mut ReadBuf<'_>) -> bool {
        let room = buf.initialize_unfilled_to(buf.remaining().min(READ_ON_MAX));
        match rustix::net::recv(&*self, room, rustix::net::RecvFlags::DONTWAIT) {
            Ok((read, _)) => {
                buf.advance(read);
                true
            }
            // Nothing yet, or an error the next read reports to hyper.
            Err(_) => false,
        }
    }
}

impl ConnStream for tokio::net::UnixStream {
    /// As for TCP: the socket's own non-blocking `recv`.
    fn read_now(&mut self, buf: &mut ReadBuf<'_>) -> bool {
        let room = buf.initialize_unfilled_to(buf.remaining().min(READ_ON_MAX));
        match rustix::net::recv(&*self, room, rustix::net::RecvFlags::DONTWAIT) {
            Ok((read, _)) => {
                buf.advance(read);
                true
            }
            Err(_) => false,
        }
    }
}

impl ConnStream for TlsStream<TcpStream> {
    /// One read that must not wait: rustls hands over what it has decrypted, reading the
    /// socket once if it has nothing; a read that would wait registers no waker (the next real
    /// read registers its own).
    fn read_now(&mut self, buf: &mut ReadBuf<'_>) -> bool {
        let room = buf.initialize_unfilled_to(buf.remaining().min(READ_ON_MAX));
        let mut room = ReadBuf::new(room);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match Pin::new(self).poll_read(&mut cx, &mut room) {
            Poll::Ready(Ok(())) if !room.filled().is_empty() => {
                let read = room.filled().len();
                buf.advance(read);
                true
            }
            _ => false,
        }
    }
}
