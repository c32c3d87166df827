//! mod_ssl's directives of a site: which listeners speak TLS, with which certificates, and
//! where a client certificate is required.
//!
//! Separate because TLS is decided per virtual host (`SSLEngine on` with its certificate) but
//! runs per listener: the virtual hosts on one address put their certificates together, to be
//! chosen by the name the client asks for (SNI), and must agree on what the listener does for
//! all of them (client authorities, protocols, `SSL_*` variables).

use super::Translator;
use crate::apache::{Directive, Origin, Section, ssl};
use crate::model::{ListenerConfig, MountPoint};
use crate::tls::{ClientCertificateRule, ListenerTls, NamedFile, TlsIdentity, TlsProtocols};

/// What a site's (or virtual host's) mod_ssl directives say.
#[derive(Debug, Default, Clone)]
pub(super) struct SiteTls {
    engine: Option<(bool, Origin)>,
    certificate: Option<NamedFile>,
    key: Option<NamedFile>,
    chain: Option<NamedFile>,
    ca: Option<NamedFile>,
    /// `SSLVerifyClient` outside sections: required, or not (`None`: `optional_no_ca`).
    verify: Option<(Option<bool>, Origin)>,
    /// `SSLVerifyClient` in `<Location>` sections, by URL path.
    location_verify: Vec<(String, Option<bool>, Origin)>,
    std_env_vars: bool,
    protocols: Option<TlsProtocols>,
}

impl Translator<'_> {
    /// A mod_ssl directive outside sections (the server's, or a virtual host's).
    pub(super) fn tls_directive(&mut self, d: &Directive) {
        let file = |t: &Self| {
            let value = d.args.first().map_or("", String::as_str);
            NamedFile::new(t.path(value), d.origin.to_string())
        };
        match d.name.to_ascii_lowercase().as_str() {
            "sslengine" => {
                let on = d.args.first().is_some_and(|a| a.eq_ignore_ascii_case("on"));
                self.site.tls.engine = Some((on, d.origin.clone()));
            }
            "sslcertificatefile" => self.site.tls.certificate = Some(file(self)),
            "sslcertificatekeyfile" => self.site.tls.key = Some(file(self)),
            "sslcertificatechainfile" => self.site.tls.chain = Some(file(self)),
            "sslcacertificatefile" => self.site.tls.ca = Some(file(self)),
            "sslverifyclient" => {
                let level = d.args.first().map_or("", String::as_str);
                // The checker refused an unknown level.
                let required = ssl::verify_client(level).unwrap_or(Some(false));
                self.site.tls.verify = Some((required, d.origin.clone()));
            }
            "sslprotocol" => {
                if let Ok((protocols, _)) = ssl::protocols(&d.args) {
                    self.site.tls.protocols = Some(protocols);
                }
            }
            "ssloptions" => self.ssl_options(d),
            _ => {}
        }
    }

    /// A mod_ssl directive inside a section.
    pub(super) fn tls_inside_section(&mut self, d: &Directive, section: &Section) {
        if d.is("SSLOptions") {
            // The variables describe the connection: a section that asks for them (Debian's
            // default-ssl.conf does, for its CGI directory) gets them for the whole listener.
            self.ssl_options(d);
        } else if d.is("SSLVerifyClient") && section.is("Location") {
            let level = d.args.first().map_or("", String::as_str);
            let required = ssl::verify_client(level).unwrap_or(Some(false));
            let place = section.args.first().cloned().unwrap_or_default();
            self.site
                .tls
                .location_verify
                .push((place, required, d.origin.clone()));
        } else {
            self.not_yet(&d.origin, &format!("{} inside <{}>", d.name, section.name));
        }
    }

    fn ssl_options(&mut self, d: &Directive) {
        if let Ok((on, not_yet)) = ssl::options(&d.args, self.site.tls.std_env_vars) {
            self.site.tls.std_env_vars = on;
            if let Some(what) = not_yet {
                self.not_yet(&d.origin, what);
            }
        }
    }

    /// Makes `listeners` speak TLS when the site says `SSLEngine on`, with the certificate
    /// for `names`; and the URL paths that need a client certificate.
    pub(super) fn finish_tls(
        &mut self,
        site: &SiteTls,
        names: &[String],
        listeners: &mut [ListenerConfig],
    ) -> Vec<ClientCertificateRule> {
        let Some((true, engine)) = &site.engine else {
            return Vec::new();
        };
        let (Some(certificate), Some(key)) = (&site.certificate, &site.key) else {
            self.error(
                engine,
                "SSLEngine on needs a certificate: add SSLCertificateFile and \
                 SSLCertificateKeyFile (httpd: \"Server should be SSL-aware but has no \
                 certificate configured\")",
            );
            return Vec::new();
        };
        let mut rules = Vec::new();
        let mut require =
            |place: &str, required: Option<bool>, origin: &Origin, t: &mut Self| match (
                required,
                MountPoint::parse(place),
            ) {
                (None, _) => t.not_yet(origin, "SSLVerifyClient optional_no_ca"),
                (Some(_), None) => t.error(
                    origin,
                    format!("<Location {place}>: the URL path must start with /"),
                ),
                (Some(required), Some(prefix)) => {
                    if required && site.ca.is_none() {
                        t.error(
                            origin,
                            "SSLVerifyClient require needs SSLCACertificateFile, the \
                             authorities that sign the client certificates",
                        );
                    }
                    rules.push(ClientCertificateRule {
                        prefix,
                        required,
                        host: None,
                    });
                }
            };
        if let Some((required, origin)) = &site.verify {
            require("/", *required, origin, self);
        }
        for (place, required, origin) in &site.location_verify {
            require(place, *required, origin, self);
        }
        let tls = ListenerTls {
            identities: vec![TlsIdentity {
                names: names.to_vec(),
                certificate: certificate.clone(),
                key: key.clone(),
                chain: site.chain.clone(),
            }],
            client_ca: site.ca.clone(),
            environment: site.std_env_vars,
            protocols: site.protocols.unwrap_or(TlsProtocols::ALL),
        };
        for listener in listeners.iter_mut() {
            listener.tls = Some(tls.clone());
        }
        rules
    }

    /// Adds a virtual host's TLS on `listener` to what the others on it set: their
    /// certificates together, and the rest the same; `None` (and an error) when they
    /// cannot share the listener.
    pub(super) fn merge_listener_tls(
        &mut self,
        existing: Option<&ListenerTls>,
        taken: bool,
        added: Option<&ListenerTls>,
        origin: &Origin,
        address: &str,
    ) -> Option<Option<ListenerTls>> {
        match (taken, existing, added) {
            (false, _, added) => Some(added.cloned()),
            (true, None, None) => Some(None),
            (true, Some(existing), Some(added)) => {
                let ca_path = |tls: &ListenerTls| tls.client_ca.as_ref().map(|ca| ca.path.clone());
                if ca_path(existing) != ca_path(added)
                    || existing.environment != added.environment
                    || existing.protocols != added.protocols
                {
                    self.not_yet(
                        origin,
                        &format!(
                            "<VirtualHost>s on {address} with different SSLCACertificateFile, \
                             SSLOptions or SSLProtocol"
                        ),
                    );
                    return None;
                }
                let mut merged = existing.clone();
                merged.identities.extend(added.identities.iter().cloned());
                Some(Some(merged))
            }
            (true, _, _) => {
                self.error(
                    origin,
                    format!(
                        "SSLEngine on in some of the <VirtualHost>s on {address} and not in \
                         others: one address speaks TLS to all of its virtual hosts or to none"
                    ),
                );
                None
            }
        }
    }
}
