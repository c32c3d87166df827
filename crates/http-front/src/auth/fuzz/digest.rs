//! Fuzz target of Digest credentials (see docs/testing.md, "Fuzzing").
//!
//! `fuzz_digest_credentials`: any `Authorization` value is read without panic; a header a
//! client writes (every parameter quoted, with `"` and `\` escaped, in any order and case of
//! keys, with junk parameters between) reads back exactly; and a nonce survives only whole:
//! any other bytes are never taken for a fresh nonce.

use proptest::prelude::*;

use super::{DigestHeader, NonceCheck, Nonces, parse};

fn quoted(value: &[u8]) -> Vec<u8> {
    let mut out = vec![b'"'];
    for &b in value {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
    out
}

proptest! {
    #[test]
    fn fuzz_digest_credentials(
        any_value in proptest::collection::vec(any::<u8>(), 0..96),
        values in proptest::collection::vec(
            proptest::collection::vec(0x20u8..0x7f, 0..12), 5),
        upper in any::<bool>(),
        reversed in any::<bool>(),
        junk in "x-[a-z]{1,5}(=[a-z0-9]{0,4})?",
        forged in proptest::collection::vec(any::<u8>(), 0..60),
        now in 0u64..1_000_000,
    ) {
        let _ = parse(&any_value);

        let keys = ["username", "realm", "nonce", "uri", "response"];
        let mut params: Vec<Vec<u8>> = keys
            .iter()
            .zip(&values)
            .map(|(key, value)| {
                let key = if upper { key.to_ascii_uppercase() } else { (*key).to_owned() };
                let mut param = key.into_bytes();
                param.push(b'=');
                param.extend(quoted(value));
                param
            })
            .collect();
        params.insert(2, junk.clone().into_bytes());
        if reversed {
            params.reverse();
        }
        let mut header = b"Digest ".to_vec();
        header.extend(params.join(&b", "[..]));
        let DigestHeader::Complete(sent) = parse(&header) else {
            panic!("a complete header read as incomplete: {}", String::from_utf8_lossy(&header));
        };
        prop_assert_eq!(&sent.username, &values[0]);
        prop_assert_eq!(&sent.realm, &values[1]);
        prop_assert_eq!(&sent.nonce, &values[2]);
        prop_assert_eq!(&sent.uri, &values[3]);
        prop_assert_eq!(&sent.response, &values[4]);

        let nonces = Nonces::new(&[9; 32]);
        let nonce = nonces.make("realm", now);
        prop_assert_eq!(nonces.check(nonce.as_bytes(), b"realm", now, 300), NonceCheck::Fresh);
        if forged != nonce.as_bytes() {
            prop_assert_ne!(nonces.check(&forged, b"realm", now, 300), NonceCheck::Fresh);
        }
    }
}
