//! Behind a proxy: which request headers a proxy in front of the server may use to say who the
//! client was and what it asked for — mod_wsgi's `WSGITrustedProxyHeaders` and
//! `WSGITrustedProxies`, mod_wsgi-express's `--trust-proxy-header` and `--trust-proxy`.
//!
//! This is what the configuration says; the HTTP side applies mod_wsgi's rules to each request
//! (`http-front`'s `service::proxy`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

/// What a trusted header tells of the client's request (mod_wsgi's header categories): only
/// one header of each purpose counts, and the others of that purpose never reach the
/// application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Purpose {
    /// The client's address: `REMOTE_ADDR`.
    Client,
    /// The host the client asked for: `HTTP_HOST`.
    Host,
    /// The server's name: `SERVER_NAME`.
    Server,
    /// The port the client connected to: `SERVER_PORT`.
    Port,
    /// Where the proxy mounts the application: `SCRIPT_NAME`.
    ScriptName,
    /// Whether the client spoke HTTPS: `wsgi.url_scheme` and `HTTPS`.
    Scheme,
}

impl Purpose {
    /// How many purposes there are.
    pub const COUNT: usize = 6;
}

/// A header a proxy may be trusted for: those mod_wsgi knows (`wsgi_environ.c`'s registry, in
/// its order), and `Forwarded` (RFC 7239), which is oxwsgi's addition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ProxyHeader {
    /// `X-Forwarded-For`: the client, then each proxy but the last.
    XForwardedFor,
    /// `X-Client-IP`: the client, as is.
    XClientIp,
    /// `X-Real-IP`: the client, as is.
    XRealIp,
    /// `X-Forwarded-Host`: the `Host` the client sent.
    XForwardedHost,
    /// `X-Host`: the same.
    XHost,
    /// `X-Forwarded-Server`: the server's name.
    XForwardedServer,
    /// `X-Forwarded-Port`: the port.
    XForwardedPort,
    /// `X-Script-Name`: the application's mount point at the proxy.
    XScriptName,
    /// `X-Forwarded-Script-Name`: the same.
    XForwardedScriptName,
    /// `X-Forwarded-Proto`: `http` or `https`.
    XForwardedProto,
    /// `X-Forwarded-Scheme`: the same.
    XForwardedScheme,
    /// `X-Scheme`: the same.
    XScheme,
    /// `X-Forwarded-HTTPS`: `On`/`Off`, `true`/`false` or `1`/`0`.
    XForwardedHttps,
    /// `X-Forwarded-SSL`: the same.
    XForwardedSsl,
    /// `X-HTTPS`: the same.
    XHttps,
    /// `Forwarded` (RFC 7239): its `for=`, `proto=` and `host=` (oxwsgi's addition).
    Forwarded,
}

use ProxyHeader as P;
use Purpose as U;

impl ProxyHeader {
    /// Every one, in the order of mod_wsgi's registry (`Forwarded` last).
    pub const ALL: [ProxyHeader; 16] = [
        P::XForwardedFor,
        P::XClientIp,
        P::XRealIp,
        P::XForwardedHost,
        P::XHost,
        P::XForwardedServer,
        P::XForwardedPort,
        P::XScriptName,
        P::XForwardedScriptName,
        P::XForwardedProto,
        P::XForwardedScheme,
        P::XScheme,
        P::XForwardedHttps,
        P::XForwardedSsl,
        P::XHttps,
        P::Forwarded,
    ];

    /// The header's name, in lower case.
    pub fn name(self) -> &'static str {
        match self {
            P::XForwardedFor => "x-forwarded-for",
            P::XClientIp => "x-client-ip",
            P::XRealIp => "x-real-ip",
            P::XForwardedHost => "x-forwarded-host",
            P::XHost => "x-host",
            P::XForwardedServer => "x-forwarded-server",
            P::XForwardedPort => "x-forwarded-port",
            P::XScriptName => "x-script-name",
            P::XForwardedScriptName => "x-forwarded-script-name",
            P::XForwardedProto => "x-forwarded-proto",
            P::XForwardedScheme => "x-forwarded-scheme",
            P::XScheme => "x-scheme",
            P::XForwardedHttps => "x-forwarded-https",
            P::XForwardedSsl => "x-forwarded-ssl",
            P::XHttps => "x-https",
            P::Forwarded => "forwarded",
        }
    }

    /// What it tells: one purpose, or for `Forwarded` three.
    pub fn purposes(self) -> &'static [Purpose] {
        match self {
            P::XForwardedFor | P::XClientIp | P::XRealIp => &[U::Client],
            P::XForwardedHost | P::XHost => &[U::Host],
            P::XForwardedServer => &[U::Server],
            P::XForwardedPort => &[U::Port],
            P::XScriptName | P::XForwardedScriptName => &[U::ScriptName],
            P::XForwardedProto
            | P::XForwardedScheme
            | P::XScheme
            | P::XForwardedHttps
            | P::XForwardedSsl
            | P::XHttps => &[U::Scheme],
            P::Forwarded => &[U::Client, U::Host, U::Scheme],
        }
    }

    /// The header a name given to `--trust-proxy-header` or `WSGITrustedProxyHeaders` names,
    /// in any case: `Ok(None)` for a header mod_wsgi does not know, which it accepts and
    /// ignores. An error for a name that is not one (a character other than a letter, a digit
    /// or `-`: mod_wsgi cannot make an environ key of it).
    pub fn parse(name: &str) -> Result<Option<ProxyHeader>, &'static str> {
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err("is not a header name: only letters, digits and '-'");
        }
        Ok(Self::ALL
            .into_iter()
            .find(|header| header.name().eq_ignore_ascii_case(name)))
    }
}

impl std::fmt::Display for ProxyHeader {
    /// The name as mod_wsgi's documentation writes it (`X-Forwarded-For`, `X-Real-IP`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            P::XForwardedFor => "X-Forwarded-For",
            P::XClientIp => "X-Client-IP",
            P::XRealIp => "X-Real-IP",
            P::XForwardedHost => "X-Forwarded-Host",
            P::XHost => "X-Host",
            P::XForwardedServer => "X-Forwarded-Server",
            P::XForwardedPort => "X-Forwarded-Port",
            P::XScriptName => "X-Script-Name",
            P::XForwardedScriptName => "X-Forwarded-Script-Name",
            P::XForwardedProto => "X-Forwarded-Proto",
            P::XForwardedScheme => "X-Forwarded-Scheme",
            P::XScheme => "X-Scheme",
            P::XForwardedHttps => "X-Forwarded-HTTPS",
            P::XForwardedSsl => "X-Forwarded-SSL",
            P::XHttps => "X-HTTPS",
            P::Forwarded => "Forwarded",
        })
    }
}

/// Which headers of which peers are believed, for one virtual host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustedProxies {
    /// The headers believed, in the order given (mod_wsgi applies them in that order); none:
    /// every header reaches the application as the client sent it.
    pub headers: Vec<ProxyHeader>,
    /// The peers whose headers are believed, and the addresses skipped in `X-Forwarded-For`;
    /// none: every peer's.
    pub proxies: Vec<IpNet>,
}

impl TrustedProxies {
    /// Whether no header is trusted: requests are left as they are.
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }

    /// Whether `ip` is one of the proxies (an IPv4 address seen on an IPv6 socket as
    /// `::ffff:a.b.c.d` is the IPv4 address).
    pub fn is_proxy(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            IpAddr::V4(_) => ip,
        };
        self.proxies.iter().any(|net| net.contains(&ip))
    }

    /// Whether the headers of a connection from `peer` are believed: those of every peer when
    /// no proxy is named, as with mod_wsgi.
    pub fn trusts_peer(&self, peer: IpAddr) -> bool {
        self.proxies.is_empty() || self.is_proxy(peer)
    }
}

/// A trusted proxy's address or network as mod_wsgi reads one (`wsgi_looks_like_ip`, then
/// APR's `apr_ipsubnet_create`): `10.0.0.5`, `10.0.0.0/8`, `10.0.0.0/255.0.0.0`, a partial
/// IPv4 address `10.1` (`10.1.0.0/16`), `2001:db8::/32` (IPv6 in lower case, as mod_wsgi
/// requires).
pub fn parse_proxy(text: &str) -> Result<IpNet, &'static str> {
    const NOT: &str = "is not an IP address or subnet (such as 10.0.0.5, 10.0.0.0/8 or \
                       2001:db8::/32)";
    let allowed: &[u8] = if text.contains(':') {
        b"0123456789abcdef:/"
    } else {
        b"0123456789./"
    };
    if text.is_empty() || !text.bytes().all(|b| allowed.contains(&b)) {
        return Err(NOT);
    }
    let (address, mask) = match text.split_once('/') {
        Some((address, mask)) => (address, Some(mask)),
        None => (text, None),
    };
    if let Ok(v6) = address.parse::<Ipv6Addr>() {
        let bits = match mask {
            None => 128,
            Some(bits) => bits
                .parse::<u8>()
                .ok()
                .filter(|b| (1..=128).contains(b))
                .ok_or(NOT)?,
        };
        return Ipv6Net::new(v6, bits)
            .map(|net| IpNet::V6(net.trunc()))
            .map_err(|_| NOT);
    }
    if let Ok(v4) = address.parse::<Ipv4Addr>() {
        let net = match mask {
            None => Ipv4Net::new(v4, 32),
            Some(mask) => match mask.parse::<u8>() {
                Ok(bits) if (1..=32).contains(&bits) => Ipv4Net::new(v4, bits),
                Ok(_) => return Err(NOT),
                Err(_) => Ipv4Net::with_netmask(v4, mask.parse().map_err(|_| NOT)?),
            },
        };
        return net.map(|net| IpNet::V4(net.trunc())).map_err(|_| NOT);
    }
    // A partial IPv4 address is a network, but only without a mask (APR's rule).
    if mask.is_some() {
        return Err(NOT);
    }
    let parts: Vec<u8> = address
        .trim_end_matches('.')
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()
        .ok_or(NOT)?;
    if parts.is_empty() || parts.len() > 3 {
        return Err(NOT);
    }
    let mut octets = [0u8; 4];
    octets[..parts.len()].copy_from_slice(&parts);
    Ipv4Net::new(octets.into(), (parts.len() * 8) as u8)
        .map(IpNet::V4)
        .map_err(|_| NOT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_read_in_any_case_and_unknown_ones_are_ignored() {
        assert_eq!(
            ProxyHeader::parse("X-Forwarded-For"),
            Ok(Some(ProxyHeader::XForwardedFor))
        );
        assert_eq!(
            ProxyHeader::parse("x-real-ip"),
            Ok(Some(ProxyHeader::XRealIp))
        );
        assert_eq!(
            ProxyHeader::parse("FORWARDED"),
            Ok(Some(ProxyHeader::Forwarded))
        );
        assert_eq!(ProxyHeader::parse("X-Url-Scheme"), Ok(None));
        assert!(ProxyHeader::parse("X_Forwarded_For").is_err());
        assert!(ProxyHeader::parse("X-Forwarded-For:").is_err());
    }

    #[test]
    fn every_header_is_shown_by_its_name_and_reads_back() {
        for header in ProxyHeader::ALL {
            let shown = header.to_string();
            assert!(shown.eq_ignore_ascii_case(header.name()), "{shown}");
            assert_eq!(ProxyHeader::parse(&shown), Ok(Some(header)));
        }
    }

    #[test]
    fn proxies_are_read_as_apr_reads_subnets() {
        let net = |text: &str| parse_proxy(text).map(|n| n.to_string());
        assert_eq!(net("10.0.0.5"), Ok("10.0.0.5/32".to_owned()));
        assert_eq!(net("10.0.0.5/8"), Ok("10.0.0.0/8".to_owned()));
        assert_eq!(net("10.0.0.0/255.255.0.0"), Ok("10.0.0.0/16".to_owned()));
        assert_eq!(net("10.1"), Ok("10.1.0.0/16".to_owned()));
        assert_eq!(net("192.168.0."), Ok("192.168.0.0/24".to_owned()));
        assert_eq!(net("2001:db8::1/32"), Ok("2001:db8::/32".to_owned()));
        assert_eq!(net("::1"), Ok("::1/128".to_owned()));
        for bad in [
            "",
            "proxy.example",
            "10.1/16",
            "10.0.0.0/0",
            "10.0.0.0/33",
            "2001:DB8::1",
            "::ffff:10.0.0.1",
            "1.2.3.4.5",
            "10.0.0.0/255.0.255.0",
            "300.1",
        ] {
            assert!(parse_proxy(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ipv4_clients_on_ipv6_sockets_are_matched_as_ipv4() {
        let trusted = TrustedProxies {
            headers: vec![ProxyHeader::XForwardedFor],
            proxies: vec![parse_proxy("127.0.0.1").unwrap()],
        };
        assert!(trusted.trusts_peer("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!trusted.trusts_peer("127.0.0.2".parse().unwrap()));
        assert!(TrustedProxies::default().trusts_peer("192.0.2.1".parse().unwrap()));
    }
}
