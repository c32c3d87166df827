//! Who may make requests under a URL path: httpd's `Require` (mod_authz_core, mod_authz_host,
//! mod_authz_user, mod_authz_groupfile) and the older `Order`/`Allow`/`Deny` with `Satisfy`
//! (mod_access_compat), in one form; and how users are authenticated there (`AuthType Basic`,
//! `AuthName`, `AuthUserFile`, `AuthGroupFile`: [`AuthSettings`]).
//!
//! httpd merges access rules in two passes: `<Directory>` sections from the least to the most
//! specific, then `<Location>` sections, each section with rules replacing what came before
//! (`AuthMerging Off`, the default). [`AccessRules::allows`] does the same with the rules the
//! configuration front end laid out by URL path: the most specific location rule that covers
//! the path wins, else the most specific directory rule, else everyone is allowed. The
//! authentication settings merge field by field instead, as their modules merge them
//! ([`AccessRules::auth_for`]).
//!
//! A rule is decided as mod_authz_core decides it ([`AccessRule::decide`]): each condition
//! grants, denies, or — one that names users, before anyone is authenticated — denies for want
//! of a user ([`Decision::DeniedNoUser`]), which is what makes the server ask for credentials.
//! `Require not` turns a grant into a denial and a denial into nothing ([`Decision::Neutral`]),
//! and `<RequireAll>`/`<RequireAny>` combine as `apply_authz_sections` does.
//!
//! A rule may name hosts (`Require host`, `Allow from example.org`); only such a rule needs the
//! client's name, which the HTTP side looks up (a double-reverse lookup, as httpd) only when
//! the rule that applies to a request asks for it ([`AccessRule::needs_name`]).

use std::net::IpAddr;
use std::path::PathBuf;

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
    /// `Require valid-user`: any authenticated user.
    ValidUser,
    /// `Require user NAME...`: one of these users (compared exactly, as mod_authz_user).
    User(Vec<String>),
    /// `Require group NAME...`: a user the `AuthGroupFile` puts in one of these groups
    /// (compared without regard to case, as mod_authz_groupfile's table does).
    Group(Vec<String>),
    /// `Require wsgi-group NAME...`: a user the `WSGIAuthGroupScript`'s `groups_for_user`
    /// puts in one of these groups (compared without regard to case: mod_wsgi keeps them in
    /// an APR table, whose keys are).
    WsgiGroup(Vec<String>),
    /// mod_access_compat's `Order`/`Allow`/`Deny`: the client passes or not, whoever it is.
    /// Each entry of `allow` and `deny` is an [`AccessRule::All`], [`AccessRule::Ip`] or
    /// [`AccessRule::Host`].
    Order {
        /// `Order deny,allow` (httpd's default): in unless a `Deny` names the client and no
        /// `Allow` does. `Order allow,deny` (false): in if an `Allow` names it and no `Deny`.
        deny_first: bool,
        /// The `Allow from` entries.
        allow: Vec<AccessRule>,
        /// The `Deny from` entries.
        deny: Vec<AccessRule>,
    },
}

/// What a rule says of a request, as mod_authz_core's `authz_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Let in.
    Granted,
    /// Refused, whoever the user is: a 403 before authentication; after it, a 401.
    Denied,
    /// Refused for now: a user might be let in, so the server authenticates one
    /// (`AUTHZ_DENIED_NO_USER`).
    DeniedNoUser,
    /// No opinion (a `Require not` whose condition does not hold); at the top, a refusal.
    Neutral,
}

/// The user a request was authenticated as, for the rules that name users.
#[derive(Debug, Clone, Copy)]
pub struct User<'a> {
    /// The user name, as the client sent it.
    pub name: &'a [u8],
    /// The groups the `AuthGroupFile` puts the user in (empty when there is none, or it
    /// cannot be read: then no `Require group` holds).
    pub groups: &'a [String],
    /// The groups the `WSGIAuthGroupScript` puts the user in (empty when the rule names no
    /// `wsgi-group`).
    pub wsgi_groups: &'a [String],
}

impl AccessRule {
    /// Whether a client at `ip`, with no authenticated user, is let in; `name` is the
    /// client's name as its double-reverse lookup found it (`None` when it has none, or when
    /// the rule does not [need one](AccessRule::needs_name)): without a name, no host rule
    /// matches.
    pub fn allows(&self, ip: IpAddr, name: Option<&str>) -> bool {
        self.decide(ip, name, None) == Decision::Granted
    }

    /// What the rule says of a client at `ip` named `name` (see [`AccessRule::allows`]),
    /// authenticated as `user` if it was: mod_authz_core's `apply_authz_sections`, where a
    /// section's children are combined in order — all of them (`<RequireAll>`: the first
    /// denial decides, a denial for want of a user is kept unless a plain denial comes,
    /// conditions with no opinion are skipped) or any of them (`<RequireAny>`, several `Require`
    /// lines: the first grant decides, a denial for want of a user wins over a plain one) —
    /// and `Require not` turns a grant into a denial and a denial into no opinion.
    pub fn decide(&self, ip: IpAddr, name: Option<&str>, user: Option<&User<'_>>) -> Decision {
        let ip = canonical(ip);
        let granted = |yes: bool| {
            if yes {
                Decision::Granted
            } else {
                Decision::Denied
            }
        };
        match self {
            AccessRule::All(all) => granted(*all),
            AccessRule::Ip(networks) => granted(networks.iter().any(|net| net.contains(&ip))),
            AccessRule::Local => granted(ip.is_loopback()),
            AccessRule::Host(domains) => granted(
                name.is_some_and(|name| domains.iter().any(|domain| in_domain(domain, name))),
            ),
            AccessRule::Not(rule) => match rule.decide(ip, name, user) {
                Decision::Granted => Decision::Denied,
                Decision::Denied | Decision::DeniedNoUser | Decision::Neutral => Decision::Neutral,
            },
            AccessRule::AllOf(rules) => {
                let mut result = Decision::Neutral;
                for rule in rules {
                    match rule.decide(ip, name, user) {
                        Decision::Neutral => {}
                        Decision::Denied => return Decision::Denied,
                        Decision::DeniedNoUser => result = Decision::DeniedNoUser,
                        Decision::Granted if result == Decision::Neutral => {
                            result = Decision::Granted
                        }
                        Decision::Granted => {}
                    }
                }
                result
            }
            AccessRule::AnyOf(rules) => {
                let mut result = Decision::Neutral;
                for rule in rules {
                    match rule.decide(ip, name, user) {
                        Decision::Neutral => {}
                        Decision::Granted => return Decision::Granted,
                        Decision::DeniedNoUser => result = Decision::DeniedNoUser,
                        Decision::Denied if result == Decision::Neutral => {
                            result = Decision::Denied
                        }
                        Decision::Denied => {}
                    }
                }
                result
            }
            AccessRule::ValidUser => match user {
                Some(_) => Decision::Granted,
                None => Decision::DeniedNoUser,
            },
            AccessRule::User(names) => match user {
                Some(user) => granted(names.iter().any(|n| n.as_bytes() == user.name)),
                None => Decision::DeniedNoUser,
            },
            AccessRule::Group(groups) => match user {
                Some(user) => granted(
                    groups
                        .iter()
                        .any(|g| user.groups.iter().any(|m| m.eq_ignore_ascii_case(g))),
                ),
                None => Decision::DeniedNoUser,
            },
            AccessRule::WsgiGroup(groups) => match user {
                Some(user) => granted(
                    groups
                        .iter()
                        .any(|g| user.wsgi_groups.iter().any(|m| m.eq_ignore_ascii_case(g))),
                ),
                None => Decision::DeniedNoUser,
            },
            AccessRule::Order {
                deny_first,
                allow,
                deny,
            } => {
                let named = |list: &[AccessRule]| {
                    list.iter()
                        .any(|entry| entry.decide(ip, name, None) == Decision::Granted)
                };
                granted(if *deny_first {
                    named(allow) || !named(deny)
                } else {
                    named(allow) && !named(deny)
                })
            }
        }
    }

    /// Whether deciding needs the client's name (the rule has a host rule somewhere in it).
    pub fn needs_name(&self) -> bool {
        self.any(&|rule| matches!(rule, AccessRule::Host(_)))
    }

    /// Whether deciding needs the user's groups (the rule has a `Require group`).
    pub fn needs_groups(&self) -> bool {
        self.any(&|rule| matches!(rule, AccessRule::Group(_)))
    }

    /// Whether deciding needs the groups of the `WSGIAuthGroupScript` (the rule has a
    /// `Require wsgi-group`).
    pub fn needs_wsgi_groups(&self) -> bool {
        self.any(&|rule| matches!(rule, AccessRule::WsgiGroup(_)))
    }

    /// Whether the rule, or a rule inside it, is one `test` picks.
    fn any(&self, test: &dyn Fn(&AccessRule) -> bool) -> bool {
        test(self)
            || match self {
                AccessRule::Not(rule) => rule.any(test),
                AccessRule::AllOf(rules) | AccessRule::AnyOf(rules) => {
                    rules.iter().any(|rule| rule.any(test))
                }
                AccessRule::Order { allow, deny, .. } => {
                    allow.iter().chain(deny).any(|rule| rule.any(test))
                }
                AccessRule::All(_)
                | AccessRule::Ip(_)
                | AccessRule::Local
                | AccessRule::Host(_)
                | AccessRule::ValidUser
                | AccessRule::User(_)
                | AccessRule::Group(_)
                | AccessRule::WsgiGroup(_) => false,
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

/// What one section says of authentication; each field is `None` where the section does not
/// set it, and a more specific section's value replaces a less specific one's, field by
/// field, as mod_authn_core (`AuthType`, `AuthName`), mod_authn_file (`AuthUserFile`) and
/// mod_authz_groupfile (`AuthGroupFile`) merge them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthSettings {
    /// `AuthType`, as written (`Basic`, the only one oxwsgi checks); `Some(None)` for
    /// `AuthType None`, which turns authentication off below a section that turned it on.
    pub auth_type: Option<Option<String>>,
    /// `AuthName`: the realm a `401` names (`WWW-Authenticate: Basic realm="..."`).
    pub name: Option<String>,
    /// `AuthUserFile`: the password file (`user:hash` lines, as `htpasswd` writes them).
    pub user_file: Option<PathBuf>,
    /// `AuthGroupFile`: the group file (`group: user1 user2` lines).
    pub group_file: Option<PathBuf>,
    /// `AuthBasicProvider`: where Basic credentials are checked, in order (the first that
    /// knows the user decides); `file` when not set, as in httpd.
    #[serde(default)]
    pub basic_providers: Option<Vec<AuthProvider>>,
    /// `AuthDigestProvider`: where Digest credentials' users are looked up, in order; `file`
    /// when not set, as in httpd.
    #[serde(default)]
    pub digest_providers: Option<Vec<AuthProvider>>,
    /// mod_auth_digest's settings (`AuthDigestNonceLifetime`, `AuthDigestQop`,
    /// `AuthDigestDomain`); each `None` where not set.
    #[serde(default)]
    pub digest: DigestSettings,
    /// `WSGIAuthUserScript`: the Python script whose `check_password` the `wsgi` provider
    /// calls (absolute).
    #[serde(default)]
    pub user_script: Option<PathBuf>,
    /// `WSGIAuthGroupScript`: the Python script whose `groups_for_user` decides
    /// `Require wsgi-group` (absolute).
    #[serde(default)]
    pub group_script: Option<PathBuf>,
    /// `WSGIAccessScript`: the Python script whose `allow_access` is asked before the rules
    /// (absolute).
    #[serde(default)]
    pub access_script: Option<PathBuf>,
}

/// mod_auth_digest's settings, as one section sets them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestSettings {
    /// `AuthDigestNonceLifetime`: how many seconds a nonce the server gave is good for
    /// (300 when not set, as in httpd); after that a client is asked again with `stale=true`.
    pub nonce_lifetime: Option<u64>,
    /// `AuthDigestQop none` (`Some(false)`): the challenge offers no `qop`, and clients answer
    /// as RFC 2069 says; `auth` (the default) asks for `qop=auth`.
    pub qop: Option<bool>,
    /// `AuthDigestDomain`: the URIs the challenge says the credentials are good for.
    pub domain: Option<Vec<String>>,
}

impl DigestSettings {
    /// These settings over `base`.
    fn over(&self, base: &DigestSettings) -> DigestSettings {
        DigestSettings {
            nonce_lifetime: self.nonce_lifetime.or(base.nonce_lifetime),
            qop: self.qop.or(base.qop),
            domain: self.domain.clone().or_else(|| base.domain.clone()),
        }
    }
}

/// Where a user's password is checked (an `AuthBasicProvider` or `AuthDigestProvider`
/// name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthProvider {
    /// mod_authn_file: the `AuthUserFile` (`htpasswd`'s format for Basic, `htdigest`'s for
    /// Digest).
    File,
    /// mod_wsgi: the `WSGIAuthUserScript`'s `check_password` (Basic) or `get_realm_hash`
    /// (Digest).
    Wsgi,
}

impl AuthSettings {
    /// These settings over `base`: each field this one sets replaces `base`'s.
    pub fn over(&self, base: &AuthSettings) -> AuthSettings {
        AuthSettings {
            auth_type: self.auth_type.clone().or_else(|| base.auth_type.clone()),
            name: self.name.clone().or_else(|| base.name.clone()),
            user_file: self.user_file.clone().or_else(|| base.user_file.clone()),
            group_file: self.group_file.clone().or_else(|| base.group_file.clone()),
            basic_providers: self
                .basic_providers
                .clone()
                .or_else(|| base.basic_providers.clone()),
            digest_providers: self
                .digest_providers
                .clone()
                .or_else(|| base.digest_providers.clone()),
            digest: self.digest.over(&base.digest),
            user_script: self
                .user_script
                .clone()
                .or_else(|| base.user_script.clone()),
            group_script: self
                .group_script
                .clone()
                .or_else(|| base.group_script.clone()),
            access_script: self
                .access_script
                .clone()
                .or_else(|| base.access_script.clone()),
        }
    }

    /// The `AuthType` in force: `None` when none is set, or `AuthType None`.
    pub fn auth_type(&self) -> Option<&str> {
        self.auth_type.as_ref().and_then(Option::as_deref)
    }
}

/// A section's authentication settings, for the requests under a URL path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthControl {
    /// The URL path (and what is below it).
    pub prefix: MountPoint,
    /// What the section sets (for a directory, merged with the directories around it).
    pub settings: AuthSettings,
    /// The only virtual host it applies in; every one when `None`.
    pub host: Option<usize>,
}

/// The access rules of a server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRules {
    /// From `<Directory>` sections, mapped to the URL paths their files are served at.
    pub directories: Vec<AccessControl>,
    /// From `<Location>` sections (they apply after, and over, the directory rules).
    pub locations: Vec<AccessControl>,
    /// The authentication settings of `<Directory>` sections, mapped as the rules are, each
    /// already merged with those of the directories around it.
    #[serde(default)]
    pub auth_directories: Vec<AuthControl>,
    /// The authentication settings of `<Location>` sections.
    #[serde(default)]
    pub auth_locations: Vec<AuthControl>,
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
        let keep_auth = |list: &[AuthControl]| {
            list.iter()
                .filter(|c| c.host.is_none_or(|h| h == host))
                .cloned()
                .collect()
        };
        AccessRules {
            directories: keep(&self.directories),
            locations: keep(&self.locations),
            auth_directories: keep_auth(&self.auth_directories),
            auth_locations: keep_auth(&self.auth_locations),
        }
    }

    /// Adds `other`'s rules and settings after these.
    pub fn extend(&mut self, other: AccessRules) {
        self.directories.extend(other.directories);
        self.locations.extend(other.locations);
        self.auth_directories.extend(other.auth_directories);
        self.auth_locations.extend(other.auth_locations);
    }

    /// Makes every rule and setting apply in virtual host `host` only.
    pub fn tag_host(&mut self, host: usize) {
        for control in self.directories.iter_mut().chain(&mut self.locations) {
            control.host = Some(host);
        }
        for control in self
            .auth_directories
            .iter_mut()
            .chain(&mut self.auth_locations)
        {
            control.host = Some(host);
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

    /// The authentication settings in force for the decoded, normalised `path`: the most
    /// specific directory's (merged with the directories around it when it was laid out),
    /// then each location's that covers the path, from the least to the most specific.
    pub fn auth_for(&self, path: &[u8]) -> AuthSettings {
        let mut settings = self
            .auth_directories
            .iter()
            .filter(|c| c.prefix.matches(path))
            .max_by_key(|c| c.prefix.as_str().len())
            .map(|c| c.settings.clone())
            .unwrap_or_default();
        let mut locations: Vec<&AuthControl> = self
            .auth_locations
            .iter()
            .filter(|c| c.prefix.matches(path))
            .collect();
        // Stable: of equally specific ones, the later applies over the earlier.
        locations.sort_by_key(|c| c.prefix.as_str().len());
        for location in locations {
            settings = location.settings.over(&settings);
        }
        settings
    }

    /// Every Python script the settings name (`WSGIAuthUserScript`, `WSGIAuthGroupScript`,
    /// `WSGIAccessScript`), once each, in the order first named: what a worker loads at start.
    pub fn scripts(&self) -> Vec<PathBuf> {
        let mut scripts: Vec<PathBuf> = Vec::new();
        let settings = self
            .auth_directories
            .iter()
            .chain(&self.auth_locations)
            .map(|control| &control.settings);
        for settings in settings {
            let named = [
                &settings.user_script,
                &settings.group_script,
                &settings.access_script,
            ];
            for script in named.into_iter().flatten() {
                if !scripts.contains(script) {
                    scripts.push(script.clone());
                }
            }
        }
        scripts
    }

    /// Whether a client at `ip`, named `name` (see [`AccessRule::allows`]), may request the
    /// decoded, normalised `path` without authenticating.
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
            ..AccessRules::default()
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
        let not = AccessRule::Not(Box::new(host(&["localhost"])));
        assert_eq!(not.decide(ip, None, None), Decision::Neutral);
        let all = AccessRule::AllOf(vec![AccessRule::All(true), not]);
        assert!(all.allows(ip, None));
    }

    fn user<'a>(name: &'a str, groups: &'a [String]) -> User<'a> {
        User {
            name: name.as_bytes(),
            groups,
            wsgi_groups: &[],
        }
    }

    #[test]
    fn rules_naming_users_wait_for_one_then_decide_by_name_and_group() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let none: &[String] = &[];
        let staff = ["Staff".to_owned()];
        for rule in [
            AccessRule::ValidUser,
            AccessRule::User(vec!["amy".to_owned()]),
            AccessRule::Group(vec!["staff".to_owned()]),
        ] {
            assert_eq!(
                rule.decide(ip, None, None),
                Decision::DeniedNoUser,
                "{rule:?}"
            );
            assert!(!rule.allows(ip, None));
        }
        assert_eq!(
            AccessRule::ValidUser.decide(ip, None, Some(&user("bob", none))),
            Decision::Granted
        );
        let amy = AccessRule::User(vec!["amy".to_owned(), "sam".to_owned()]);
        assert_eq!(
            amy.decide(ip, None, Some(&user("sam", none))),
            Decision::Granted
        );
        assert_eq!(
            amy.decide(ip, None, Some(&user("Amy", none))),
            Decision::Denied
        );
        let group = AccessRule::Group(vec!["admins".to_owned(), "staff".to_owned()]);
        assert_eq!(
            group.decide(ip, None, Some(&user("bob", &staff))),
            Decision::Granted
        );
        assert_eq!(
            group.decide(ip, None, Some(&user("bob", none))),
            Decision::Denied
        );
        assert!(group.needs_groups() && !amy.needs_groups());
    }

    #[test]
    fn sections_combine_as_mod_authz_core_does() {
        let two: IpAddr = "127.0.0.2".parse().unwrap();
        let one: IpAddr = "127.0.0.1".parse().unwrap();
        let none: &[String] = &[];
        let bob = user("bob", none);
        let ip_two = || AccessRule::Ip(vec!["127.0.0.2/32".parse().unwrap()]);
        // <RequireAny> Require ip / Require valid-user: the address lets in without a user.
        let any = AccessRule::AnyOf(vec![ip_two(), AccessRule::ValidUser]);
        assert_eq!(any.decide(two, None, None), Decision::Granted);
        assert_eq!(any.decide(one, None, None), Decision::DeniedNoUser);
        assert_eq!(any.decide(one, None, Some(&bob)), Decision::Granted);
        // <RequireAll>: a plain denial decides, even before a user.
        let all = AccessRule::AllOf(vec![ip_two(), AccessRule::ValidUser]);
        assert_eq!(all.decide(one, None, None), Decision::Denied);
        assert_eq!(all.decide(two, None, None), Decision::DeniedNoUser);
        assert_eq!(all.decide(two, None, Some(&bob)), Decision::Granted);
        // Require not user: no opinion without a user, a denial for that user.
        let not_bob = AccessRule::AllOf(vec![
            AccessRule::ValidUser,
            AccessRule::Not(Box::new(AccessRule::User(vec!["bob".to_owned()]))),
        ]);
        assert_eq!(not_bob.decide(one, None, None), Decision::DeniedNoUser);
        assert_eq!(not_bob.decide(one, None, Some(&bob)), Decision::Denied);
        assert_eq!(
            not_bob.decide(one, None, Some(&user("amy", none))),
            Decision::Granted
        );
        // Satisfy Any over Order/Allow/Deny: the address, or a user.
        let order = AccessRule::Order {
            deny_first: true,
            allow: vec![ip_two()],
            deny: vec![AccessRule::All(true)],
        };
        assert!(order.allows(two, None) && !order.allows(one, None));
        let satisfy_any = AccessRule::AnyOf(vec![order.clone(), AccessRule::ValidUser]);
        assert_eq!(satisfy_any.decide(two, None, None), Decision::Granted);
        assert_eq!(satisfy_any.decide(one, None, None), Decision::DeniedNoUser);
        let satisfy_all = AccessRule::AllOf(vec![order, AccessRule::ValidUser]);
        assert_eq!(satisfy_all.decide(one, None, None), Decision::Denied);
        assert_eq!(satisfy_all.decide(two, None, None), Decision::DeniedNoUser);
    }

    fn auth(prefix: &str, settings: AuthSettings) -> AuthControl {
        AuthControl {
            prefix: MountPoint::parse(prefix).unwrap(),
            settings,
            host: None,
        }
    }

    #[test]
    fn authentication_settings_merge_field_by_field() {
        let rules = AccessRules {
            auth_directories: vec![auth(
                "/",
                AuthSettings {
                    auth_type: Some(Some("Basic".to_owned())),
                    name: Some("Site".to_owned()),
                    user_file: Some(PathBuf::from("/etc/site.htpasswd")),
                    ..AuthSettings::default()
                },
            )],
            auth_locations: vec![
                auth(
                    "/admin/inner",
                    AuthSettings {
                        auth_type: Some(None),
                        ..AuthSettings::default()
                    },
                ),
                auth(
                    "/admin",
                    AuthSettings {
                        name: Some("Admin".to_owned()),
                        group_file: Some(PathBuf::from("/etc/groups")),
                        ..AuthSettings::default()
                    },
                ),
            ],
            ..AccessRules::default()
        };
        let root = rules.auth_for(b"/x");
        assert_eq!(root.auth_type(), Some("Basic"));
        assert_eq!(root.name.as_deref(), Some("Site"));
        let admin = rules.auth_for(b"/admin/x");
        assert_eq!(admin.auth_type(), Some("Basic"));
        assert_eq!(admin.name.as_deref(), Some("Admin"));
        assert_eq!(admin.user_file, Some(PathBuf::from("/etc/site.htpasswd")));
        assert_eq!(admin.group_file, Some(PathBuf::from("/etc/groups")));
        let inner = rules.auth_for(b"/admin/inner");
        assert_eq!(inner.auth_type(), None);
        assert_eq!(inner.name.as_deref(), Some("Admin"));
        assert_eq!(
            AccessRules::default().auth_for(b"/"),
            AuthSettings::default()
        );
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
            ..AccessRules::default()
        };
        assert!(!rules.rule_for(b"/other").unwrap().needs_name());
        assert!(rules.rule_for(b"/named/x").unwrap().needs_name());
        assert_eq!(AccessRules::default().rule_for(b"/"), None);
        let one: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(rules.allows(b"/named", one, Some("x.a.test")));
        assert!(!rules.allows(b"/named", one, None));
    }
}
