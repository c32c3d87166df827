//! The access rules one section writes — `Require` lines, `<RequireAll>`, `<RequireAny>`,
//! `<RequireNone>`, and the older `Order`/`Allow`/`Deny` — read into an [`AccessRule`].
//!
//! Several `Require` lines in one section mean any of them (httpd's implicit `<RequireAny>`).
//! `Order deny,allow` (httpd's default order) lets in a client that an `Allow` names or no
//! `Deny` names; `Order allow,deny` one that an `Allow` names and no `Deny` names. Partial
//! addresses (`10.1`) are networks, as in mod_authz_host. `Require host` and an `Allow`/`Deny`
//! `from` that is not an address (mod_access_compat's test: only digits and dots, or a colon,
//! or a `/`, is an address) name hosts: the client's name (from a double-reverse lookup, made
//! by the HTTP side) must be one of them or end in `.` and one of them. Rules that need a user
//! (`valid-user`, …), an environment variable (`Allow from env=`) or an expression
//! (`Require host %{…}`) are not supported yet.

use std::net::IpAddr;

use ipnet::IpNet;

use super::{Directive, Node, Origin};
use crate::access::AccessRule;

/// Why a section's rules cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub(crate) origin: Origin,
    pub(crate) message: String,
    /// httpd accepts it; oxwsgi does not do it yet.
    pub(crate) not_yet: bool,
}

fn invalid(origin: &Origin, message: String) -> Problem {
    Problem {
        origin: origin.clone(),
        message,
        not_yet: false,
    }
}

fn not_yet(origin: &Origin, what: String) -> Problem {
    Problem {
        origin: origin.clone(),
        message: what,
        not_yet: true,
    }
}

/// Whether a node is part of the access rules.
pub(crate) fn is_access(node: &Node) -> bool {
    match node {
        Node::Directive(d) => ["Require", "Order", "Allow", "Deny", "Satisfy"]
            .iter()
            .any(|name| d.is(name)),
        Node::Section(s) => ["RequireAll", "RequireAny", "RequireNone"]
            .iter()
            .any(|name| s.is(name)),
    }
}

/// The rule the access nodes among `nodes` make, if there are any.
pub(crate) fn section_rule(nodes: &[Node]) -> Result<Option<AccessRule>, Problem> {
    let access: Vec<&Node> = nodes.iter().filter(|n| is_access(n)).collect();
    let requires = access.iter().any(|n| {
        matches!(n, Node::Directive(d) if d.is("Require")) || matches!(n, Node::Section(_))
    });
    let compat = access
        .iter()
        .any(|n| matches!(n, Node::Directive(d) if d.is("Order") || d.is("Allow") || d.is("Deny")));
    if requires && compat {
        let origin = access[0].origin();
        return Err(not_yet(
            origin,
            "Require together with Order/Allow/Deny in one section".to_owned(),
        ));
    }
    if requires {
        let rules = access
            .iter()
            .filter_map(|node| match node {
                Node::Directive(d) if d.is("Satisfy") => None,
                node => Some(require_node(node)),
            })
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Some(one_or_any(rules)));
    }
    if compat {
        return compat_rule(&access).map(Some);
    }
    Ok(None)
}

fn one_or_any(mut rules: Vec<AccessRule>) -> AccessRule {
    if rules.len() == 1 {
        rules.remove(0)
    } else {
        AccessRule::AnyOf(rules)
    }
}

fn require_node(node: &Node) -> Result<AccessRule, Problem> {
    match node {
        Node::Directive(d) => require(d),
        Node::Section(s) => {
            let rules = s
                .children
                .iter()
                .map(|child| match child {
                    child if is_access(child) => require_node(child),
                    other => Err(not_yet(
                        other.origin(),
                        format!("{} inside <{}>", other.name(), s.name),
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if s.is("RequireAll") {
                AccessRule::AllOf(rules)
            } else if s.is("RequireAny") {
                AccessRule::AnyOf(rules)
            } else {
                AccessRule::AllOf(
                    rules
                        .into_iter()
                        .map(|r| AccessRule::Not(Box::new(r)))
                        .collect(),
                )
            })
        }
    }
}

/// One `Require` line.
fn require(d: &Directive) -> Result<AccessRule, Problem> {
    let args: Vec<&str> = d.args.iter().map(String::as_str).collect();
    let (negated, args) = match args.split_first() {
        Some((first, rest)) if first.eq_ignore_ascii_case("not") => (true, rest),
        _ => (false, args.as_slice()),
    };
    let Some((kind, values)) = args.split_first() else {
        return Err(invalid(
            &d.origin,
            "Require needs a kind, such as Require all granted".to_owned(),
        ));
    };
    let rule = match kind.to_ascii_lowercase().as_str() {
        "all" => match values {
            [v] if v.eq_ignore_ascii_case("granted") => AccessRule::All(true),
            [v] if v.eq_ignore_ascii_case("denied") => AccessRule::All(false),
            _ => {
                return Err(invalid(
                    &d.origin,
                    "Require all takes granted or denied".to_owned(),
                ));
            }
        },
        "ip" if !values.is_empty() => AccessRule::Ip(
            values
                .iter()
                .map(|v| {
                    network(v).ok_or_else(|| {
                        invalid(
                            &d.origin,
                            format!("Require ip: '{v}' is not an address or network"),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
        ),
        "local" if values.is_empty() => AccessRule::Local,
        "host" if !values.is_empty() => {
            if let Some(expression) = values.iter().find(|v| v.contains("%{")) {
                return Err(not_yet(
                    &d.origin,
                    format!("Require host {expression} (an expression)"),
                ));
            }
            AccessRule::Host(values.iter().map(|v| v.to_ascii_lowercase()).collect())
        }
        other => {
            return Err(not_yet(&d.origin, format!("Require {other}")));
        }
    };
    Ok(if negated {
        AccessRule::Not(Box::new(rule))
    } else {
        rule
    })
}

/// `Order`, `Allow from` and `Deny from` lines.
fn compat_rule(nodes: &[&Node]) -> Result<AccessRule, Problem> {
    let mut deny_first = true;
    let mut allow = Vec::new();
    let mut deny = Vec::new();
    for node in nodes {
        let Node::Directive(d) = node else { continue };
        let lower: Vec<String> = d.args.iter().map(|a| a.to_ascii_lowercase()).collect();
        if d.is("Order") {
            let order = lower.join("");
            deny_first = match order.as_str() {
                "deny,allow" => true,
                "allow,deny" => false,
                _ => {
                    return Err(not_yet(&d.origin, format!("Order {}", d.args.join(" "))));
                }
            };
        } else if d.is("Allow") || d.is("Deny") {
            let Some(("from", hosts)) = lower.split_first().map(|(f, r)| (f.as_str(), r)) else {
                return Err(invalid(
                    &d.origin,
                    format!(
                        "{} takes from and hosts, such as {} from all",
                        d.name, d.name
                    ),
                ));
            };
            let list = if d.is("Allow") { &mut allow } else { &mut deny };
            for (host, written) in hosts.iter().zip(&d.args[1..]) {
                if host == "all" {
                    list.push(AccessRule::All(true));
                } else if host.starts_with("env=") {
                    return Err(not_yet(
                        &d.origin,
                        format!("{} from {written} (an environment variable)", d.name),
                    ));
                } else if let Some(net) = network(host) {
                    list.push(AccessRule::Ip(vec![net]));
                } else if looks_like_address(host) {
                    return Err(invalid(
                        &d.origin,
                        format!("{} from: '{written}' is not an address or network", d.name),
                    ));
                } else {
                    list.push(AccessRule::Host(vec![host.clone()]));
                }
            }
        }
    }
    let allowed = AccessRule::AnyOf(allow);
    let denied = AccessRule::AnyOf(deny);
    Ok(if deny_first {
        AccessRule::AnyOf(vec![allowed, AccessRule::Not(Box::new(denied))])
    } else {
        AccessRule::AllOf(vec![allowed, AccessRule::Not(Box::new(denied))])
    })
}

/// Whether an `Allow`/`Deny` value is meant as an address or a network rather than a host
/// name: APR's `looks_like_ip` (only digits and dots, or a colon) or, as mod_access_compat
/// reads it, anything with a `/`.
fn looks_like_address(text: &str) -> bool {
    text.contains(['/', ':']) || text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

/// An address, a network (`10.0.0.0/8`, `10.0.0.0/255.0.0.0`) or a partial IPv4 address
/// (`10.1` is `10.1.0.0/16`).
fn network(text: &str) -> Option<IpNet> {
    if let Ok(net) = text.parse::<IpNet>() {
        return Some(net);
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(IpNet::from(ip));
    }
    if let Some((address, mask)) = text.split_once('/') {
        let address: std::net::Ipv4Addr = address.parse().ok()?;
        let mask: std::net::Ipv4Addr = mask.parse().ok()?;
        return ipnet::Ipv4Net::with_netmask(address, mask)
            .ok()
            .map(IpNet::V4);
    }
    let parts: Vec<u8> = text
        .trim_end_matches('.')
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    if parts.is_empty() || parts.len() > 3 {
        return None;
    }
    let mut octets = [0u8; 4];
    octets[..parts.len()].copy_from_slice(&parts);
    ipnet::Ipv4Net::new(octets.into(), (parts.len() * 8) as u8)
        .ok()
        .map(IpNet::V4)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::*;
    use crate::apache::{ReadOptions, read_text};

    fn rule(text: &str) -> Result<Option<AccessRule>, Problem> {
        let options = ReadOptions {
            defines: Vec::new(),
            environment: Some(BTreeMap::new()),
        };
        let config = read_text(Path::new("/x.conf"), text, &options).unwrap();
        section_rule(&config.nodes)
    }

    fn allows(text: &str, ip: &str) -> bool {
        named(text, ip, None)
    }

    fn named(text: &str, ip: &str, name: Option<&str>) -> bool {
        rule(text)
            .unwrap()
            .unwrap()
            .allows(ip.parse().unwrap(), name)
    }

    #[test]
    fn require_lines_are_any_of() {
        let text = "Require ip 127.0.0.2 10.1\nRequire local\n";
        assert!(allows(text, "127.0.0.2"));
        assert!(allows(text, "10.1.200.3"));
        assert!(allows(text, "127.0.0.1"));
        assert!(!allows(text, "192.168.0.1"));
        assert!(!allows("Require all denied\n", "127.0.0.1"));
        let all = "<RequireAll>\n Require ip 10.0.0.0/8\n Require not ip 10.9.0.0/255.255.0.0\n</RequireAll>\n";
        assert!(allows(all, "10.1.1.1"));
        assert!(!allows(all, "10.9.1.1"));
        assert!(!allows(
            "<RequireNone>\nRequire ip 10.0.0.0/8\n</RequireNone>\n",
            "10.0.0.1"
        ));
    }

    #[test]
    fn order_allow_deny_follow_mod_access_compat() {
        let deny_allow = "Order deny,allow\nDeny from all\nAllow from 127.0.0.2\n";
        assert!(allows(deny_allow, "127.0.0.2"));
        assert!(!allows(deny_allow, "127.0.0.1"));
        let allow_deny = "Order allow,deny\nAllow from all\nDeny from 10.0.0.0/8\n";
        assert!(allows(allow_deny, "127.0.0.1"));
        assert!(!allows(allow_deny, "10.2.3.4"));
        assert!(!allows("Order allow,deny\n", "127.0.0.1"));
        assert!(allows("Order deny,allow\nAllow from all\n", "127.0.0.1"));
    }

    #[test]
    fn require_host_names_hosts_in_lower_case() {
        let text = "Require host Example.ORG .Other.Test\n";
        assert_eq!(
            rule(text),
            Ok(Some(AccessRule::Host(vec![
                "example.org".to_owned(),
                ".other.test".to_owned()
            ])))
        );
        assert!(named(text, "192.0.2.1", Some("www.example.org")));
        assert!(named(text, "192.0.2.1", Some("a.other.test")));
        assert!(!named(text, "192.0.2.1", Some("other.test")));
        assert!(!named(text, "192.0.2.1", None));
        let not = "<RequireAll>\nRequire all granted\nRequire not host guest.example.org\n</RequireAll>\n";
        assert!(named(not, "192.0.2.1", Some("desk.example.org")));
        assert!(!named(not, "192.0.2.1", Some("x.guest.example.org")));
        let any = "<RequireAny>\nRequire local\nRequire host example.org\n</RequireAny>\n";
        assert!(named(any, "127.0.0.1", None));
        assert!(named(any, "192.0.2.1", Some("example.org")));
        assert!(!named(any, "192.0.2.1", Some("example.net")));
        let none = "<RequireNone>\nRequire host example.org\n</RequireNone>\n";
        assert!(!named(none, "192.0.2.1", Some("example.org")));
        assert!(named(none, "192.0.2.1", Some("example.net")));
    }

    #[test]
    fn allow_and_deny_from_a_name_name_hosts() {
        let deny_allow = "Order deny,allow\nDeny from all\nAllow from .example.org localhost\n";
        assert!(named(deny_allow, "192.0.2.1", Some("www.example.org")));
        assert!(!named(deny_allow, "192.0.2.1", Some("example.org")));
        assert!(named(deny_allow, "127.0.0.1", Some("localhost")));
        assert!(!named(deny_allow, "127.0.0.1", None));
        let allow_deny = "Order allow,deny\nAllow from all\nDeny from Bad.Example.org\n";
        assert!(named(allow_deny, "192.0.2.1", Some("good.example.org")));
        assert!(!named(allow_deny, "192.0.2.1", Some("x.BAD.example.org")));
        assert!(named(allow_deny, "192.0.2.1", None));
        assert!(
            rule("Order deny,allow\nAllow from a.b\n")
                .unwrap()
                .unwrap()
                .needs_name()
        );
        assert!(
            !rule("Order deny,allow\nAllow from 10.1\n")
                .unwrap()
                .unwrap()
                .needs_name()
        );
    }

    #[test]
    fn what_needs_users_variables_or_expressions_is_not_yet() {
        let problem = rule("Require valid-user\n").unwrap_err();
        assert!(
            problem.not_yet && problem.message == "Require valid-user",
            "{problem:?}"
        );
        let problem = rule("Allow from env=LetMeIn\n").unwrap_err();
        assert!(
            problem.not_yet
                && problem.message == "Allow from env=LetMeIn (an environment variable)",
            "{problem:?}"
        );
        assert!(rule("Require host %{HTTP_HOST}\n").unwrap_err().not_yet);
        assert!(rule("Require host\n").unwrap_err().not_yet);
        assert!(!rule("Require ip nonsense\n").unwrap_err().not_yet);
        // An address that is not one is an error, not a host name (as in httpd).
        for bad in ["300.1", "10.0.0.0/33", "example.org/8", "fe80::zz"] {
            let problem = rule(&format!("Allow from {bad}\n")).unwrap_err();
            assert!(!problem.not_yet, "{bad}: {problem:?}");
        }
        assert_eq!(rule("Options None\n"), Ok(None));
    }
}

#[cfg(test)]
#[path = "fuzz/access.rs"]
mod fuzz;
