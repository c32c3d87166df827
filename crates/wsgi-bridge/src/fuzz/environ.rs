//! Fuzz target of header → environ naming (see docs/testing.md, "Fuzzing").
//!
//! `fuzz_environ_naming`: `environ_key` never panics; a key it makes is `HTTP_` followed by
//! `[A-Z0-9_]` only; it refuses every name with `_`, `.` or anything but letters, digits and
//! `-` (so `X-Foo` and `X_Foo` can never both become `HTTP_X_FOO`); it is injective on the
//! (lower-case) header names it accepts; and it gives the same key as the precomputed keys of
//! the common headers. `split_host` never panics, and splits `host[:port]` so that the parts
//! put back together give the value.

use http::HeaderName;
use proptest::prelude::*;

use super::{COMMON_HEADERS, environ_key, split_host};

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z0-9_.!#$%&'*+^`|~-]{1,8}",
        1 => proptest::collection::vec(
            proptest::sample::select(vec!["x", "-", "_", ".", "a", "1", "é", " ", ":", "\0"]),
            0..6,
        )
        .prop_map(|p| p.concat()),
        1 => any::<String>(),
    ]
}

proptest! {
    #[test]
    fn fuzz_environ_naming(a in name(), b in name(), host in any::<Vec<u8>>(), common in 0..COMMON_HEADERS.len()) {
        for name in [&a, &b] {
            let key = environ_key(name);
            let acceptable = name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-');
            prop_assert_eq!(key.is_some(), acceptable, "{:?} -> {:?}", name, key);
            if let Some(key) = key {
                let rest = key.strip_prefix("HTTP_").expect("HTTP_ prefix");
                prop_assert!(rest.bytes().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_'));
                prop_assert_eq!(rest.len(), name.len());
            }
            if name.contains(['_', '.']) {
                prop_assert!(environ_key(name).is_none());
            }
        }
        // Injective on what hyper hands over: lower-case header names.
        if let (Ok(x), Ok(y)) = (HeaderName::from_bytes(a.as_bytes()), HeaderName::from_bytes(b.as_bytes())) {
            if let (Some(kx), Some(ky)) = (environ_key(x.as_str()), environ_key(y.as_str())) {
                prop_assert_eq!(kx == ky, x == y, "{:?} and {:?}", x, y);
            }
        }
        let standard = &COMMON_HEADERS[common];
        let expected = format!("HTTP_{}", standard.as_str().to_ascii_uppercase().replace('-', "_"));
        prop_assert_eq!(environ_key(standard.as_str()), Some(expected));

        let (name, port) = split_host(&host);
        match port {
            Some(port) => {
                prop_assert!(!port.is_empty());
                prop_assert_eq!([name, b":", port].concat(), host.clone());
            }
            None => prop_assert!(host == name || host == [name, b":"].concat()),
        }
        if host.first() == Some(&b'[') {
            prop_assert!(name.first() == Some(&b'['));
        }
    }
}
