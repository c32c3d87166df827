//! Requests the server passes on to another HTTP server instead of serving them: a sub-URL
//! (`--proxy-mount-point`, old name `--proxy-url-alias`) or a whole host name
//! (`--proxy-virtual-host`), with `--proxy-timeout` — mod_wsgi-express's options, which write
//! httpd's `ProxyPass`/`ProxyPassReverse` (with `upgrade=websocket`) and `ProxyTimeout`.
//!
//! This is what the configuration says, in the form httpd's directives take it: a URL path
//! prefix and the URL it stands for. The HTTP side (`http-front`'s `proxy_pass`) forwards the
//! requests.

use std::time::Duration;

use clap::{ArgAction, Args};
use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// What is proxied, and how long the server waits for the servers it proxies to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReverseProxy {
    /// Sub-URLs proxied, in the order given (the first that contains a path takes it, as
    /// httpd's `ProxyPass` lines).
    pub mounts: Vec<ProxyMount>,
    /// Host names whose every request is proxied.
    pub hosts: Vec<ProxyHost>,
    /// How long connecting to the target, waiting for its response head, and waiting for each
    /// later piece of its response (or, on a WebSocket, for either side to send) may take:
    /// httpd's `ProxyTimeout`, which falls back to `--socket-timeout`.
    pub timeout: Duration,
}

impl ReverseProxy {
    /// Whether anything is proxied.
    pub fn is_empty(&self) -> bool {
        self.mounts.is_empty() && self.hosts.is_empty()
    }
}

/// One sub-URL passed on (`ProxyPass PREFIX TARGET` with `ProxyPassReverse`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyMount {
    /// The URL path prefix, ending in `/`: a request whose path starts with it is proxied.
    pub prefix: String,
    /// The URL the prefix stands for: the rest of the path is appended to it.
    pub target: ProxyTarget,
}

impl ProxyMount {
    /// The prefix without its last `/` (`/api`), as `X-Forwarded-Prefix` says it; a request
    /// for exactly this path is redirected to the prefix (mod_wsgi-express's rewrite rule).
    pub fn bare(&self) -> &str {
        &self.prefix[..self.prefix.len() - 1]
    }
}

/// One host name passed on as a whole (`<VirtualHost>` with `ServerName` and `ProxyPass /`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyHost {
    /// The host name, in lower case, without a port.
    pub name: String,
    /// The URL `/` stands for.
    pub target: ProxyTarget,
}

/// An `http://` URL a prefix stands for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyTarget {
    /// `host[:port]`, the target's `Host`.
    pub authority: String,
    /// The path, starting with `/`; the rest of a request's path is appended to it as it is.
    pub path: String,
}

impl ProxyTarget {
    /// Parses an `http://host[:port][/path]` URL; without a path, the path is `/`.
    pub fn parse(url: &str) -> Result<ProxyTarget, &'static str> {
        let Some(rest) = strip_scheme(url, "http://") else {
            return Err(if strip_scheme(url, "https://").is_some() {
                "only http:// targets can be proxied to (TLS to the target is not supported)"
            } else if url.starts_with("unix:") {
                "unix socket targets are not supported; give an http://host:port/ URL"
            } else {
                "give an http://host:port/ URL"
            });
        };
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(at) => rest.split_at(at),
            None => (rest, "/"),
        };
        if path.starts_with(['?', '#']) {
            return Err("the target URL cannot have a query or a fragment");
        }
        if authority.is_empty() || authority.contains('@') {
            return Err("the target URL must name a host (and no user)");
        }
        if http::uri::Authority::try_from(authority).is_err()
            || http::uri::PathAndQuery::try_from(path).is_err()
            || path.contains(['?', '#'])
        {
            return Err("the target URL is malformed");
        }
        Ok(ProxyTarget {
            authority: authority.to_owned(),
            path: path.to_owned(),
        })
    }

    /// The URL, as `ProxyPassReverse` looks for it at the start of a `Location`.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.authority, self.path)
    }
}

fn strip_scheme<'a>(url: &'a str, scheme: &str) -> Option<&'a str> {
    url.get(..scheme.len())
        .filter(|s| s.eq_ignore_ascii_case(scheme))
        .map(|_| &url[scheme.len()..])
}

/// The command line's options for [`ReverseProxy`].
#[derive(Debug, Clone, Default, Args)]
pub struct ReverseProxyArgs {
    /// Pass every request for URL-PATH and below to the http:// URL (the rest of the path
    /// appended to it), before any application sees it: streamed both ways, WebSocket
    /// upgrades included, redirects from it rewritten to come back here, with X-Forwarded-For,
    /// -Host, -Server, -Port, -Prefix (and -Scheme over HTTPS). A request for exactly URL-PATH
    /// without its trailing slash is redirected to it with one. Repeatable [default: none].
    #[arg(
        long = "proxy-mount-point",
        alias = "proxy-url-alias",
        num_args = 2,
        value_names = ["URL-PATH", "URL"],
        action = ArgAction::Append,
        help_heading = "Reverse proxy"
    )]
    pub proxy_mount_point: Vec<String>,

    /// Pass every request whose Host is HOSTNAME (any port) to the http:// URL, whatever its
    /// path. Repeatable [default: none].
    #[arg(
        long = "proxy-virtual-host",
        num_args = 2,
        value_names = ["HOSTNAME", "URL"],
        action = ArgAction::Append,
        help_heading = "Reverse proxy"
    )]
    pub proxy_virtual_host: Vec<String>,

    /// How long connecting to a proxied server, waiting for its response head (then a 504),
    /// and waiting for each later piece of its response or, on a proxied WebSocket, for
    /// either side to send anything, may take. Raise it for WebSocket clients that stay
    /// quiet longer [default: the --socket-timeout].
    #[arg(long, value_name = "SECONDS", help_heading = "Reverse proxy")]
    pub proxy_timeout: Option<u64>,
}

impl ReverseProxyArgs {
    /// The [`ReverseProxy`] these options make; `socket_timeout` is `--socket-timeout`'s.
    pub fn resolve(&self, socket_timeout: Duration) -> Result<ReverseProxy, ConfigError> {
        let invalid = |option, value: &str, reason| ConfigError::Invalid {
            option,
            value: value.to_owned(),
            reason,
        };
        let mut mounts = Vec::new();
        for pair in self.proxy_mount_point.chunks(2) {
            let [path, url] = pair else {
                unreachable!("clap takes the option's values in pairs")
            };
            mounts.push(mount(path, url).map_err(|reason| {
                invalid("--proxy-mount-point", &format!("{path} {url}"), reason)
            })?);
        }
        let mut hosts = Vec::new();
        for pair in self.proxy_virtual_host.chunks(2) {
            let [name, url] = pair else {
                unreachable!("clap takes the option's values in pairs")
            };
            hosts.push(host(name, url).map_err(|reason| {
                invalid("--proxy-virtual-host", &format!("{name} {url}"), reason)
            })?);
        }
        let timeout = match self.proxy_timeout {
            None => socket_timeout,
            Some(0) => {
                return Err(invalid(
                    "--proxy-timeout",
                    "0",
                    "give a number of seconds above 0",
                ));
            }
            Some(seconds) => Duration::from_secs(seconds),
        };
        Ok(ReverseProxy {
            mounts,
            hosts,
            timeout,
        })
    }
}

/// A mount point as mod_wsgi-express writes it: `ProxyPass 'PATH/' 'URL/'` when the path has
/// no trailing slash (any on the URL dropped first), `ProxyPass 'PATH' 'URL'` when it has.
pub fn mount(path: &str, url: &str) -> Result<ProxyMount, &'static str> {
    if !path.starts_with('/') {
        return Err("give a URL path, starting with /");
    }
    let (prefix, url) = if path.ends_with('/') {
        (path.to_owned(), url.to_owned())
    } else {
        (
            format!("{path}/"),
            format!("{}/", url.trim_end_matches('/')),
        )
    };
    Ok(ProxyMount {
        prefix,
        target: ProxyTarget::parse(&url)?,
    })
}

/// A proxied host name (`ProxyPass / URL` in its own virtual host).
pub fn host(name: &str, url: &str) -> Result<ProxyHost, &'static str> {
    if name.is_empty()
        || name.contains(['/', ':', ' '])
        || http::uri::Authority::try_from(name).is_err()
    {
        return Err("give a host name, without a port");
    }
    Ok(ProxyHost {
        name: name.trim_end_matches('.').to_ascii_lowercase(),
        target: ProxyTarget::parse(url)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(mounts: &[&str], hosts: &[&str], timeout: Option<u64>) -> ReverseProxyArgs {
        ReverseProxyArgs {
            proxy_mount_point: mounts.iter().map(|s| s.to_string()).collect(),
            proxy_virtual_host: hosts.iter().map(|s| s.to_string()).collect(),
            proxy_timeout: timeout,
        }
    }

    #[test]
    fn a_mount_point_without_a_slash_gets_one_on_both_sides() {
        let mount = mount("/api", "http://127.0.0.1:9000/v1/").unwrap();
        assert_eq!(mount.prefix, "/api/");
        assert_eq!(mount.bare(), "/api");
        assert_eq!(mount.target.authority, "127.0.0.1:9000");
        assert_eq!(mount.target.path, "/v1/");
        let mount = super::mount("/api", "http://backend").unwrap();
        assert_eq!(mount.target.path, "/");
    }

    #[test]
    fn a_mount_point_with_a_slash_keeps_the_url_as_given() {
        let mount = mount("/api/", "http://backend:8000/v1").unwrap();
        assert_eq!(mount.prefix, "/api/");
        assert_eq!(mount.target.path, "/v1");
        assert_eq!(mount.target.url(), "http://backend:8000/v1");
    }

    #[test]
    fn targets_other_than_http_are_refused_with_a_reason() {
        assert!(
            ProxyTarget::parse("https://x/")
                .unwrap_err()
                .contains("TLS")
        );
        assert!(
            ProxyTarget::parse("unix:/tmp/s|http://x/")
                .unwrap_err()
                .contains("unix")
        );
        assert!(ProxyTarget::parse("ftp://x/").is_err());
        assert!(ProxyTarget::parse("http:///x").is_err());
        assert!(ProxyTarget::parse("http://x/?q").is_err());
        assert!(ProxyTarget::parse("http://u@x/").is_err());
    }

    #[test]
    fn options_resolve_in_pairs_and_the_timeout_falls_back_to_the_socket_timeout() {
        let resolved = args(
            &["/a", "http://one/", "/b/", "http://two/x/"],
            &["Www.Example.org", "http://three:81"],
            None,
        )
        .resolve(Duration::from_secs(60))
        .unwrap();
        assert_eq!(resolved.mounts.len(), 2);
        assert_eq!(resolved.mounts[1].target.path, "/x/");
        assert_eq!(resolved.hosts[0].name, "www.example.org");
        assert_eq!(resolved.hosts[0].target.path, "/");
        assert_eq!(resolved.timeout, Duration::from_secs(60));
        let resolved = args(&[], &[], Some(5))
            .resolve(Duration::from_secs(60))
            .unwrap();
        assert_eq!(resolved.timeout, Duration::from_secs(5));
        assert!(resolved.is_empty());
    }

    #[test]
    fn bad_values_name_the_option() {
        let err = args(&["api", "http://x/"], &[], None)
            .resolve(Duration::from_secs(1))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "--proxy-mount-point api http://x/: give a URL path, starting with /"
        );
        let err = args(&[], &["a:80", "http://x/"], None)
            .resolve(Duration::from_secs(1))
            .unwrap_err();
        assert!(err.to_string().starts_with("--proxy-virtual-host a:80"));
        let err = args(&[], &[], Some(0))
            .resolve(Duration::from_secs(1))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "--proxy-timeout 0: give a number of seconds above 0"
        );
    }
}
