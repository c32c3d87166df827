//! Fuzz target of the access rules read from a section (see docs/testing.md, "Fuzzing").
//!
//! `fuzz_apache_access_rules`: `network` never panics, and what it accepts contains the address
//! it was written from (a whole address is itself; a partial IPv4 address `a.b` is the network
//! of its octets); arbitrary `Require`, `Order`, `Allow` and `Deny` lines and `<Require*>`
//! sections are read without panic, and a rule read answers for any client, named or not,
//! authenticated or not, without panic — and once a user is given, never waits for one;
//! `Require all granted` alone lets everyone in and `Require all denied` no one.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use proptest::prelude::*;

use super::{network, section_rule};
use crate::access::{Decision, User};
use crate::apache::{ReadOptions, read_text};

fn line() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        4 => proptest::sample::select(vec![
            "Require", "Order", "Allow", "Deny", "Satisfy", "not", "all", "granted", "denied",
            "ip", "local", "host", "valid-user", "user", "group", "bob", "staff", "from", "deny,allow", "allow,deny", "Any",
            "10", "10.1", "10.0.0.0/8", "::1", "127.0.0.2", "1.2.3.4/255.0.0.0", "fe80::/10",
            "300.1", "a.b", "/", "<RequireAll>", "</RequireAll>", "<RequireAny>", "</RequireAny>",
            "<RequireNone>", "</RequireNone>",
        ])
        .prop_map(str::to_owned),
        1 => "[ -~]{0,6}",
    ];
    proptest::collection::vec(word, 1..6).prop_map(|w| w.join(" "))
}

fn options() -> ReadOptions {
    ReadOptions {
        defines: Vec::new(),
        environment: Some(BTreeMap::new()),
    }
}

proptest! {
    #[test]
    fn fuzz_apache_access_rules(
        text in "[ -~]{0,24}",
        octets in proptest::collection::vec(any::<u8>(), 1..=4),
        lines in proptest::collection::vec(line(), 1..8),
        client in any::<[u8; 4]>(),
    ) {
        if let Some(net) = network(&text) {
            if let Ok(ip) = text.parse::<IpAddr>() {
                prop_assert!(net.contains(&ip));
            }
        }
        let written: Vec<String> = octets.iter().map(u8::to_string).collect();
        let net = network(&written.join("."));
        if octets.len() < 4 {
            let mut full = [0u8; 4];
            full[..octets.len()].copy_from_slice(&octets);
            let inside = IpAddr::V4(Ipv4Addr::from(full));
            prop_assert!(net.is_some_and(|n| n.contains(&inside)), "{written:?}");
        } else {
            let ip = IpAddr::V4(Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3]));
            prop_assert_eq!(net.map(|n| n.contains(&ip)), Some(true));
        }
        let client = IpAddr::V4(Ipv4Addr::from(client));
        if let Ok(config) = read_text(Path::new("/fuzz.conf"), &lines.join("\n"), &options()) {
            if let Ok(Some(rule)) = section_rule(&config.nodes) {
                let _ = rule.allows(client, None);
                let _ = rule.allows(client, Some("a.b"));
                let groups = ["Staff".to_owned()];
                let user = User {
                    name: b"bob",
                    groups: &groups,
                    wsgi_groups: &groups,
                };
                prop_assert_ne!(rule.decide(client, None, Some(&user)), Decision::DeniedNoUser);
            }
        }
        let granted = read_text(Path::new("/g.conf"), "Require all granted\n", &options()).unwrap();
        prop_assert!(section_rule(&granted.nodes).unwrap().unwrap().allows(client, None));
        let denied = read_text(Path::new("/d.conf"), "Require all denied\n", &options()).unwrap();
        prop_assert!(!section_rule(&denied.nodes).unwrap().unwrap().allows(client, None));
    }
}
