//! The access rules one section writes — `Require` lines, `<RequireAll>`, `<RequireAny>`,
//! `<RequireNone>`, the older `Order`/`Allow`/`Deny` and `Satisfy` — read into an
//! [`AccessRule`]; and what it says of authentication (`AuthType`, `AuthName`,
//! `AuthUserFile`, `AuthGroupFile`, `AuthBasicProvider`), read into [`AuthSettings`].
//!
//! Several `Require` lines in one section mean any of them (httpd's implicit `<RequireAny>`).
//! `Order deny,allow` (httpd's default order) lets in a client that an `Allow` names or no
//! `Deny` names; `Order allow,deny` one that an `Allow` names and no `Deny` names. Partial
//! addresses (`10.1`) are networks, as in mod_authz_host. `Require host` and an `Allow`/`Deny`
//! `from` that is not an address (mod_access_compat's test: only digits and dots, or a colon,
//! or a `/`, is an address) name hosts: the client's name (from a double-reverse lookup, made
//! by the HTTP side) must be one of them or end in `.` and one of them. `Require valid-user`,
//! `Require user` and `Require group` name users (mod_authz_user, mod_authz_groupfile).
//!
//! A section with both `Require` and `Order`/`Allow`/`Deny` combines them as its `Satisfy`
//! says (httpd 2.4's `ap_process_request_internal`): `All` (the default) — the
//! `Order`/`Allow`/`Deny` test must pass, then the `Require` rules decide; `Any` — passing
//! that test is enough, else the `Require` rules decide (so a user may log in instead). A
//! `Satisfy Any` section without `Allow`/`Deny` lets everyone in, as in httpd, whose default
//! `Order deny,allow` passes every client.
//!
//! What httpd refuses at start, oxwsgi refuses too, in its words: a negated rule where it
//! has no effect (`Require not` directly in a `<RequireAny>` or among a section's plain
//! `Require` lines, a `<RequireNone>` there), a `<RequireAll>` of negated rules only, an
//! empty section. Rules that need an environment variable (`Allow from env=`) or an
//! expression (`Require host %{…}`) are not supported yet.

use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;

use super::{Directive, Node, Origin};
use crate::access::{AccessRule, AuthProvider, AuthSettings};

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

/// The directives of authentication a section may hold.
const AUTH_DIRECTIVES: [&str; 15] = [
    "AuthType",
    "AuthName",
    "AuthUserFile",
    "AuthGroupFile",
    "AuthBasicProvider",
    "AuthBasicAuthoritative",
    "AuthDigestProvider",
    "AuthDigestNonceLifetime",
    "AuthDigestQop",
    "AuthDigestDomain",
    "AuthDigestAlgorithm",
    "WSGIAuthUserScript",
    "WSGIAuthGroupScript",
    "WSGIAccessScript",
    "WSGIGroupAuthoritative",
];

/// mod_wsgi's script directives: the script, and the options it takes.
pub(crate) const SCRIPT_DIRECTIVES: [&str; 3] = [
    "WSGIAuthUserScript",
    "WSGIAuthGroupScript",
    "WSGIAccessScript",
];

/// Whether a node says something of authentication ([`section_auth`] reads it).
pub(crate) fn is_auth(node: &Node) -> bool {
    matches!(node, Node::Directive(d) if AUTH_DIRECTIVES.iter().any(|name| d.is(name)))
}

/// What the authentication directives among `nodes` set, if there are any. The password and
/// group files are as written (the caller makes them relative to `ServerRoot`).
pub(crate) fn section_auth(nodes: &[Node]) -> Result<Option<AuthSettings>, Problem> {
    let mut settings = AuthSettings::default();
    let mut any = false;
    for node in nodes {
        let Node::Directive(d) = node else { continue };
        if !is_auth(node) {
            continue;
        }
        any = true;
        let one_argument = ["AuthType", "AuthName", "AuthUserFile", "AuthGroupFile"]
            .iter()
            .any(|name| d.is(name));
        if one_argument && d.args.len() != 1 {
            return Err(invalid(&d.origin, format!("{} takes one argument", d.name)));
        }
        if SCRIPT_DIRECTIVES.iter().any(|name| d.is(name)) {
            let script = script_directive(d)?;
            if d.is("WSGIAuthUserScript") {
                settings.user_script = Some(script);
            } else if d.is("WSGIAuthGroupScript") {
                settings.group_script = Some(script);
            } else {
                settings.access_script = Some(script);
            }
            continue;
        }
        let listing = ["AuthBasicProvider", "AuthDigestProvider", "AuthDigestQop"];
        if listing.iter().any(|name| d.is(name)) && d.args.is_empty() {
            return Err(invalid(
                &d.origin,
                format!("{} takes one or more names", d.name),
            ));
        }
        let value = d.args.first().cloned().unwrap_or_default();
        let lower = value.to_ascii_lowercase();
        if value.contains("%{") && (d.is("AuthType") || d.is("AuthName")) {
            return Err(not_yet(
                &d.origin,
                format!("{} {value} (an expression)", d.name),
            ));
        }
        if d.is("AuthType") {
            settings.auth_type = Some(match lower.as_str() {
                "basic" => Some(value),
                "none" => None,
                "digest" => Some(value),
                _ => return Err(not_yet(&d.origin, format!("AuthType {value}"))),
            });
        } else if d.is("AuthName") {
            settings.name = Some(value);
        } else if d.is("AuthUserFile") {
            settings.user_file = Some(PathBuf::from(value));
        } else if d.is("AuthGroupFile") {
            settings.group_file = Some(PathBuf::from(value));
        } else if d.is("AuthBasicProvider") || d.is("AuthDigestProvider") {
            // mod_authn_file's `file` (httpd's default) and mod_wsgi's `wsgi`.
            let mut providers = Vec::new();
            for name in &d.args {
                providers.push(match name.as_str() {
                    "file" => AuthProvider::File,
                    "wsgi" => AuthProvider::Wsgi,
                    other => return Err(not_yet(&d.origin, format!("{} {other}", d.name))),
                });
            }
            if d.is("AuthBasicProvider") {
                settings.basic_providers = Some(providers);
            } else {
                settings.digest_providers = Some(providers);
            }
        } else if d.is("AuthDigestNonceLifetime") {
            // httpd also takes a negative number (no limit) and 0 (one use); oxwsgi keeps
            // no record of uses, so neither.
            match value.parse::<i64>().ok().filter(|_| d.args.len() == 1) {
                Some(seconds) if seconds > 0 => {
                    settings.digest.nonce_lifetime = Some(seconds.unsigned_abs());
                }
                Some(_) => {
                    return Err(not_yet(
                        &d.origin,
                        format!("AuthDigestNonceLifetime {value}"),
                    ));
                }
                None => {
                    return Err(invalid(
                        &d.origin,
                        "AuthDigestNonceLifetime takes a number of seconds".to_owned(),
                    ));
                }
            }
        } else if d.is("AuthDigestQop") {
            let mut auth = false;
            for qop in &d.args {
                match qop.to_ascii_lowercase().as_str() {
                    "none" if d.args.len() == 1 => {}
                    "auth" => auth = true,
                    "auth-int" => {
                        return Err(not_yet(&d.origin, "AuthDigestQop auth-int".to_owned()));
                    }
                    _ => {
                        return Err(invalid(&d.origin, format!("Unrecognized qop: {qop}")));
                    }
                }
            }
            settings.digest.qop = Some(auth);
        } else if d.is("AuthDigestDomain") {
            settings.digest.domain = Some(d.args.clone());
        } else if d.is("AuthDigestAlgorithm") {
            match lower.as_str() {
                "md5" if d.args.len() == 1 => {}
                "md5-sess" => {
                    return Err(not_yet(
                        &d.origin,
                        "AuthDigestAlgorithm MD5-sess".to_owned(),
                    ));
                }
                _ => {
                    return Err(invalid(
                        &d.origin,
                        format!("Invalid algorithm in AuthDigestAlgorithm: {value}"),
                    ));
                }
            }
        } else if d.is("WSGIGroupAuthoritative") {
            match (lower.as_str(), d.args.len()) {
                ("on", 1) => {}
                // Off passes a user in none of the groups on to other modules.
                ("off", 1) => {
                    return Err(not_yet(&d.origin, "WSGIGroupAuthoritative Off".to_owned()));
                }
                _ => {
                    return Err(invalid(
                        &d.origin,
                        "WSGIGroupAuthoritative must be On or Off".to_owned(),
                    ));
                }
            }
        } else if d.is("AuthBasicAuthoritative") {
            match (lower.as_str(), d.args.len()) {
                ("on", 1) => {}
                // Off passes an unknown user on to other modules, which oxwsgi does not have.
                ("off", 1) => {
                    return Err(not_yet(&d.origin, "AuthBasicAuthoritative Off".to_owned()));
                }
                _ => {
                    return Err(invalid(
                        &d.origin,
                        "AuthBasicAuthoritative must be On or Off".to_owned(),
                    ));
                }
            }
        }
    }
    Ok(any.then_some(settings))
}

/// The script a `WSGIAuthUserScript`, `WSGIAuthGroupScript` or `WSGIAccessScript` names, as
/// written. mod_wsgi's one option, `application-group=`, is accepted: oxwsgi runs every
/// application group of a process in one interpreter.
fn script_directive(d: &Directive) -> Result<PathBuf, Problem> {
    let Some((script, options)) = d.args.split_first() else {
        return Err(invalid(
            &d.origin,
            format!("{} takes the path of a Python script", d.name),
        ));
    };
    for option in options {
        let (name, value) = option.split_once('=').unwrap_or((option, ""));
        if name != "application-group" || value.is_empty() {
            return Err(invalid(
                &d.origin,
                format!("Invalid option to {} '{option}'", d.name),
            ));
        }
    }
    Ok(PathBuf::from(script))
}

/// The rule the access nodes among `nodes` make, if there are any.
pub(crate) fn section_rule(nodes: &[Node]) -> Result<Option<AccessRule>, Problem> {
    let access: Vec<&Node> = nodes.iter().filter(|n| is_access(n)).collect();
    let requires: Vec<&Node> = access
        .iter()
        .copied()
        .filter(|n| {
            matches!(n, Node::Directive(d) if d.is("Require")) || matches!(n, Node::Section(_))
        })
        .collect();
    let compat: Vec<&Node> = access
        .iter()
        .copied()
        .filter(
            |n| matches!(n, Node::Directive(d) if d.is("Order") || d.is("Allow") || d.is("Deny")),
        )
        .collect();
    let mut satisfy_any = None;
    for node in &access {
        if let Node::Directive(d) = node {
            if d.is("Satisfy") {
                satisfy_any = Some(match d.args.first().map(|a| a.to_ascii_lowercase()) {
                    Some(value) if value == "any" => true,
                    Some(value) if value == "all" => false,
                    _ => {
                        return Err(invalid(
                            &d.origin,
                            "Satisfy either 'any' or 'all'.".to_owned(),
                        ));
                    }
                });
            }
        }
    }
    let required = if requires.is_empty() {
        None
    } else {
        // httpd's implicit section around a section's `Require` lines: any of them.
        let mut rules = Vec::new();
        for node in &requires {
            rules.push(require_node(node, Parent::Any("<RequireAny>"))?.0);
        }
        Some(one_or_any(rules))
    };
    // mod_access_compat's test. Without `Order`/`Allow`/`Deny` it is the default test, which
    // every client passes: it matters only to `Satisfy Any`.
    let test = if !compat.is_empty() || satisfy_any == Some(true) {
        Some(compat_rule(&compat)?)
    } else {
        None
    };
    Ok(match (test, required) {
        (None, None) => None,
        // `Satisfy Any` alone: nothing to combine (the section has no rule of its own).
        (Some(_), None) if compat.is_empty() => None,
        (Some(test), None) => Some(test),
        (None, Some(required)) => Some(required),
        (Some(test), Some(required)) => Some(if satisfy_any == Some(true) {
            AccessRule::AnyOf(vec![test, required])
        } else {
            AccessRule::AllOf(vec![test, required])
        }),
    })
}

fn one_or_any(mut rules: Vec<AccessRule>) -> AccessRule {
    if rules.len() == 1 {
        rules.remove(0)
    } else {
        AccessRule::AnyOf(rules)
    }
}

/// The section a `Require` line or a `<Require…>` section sits in, for httpd's checks of
/// where negation has an effect.
#[derive(Clone, Copy)]
enum Parent {
    /// `<RequireAll>`.
    All,
    /// `<RequireAny>`, `<RequireNone>` or the implicit section of plain `Require` lines,
    /// named as httpd names it.
    Any(&'static str),
}

/// A `Require` line or section: its rule, and whether it is negative (`Require not`, or a
/// `<RequireNone>`), which only a `<RequireAll>` with a positive rule beside it can hold.
fn require_node(node: &Node, parent: Parent) -> Result<(AccessRule, bool), Problem> {
    match node {
        Node::Directive(d) if d.is("Require") => {
            let (rule, negated) = require(d)?;
            if let (true, Parent::Any(name)) = (negated, parent) {
                return Err(invalid(
                    &d.origin,
                    format!("negative Require directive has no effect in {name} directive"),
                ));
            }
            Ok((rule, negated))
        }
        Node::Directive(d) => Err(not_yet(
            &d.origin,
            format!("{} inside a <Require…> section", d.name),
        )),
        Node::Section(s) => {
            let (own, negated, name) = if s.is("RequireAll") {
                (Parent::All, false, "<RequireAll>")
            } else if s.is("RequireAny") {
                (Parent::Any("<RequireAny>"), false, "<RequireAny>")
            } else {
                (Parent::Any("<RequireNone>"), true, "<RequireNone>")
            };
            if let (true, Parent::Any(outer)) = (negated, parent) {
                return Err(invalid(
                    &s.origin,
                    format!("{name} directive has no effect in {outer} directive"),
                ));
            }
            let mut rules = Vec::new();
            let mut positive = false;
            for child in &s.children {
                if !is_access(child) {
                    return Err(not_yet(
                        child.origin(),
                        format!("{} inside <{}>", child.name(), s.name),
                    ));
                }
                let (rule, negative) = require_node(child, own)?;
                positive |= !negative;
                rules.push(rule);
            }
            if rules.is_empty() {
                return Err(invalid(
                    &s.origin,
                    format!("{name} directive contains no authorization directives"),
                ));
            }
            if s.is("RequireAll") && !positive {
                return Err(invalid(
                    &s.origin,
                    format!("{name} directive contains only negative authorization directives"),
                ));
            }
            let rule = if s.is("RequireAll") {
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
            };
            Ok((rule, negated))
        }
    }
}

/// One `Require` line: its rule, and whether it is negated (`Require not`).
fn require(d: &Directive) -> Result<(AccessRule, bool), Problem> {
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
    let kind = kind.to_ascii_lowercase();
    if ["host", "user", "group"].contains(&kind.as_str()) {
        if let Some(expression) = values.iter().find(|v| v.contains("%{")) {
            return Err(not_yet(
                &d.origin,
                format!("Require {kind} {expression} (an expression)"),
            ));
        }
    }
    let names = || values.iter().map(|v| (*v).to_owned()).collect();
    let rule = match kind.as_str() {
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
            AccessRule::Host(values.iter().map(|v| v.to_ascii_lowercase()).collect())
        }
        // mod_authz_user: any further words are ignored, as there.
        "valid-user" => AccessRule::ValidUser,
        "user" => AccessRule::User(names()),
        // mod_authz_groupfile.
        "group" => AccessRule::Group(names()),
        // mod_wsgi's group provider, which asks the `WSGIAuthGroupScript`.
        "wsgi-group" => AccessRule::WsgiGroup(names()),
        other => {
            return Err(not_yet(&d.origin, format!("Require {other}")));
        }
    };
    Ok(if negated {
        (AccessRule::Not(Box::new(rule)), true)
    } else {
        (rule, false)
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
    Ok(AccessRule::Order {
        deny_first,
        allow,
        deny,
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
    use crate::access::Decision;
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
        let none = "<RequireAll>\nRequire all granted\n<RequireNone>\nRequire ip 10.0.0.0/8\n</RequireNone>\n</RequireAll>\n";
        assert!(!allows(none, "10.0.0.1"));
        assert!(allows(none, "192.0.2.1"));
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
        let none = "<RequireAll>\nRequire ip 192.0.2.0/24\n<RequireNone>\nRequire host example.org\n</RequireNone>\n</RequireAll>\n";
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
    fn what_needs_variables_or_expressions_is_not_yet() {
        let problem = rule("Require env LetMeIn\n").unwrap_err();
        assert!(
            problem.not_yet && problem.message == "Require env",
            "{problem:?}"
        );
        assert!(rule("Require user %{REMOTE_ADDR}\n").unwrap_err().not_yet);
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

    #[test]
    fn require_names_users_and_groups() {
        assert_eq!(
            rule("Require valid-user\n"),
            Ok(Some(AccessRule::ValidUser))
        );
        assert_eq!(
            rule("Require user amy Bob\nRequire group staff\n"),
            Ok(Some(AccessRule::AnyOf(vec![
                AccessRule::User(vec!["amy".to_owned(), "Bob".to_owned()]),
                AccessRule::Group(vec!["staff".to_owned()]),
            ])))
        );
    }

    #[test]
    fn satisfy_combines_the_address_test_with_the_require_rules() {
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let outside: IpAddr = "192.0.2.1".parse().unwrap();
        let lines = "Order deny,allow\nDeny from all\nAllow from 10.0.0.0/8\nRequire valid-user\n";
        let all = rule(lines).unwrap().unwrap();
        assert_eq!(all.decide(ip, None, None), Decision::DeniedNoUser);
        assert_eq!(all.decide(outside, None, None), Decision::Denied);
        let any = rule(&format!("{lines}Satisfy Any\n")).unwrap().unwrap();
        assert_eq!(any.decide(ip, None, None), Decision::Granted);
        assert_eq!(any.decide(outside, None, None), Decision::DeniedNoUser);
        let explicit_all = rule(&format!("Satisfy all\n{lines}")).unwrap().unwrap();
        assert_eq!(explicit_all, all);
        // httpd's default test passes everyone: Satisfy Any without Allow/Deny lets all in.
        let open = rule("Require valid-user\nSatisfy Any\n").unwrap().unwrap();
        assert_eq!(open.decide(outside, None, None), Decision::Granted);
        assert_eq!(rule("Satisfy Any\n"), Ok(None));
        assert!(!rule("Satisfy some\n").unwrap_err().not_yet);
    }

    #[test]
    fn negation_where_httpd_says_it_has_no_effect_is_an_error() {
        for (text, message) in [
            (
                "Require not ip 10.0.0.1\n",
                "negative Require directive has no effect in <RequireAny> directive",
            ),
            (
                "<RequireAny>\nRequire all granted\nRequire not user bob\n</RequireAny>\n",
                "negative Require directive has no effect in <RequireAny> directive",
            ),
            (
                "<RequireNone>\nRequire user bob\n</RequireNone>\n",
                "<RequireNone> directive has no effect in <RequireAny> directive",
            ),
            (
                "<RequireAll>\nRequire not user bob\n</RequireAll>\n",
                "<RequireAll> directive contains only negative authorization directives",
            ),
            (
                "<RequireAll>\n<RequireNone>\nRequire user bob\n</RequireNone>\n</RequireAll>\n",
                "<RequireAll> directive contains only negative authorization directives",
            ),
            (
                "<RequireAny>\n</RequireAny>\n",
                "<RequireAny> directive contains no authorization directives",
            ),
        ] {
            let problem = rule(text).unwrap_err();
            assert!(
                !problem.not_yet && problem.message == message,
                "{text}: {problem:?}"
            );
        }
    }

    fn auth(text: &str) -> Result<Option<AuthSettings>, Problem> {
        let options = ReadOptions {
            defines: Vec::new(),
            environment: Some(BTreeMap::new()),
        };
        let config = read_text(Path::new("/x.conf"), text, &options).unwrap();
        section_auth(&config.nodes)
    }

    #[test]
    fn authentication_directives_set_their_fields() {
        let text = "AuthType Basic\nAuthName \"The Site\"\nAuthBasicProvider file\n\
                    AuthUserFile /etc/site.htpasswd\nAuthGroupFile groups\n\
                    AuthBasicAuthoritative On\n";
        assert_eq!(
            auth(text),
            Ok(Some(AuthSettings {
                auth_type: Some(Some("Basic".to_owned())),
                name: Some("The Site".to_owned()),
                user_file: Some(PathBuf::from("/etc/site.htpasswd")),
                group_file: Some(PathBuf::from("groups")),
                basic_providers: Some(vec![AuthProvider::File]),
                ..AuthSettings::default()
            }))
        );
        assert_eq!(
            auth("AuthType none\n"),
            Ok(Some(AuthSettings {
                auth_type: Some(None),
                ..AuthSettings::default()
            }))
        );
        assert_eq!(auth("Require valid-user\n"), Ok(None));
        assert_eq!(
            auth(
                "AuthBasicProvider file wsgi\nWSGIAuthUserScript /srv/auth.wsgi \
                 application-group=%{GLOBAL}\nWSGIAuthGroupScript groups.wsgi\n\
                 WSGIAccessScript /srv/access.wsgi\nWSGIGroupAuthoritative On\n"
            ),
            Ok(Some(AuthSettings {
                basic_providers: Some(vec![AuthProvider::File, AuthProvider::Wsgi]),
                user_script: Some(PathBuf::from("/srv/auth.wsgi")),
                group_script: Some(PathBuf::from("groups.wsgi")),
                access_script: Some(PathBuf::from("/srv/access.wsgi")),
                ..AuthSettings::default()
            }))
        );
        assert_eq!(
            auth(
                "AuthType Digest\nAuthDigestProvider wsgi file\nAuthDigestNonceLifetime 60\n\
                 AuthDigestQop none\nAuthDigestDomain / http://example.org/x\n\
                 AuthDigestAlgorithm MD5\n"
            ),
            Ok(Some(AuthSettings {
                auth_type: Some(Some("Digest".to_owned())),
                digest_providers: Some(vec![AuthProvider::Wsgi, AuthProvider::File]),
                digest: crate::access::DigestSettings {
                    nonce_lifetime: Some(60),
                    qop: Some(false),
                    domain: Some(vec!["/".to_owned(), "http://example.org/x".to_owned()]),
                },
                ..AuthSettings::default()
            }))
        );
        for (text, message) in [
            ("AuthDigestQop auth-int\n", "AuthDigestQop auth-int"),
            (
                "AuthDigestAlgorithm MD5-sess\n",
                "AuthDigestAlgorithm MD5-sess",
            ),
            ("AuthDigestNonceLifetime -1\n", "AuthDigestNonceLifetime -1"),
            ("AuthBasicProvider ldap\n", "AuthBasicProvider ldap"),
            ("AuthBasicAuthoritative Off\n", "AuthBasicAuthoritative Off"),
            ("WSGIGroupAuthoritative Off\n", "WSGIGroupAuthoritative Off"),
        ] {
            let problem = auth(text).unwrap_err();
            assert!(problem.not_yet && problem.message == message, "{problem:?}");
        }
        for (text, message) in [
            ("AuthType\n", "AuthType takes one argument"),
            ("AuthName a b\n", "AuthName takes one argument"),
            (
                "AuthBasicAuthoritative maybe\n",
                "AuthBasicAuthoritative must be On or Off",
            ),
            (
                "WSGIAuthUserScript\n",
                "WSGIAuthUserScript takes the path of a Python script",
            ),
            (
                "WSGIAccessScript /a.wsgi process-group=x\n",
                "Invalid option to WSGIAccessScript 'process-group=x'",
            ),
        ] {
            let problem = auth(text).unwrap_err();
            assert!(
                !problem.not_yet && problem.message == message,
                "{problem:?}"
            );
        }
    }
}

#[cfg(test)]
#[path = "fuzz/access.rs"]
mod fuzz;
