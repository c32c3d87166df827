//! Fuzz targets of the configuration values (see docs/testing.md, "Fuzzing").
//!
//! * `fuzz_mount_points_and_aliases`: `--mount-point` and `--url-alias` URL paths, and the
//!   [`MountPoint`] and [`LogLevel`] parsers: never a panic; an accepted URL path is in normal
//!   form (`""` or `/a/b`: no empty, `.` or `..` segment, no trailing slash), so a request path
//!   can reach it, and it matches exactly itself and the paths below it.
//! * `fuzz_start_server_values`: arbitrary values for every numeric option (and a few textual
//!   ones) through clap and [`start_server`]: never a panic; what is accepted keeps the value
//!   given, stays in range (at least one thread, process, connection, byte of limit; no
//!   duration or request count that overflows when the server adds it to the clock or to
//!   another).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use proptest::prelude::*;

use super::{Environment, mount_point, start_server, url_aliases};
use crate::cli::{Cli, Command};
use crate::model::{LogLevel, MountPoint, MountTarget};

fn url_path() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        4 => proptest::sample::select(vec![
            "", ".", "..", "a", "app", "static", "%2e", "%2F", "?", "#", "é", " ", "x.y", "\\",
            "..a", "...", ";", "\0",
        ])
        .prop_map(str::to_owned),
        1 => any::<String>().prop_map(|s| s.chars().take(3).collect()),
    ];
    (
        proptest::sample::select(vec!["", "/", "//"]),
        proptest::collection::vec(segment, 0..5),
        proptest::sample::select(vec!["", "/", "//"]),
    )
        .prop_map(|(lead, segments, trail)| format!("{lead}{}{trail}", segments.join("/")))
}

/// Whether a request path (decoded, normalised) can equal `prefix`, or start with it at a `/`.
fn check_reachable(prefix: &str) -> Result<(), TestCaseError> {
    if prefix.is_empty() {
        return Ok(());
    }
    prop_assert!(
        prefix.starts_with('/'),
        "{:?} does not start with /",
        prefix
    );
    for segment in prefix[1..].split('/') {
        prop_assert!(
            !segment.is_empty() && segment != "." && segment != "..",
            "{:?} has an empty, '.' or '..' segment: no normalised request path reaches it",
            prefix
        );
    }
    Ok(())
}

fn check_matching(mount: &MountPoint) -> Result<(), TestCaseError> {
    let prefix = mount.as_str();
    prop_assert!(mount.matches(prefix.as_bytes()) || prefix.is_empty());
    let below = format!("{prefix}/x");
    prop_assert!(mount.matches(below.as_bytes()));
    if !prefix.is_empty() {
        let longer = format!("{prefix}x");
        prop_assert!(!mount.matches(longer.as_bytes()));
        prop_assert!(!mount.matches(&prefix.as_bytes()[..prefix.len() - 1]));
    }
    Ok(())
}

proptest! {
    #[test]
    fn fuzz_mount_points_and_aliases(
        url in url_path(),
        other in any::<String>(),
        path in any::<Vec<u8>>(),
        level in prop_oneof![
            proptest::sample::select(LogLevel::NAMES.to_vec()).prop_map(str::to_owned),
            "[a-zA-Z]{0,7}",
            any::<String>(),
        ],
    ) {
        for value in [&url, &other] {
            if let Ok(mount) = mount_point(value) {
                prop_assert!(!mount.as_str().ends_with('/'));
                prop_assert!(!mount.as_str().contains(['?', '#', '%']));
                check_reachable(mount.as_str())?;
                check_matching(&mount)?;
            }
            let env = Environment { current_dir: PathBuf::from("/nonexistent-oxwsgi-fuzz"), ..Environment::default() };
            let values = [value.clone(), "alias-target".to_owned()];
            if let Ok(mounts) = url_aliases(&values, &env) {
                prop_assert_eq!(mounts.len(), 1);
                let prefix = mounts[0].prefix.as_str();
                prop_assert!(!prefix.is_empty() && !prefix.ends_with('/'));
                prop_assert!(matches!(mounts[0].target, MountTarget::Static(_)));
                check_reachable(prefix)?;
                check_matching(&mounts[0].prefix)?;
            }
            match MountPoint::parse(value) {
                Some(mount) => {
                    prop_assert!(value.starts_with('/'));
                    prop_assert!(!mount.as_str().ends_with('/'));
                    check_matching(&mount)?;
                }
                None => prop_assert!(!value.starts_with('/')),
            }
        }
        // An odd number of --url-alias values is refused, not a panic.
        let env = Environment::default();
        prop_assert!(url_aliases(std::slice::from_ref(&url), &env).is_err());
        // Arbitrary bytes as a request path never make matching panic.
        let _ = MountPoint::root().matches(&path);
        if let Some(mount) = MountPoint::parse(&url) {
            let _ = mount.matches(&path);
        }
        // Log levels: exactly the eight Apache names, in any case, and back.
        let expected = LogLevel::NAMES.iter().position(|n| n.eq_ignore_ascii_case(&level));
        let parsed = LogLevel::parse(&level);
        prop_assert_eq!(parsed.map(|l| l as usize), expected);
        if let Some(parsed) = parsed {
            prop_assert_eq!(LogLevel::parse(parsed.as_str()), Some(parsed));
            prop_assert_eq!(parsed.to_string(), parsed.as_str());
        }
    }
}

/// The numeric options, and the largest value each takes.
const NUMERIC: &[(&str, u64)] = &[
    ("--port", u16::MAX as u64),
    ("--server-backlog", u32::MAX as u64),
    ("--processes", u64::MAX),
    ("--threads", u64::MAX),
    ("--daemon-backlog", u64::MAX),
    ("--max-clients", u64::MAX),
    ("--limit-request-body", u64::MAX),
    ("--limit-request-line", u64::MAX),
    ("--limit-request-field-size", u64::MAX),
    ("--limit-request-fields", u64::MAX),
    ("--queue-timeout", u64::MAX),
    ("--keep-alive-timeout", u64::MAX),
    ("--header-timeout", u64::MAX),
    ("--header-max-timeout", u64::MAX),
    ("--header-min-rate", u64::MAX),
    ("--socket-timeout", u64::MAX),
    ("--body-timeout", u64::MAX),
    ("--maximum-requests", u64::MAX),
    ("--maximum-requests-jitter", u64::MAX),
    ("--restart-interval", u64::MAX),
    ("--inactivity-timeout", u64::MAX),
    ("--request-timeout", u64::MAX),
    ("--startup-timeout", u64::MAX),
    ("--graceful-timeout", u64::MAX),
    ("--shutdown-timeout", u64::MAX),
    ("--deadlock-timeout", u64::MAX),
    ("--cpu-time-limit", u64::MAX),
    ("--memory-limit", u64::MAX),
    ("--virtual-memory-limit", u64::MAX),
    ("--maximum-rss-size", u64::MAX),
    ("--interrupt-timeout", u64::MAX),
    ("--eviction-timeout", u64::MAX),
    ("--connect-timeout", u64::MAX),
    ("--response-socket-timeout", u64::MAX),
];

fn numeric_value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (0u64..100).prop_map(|n| n.to_string()),
        2 => any::<u64>().prop_map(|n| n.to_string()),
        1 => any::<u32>().prop_map(|n| n.to_string()),
        1 => proptest::sample::select(vec![
            "18446744073709551615", "18446744073709551616", "4294967295", "65535", "65536",
            "-1", "+5", " 5", "5 ", "1e3", "0x10", "", "007", "1_000", "٣",
        ])
        .prop_map(str::to_owned),
    ]
}

fn arguments() -> impl Strategy<Value = Vec<String>> {
    let numeric = proptest::collection::vec(
        (proptest::sample::select(NUMERIC.to_vec()), numeric_value()),
        0..8,
    );
    let textual = proptest::collection::vec(
        (
            proptest::sample::select(vec![
                "--log-level",
                "--locale",
                "--access-log-format",
                "--mount-point",
                "--host",
                "--callable-object",
                "--directory-index",
                "--error-log-name",
            ]),
            prop_oneof![
                proptest::sample::select(vec![
                    "warn",
                    "DEBUG",
                    "C",
                    "POSIX",
                    "common",
                    "%h %Z",
                    "%{x",
                    "/",
                    "app",
                    "a//b",
                    "",
                    "..",
                    "localhost",
                    "::1",
                    "index.html",
                ])
                .prop_map(str::to_owned),
                any::<String>().prop_filter("clap takes NUL-free text", |s| !s.contains('\0')),
            ],
        ),
        0..3,
    );
    (numeric, textual).prop_map(|(numeric, textual)| {
        let mut argv = vec!["oxwsgi".to_owned(), "start-server".to_owned()];
        for ((option, _), value) in numeric {
            argv.push(format!("{option}={value}"));
        }
        for (option, value) in textual {
            argv.push(format!("{option}={value}"));
        }
        argv
    })
}

fn environment() -> Environment {
    // Only needs to exist (nothing is written there): one for every run.
    let dir = std::env::temp_dir().join("oxwsgi-fuzz-resolve");
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    Environment {
        current_dir: dir,
        uid: 1000,
        ..Environment::default()
    }
}

proptest! {
    #[test]
    fn fuzz_start_server_values(argv in arguments()) {
        let Ok(cli) = Cli::try_parse_from(&argv) else {
            return Ok(());
        };
        let Command::StartServer(args) = cli.command else {
            panic!("not start-server")
        };
        let Ok(config) = start_server(&args, &environment()) else {
            return Ok(());
        };
        // Values are kept as given where the option takes them as they are.
        prop_assert_eq!(config.listeners[0].port, args.port);
        prop_assert_eq!(config.listeners[0].backlog, args.server_backlog);
        let group = &config.groups[0];
        prop_assert_eq!(group.threads, args.threads);
        if args.maximum_requests <= u64::from(u32::MAX) {
            prop_assert_eq!(group.lifecycle.maximum_requests, args.maximum_requests);
        }
        // In range.
        prop_assert!(group.threads >= 1 && group.processes >= 1 && group.queue_backlog >= 1);
        let http = &config.http;
        prop_assert!(http.limit_request_body >= 1);
        prop_assert!(http.limit_request_line >= 1 && http.limit_request_field_size >= 1);
        prop_assert!(http.limit_request_fields >= 1 && http.max_connections >= 1);
        prop_assert!(http.header_timeout >= Duration::from_secs(1));
        prop_assert!(http.header_max_timeout >= http.header_timeout);
        prop_assert!(http.body_timeout >= Duration::from_secs(1));
        prop_assert!(http.socket_timeout >= Duration::from_secs(1));
        prop_assert!(group.lifecycle.startup_timeout >= Duration::from_secs(1));
        prop_assert!(
            group
                .lifecycle
                .maximum_requests
                .checked_add(group.lifecycle.maximum_requests_jitter)
                .and_then(|n| n.checked_add(1))
                .is_some(),
            "--maximum-requests {} plus --maximum-requests-jitter {} overflows",
            group.lifecycle.maximum_requests,
            group.lifecycle.maximum_requests_jitter
        );
        let lifecycle = &group.lifecycle;
        let durations = [
            Some(http.keep_alive_timeout),
            Some(http.header_timeout),
            Some(http.header_max_timeout),
            Some(http.body_timeout),
            Some(http.socket_timeout),
            Some(group.queue_timeout),
            lifecycle.restart_interval,
            lifecycle.inactivity_timeout,
            lifecycle.request_timeout,
            Some(lifecycle.startup_timeout),
            Some(lifecycle.graceful_timeout),
            Some(lifecycle.shutdown_timeout),
            lifecycle.deadlock_timeout,
        ];
        // The server adds a duration (or two: graceful + shutdown, a header timeout + 1 s) to
        // the clock; none may overflow.
        let now = Instant::now();
        for a in durations.iter().flatten() {
            for b in durations.iter().flatten() {
                let sum = a.checked_add(*b);
                prop_assert!(
                    sum.and_then(|sum| now.checked_add(sum)).is_some(),
                    "{:?} + {:?} overflows the clock (from {:?})", a, b, argv
                );
            }
        }
        if let Some(level) = argv.iter().rev().find_map(|a| a.strip_prefix("--log-level=")) {
            prop_assert!(config.logging.level.as_str().eq_ignore_ascii_case(level));
        }
    }
}

// Regressions: what these targets found, pinned as plain tests (the seeds are also kept in
// proptest-regressions/fuzz/resolve.txt).

/// `--url-alias //. DIR` was accepted, and so were `--url-alias /a//b` and `--mount-point
/// /a//b`: no normalised request path has an empty or `.` segment, so nothing reached them.
#[test]
fn regression_unreachable_url_paths_are_refused() {
    let env = Environment::default();
    for url in ["//.", "/a//b", "/a/./b", "/a/..", "//a"] {
        assert!(
            url_aliases(&[url.to_owned(), "x".to_owned()], &env).is_err(),
            "{url}"
        );
        assert!(mount_point(url).is_err(), "{url}");
    }
    assert_eq!(mount_point("//").unwrap().as_str(), "");
    assert_eq!(mount_point("/a/").unwrap().as_str(), "/a");
    let ok = url_aliases(&["/static/".to_owned(), "x".to_owned()], &env).unwrap();
    assert_eq!(ok[0].prefix.as_str(), "/static");
}

/// `--queue-timeout 4611686018427381869` (or any timeout near `u64::MAX` seconds) was accepted
/// as it was; the server adds timeouts to `Instant::now()` (`conn.rs`, `pool.rs`, the
/// supervisor's graceful + shutdown), which panics on overflow. And `--maximum-requests-jitter
/// 18446744073709551615` made the worker compute `jitter + 1` (overflow, then `% 0`).
#[test]
fn regression_huge_durations_and_counts_stay_in_range() {
    let argv = [
        "oxwsgi",
        "start-server",
        "--queue-timeout=4611686018427381869",
        "--keep-alive-timeout=18446744073709551615",
        "--graceful-timeout=18446744073709551615",
        "--shutdown-timeout=18446744073709551615",
        "--maximum-requests=18446744073709551615",
        "--maximum-requests-jitter=18446744073709551615",
    ];
    let Command::StartServer(args) = Cli::parse_from(argv).command else {
        panic!("not start-server")
    };
    let config = start_server(&args, &environment()).unwrap();
    let group = &config.groups[0];
    let now = Instant::now();
    assert!(now.checked_add(group.queue_timeout * 2).is_some());
    assert!(
        now.checked_add(config.http.keep_alive_timeout * 2)
            .is_some()
    );
    let stop = group.lifecycle.graceful_timeout + group.lifecycle.shutdown_timeout;
    assert!(now.checked_add(stop).is_some());
    let requests = group.lifecycle.maximum_requests;
    let jitter = group.lifecycle.maximum_requests_jitter;
    assert!(
        requests
            .checked_add(jitter)
            .and_then(|n| n.checked_add(1))
            .is_some()
    );
    assert!(requests > u64::from(u32::MAX), "still effectively never");
}
