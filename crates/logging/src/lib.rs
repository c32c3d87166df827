//! oxwsgi's error log: every diagnostic line, in Apache's error log format.
//!
//! ```text
//! [Sat Nov 21 17:23:30.322537 2026] [wsgi:error] [pid 6940:tid 6951] [request 8f1c-2a] Traceback ...
//! ```
//!
//! Lines are written in one `write` each, so lines from several threads (and from several
//! processes sharing the file) never interleave. They go to the server's own duplicate of
//! standard error, never to descriptor 2 itself, which the application may close ([`streams`]).
//! When the error log is a file, the file takes the duplicate's place and is also put in place
//! of standard error ([`redirect_stderr_to`]), so output that bypasses this module — a C
//! extension's `fprintf(stderr)`, a fatal Python error — lands in the same file.
//!
//! Levels follow Apache: messages at or above the configured level are written, and `notice`
//! messages (start, stop, restarts) are always written, as Apache does for its own lifecycle.

#![deny(unsafe_code)]

mod error_line;
mod failures;
mod files;
pub mod startup;
mod streams;

use std::fmt::Write as _;
use std::path::Path;

pub use failures::write_failures;
pub use files::{LogFile, ReopenError, reopen_all};
pub use streams::{OpenedLog, log_fileno, restore_standard_streams, terminal_stdout};

use oxwsgi_config::LogLevel;
use oxwsgi_config::error_format::ErrorFormat;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::{Context, SubscriberExt};

/// The suffix of the target of `notice` messages, which are written whatever the level.
pub const NOTICE_SUFFIX: &str = "::notice";

/// Logs a lifecycle message that Apache would log at `notice`: always written.
#[macro_export]
macro_rules! notice {
    ($($arg:tt)*) => {
        ::tracing::info!(target: concat!(module_path!(), "::notice"), $($arg)*)
    };
}

fn is_notice(target: &str) -> bool {
    target.ends_with(NOTICE_SUFFIX)
}

/// Installs the error log for this process, writing lines at `level` and above to (the
/// server's duplicate of) standard error, in Apache's default line or in `format` (an
/// `ErrorLogFormat` the configuration checked). Call it before any application code runs.
pub fn init(level: LogLevel, format: Option<&str>) {
    streams::capture();
    // A panic's message goes to the log like every other line, not to descriptor 2 (which a
    // client's socket may hold if the application closed it).
    std::panic::set_hook(Box::new(|info| {
        let thread = std::thread::current();
        tracing::error!(
            "internal error (please report): thread '{}' panicked at {}",
            thread.name().unwrap_or("unnamed"),
            info
        );
    }));
    let max = tracing_level(level);
    let layer = ApacheFormat {
        pid: std::process::id(),
        // Checked when the configuration was resolved; a format that no longer parses (a
        // saved configuration from another version) leaves the default line.
        format: format.and_then(|f| ErrorFormat::parse(f).ok()),
    }
    .with_filter(filter_fn(move |meta| {
        *meta.level() <= max || is_notice(meta.target())
    }));
    let subscriber = tracing_subscriber::registry().with(layer);
    // A second initialisation (tests) keeps the first subscriber.
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// Makes `path` the error log (appended to): log lines, and whatever this process writes to
/// standard error and standard output.
///
/// Called once start-up is over (its messages belong on the terminal), so everything a process
/// writes from then on goes to the error log file.
pub fn redirect_stderr_to(path: &Path) -> std::io::Result<()> {
    streams::redirect_to(path)
}

/// Opens the error log for a later [`redirect_stderr_to_file`]: a worker opens it before it
/// switches to its group's user, who may not be allowed to.
pub fn open_error_log(path: &Path) -> std::io::Result<OpenedLog> {
    streams::open_log(path)
}

/// Like [`redirect_stderr_to`], with the log already open.
pub fn redirect_stderr_to_file(file: OpenedLog) -> std::io::Result<()> {
    streams::redirect_to_file(file)
}

/// The tracing level that lets through the messages of an Apache level.
fn tracing_level(level: LogLevel) -> Level {
    match level {
        LogLevel::Emerg | LogLevel::Alert | LogLevel::Crit | LogLevel::Error => Level::ERROR,
        LogLevel::Warn => Level::WARN,
        LogLevel::Notice | LogLevel::Info => Level::INFO,
        LogLevel::Debug => Level::DEBUG,
    }
}

/// Formats events as Apache error log lines.
struct ApacheFormat {
    pid: u32,
    /// The user's `ErrorLogFormat`; Apache's default line when `None`.
    format: Option<ErrorFormat>,
}

/// The parts of an event the format uses.
#[derive(Default)]
struct Fields {
    message: String,
    request_id: Option<String>,
    /// `client.addr`: the client the message is about.
    client: Option<String>,
    extra: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => {
                let _ = write!(self.message, "{value:?}");
            }
            "request_id" => self.request_id = Some(format!("{value:?}")),
            "client.addr" => self.client = Some(format!("{value:?}")),
            name => {
                let _ = write!(self.extra, " {name}={value:?}");
            }
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message.push_str(value),
            "request_id" => self.request_id = Some(value.to_owned()),
            "client.addr" => self.client = Some(value.to_owned()),
            name => {
                let _ = write!(self.extra, " {name}={value:?}");
            }
        }
    }
}

impl<S: Subscriber> Layer<S> for ApacheFormat {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let level = if is_notice(meta.target()) {
            "notice"
        } else {
            match *meta.level() {
                Level::ERROR => "error",
                Level::WARN => "warn",
                Level::INFO => "info",
                _ => "debug",
            }
        };
        let module = module_of(meta.target());
        let tid = rustix::thread::gettid().as_raw_nonzero();
        if let Some(format) = &self.format {
            let source = meta.file().map(|file| match meta.line() {
                Some(line) => format!("{file}:{line}"),
                None => file.to_owned(),
            });
            let request_id = fields.request_id.as_deref().filter(|id| *id != "-");
            let facts = error_line::LineFacts {
                level_number: level_number(level),
                level,
                module,
                pid: self.pid,
                tid: tid.get(),
                client: fields.client.as_deref(),
                request_id,
                source: source.as_deref(),
            };
            let mut out = String::with_capacity(fields.message.len() + 128);
            let message = fields.message.trim_end_matches('\n');
            let lines: Vec<&str> = message.split('\n').collect();
            let last = lines.len() - 1;
            for (index, line) in lines.into_iter().enumerate() {
                let with_extra;
                let line = if index == last && !fields.extra.is_empty() {
                    with_extra = format!("{line}{}", fields.extra);
                    with_extra.as_str()
                } else {
                    line
                };
                error_line::format_line(&mut out, format, &facts, line);
                out.push('\n');
            }
            streams::write_log(out.as_bytes());
            return;
        }
        let now = chrono::Local::now().format("%a %b %d %H:%M:%S%.6f %Y");
        let mut prefix = format!("[{now}] [{module}:{level}] [pid {}:tid {tid}] ", self.pid);
        if let Some(id) = &fields.request_id {
            if id != "-" {
                let _ = write!(prefix, "[request {id}] ");
            }
        }
        // Every line of a multi-line message (a traceback) carries the prefix, so each can be
        // found with grep and attributed to its request.
        let mut out = String::with_capacity(prefix.len() + fields.message.len() + 64);
        let message = fields.message.trim_end_matches('\n');
        for line in message.split('\n') {
            out.push_str(&prefix);
            out.push_str(line);
            out.push('\n');
        }
        // The default line names the client after the message, as it always has.
        let extra = match &fields.client {
            Some(client) => format!(" client.addr={client}{}", fields.extra),
            None => fields.extra,
        };
        if !extra.is_empty() {
            out.truncate(out.len() - 1);
            out.push_str(&extra);
            out.push('\n');
        }
        streams::write_log(out.as_bytes());
    }
}

/// httpd's number for a level, which `ErrorLogFormat`'s level modifiers compare with.
fn level_number(level: &str) -> u8 {
    match level {
        "error" => 3,
        "warn" => 4,
        "notice" => 5,
        "info" => 6,
        _ => 7,
    }
}

/// The Apache-style module name of a log target: which part of the server spoke.
fn module_of(target: &str) -> &'static str {
    let crate_name = target.split("::").next().unwrap_or(target);
    match crate_name {
        "wsgi" | "oxwsgi_wsgi_bridge" => "wsgi",
        "oxwsgi_http_front" => "http",
        "oxwsgi_worker" => "worker",
        "oxwsgi_supervisor" => "supervisor",
        _ => "oxwsgi",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apache_levels_map_to_tracing_levels() {
        assert_eq!(tracing_level(LogLevel::Warn), Level::WARN);
        assert_eq!(tracing_level(LogLevel::Crit), Level::ERROR);
        assert_eq!(tracing_level(LogLevel::Info), Level::INFO);
    }

    #[test]
    fn targets_name_the_part_of_the_server() {
        assert_eq!(module_of("wsgi"), "wsgi");
        assert_eq!(module_of("oxwsgi_http_front::conn"), "http");
        assert_eq!(module_of("oxwsgi"), "oxwsgi");
        assert_eq!(module_of("oxwsgi_supervisor::notice"), "supervisor");
        assert!(is_notice("oxwsgi_worker::control::notice"));
    }
}
