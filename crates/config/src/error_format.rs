//! Apache `ErrorLogFormat` strings, as `--error-log-format` takes them.
//!
//! Parsed when the configuration is resolved, so an item oxwsgi cannot fill is refused before
//! anything starts, naming it, rather than logged as nothing forever. The logging crate formats
//! each line from the parsed [`ErrorItem`]s with httpd's rules (`server/log.c`): the format is
//! divided into fields at spaces; an item with no value removes its whole field (from the
//! preceding space to the next one) unless it has the `-` modifier, which logs `-` instead; a
//! number modifier logs the item only for messages at least that verbose (1 alert … 7 debug).
//!
//! Supported: `%t %{u}t %{c}t %{cu}t %{cuz}t %{%strftime}t %l %P %T %{g}T %m %M %a %L %F %%`,
//! `% ` (a field separator writing nothing) and `\ ` (a space that separates nothing).
//! `%a` and `%L` have a value only on lines about a client or a request; `%F` is the source
//! file and line of the server's code that logged the message.

/// The format string is not usable as oxwsgi's error log format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorFormatError {
    /// A `%` item httpd does not know either.
    #[error("error log format {format:?}: unknown item '%{item}'")]
    Unknown {
        /// The whole format.
        format: String,
        /// The item, without its `%`.
        item: String,
    },
    /// An item httpd knows whose value oxwsgi does not record with its log lines.
    #[error("error log format {format:?}: '%{item}' is not available in oxwsgi ({why})")]
    Unavailable {
        /// The whole format.
        format: String,
        /// The item, without its `%`.
        item: String,
        /// Why it has no value here.
        why: &'static str,
    },
    /// Something else httpd refuses too: no `%M`, a `+` modifier, a `%` at the end.
    #[error("error log format {format:?}: {reason}")]
    Malformed {
        /// The whole format.
        format: String,
        /// What is wrong.
        reason: &'static str,
    },
}

/// What an item writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorValue {
    /// Text copied as is.
    Literal(String),
    /// `%t` and its variants: the current time in this chrono format.
    Time(String),
    /// `%l`: the level of the message.
    Level,
    /// `%P`: the process id.
    Pid,
    /// `%T`, `%{g}T`: the system thread id (what `top` shows; the default line's `tid`).
    Thread,
    /// `%m`: the part of the server that logged the message (`wsgi`, `http`, `supervisor` …).
    Module,
    /// `%M`: the message.
    Message,
    /// `%a`: the client's address and port, on lines about a client.
    Client,
    /// `%L`: the request id, on lines about a request.
    RequestId,
    /// `%F`: the source file and line of the call that logged the message.
    Source,
}

/// One item of a parsed format, with httpd's modifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorItem {
    /// What it writes.
    pub value: ErrorValue,
    /// A field starts here (the item follows a space, or is `% `).
    pub starts_field: bool,
    /// `-`: a `-` when there is no value, instead of removing the field.
    pub hyphen_if_empty: bool,
    /// A number: written only for messages of this level (httpd's numbers, 1 alert … 7 debug)
    /// or more verbose; 0 for always.
    pub min_level: u8,
}

/// A parsed `ErrorLogFormat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorFormat {
    /// The items, in order.
    pub items: Vec<ErrorItem>,
}

/// httpd's most verbose level number (trace8).
const MOST_VERBOSE: u32 = 15;

impl ErrorFormat {
    /// Parses an Apache `ErrorLogFormat` string.
    pub fn parse(format: &str) -> Result<ErrorFormat, ErrorFormatError> {
        let mut items = Vec::new();
        let mut rest = format;
        let mut has_message = false;
        while !rest.is_empty() {
            let item = parse_item(format, &mut rest, false)?;
            has_message |= item.value == ErrorValue::Message;
            items.push(item);
        }
        if !has_message {
            return Err(ErrorFormatError::Malformed {
                format: format.to_owned(),
                reason: "it must contain the message, '%M'",
            });
        }
        Ok(ErrorFormat { items })
    }
}

/// Parses the item at the start of `rest` and moves past it.
fn parse_item(
    format: &str,
    rest: &mut &str,
    starts_field: bool,
) -> Result<ErrorItem, ErrorFormatError> {
    let mut item = ErrorItem {
        value: ErrorValue::Message,
        starts_field,
        hyphen_if_empty: false,
        min_level: 0,
    };
    let Some(after_percent) = rest.strip_prefix('%') else {
        item.starts_field |= rest.starts_with(' ');
        item.value = ErrorValue::Literal(literal(rest));
        return Ok(item);
    };
    *rest = after_percent;
    if let Some(after) = rest.strip_prefix(' ') {
        // `% `: a field separator that writes nothing; it marks the next item.
        *rest = after;
        if rest.is_empty() {
            item.value = ErrorValue::Literal(String::new());
            item.starts_field = true;
            return Ok(item);
        }
        return parse_item(format, rest, true);
    }
    if let Some(after) = rest.strip_prefix('%') {
        *rest = after;
        item.value = ErrorValue::Literal("%".to_owned());
        return Ok(item);
    }
    let malformed = |reason| ErrorFormatError::Malformed {
        format: format.to_owned(),
        reason,
    };
    let mut argument: Option<&str> = None;
    let mut modifiers = String::new();
    loop {
        let Some(c) = rest.chars().next() else {
            return Err(malformed("it ends in the middle of a '%' item"));
        };
        *rest = &rest[c.len_utf8()..];
        match c {
            '{' => {
                // httpd's `ap_getword`: up to the `}`, or the rest of the string.
                let end = rest.find('}').unwrap_or(rest.len());
                argument = Some(&rest[..end]);
                *rest = rest.get(end + 1..).unwrap_or("");
            }
            '+' => {
                return Err(malformed(
                    "the '+' modifier is only for httpd's once-per-request formats",
                ));
            }
            '-' => {
                item.hyphen_if_empty = true;
                modifiers.push('-');
            }
            '0'..='9' => {
                let digits = rest
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(rest.len());
                let number = format!("{c}{}", &rest[..digits]);
                *rest = &rest[digits..];
                let level = number.parse::<u32>().unwrap_or(u32::MAX);
                if level > MOST_VERBOSE {
                    return Err(malformed("a level modifier is a number from 0 to 15"));
                }
                item.min_level = level as u8;
                modifiers.push_str(&number);
            }
            letter => {
                let named = || match argument {
                    Some(arg) => format!("{modifiers}{{{arg}}}{letter}"),
                    None => format!("{modifiers}{letter}"),
                };
                item.value = value_of(letter, argument).map_err(|why| match why {
                    None => ErrorFormatError::Unknown {
                        format: format.to_owned(),
                        item: named(),
                    },
                    Some(why) => ErrorFormatError::Unavailable {
                        format: format.to_owned(),
                        item: named(),
                        why,
                    },
                })?;
                return Ok(item);
            }
        }
    }
}

/// What item `letter` (with its `{argument}`) writes; `Err(None)` for an item httpd does not
/// know, `Err(Some(why))` for one oxwsgi has no value for.
fn value_of(letter: char, argument: Option<&str>) -> Result<ErrorValue, Option<&'static str>> {
    const NO_REQUEST_DATA: &str =
        "log lines do not carry the request's headers, environment or notes";
    Ok(match (letter, argument) {
        ('M', _) => ErrorValue::Message,
        ('t', arg) => ErrorValue::Time(time_format(arg.unwrap_or(""))?),
        ('l', _) => ErrorValue::Level,
        ('P', _) => ErrorValue::Pid,
        ('T', None | Some("g")) => ErrorValue::Thread,
        ('m', _) => ErrorValue::Module,
        ('a', None) => ErrorValue::Client,
        ('a', Some("c")) => return Err(Some("lines record the client's address only, as %a")),
        ('L', None) => ErrorValue::RequestId,
        ('L', Some(_)) => return Err(Some("connections have no log id, only requests (%L)")),
        ('F', _) => ErrorValue::Source,
        ('A', _) => return Err(Some("lines do not record the local address")),
        ('E', _) => return Err(Some("the operating system's error is part of the message")),
        ('i' | 'e' | 'n', _) => return Err(Some(NO_REQUEST_DATA)),
        ('k', _) => return Err(Some("lines do not record the connection's request count")),
        ('v' | 'V', _) => return Err(Some("lines are not tied to a virtual host")),
        _ => return Err(None),
    })
}

/// The chrono format of a `%{...}t` argument: httpd's `u` (microseconds), `c` (compact ISO
/// 8601) and `z` (time zone offset) flags, or a strftime format when it holds a `%`.
fn time_format(argument: &str) -> Result<String, Option<&'static str>> {
    if argument.contains('%') {
        use std::fmt::Write as _;
        let mut out = String::new();
        return match write!(out, "{}", chrono::Local::now().format(argument)) {
            Ok(()) => Ok(argument.to_owned()),
            Err(_) => Err(Some(
                "chrono cannot format a time with that strftime format",
            )),
        };
    }
    let has = |flag| argument.contains(flag);
    let micros = if has('u') { "%.6f" } else { "" };
    let mut chrono = if has('c') {
        format!("%Y-%m-%d %H:%M:%S{micros}")
    } else {
        format!("%a %b %d %H:%M:%S{micros} %Y")
    };
    if has('z') {
        chrono.push_str(" %z");
    }
    Ok(chrono)
}

/// Text up to the next `%`, or the next space that is not at its start (a space starts a new
/// field), with httpd's backslash escapes (`\n`, `\r`, `\t`, anything else taken as is).
fn literal(rest: &mut &str) -> String {
    let mut text = String::new();
    let mut at_start = true;
    let mut chars = rest.char_indices().peekable();
    let mut end = rest.len();
    while let Some((index, c)) = chars.next() {
        if c == '%' || (c == ' ' && !at_start) {
            end = index;
            break;
        }
        if c != '\\' {
            at_start &= c == ' ';
            text.push(c);
            continue;
        }
        match chars.next() {
            Some((_, 'n')) => text.push('\n'),
            Some((_, 'r')) => text.push('\r'),
            Some((_, 't')) => text.push('\t'),
            Some((_, other)) => text.push(other),
            None => text.push('\\'),
        }
    }
    *rest = &rest[end..];
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(format: &str) -> Vec<ErrorValue> {
        ErrorFormat::parse(format)
            .unwrap()
            .items
            .into_iter()
            .map(|i| i.value)
            .collect()
    }

    #[test]
    fn fields_start_at_spaces_and_escaped_spaces_do_not_split() {
        let format = ErrorFormat::parse("[%l] [client\\ %a] %M").unwrap();
        let starts: Vec<bool> = format.items.iter().map(|i| i.starts_field).collect();
        assert_eq!(
            format
                .items
                .iter()
                .map(|i| i.value.clone())
                .collect::<Vec<_>>(),
            [
                ErrorValue::Literal("[".into()),
                ErrorValue::Level,
                ErrorValue::Literal("]".into()),
                ErrorValue::Literal(" [client ".into()),
                ErrorValue::Client,
                ErrorValue::Literal("]".into()),
                ErrorValue::Literal(" ".into()),
                ErrorValue::Message,
            ]
        );
        assert_eq!(
            starts,
            [false, false, false, true, false, false, true, false]
        );
    }

    #[test]
    fn modifiers_and_arguments_are_read() {
        let format = ErrorFormat::parse("%-7F %{g}T %{cu}t %M").unwrap();
        assert!(format.items[0].hyphen_if_empty);
        assert_eq!(format.items[0].min_level, 7);
        assert_eq!(format.items[0].value, ErrorValue::Source);
        assert_eq!(format.items[2].value, ErrorValue::Thread);
        assert_eq!(
            format.items[4].value,
            ErrorValue::Time("%Y-%m-%d %H:%M:%S%.6f".into())
        );
    }

    #[test]
    fn time_flags_follow_httpd() {
        assert_eq!(
            values("%t%M")[0],
            ErrorValue::Time("%a %b %d %H:%M:%S %Y".into())
        );
        assert_eq!(
            values("%{u}t%M")[0],
            ErrorValue::Time("%a %b %d %H:%M:%S%.6f %Y".into())
        );
        assert_eq!(
            values("%{cuz}t%M")[0],
            ErrorValue::Time("%Y-%m-%d %H:%M:%S%.6f %z".into())
        );
        assert_eq!(values("%{%s}t%M")[0], ErrorValue::Time("%s".into()));
    }

    #[test]
    fn percent_space_separates_and_percent_percent_is_a_percent() {
        let format = ErrorFormat::parse("%M% ,\\ x %%").unwrap();
        assert!(format.items[1].starts_field);
        assert_eq!(format.items[1].value, ErrorValue::Literal(", x".into()));
        assert_eq!(format.items[3].value, ErrorValue::Literal("%".into()));
    }

    #[test]
    fn items_without_a_value_here_are_refused_naming_them() {
        let err = ErrorFormat::parse("%{Referer}i %M").unwrap_err();
        assert_eq!(
            err.to_string(),
            "error log format \"%{Referer}i %M\": '%{Referer}i' is not available in oxwsgi \
             (log lines do not carry the request's headers, environment or notes)"
        );
        assert!(matches!(
            ErrorFormat::parse("%E: %M"),
            Err(ErrorFormatError::Unavailable { item, .. }) if item == "E"
        ));
        assert!(matches!(
            ErrorFormat::parse("%Z %M"),
            Err(ErrorFormatError::Unknown { item, .. }) if item == "Z"
        ));
    }

    #[test]
    fn httpd_refusals_are_kept() {
        for format in ["[%t]", "%+a %M", "%M %", "%99l %M"] {
            assert!(
                matches!(
                    ErrorFormat::parse(format),
                    Err(ErrorFormatError::Malformed { .. })
                ),
                "{format}"
            );
        }
    }
}
