//! The answers a connection writes after hyper has let go of it: a 408 for a request head
//! that ran out of time ([`crate::head_clock`]), and the refusal of a request head that hyper
//! never saw ([`crate::framing`]). hyper has no response for either: the connection's stream is
//! taken back from hyper (`into_parts`) and the page written on it, through TLS when the
//! connection speaks it.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Sends `response` (if any) on `stream` and closes the connection the way Apache does: stop
/// sending, then read and discard what the client still sends for a moment, so that the
/// response is not lost to a reset.
pub(crate) async fn close<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    response: Option<&[u8]>,
) {
    let send = async {
        if let Some(response) = response {
            stream.write_all(response).await?;
        }
        stream.shutdown().await
    };
    // A page this small goes out at once into an (almost) empty send buffer; a client that
    // cannot take even that loses nothing it waited for.
    if !matches!(tokio::time::timeout(LINGER, send).await, Ok(Ok(()))) {
        return;
    }
    let mut sink = [0u8; 4096];
    let linger = async { while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {} };
    let _ = tokio::time::timeout(LINGER, linger).await;
}

/// How long a closing connection's page may take to go out, and how long its late bytes are
/// read and thrown away.
const LINGER: Duration = Duration::from_secs(2);
