//! Fuzz target of Basic credentials and of the password and group files (see
//! docs/testing.md, "Fuzzing").
//!
//! `fuzz_basic_credentials_and_auth_files`: any `Authorization` value is read without panic,
//! as credentials or as another scheme, never as missing; credentials a client encodes
//! (`Basic ` and the base64 of `user:password`, a user without `:`, neither with a NUL) read
//! back exactly; the model of APR's decoder agrees with the `base64` crate on well-formed
//! input; any password or group file is read without panic, a user's entry is found by its
//! exact name and its hash is checked without panic against any password.

use base64::Engine as _;
use http::{HeaderMap, HeaderValue, header};
use proptest::prelude::*;

use super::super::groups::GroupFile;
use super::super::passwords::{PasswordFile, verify};
use super::super::watched::Parse;
use super::{CredentialsError, credentials, decode};

fn file_text() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        "[a-z]{0,6}:[$A-Za-z0-9./{}=]{0,40}",
        "#[ -~]{0,10}",
        "[a-z]{1,6} ?: ?([a-z\"' ]{0,12})",
        proptest::collection::vec(any::<u8>(), 0..16)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ];
    proptest::collection::vec(line, 0..8).prop_map(|lines| lines.join("\n").into_bytes())
}

proptest! {
    #[test]
    fn fuzz_basic_credentials_and_auth_files(
        value in proptest::collection::vec(prop_oneof![Just(b'\t'), 0x20u8..0x7f, 0x80u8..=0xff], 0..48),
        user in proptest::collection::vec(any::<u8>().prop_filter("no : or NUL", |b| *b != b':' && *b != 0), 0..16),
        password in proptest::collection::vec(any::<u8>().prop_filter("no NUL", |b| *b != 0), 0..24),
        text in file_text(),
        tried in proptest::collection::vec(any::<u8>(), 0..12),
    ) {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_bytes(&value).unwrap());
        prop_assert_ne!(credentials(&headers), Err(CredentialsError::Missing));

        let mut pair = user.clone();
        pair.push(b':');
        pair.extend_from_slice(&password);
        let encoded = base64::engine::general_purpose::STANDARD.encode(&pair);
        prop_assert_eq!(decode(encoded.as_bytes()), pair.clone());
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {encoded}")).unwrap(),
        );
        let read = credentials(&headers).unwrap();
        prop_assert_eq!(&read.user[..], &user[..]);
        prop_assert_eq!(read.password, password);

        let passwords = PasswordFile::parse(&text);
        let groups = GroupFile::parse(&text);
        for line in text.split(|&b| b == b'\n') {
            let line = line.trim_ascii();
            if line.is_empty() || line.starts_with(b"#") {
                continue;
            }
            let name = line.split(|&b| b == b':').next().unwrap_or_default();
            let hash = passwords.hash_of(name);
            prop_assert!(hash.is_some());
            let _ = verify(&tried, hash.unwrap_or_default());
            let _ = groups.groups_of(name);
        }
    }
}
