//! The response for an open file: validators, conditional requests and byte ranges, following
//! RFC 9110 §13 (preconditions) and §14 (ranges).
//!
//! Validators and dates are parsed and compared by the `headers` crate. The `Range` header is
//! evaluated here: `headers`' helper accepts a start past the end of the file and refuses a
//! suffix longer than the file, both of which RFC 9110 §14.1.2 treats otherwise.

use std::fs::{File, Metadata};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use headers::{
    ETag, HeaderMapExt, IfMatch, IfModifiedSince, IfNoneMatch, IfRange, IfUnmodifiedSince,
    LastModified,
};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};

use crate::application::FileRegion;
use crate::body::ResponseBody;

/// How a file's bytes are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transfer {
    /// Read in chunks on the blocking pool.
    Read,
    /// Memory-mapped (`--enable-sendfile`).
    Mapped,
}

/// A file to answer with, and what to say about it.
pub(crate) struct FileToServe {
    pub(crate) file: File,
    pub(crate) meta: Metadata,
    pub(crate) content_type: HeaderValue,
    /// The content coding of a precompressed sibling being served (`br`, `gzip`).
    pub(crate) encoding: Option<&'static str>,
    pub(crate) transfer: Transfer,
}

/// The response to GET or HEAD of a file.
pub(crate) fn respond<S>(
    method: &Method,
    request: &HeaderMap,
    file: FileToServe,
) -> Response<ResponseBody<S>> {
    let len = file.meta.len();
    let modified = file.meta.modified().ok();
    let etag = entity_tag(len, modified, file.encoding);
    let last_modified = modified.map(LastModified::from);

    if let Some(status) = precondition_failure(method, request, etag.as_ref(), modified) {
        let mut response = Response::new(ResponseBody::empty());
        *response.status_mut() = status;
        if status == StatusCode::NOT_MODIFIED {
            set_validators(response.headers_mut(), etag.as_ref(), last_modified);
            response
                .headers_mut()
                .insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        }
        return response;
    }

    let range = match request.get(header::RANGE) {
        Some(range)
            if *method == Method::GET && range_applies(request, etag.as_ref(), last_modified) =>
        {
            parse_range(range.as_bytes(), len)
        }
        _ => RangeRequest::Whole,
    };
    let (status, offset, count) = match range {
        RangeRequest::Whole => (StatusCode::OK, 0, len),
        RangeRequest::Part { start, end } => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        RangeRequest::Unsatisfiable => {
            let mut response = Response::new(ResponseBody::empty());
            *response.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_RANGE,
                header_value(format!("bytes */{len}")),
            );
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
            return response;
        }
    };

    let body = if *method == Method::HEAD || count == 0 {
        ResponseBody::empty()
    } else {
        let region = FileRegion {
            file: file.file,
            offset,
            len: count,
            done: None,
        };
        match file.transfer {
            Transfer::Read => ResponseBody::file(region),
            Transfer::Mapped => ResponseBody::mapped_file(region),
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, file.content_type);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    // The body may differ with Accept-Encoding (a precompressed sibling), so caches must key
    // on it.
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Some(encoding) = file.encoding {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
    }
    if status == StatusCode::PARTIAL_CONTENT {
        let end = offset + count - 1;
        headers.insert(
            header::CONTENT_RANGE,
            header_value(format!("bytes {offset}-{end}/{len}")),
        );
    }
    set_validators(headers, etag.as_ref(), last_modified);
    response
}

fn header_value(text: String) -> HeaderValue {
    HeaderValue::from_str(&text).expect("formatted from numbers")
}

fn set_validators(
    headers: &mut HeaderMap,
    etag: Option<&ETag>,
    last_modified: Option<LastModified>,
) {
    if let Some(etag) = etag {
        headers.typed_insert(etag.clone());
    }
    if let Some(last_modified) = last_modified {
        headers.typed_insert(last_modified);
    }
}

/// A strong entity tag from the file's size and modification time (and the coding of a
/// precompressed variant, which is a different representation): `"1a2b-65f0c3e1.1f0e"`.
fn entity_tag(len: u64, modified: Option<SystemTime>, encoding: Option<&str>) -> Option<ETag> {
    let since = modified?.duration_since(UNIX_EPOCH).ok()?;
    let suffix = encoding.map(|e| format!("-{e}")).unwrap_or_default();
    format!(
        "\"{len:x}-{:x}.{:x}{suffix}\"",
        since.as_secs(),
        since.subsec_nanos()
    )
    .parse()
    .ok()
}

/// RFC 9110 §13.2.2: the status a failed precondition gives, if one fails.
fn precondition_failure(
    method: &Method,
    request: &HeaderMap,
    etag: Option<&ETag>,
    modified: Option<SystemTime>,
) -> Option<StatusCode> {
    let safe = *method == Method::GET || *method == Method::HEAD;
    if let Some(if_match) = request.typed_get::<IfMatch>() {
        if !etag.is_some_and(|etag| if_match.precondition_passes(etag)) {
            return Some(StatusCode::PRECONDITION_FAILED);
        }
    } else if let Some(since) = request.typed_get::<IfUnmodifiedSince>() {
        if modified.is_some_and(|modified| !since.precondition_passes(modified)) {
            return Some(StatusCode::PRECONDITION_FAILED);
        }
    }
    if let Some(if_none_match) = request.typed_get::<IfNoneMatch>() {
        if etag.is_some_and(|etag| !if_none_match.precondition_passes(etag)) {
            return Some(if safe {
                StatusCode::NOT_MODIFIED
            } else {
                StatusCode::PRECONDITION_FAILED
            });
        }
    } else if let Some(since) = request.typed_get::<IfModifiedSince>() {
        if safe && modified.is_some_and(|modified| !since.is_modified(modified)) {
            return Some(StatusCode::NOT_MODIFIED);
        }
    }
    None
}

/// Whether a `Range` is to be honoured: always, unless an `If-Range` names another version of
/// the file (then the whole file is sent, so a resumed download never splices two versions).
fn range_applies(
    request: &HeaderMap,
    etag: Option<&ETag>,
    last_modified: Option<LastModified>,
) -> bool {
    match request.typed_get::<IfRange>() {
        Some(if_range) => !if_range.is_modified(etag, last_modified.as_ref()),
        None => true,
    }
}

/// What a `Range` header asks of a file of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeRequest {
    /// No usable range: send the whole file (also for several ranges, which the server may
    /// ignore, and for units other than bytes).
    Whole,
    /// Bytes `start..=end`.
    Part { start: u64, end: u64 },
    /// The range lies outside the file: 416.
    Unsatisfiable,
}

/// Evaluates a `Range` header value for a file of `len` bytes (RFC 9110 §14.1.2).
pub(crate) fn parse_range(value: &[u8], len: u64) -> RangeRequest {
    let Some(spec) = std::str::from_utf8(value)
        .ok()
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return RangeRequest::Whole;
    };
    if spec.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Whole;
    };
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first.trim(), last.trim()) {
        ("", suffix) => match number(suffix) {
            // Any suffix of an empty file is unsatisfiable (and `len - 1` below would
            // underflow).
            _ if len == 0 => RangeRequest::Unsatisfiable,
            Some(0) => RangeRequest::Unsatisfiable,
            Some(n) => RangeRequest::Part {
                start: len.saturating_sub(n),
                end: len - 1,
            },
            None => RangeRequest::Whole,
        },
        (start, "") => match number(start) {
            Some(start) if start < len => RangeRequest::Part {
                start,
                end: len - 1,
            },
            Some(_) => RangeRequest::Unsatisfiable,
            None => RangeRequest::Whole,
        },
        (start, end) => match (number(start), number(end)) {
            (Some(start), Some(end)) if start <= end && start < len => RangeRequest::Part {
                start,
                end: end.min(len - 1),
            },
            (Some(start), Some(end)) if start <= end => RangeRequest::Unsatisfiable,
            _ => RangeRequest::Whole,
        },
    }
}

/// An in-memory page (a listing), answered without validators.
pub(crate) fn page<S>(method: &Method, html: String) -> Response<ResponseBody<S>> {
    let len = html.len();
    let body = if *method == Method::HEAD {
        ResponseBody::empty()
    } else {
        ResponseBody::full(Bytes::from(html))
    };
    let mut response = Response::new(body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    response
}

#[cfg(test)]
mod tests {
    use super::RangeRequest::*;
    use super::*;

    #[test]
    fn byte_ranges_follow_rfc_9110() {
        assert_eq!(parse_range(b"bytes=0-9", 100), Part { start: 0, end: 9 });
        assert_eq!(parse_range(b"bytes=90-", 100), Part { start: 90, end: 99 });
        assert_eq!(
            parse_range(b"bytes=90-200", 100),
            Part { start: 90, end: 99 }
        );
        assert_eq!(parse_range(b"bytes=-10", 100), Part { start: 90, end: 99 });
        assert_eq!(parse_range(b"bytes=-500", 100), Part { start: 0, end: 99 });
        assert_eq!(parse_range(b"bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range(b"bytes=200-300", 100), Unsatisfiable);
        assert_eq!(parse_range(b"bytes=-0", 100), Unsatisfiable);
    }

    #[test]
    fn unusable_ranges_mean_the_whole_file() {
        assert_eq!(parse_range(b"bytes=5-1", 100), Whole);
        assert_eq!(parse_range(b"bytes=0-1,5-6", 100), Whole);
        assert_eq!(parse_range(b"items=0-1", 100), Whole);
        assert_eq!(parse_range(b"bytes=a-b", 100), Whole);
    }

    #[test]
    fn entity_tags_differ_by_coding() {
        let now = Some(SystemTime::now());
        assert_ne!(entity_tag(10, now, None), entity_tag(10, now, Some("br")));
        assert_eq!(entity_tag(10, now, None), entity_tag(10, now, None));
    }
}

#[cfg(test)]
#[path = "fuzz/respond.rs"]
mod fuzz;
