//! httpd's `Redirect` and `RedirectMatch`: the first that matches a request's path answers it,
//! before access rules and routing (mod_alias does its redirects first). A path target is made
//! absolute with the request's host, and the request's query string follows unless the target
//! has its own.

use oxwsgi_config::redirect::{Redirect, RedirectWhen};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use crate::error_response::Refusal;

/// A redirect, its expression compiled.
#[derive(Debug, Clone)]
pub(crate) struct Redirects(Vec<(Redirect, Option<regex::Regex>)>);

/// Bytes escaped when a path goes into a `Location`.
const PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'#')
    .add(b'?')
    .add(b'{')
    .add(b'}');

impl Redirects {
    pub(crate) fn new(redirects: &[Redirect]) -> Redirects {
        Redirects(
            redirects
                .iter()
                .map(|r| {
                    let regex = match &r.when {
                        // Checked when the configuration was read.
                        RedirectWhen::Pattern(pattern) => regex::Regex::new(pattern).ok(),
                        RedirectWhen::Prefix(_) => None,
                    };
                    (r.clone(), regex)
                })
                .collect(),
        )
    }

    /// Whether there are none.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The redirect for a request, if one matches: `path` decoded and normalised, `host` the
    /// request's (for a path target).
    pub(crate) fn find(&self, path: &[u8], query: Option<&str>, host: &str) -> Option<Refusal> {
        let text = String::from_utf8_lossy(path);
        for (redirect, regex) in &self.0 {
            let target = match (&redirect.when, regex) {
                (RedirectWhen::Prefix(prefix), _) if prefix.matches(path) => {
                    // As mod_alias: what follows the prefix as written (`/` for the root, the
                    // slash included for `/old/`) follows the target.
                    let matched = prefix.as_str().len().max(1);
                    let rest = &text[matched.min(text.len())..];
                    redirect
                        .target
                        .as_ref()
                        .map(|t| format!("{t}{}", utf8_percent_encode(rest, PATH)))
                }
                (RedirectWhen::Pattern(_), Some(regex)) => {
                    let Some(captures) = regex.captures(&text) else {
                        continue;
                    };
                    redirect.target.as_ref().map(|t| substitute(t, &captures))
                }
                _ => continue,
            };
            let Some(target) = target else {
                return Some(Refusal::Gone);
            };
            let mut location = if target.starts_with('/') {
                format!("http://{host}{target}")
            } else {
                target
            };
            if let Some(query) = query.filter(|q| !q.is_empty()) {
                if !location.contains('?') {
                    location.push('?');
                    location.push_str(query);
                }
            }
            return Some(Refusal::Redirect {
                status: redirect.status,
                location,
            });
        }
        None
    }
}

/// `$0`…`$9` in `target` replaced by the groups of the match.
fn substitute(target: &str, captures: &regex::Captures<'_>) -> String {
    let mut out = String::with_capacity(target.len());
    let mut chars = target.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek().and_then(|d| d.to_digit(10))) {
            ('$', Some(group)) => {
                chars.next();
                let value = captures.get(group as usize).map_or("", |m| m.as_str());
                out.push_str(&utf8_percent_encode(value, PATH).to_string());
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxwsgi_config::MountPoint;

    fn redirect(when: RedirectWhen, status: u16, target: Option<&str>) -> Redirect {
        Redirect {
            when,
            status,
            target: target.map(str::to_owned),
            host: None,
        }
    }

    #[test]
    fn prefixes_and_patterns_redirect_as_mod_alias_does() {
        let redirects = Redirects::new(&[
            redirect(
                RedirectWhen::Pattern("^/$".into()),
                302,
                Some("/tools/alpha"),
            ),
            redirect(
                RedirectWhen::Pattern("^/tool/([a-z]+)$".into()),
                301,
                Some("/tools/$1"),
            ),
            redirect(
                RedirectWhen::Prefix(MountPoint::parse("/tools/retired").unwrap()),
                410,
                None,
            ),
            redirect(
                RedirectWhen::Prefix(MountPoint::parse("/old").unwrap()),
                302,
                Some("https://new.example/base"),
            ),
        ]);
        let find = |path: &str, query| redirects.find(path.as_bytes(), query, "localhost:8000");
        assert_eq!(
            find("/", None),
            Some(Refusal::Redirect {
                status: 302,
                location: "http://localhost:8000/tools/alpha".into()
            })
        );
        assert_eq!(
            find("/tool/beta", Some("x=1")),
            Some(Refusal::Redirect {
                status: 301,
                location: "http://localhost:8000/tools/beta?x=1".into()
            })
        );
        assert_eq!(find("/tools/retired", None), Some(Refusal::Gone));
        assert_eq!(
            find("/old/a b", None),
            Some(Refusal::Redirect {
                status: 302,
                location: "https://new.example/base/a%20b".into()
            })
        );
        assert_eq!(find("/older", None), None);
        assert_eq!(find("/tool/BETA", None), None);
    }

    #[test]
    fn what_follows_the_prefix_as_written_follows_the_target() {
        let location = |from: MountPoint, target: &str, path: &str| {
            let redirects =
                Redirects::new(&[redirect(RedirectWhen::Prefix(from), 302, Some(target))]);
            match redirects.find(path.as_bytes(), Some("q=1"), "localhost") {
                Some(Refusal::Redirect { location, .. }) => Some(location),
                _ => None,
            }
        };
        // `Redirect / https://secure.example/`: the slash is the prefix's.
        let root = || MountPoint::root();
        assert_eq!(
            location(root(), "https://secure.example/", "/a/b").as_deref(),
            Some("https://secure.example/a/b?q=1")
        );
        assert_eq!(
            location(root(), "https://secure.example/", "/").as_deref(),
            Some("https://secure.example/?q=1")
        );
        // `Redirect /old/ http://x/new/`: /old/a, not /old.
        let below = || MountPoint::below_only("/old/").unwrap();
        assert_eq!(
            location(below(), "http://x/new/", "/old/a").as_deref(),
            Some("http://x/new/a?q=1")
        );
        assert_eq!(location(below(), "http://x/new/", "/old"), None);
    }
}
