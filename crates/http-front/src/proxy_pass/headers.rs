//! The headers of a proxied request and of its response: hop-by-hop headers dropped both
//! ways, mod_proxy's and mod_wsgi-express's `X-Forwarded-*` added on the way out, and the
//! target's own URL turned back into this server's on the way back (`ProxyPassReverse`).

use std::net::SocketAddr;

use http::{HeaderMap, HeaderName, HeaderValue, header};

/// Headers that concern one connection only (RFC 9110 §7.6.1), besides those `Connection`
/// names.
const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_SERVER: HeaderName = HeaderName::from_static("x-forwarded-server");
const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
const X_FORWARDED_SCHEME: HeaderName = HeaderName::from_static("x-forwarded-scheme");
const X_FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");

/// What the `X-Forwarded-*` headers say.
pub(super) struct Forwarded<'a> {
    pub(super) remote: SocketAddr,
    /// The `Host` the client asked for.
    pub(super) client_authority: &'a str,
    pub(super) server_name: &'a str,
    /// The port the client asked for.
    pub(super) port: u16,
    /// The mount point, for a sub-URL.
    pub(super) prefix: Option<&'a str>,
    pub(super) https: bool,
}

/// Whether a request asks to switch protocols (`Connection: upgrade` with an `Upgrade`).
pub(super) fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && connection_tokens(headers).any(|t| t.eq_ignore_ascii_case("upgrade"))
}

/// The request's headers as the target gets them.
pub(super) fn outgoing(
    mut headers: HeaderMap,
    target_authority: &str,
    forwarded: &Forwarded<'_>,
    upgrade: bool,
) -> HeaderMap {
    let upgrade_to = headers.get(header::UPGRADE).cloned();
    drop_hop_by_hop(&mut headers);
    // The continue is the client's business with this server, which asks for the body when
    // it sends it on.
    headers.remove(header::EXPECT);
    if let (true, Some(protocol)) = (upgrade, upgrade_to) {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, protocol);
    }
    if let Ok(host) = HeaderValue::from_str(target_authority) {
        headers.insert(header::HOST, host);
    }
    // mod_proxy's three, each added to what a proxy before it said.
    append(
        &mut headers,
        X_FORWARDED_FOR,
        &forwarded.remote.ip().to_string(),
    );
    append(&mut headers, X_FORWARDED_HOST, forwarded.client_authority);
    append(&mut headers, X_FORWARDED_SERVER, forwarded.server_name);
    // mod_wsgi-express's `RequestHeader set` lines.
    headers.insert(X_FORWARDED_PORT, HeaderValue::from(forwarded.port));
    if forwarded.https {
        headers.insert(X_FORWARDED_SCHEME, HeaderValue::from_static("https"));
    }
    if let Some(prefix) = forwarded.prefix.and_then(|p| HeaderValue::from_str(p).ok()) {
        headers.insert(X_FORWARDED_PREFIX, prefix);
    }
    headers
}

/// Where the target's URLs lead back to: `ProxyPassReverse TARGET HERE`.
pub(super) struct Reverse {
    /// The target's URL for the prefix.
    pub(super) target: String,
    /// This server's URL for it, as the client reached it.
    pub(super) here: String,
}

/// The response's headers as the client gets them. On a `101` the switch's own
/// `Connection: upgrade` and `Upgrade` stay.
pub(super) fn incoming(mut headers: HeaderMap, reverse: &Reverse, switched: bool) -> HeaderMap {
    let upgrade_to = headers.get(header::UPGRADE).cloned();
    drop_hop_by_hop(&mut headers);
    if let (true, Some(protocol)) = (switched, upgrade_to) {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, protocol);
    }
    for name in [
        header::LOCATION,
        header::CONTENT_LOCATION,
        HeaderName::from_static("uri"),
    ] {
        if let header::Entry::Occupied(mut entry) = headers.entry(name) {
            for value in entry.iter_mut() {
                let Some(rest) = value
                    .to_str()
                    .ok()
                    .and_then(|v| v.strip_prefix(reverse.target.as_str()))
                else {
                    continue;
                };
                if let Ok(mapped) = HeaderValue::from_str(&format!("{}{rest}", reverse.here)) {
                    *value = mapped;
                }
            }
        }
    }
    headers
}

/// The `Host` the client asked for (its target's authority for an absolute-form request),
/// else this server's address.
pub(super) fn client_authority(head: &http::request::Parts, local: SocketAddr) -> String {
    head.uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            head.headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| local.to_string())
}

/// The port the client asked for (httpd's `SERVER_PORT`): the `Host`'s, else the scheme's
/// when the `Host` names none, else the one it connected to.
pub(super) fn client_port(head: &http::request::Parts, local: SocketAddr, https: bool) -> u16 {
    if let Some(port) = head.uri.port_u16() {
        return port;
    }
    let host = head.headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match host {
        Some(host) => match host.rsplit_once(':') {
            Some((_, port)) if !host.ends_with(']') => port.parse().unwrap_or(local.port()),
            _ if https => 443,
            _ => 80,
        },
        None => local.port(),
    }
}

fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

fn drop_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = connection_tokens(headers)
        .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok())
        .collect();
    for name in named.into_iter().chain(HOP_BY_HOP) {
        headers.remove(name);
    }
}

fn append(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    let joined = match headers.get(&name).and_then(|v| v.to_str().ok()) {
        Some(before) if !before.is_empty() => format!("{before}, {value}"),
        _ => value.to_owned(),
    };
    if let Ok(joined) = HeaderValue::from_str(&joined) {
        headers.insert(name, joined);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(remote: &str) -> Forwarded<'static> {
        Forwarded {
            remote: remote.parse().unwrap(),
            client_authority: "example.org:8000",
            server_name: "localhost",
            port: 8000,
            prefix: Some("/api"),
            https: false,
        }
    }

    #[test]
    fn hop_by_hop_headers_go_and_forwarded_ones_come() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, X-Secret"),
        );
        headers.insert("x-secret", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
        headers.insert(header::HOST, HeaderValue::from_static("example.org:8000"));
        headers.insert(X_FORWARDED_FOR, HeaderValue::from_static("10.0.0.1"));
        headers.insert("x-app", HeaderValue::from_static("kept"));
        let out = outgoing(headers, "backend:9000", &forwarded("192.0.2.7:5555"), false);
        for gone in ["connection", "x-secret", "keep-alive", "te", "upgrade"] {
            assert!(!out.contains_key(gone), "{gone}");
        }
        assert_eq!(out["host"], "backend:9000");
        assert_eq!(out["x-app"], "kept");
        assert_eq!(out["x-forwarded-for"], "10.0.0.1, 192.0.2.7");
        assert_eq!(out["x-forwarded-host"], "example.org:8000");
        assert_eq!(out["x-forwarded-server"], "localhost");
        assert_eq!(out["x-forwarded-port"], "8000");
        assert_eq!(out["x-forwarded-prefix"], "/api");
        assert!(!out.contains_key("x-forwarded-scheme"));
    }

    #[test]
    fn an_upgrade_keeps_its_two_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert!(wants_upgrade(&headers));
        let out = outgoing(headers, "b", &forwarded("127.0.0.1:1"), true);
        assert_eq!(out["connection"], "upgrade");
        assert_eq!(out["upgrade"], "websocket");
    }

    #[test]
    fn the_targets_urls_come_back_as_this_servers() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::LOCATION,
            HeaderValue::from_static("http://127.0.0.1:9000/v1/login?next=/"),
        );
        headers.insert(
            header::CONTENT_LOCATION,
            HeaderValue::from_static("http://elsewhere/v1/x"),
        );
        headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        let reverse = Reverse {
            target: "http://127.0.0.1:9000/v1/".to_owned(),
            here: "http://example.org:8000/api/".to_owned(),
        };
        let out = incoming(headers, &reverse, false);
        assert_eq!(out["location"], "http://example.org:8000/api/login?next=/");
        assert_eq!(out["content-location"], "http://elsewhere/v1/x");
        assert!(!out.contains_key("transfer-encoding"));
    }
}
