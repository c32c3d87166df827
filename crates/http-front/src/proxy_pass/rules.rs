//! Which proxied host or sub-URL a request belongs to, and the URL it goes to there.
//!
//! A proxied host takes every path (its virtual host's `ProxyPass /`); otherwise the first
//! mount point whose prefix starts the path, in the order given, as httpd tries `ProxyPass`
//! lines. Paths are matched decoded and normalised (as httpd matches `r->uri`) and sent
//! re-encoded, so `/api/../admin` is never passed on as it was written.

use http::header;
use oxwsgi_config::reverse_proxy::{ProxyTarget, ReverseProxy};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

/// What a decoded path escapes on its way to the target: what a path cannot hold as it is
/// (httpd's `ap_proxy_canonenc` for a path), and `%` itself, since the path was decoded.
const PATH_ESCAPED: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// A request's proxied mount or host.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Matched<'a> {
    /// The URL path prefix the target stands for (`/api/`, or `/` for a host).
    pub(crate) prefix: &'a str,
    /// Where it goes.
    pub(crate) target: &'a ProxyTarget,
    /// Whether this is a proxied host (no `X-Forwarded-Prefix`).
    pub(crate) host: bool,
    /// Whether the request is for the mount point without its trailing slash: it is
    /// redirected to the prefix, not proxied.
    pub(crate) bare: bool,
}

impl Matched<'_> {
    /// The target's URL for a request for `path` (decoded), with its query as it came.
    pub(crate) fn target_url(&self, path: &[u8], query: Option<&str>) -> String {
        let rest = &path[self.prefix.len().min(path.len())..];
        let mut url = self.target.url();
        for piece in percent_encoding::percent_encode(rest, PATH_ESCAPED) {
            url.push_str(piece);
        }
        if let Some(query) = query {
            url.push('?');
            url.push_str(query);
        }
        url
    }

    /// What `X-Forwarded-Prefix` says: the mount point without its trailing slash; nothing
    /// for a host, or a mount point at `/`.
    pub(crate) fn forwarded_prefix(&self) -> Option<&str> {
        let bare = self.prefix.trim_end_matches('/');
        (!self.host && !bare.is_empty()).then_some(bare)
    }

    /// The prefix as the client's URLs have it, for `ProxyPassReverse`.
    pub(crate) fn public_prefix(&self) -> String {
        utf8_percent_encode(self.prefix, PATH_ESCAPED).to_string()
    }
}

/// The proxied host or mount point a request belongs to, if any.
pub(crate) fn find<'a>(
    config: &'a ReverseProxy,
    head: &http::request::Parts,
    path: &[u8],
) -> Option<Matched<'a>> {
    if !config.hosts.is_empty() {
        if let Some(name) = request_host(head) {
            let name = name.trim_end_matches('.');
            if let Some(host) = config
                .hosts
                .iter()
                .find(|host| host.name.eq_ignore_ascii_case(name))
            {
                return Some(Matched {
                    prefix: "/",
                    target: &host.target,
                    host: true,
                    bare: false,
                });
            }
        }
    }
    config.mounts.iter().find_map(|mount| {
        let bare = mount.bare();
        let matched = |bare_request| Matched {
            prefix: &mount.prefix,
            target: &mount.target,
            host: false,
            bare: bare_request,
        };
        if path.starts_with(mount.prefix.as_bytes()) {
            Some(matched(false))
        } else if !bare.is_empty() && path == bare.as_bytes() {
            Some(matched(true))
        } else {
            None
        }
    })
}

/// The host a request names: its target's (absolute form), else its `Host` without a port.
fn request_host(head: &http::request::Parts) -> Option<&str> {
    if let Some(host) = head.uri.host() {
        return Some(host);
    }
    let value = head.headers.get(header::HOST)?.to_str().ok()?;
    Some(match value.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxwsgi_config::reverse_proxy::{host, mount};
    use std::time::Duration;

    fn config() -> ReverseProxy {
        ReverseProxy {
            mounts: vec![
                mount("/api", "http://127.0.0.1:9000/v1").unwrap(),
                mount("/", "http://127.0.0.1:9001/").unwrap(),
            ],
            hosts: vec![host("ws.example.org", "http://127.0.0.1:9002/").unwrap()],
            timeout: Duration::from_secs(1),
        }
    }

    fn head(uri: &str, host: &str) -> http::request::Parts {
        http::Request::get(uri)
            .header(header::HOST, host)
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    #[test]
    fn the_first_mount_point_containing_the_path_takes_it() {
        let config = config();
        let request = head("/api/users?x=1", "localhost:8000");
        let matched = find(&config, &request, b"/api/users").unwrap();
        assert_eq!(matched.prefix, "/api/");
        assert!(!matched.bare);
        assert_eq!(
            matched.target_url(b"/api/users", Some("x=1")),
            "http://127.0.0.1:9000/v1/users?x=1"
        );
        assert_eq!(matched.forwarded_prefix(), Some("/api"));
        let matched = find(&config, &request, b"/other").unwrap();
        assert_eq!(matched.target.authority, "127.0.0.1:9001");
        assert_eq!(matched.forwarded_prefix(), None);
    }

    #[test]
    fn the_mount_point_without_its_slash_is_redirected() {
        let config = ReverseProxy {
            mounts: vec![mount("/api/", "http://b/").unwrap()],
            ..config()
        };
        let matched = find(&config, &head("/api", "h"), b"/api").unwrap();
        assert!(matched.bare);
        assert!(find(&config, &head("/apis", "h"), b"/apis").is_none());
    }

    #[test]
    fn a_proxied_host_takes_every_path_whatever_its_port_and_case() {
        let config = config();
        let matched = find(&config, &head("/api/x", "WS.example.org:8000"), b"/api/x").unwrap();
        assert!(matched.host);
        assert_eq!(
            matched.target_url(b"/api/x", None),
            "http://127.0.0.1:9002/api/x"
        );
    }

    #[test]
    fn decoded_paths_are_escaped_again() {
        let config = config();
        let matched = find(&config, &head("/api/a%20b", "h"), b"/api/a b%?").unwrap();
        assert_eq!(
            matched.target_url(b"/api/a b%?", None),
            "http://127.0.0.1:9000/v1/a%20b%25%3F"
        );
    }
}
