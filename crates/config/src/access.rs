//! Who may make requests under a URL path: httpd's `Require` (mod_authz_core, mod_authz_host)
//! and the older `Order`/`Allow`/`Deny` (mod_access_compat), in one form.
//!
//! httpd merges access rules in two passes: `<Directory>` sections from the least to the most
//! specific, then `<Location>` sections, each section with rules replacing what came before
//! (`AuthMerging Off`, the default). [`AccessRules::allows`] does the same with the rules the
//! configuration front end laid out by URL path: the most specific location rule that covers
//! the path wins, else the most specific directory rule, else everyone is allowed.

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
    /// `Require not ...`.
    Not(Box<AccessRule>),
    /// `<RequireAll>`: every rule holds.
    AllOf(Vec<AccessRule>),
    /// `<RequireAny>` (and several `Require` lines in one section): one rule holds.
    AnyOf(Vec<AccessRule>),
}

impl AccessRule {
    /// Whether a client at `ip` satisfies the rule.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match self {
            AccessRule::All(granted) => *granted,
            AccessRule::Ip(networks) => networks.iter().any(|net| net.contains(&ip)),
            AccessRule::Local => ip.is_loopback(),
            AccessRule::Not(rule) => !rule.allows(ip),
            AccessRule::AllOf(rules) => rules.iter().all(|rule| rule.allows(ip)),
            AccessRule::AnyOf(rules) => rules.iter().any(|rule| rule.allows(ip)),
        }
    }
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

    /// Whether a client at `ip` may request the decoded, normalised `path`.
    pub fn allows(&self, path: &[u8], ip: IpAddr) -> bool {
        fn most_specific<'r>(list: &'r [AccessControl], path: &[u8]) -> Option<&'r AccessRule> {
            list.iter()
                .filter(|c| c.prefix.matches(path))
                // Of equally specific ones, the last (`max_by_key` returns the last maximum).
                .max_by_key(|c| c.prefix.as_str().len())
                .map(|c| &c.rule)
        }
        let location = most_specific(&self.locations, path);
        match location.or_else(|| most_specific(&self.directories, path)) {
            Some(rule) => rule.allows(ip),
            None => true,
        }
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
        assert!(rules.allows(b"/", one));
        assert!(!rules.allows(b"/private/notes.txt", one));
        assert!(rules.allows(b"/privateer", one));
        assert!(!rules.allows(b"/api/admin", one));
        assert!(rules.allows(b"/api/admin/x", two));
        assert!(rules.allows(b"/api/users", one));
        let mapped: IpAddr = "::ffff:127.0.0.2".parse().unwrap();
        assert!(rules.allows(b"/api/admin", mapped));
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
        assert!(rule.allows("10.1.2.3".parse().unwrap()));
        assert!(!rule.allows("10.9.2.3".parse().unwrap()));
        assert!(!rule.allows("192.168.1.1".parse().unwrap()));
        let any = AccessRule::AnyOf(vec![AccessRule::Local, lan]);
        assert!(any.allows("::1".parse().unwrap()));
        assert!(any.allows("10.0.0.1".parse().unwrap()));
        assert!(!any.allows("8.8.8.8".parse().unwrap()));
    }
}
