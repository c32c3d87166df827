//! The WSGI pool seen as an [`Application`]: requests become [`WsgiRequest`]s, replies become
//! responses, and pool refusals and failures become the HTTP side's [`AppError`]s.
//!
//! Everything here is a move of owned parts from one type to the other; no body is copied.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::lifecycle::Activity;
use bytes::Bytes;
use http_body_util::BodyExt;
use oxwsgi_http_front::{
    AppBody, AppError, AppRequest, AppResponse, Application, BoxError, FileRegion, RequestBodyError,
};
use oxwsgi_wsgi_bridge::{
    BodyError, ChunkReceiver, Rejected, StreamAborted, WsgiBody, WsgiFailure, WsgiPool, WsgiReply,
    WsgiRequest,
};

/// Runs requests on the Python threads of this process.
pub(crate) struct WsgiApplication {
    pub(crate) pool: WsgiPool,
    pub(crate) activity: Arc<Activity>,
}

/// Counts a request as finished when dropped: with its response body, or with the future when
/// there is no response.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

impl Application for WsgiApplication {
    type Stream = WsgiStream;

    fn call(
        &self,
        request: AppRequest,
    ) -> impl Future<Output = Result<AppResponse<WsgiStream>, AppError>> + Send + 'static {
        // Queued now, while `self` is at hand; the future only waits for the reply.
        self.activity.request_started();
        let in_flight = InFlight(Arc::clone(&self.activity));
        let submitted = self.pool.submit(wsgi_request(request));
        async move {
            let reply = submitted.map_err(|rejected| match rejected {
                Rejected::QueueFull | Rejected::ShuttingDown => AppError::Unavailable,
            })?;
            match reply.await {
                Ok(WsgiReply::Response(response)) => Ok(AppResponse {
                    status: response.status,
                    reason: response.reason,
                    headers: response.headers,
                    body: match response.body {
                        WsgiBody::Empty => AppBody::Empty,
                        WsgiBody::Full(data) => AppBody::Full(data),
                        WsgiBody::Stream(chunks) => AppBody::Stream(WsgiStream::new(chunks)),
                        WsgiBody::File(file) => AppBody::File(FileRegion {
                            file: file.file,
                            offset: file.offset,
                            len: file.len,
                            done: Some(file.done),
                        }),
                    },
                    // Until the body is sent: a streamed response is a request in progress.
                    in_flight: Some(Box::new(in_flight)),
                }),
                Ok(WsgiReply::Failed(failure)) => Err(match failure {
                    WsgiFailure::QueueTimeout => AppError::QueueTimeout,
                    WsgiFailure::ApplicationError => AppError::Internal,
                    WsgiFailure::BodyTooLarge => AppError::BodyTooLarge,
                    WsgiFailure::BodyTimeout => AppError::BodyTimeout,
                    WsgiFailure::MalformedBody => AppError::MalformedBody,
                    WsgiFailure::ShuttingDown => AppError::Unavailable,
                    WsgiFailure::RequestTimeout => AppError::RequestTimeout,
                }),
                // The Python thread dropped the request without answering: an internal error,
                // already logged there.
                Err(_) => Err(AppError::Internal),
            }
        }
    }
}

fn wsgi_request(request: AppRequest) -> WsgiRequest {
    WsgiRequest {
        app: request.app,
        listener: request.listener,
        head: request.head,
        path: request.path,
        script_name_len: request.script_name_len,
        body: request.body.map(|body| {
            Box::pin(body.map_err(|error| match error {
                RequestBodyError::Malformed(e) => BodyError::Malformed(Box::new(e)),
                RequestBodyError::Disconnected(e) => BodyError::Disconnected(Box::new(e)),
            })) as oxwsgi_wsgi_bridge::RequestBody
        }),
        body_limit: request.body_limit,
        remote: request.remote,
        local: request.local,
        request_id: request.request_id,
        received_at: request.received_at,
    }
}

/// A streamed WSGI response body.
///
/// When the application fails part-way, the body ends in an error so that hyper cuts the
/// connection instead of ending the body cleanly. hyper drops whatever it has buffered when a
/// body fails, so the error is held back for one turn: the body first reports "not ready" (and
/// asks to be polled again), which lets hyper flush the head and the bytes already produced;
/// the client then sees everything the application sent, followed by the cut.
pub(crate) struct WsgiStream {
    chunks: ChunkReceiver,
    sent_since_flush: bool,
    held_error: Option<StreamAborted>,
}

impl WsgiStream {
    fn new(chunks: ChunkReceiver) -> WsgiStream {
        WsgiStream {
            chunks,
            sent_since_flush: true,
            held_error: None,
        }
    }
}

impl http_body::Body for WsgiStream {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        if let Some(aborted) = self.held_error.take() {
            return Poll::Ready(Some(Err(Box::new(aborted))));
        }
        match self.chunks.poll_recv(cx) {
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
