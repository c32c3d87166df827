//! `--access-log-format json`: each access log line a JSON object, for log pipelines that would
//! otherwise parse Apache's combined format with a regular expression.
//!
//! The fields are the combined format's, by name, plus what correlates a line with the rest of
//! the server: the request id (the error log's `[request ID]` and the environ's
//! `mod_wsgi.request_id`), the duration, the process group and the worker's pid. A value the
//! combined format shows as `-` is `null`. serde_json escapes the strings, so a header holding
//! quotes or control characters cannot break the line.

use std::time::Duration;

use serde::Serialize;

use crate::access_log::AccessEntry;

/// One line's object.
#[derive(Debug, Serialize)]
struct JsonLine<'a> {
    /// RFC 3339, local time with its offset, microseconds.
    time: String,
    /// `%h`: the client (the one a trusted proxy's headers name, if they do).
    remote_host: String,
    /// `%l`: identd's answer, never asked: always `null`.
    ident: Option<&'a str>,
    /// `%u`: the user the request's credentials named.
    user: Option<std::borrow::Cow<'a, str>>,
    /// `%r`: the request line.
    request: String,
    /// `%>s`.
    status: u16,
    /// `%B`: body bytes sent.
    bytes: u64,
    referer: Option<std::borrow::Cow<'a, str>>,
    user_agent: Option<std::borrow::Cow<'a, str>>,
    request_id: &'a str,
    /// `%D`: microseconds from the request's head to the end of its response.
    duration_us: u128,
    process_group: &'a str,
    pid: u32,
}

/// The line for `entry` (with its newline); `headers` are the captured `Referer` and
/// `User-Agent` values, in that order.
pub(crate) fn line(
    entry: &AccessEntry,
    headers: &[Option<http::HeaderValue>],
    bytes_sent: u64,
    elapsed: Duration,
    process_group: &str,
) -> String {
    let header = |index: usize| {
        headers
            .get(index)
            .and_then(Option::as_ref)
            .map(|value| String::from_utf8_lossy(value.as_bytes()))
    };
    let object = JsonLine {
        time: chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, false),
        remote_host: entry.client_ip().to_string(),
        ident: None,
        user: entry.user().map(String::from_utf8_lossy),
        request: entry.request_line(),
        status: entry.status().as_u16(),
        bytes: bytes_sent,
        referer: header(0),
        user_agent: header(1),
        request_id: entry.request_id(),
        duration_us: elapsed.as_micros(),
        process_group,
        pid: std::process::id(),
    };
    // Serialising strings and numbers into a `String` cannot fail.
    let mut line = serde_json::to_string(&object).unwrap_or_default();
    line.push('\n');
    line
}
