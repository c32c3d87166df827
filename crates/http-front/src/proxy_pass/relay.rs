//! A target's response body on its way to the client, frame by frame as it arrives, cut when
//! the target sends nothing for the proxy timeout (httpd's `ProxyTimeout` bounds each read
//! from the target).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

use crate::application::BoxError;

/// The target stopped sending its response body.
#[derive(Debug, thiserror::Error)]
#[error("the proxied server sent nothing for {0}s (--proxy-timeout); response cut")]
struct Silent(u64);

/// A target's response body, relayed.
pub(crate) struct RelayedBody {
    body: Incoming,
    timeout: Duration,
    idle: Pin<Box<Sleep>>,
}

impl RelayedBody {
    pub(super) fn new(body: Incoming, timeout: Duration) -> RelayedBody {
        RelayedBody {
            body,
            timeout,
            idle: Box::pin(tokio::time::sleep(timeout)),
        }
    }
}

impl Body for RelayedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(frame) => {
                let deadline = Instant::now() + this.timeout;
                this.idle.as_mut().reset(deadline);
                Poll::Ready(frame.map(|f| f.map_err(|err| Box::new(err) as BoxError)))
            }
            Poll::Pending => match this.idle.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    tracing::warn!("{}", Silent(this.timeout.as_secs()));
                    Poll::Ready(Some(Err(Box::new(Silent(this.timeout.as_secs())))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
