//! Apache's request limits, by their Apache names: `LimitRequestLine` (414) and
//! `LimitRequestFieldSize` (431), checked on the parsed head with a page that names the limit.
//!
//! `LimitRequestFields` and the size of the head as a whole are hyper's to enforce (it answers
//! with a bare 431 before the head is parsed; see `conn.rs`), since hyper must be told how many
//! fields to make room for anyway.

use http::request::Parts;

use crate::error_response::Refusal;

/// The limits a request head is held to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SizeLimits {
    pub(crate) line: usize,
    pub(crate) field_size: usize,
}

/// Checks the request line and each header field against the limits.
pub(crate) fn check(head: &Parts, limits: SizeLimits) -> Result<(), Refusal> {
    if request_line_len(head) > limits.line {
        return Err(Refusal::RequestLineTooLong { limit: limits.line });
    }
    for (name, value) in &head.headers {
        // `Name: value`, as Apache counts it (without the line end).
        if name.as_str().len() + 2 + value.len() > limits.field_size {
            return Err(Refusal::HeaderFieldTooLarge {
                limit: limits.field_size,
            });
        }
    }
    Ok(())
}

/// The length of the request line as the client sent it, without its line end.
fn request_line_len(head: &Parts) -> usize {
    let uri = &head.uri;
    let path_and_query = uri.path_and_query().map_or(0, |pq| pq.as_str().len());
    let target = match (uri.scheme(), uri.authority()) {
        (Some(scheme), Some(authority)) => {
            scheme.as_str().len() + "://".len() + authority.as_str().len() + path_and_query
        }
        (None, Some(authority)) => authority.as_str().len(),
        _ => path_and_query,
    };
    head.method.as_str().len() + 1 + target + 1 + "HTTP/1.1".len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(target: &str) -> Parts {
        http::Request::get(target).body(()).unwrap().into_parts().0
    }

    #[test]
    fn the_request_line_is_measured_as_sent() {
        assert_eq!(
            request_line_len(&head("/abc?x=1")),
            "GET /abc?x=1 HTTP/1.1".len()
        );
        assert_eq!(
            request_line_len(&head("http://example.com:8080/a")),
            "GET http://example.com:8080/a HTTP/1.1".len()
        );
    }

    #[test]
    fn the_limits_are_inclusive() {
        let limits = SizeLimits {
            line: "GET /abc HTTP/1.1".len(),
            field_size: "x-a: 12".len(),
        };
        assert_eq!(check(&head("/abc"), limits), Ok(()));
        assert_eq!(
            check(&head("/abcd"), limits),
            Err(Refusal::RequestLineTooLong { limit: limits.line })
        );
        let mut fields = head("/abc");
        fields
            .headers
            .insert("x-a", http::HeaderValue::from_static("12"));
        assert_eq!(check(&fields, limits), Ok(()));
        fields
            .headers
            .insert("x-a", http::HeaderValue::from_static("123"));
        assert_eq!(
            check(&fields, limits),
            Err(Refusal::HeaderFieldTooLarge { limit: 7 })
        );
    }
}
