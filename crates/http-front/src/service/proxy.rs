//! Behind a proxy: what the headers a proxy in front is trusted for say of the client's
//! request, decided once per request, and only where trusted headers are configured.
//!
//! mod_wsgi's rules (mod_wsgi 6.0, `wsgi_environ.c`, `wsgi_process_proxy_headers`):
//!
//! * only the configured headers count, each in the order configured, a later one of the same
//!   purpose over an earlier one; with trusted proxies configured, only on a connection from
//!   one of them — without, on every connection;
//! * `X-Forwarded-For`: without trusted proxies, its first address is the client's; with them,
//!   it is read from the right, the trusted proxies skipped, and the first other entry is the
//!   client's (the first entry when all are proxies, the last when the last is not one), and
//!   the header is rewritten to start at the client's. An entry that is not an IP address ends
//!   the walk;
//! * the others are taken as they are (`X-Forwarded-Host` as `HTTP_HOST`, `X-Script-Name` as
//!   `SCRIPT_NAME`, ...); a scheme header says `https` or `http` (`On`/`true`/`1` or
//!   `Off`/`false`/`0` for the flags), and any other value leaves the connection's scheme;
//! * for each purpose a configured header has, every header of that purpose mod_wsgi knows is
//!   removed from the request, except the one that counted: the application never sees a value
//!   nobody vouched for — a connection from an untrusted peer loses them all.
//!
//! `Forwarded` (RFC 7239) is oxwsgi's addition, read with the same rules: its elements are
//! walked as `X-Forwarded-For`'s entries are (by their `for=`), and the chosen element's
//! `for=` (an IP address, without its port), `proto=` and `host=` count for the client, the
//! scheme and the host. It is of those three purposes, so trusting another header of one of
//! them removes it, and trusting it removes theirs (unless they count for a purpose it does
//! not give).
//!
//! What the headers said goes to the application in [`Proxied`]; the headers removed (and a
//! rewritten `X-Forwarded-For`) are the request's, so the front tier's hop carries them too.

use std::borrow::Cow;
use std::net::IpAddr;

use http::{HeaderMap, HeaderValue};
use oxwsgi_config::proxy::{ProxyHeader, Purpose, TrustedProxies};
use oxwsgi_exchange::{Proxied, UrlScheme};

/// Applies the trusted headers of `trust` to a request from `peer`: removes from `headers` what
/// must not reach the application, and returns what the headers that count say (`None` when
/// they said nothing).
pub(crate) fn apply(
    trust: &TrustedProxies,
    headers: &mut HeaderMap,
    peer: IpAddr,
) -> Option<Box<Proxied>> {
    let believed = trust.trusts_peer(peer);
    // Per purpose: whether a configured header has it, and the header that counted for it.
    let mut named = [false; Purpose::COUNT];
    let mut counted: [Option<ProxyHeader>; Purpose::COUNT] = [None; Purpose::COUNT];
    let mut proxied = Proxied::default();
    for &header in &trust.headers {
        for &purpose in header.purposes() {
            named[purpose as usize] = true;
        }
        if !believed {
            continue;
        }
        let Some(value) = value_of(headers, header.name()) else {
            continue;
        };
        match header {
            ProxyHeader::XForwardedFor => {
                let said = forwarded_for(&value, trust);
                drop(value);
                if let Some((client, rewritten)) = said {
                    proxied.client = Some(client);
                    if let Some(list) = rewritten {
                        headers.insert(header.name(), list);
                    }
                }
            }
            ProxyHeader::XClientIp | ProxyHeader::XRealIp => {
                proxied.client = header_value(&value);
            }
            ProxyHeader::XForwardedHost | ProxyHeader::XHost => {
                proxied.host = header_value(&value);
            }
            ProxyHeader::XForwardedServer => proxied.server_name = header_value(&value),
            ProxyHeader::XForwardedPort => proxied.server_port = header_value(&value),
            ProxyHeader::XScriptName | ProxyHeader::XForwardedScriptName => {
                proxied.script_name = header_value(&value);
            }
            ProxyHeader::XForwardedProto | ProxyHeader::XForwardedScheme | ProxyHeader::XScheme => {
                if let Some(scheme) = scheme_name(&value) {
                    proxied.scheme = Some(scheme);
                }
            }
            ProxyHeader::XForwardedHttps | ProxyHeader::XForwardedSsl | ProxyHeader::XHttps => {
                if let Some(scheme) = scheme_flag(&value) {
                    proxied.scheme = Some(scheme);
                }
            }
            ProxyHeader::Forwarded => {
                // It counts for the purposes its chosen element has a parameter for; a `for=`
                // that names no address (`unknown`, `_hidden`) leaves the peer as the client.
                let Some(element) = forwarded(&value, trust) else {
                    continue;
                };
                if let Some(node) = element.client {
                    if let Some(ip) = ip_of_node(&node) {
                        proxied.client = header_value(ip.to_string().as_bytes());
                    }
                    counted[Purpose::Client as usize] = Some(header);
                }
                if let Some(proto) = element.proto {
                    if let Some(scheme) = scheme_name(&proto) {
                        proxied.scheme = Some(scheme);
                    }
                    counted[Purpose::Scheme as usize] = Some(header);
                }
                if let Some(host) = element.host {
                    proxied.host = header_value(&host);
                    counted[Purpose::Host as usize] = Some(header);
                }
                continue;
            }
        }
        counted[header.purposes()[0] as usize] = Some(header);
    }
    for header in ProxyHeader::ALL {
        let purposes = header.purposes();
        let of_a_named_purpose = purposes.iter().any(|&p| named[p as usize]);
        let counts = purposes
            .iter()
            .any(|&p| counted[p as usize] == Some(header));
        if of_a_named_purpose && !counts {
            headers.remove(header.name());
        }
    }
    (!proxied.is_empty()).then(|| Box::new(proxied))
}

/// The IP address a client's value (`REMOTE_ADDR`) is, if it is one.
pub(super) fn address(client: &HeaderValue) -> Option<IpAddr> {
    ip_of(client.as_bytes())
}

/// A header's value as the environ has it: several lines joined with `", "`.
fn value_of<'h>(headers: &'h HeaderMap, name: &str) -> Option<Cow<'h, [u8]>> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    let Some(second) = values.next() else {
        return Some(Cow::Borrowed(first.as_bytes()));
    };
    let mut joined = [first.as_bytes(), b", ", second.as_bytes()].concat();
    for value in values {
        joined.extend_from_slice(b", ");
        joined.extend_from_slice(value.as_bytes());
    }
    Some(Cow::Owned(joined))
}

/// Bytes of a header (or a part of one) as a value of their own.
fn header_value(bytes: &[u8]) -> Option<HeaderValue> {
    HeaderValue::from_bytes(bytes).ok()
}

/// `https` or `http`, in any case (`X-Forwarded-Proto`, `proto=`); anything else says nothing.
fn scheme_name(value: &[u8]) -> Option<UrlScheme> {
    if value.eq_ignore_ascii_case(b"https") {
        Some(UrlScheme::Https)
    } else if value.eq_ignore_ascii_case(b"http") {
        Some(UrlScheme::Http)
    } else {
        None
    }
}

/// `On`, `true`, `1` (HTTPS) or `Off`, `false`, `0` (HTTP), in any case (`X-Forwarded-SSL`);
/// anything else says nothing.
fn scheme_flag(value: &[u8]) -> Option<UrlScheme> {
    let is = |words: [&[u8]; 3]| words.iter().any(|w| value.eq_ignore_ascii_case(w));
    if is([b"on", b"true", b"1"]) {
        Some(UrlScheme::Https)
    } else if is([b"off", b"false", b"0"]) {
        Some(UrlScheme::Http)
    } else {
        None
    }
}

/// An IP address written as is (an `X-Forwarded-For` entry).
fn ip_of(text: &[u8]) -> Option<IpAddr> {
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// `X-Forwarded-For`'s client, and with trusted proxies the header rewritten to start at it.
/// `None` when the header lists nothing.
fn forwarded_for(
    value: &[u8],
    trust: &TrustedProxies,
) -> Option<(HeaderValue, Option<HeaderValue>)> {
    // Empty entries are skipped (RFC 9110 §5.6.1), as by mod_wsgi.
    let mut entries = value
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|entry| !entry.is_empty());
    if trust.proxies.is_empty() {
        let first = entries.next()?;
        return Some((header_value(first)?, None));
    }
    let entries: Vec<&[u8]> = entries.collect();
    let client = match trailing_proxies(&entries, |entry| ip_of(entry), trust) {
        Some(first_proxy) => first_proxy.saturating_sub(1),
        None => entries.len().checked_sub(1)?,
    };
    let rewritten = entries[client..].join(&b", "[..]);
    Some((header_value(entries[client])?, header_value(&rewritten)))
}

/// The index of the first of the trusted proxies that end `entries` (read from the right,
/// up to the first entry that is not one, or not an address): `None` when the last is not.
fn trailing_proxies<T>(
    entries: &[T],
    address: impl Fn(&T) -> Option<IpAddr>,
    trust: &TrustedProxies,
) -> Option<usize> {
    let mut first = None;
    for (index, entry) in entries.iter().enumerate().rev() {
        match address(entry) {
            Some(ip) if trust.is_proxy(ip) => first = Some(index),
            _ => break,
        }
    }
    first
}

/// The parameters of one `Forwarded` element that count here.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Element {
    client: Option<Vec<u8>>,
    proto: Option<Vec<u8>>,
    host: Option<Vec<u8>>,
}

/// The element of a `Forwarded` header that describes the client's request: chosen as
/// mod_wsgi chooses `X-Forwarded-For`'s entry, by each element's `for=`.
fn forwarded(value: &[u8], trust: &TrustedProxies) -> Option<Element> {
    let mut elements = elements(value);
    let index = if trust.proxies.is_empty() {
        0
    } else {
        let node = |e: &Element| e.client.as_deref().and_then(ip_of_node);
        match trailing_proxies(&elements, node, trust) {
            Some(first_proxy) => first_proxy.saturating_sub(1),
            None => elements.len().checked_sub(1)?,
        }
    };
    (index < elements.len()).then(|| elements.swap_remove(index))
}

/// The elements of a `Forwarded` header (RFC 7239 §4): `,`-separated, each of `;`-separated
/// `name=value` pairs, a value a token or a quoted string. Empty elements are skipped; a
/// parameter given twice in one element counts the first time.
fn elements(value: &[u8]) -> Vec<Element> {
    let mut elements = Vec::new();
    let mut element = Element::default();
    let mut some = false;
    let (mut name, mut text) = (Vec::new(), Vec::new());
    let (mut in_value, mut quoted, mut escaped) = (false, false, false);
    for &b in value {
        if quoted {
            match b {
                _ if escaped => {
                    text.push(b);
                    escaped = false;
                }
                b'\\' => escaped = true,
                b'"' => quoted = false,
                _ => text.push(b),
            }
            continue;
        }
        match b {
            b' ' | b'\t' => {}
            b'"' if in_value => quoted = true,
            b'=' if !in_value => in_value = true,
            b';' | b',' => {
                some |= end_pair(&mut name, &mut text, &mut element);
                in_value = false;
                if b == b',' {
                    if std::mem::take(&mut some) {
                        elements.push(std::mem::take(&mut element));
                    }
                    element = Element::default();
                }
            }
            _ if in_value => text.push(b),
            _ => name.push(b),
        }
    }
    some |= end_pair(&mut name, &mut text, &mut element);
    if some {
        elements.push(element);
    }
    elements
}

/// Ends a `name=value` pair of a `Forwarded` element: keeps the value if the name is one
/// that counts (and not given before); whether there was a pair.
fn end_pair(name: &mut Vec<u8>, text: &mut Vec<u8>, element: &mut Element) -> bool {
    let slot = match name.to_ascii_lowercase().as_slice() {
        b"for" => Some(&mut element.client),
        b"proto" => Some(&mut element.proto),
        b"host" => Some(&mut element.host),
        _ => None,
    };
    if let Some(slot) = slot {
        slot.get_or_insert_with(|| std::mem::take(text));
    }
    let named = !name.is_empty();
    name.clear();
    text.clear();
    named
}

/// The address of a `for=` node (RFC 7239 §6): `192.0.2.43`, `192.0.2.43:47011`,
/// `[2001:db8:cafe::17]`, `[2001:db8:cafe::17]:4711`; `None` for `unknown`, an obfuscated
/// `_name`, or anything else.
fn ip_of_node(node: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(node).ok()?;
    if let Ok(ip) = text.parse() {
        return Some(ip);
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (ip, _) = rest.split_once(']')?;
        return ip.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6);
    }
    let (ip, _port) = text.split_once(':')?;
    ip.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxwsgi_config::proxy::parse_proxy;

    fn trust(headers: &[ProxyHeader], proxies: &[&str]) -> TrustedProxies {
        TrustedProxies {
            headers: headers.to_vec(),
            proxies: proxies.iter().map(|p| parse_proxy(p).unwrap()).collect(),
        }
    }

    fn request(headers: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn peer(ip: &str) -> IpAddr {
        ip.parse().unwrap()
    }

    fn text(value: &Option<HeaderValue>) -> Option<&str> {
        value.as_ref().map(|v| v.to_str().unwrap())
    }

    /// The headers left, by name.
    fn left(headers: &HeaderMap) -> Vec<(String, String)> {
        let mut left: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        left.sort();
        left
    }

    use ProxyHeader as P;

    #[test]
    fn without_proxies_the_first_address_is_the_client_and_the_header_stays() {
        let trust = trust(&[P::XForwardedFor], &[]);
        let mut headers = request(&[("x-forwarded-for", " , 6.6.6.6 , 10.0.0.1")]);
        let proxied = apply(&trust, &mut headers, peer("192.0.2.1")).unwrap();
        assert_eq!(text(&proxied.client), Some("6.6.6.6"));
        assert_eq!(
            left(&headers),
            [("x-forwarded-for".into(), " , 6.6.6.6 , 10.0.0.1".into())]
        );
    }

    #[test]
    fn with_proxies_the_list_is_read_from_the_right_skipping_them() {
        let trust = trust(&[P::XForwardedFor], &["10.0.0.0/8", "127.0.0.1"]);
        for (list, client, rewritten) in [
            ("6.6.6.6, 1.1.1.1, 10.0.0.2", "1.1.1.1", "1.1.1.1, 10.0.0.2"),
            (
                "1.1.1.1,10.0.0.2,  10.0.0.3",
                "1.1.1.1",
                "1.1.1.1, 10.0.0.2, 10.0.0.3",
            ),
            ("1.1.1.1, 2.2.2.2", "2.2.2.2", "2.2.2.2"),
            ("10.0.0.1, 10.0.0.2", "10.0.0.1", "10.0.0.1, 10.0.0.2"),
            ("1.1.1.1, unknown, 10.0.0.2", "unknown", "unknown, 10.0.0.2"),
            (
                "2001:db8::1, 10.0.0.2",
                "2001:db8::1",
                "2001:db8::1, 10.0.0.2",
            ),
        ] {
            let mut headers = request(&[("x-forwarded-for", list)]);
            let proxied = apply(&trust, &mut headers, peer("::ffff:127.0.0.1")).unwrap();
            assert_eq!(text(&proxied.client), Some(client), "{list}");
            assert_eq!(
                left(&headers),
                [("x-forwarded-for".into(), rewritten.into())],
                "{list}"
            );
        }
        // Several lines are one list, as in the environ.
        let mut headers = request(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "1.1.1.1, 10.0.0.2"),
        ]);
        let proxied = apply(&trust, &mut headers, peer("10.9.9.9")).unwrap();
        assert_eq!(text(&proxied.client), Some("1.1.1.1"));
        assert_eq!(
            left(&headers),
            [("x-forwarded-for".into(), "1.1.1.1, 10.0.0.2".into())]
        );
    }

    #[test]
    fn an_untrusted_peer_says_nothing_and_loses_the_headers_of_trusted_purposes() {
        let trust = trust(&[P::XForwardedFor, P::XForwardedProto], &["10.0.0.1"]);
        let mut headers = request(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-real-ip", "2.2.2.2"),
            ("forwarded", "for=3.3.3.3"),
            ("x-forwarded-ssl", "on"),
            ("x-forwarded-host", "kept.example"),
            ("host", "example.org"),
        ]);
        assert_eq!(apply(&trust, &mut headers, peer("10.0.0.2")), None);
        assert_eq!(
            left(&headers),
            [
                ("host".into(), "example.org".into()),
                ("x-forwarded-host".into(), "kept.example".into())
            ]
        );
    }

    #[test]
    fn only_the_header_that_counted_stays_of_its_purpose() {
        let trust = trust(&[P::XRealIp, P::XForwardedProto], &[]);
        let mut headers = request(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-real-ip", "1.1.1.1"),
            ("x-client-ip", "7.7.7.7"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-ssl", "off"),
            ("x-https", "0"),
        ]);
        let proxied = apply(&trust, &mut headers, peer("192.0.2.1")).unwrap();
        assert_eq!(text(&proxied.client), Some("1.1.1.1"));
        assert_eq!(proxied.scheme, Some(UrlScheme::Https));
        assert_eq!(
            left(&headers),
            [
                ("x-forwarded-proto".into(), "https".into()),
                ("x-real-ip".into(), "1.1.1.1".into())
            ]
        );
    }

    #[test]
    fn each_header_sets_its_key_as_is() {
        let trust = trust(
            &[
                P::XForwardedHost,
                P::XForwardedServer,
                P::XForwardedPort,
                P::XScriptName,
                P::XForwardedSsl,
            ],
            &[],
        );
        let mut headers = request(&[
            ("x-forwarded-host", "www.example.org:8443"),
            ("x-forwarded-server", "proxy.example.org"),
            ("x-forwarded-port", "8443"),
            ("x-script-name", "/prefix"),
            ("x-forwarded-ssl", "ON"),
        ]);
        let proxied = apply(&trust, &mut headers, peer("192.0.2.1")).unwrap();
        assert_eq!(text(&proxied.host), Some("www.example.org:8443"));
        assert_eq!(text(&proxied.server_name), Some("proxy.example.org"));
        assert_eq!(text(&proxied.server_port), Some("8443"));
        assert_eq!(text(&proxied.script_name), Some("/prefix"));
        assert_eq!(proxied.scheme, Some(UrlScheme::Https));
        assert_eq!(proxied.client, None);
        assert_eq!(headers.len(), 5);
    }

    #[test]
    fn scheme_values_other_than_mod_wsgis_leave_the_scheme() {
        assert_eq!(scheme_name(b"HTTPS"), Some(UrlScheme::Https));
        assert_eq!(scheme_name(b"http"), Some(UrlScheme::Http));
        assert_eq!(scheme_name(b"wss"), None);
        assert_eq!(scheme_flag(b"True"), Some(UrlScheme::Https));
        assert_eq!(scheme_flag(b"0"), Some(UrlScheme::Http));
        assert_eq!(scheme_flag(b"yes"), None);
        let trust = trust(&[P::XForwardedProto], &[]);
        let mut headers = request(&[("x-forwarded-proto", "wss")]);
        // Said nothing, but it is the one that counted: it stays.
        assert_eq!(apply(&trust, &mut headers, peer("192.0.2.1")), None);
        assert_eq!(headers.len(), 1);
    }

    #[test]
    fn forwarded_gives_client_scheme_and_host_of_the_clients_element() {
        let trust = trust(&[P::Forwarded], &["10.0.0.0/8"]);
        let mut headers = request(&[
            (
                "forwarded",
                "for=6.6.6.6;proto=http, For=\"[2001:db8:cafe::17]:4711\";Proto=https;\
                 host=\"www.example.org\", for=10.0.0.3:5000;proto=http",
            ),
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-proto", "http"),
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-port", "1"),
        ]);
        let proxied = apply(&trust, &mut headers, peer("10.0.0.1")).unwrap();
        assert_eq!(text(&proxied.client), Some("2001:db8:cafe::17"));
        assert_eq!(proxied.scheme, Some(UrlScheme::Https));
        assert_eq!(text(&proxied.host), Some("www.example.org"));
        let names: Vec<String> = left(&headers).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["forwarded", "x-forwarded-port"]);
    }

    #[test]
    fn forwarded_counts_only_for_what_its_element_says() {
        let trust = trust(&[P::Forwarded, P::XForwardedProto], &[]);
        let mut headers = request(&[
            ("forwarded", "for=unknown, for=1.1.1.1;proto=https"),
            ("x-forwarded-proto", "http"),
        ]);
        // The first element names no address: the client stays the peer (Forwarded still
        // counts for it, and stays), and the scheme is X-Forwarded-Proto's.
        assert_eq!(
            apply(&trust, &mut headers, peer("192.0.2.1")),
            Some(Box::new(Proxied {
                scheme: Some(UrlScheme::Http),
                ..Proxied::default()
            }))
        );
        assert_eq!(headers.len(), 2);
    }

    #[test]
    fn forwarded_elements_follow_rfc_7239() {
        let all = elements(
            b" for=192.0.2.60;proto=http;by=203.0.113.43 ,, for=\"[::1]\";host=\"a\\\"b\"; for=x",
        );
        assert_eq!(
            all,
            [
                Element {
                    client: Some(b"192.0.2.60".to_vec()),
                    proto: Some(b"http".to_vec()),
                    host: None
                },
                Element {
                    client: Some(b"[::1]".to_vec()),
                    proto: None,
                    host: Some(b"a\"b".to_vec())
                },
            ]
        );
        assert_eq!(ip_of_node(b"192.0.2.43:47011"), Some(peer("192.0.2.43")));
        assert_eq!(
            ip_of_node(b"[2001:db8:cafe::17]:4711"),
            Some(peer("2001:db8:cafe::17"))
        );
        assert_eq!(ip_of_node(b"unknown"), None);
        assert_eq!(ip_of_node(b"_hidden"), None);
        assert!(elements(b"").is_empty());
    }
}

#[cfg(test)]
#[path = "fuzz/proxy.rs"]
mod fuzz;
