//! What a request is inside the bridge: the shared [`AppRequest`] with where its reply goes,
//! and the streamed body the reply may carry.
//!
//! The request and response types themselves are `oxwsgi-exchange`'s, shared with the HTTP side
//! and moved across as they are.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use oxwsgi_exchange::{AppError, AppRequest, AppResponse, AuthAnswer, AuthQuestion, BoxError};
use tokio::sync::oneshot;

use crate::body_channel::BodyReceiver;

/// What the bridge answers a request with.
pub type Reply = Result<AppResponse<ChunkStream>, AppError>;

/// A streamed response body: chunks the application produces, through a channel bounded in
/// bytes (the application waits when it is full; see [`crate::body_channel`]).
///
/// When the application fails part-way (or its request times out), the body ends in an error,
/// so that hyper cuts the connection instead of ending the body cleanly and the client cannot
/// mistake a truncated body for a whole one. hyper drops whatever it has buffered when a body
/// fails, so the error is held back for one turn: the body first reports "not ready" (and asks
/// to be polled again), which lets hyper flush the bytes already produced; the client then sees
/// everything the application sent, followed by the cut.
#[derive(Debug)]
pub struct ChunkStream {
    rx: BodyReceiver,
    /// Fires when the request times out mid-stream; dropped unfired when the request ends.
    cut: Option<oneshot::Receiver<()>>,
    sent_since_flush: bool,
    held_error: Option<StreamAborted>,
}

impl ChunkStream {
    pub(crate) fn new(rx: BodyReceiver, cut: Option<oneshot::Receiver<()>>) -> ChunkStream {
        ChunkStream {
            rx,
            cut,
            sent_since_flush: true,
            held_error: None,
        }
    }

    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, StreamAborted>>> {
        if let Some(cut) = &mut self.cut {
            match Pin::new(cut).poll(cx) {
                Poll::Ready(Ok(())) => {
                    self.cut = None;
                    self.rx.close();
                    return Poll::Ready(Some(Err(StreamAborted::Timeout)));
                }
                Poll::Ready(Err(_)) => self.cut = None,
                Poll::Pending => {}
            }
        }
        self.rx.poll_recv(cx)
    }
}

impl http_body::Body for ChunkStream {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        if let Some(aborted) = self.held_error.take() {
            return Poll::Ready(Some(Err(Box::new(aborted))));
        }
        match self.poll_chunk(cx) {
            Poll::Ready(Some(Ok(data))) => {
                self.sent_since_flush = true;
                Poll::Ready(Some(Ok(http_body::Frame::data(data))))
            }
            Poll::Ready(Some(Err(aborted))) if self.sent_since_flush => {
                self.sent_since_flush = false;
                self.held_error = Some(aborted);
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Poll::Ready(Some(Err(aborted))) => Poll::Ready(Some(Err(Box::new(aborted)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                self.sent_since_flush = false;
                Poll::Pending
            }
        }
    }
}

/// A streamed response ended abnormally; the reason is in the error log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StreamAborted {
    /// The application raised while producing the body.
    #[error("the application raised while producing the response body")]
    ApplicationError,
    /// The body ended before the `Content-Length` the application declared.
    #[error("the response body ended before its declared Content-Length")]
    ShortBody,
    /// The request ran out of time while the body was being produced.
    #[error("the request timed out while producing the response body")]
    Timeout,
}

/// A request handed to the pool, with what to do with it and where the answer goes.
pub(crate) struct Job {
    pub(crate) request: AppRequest,
    pub(crate) task: Task,
    pub(crate) queued_at: Instant,
    pub(crate) queued_at_wall: SystemTime,
}

/// What a Python thread does with a [`Job`]'s request. Both kinds share one queue, its limit
/// and its timeout: a question for an authentication script takes a thread like a request
/// does, so it must not jump the queue nor wait without bound.
pub(crate) enum Task {
    /// Run the application; the reply goes here.
    Respond(oneshot::Sender<Reply>),
    /// Ask an authentication script (see [`crate::auth_script`]).
    Authorize(AuthTask),
}

/// A question for one of the worker's authentication scripts about a request.
pub(crate) struct AuthTask {
    /// The script, as the configuration names it.
    pub(crate) script: std::path::PathBuf,
    pub(crate) question: AuthQuestion,
    pub(crate) answer: oneshot::Sender<AuthAnswer>,
}
