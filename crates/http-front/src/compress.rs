//! `--compress-responses`: brotli or gzip for text-like responses, as the client accepts.
//!
//! A response is compressed when it is a whole 200 (never a range, a 304 or an already encoded
//! body), its type is text-like, it is not tiny, the client accepts `br` or `gzip`, and it does
//! not forbid transformation (`Cache-Control: no-transform`). Brotli is preferred when both are
//! accepted equally.
//!
//! Compression streams: each body chunk goes through the encoder and out at once (so a
//! streaming application still streams). Levels are chosen for throughput (gzip 5, brotli 4):
//! compression happens as the response is sent, not ahead of time. Chunks of 64 KiB or more
//! are compressed on tokio's blocking pool, so an I/O thread never spends milliseconds on one.

use std::io::Write;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};

use crate::body::ResponseBody;

/// Bodies shorter than this are not worth compressing.
const MINIMUM_LENGTH: u64 = 256;

/// A content coding this server can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    /// Brotli (`br`).
    Brotli,
    /// Gzip (`gzip`).
    Gzip,
}

impl Coding {
    /// The coding's token, as in `Content-Encoding`.
    pub(crate) fn token(self) -> &'static str {
        match self {
            Coding::Brotli => "br",
            Coding::Gzip => "gzip",
        }
    }
}

/// The codings a request accepts, best first (`Accept-Encoding` with its q-values; `*`
/// stands for any coding not named, and `q=0` refuses).
pub(crate) fn accepted(request: &HeaderMap) -> Vec<Coding> {
    let mut br = None;
    let mut gzip = None;
    let mut any = None;
    for value in request.get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let token = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                // `q=nan` parses, and a NaN compares false with everything: it would drop the
                // other coding too. Like any other malformed q-value, it counts as absent.
                .filter(|q| !q.is_nan())
                .unwrap_or(1.0);
            match token.as_str() {
                "br" => br = Some(q),
                "gzip" | "x-gzip" => gzip = Some(q),
                "*" => any = Some(q),
                _ => {}
            }
        }
    }
    let br = br.or(any).unwrap_or(0.0);
    let gzip = gzip.or(any).unwrap_or(0.0);
    let mut codings = Vec::with_capacity(2);
    if br > 0.0 && br >= gzip {
        codings.push(Coding::Brotli);
    }
    if gzip > 0.0 {
        codings.push(Coding::Gzip);
    }
    if br > 0.0 && br < gzip {
        codings.push(Coding::Brotli);
    }
    codings
}

/// Whether a media type is text-like (worth compressing).
fn compressible(content_type: &HeaderValue) -> bool {
    let Ok(value) = content_type.to_str() else {
        return false;
    };
    let media = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    media.starts_with("text/")
        || matches!(
            media.as_str(),
            "application/json"
                | "application/javascript"
                | "application/xml"
                | "application/xhtml+xml"
                | "application/rss+xml"
                | "application/atom+xml"
                | "application/ld+json"
                | "application/manifest+json"
                | "image/svg+xml"
        )
}

/// Compresses `response` if it qualifies (see the module documentation).
pub(crate) fn maybe_compress<S>(
    accepted: &[Coding],
    response: Response<ResponseBody<S>>,
) -> Response<ResponseBody<S>> {
    let Some(&coding) = accepted.first() else {
        return response;
    };
    let headers = response.headers();
    let qualifies = response.status() == StatusCode::OK
        && !headers.contains_key(header::CONTENT_ENCODING)
        && !headers.contains_key(header::CONTENT_RANGE)
        && headers.get(header::CONTENT_TYPE).is_some_and(compressible)
        && !headers.get_all(header::CACHE_CONTROL).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.to_ascii_lowercase().contains("no-transform"))
        })
        && headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .is_none_or(|len| len >= MINIMUM_LENGTH);
    if !qualifies {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static(coding.token()),
    );
    if !parts.headers.get_all(header::VARY).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.to_ascii_lowercase().contains("accept-encoding"))
    }) {
        parts
            .headers
            .append(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    // A compressed body is another representation: a strong validator must change with it.
    tag_etag(&mut parts.headers, coding);
    Response::from_parts(parts, body.compressed(Encoder::new(coding)))
}

/// Appends `+coding` to a response's entity tag.
fn tag_etag(headers: &mut HeaderMap, coding: Coding) {
    let Some(etag) = headers.get(header::ETAG).and_then(|v| v.to_str().ok()) else {
        return;
    };
    if let Some(inner) = etag.strip_suffix('"') {
        if let Ok(tagged) = HeaderValue::from_str(&format!("{inner}+{}\"", coding.token())) {
            headers.insert(header::ETAG, tagged);
        }
    }
}

/// Takes the `+br` or `+gzip` that compression added to entity tags out of a request's
/// `If-None-Match` and `If-Match`, so that the file or application compares the tag of the
/// representation it has (as Apache's mod_deflate does with its `-gzip`). Returns the coding
/// that was taken out, so a 304 can give the client back the tag it holds.
///
/// A `"` cannot occur inside an entity tag, so `+gzip"` can only be a tag's end.
pub(crate) fn untag_conditions(request: &mut HeaderMap) -> Option<Coding> {
    let mut found = None;
    for name in [header::IF_NONE_MATCH, header::IF_MATCH] {
        let header::Entry::Occupied(mut entry) = request.entry(name) else {
            continue;
        };
        for value in entry.iter_mut() {
            let Ok(text) = value.to_str() else { continue };
            let mut untagged = text.to_owned();
            for coding in [Coding::Brotli, Coding::Gzip] {
                let suffix = format!("+{}\"", coding.token());
                if untagged.contains(&suffix) {
                    untagged = untagged.replace(&suffix, "\"");
                    found = found.or(Some(coding));
                }
            }
            if untagged.len() != text.len() {
                if let Ok(new) = HeaderValue::from_str(&untagged) {
                    *value = new;
                }
            }
        }
    }
    found
}

/// Gives a 304 the entity tag the client holds, when [`untag_conditions`] took its coding out.
pub(crate) fn retag_not_modified<B>(response: &mut Response<B>, coding: Option<Coding>) {
    if let Some(coding) = coding {
        if response.status() == StatusCode::NOT_MODIFIED {
            tag_etag(response.headers_mut(), coding);
        }
    }
}

/// A streaming encoder: bytes in, compressed bytes out.
pub(crate) enum Encoder {
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
}

impl Encoder {
    pub(crate) fn new(coding: Coding) -> Encoder {
        match coding {
            Coding::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::new(5),
            )),
            Coding::Brotli => Encoder::Brotli(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                32 * 1024,
                4,
                20,
            ))),
        }
    }

    /// Compresses a chunk and flushes it, returning the compressed bytes so far.
    pub(crate) fn push(&mut self, data: &[u8]) -> Vec<u8> {
        match self {
            Encoder::Gzip(encoder) => {
                let _ = encoder.write_all(data);
                let _ = encoder.flush();
                std::mem::take(encoder.get_mut())
            }
            Encoder::Brotli(encoder) => {
                let _ = encoder.write_all(data);
                let _ = encoder.flush();
                std::mem::take(encoder.get_mut())
            }
        }
    }

    /// Ends the compressed stream, returning its last bytes.
    pub(crate) fn finish(self) -> Vec<u8> {
        match self {
            Encoder::Gzip(encoder) => encoder.finish().unwrap_or_default(),
            Encoder::Brotli(encoder) => encoder.into_inner(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(accept: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(accept).unwrap(),
        );
        h
    }

    #[test]
    fn brotli_is_preferred_unless_gzip_is_rated_higher() {
        assert_eq!(
            accepted(&headers("gzip, deflate, br")),
            [Coding::Brotli, Coding::Gzip]
        );
        assert_eq!(
            accepted(&headers("br;q=0.5, gzip")),
            [Coding::Gzip, Coding::Brotli]
        );
        assert_eq!(accepted(&headers("gzip")), [Coding::Gzip]);
        assert_eq!(accepted(&headers("br;q=0, *")), [Coding::Gzip]);
        assert!(accepted(&headers("identity")).is_empty());
        assert!(accepted(&HeaderMap::new()).is_empty());
    }

    #[test]
    fn text_like_types_are_compressible() {
        assert!(compressible(&HeaderValue::from_static(
            "text/html; charset=utf-8"
        )));
        assert!(compressible(&HeaderValue::from_static("application/json")));
        assert!(!compressible(&HeaderValue::from_static("image/png")));
    }

    #[test]
    fn streamed_gzip_decompresses_to_the_input() {
        let mut encoder = Encoder::new(Coding::Gzip);
        let mut out = encoder.push(b"hello ");
        out.extend(encoder.push(b"world"));
        out.extend(encoder.finish());
        let mut decoded = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&out[..]), &mut decoded)
            .unwrap();
        assert_eq!(decoded, "hello world");
    }

    #[test]
    fn streamed_brotli_decompresses_to_the_input() {
        let mut encoder = Encoder::new(Coding::Brotli);
        let mut out = encoder.push(b"hello ");
        out.extend(encoder.push(b"world"));
        out.extend(encoder.finish());
        let mut decoded = Vec::new();
        brotli::BrotliDecompress(&mut &out[..], &mut decoded).unwrap();
        assert_eq!(decoded, b"hello world");
    }
}

#[cfg(test)]
#[path = "fuzz/compress.rs"]
mod fuzz;
