//! The answers a connection writes after hyper has let go of it: a 408 for a request head
//! that ran out of time ([`crate::head_clock`]), and the refusal of a request head that hyper
//! never saw ([`crate::framing`]). hyper has no response for either, so a copy of the socket's
//! descriptor, taken when the connection opens, writes it.

use std::io::Write as _;
use std::os::fd::AsFd;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// A copy of the connection's socket.
pub(crate) struct LateAnswer {
    socket: std::net::TcpStream,
}

impl LateAnswer {
    /// Keeps a duplicate of `stream`'s descriptor; `None` if the system has none to give.
    pub(crate) fn for_stream(stream: &TcpStream) -> Option<LateAnswer> {
        let fd = stream.as_fd().try_clone_to_owned().ok()?;
        Some(LateAnswer {
            socket: std::net::TcpStream::from(fd),
        })
    }

    /// Sends `response` (if any) and closes the connection the way Apache does: stop sending,
    /// then read and discard what the client still sends for a moment, so that the response is
    /// not lost to a reset. Call once hyper has dropped the connection.
    pub(crate) async fn close(self, response: Option<&[u8]>) {
        if let Some(response) = response {
            // The socket is non-blocking and its send buffer (nearly) empty: a page this small
            // goes out whole, and a client that cannot take it loses nothing it waited for.
            let _ = (&self.socket).write_all(response);
        }
        let _ = self.socket.shutdown(std::net::Shutdown::Write);
        let Ok(mut socket) = TcpStream::from_std(self.socket) else {
            return;
        };
        let mut sink = [0u8; 4096];
        let linger = async { while matches!(socket.read(&mut sink).await, Ok(n) if n > 0) {} };
        let _ = tokio::time::timeout(LINGER, linger).await;
    }
}

/// How long a closing connection's late bytes are read and thrown away.
const LINGER: Duration = Duration::from_secs(2);
