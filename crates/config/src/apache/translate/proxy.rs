//! mod_wsgi's `WSGITrustedProxyHeaders` and `WSGITrustedProxies` of a site: the headers a
//! proxy in front may say who the client was with, and which proxies.
//!
//! Separate because of mod_wsgi's merge (`mod_wsgi.c`, the server configuration's merge): a
//! virtual host that names headers (or proxies) replaces the main server's list, while several
//! lines in one place add to each other.

use super::Translator;
use crate::apache::Directive;
use crate::proxy::{ProxyHeader, TrustedProxies, parse_proxy};

/// What a site's (or a virtual host's) lines say, each list with whether it is the main
/// server's, inherited by a virtual host (its own first line then replaces it).
#[derive(Debug, Default, Clone)]
pub(super) struct SiteProxies {
    headers: Vec<ProxyHeader>,
    headers_inherited: bool,
    proxies: Vec<ipnet::IpNet>,
    proxies_inherited: bool,
}

impl SiteProxies {
    /// Marks the lists as the main server's: a virtual host's own lines replace them.
    pub(super) fn inherit(&mut self) {
        self.headers_inherited = true;
        self.proxies_inherited = true;
    }

    /// Whether a line named anything.
    pub(super) fn is_empty(&self) -> bool {
        self.headers.is_empty() && self.proxies.is_empty()
    }

    /// The model's form.
    pub(super) fn trusted(&self) -> TrustedProxies {
        TrustedProxies {
            headers: self.headers.clone(),
            proxies: self.proxies.clone(),
        }
    }

    /// Adds what the lines say to `trusted` (an `--include-file`'s lines, which mod_wsgi-express
    /// includes after its own, in the same place).
    pub(super) fn add_to(&self, trusted: &mut TrustedProxies) {
        trusted.headers.extend(self.headers.iter().copied());
        trusted.proxies.extend(self.proxies.iter().copied());
    }
}

impl Translator<'_> {
    /// `WSGITrustedProxyHeaders` or `WSGITrustedProxies` outside sections. The check refused
    /// what mod_wsgi would not read (a bad address, a name that is no header's).
    pub(super) fn proxy_directive(&mut self, d: &Directive) {
        let proxies = &mut self.site.proxies;
        if d.is("WSGITrustedProxyHeaders") {
            if std::mem::take(&mut proxies.headers_inherited) {
                proxies.headers.clear();
            }
            let headers = d.args.iter().filter_map(|a| ProxyHeader::parse(a).ok());
            proxies.headers.extend(headers.flatten());
        } else {
            if std::mem::take(&mut proxies.proxies_inherited) {
                proxies.proxies.clear();
            }
            proxies
                .proxies
                .extend(d.args.iter().filter_map(|a| parse_proxy(a).ok()));
        }
    }
}
