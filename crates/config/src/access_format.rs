//! Apache `LogFormat` strings, as `--access-log-format` takes them.
//!
//! The string is parsed when the configuration is resolved, so an unknown `%` directive is a
//! configuration error reported before anything starts, not a garbled log later. The HTTP side
//! formats lines from the parsed [`Item`]s.
//!
//! `json` is not Apache's: it makes each line a JSON object (see [`Style::Json`]).
//!
//! Supported directives: `%h %a %{c}a %{c}h %A %l %u %t %{FORMAT}t %r %m %U %q %H %s %>s %b %B %D %T
//! %{UNIT}T %{NAME}i %{NAME}o %p %P %L %v %%`.

/// Apache's `common` format.
pub const COMMON: &str = "%h %l %u %t \"%r\" %>s %b";
/// Apache's `combined` format.
pub const COMBINED: &str = "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-agent}i\"";

/// The format string is not a usable Apache `LogFormat`.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// A `%` directive this server does not know.
    #[error("access log format {format:?}: unknown directive '%{directive}'")]
    UnknownDirective {
        /// The whole format.
        format: String,
        /// The directive, without its `%`.
        directive: String,
    },
    /// A `%{` without its `}`.
    #[error("access log format {format:?}: '%{{' without a closing '}}'")]
    Unclosed {
        /// The whole format.
        format: String,
    },
}

/// One piece of a parsed format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// Text copied as is.
    Literal(String),
    /// `%h`, `%a`: the client's address (the one a trusted proxy's headers name, if they do).
    RemoteIp,
    /// `%{c}a`, `%{c}h`: the address of the connection's peer (the proxy, behind one).
    PeerIp,
    /// `%A`: the local address.
    LocalIp,
    /// `%l`: the client's identity (identd), unknown: always `-`.
    Dash,
    /// `%u`: the user the request's credentials named (Basic authentication), `-` for none.
    RemoteUser,
    /// `%t`: the time, `[10/Oct/2000:13:55:36 -0700]`.
    Time,
    /// `%{FORMAT}t`: the time in a strftime format.
    TimeFormat(String),
    /// `%r`: the request line.
    RequestLine,
    /// `%m`: the method.
    Method,
    /// `%U`: the URL path.
    UrlPath,
    /// `%q`: the query string with its `?`, or nothing.
    Query,
    /// `%H`: the protocol.
    Protocol,
    /// `%s`, `%>s`: the status.
    Status,
    /// `%b`: body bytes sent, `-` for none.
    BytesOrDash,
    /// `%B`: body bytes sent.
    Bytes,
    /// `%D`, `%{us}T`: the time taken, in microseconds.
    Micros,
    /// `%T`, `%{s}T`: the time taken, in seconds.
    Seconds,
    /// `%{ms}T`: the time taken, in milliseconds.
    Millis,
    /// `%{NAME}i`: a request header.
    RequestHeader(usize),
    /// `%{NAME}o`: a response header.
    ResponseHeader(usize),
    /// `%p`: the local port.
    LocalPort,
    /// `%P`: the process id.
    Pid,
    /// `%L`: the request id.
    RequestId,
    /// `%v`, `%V`: the server name.
    ServerName,
}

/// The shape of each line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Apache's: the items, in order.
    Apache,
    /// `json`: one JSON object a line, with the fields of the combined format and more; the
    /// items are the two request headers it reads (`Referer`, `User-Agent`).
    Json,
}

/// `--access-log-format json`'s name.
pub const JSON: &str = "json";

/// A parsed format: items, and the headers it needs captured.
#[derive(Debug, Clone)]
pub struct AccessFormat {
    /// Apache's line, or JSON.
    pub style: Style,
    /// The pieces, in order.
    pub items: Vec<Item>,
    /// The request headers `%{NAME}i` reads, indexed by [`Item::RequestHeader`].
    pub request_headers: Vec<String>,
    /// The response headers `%{NAME}o` reads, indexed by [`Item::ResponseHeader`].
    pub response_headers: Vec<String>,
}

impl AccessFormat {
    /// Parses an Apache `LogFormat` string; `common` and `combined` name the usual ones, `json`
    /// the JSON lines.
    pub fn parse(format: &str) -> Result<AccessFormat, FormatError> {
        if format == JSON {
            return Ok(AccessFormat {
                style: Style::Json,
                items: vec![Item::RequestHeader(0), Item::RequestHeader(1)],
                request_headers: vec!["referer".to_owned(), "user-agent".to_owned()],
                response_headers: Vec::new(),
            });
        }
        let format = match format {
            "common" => COMMON,
            "combined" => COMBINED,
            other => other,
        };
        let mut parsed = AccessFormat {
            style: Style::Apache,
            items: Vec::new(),
            request_headers: Vec::new(),
            response_headers: Vec::new(),
        };
        let mut literal = String::new();
        let mut chars = format.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '%' {
                literal.push(c);
                continue;
            }
            let mut argument = None;
            if chars.peek() == Some(&'{') {
                chars.next();
                let mut arg = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => arg.push(c),
                        None => {
                            return Err(FormatError::Unclosed {
                                format: format.to_owned(),
                            });
                        }
                    }
                }
                argument = Some(arg);
            }
            // `%>s` (the final status) and `%<s` (the original) are the same here: the server
            // makes no internal redirects.
            if matches!(chars.peek(), Some('>') | Some('<')) {
                chars.next();
            }
            let directive = chars.next().unwrap_or('%');
            let unknown = || FormatError::UnknownDirective {
                format: format.to_owned(),
                directive: match &argument {
                    Some(arg) => format!("{{{arg}}}{directive}"),
                    None => directive.to_string(),
                },
            };
            let item = match (directive, argument.as_deref()) {
                ('%', None) => {
                    literal.push('%');
                    continue;
                }
                ('h' | 'a', Some("c")) => Item::PeerIp,
                ('h' | 'a', _) => Item::RemoteIp,
                ('A', _) => Item::LocalIp,
                ('l', _) => Item::Dash,
                ('u', _) => Item::RemoteUser,
                ('t', None) => Item::Time,
                // A strftime directive chrono does not know would make every line's time
                // `[` alone: refused now, like an unknown `%` directive.
                ('t', Some(fmt)) if strftime_is_valid(fmt) => Item::TimeFormat(fmt.to_owned()),
                ('r', None) => Item::RequestLine,
                ('m', None) => Item::Method,
                ('U', None) => Item::UrlPath,
                ('q', None) => Item::Query,
                ('H', None) => Item::Protocol,
                ('s', None) => Item::Status,
                ('b', None) => Item::BytesOrDash,
                ('B', None) => Item::Bytes,
                ('D', None) => Item::Micros,
                ('T', None | Some("s")) => Item::Seconds,
                ('T', Some("ms")) => Item::Millis,
                ('T', Some("us")) => Item::Micros,
                ('i', Some(name)) if is_token(name) => {
                    parsed.request_headers.push(name.to_ascii_lowercase());
                    Item::RequestHeader(parsed.request_headers.len() - 1)
                }
                ('o', Some(name)) if is_token(name) => {
                    parsed.response_headers.push(name.to_ascii_lowercase());
                    Item::ResponseHeader(parsed.response_headers.len() - 1)
                }
                ('p', _) => Item::LocalPort,
                ('P', _) => Item::Pid,
                ('L', _) => Item::RequestId,
                ('v' | 'V', _) => Item::ServerName,
                _ => return Err(unknown()),
            };
            if !literal.is_empty() {
                parsed
                    .items
                    .push(Item::Literal(std::mem::take(&mut literal)));
            }
            parsed.items.push(item);
        }
        if !literal.is_empty() {
            parsed.items.push(Item::Literal(literal));
        }
        Ok(parsed)
    }
}

/// Whether chrono can format a time with `format`, as the access log does for `%{FORMAT}t`
/// (an unknown directive, or one for parsing only such as `%#z`, fails).
fn strftime_is_valid(format: &str) -> bool {
    use std::fmt::Write as _;
    let mut out = String::new();
    write!(out, "{}", chrono::Local::now().format(format)).is_ok()
}

fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nicknames_expand() {
        assert_eq!(
            AccessFormat::parse("common").unwrap().items,
            AccessFormat::parse(COMMON).unwrap().items
        );
    }

    #[test]
    fn json_reads_the_referer_and_the_user_agent() {
        let format = AccessFormat::parse("json").unwrap();
        assert_eq!(format.style, Style::Json);
        assert_eq!(format.request_headers, ["referer", "user-agent"]);
    }

    #[test]
    fn headers_are_collected_lower_case() {
        let format = AccessFormat::parse("%{User-Agent}i %{X-Id}o").unwrap();
        assert_eq!(format.request_headers, ["user-agent"]);
        assert_eq!(format.response_headers, ["x-id"]);
    }

    #[test]
    fn unknown_directive_is_refused_naming_it() {
        let err = AccessFormat::parse("%h %Z").unwrap_err();
        assert_eq!(
            err.to_string(),
            "access log format \"%h %Z\": unknown directive '%Z'"
        );
    }

    #[test]
    fn unclosed_brace_is_refused() {
        assert!(matches!(
            AccessFormat::parse("%{Referer"),
            Err(FormatError::Unclosed { .. })
        ));
    }
}

#[cfg(test)]
#[path = "fuzz/access_format.rs"]
mod fuzz;
