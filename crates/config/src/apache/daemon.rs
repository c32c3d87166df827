//! `WSGIDaemonProcess NAME option=value ...`: the options mod_wsgi accepts, with their kinds of
//! value, read into a [`DaemonProcess`].
//!
//! The names are those mod_wsgi 6.0's `wsgi_add_daemon_process` accepts (docs/apache.md has
//! the sources); an option it does not know is an error, as in mod_wsgi ("Invalid option to
//! WSGI daemon process definition"), with the nearest known name suggested. `threads=0` is
//! mod_wsgi's service group: it serves no requests and runs the one `WSGIImportScript` that
//! names it, as a side service (`check.rs` checks the pairing).

use std::collections::BTreeMap;

use super::Origin;

/// What an option's value must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ValueKind {
    /// A whole number of at least 1.
    Count,
    /// A whole number of seconds, 0 or more.
    Seconds,
    /// A whole number of bytes, 0 or more.
    Bytes,
    /// A whole number, 0 or more (requests, a priority, a mask).
    Number,
    /// Any non-empty text (a name, a path, a list).
    Text,
    /// `On` or `Off`.
    Switch,
}

/// What oxwsgi does with an option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OptionUse {
    /// It sets the group's settings.
    Honoured,
    /// Accepted, without effect, for the reason given (reported at `info`).
    Ignored(&'static str),
}

const SERVER_WIDE_TIMEOUT: &str = "the time a response may wait for its client is the \
     server's, one for every group: httpd's Timeout sets it";
const BUFFERS: &str = "oxwsgi sizes its buffers itself";
const NO_DAEMON_SOCKET: &str =
    "oxwsgi's workers accept connections themselves; there is no daemon socket to tune";

/// The options of `WSGIDaemonProcess`, their values and their use.
pub(super) const OPTIONS: &[(&str, ValueKind, OptionUse)] = &[
    ("processes", ValueKind::Count, OptionUse::Honoured),
    // 0: a service group (mod_wsgi accepts 0 and more).
    ("threads", ValueKind::Number, OptionUse::Honoured),
    ("switch-interval", ValueKind::Text, OptionUse::Honoured),
    ("user", ValueKind::Text, OptionUse::Honoured),
    ("group", ValueKind::Text, OptionUse::Honoured),
    ("supplementary-groups", ValueKind::Text, OptionUse::Honoured),
    ("umask", ValueKind::Text, OptionUse::Honoured),
    (
        "chroot",
        ValueKind::Text,
        OptionUse::Ignored("chroot is not supported"),
    ),
    ("home", ValueKind::Text, OptionUse::Honoured),
    ("python-home", ValueKind::Text, OptionUse::Honoured),
    ("python-path", ValueKind::Text, OptionUse::Honoured),
    ("python-eggs", ValueKind::Text, OptionUse::Honoured),
    ("lang", ValueKind::Text, OptionUse::Honoured),
    ("locale", ValueKind::Text, OptionUse::Honoured),
    ("display-name", ValueKind::Text, OptionUse::Honoured),
    ("maximum-requests", ValueKind::Number, OptionUse::Honoured),
    ("restart-interval", ValueKind::Seconds, OptionUse::Honoured),
    (
        "inactivity-timeout",
        ValueKind::Seconds,
        OptionUse::Honoured,
    ),
    ("request-timeout", ValueKind::Seconds, OptionUse::Honoured),
    ("interrupt-timeout", ValueKind::Seconds, OptionUse::Honoured),
    ("queue-timeout", ValueKind::Seconds, OptionUse::Honoured),
    ("graceful-timeout", ValueKind::Seconds, OptionUse::Honoured),
    ("eviction-timeout", ValueKind::Seconds, OptionUse::Honoured),
    ("shutdown-timeout", ValueKind::Seconds, OptionUse::Honoured),
    ("startup-timeout", ValueKind::Seconds, OptionUse::Honoured),
    ("deadlock-timeout", ValueKind::Seconds, OptionUse::Honoured),
    // The wait for room in a full request queue, as mod_wsgi's for a full daemon socket.
    ("connect-timeout", ValueKind::Seconds, OptionUse::Honoured),
    ("socket-timeout", ValueKind::Seconds, OptionUse::Honoured),
    (
        "response-socket-timeout",
        ValueKind::Seconds,
        OptionUse::Ignored(SERVER_WIDE_TIMEOUT),
    ),
    (
        "response-flush-delay",
        ValueKind::Number,
        OptionUse::Ignored(BUFFERS),
    ),
    (
        "header-buffer-size",
        ValueKind::Bytes,
        OptionUse::Ignored(BUFFERS),
    ),
    (
        "response-buffer-size",
        ValueKind::Bytes,
        OptionUse::Ignored(BUFFERS),
    ),
    (
        "receive-buffer-size",
        ValueKind::Bytes,
        OptionUse::Ignored(BUFFERS),
    ),
    (
        "send-buffer-size",
        ValueKind::Bytes,
        OptionUse::Ignored(BUFFERS),
    ),
    ("listen-backlog", ValueKind::Count, OptionUse::Honoured),
    (
        "socket-user",
        ValueKind::Text,
        OptionUse::Ignored(NO_DAEMON_SOCKET),
    ),
    (
        "stack-size",
        ValueKind::Bytes,
        OptionUse::Ignored("Python threads keep the system's stack size"),
    ),
    ("memory-limit", ValueKind::Bytes, OptionUse::Honoured),
    (
        "virtual-memory-limit",
        ValueKind::Bytes,
        OptionUse::Honoured,
    ),
    ("cpu-time-limit", ValueKind::Seconds, OptionUse::Honoured),
    (
        "cpu-priority",
        ValueKind::Text,
        OptionUse::Ignored("the workers keep the supervisor's scheduling priority"),
    ),
    (
        "server-metrics",
        ValueKind::Switch,
        OptionUse::Ignored(
            "the scoreboard counts every group; WSGIServerMetrics On lets applications read it",
        ),
    ),
    (
        "script-user",
        ValueKind::Text,
        OptionUse::Ignored("script files are not checked for their owner"),
    ),
    (
        "script-group",
        ValueKind::Text,
        OptionUse::Ignored("script files are not checked for their owner"),
    ),
];

/// One `WSGIDaemonProcess`, its options checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonProcess {
    /// The group's name.
    pub name: String,
    /// Option name (lower case) to value, as given.
    pub options: BTreeMap<String, String>,
    /// Where it was defined.
    pub origin: Origin,
}

/// Why a `WSGIDaemonProcess` line is not valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonError(pub String);

impl DaemonProcess {
    /// Reads a `WSGIDaemonProcess` line's arguments.
    pub fn parse(args: &[String], origin: &Origin) -> Result<DaemonProcess, DaemonError> {
        let Some((name, options)) = args.split_first() else {
            return Err(DaemonError(
                "WSGIDaemonProcess needs a group name, such as WSGIDaemonProcess myapp threads=15"
                    .to_owned(),
            ));
        };
        if name.contains('=') {
            return Err(DaemonError(format!(
                "WSGIDaemonProcess needs the group's name first, before '{name}'"
            )));
        }
        let mut parsed = BTreeMap::new();
        for option in options {
            let Some((key, value)) = option.split_once('=') else {
                return Err(DaemonError(format!(
                    "WSGIDaemonProcess option '{option}' has no value: write it as name=value"
                )));
            };
            let lower = key.to_ascii_lowercase();
            let Some((_, kind, _)) = OPTIONS.iter().find(|(known, _, _)| *known == lower) else {
                return Err(DaemonError(format!(
                    "invalid option to WSGIDaemonProcess: '{key}'{}",
                    suggestion(&lower)
                )));
            };
            let value = super::syntax::option_value(value);
            check_value(key, &value, *kind)?;
            if parsed.insert(lower, value).is_some() {
                return Err(DaemonError(format!(
                    "WSGIDaemonProcess option '{key}' is given twice"
                )));
            }
        }
        Ok(DaemonProcess {
            name: name.clone(),
            options: parsed,
            origin: origin.clone(),
        })
    }

    /// Whether it is a service group (`threads=0`): no requests, one `WSGIImportScript` run
    /// as a side service, as mod_wsgi-express's `--service-script` writes it.
    pub fn is_service(&self) -> bool {
        self.options.get("threads").map(String::as_str) == Some("0")
    }

    /// The options given that oxwsgi accepts without effect, with the reason.
    pub fn ignored_options(&self) -> impl Iterator<Item = (&str, &'static str)> {
        self.options.keys().filter_map(|key| {
            OPTIONS.iter().find_map(|(name, _, use_)| match use_ {
                OptionUse::Ignored(why) if name == key => Some((key.as_str(), *why)),
                _ => None,
            })
        })
    }
}

fn check_value(key: &str, value: &str, kind: ValueKind) -> Result<(), DaemonError> {
    let number = || value.parse::<u64>().ok();
    let ok = match kind {
        ValueKind::Count => number().is_some_and(|n| n >= 1),
        ValueKind::Seconds | ValueKind::Bytes | ValueKind::Number => number().is_some(),
        ValueKind::Text => !value.is_empty(),
        ValueKind::Switch => value.eq_ignore_ascii_case("on") || value.eq_ignore_ascii_case("off"),
    };
    if ok {
        return Ok(());
    }
    let wanted = match kind {
        ValueKind::Count => "a whole number of at least 1",
        ValueKind::Seconds => "a whole number of seconds",
        ValueKind::Bytes => "a whole number of bytes",
        ValueKind::Number => "a whole number",
        ValueKind::Text => "a value",
        ValueKind::Switch => "On or Off",
    };
    Err(DaemonError(format!(
        "WSGIDaemonProcess option {key}={value}: {key} must be {wanted}"
    )))
}

/// ` (did you mean 'threads'?)` for a near miss, else nothing.
fn suggestion(key: &str) -> String {
    OPTIONS
        .iter()
        .map(|(name, _, _)| (edit_distance(key, name), *name))
        .filter(|(distance, _)| *distance <= 2)
        .min()
        .map(|(_, name)| format!(" (did you mean '{name}'?)"))
        .unwrap_or_default()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;

    use super::*;

    fn parse(line: &str) -> Result<DaemonProcess, DaemonError> {
        let args: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        let origin = Origin {
            file: Arc::new(PathBuf::from("/x.conf")),
            line: 3,
        };
        DaemonProcess::parse(&args, &origin)
    }

    #[test]
    fn seed_options_are_read() {
        let group = parse("pecan_test threads=5 user=tuan").unwrap();
        assert_eq!(group.name, "pecan_test");
        assert_eq!(group.options["threads"], "5");
        assert_eq!(group.options["user"], "tuan");
        let group = parse("pyApps user=www-data group=www-data processes=2 threads=5 maximum-requests=5 umask=0007 display-name=pyApps").unwrap();
        assert_eq!(group.options.len(), 7);
        // Quoted as mod_wsgi-express writes them.
        let group = parse("service:x user='tuan' home='/srv/x' threads=0").unwrap();
        assert_eq!(group.options["user"], "tuan");
        assert_eq!(group.options["home"], "/srv/x");
    }

    #[test]
    fn misspelt_options_and_bad_values_are_named() {
        assert_eq!(
            parse("app thread=5").unwrap_err().0,
            "invalid option to WSGIDaemonProcess: 'thread' (did you mean 'threads'?)"
        );
        assert_eq!(
            parse("app colour=blue").unwrap_err().0,
            "invalid option to WSGIDaemonProcess: 'colour'"
        );
        assert_eq!(
            parse("app processes=0").unwrap_err().0,
            "WSGIDaemonProcess option processes=0: processes must be a whole number of at least 1"
        );
        assert_eq!(
            parse("app threads=x").unwrap_err().0,
            "WSGIDaemonProcess option threads=x: threads must be a whole number"
        );
        assert_eq!(
            parse("app threads").unwrap_err().0,
            "WSGIDaemonProcess option 'threads' has no value: write it as name=value"
        );
        assert!(parse("threads=5").is_err());
        assert!(parse("app threads=2 threads=3").is_err());
    }

    #[test]
    fn threads_0_makes_a_service_group() {
        assert!(
            parse("'service:x' threads=0 display-name=%{GROUP}")
                .unwrap()
                .is_service()
        );
        assert!(!parse("app threads=1").unwrap().is_service());
        assert!(!parse("app").unwrap().is_service());
    }

    #[test]
    fn ignored_options_say_why() {
        let group = parse("app threads=2 stack-size=524288").unwrap();
        let ignored: Vec<_> = group.ignored_options().collect();
        assert_eq!(
            ignored,
            vec![("stack-size", "Python threads keep the system's stack size")]
        );
    }
}

#[cfg(test)]
#[path = "fuzz/daemon.rs"]
mod fuzz;
