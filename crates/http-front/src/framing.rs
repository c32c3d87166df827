//! The request stream followed as it arrives, beside hyper, for what hyper's parser settles
//! before oxwsgi could look at a request.
//!
//! Most of RFC 9112 is checked on the request hyper hands over ([`crate::strict`]). A few
//! things never reach that point intact:
//!
//! * a request-line version other than `HTTP/1.0` and `HTTP/1.1`: httparse refuses every other
//!   one, and hyper answers with a bare 400. RFC 9110 §15.6.6 wants a 505 for a major version
//!   the server does not speak (`HTTP/2.0`, `HTTP/0.9`), and §2.5 says a higher minor version
//!   (`HTTP/1.2`) is to be served as the highest the server speaks: its digit is rewritten to
//!   `1` before hyper reads it;
//! * a fragment (`#…`) in the request target, which the `http` crate drops, so the application
//!   would see the target without it;
//! * a `Content-Length` after a `Transfer-Encoding`, which hyper drops without reading: an
//!   invalid one (`+5`) would pass unnoticed. Every `Content-Length` is checked here instead
//!   (digits only, the same in every field), and refused with a page rather than hyper's bare
//!   400;
//! * control bytes in a chunk extension, which hyper's chunked decoder skips unread, and a
//!   trailer section that is not field lines ending in CRLF (`0\r\n\nGET /x …`: hyper reads
//!   the request line as a trailer, a stricter parser as the next request);
//! * the rest of a chunked body's framing (sizes, CRLFs), which hyper checks too but only as
//!   the application reads: followed here, a malformed body that arrived with its head is
//!   refused before the application is called (below).
//!
//! Why hand-written: hyper has no hook between the socket and its parser, and these bytes are
//! gone, or answered, once it has parsed them. This is not a second parser. It only follows the
//! message boundaries (request line, fields, a `Content-Length` or chunked body, trailers) and
//! looks at the bytes above; it builds nothing. Anything it does not recognise — a line hyper
//! will refuse, a coding other than `chunked` — makes it stop following and let every later
//! byte through: hyper or [`crate::strict`] refuses such a request and closes the connection,
//! so nothing after it is read anyway. Its fuzz target is `fuzz/framing.rs`.
//!
//! A breach is found at a byte hyper has not seen yet: the bytes before it go on, the rest are
//! held back, and the stream ends there for hyper. A breach in a head is answered by the
//! connection itself once hyper is done with the requests before it ([`crate::conn`]).
//!
//! A body is streamed to its application, so a malformed one is often found after the
//! application was called: then the breach becomes a read error of that body, which the
//! application sees as a malformed body, and the client a 400. But when the request began in
//! the same read of the connection (see [`Framing::start_read`]), nothing of it has reached
//! hyper yet: the whole request is held back and refused like a malformed head, and its
//! application is never called. The connection reads on at once, without waiting, while such a
//! request's body is incomplete ([`Framing::awaits_fresh_body`]), so that a malformed or
//! truncated body that has already arrived is always seen this way.

use crate::error_response::Refusal;

/// Why a stream was cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Breach {
    /// A request head hyper must not see: the server answers it.
    Head(Refusal),
    /// A request body turned out malformed: the request reading it gets an error.
    Body(&'static str),
}

const FRAGMENT: &str = "the request target has a fragment (#), which a client never sends";
const BAD_VERSION: &str = "the request line's protocol is not of the form HTTP/1.1";
const BAD_LENGTH: &str = "the request's Content-Length is not a number of bytes";
const LENGTHS_DIFFER: &str = "the request has Content-Length fields that differ";
const BAD_CHUNK_SIZE: &str = "a chunk size of the request body is not a hexadecimal number";
const CHUNK_TOO_LARGE: &str = "a chunk size of the request body is too large";
const BAD_CHUNK_LINE: &str = "a chunk-size line of the request body does not end in CRLF";
const BAD_CHUNK_END: &str = "a chunk of the request body is not followed by CRLF";
const BAD_EXTENSION: &str = "a chunk extension of the request body has a control byte";
const BAD_TRAILER: &str = "the trailer section of the request body is malformed";
const INCOMPLETE_BODY: &str = crate::error_response::INCOMPLETE_BODY;

/// The longest field name looked at: `transfer-encoding`.
const NAME_CAP: usize = 17;
/// The request-line version kept: `HTTP/d.d`, and one byte more to see it is longer.
const VERSION_CAP: usize = 9;
/// The last `Transfer-Encoding` coding kept: `chunked`, and one byte more.
const CODING_CAP: usize = 8;

/// Where the stream is.
#[derive(Debug, Clone, Copy)]
enum State {
    /// Before a request line (empty lines before one are skipped, as httparse does).
    LineStart,
    Method,
    Target,
    Version {
        seen: [u8; VERSION_CAP],
        len: usize,
    },
    /// At the start of a field line, or of the empty line that ends the head.
    FieldStart,
    FieldName {
        name: [u8; NAME_CAP],
        len: usize,
    },
    /// The rest of a field line of no interest.
    FieldSkip,
    ContentLength(LengthValue),
    TransferEncoding(CodingValue),
    Body {
        remaining: u64,
    },
    ChunkSize {
        size: u64,
        digits: u32,
    },
    ChunkSizeSpace {
        size: u64,
    },
    ChunkExtension {
        size: u64,
    },
    ChunkSizeLf {
        size: u64,
    },
    ChunkData {
        remaining: u64,
    },
    ChunkDataCr,
    ChunkDataLf,
    TrailerStart,
    /// A trailer field line: whether its `:` and a CR have been seen (the CR must come last).
    TrailerLine {
        colon: bool,
        cr: bool,
    },
    TrailerEndLf,
    /// Something hyper refuses: no longer followed.
    Lost,
}

/// A `Content-Length` value being read: optional whitespace, digits, optional whitespace.
#[derive(Debug, Clone, Copy, Default)]
struct LengthValue {
    value: u64,
    digits: bool,
    trailing: bool,
}

/// A `Transfer-Encoding` value being read; only its last coding matters (as to hyper).
#[derive(Debug, Clone, Copy, Default)]
struct CodingValue {
    last: [u8; CODING_CAP],
    len: usize,
    /// Whitespace came after the coding's first byte: one more byte makes it malformed.
    ended: bool,
}

/// The framing fields of the head in progress.
#[derive(Debug, Clone, Copy, Default)]
struct HeadFraming {
    content_length: Option<u64>,
    transfer_encoding: bool,
    chunked: bool,
}

/// A connection's request stream, followed.
#[derive(Debug)]
pub(crate) struct Framing {
    state: State,
    head: HeadFraming,
    /// The version of the request line is being decided: bytes are held back until its end.
    withholding: bool,
    breach: Option<Breach>,
    /// Where the request in progress starts in the bytes of the current read, if it started in
    /// that read (nothing of it has gone to hyper then).
    request_start: Option<usize>,
    /// Request heads seen whole.
    heads: u64,
}

impl Default for Framing {
    fn default() -> Self {
        Framing::new()
    }
}

impl Framing {
    pub(crate) fn new() -> Framing {
        Framing {
            state: State::LineStart,
            head: HeadFraming::default(),
            withholding: false,
            breach: None,
            request_start: None,
            heads: 0,
        }
    }

    /// Why the stream was cut, once it was.
    pub(crate) fn breach(&self) -> Option<&Breach> {
        self.breach.as_ref()
    }

    /// Request heads seen whole so far.
    #[cfg(test)]
    pub(crate) fn heads(&self) -> u64 {
        self.heads
    }

    /// Whether the stream is between requests (nothing of the next one seen yet).
    #[cfg(test)]
    pub(crate) fn between_requests(&self) -> bool {
        matches!(self.state, State::LineStart)
    }

    /// Starts a read of the connection: the bytes fed until the next call are handed to hyper
    /// together, so a request that starts among them can still be held back whole.
    pub(crate) fn start_read(&mut self) {
        self.request_start = None;
    }

    /// Whether a request that started in the current read has its head complete and its body
    /// not yet: what the connection already holds of the body should be followed before any
    /// of the request goes on.
    pub(crate) fn awaits_fresh_body(&self) -> bool {
        self.breach.is_none()
            && self.request_start.is_some()
            && matches!(
                self.state,
                State::Body { .. }
                    | State::ChunkSize { .. }
                    | State::ChunkSizeSpace { .. }
                    | State::ChunkExtension { .. }
                    | State::ChunkSizeLf { .. }
                    | State::ChunkData { .. }
                    | State::ChunkDataCr
                    | State::ChunkDataLf
                    | State::TrailerStart
                    | State::TrailerLine { .. }
                    | State::TrailerEndLf
            )
    }

    /// The client closed its sending side. If that cuts short the body of a request that
    /// started in the current read, the request is refused whole: returns where it starts
    /// (the bytes from there on are held back).
    pub(crate) fn end_of_stream(&mut self) -> Option<usize> {
        if !self.awaits_fresh_body() {
            return None;
        }
        self.breach = Some(Breach::Head(Refusal::BadRequest(INCOMPLETE_BODY)));
        self.request_start
    }

    /// Follows the bytes of the current read, `bytes`, of which the first `fed` were followed
    /// by earlier calls, and returns how many of `bytes` may go on to hyper: all of them,
    /// unless a breach is found (the bytes from it on are held back, and every later byte too;
    /// from its request's start, for a body breach of a request that started in this read) or
    /// the version of a request line is being decided (held back until the line ends). May
    /// rewrite a version's minor digit in place.
    pub(crate) fn feed(&mut self, bytes: &mut [u8], fed: usize) -> usize {
        if self.breach.is_some() {
            return fed;
        }
        let mut hold_from = self.withholding.then_some(fed);
        let mut at = fed;
        while at < bytes.len() {
            match self.step(bytes, at, &mut hold_from) {
                Ok(next) => at = next,
                Err((breach, cut)) => {
                    let (breach, cut) = match (breach, self.request_start) {
                        (Breach::Body(why), Some(start)) => {
                            (Breach::Head(Refusal::BadRequest(why)), start)
                        }
                        (breach, _) => (breach, cut),
                    };
                    self.breach = Some(breach);
                    self.withholding = false;
                    return hold_from.unwrap_or(cut).min(cut);
                }
            }
            match self.state {
                State::Lost => return hold_from.unwrap_or(bytes.len()),
                State::LineStart => self.request_start = None,
                _ => {}
            }
        }
        hold_from.unwrap_or(bytes.len())
    }

    /// Takes one step from `bytes[at]` (one byte, or a run of bytes of no interest) and returns
    /// where the next step starts, or the breach found and the index of its byte.
    fn step(
        &mut self,
        bytes: &mut [u8],
        at: usize,
        hold_from: &mut Option<usize>,
    ) -> Result<usize, (Breach, usize)> {
        let byte = bytes[at];
        let mut next = at + 1;
        self.state = match self.state {
            State::LineStart => match byte {
                b'\r' | b'\n' => State::LineStart,
                b' ' | b'\t' => State::Lost,
                _ => {
                    self.request_start = Some(at);
                    State::Method
                }
            },
            State::Method => match memchr::memchr2(b' ', b'\n', &bytes[at..]) {
                Some(offset) if bytes[at + offset] == b' ' => {
                    next = at + offset + 1;
                    State::Target
                }
                Some(_) => State::Lost,
                None => {
                    next = bytes.len();
                    State::Method
                }
            },
            State::Target => match memchr::memchr3(b' ', b'#', b'\n', &bytes[at..]) {
                Some(offset) => match bytes[at + offset] {
                    b' ' => {
                        next = at + offset + 1;
                        State::Version {
                            seen: [0; VERSION_CAP],
                            len: 0,
                        }
                    }
                    b'#' => {
                        return Err((Breach::Head(Refusal::BadRequest(FRAGMENT)), at + offset));
                    }
                    _ => State::Lost,
                },
                None => {
                    next = bytes.len();
                    State::Target
                }
            },
            State::Version { mut seen, len } => match byte {
                b'\r' => State::Version { seen, len },
                b'\n' => {
                    if self.withholding {
                        let seen = &seen[..len.min(VERSION_CAP)];
                        return Err((Breach::Head(version_refusal(seen)), at));
                    }
                    State::FieldStart
                }
                _ => {
                    if len < VERSION_CAP {
                        seen[len] = byte;
                    }
                    if len == 5 && &seen[..5] == b"HTTP/" && byte.is_ascii_digit() && byte != b'1' {
                        // Another major version: decided at the line's end, unseen by hyper.
                        self.withholding = true;
                        hold_from.get_or_insert(at);
                    }
                    if len == 7 && &seen[..7] == b"HTTP/1." && matches!(byte, b'2'..=b'9') {
                        // A later HTTP/1 minor version is served as HTTP/1.1 (RFC 9110 §2.5).
                        bytes[at] = b'1';
                    }
                    State::Version {
                        seen,
                        len: (len + 1).min(VERSION_CAP + 1),
                    }
                }
            },
            State::FieldStart => match byte {
                b'\r' => State::FieldStart,
                b'\n' => self.end_head(),
                b' ' | b'\t' => State::Lost,
                _ => {
                    let mut name = [0; NAME_CAP];
                    name[0] = byte;
                    State::FieldName { name, len: 1 }
                }
            },
            State::FieldName { mut name, len } => match byte {
                b':' => {
                    let name = &name[..len.min(NAME_CAP)];
                    if len > NAME_CAP {
                        State::FieldSkip
                    } else if name.eq_ignore_ascii_case(b"content-length") {
                        State::ContentLength(LengthValue::default())
                    } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                        State::TransferEncoding(CodingValue::default())
                    } else {
                        State::FieldSkip
                    }
                }
                b'\n' => State::Lost,
                _ => {
                    if len < NAME_CAP {
                        name[len] = byte;
                    }
                    State::FieldName {
                        name,
                        len: (len + 1).min(NAME_CAP + 1),
                    }
                }
            },
            State::FieldSkip => match memchr::memchr(b'\n', &bytes[at..]) {
                Some(offset) => {
                    next = at + offset + 1;
                    State::FieldStart
                }
                None => {
                    next = bytes.len();
                    State::FieldSkip
                }
            },
            State::ContentLength(mut value) => match byte {
                b' ' | b'\t' => {
                    value.trailing |= value.digits;
                    State::ContentLength(value)
                }
                b'0'..=b'9' if !value.trailing => {
                    value.value = value
                        .value
                        .checked_mul(10)
                        .and_then(|v| v.checked_add(u64::from(byte - b'0')))
                        .ok_or((Breach::Head(Refusal::BadRequest(BAD_LENGTH)), at))?;
                    value.digits = true;
                    State::ContentLength(value)
                }
                b'\r' => State::ContentLength(value),
                b'\n' if value.digits => {
                    if self
                        .head
                        .content_length
                        .is_some_and(|earlier| earlier != value.value)
                    {
                        return Err((Breach::Head(Refusal::BadRequest(LENGTHS_DIFFER)), at));
                    }
                    self.head.content_length = Some(value.value);
                    State::FieldStart
                }
                _ => return Err((Breach::Head(Refusal::BadRequest(BAD_LENGTH)), at)),
            },
            State::TransferEncoding(mut coding) => match byte {
                b',' => State::TransferEncoding(CodingValue::default()),
                b' ' | b'\t' => {
                    coding.ended |= coding.len > 0;
                    State::TransferEncoding(coding)
                }
                b'\r' => State::TransferEncoding(coding),
                b'\n' => {
                    let last = &coding.last[..coding.len.min(CODING_CAP)];
                    self.head.transfer_encoding = true;
                    self.head.chunked = last.eq_ignore_ascii_case(b"chunked");
                    State::FieldStart
                }
                _ => {
                    if coding.ended {
                        coding.len = CODING_CAP;
                    } else if coding.len < CODING_CAP {
                        coding.last[coding.len] = byte;
                        coding.len += 1;
                    }
                    State::TransferEncoding(coding)
                }
            },
            State::Body { remaining } => {
                let (next_at, left) = skip(bytes.len(), at, remaining);
                next = next_at;
                match left {
                    0 => State::LineStart,
                    left => State::Body { remaining: left },
                }
            }
            State::ChunkSize { size, digits } => match byte {
                b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                    let digit = (byte as char).to_digit(16).expect("a hex digit");
                    let size = size
                        .checked_mul(16)
                        .ok_or((Breach::Body(CHUNK_TOO_LARGE), at))?;
                    State::ChunkSize {
                        size: size + u64::from(digit),
                        digits: digits + 1,
                    }
                }
                _ if digits == 0 => return Err((Breach::Body(BAD_CHUNK_SIZE), at)),
                b' ' | b'\t' => State::ChunkSizeSpace { size },
                b';' => State::ChunkExtension { size },
                b'\r' => State::ChunkSizeLf { size },
                _ => return Err((Breach::Body(BAD_CHUNK_SIZE), at)),
            },
            State::ChunkSizeSpace { size } => match byte {
                b' ' | b'\t' => State::ChunkSizeSpace { size },
                b';' => State::ChunkExtension { size },
                b'\r' => State::ChunkSizeLf { size },
                _ => return Err((Breach::Body(BAD_CHUNK_SIZE), at)),
            },
            State::ChunkExtension { size } => match byte {
                b'\r' => State::ChunkSizeLf { size },
                b'\n' => return Err((Breach::Body(BAD_CHUNK_LINE), at)),
                b'\t' | b' '..=b'~' | 0x80..=0xff => State::ChunkExtension { size },
                _ => return Err((Breach::Body(BAD_EXTENSION), at)),
            },
            State::ChunkSizeLf { size } => match (byte, size) {
                (b'\n', 0) => State::TrailerStart,
                (b'\n', size) => State::ChunkData { remaining: size },
                _ => return Err((Breach::Body(BAD_CHUNK_LINE), at)),
            },
            State::ChunkData { remaining } => {
                let (next_at, left) = skip(bytes.len(), at, remaining);
                next = next_at;
                match left {
                    0 => State::ChunkDataCr,
                    left => State::ChunkData { remaining: left },
                }
            }
            State::ChunkDataCr => match byte {
                b'\r' => State::ChunkDataLf,
                _ => return Err((Breach::Body(BAD_CHUNK_END), at)),
            },
            State::ChunkDataLf => match byte {
                b'\n' => State::ChunkSize { size: 0, digits: 0 },
                _ => return Err((Breach::Body(BAD_CHUNK_END), at)),
            },
            State::TrailerStart => match byte {
                b'\r' => State::TrailerEndLf,
                b'\n' => return Err((Breach::Body(BAD_TRAILER), at)),
                b':' => State::TrailerLine {
                    colon: true,
                    cr: false,
                },
                _ => State::TrailerLine {
                    colon: false,
                    cr: false,
                },
            },
            State::TrailerLine { colon, cr } => match byte {
                // A field line ends with CRLF and has a colon; anything else in the trailer
                // section (a bare LF, a request line) is where parsers part ways.
                b'\n' if cr && colon => State::TrailerStart,
                b'\n' => return Err((Breach::Body(BAD_TRAILER), at)),
                b'\r' => State::TrailerLine { colon, cr: true },
                _ if cr => return Err((Breach::Body(BAD_TRAILER), at)),
                b':' => State::TrailerLine { colon: true, cr },
                _ => State::TrailerLine { colon, cr },
            },
            State::TrailerEndLf => match byte {
                b'\n' => State::LineStart,
                _ => return Err((Breach::Body(BAD_TRAILER), at)),
            },
            State::Lost => {
                next = bytes.len();
                State::Lost
            }
        };
        Ok(next)
    }

    /// The empty line after the fields: the body's framing follows from them.
    fn end_head(&mut self) -> State {
        self.heads += 1;
        let head = std::mem::take(&mut self.head);
        match (head.transfer_encoding, head.chunked, head.content_length) {
            (true, true, _) => State::ChunkSize { size: 0, digits: 0 },
            (true, false, _) => State::Lost,
            (false, _, Some(length)) if length > 0 => State::Body { remaining: length },
            (false, _, _) => State::LineStart,
        }
    }
}

/// Skips up to `remaining` bytes from `at` in a buffer of `len`: where the next step starts,
/// and how many are still to skip.
fn skip(len: usize, at: usize, remaining: u64) -> (usize, u64) {
    let available = (len - at) as u64;
    let taken = available.min(remaining);
    (at + taken as usize, remaining - taken)
}

/// The answer to a request line whose version is not HTTP/1: a 505 for a well-formed other
/// version, a 400 for anything else.
fn version_refusal(seen: &[u8]) -> Refusal {
    match seen {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Refusal::VersionNotSupported
        }
        _ => Refusal::BadRequest(BAD_VERSION),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` as one read: the bytes passed, and the breach.
    fn follow(input: &[u8]) -> (Vec<u8>, Option<Breach>) {
        follow_in_reads(&[input])
    }

    /// Feeds each of `reads` as one read: the bytes passed, and the breach.
    fn follow_in_reads(reads: &[&[u8]]) -> (Vec<u8>, Option<Breach>) {
        let mut framing = Framing::new();
        let mut passed = Vec::new();
        for read in reads {
            framing.start_read();
            let mut bytes = read.to_vec();
            let n = framing.feed(&mut bytes, 0);
            passed.extend_from_slice(&bytes[..n]);
        }
        (passed, framing.breach().cloned())
    }

    const GET: &[u8] = b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n";

    #[test]
    fn well_formed_requests_pass_whole() {
        let mut input = GET.to_vec();
        input.extend_from_slice(b"POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n#####");
        input.extend_from_slice(
            b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
              5;name=\"v a\"\r\n#####\r\n0\r\nX-T: 1\r\n\r\n",
        );
        input.extend_from_slice(GET);
        let mut framing = Framing::new();
        let mut bytes = input.clone();
        assert_eq!(framing.feed(&mut bytes, 0), input.len());
        assert_eq!(bytes, input);
        assert_eq!(framing.heads(), 4);
        assert!(framing.between_requests());
    }

    #[test]
    fn a_fragment_is_cut_before_hyper_sees_it() {
        let (passed, breach) = follow(b"GET /a#b HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(passed, b"GET /a");
        assert_eq!(breach, Some(Breach::Head(Refusal::BadRequest(FRAGMENT))));
    }

    #[test]
    fn other_major_versions_are_held_back_and_refused() {
        let (passed, breach) = follow(b"GET / HTTP/2.0\r\nHost: t\r\n\r\n");
        assert_eq!(passed, b"GET / HTTP/");
        assert_eq!(breach, Some(Breach::Head(Refusal::VersionNotSupported)));
        let (passed, breach) = follow(b"GET / HTTP/3\r\n\r\n");
        assert_eq!(passed, b"GET / HTTP/");
        assert_eq!(breach, Some(Breach::Head(Refusal::BadRequest(BAD_VERSION))));
    }

    #[test]
    fn a_version_held_back_across_reads_is_decided_at_its_line_end() {
        let mut framing = Framing::new();
        let mut first = b"GET / HTTP/0".to_vec();
        assert_eq!(framing.feed(&mut first, 0), b"GET / HTTP/".len());
        assert_eq!(framing.breach(), None);
        let mut second = b".9\r\n".to_vec();
        assert_eq!(framing.feed(&mut second, 0), 0);
        assert_eq!(
            framing.breach(),
            Some(&Breach::Head(Refusal::VersionNotSupported))
        );
    }

    #[test]
    fn regression_a_version_longer_than_kept_is_refused() {
        // Found by fuzz_framing_is_the_same_in_any_reads: a held-back version of ten bytes
        // or more was sliced past the nine kept, and the connection's task panicked.
        let (passed, breach) = follow(b"POST / HTTP/2\x001.0\r\n\r\n");
        assert_eq!(passed, b"POST / HTTP/");
        assert_eq!(breach, Some(Breach::Head(Refusal::BadRequest(BAD_VERSION))));
    }

    #[test]
    fn a_later_http_1_minor_version_becomes_1_1() {
        let (passed, breach) = follow(b"GET / HTTP/1.2\r\nHost: t\r\n\r\n");
        assert_eq!(passed, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(breach, None);
    }

    #[test]
    fn content_length_is_digits_and_agrees_even_after_transfer_encoding() {
        for value in [
            &b"+5"[..],
            b"-5",
            b"0x5",
            b"5 5",
            b"5,5",
            b"",
            b"99999999999999999999",
        ] {
            let mut input =
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: ".to_vec();
            input.extend_from_slice(value);
            input.extend_from_slice(b"\r\n\r\n0\r\n\r\n");
            let (passed, breach) = follow(&input);
            assert_eq!(
                breach,
                Some(Breach::Head(Refusal::BadRequest(BAD_LENGTH))),
                "{value:?}"
            );
            assert!(!passed.ends_with(b"\r\n\r\n"), "{value:?}");
        }
        let (_, breach) =
            follow(b"POST / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 6\r\n\r\n");
        assert_eq!(
            breach,
            Some(Breach::Head(Refusal::BadRequest(LENGTHS_DIFFER)))
        );
        let (passed, breach) = follow(b"POST / HTTP/1.1\r\nContent-Length:\t 5 \r\n\r\nhello");
        assert_eq!((passed.len(), breach), (45, None));
    }

    const CHUNKED_HEAD: &[u8] = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";

    #[test]
    fn a_malformed_chunked_body_breaks_the_body_once_its_head_went_on() {
        for (body, why) in [
            (&b"5;\x00\r\nhello\r\n0\r\n\r\n"[..], BAD_EXTENSION),
            (b"5;a=\x01\r\nhello\r\n0\r\n\r\n", BAD_EXTENSION),
            (b"5;a=\x7f\r\nhello\r\n0\r\n\r\n", BAD_EXTENSION),
            (b"5;a\nhello\r\n0\r\n\r\n", BAD_CHUNK_LINE),
            (b"5\rhello\r\n0\r\n\r\n", BAD_CHUNK_LINE),
            (b"zz\r\nhello\r\n0\r\n\r\n", BAD_CHUNK_SIZE),
            (b"5x\r\nhello\r\n0\r\n\r\n", BAD_CHUNK_SIZE),
            (b"5 x\r\nhello\r\n0\r\n\r\n", BAD_CHUNK_SIZE),
            (b"fffffffffffffffff\r\nhello\r\n0\r\n\r\n", CHUNK_TOO_LARGE),
            (b"5\r\nhelloXX\r\n0\r\n\r\n", BAD_CHUNK_END),
            (b"5\r\nhello\rX0\r\n\r\n", BAD_CHUNK_END),
            (b"0\r\n\rX", BAD_TRAILER),
        ] {
            let (passed, breach) = follow_in_reads(&[CHUNKED_HEAD, body]);
            assert_eq!(breach, Some(Breach::Body(why)), "{body:?}");
            assert!(passed.len() >= CHUNKED_HEAD.len(), "{body:?}");
            assert!(passed.len() < CHUNKED_HEAD.len() + body.len(), "{body:?}");
        }
    }

    #[test]
    fn a_malformed_body_that_came_with_its_head_holds_back_the_whole_request() {
        let mut input = GET.to_vec();
        input.extend_from_slice(CHUNKED_HEAD);
        input.extend_from_slice(b"5;\x00\r\nhello\r\n0\r\n\r\n");
        let (passed, breach) = follow(&input);
        assert_eq!(passed, GET);
        assert_eq!(
            breach,
            Some(Breach::Head(Refusal::BadRequest(BAD_EXTENSION)))
        );
        // The request's head came in an earlier read: the body breaks, as the request is
        // already on its way.
        let (passed, breach) =
            follow_in_reads(&[&input[..GET.len() + 10], &input[GET.len() + 10..]]);
        assert_eq!(passed.len(), GET.len() + CHUNKED_HEAD.len() + 2);
        assert_eq!(breach, Some(Breach::Body(BAD_EXTENSION)));
    }

    #[test]
    fn a_body_cut_short_in_the_read_of_its_head_holds_back_the_whole_request() {
        for body in [&b""[..], b"5\r\nhel", b"5\r\nhello\r\n0\r\n"] {
            let mut framing = Framing::new();
            framing.start_read();
            let mut input = GET.to_vec();
            input.extend_from_slice(CHUNKED_HEAD);
            input.extend_from_slice(body);
            assert_eq!(framing.feed(&mut input, 0), input.len());
            assert!(framing.awaits_fresh_body());
            assert_eq!(framing.end_of_stream(), Some(GET.len()));
            assert_eq!(
                framing.breach(),
                Some(&Breach::Head(Refusal::BadRequest(INCOMPLETE_BODY)))
            );
        }
        // Once any of the request went on, its end is hyper's to see.
        let mut framing = Framing::new();
        framing.start_read();
        let mut head = CHUNKED_HEAD.to_vec();
        framing.feed(&mut head, 0);
        framing.start_read();
        assert!(!framing.awaits_fresh_body());
        assert_eq!(framing.end_of_stream(), None);
        // A complete request waits for nothing.
        let mut framing = Framing::new();
        framing.start_read();
        let mut input = CHUNKED_HEAD.to_vec();
        input.extend_from_slice(b"0\r\n\r\n");
        framing.feed(&mut input, 0);
        assert!(!framing.awaits_fresh_body());
    }

    #[test]
    fn a_read_fed_in_parts_is_one_read() {
        let mut input = CHUNKED_HEAD.to_vec();
        input.extend_from_slice(b"5\r\nhelloXX");
        let mut framing = Framing::new();
        framing.start_read();
        let split = CHUNKED_HEAD.len() + 3;
        assert_eq!(framing.feed(&mut input[..split], 0), split);
        assert_eq!(framing.feed(&mut input, split), 0);
        assert_eq!(
            framing.breach(),
            Some(&Breach::Head(Refusal::BadRequest(BAD_CHUNK_END)))
        );
    }

    #[test]
    fn regression_a_trailer_section_that_is_not_field_lines_breaks_the_body() {
        // Found by the end-to-end fuzzer: hyper took `\n` and a request line after the last
        // chunk for trailers, where h11 ends the body at `\n` and sees another request.
        let head = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
        for trailers in [
            &b"\nGET /x HTTP/1.1\r\n\r\n"[..],
            b"GET /x HTTP/1.1\r\n\r\n",
            b"X-T: 1\n\r\n",
        ] {
            let (_, breach) = follow_in_reads(&[head, trailers]);
            assert_eq!(breach, Some(Breach::Body(BAD_TRAILER)), "{trailers:?}");
        }
        let mut fine = head.to_vec();
        fine.extend_from_slice(b"X-T: 1\r\n\r\n");
        assert_eq!(follow(&fine), (fine.clone(), None));
    }

    #[test]
    fn what_hyper_refuses_is_no_longer_followed() {
        for input in [
            &b"GET / HTTP/1.1\r\n folded\r\n\r\nGET /#x HTTP/1.1\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nGET /#x HTTP/1.1\r\n\r\n",
        ] {
            let (passed, breach) = follow(input);
            assert_eq!((passed.len(), breach), (input.len(), None));
        }
    }

    #[test]
    fn after_a_breach_nothing_passes() {
        let mut framing = Framing::new();
        let mut bytes = b"GET /#".to_vec();
        assert_eq!(framing.feed(&mut bytes, 0), 5);
        let mut more = GET.to_vec();
        assert_eq!(framing.feed(&mut more, 0), 0);
    }
}

#[cfg(test)]
#[path = "fuzz/framing.rs"]
mod fuzz;
