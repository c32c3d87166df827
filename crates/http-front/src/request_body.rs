//! The request body as applications get it: hyper's body, with its failures sorted into the
//! client's fault kinds, and a note of whether it was read to the end.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RequestBodyError {
    /// The body's framing is broken (a bad chunk size, say): the client is at fault, 400.
    #[error("the request body is not well-formed: {0}")]
    Malformed(#[source] hyper::Error),
    /// The client went away, or stopped, before the body ended.
    #[error("the client closed the connection before the request body ended: {0}")]
    Disconnected(#[source] hyper::Error),
}

impl RequestBodyError {
    fn classify(error: hyper::Error) -> RequestBodyError {
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
            RequestBodyError::Malformed(error)
        } else {
            RequestBodyError::Disconnected(error)
        }
    }
}

/// A request body on its way to an application.
#[derive(Debug)]
pub struct RequestBody {
    inner: Incoming,
    finished: Arc<AtomicBool>,
}

impl RequestBody {
    pub(crate) fn new(inner: Incoming) -> (RequestBody, Arc<AtomicBool>) {
        let finished = Arc::new(AtomicBool::new(false));
        (
            RequestBody {
                inner,
                finished: Arc::clone(&finished),
            },
            finished,
        )
    }
}

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = RequestBodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, RequestBodyError>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if frame.is_none() {
            self.finished.store(true, Ordering::Relaxed);
        }
        Poll::Ready(frame.map(|frame| frame.map_err(RequestBodyError::classify)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
