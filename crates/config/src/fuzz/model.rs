//! Fuzz target of the virtual-host name match (see docs/testing.md, "Fuzzing").
//!
//! `fuzz_server_alias_wildcards`: for arbitrary `ServerAlias` patterns of letters, dots, `*`
//! and `?`, and arbitrary host names in any case, [`VirtualHost::answers_to`] never panics and agrees with
//! the same pattern as an anchored regular expression (`*` as `.*`, `?` as `.`).

use proptest::prelude::*;

use super::VirtualHost;

proptest! {
    #[test]
    fn fuzz_server_alias_wildcards(
        pattern in "[ab.*?-]{0,12}",
        host in "[abAB.-]{0,12}",
    ) {
        let vhost = VirtualHost {
            names: vec![pattern.clone()],
            listeners: vec![0],
            logging: None,
            document_root: None,
            static_files: None,
            trusted_proxies: Default::default(),
        };
        let regex: String = pattern
            .chars()
            .map(|c| match c {
                '*' => ".*".to_owned(),
                '?' => ".".to_owned(),
                c => regex::escape(&c.to_string()),
            })
            .collect();
        let expected = regex::Regex::new(&format!("^(?si:{regex})$")).unwrap().is_match(&host);
        prop_assert_eq!(vhost.answers_to(&host), expected);
    }
}
