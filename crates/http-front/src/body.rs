//! The body of every response the server sends, whatever produced it.
//!
//! One enum covers the cases instead of a boxed trait object: an empty body, a body known whole
//! (sent by hyper together with the head when it is small), a stream from the application, and a
//! file region read on tokio's blocking pool (never on an I/O thread).
//!
//! A [`RequestTracker`] rides along with the body: when the body is finished or dropped it
//! records the bytes sent in the access log and tells the connection it is idle again.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::task::JoinHandle;

use crate::application::{BoxError, FileRegion};
use crate::conn::RequestTracker;

/// How much of a file is read per step.
const FILE_CHUNK: u64 = 128 * 1024;

/// A response body.
pub struct ResponseBody<S> {
    kind: Kind<S>,
    tracker: Option<RequestTracker>,
}

enum Kind<S> {
    Empty,
    Full(Option<Bytes>),
    Stream(S),
    File(FileStream),
}

impl<S> ResponseBody<S> {
    /// No body.
    pub fn empty() -> ResponseBody<S> {
        ResponseBody {
            kind: Kind::Empty,
            tracker: None,
        }
    }

    /// A body known whole.
    pub fn full(data: Bytes) -> ResponseBody<S> {
        ResponseBody {
            kind: Kind::Full(Some(data)),
            tracker: None,
        }
    }

    /// A body streamed by the application.
    pub fn stream(stream: S) -> ResponseBody<S> {
        ResponseBody {
            kind: Kind::Stream(stream),
            tracker: None,
        }
    }

    /// A file region.
    pub fn file(region: FileRegion) -> ResponseBody<S> {
        ResponseBody {
            kind: Kind::File(FileStream {
                file: Arc::new(region.file),
                offset: region.offset,
                remaining: region.len,
                reading: None,
                done: region.done,
            }),
            tracker: None,
        }
    }

    /// Attaches the request's tracker, which is told how many bytes were sent.
    pub(crate) fn tracked(mut self, tracker: RequestTracker) -> ResponseBody<S> {
        self.tracker = Some(tracker);
        self
    }
}

impl<S> http_body::Body for ResponseBody<S>
where
    S: http_body::Body<Data = Bytes, Error = BoxError> + Unpin,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let frame = match &mut this.kind {
            Kind::Empty => None,
            Kind::Full(data) => data.take().map(|d| Ok(Frame::data(d))),
            Kind::Stream(stream) => ready!(Pin::new(stream).poll_frame(cx)),
            Kind::File(file) => ready!(file.poll_chunk(cx)).map(|r| r.map(Frame::data)),
        };
        if let (Some(Ok(frame)), Some(tracker)) = (&frame, &mut this.tracker) {
            if let Some(data) = frame.data_ref() {
                tracker.add_sent(data.len() as u64);
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty | Kind::Full(None) => true,
            Kind::Full(Some(_)) => false,
            Kind::Stream(stream) => stream.is_end_stream(),
            Kind::File(file) => file.remaining == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Empty | Kind::Full(None) => SizeHint::with_exact(0),
            Kind::Full(Some(data)) => SizeHint::with_exact(data.len() as u64),
            Kind::Stream(stream) => stream.size_hint(),
            Kind::File(file) => SizeHint::with_exact(file.remaining),
        }
    }
}

/// A file region, read a chunk at a time on the blocking pool.
struct FileStream {
    file: Arc<File>,
    offset: u64,
    remaining: u64,
    reading: Option<JoinHandle<std::io::Result<Bytes>>>,
    /// Dropped with the stream: tells the application's thread that the file is done with.
    done: Option<tokio::sync::oneshot::Sender<()>>,
}

impl FileStream {
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BoxError>>> {
        if self.remaining == 0 {
            self.done.take();
            return Poll::Ready(None);
        }
        let reading = self.reading.get_or_insert_with(|| {
            let file = Arc::clone(&self.file);
            let (offset, len) = (self.offset, self.remaining.min(FILE_CHUNK) as usize);
            tokio::task::spawn_blocking(move || {
                let mut buffer = vec![0u8; len];
                let read = file.read_at(&mut buffer, offset)?;
                buffer.truncate(read);
                Ok(Bytes::from(buffer))
            })
        });
        let result = ready!(Pin::new(reading).poll(cx));
        self.reading = None;
        let chunk = match result {
            Ok(Ok(chunk)) if chunk.is_empty() => {
                // The file is shorter than when the response began: the body cannot be
                // completed, so the connection is cut rather than the client left waiting.
                return Poll::Ready(Some(Err("the file shrank while it was being sent".into())));
            }
            Ok(Ok(chunk)) => chunk,
            Ok(Err(err)) => return Poll::Ready(Some(Err(Box::new(err)))),
            Err(join_error) => return Poll::Ready(Some(Err(Box::new(join_error)))),
        };
        self.offset += chunk.len() as u64;
        self.remaining -= chunk.len() as u64;
        Poll::Ready(Some(Ok(chunk)))
    }
}

use std::future::Future;

/// A stream type for responses that never stream (error pages, tests).
#[derive(Debug)]
pub enum NoStream {}

impl http_body::Body for NoStream {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match *self {}
    }
}
