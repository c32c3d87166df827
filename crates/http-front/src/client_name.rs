//! The client's host name, for the access rules that name hosts (`Require host`, `Allow from`
//! a name), found as httpd finds it: a double-reverse lookup.
//!
//! The client's address is resolved to a name (`getnameinfo`, so `/etc/hosts` and DNS as the
//! system is set up), then that name forward (`getaddrinfo`), and the name counts only if the
//! client's address is among the name's addresses: whoever controls the reverse zone of an
//! address cannot claim any name they like. A failed lookup is no name, and a rule naming
//! hosts then does not match (httpd's 403).
//!
//! Both calls block, for as long as the resolver's own timeouts, so they run on tokio's
//! blocking pool, never on a runtime thread. The answer is kept for the connection: at most one
//! lookup per connection, and only when a request's rule needs the name, so that requests to
//! paths without host rules pay nothing.

use std::net::IpAddr;
use std::sync::Arc;

use tokio::sync::OnceCell;

/// The name of one connection's client, looked up at most once.
#[derive(Debug)]
pub(crate) struct ClientName {
    ip: IpAddr,
    name: OnceCell<Option<Arc<str>>>,
}

impl ClientName {
    /// The name of the client at `ip`, not looked up yet.
    pub(crate) fn new(ip: IpAddr) -> ClientName {
        ClientName {
            ip,
            name: OnceCell::new(),
        }
    }

    /// The client's name (in lower case, without a final dot), looking it up the first time;
    /// `None` when its address has no name that resolves back to it.
    pub(crate) async fn get(&self) -> Option<&str> {
        let ip = self.ip;
        self.name
            .get_or_init(|| async move {
                let looked_up = tokio::task::spawn_blocking(move || double_reverse(ip)).await;
                let name = looked_up.ok().flatten();
                tracing::debug!(client.addr = %ip, client.name = ?name, "client name looked up");
                name.map(Arc::from)
            })
            .await
            .as_deref()
    }
}

/// The name of `ip` if that name's addresses include `ip` (blocking).
fn double_reverse(ip: IpAddr) -> Option<String> {
    let ip = ip.to_canonical();
    let name = dns_lookup::lookup_addr(&ip).ok()?;
    let name = normalized(&name)?;
    let addresses = dns_lookup::lookup_host(&name).ok()?;
    confirmed(ip, name, addresses)
}

/// A name as the access rules compare it: in lower case, without a final dot; `None` for
/// what is no host name (`getnameinfo` answers with the address itself where it has no name
/// and is not told to fail).
fn normalized(name: &str) -> Option<String> {
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    (!name.is_empty() && name.parse::<IpAddr>().is_err()).then_some(name)
}

/// `name`, if its `addresses` include the client's `ip`.
fn confirmed(
    ip: IpAddr,
    name: String,
    mut addresses: impl Iterator<Item = IpAddr>,
) -> Option<String> {
    addresses
        .any(|address| address.to_canonical() == ip)
        .then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever this machine calls its loopback address, the lookup does not fail because of
    /// the blocking pool, and a name it gives is in lower case and resolves back.
    #[tokio::test]
    async fn a_name_found_resolves_back_to_the_address() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let client = ClientName::new(ip);
        let first = client.get().await.map(str::to_owned);
        if let Some(name) = &first {
            assert_eq!(name, &name.to_ascii_lowercase());
            assert!(!name.ends_with('.'));
            let back: Vec<IpAddr> = dns_lookup::lookup_host(name).unwrap().collect();
            assert!(back.contains(&ip), "{name}: {back:?}");
        }
        // Kept: the second answer is the first.
        assert_eq!(client.get().await.map(str::to_owned), first);
    }

    #[test]
    fn a_name_counts_only_if_it_resolves_back_to_the_client() {
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "198.51.100.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        let name = || "host.example.org".to_owned();
        assert_eq!(
            confirmed(ip, name(), [other, ip].into_iter()).as_deref(),
            Some("host.example.org")
        );
        assert_eq!(
            confirmed(ip, name(), [mapped].into_iter()).as_deref(),
            Some("host.example.org")
        );
        assert_eq!(confirmed(ip, name(), [other].into_iter()), None);
        assert_eq!(confirmed(ip, name(), std::iter::empty()), None);
    }

    #[test]
    fn names_are_compared_in_lower_case_without_the_final_dot() {
        assert_eq!(
            normalized("Host.Example.ORG.").as_deref(),
            Some("host.example.org")
        );
        assert_eq!(normalized("192.0.2.7"), None);
        assert_eq!(normalized("::1"), None);
        assert_eq!(normalized("."), None);
        assert_eq!(normalized(""), None);
    }
}
