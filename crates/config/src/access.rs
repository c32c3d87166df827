//! Who may make requests under a URL path: httpd's `Require` (mod_authz_core, mod_authz_host)
//! and the older `Order`/`Allow`/`Deny` (mod_access_compat), in one form.
//!
//! httpd merges access rules in two passes: `<Directory>` sections from the least to the most
//! specific, then `<Location>` sections, each section with rules replacing what came before
//! (`AuthMerging Off`, the default). [`AccessRules::allows`] does the same with the rules the
//! configuration front end laid out by URL path: the most specific location rule that covers
//! the path wins, else the most specific directory rule, else everyone is allowed.
//!
//! A rule may name hosts (`Require host`, `Allow from example.org`); only such a rule needs the
//! client's name, which the HTTP side looks up (a double-reverse lookup, as httpd) only when
//! the rule that applies to a request asks for it ([`AccessRule::needs_name`]).

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::model::MountPoint;

/// A condition on the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccessRule {
    /// `Require all granted` (true) or `Require all denied` (false).
    All(bool),
    /// `Require ip`: the client's address is in one of the networks.
    Ip(Vec<IpNet>),
    /// `Require local`: the client is on this machine (a loopback address).
    Local,
    /// `Require host` (and `Allow from` a name): the client's name, found by a double-reverse
    /// lookup, is one of these names or ends in `.` and one of them (httpd's `in_domain`: a
    /// name that starts with a dot, `.example.org`, matches only below it). In lower case.
    Host(Vec<String>),
    /// `Require not ...`.
    Not(Box<AccessRule>),
    /// `<RequireAll>`: every rule holds.
    AllOf(Vec<AccessRule>),
    /// `<RequireAny>` (and several `Require` lines in one section): one rule holds.
    AnyOf(Vec<AccessRule>),
}

impl AccessRule {
    /// Whether a client at `ip` satisfies the rule; `name` is the client's name as its
    /// double-reverse lookup found it (`None` when it has none, or when the rule does not
    /// [need one](AccessRule::needs_name)): without a name, no host rule matches.
    pub fn allows(&self, ip: IpAddr, name: Option<&str>) -> bool {
        let ip = canonical(ip);
        match self {
            AccessRule::All(granted) => *granted,
            AccessRule::Ip(networks) => networks.iter().any(|net| net.contains(&ip)),
            AccessRule::Local => ip.is_loopback(),
            AccessRule::Host(domains) => {
                name.is_some_and(|name| domains.iter().any(|domain| in_domain(domain, name)))
            }
            AccessRule::Not(rule) => !rule.allows(ip, name),
            AccessRule::AllOf(rules) => rules.iter().all(|rule| rule.allows(ip, name)),
            AccessRule::AnyOf(rules) => rules.iter().any(|rule| rule.allows(ip, name)),
        }
    }

    /// Whether deciding needs the client's name (the rule has a host rule somewhere in it).
    pub fn needs_name(&self) -> bool {
        match self {
            AccessRule::Host(_) => true,
            AccessRule::Not(rule) => rule.needs_name(),
            AccessRule::AllOf(rules) | AccessRule::AnyOf(rules) => {
                rules.iter().any(AccessRule::needs_name)
            }
            AccessRule::All(_) | AccessRule::Ip(_) | AccessRule::Local => false,
        }
    }
}

/// Whether the host `name` is `domain` or below it, on a label boundary and ignoring case:
/// `example.org` matches `example.org` and `www.example.org`, not `badexample.org`;
/// `.example.org` matches `www.example.org` only (mod_authz_host's `in_domain`).
fn in_domain(domain: &str, name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    let Some(split) = name.len().checked_sub(domain.len()) else {
        return false;
    };
    let (head, tail) = name.as_bytes().split_at(split);
    tail.eq_ignore_ascii_case(domain.as_bytes())
        && (head.is_empty() || domain.starts_with('.') || head.ends_with(b"."))
}

/// An IPv4 client seen on an IPv6 socket (`::ffff:1.2.3.4`) is the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// A rule for the requests under a URL path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessControl {
    /// The URL path (and what is below it).
    pub prefix: MountPoint,
    /// Who may.
    pub rule: AccessRule,
    /// The only virtual host (index into [`crate::ServerConfig::hosts`]) it applies in;
    /// every one when `None`.
    pub host: Option<usize>,
}

/// The access rules of a server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRules {
    /// From `<Directory>` sections, mapped to the URL paths their files are served at.
    pub directories: Vec<AccessControl>,
    /// From `<Location>` sections (they apply after, and over, the directory rules).
    pub locations: Vec<AccessControl>,
}

impl AccessRules {
    /// Whether there are no rules (everyone is allowed everywhere).
    pub fn is_empty(&self) -> bool {
        self.directories.is_empty() && self.locations.is_empty()
    }

    /// The rules that apply in virtual host `host`.
    pub fn of_host(&self, host: usize) -> AccessRules {
        let keep = |list: &[AccessControl]| {
            list.iter()
                .filter(|c| c.host.is_none_or(|h| h == host))
                .cloned()
                .collect()
        };
        AccessRules {
            directories: keep(&self.directories),
            locations: keep(&self.locations),
        }
    }

    /// The rule for the decoded, normalised `path`, if one covers it (else everyone is
    /// allowed).
    pub fn rule_for(&self, path: &[u8]) -> Option<&AccessRule> {
        fn most_specific<'r>(list: &'r [AccessControl], path: &[u8]) -> Option<&'r AccessRule> {
            list.iter()
                .filter(|c| c.prefix.matches(path))
                // Of equally specific ones, the last (`max_by_key` returns the last maximum).
                .max_by_key(|c| c.prefix.as_str().len())
                .map(|c| &c.rule)
        }
        most_specific(&self.locations, path).or_else(|| most_specific(&self.directories, path))
    }

    /// Whether a client at `ip`, named `name` (see [`AccessRule::allows`]), may request the
    /// decoded, normalised `path`.
    pub fn allows(&self, path: &[u8], ip: IpAddr, name: Option<&str>) -> bool {
        self.rule_for(path).is_none_or(|rule| rule.allows(ip, name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control(prefix: &str, rule: AccessRule) -> AccessControl {
        AccessControl {
            prefix: MountPoint::parse(prefix).unwrap(),
            rule,
            host: None,
        }
    }

    #[test]
    fn the_most_specific_rule_wins_and_locations_win_over_directories() {
        let only_two = AccessRule::Ip(vec!["127.0.0.2/32".parse().unwrap()]);
        let rules = AccessRules {
            directories: vec![
                control("/", AccessRule::All(true)),
                control("/private", AccessRule::All(false)),
            ],
            locations: vec![control("/api/admin", only_two)],
        };
        let one: IpAddr = "127.0.0.1".parse().unwrap();
        let two: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(rules.allows(b"/", one, None));
        assert!(!rules.allows(b"/private/notes.txt", one, None));
        assert!(rules.allows(b"/privateer", one, None));
        assert!(!rules.allows(b"/api/admin", one, None));
        assert!(rules.allows(b"/api/admin/x", two, None));
        assert!(rules.allows(b"/api/users", one, None));
        let mapped: IpAddr = "::ffff:127.0.0.2".parse().unwrap();
        assert!(rules.allows(b"/api/admin", mapped, None));
    }

    #[test]
    fn compound_rules_combine() {
        let lan = AccessRule::Ip(vec!["10.0.0.0/8".parse().unwrap()]);
        let rule = AccessRule::AllOf(vec![
            lan.clone(),
            AccessRule::Not(Box::new(AccessRule::Ip(vec![
                "10.9.0.0/16".parse().unwrap(),
            ]))),
        ]);
        assert!(rule.allows("10.1.2.3".parse().unwrap(), None));
        assert!(!rule.allows("10.9.2.3".parse().unwrap(), None));
        assert!(!rule.allows("192.168.1.1".parse().unwrap(), None));
        let any = AccessRule::AnyOf(vec![AccessRule::Local, lan]);
        assert!(any.allows("::1".parse().unwrap(), None));
        assert!(any.allows("10.0.0.1".parse().unwrap(), None));
        assert!(!any.allows("8.8.8.8".parse().unwrap(), None));
    }

    fn host(names: &[&str]) -> AccessRule {
        AccessRule::Host(names.iter().map(|n| n.to_string()).collect())
    }

    #[test]
    fn a_host_name_matches_itself_and_the_names_below_it_on_a_label_boundary() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let rule = host(&["example.org"]);
        assert!(rule.allows(ip, Some("example.org")));
        assert!(rule.allows(ip, Some("www.example.org")));
        assert!(rule.allows(ip, Some("a.b.example.org")));
        assert!(!rule.allows(ip, Some("badexample.org")));
        assert!(!rule.allows(ip, Some("example.org.evil.test")));
        assert!(!rule.allows(ip, Some("org")));
        let below = host(&[".example.org"]);
        assert!(below.allows(ip, Some("www.example.org")));
        assert!(!below.allows(ip, Some("example.org")));
        assert!(!below.allows(ip, Some("badexample.org")));
    }

    #[test]
    fn host_names_match_in_any_case_and_with_a_final_dot() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let rule = host(&["example.org"]);
        assert!(rule.allows(ip, Some("WWW.Example.ORG")));
        assert!(rule.allows(ip, Some("www.example.org.")));
        assert!(host(&["other.test", "example.org"]).allows(ip, Some("example.org")));
    }

    #[test]
    fn without_a_name_no_host_rule_matches() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(!host(&["localhost"]).allows(ip, None));
        assert!(AccessRule::Not(Box::new(host(&["localhost"]))).allows(ip, None));
    }

    #[test]
    fn host_rules_combine_with_the_others() {
        let lan: IpAddr = "10.1.2.3".parse().unwrap();
        let outside: IpAddr = "192.0.2.1".parse().unwrap();
        let lan_net = AccessRule::Ip(vec!["10.0.0.0/8".parse().unwrap()]);
        let any = AccessRule::AnyOf(vec![lan_net.clone(), host(&["example.org"])]);
        assert!(any.allows(lan, None));
        assert!(any.allows(outside, Some("www.example.org")));
        assert!(!any.allows(outside, Some("example.net")));
        assert!(!any.allows(outside, None));
        let all = AccessRule::AllOf(vec![
            lan_net,
            AccessRule::Not(Box::new(host(&["guest.example.org"]))),
        ]);
        assert!(all.allows(lan, Some("desk.example.org")));
        assert!(all.allows(lan, None));
        assert!(!all.allows(lan, Some("a.guest.example.org")));
        assert!(!all.allows(outside, Some("desk.example.org")));
    }

    #[test]
    fn only_rules_with_a_host_rule_need_the_name() {
        assert!(!AccessRule::All(true).needs_name());
        assert!(
            !AccessRule::AnyOf(vec![AccessRule::Local, AccessRule::Ip(Vec::new())]).needs_name()
        );
        assert!(host(&["a.test"]).needs_name());
        let nested = AccessRule::AllOf(vec![
            AccessRule::Local,
            AccessRule::AnyOf(vec![AccessRule::Not(Box::new(host(&["a.test"])))]),
        ]);
        assert!(nested.needs_name());
        let rules = AccessRules {
            directories: vec![control("/", AccessRule::All(true))],
            locations: vec![control("/named", host(&["a.test"]))],
        };
        assert!(!rules.rule_for(b"/other").unwrap().needs_name());
        assert!(rules.rule_for(b"/named/x").unwrap().needs_name());
        assert_eq!(AccessRules::default().rule_for(b"/"), None);
        let one: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(rules.allows(b"/named", one, Some("x.a.test")));
        assert!(!rules.allows(b"/named", one, None));
    }
}
