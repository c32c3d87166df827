//! The access log: one line per request in an Apache `LogFormat`, written by its own thread.
//!
//! The format string is parsed once at start-up into [`Item`]s; an unknown `%` directive is a
//! configuration error then, not a garbled log later. Per request, only what the format uses is
//! captured (the values of the `%{NAME}i` headers, say), and the line is formatted when the
//! response body is finished, so `%b` counts the bytes actually sent. Lines go through a channel
//! to a writer thread, so an I/O thread never waits on the disk. The file is an
//! [`oxwsgi_logging::LogFile`]: rotation reopens it under the writer, and a write that fails
//! (a full disk) loses its lines, counted, without stopping anything.
//!
//! `--access-log-format json` makes each line a JSON object instead ([`crate::access_json`]).
//!
//! The format itself is parsed by the configuration ([`oxwsgi_config::access_format`]).

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version};
use oxwsgi_config::access_format::{AccessFormat, FormatError, Item, Style};
use oxwsgi_config::{AccessLogSettings, LogDestination};
use oxwsgi_logging::LogFile;

/// The access log could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum AccessLogError {
    /// The format string is not usable.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// The log file could not be opened.
    #[error("could not open the access log {path}: {source}", path = path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// What is captured about a request when it arrives.
#[derive(Debug)]
pub(crate) struct AccessEntry {
    remote: SocketAddr,
    /// The client a trusted proxy's headers name, when they name an address: `%h` and `%a`
    /// show it, `%{c}a` and `%{c}h` the connection's peer.
    client: Option<IpAddr>,
    local: SocketAddr,
    method: Method,
    uri: Uri,
    version: Version,
    request_id: String,
    started: Instant,
    request_headers: Vec<Option<HeaderValue>>,
    status: StatusCode,
    response_headers: Vec<Option<HeaderValue>>,
    /// The user the request's credentials named, if its access rule asked for them: `%u`.
    user: Option<bytes::Bytes>,
}

impl AccessEntry {
    /// Logs `user` as the request's user (`%u`).
    pub(crate) fn set_user(&mut self, user: bytes::Bytes) {
        self.user = Some(user);
    }

    /// Logs `client` as the client (`%h`, `%a`): the address a trusted proxy's headers name.
    pub(crate) fn set_client(&mut self, client: IpAddr) {
        self.client = Some(client);
    }

    /// `%h`: the client (the one a trusted proxy's headers name, if they do).
    pub(crate) fn client_ip(&self) -> IpAddr {
        self.client.unwrap_or(self.remote.ip())
    }

    /// `%u`: the user the credentials named.
    pub(crate) fn user(&self) -> Option<&[u8]> {
        self.user.as_deref()
    }

    /// `%r`: the request line.
    pub(crate) fn request_line(&self) -> String {
        format!(
            "{} {} {:?}",
            self.method,
            self.uri.path_and_query().map_or("/", |pq| pq.as_str()),
            self.version
        )
    }

    /// `%>s`.
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    /// `%L`.
    pub(crate) fn request_id(&self) -> &str {
        &self.request_id
    }
}

/// The access log of one process.
#[derive(Debug)]
pub struct AccessLog {
    format: AccessFormat,
    request_headers: Vec<HeaderName>,
    response_headers: Vec<HeaderName>,
    server_name: String,
    /// The process group of the worker writing it (for JSON lines).
    process_group: String,
    lines: mpsc::Sender<String>,
}

/// An access log whose destination is open and whose writer thread is not started yet: a
/// worker opens its log before it switches user, and starts threads only after.
pub struct OpenedAccessLog {
    format: AccessFormat,
    sink: Arc<LogFile>,
    server_name: String,
    process_group: String,
}

impl std::fmt::Debug for OpenedAccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedAccessLog").finish_non_exhaustive()
    }
}

impl OpenedAccessLog {
    /// Starts the writer thread.
    pub fn start(self) -> Result<AccessLog, AccessLogError> {
        let OpenedAccessLog {
            format,
            sink,
            server_name,
            process_group,
        } = self;
        let (lines, receiver) = mpsc::channel::<String>();
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || write_lines(receiver, sink))
            .map_err(|source| AccessLogError::Open {
                path: PathBuf::from("(access log writer thread)"),
                source,
            })?;
        Ok(AccessLog {
            request_headers: header_names(&format.request_headers),
            response_headers: header_names(&format.response_headers),
            format,
            server_name,
            process_group,
            lines,
        })
    }
}

impl AccessLog {
    /// Parses the format and opens the destination, starting the writer thread.
    /// `process_group` names the group of the process writing it.
    pub fn open(
        settings: &AccessLogSettings,
        server_name: &str,
        process_group: &str,
    ) -> Result<AccessLog, AccessLogError> {
        AccessLog::prepare(settings, server_name, process_group)?.start()
    }

    /// Parses the format and opens the destination; [`OpenedAccessLog::start`] starts the
    /// writer thread.
    pub fn prepare(
        settings: &AccessLogSettings,
        server_name: &str,
        process_group: &str,
    ) -> Result<OpenedAccessLog, AccessLogError> {
        let format = AccessFormat::parse(&settings.format)?;
        let sink = match &settings.destination {
            // The server's own duplicate of standard output: the application may close
            // descriptor 1, and a client's socket would then take its number.
            LogDestination::Terminal => {
                let stdout =
                    oxwsgi_logging::terminal_stdout().map_err(|source| AccessLogError::Open {
                        path: PathBuf::from("(standard output)"),
                        source,
                    })?;
                LogFile::from_fd(stdout.into(), "the access log")
            }
            LogDestination::File(path) => {
                LogFile::open(path, "the access log").map_err(|source| AccessLogError::Open {
                    path: path.clone(),
                    source,
                })?
            }
        };
        Ok(OpenedAccessLog {
            format,
            sink,
            server_name: server_name.to_owned(),
            process_group: process_group.to_owned(),
        })
    }

    /// Captures what the format needs from a request.
    pub(crate) fn begin<B>(
        &self,
        head: &http::Request<B>,
        remote: SocketAddr,
        local: SocketAddr,
        request_id: &str,
        started: Instant,
    ) -> AccessEntry {
        AccessEntry {
            remote,
            client: None,
            local,
            method: head.method().clone(),
            uri: head.uri().clone(),
            version: head.version(),
            request_id: request_id.to_owned(),
            started,
            request_headers: capture(&self.request_headers, head.headers()),
            status: StatusCode::OK,
            response_headers: Vec::new(),
            user: None,
        }
    }

    /// Records the response head.
    pub(crate) fn respond(&self, entry: &mut AccessEntry, status: StatusCode, headers: &HeaderMap) {
        entry.status = status;
        entry.response_headers = capture(&self.response_headers, headers);
    }

    /// Formats and queues the line, once the body is done.
    pub(crate) fn finish(&self, entry: &AccessEntry, bytes_sent: u64) {
        let line = self.format_line(entry, bytes_sent, entry.started.elapsed());
        let _ = self.lines.send(line);
    }

    fn format_line(&self, entry: &AccessEntry, bytes_sent: u64, elapsed: Duration) -> String {
        if self.format.style == Style::Json {
            return crate::access_json::line(
                entry,
                &entry.request_headers,
                bytes_sent,
                elapsed,
                &self.process_group,
            );
        }
        let mut line = String::with_capacity(128);
        let header = |value: &Option<HeaderValue>| match value {
            Some(v) => String::from_utf8_lossy(v.as_bytes()).into_owned(),
            None => "-".to_owned(),
        };
        for item in &self.format.items {
            let _ = match item {
                Item::Literal(text) => write!(line, "{text}"),
                Item::RemoteIp => write!(line, "{}", entry.client_ip()),
                Item::PeerIp => write!(line, "{}", entry.remote.ip()),
                Item::LocalIp => write!(line, "{}", entry.local.ip()),
                Item::Dash => write!(line, "-"),
                Item::RemoteUser => match entry.user.as_deref() {
                    None => write!(line, "-"),
                    // httpd's `log_remote_user`: an empty name is `""`.
                    Some([]) => write!(line, "\"\""),
                    Some(user) => write!(line, "{}", escape_logitem(user)),
                },
                Item::Time => write!(
                    line,
                    "[{}]",
                    chrono::Local::now().format("%d/%b/%Y:%H:%M:%S %z")
                ),
                Item::TimeFormat(fmt) => write!(line, "[{}]", chrono::Local::now().format(fmt)),
                Item::RequestLine => write!(line, "{}", entry.request_line()),
                Item::Method => write!(line, "{}", entry.method),
                Item::UrlPath => write!(line, "{}", entry.uri.path()),
                Item::Query => match entry.uri.query() {
                    Some(q) => write!(line, "?{q}"),
                    None => Ok(()),
                },
                Item::Protocol => write!(line, "{:?}", entry.version),
                Item::Status => write!(line, "{}", entry.status.as_u16()),
                Item::BytesOrDash if bytes_sent == 0 => write!(line, "-"),
                Item::BytesOrDash | Item::Bytes => write!(line, "{bytes_sent}"),
                Item::Micros => write!(line, "{}", elapsed.as_micros()),
                Item::Millis => write!(line, "{}", elapsed.as_millis()),
                Item::Seconds => write!(line, "{}", elapsed.as_secs()),
                Item::RequestHeader(i) => {
                    write!(line, "{}", header(&entry.request_headers[*i]))
                }
                Item::ResponseHeader(i) => write!(
                    line,
                    "{}",
                    header(entry.response_headers.get(*i).unwrap_or(&None))
                ),
                Item::LocalPort => write!(line, "{}", entry.local.port()),
                Item::Pid => write!(line, "{}", std::process::id()),
                Item::RequestId => write!(line, "{}", entry.request_id),
                Item::ServerName => write!(line, "{}", self.server_name),
            };
        }
        line.push('\n');
        line
    }
}

/// httpd's `ap_escape_logitem`: `"` and `\\` escaped with a backslash, the usual control
/// characters as `\\n`, `\\t`, …, and any other byte that is not printable ASCII as `\\xhh`.
fn escape_logitem(text: &[u8]) -> String {
    let mut out = String::with_capacity(text.len());
    for &byte in text {
        match byte {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\x08' => out.push_str("\\b"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            b'\x0b' => out.push_str("\\v"),
            0x20..=0x7e => out.push(char::from(byte)),
            other => {
                let _ = write!(out, "\\x{other:02x}");
            }
        }
    }
    out
}

fn header_names(names: &[String]) -> Vec<HeaderName> {
    names
        .iter()
        .filter_map(|name| HeaderName::from_bytes(name.as_bytes()).ok())
        .collect()
}

fn capture(names: &[HeaderName], headers: &HeaderMap) -> Vec<Option<HeaderValue>> {
    names
        .iter()
        .map(|name| headers.get(name).cloned())
        .collect()
}

/// The most bytes the writer gathers into one write.
const BATCH: usize = 64 * 1024;

/// The writer thread: writes lines as they come, those that wait together in one write (of at
/// most [`BATCH`] bytes, whole lines only, so that a rotation never splits a line).
fn write_lines(lines: mpsc::Receiver<String>, sink: Arc<LogFile>) {
    let mut batch = String::with_capacity(BATCH);
    while let Ok(line) = lines.recv() {
        batch.push_str(&line);
        let mut count = 1;
        while batch.len() < BATCH {
            let Ok(line) = lines.try_recv() else { break };
            batch.push_str(&line);
            count += 1;
        }
        sink.write(batch.as_bytes(), count);
        batch.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> AccessEntry {
        AccessEntry {
            remote: "127.0.0.1:5000".parse().unwrap(),
            client: None,
            local: "127.0.0.1:8000".parse().unwrap(),
            method: Method::GET,
            uri: "/a/b?x=1".parse().unwrap(),
            version: Version::HTTP_11,
            request_id: "r1".into(),
            started: Instant::now(),
            request_headers: vec![Some(HeaderValue::from_static("curl/8"))],
            status: StatusCode::NOT_FOUND,
            response_headers: vec![],
            user: None,
        }
    }

    fn log(format: &str) -> AccessLog {
        let (lines, _receiver) = mpsc::channel();
        let format = AccessFormat::parse(format).unwrap();
        AccessLog {
            request_headers: header_names(&format.request_headers),
            response_headers: header_names(&format.response_headers),
            format,
            server_name: "localhost".into(),
            process_group: "localhost:8000".into(),
            lines,
        }
    }

    #[test]
    fn common_format_has_request_line_status_and_size() {
        let line = log("common").format_line(&entry(), 0, Duration::from_millis(3));
        assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
        assert!(
            line.ends_with("] \"GET /a/b?x=1 HTTP/1.1\" 404 -\n"),
            "{line}"
        );
    }

    #[test]
    fn custom_format_reads_headers_durations_and_id() {
        let line = log("%m %U%q %{User-Agent}i %D %L %%").format_line(
            &entry(),
            12,
            Duration::from_micros(1500),
        );
        assert_eq!(line, "GET /a/b?x=1 curl/8 1500 r1 %\n");
    }

    #[test]
    fn json_lines_parse_and_escape_what_they_quote() {
        let mut entry = entry();
        entry.request_headers = vec![None, Some(HeaderValue::from_static("a \"b\" \\ c"))];
        entry.set_user(bytes::Bytes::from_static(b"amy"));
        let line = log("json").format_line(&entry, 12, Duration::from_micros(1500));
        assert!(line.ends_with("}\n"), "{line}");
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["remote_host"], "127.0.0.1");
        assert_eq!(value["ident"], serde_json::Value::Null);
        assert_eq!(value["user"], "amy");
        assert_eq!(value["request"], "GET /a/b?x=1 HTTP/1.1");
        assert_eq!(value["status"], 404);
        assert_eq!(value["bytes"], 12);
        assert_eq!(value["referer"], serde_json::Value::Null);
        assert_eq!(value["user_agent"], "a \"b\" \\ c");
        assert_eq!(value["request_id"], "r1");
        assert_eq!(value["duration_us"], 1500);
        assert_eq!(value["process_group"], "localhost:8000");
        assert_eq!(value["pid"], std::process::id());
        assert!(chrono::DateTime::parse_from_rfc3339(value["time"].as_str().unwrap()).is_ok());
    }

    #[test]
    fn u_is_the_user_the_credentials_named_escaped_as_httpd_escapes_it() {
        let log = log("%l %u");
        let mut entry = entry();
        assert_eq!(log.format_line(&entry, 0, Duration::ZERO), "- -\n");
        entry.set_user(bytes::Bytes::from_static(b"amy"));
        assert_eq!(log.format_line(&entry, 0, Duration::ZERO), "- amy\n");
        entry.set_user(bytes::Bytes::from_static(b""));
        assert_eq!(log.format_line(&entry, 0, Duration::ZERO), "- \"\"\n");
        entry.set_user(bytes::Bytes::from_static(b"a \"b\"\n\\\xe9"));
        assert_eq!(
            log.format_line(&entry, 0, Duration::ZERO),
            "- a \\\"b\\\"\\n\\\\\\xe9\n"
        );
    }

    #[test]
    fn a_proxied_client_is_h_and_a_and_the_peer_is_c() {
        let mut entry = entry();
        let log = log("%h %a %{c}a %{c}h");
        assert_eq!(
            log.format_line(&entry, 0, Duration::ZERO),
            "127.0.0.1 127.0.0.1 127.0.0.1 127.0.0.1\n"
        );
        entry.set_client("203.0.113.7".parse().unwrap());
        assert_eq!(
            log.format_line(&entry, 0, Duration::ZERO),
            "203.0.113.7 203.0.113.7 127.0.0.1 127.0.0.1\n"
        );
    }
}

#[cfg(test)]
#[path = "fuzz/access_log.rs"]
mod fuzz;
