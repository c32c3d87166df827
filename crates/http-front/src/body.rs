//! The body of every response the server sends, whatever produced it.
//!
//! One enum covers the cases instead of a boxed trait object: an empty body, a body known whole
//! (sent by hyper together with the head when it is small), a stream from the application, and
//! a file region. File regions are read in chunks into buffers — on the I/O thread when the
//! bytes are in the page cache (`RWF_NOWAIT`), otherwise on tokio's blocking pool, so an I/O
//! thread never waits for the disk — or, with `--enable-sendfile`, as memory-mapped windows
//! (on the blocking pool) whose pages go to the socket without a copy through a read buffer. (Real `sendfile(2)` is
//! not possible while hyper writes the response; mapping is the zero-copy path it leaves.)
//!
//! A body can be compressed on the way out ([`crate::compress`]). A [`RequestTracker`] rides
//! along: when the body is finished or dropped it records the bytes sent in the access log and
//! tells the connection it is idle again.

use std::fs::File;
use std::future::Future;
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::task::JoinHandle;

use crate::application::{BoxError, FileRegion, InFlightGuard};
use crate::compress::Encoder;
use crate::conn::RequestTracker;

/// How much of a file is read per step.
const FILE_CHUNK: u64 = 128 * 1024;
/// How much of a file is mapped at once with `--enable-sendfile`: large enough to make the
/// mapping cost negligible, small enough that a 1 GiB download never maps 1 GiB.
const MAP_WINDOW: u64 = 8 * 1024 * 1024;
/// Chunks at least this long are compressed on the blocking pool.
const BLOCKING_COMPRESSION: usize = 64 * 1024;

/// A response body.
pub struct ResponseBody<S> {
    kind: Kind<S>,
    tracker: Option<RequestTracker>,
    compression: Option<Compression>,
    /// The application's token, dropped with the body.
    _in_flight: Option<InFlightGuard>,
}

enum Kind<S> {
    Empty,
    Full(Option<Bytes>),
    Stream(S),
    File(FileStream),
    /// A proxied server's response, relayed as it comes ([`crate::proxy_pass`]).
    Proxied(crate::proxy_pass::RelayedBody),
}

impl<S> ResponseBody<S> {
    fn of(kind: Kind<S>) -> ResponseBody<S> {
        ResponseBody {
            kind,
            tracker: None,
            compression: None,
            _in_flight: None,
        }
    }

    /// No body.
    pub fn empty() -> ResponseBody<S> {
        ResponseBody::of(Kind::Empty)
    }

    /// A body known whole.
    pub fn full(data: Bytes) -> ResponseBody<S> {
        ResponseBody::of(Kind::Full(Some(data)))
    }

    /// A body streamed by the application.
    pub fn stream(stream: S) -> ResponseBody<S> {
        ResponseBody::of(Kind::Stream(stream))
    }

    /// A file region, read in chunks.
    pub fn file(region: FileRegion) -> ResponseBody<S> {
        ResponseBody::of(Kind::File(FileStream::new(region, Transfer::Read)))
    }

    /// A proxied server's response body.
    pub(crate) fn proxied(body: crate::proxy_pass::RelayedBody) -> ResponseBody<S> {
        ResponseBody::of(Kind::Proxied(body))
    }

    /// A file region sent as memory-mapped windows.
    pub(crate) fn mapped_file(region: FileRegion) -> ResponseBody<S> {
        ResponseBody::of(Kind::File(FileStream::new(region, Transfer::Mapped)))
    }

    /// Attaches the request's tracker, which is told how many bytes were sent.
    pub(crate) fn tracked(mut self, tracker: RequestTracker) -> ResponseBody<S> {
        self.tracker = Some(tracker);
        self
    }

    /// Holds the application's in-flight token until the body is done with.
    pub(crate) fn holding(mut self, in_flight: Option<InFlightGuard>) -> ResponseBody<S> {
        self._in_flight = in_flight;
        self
    }

    /// Compresses the body on the way out.
    ///
    /// A file being compressed is read, never mapped: the compressor reads the bytes in user
    /// space, where a file truncated under a mapping would raise SIGBUS and kill the process.
    pub(crate) fn compressed(mut self, encoder: Encoder) -> ResponseBody<S> {
        if let Kind::File(file) = &mut self.kind {
            file.transfer = Transfer::Read;
        }
        self.compression = Some(Compression::Ready(Box::new(encoder)));
        self
    }
}

impl<S> ResponseBody<S>
where
    S: http_body::Body<Data = Bytes, Error = BoxError> + Unpin,
{
    fn poll_source(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.kind {
            Kind::Empty => Poll::Ready(None),
            Kind::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            Kind::Stream(stream) => Pin::new(stream).poll_frame(cx),
            Kind::File(file) => file.poll_chunk(cx).map(|c| c.map(|r| r.map(Frame::data))),
            Kind::Proxied(body) => http_body::Body::poll_frame(Pin::new(body), cx),
        }
    }

    fn poll_compressed(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        loop {
            let Some(compression) = &mut self.compression else {
                return self.poll_source(cx);
            };
            match compression {
                Compression::Done => return Poll::Ready(None),
                Compression::Working(job) => {
                    let (encoder, out) = match ready!(Pin::new(job).poll(cx)) {
                        Ok(done) => done,
                        Err(err) => return Poll::Ready(Some(Err(Box::new(err)))),
                    };
                    *compression = Compression::Ready(encoder);
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
                    }
                    continue;
                }
                Compression::Ready(_) => {}
            }
            let frame = ready!(self.poll_source(cx));
            let Some(Compression::Ready(encoder)) = self.compression.take() else {
                unreachable!("the state was checked above");
            };
            let data = match frame {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => data,
                    Err(_trailers) => {
                        self.compression = Some(Compression::Ready(encoder));
                        continue;
                    }
                },
                Some(Err(err)) => {
                    self.compression = Some(Compression::Done);
                    return Poll::Ready(Some(Err(err)));
                }
                None => {
                    self.compression = Some(Compression::Done);
                    let tail = encoder.finish();
                    return Poll::Ready(
                        (!tail.is_empty()).then(|| Ok(Frame::data(Bytes::from(tail)))),
                    );
                }
            };
            let mut encoder = encoder;
            if data.len() >= BLOCKING_COMPRESSION {
                self.compression = Some(Compression::Working(tokio::task::spawn_blocking(
                    move || {
                        let out = encoder.push(&data);
                        (encoder, out)
                    },
                )));
                continue;
            }
            let out = encoder.push(&data);
            self.compression = Some(Compression::Ready(encoder));
            if !out.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
            }
        }
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
        let frame = ready!(this.poll_compressed(cx));
        if let (Some(Ok(frame)), Some(tracker)) = (&frame, &mut this.tracker) {
            if let Some(data) = frame.data_ref() {
                tracker.add_sent(data.len() as u64);
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        match (&self.compression, &self.kind) {
            (Some(Compression::Done), _) => true,
            (Some(_), _) => false,
            (None, Kind::Empty | Kind::Full(None)) => true,
            (None, Kind::Full(Some(_))) => false,
            (None, Kind::Stream(stream)) => stream.is_end_stream(),
            (None, Kind::File(file)) => file.remaining == 0,
            (None, Kind::Proxied(body)) => http_body::Body::is_end_stream(body),
        }
    }

    fn size_hint(&self) -> SizeHint {
        if self.compression.is_some() {
            return SizeHint::default();
        }
        match &self.kind {
            Kind::Empty | Kind::Full(None) => SizeHint::with_exact(0),
            Kind::Full(Some(data)) => SizeHint::with_exact(data.len() as u64),
            Kind::Stream(stream) => stream.size_hint(),
            Kind::File(file) => SizeHint::with_exact(file.remaining),
            Kind::Proxied(body) => http_body::Body::size_hint(body),
        }
    }
}

/// Where the compression of a body is.
enum Compression {
    Ready(Box<Encoder>),
    Working(JoinHandle<(Box<Encoder>, Vec<u8>)>),
    Done,
}

/// How a file's bytes are fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transfer {
    Read,
    Mapped,
}

/// A file region, fetched a step at a time on the blocking pool.
struct FileStream {
    file: Arc<File>,
    offset: u64,
    remaining: u64,
    transfer: Transfer,
    fetching: Option<JoinHandle<std::io::Result<Bytes>>>,
    /// Dropped with the stream: tells the application's thread the file is done with.
    done: Option<tokio::sync::oneshot::Sender<()>>,
}

impl FileStream {
    fn new(region: FileRegion, transfer: Transfer) -> FileStream {
        FileStream {
            file: Arc::new(region.file),
            offset: region.offset,
            remaining: region.len,
            transfer,
            fetching: None,
            done: region.done,
        }
    }

    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BoxError>>> {
        if self.remaining == 0 {
            self.done.take();
            return Poll::Ready(None);
        }
        if self.fetching.is_none() && self.transfer == Transfer::Read {
            // A file in the page cache is read here, without a hand-off to the blocking pool.
            let len = self.remaining.min(FILE_CHUNK) as usize;
            if let Some(chunk) = read_cached(&self.file, self.offset, len) {
                self.offset += chunk.len() as u64;
                self.remaining -= chunk.len() as u64;
                return Poll::Ready(Some(Ok(chunk)));
            }
        }
        let fetching = self.fetching.get_or_insert_with(|| {
            let file = Arc::clone(&self.file);
            let offset = self.offset;
            match self.transfer {
                Transfer::Read => {
                    let len = self.remaining.min(FILE_CHUNK) as usize;
                    tokio::task::spawn_blocking(move || {
                        let mut buffer = vec![0u8; len];
                        let read = file.read_at(&mut buffer, offset)?;
                        buffer.truncate(read);
                        Ok(Bytes::from(buffer))
                    })
                }
                Transfer::Mapped => {
                    let len = self.remaining.min(MAP_WINDOW) as usize;
                    tokio::task::spawn_blocking(move || {
                        map_window(&file, offset, len).map(Bytes::from_owner)
                    })
                }
            }
        });
        let result = ready!(Pin::new(fetching).poll(cx));
        self.fetching = None;
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

/// Reads up to `len` bytes of `file` from `offset` if they are in the page cache, without
/// waiting for the disk (`RWF_NOWAIT`); `None` when that is not possible (not cached, a file
/// system or kernel without the flag, the end of the file), and the caller reads on the blocking
/// pool instead.
fn read_cached(file: &File, offset: u64, len: usize) -> Option<Bytes> {
    let mut buffer = vec![0u8; len];
    let read = rustix::io::preadv2(
        file,
        &mut [std::io::IoSliceMut::new(&mut buffer)],
        offset,
        rustix::io::ReadWriteFlags::NOWAIT,
    )
    .ok()?;
    if read == 0 {
        return None;
    }
    buffer.truncate(read);
    Some(Bytes::from(buffer))
}

/// Maps `len` bytes of `file` from `offset`, read-only, with its pages read in now (on the
/// blocking pool) so that sending them does not wait on the disk.
#[allow(unsafe_code)]
fn map_window(file: &File, offset: u64, len: usize) -> std::io::Result<memmap2::Mmap> {
    let size = file.metadata()?.len();
    if offset >= size {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the file shrank while it was being sent",
        ));
    }
    let len = len.min((size - offset) as usize);
    // SAFETY: the mapping is private and read-only, and its bytes are only copied to the
    // socket, never interpreted, so another process writing to the file cannot break an
    // invariant here. Truncating the file while it is mapped makes reading past the new end
    // raise SIGBUS; that is the documented price of --enable-sendfile (as of Apache's
    // EnableMMAP), which is off by default.
    unsafe {
        memmap2::MmapOptions::new()
            .offset(offset)
            .len(len)
            .populate()
            .map(file)
    }
}

/// A stream type for responses that never stream (error pages, static files, tests).
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
