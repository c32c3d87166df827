//! Error log lines in a user's `ErrorLogFormat` (`--error-log-format`), with httpd's rules:
//! an item without a value removes its field (from the space before it to the next one) unless
//! it has the `-` modifier; a level modifier keeps an item off less verbose messages.
//!
//! The format was parsed and checked when the configuration was resolved
//! ([`oxwsgi_config::error_format`]).

use std::fmt::Write as _;

use oxwsgi_config::error_format::{ErrorFormat, ErrorValue};

/// What one message has to fill a format with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LineFacts<'a> {
    /// httpd's number of the message's level (3 error … 7 debug).
    pub(crate) level_number: u8,
    /// Its name (`error`, `notice` …).
    pub(crate) level: &'a str,
    pub(crate) module: &'a str,
    pub(crate) pid: u32,
    pub(crate) tid: i32,
    pub(crate) client: Option<&'a str>,
    pub(crate) request_id: Option<&'a str>,
    /// `file:line` of the call that logged it.
    pub(crate) source: Option<&'a str>,
}

/// Appends one line (without its newline) for `message` in `format` to `out`.
pub(crate) fn format_line(
    out: &mut String,
    format: &ErrorFormat,
    facts: &LineFacts<'_>,
    message: &str,
) {
    let base = out.len();
    let mut field_start = base;
    let mut skipping = false;
    for item in &format.items {
        if item.starts_field {
            if skipping {
                skipping = false;
            } else {
                field_start = out.len();
            }
        }
        if item.value == ErrorValue::Message {
            // The message is written even in a field being skipped, as httpd does.
            out.push_str(message);
            continue;
        }
        if skipping {
            continue;
        }
        if item.min_level > facts.level_number {
            out.truncate(field_start);
            skipping = true;
            continue;
        }
        let before = out.len();
        let _ = match &item.value {
            ErrorValue::Literal(text) => write!(out, "{text}"),
            ErrorValue::Time(chrono_format) => {
                write!(out, "{}", chrono::Local::now().format(chrono_format))
            }
            ErrorValue::Level => write!(out, "{}", facts.level),
            ErrorValue::Pid => write!(out, "{}", facts.pid),
            ErrorValue::Thread => write!(out, "{}", facts.tid),
            ErrorValue::Module => write!(out, "{}", facts.module),
            ErrorValue::Client => write!(out, "{}", facts.client.unwrap_or("")),
            ErrorValue::RequestId => write!(out, "{}", facts.request_id.unwrap_or("")),
            ErrorValue::Source => write!(out, "{}", facts.source.unwrap_or("")),
            ErrorValue::Message => Ok(()),
        };
        if out.len() == before {
            if item.hyphen_if_empty {
                out.push('-');
            } else {
                out.truncate(field_start.max(base));
                skipping = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> LineFacts<'static> {
        LineFacts {
            level_number: 3,
            level: "error",
            module: "wsgi",
            pid: 42,
            tid: 43,
            client: None,
            request_id: Some("ab-1"),
            source: Some("crates/x.rs:7"),
        }
    }

    fn line(format: &str, facts: &LineFacts<'_>) -> String {
        let mut out = String::new();
        format_line(
            &mut out,
            &ErrorFormat::parse(format).unwrap(),
            facts,
            "boom",
        );
        out
    }

    #[test]
    fn the_documented_default_gives_the_default_line() {
        let default = "[%{u}t] [%m:%l] [pid %P:tid %T] [request\\ %L] %M";
        let with_id = line(default, &facts());
        assert!(
            with_id.ends_with("] [wsgi:error] [pid 42:tid 43] [request ab-1] boom"),
            "{with_id}"
        );
        let mut no_request = facts();
        no_request.request_id = None;
        let without = line(default, &no_request);
        assert!(
            without.ends_with("] [wsgi:error] [pid 42:tid 43] boom"),
            "{without}"
        );
    }

    #[test]
    fn items_are_filled() {
        assert_eq!(
            line("[%m:%l] [pid %P:tid %T] [%L] %M", &facts()),
            "[wsgi:error] [pid 42:tid 43] [ab-1] boom"
        );
    }

    #[test]
    fn an_item_without_a_value_removes_its_field_unless_it_has_a_hyphen() {
        assert_eq!(line("[%l] [client\\ %a] %M", &facts()), "[error] boom");
        assert_eq!(line("[%l] [%-a] %M", &facts()), "[error] [-] boom");
        let mut with_client = facts();
        with_client.client = Some("127.0.0.1:5000");
        assert_eq!(
            line("[%l] [client\\ %a] %M", &with_client),
            "[error] [client 127.0.0.1:5000] boom"
        );
    }

    #[test]
    fn a_level_modifier_keeps_an_item_off_less_verbose_messages() {
        // As in httpd, the field goes with the space before it.
        assert_eq!(line("[%l] %7F: %M", &facts()), "[error] boom");
        let mut debug = facts();
        debug.level_number = 7;
        debug.level = "debug";
        assert_eq!(line("[%l] %7F: %M", &debug), "[debug] crates/x.rs:7: boom");
    }

    #[test]
    fn a_percent_space_field_disappears_with_its_item() {
        let mut facts = facts();
        facts.request_id = None;
        assert_eq!(line("%M% ,\\ id\\ %L", &facts), "boom");
        facts.request_id = Some("r");
        assert_eq!(line("%M% ,\\ id\\ %L", &facts), "boom, id r");
    }
}
