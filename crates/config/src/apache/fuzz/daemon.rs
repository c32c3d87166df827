//! Fuzz target of `WSGIDaemonProcess` options (see docs/testing.md, "Fuzzing").
//!
//! `fuzz_daemon_process_options`: arbitrary arguments never make `DaemonProcess::parse` panic;
//! what it accepts has a name without `=`, only options mod_wsgi knows, each given once, with a
//! value of its kind (counts at least 1, whole numbers, On/Off); and a line written from known
//! options with valid values (not in quotes, which mod_wsgi drops) is accepted as written.

use std::path::PathBuf;
use std::sync::Arc;

use proptest::prelude::*;

use super::{DaemonProcess, OPTIONS, ValueKind};
use crate::apache::Origin;

fn value(kind: ValueKind) -> BoxedStrategy<String> {
    match kind {
        ValueKind::Count => (1u64..100_000).prop_map(|n| n.to_string()).boxed(),
        ValueKind::Seconds | ValueKind::Bytes | ValueKind::Number => {
            (0u64..u64::MAX).prop_map(|n| n.to_string()).boxed()
        }
        // Not starting with a quote: quotes around a value are dropped (`user='x'` is `x`).
        ValueKind::Text => "[!#-&(-~][!-~]{0,11}".boxed(),
        ValueKind::Switch => proptest::sample::select(vec!["On", "off", "ON", "Off"])
            .prop_map(str::to_owned)
            .boxed(),
    }
}

fn valid_option() -> impl Strategy<Value = (String, String)> {
    proptest::sample::select(OPTIONS.to_vec())
        .prop_flat_map(|(name, kind, _)| value(kind).prop_map(move |v| (name.to_owned(), v)))
}

fn arg() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => valid_option().prop_map(|(n, v)| format!("{n}={v}")),
        1 => "[a-z-]{1,20}=[ -~]{0,8}",
        1 => "[ -~]{0,12}",
    ]
}

fn origin() -> Origin {
    Origin {
        file: Arc::new(PathBuf::from("/fuzz.conf")),
        line: 1,
    }
}

proptest! {
    #[test]
    fn fuzz_daemon_process_options(
        args in proptest::collection::vec(arg(), 0..8),
        valid in proptest::collection::btree_map("[a-z]{1,6}", valid_option(), 0..6),
    ) {
        if let Ok(group) = DaemonProcess::parse(&args, &origin()) {
            prop_assert!(!group.name.contains('='));
            for (key, value) in &group.options {
                let (_, kind, _) = OPTIONS.iter().find(|(name, _, _)| name == key)
                    .ok_or_else(|| TestCaseError::fail(format!("unknown option {key}")))?;
                match kind {
                    ValueKind::Count => prop_assert!(value.parse::<u64>().is_ok_and(|n| n >= 1)),
                    ValueKind::Seconds | ValueKind::Bytes | ValueKind::Number => {
                        prop_assert!(value.parse::<u64>().is_ok());
                    }
                    ValueKind::Text => prop_assert!(!value.is_empty()),
                    ValueKind::Switch => prop_assert!(["on", "off"].contains(&value.to_ascii_lowercase().as_str())),
                }
            }
        }
        let mut line = vec!["group".to_owned()];
        let mut seen = std::collections::BTreeMap::new();
        for (name, value) in valid.into_values() {
            seen.entry(name).or_insert(value);
        }
        line.extend(seen.iter().map(|(n, v)| format!("{n}={v}")));
        let group = DaemonProcess::parse(&line, &origin());
        prop_assert!(group.is_ok(), "{line:?}: {group:?}");
        prop_assert_eq!(group.unwrap().options, seen);
    }
}
