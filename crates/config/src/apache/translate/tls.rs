//! mod_ssl's directives of a site: which listeners speak TLS, with which certificates, and
//! where a client certificate, or TLS at all, is required.
//!
//! Separate because TLS is decided per virtual host (`SSLEngine on` with its certificate) but
//! runs per listener: the virtual hosts on one address put their certificates together, to be
//! chosen by the name the client asks for (SNI), and must agree on what the listener does for
//! all of them (client authorities, protocols, `SSL_*` variables).

use std::path::{Path, PathBuf};

use super::Translator;
use super::rules::lay_out;
use crate::apache::ssl::{self, SslOptions, VerifyClient};
use crate::apache::{Directive, Origin, Section};
use crate::model::{ListenerConfig, Mount, MountPoint};
use crate::tls::{
    ClientCertificateRule, DEFAULT_VERIFY_DEPTH, ListenerTls, NamedFile, TlsIdentity, TlsProtocols,
    TlsRequirement,
};

/// What a site's (or virtual host's) mod_ssl directives say.
#[derive(Debug, Default, Clone)]
pub(super) struct SiteTls {
    engine: Option<(bool, Origin)>,
    certificate: Option<NamedFile>,
    key: Option<NamedFile>,
    chain: Option<NamedFile>,
    ca: Option<NamedFile>,
    /// `SSLCACertificatePath`.
    ca_path: Option<NamedFile>,
    /// `SSLVerifyClient` outside sections.
    verify: Option<(VerifyClient, Origin)>,
    /// `SSLVerifyClient` in `<Location>` sections, by URL path.
    location_verify: Vec<(String, VerifyClient, Origin)>,
    /// `SSLVerifyClient` in `<Directory>` sections, by file-system path.
    directory_verify: Vec<(PathBuf, (VerifyClient, Origin))>,
    /// `SSLVerifyDepth` outside sections.
    depth: Option<u32>,
    /// `SSLRequireSSL` in `<Location>` sections, by URL path.
    location_require_ssl: Vec<(String, Origin)>,
    /// `SSLRequireSSL` in `<Directory>` sections, by file-system path.
    directory_require_ssl: Vec<PathBuf>,
    options: SslOptions,
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
            "sslcacertificatepath" => self.site.tls.ca_path = Some(file(self)),
            "sslverifyclient" => {
                let level = d.args.first().map_or("", String::as_str);
                // The checker refused an unknown level.
                let level = ssl::verify_client(level).unwrap_or(VerifyClient::None);
                self.site.tls.verify = Some((level, d.origin.clone()));
            }
            "sslverifydepth" => {
                // The checker refused what is not a number.
                let depth = d.args.first().map_or("", String::as_str);
                if let Ok(depth) = ssl::verify_depth(depth) {
                    self.site.tls.depth = Some(depth);
                }
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
        let place = section.args.first().cloned().unwrap_or_default();
        if d.is("SSLOptions") {
            // The variables describe the connection: a section that asks for them (Debian's
            // default-ssl.conf does, for its CGI directory) gets them for the whole listener.
            self.ssl_options(d);
        } else if d.is("SSLVerifyClient") && section.is("Location") {
            let level = d.args.first().map_or("", String::as_str);
            let level = ssl::verify_client(level).unwrap_or(VerifyClient::None);
            self.site
                .tls
                .location_verify
                .push((place, level, d.origin.clone()));
        } else if d.is("SSLVerifyClient") && section.is("Directory") && place != "~" {
            let level = d.args.first().map_or("", String::as_str);
            let level = ssl::verify_client(level).unwrap_or(VerifyClient::None);
            let dir = self.directory_path(&place);
            self.site
                .tls
                .directory_verify
                .push((dir, (level, d.origin.clone())));
        } else if d.is("SSLRequireSSL") && section.is("Location") {
            self.site
                .tls
                .location_require_ssl
                .push((place, d.origin.clone()));
        } else if d.is("SSLRequireSSL") && section.is("Directory") && place != "~" {
            let dir = self.directory_path(&place);
            self.site.tls.directory_require_ssl.push(dir);
        } else {
            self.not_yet(&d.origin, &format!("{} inside <{}>", d.name, section.name));
        }
    }

    /// The directory a `<Directory>` section names.
    fn directory_path(&self, place: &str) -> PathBuf {
        match place.trim_end_matches('/') {
            "" => PathBuf::from("/"),
            dir => self.path(dir),
        }
    }

    fn ssl_options(&mut self, d: &Directive) {
        if let Ok((options, not_yet)) = ssl::options_over(&d.args, self.site.tls.options) {
            self.site.tls.options = options;
            if let Some(what) = not_yet {
                self.not_yet(&d.origin, what);
            }
        }
    }

    /// Makes `listeners` speak TLS when the site says `SSLEngine on`, with the certificate
    /// for `names`; and the rules of the URL paths that need a client certificate, or TLS
    /// (`SSLRequireSSL`, also on a site that does not speak TLS: there every request under
    /// it is refused, as with httpd). `<Directory>` sections are laid out over `mounts` and
    /// `document_root`, as the access rules are.
    ///
    /// `SSLVerifyClient` rules come in httpd's order of merging: the virtual host's (at `/`),
    /// then the `<Directory>`s', then the `<Location>`s', which override both. Since the most
    /// specific rule for a path wins, a `<Directory>`'s rule is left out where a `<Location>`
    /// covers the whole of its URL path: httpd would apply the `<Location>` there.
    pub(super) fn finish_tls(
        &mut self,
        site: &SiteTls,
        names: &[String],
        listeners: &mut [ListenerConfig],
        mounts: &[Mount],
        document_root: &Path,
    ) -> Vec<ClientCertificateRule> {
        let mut rules = self.require_ssl_rules(site, mounts, document_root);
        let Some((true, engine)) = &site.engine else {
            return rules;
        };
        let (Some(certificate), Some(key)) = (&site.certificate, &site.key) else {
            self.error(
                engine,
                "SSLEngine on needs a certificate: add SSLCertificateFile and \
                 SSLCertificateKeyFile (httpd: \"Server should be SSL-aware but has no \
                 certificate configured\")",
            );
            return rules;
        };
        let has_authorities = site.ca.is_some() || site.ca_path.is_some();
        let levels = site
            .verify
            .iter()
            .map(|(level, origin)| (*level, origin))
            .chain(
                site.location_verify
                    .iter()
                    .map(|(_, l, origin)| (*l, origin)),
            )
            .chain(
                site.directory_verify
                    .iter()
                    .map(|(_, (l, origin))| (*l, origin)),
            );
        for (level, origin) in levels {
            if level.required() && !has_authorities {
                self.error(
                    origin,
                    "SSLVerifyClient require needs SSLCACertificateFile or \
                     SSLCACertificatePath, the authorities that sign the client certificates",
                );
            }
        }
        let rule = |prefix, level: VerifyClient| ClientCertificateRule {
            prefix,
            requirement: TlsRequirement::ClientCertificate(level.required()),
            host: None,
        };
        if let Some((level, _)) = &site.verify {
            rules.push(rule(MountPoint::root(), *level));
        }
        let mut locations = Vec::new();
        for (place, level, origin) in &site.location_verify {
            match MountPoint::parse(place) {
                Some(prefix) => locations.push(rule(prefix, *level)),
                None => self.error(
                    origin,
                    format!("<Location {place}>: the URL path must start with /"),
                ),
            }
        }
        if !site.directory_verify.is_empty() {
            for (prefix, (level, _)) in lay_out(&site.directory_verify, mounts, document_root) {
                let path = prefix.to_string();
                let overridden = locations
                    .iter()
                    .any(|location| location.prefix.matches(path.as_bytes()));
                if !overridden {
                    rules.push(rule(prefix, level));
                }
            }
        }
        rules.extend(locations);
        let accept_unverified = site
            .verify
            .iter()
            .map(|(level, _)| level)
            .chain(site.location_verify.iter().map(|(_, level, _)| level))
            .chain(site.directory_verify.iter().map(|(_, (level, _))| level))
            .any(|level| *level == VerifyClient::OptionalNoCa);
        let tls = ListenerTls {
            identities: vec![TlsIdentity {
                names: names.to_vec(),
                certificate: certificate.clone(),
                key: key.clone(),
                chain: site.chain.clone(),
            }],
            client_ca: site.ca.clone(),
            client_ca_path: site.ca_path.clone(),
            accept_unverified,
            verify_depth: site.depth.unwrap_or(DEFAULT_VERIFY_DEPTH),
            environment: site.options.std_env_vars,
            export_certificates: site.options.export_cert_data,
            protocols: site.protocols.unwrap_or(TlsProtocols::ALL),
        };
        for listener in listeners.iter_mut() {
            listener.tls = Some(tls.clone());
        }
        rules
    }

    /// The `SSLRequireSSL` rules: each `<Location>` at its path, each `<Directory>` at the URL
    /// paths its files are served at.
    fn require_ssl_rules(
        &mut self,
        site: &SiteTls,
        mounts: &[Mount],
        document_root: &Path,
    ) -> Vec<ClientCertificateRule> {
        let rule = |prefix| ClientCertificateRule {
            prefix,
            requirement: TlsRequirement::Tls,
            host: None,
        };
        let mut rules = Vec::new();
        for (place, origin) in &site.location_require_ssl {
            match MountPoint::parse(place) {
                Some(prefix) => rules.push(rule(prefix)),
                None => self.error(
                    origin,
                    format!("<Location {place}>: the URL path must start with /"),
                ),
            }
        }
        let directories: Vec<(PathBuf, ())> = site
            .directory_require_ssl
            .iter()
            .map(|dir| (dir.clone(), ()))
            .collect();
        if !directories.is_empty() {
            rules.extend(
                lay_out(&directories, mounts, document_root)
                    .into_iter()
                    .map(|(prefix, ())| rule(prefix)),
            );
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
                let path = |file: &Option<NamedFile>| file.as_ref().map(|f| f.path.clone());
                let same = |a: &ListenerTls, b: &ListenerTls| {
                    path(&a.client_ca) == path(&b.client_ca)
                        && path(&a.client_ca_path) == path(&b.client_ca_path)
                        && a.accept_unverified == b.accept_unverified
                        && a.verify_depth == b.verify_depth
                        && a.environment == b.environment
                        && a.export_certificates == b.export_certificates
                        && a.protocols == b.protocols
                };
                if !same(existing, added) {
                    self.not_yet(
                        origin,
                        &format!(
                            "<VirtualHost>s on {address} with different SSLCACertificateFile, \
                             SSLCACertificatePath, SSLVerifyClient optional_no_ca, \
                             SSLVerifyDepth, SSLOptions or SSLProtocol"
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use super::super::{StartOptions, server_config};
    use crate::apache::check::check;
    use crate::apache::{ReadOptions, read_text};
    use crate::model::{MountPoint, ServerConfig};
    use crate::resolve::Environment;
    use crate::tls::{ClientCertificateRule, TlsRequirement};

    /// A directory with an application script, `app.wsgi`, and a `static` directory.
    struct Site(PathBuf);

    impl Site {
        fn new(name: &str) -> Site {
            let dir = std::env::temp_dir().join(format!(
                "oxwsgi-translate-tls-{name}-{}",
                std::process::id()
            ));
            std::fs::create_dir_all(dir.join("static")).unwrap();
            std::fs::write(dir.join("app.wsgi"), "application = None\n").unwrap();
            Site(dir)
        }

        /// The configuration `text` (`{dir}` is the directory) as start-server runs it, or
        /// its errors.
        fn translate(&self, text: &str) -> Result<ServerConfig, Vec<String>> {
            let dir = self.0.display().to_string();
            let text = text.replace("{dir}", &dir);
            let options = ReadOptions {
                defines: Vec::new(),
                environment: Some(BTreeMap::new()),
            };
            let config = read_text(&self.0.join("site.conf"), &text, &options).unwrap();
            let report = check(&config, false);
            assert!(!report.has_errors(), "{:?}", report.notices);
            let env = Environment {
                current_dir: self.0.clone(),
                uid: 1000,
                ..Environment::default()
            };
            server_config(&config, &report, &env, &StartOptions::default())
                .map_err(|errors| errors.iter().map(ToString::to_string).collect())
        }

        fn conf(&self) -> String {
            format!("{}/site.conf", self.0.display())
        }
    }

    impl Drop for Site {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn rule(prefix: &str, requirement: TlsRequirement) -> ClientCertificateRule {
        ClientCertificateRule {
            prefix: MountPoint::parse(prefix).unwrap(),
            requirement,
            host: None,
        }
    }

    #[test]
    fn require_ssl_in_a_location_applies_to_its_path_even_without_tls() {
        let site = Site::new("location");
        let config = site
            .translate(
                "Listen 8080\nWSGIScriptAlias / {dir}/app.wsgi\n\
                 <Location /admin/>\n    SSLRequireSSL\n</Location>\n",
            )
            .unwrap();
        assert_eq!(
            config.client_certificates,
            vec![rule("/admin", TlsRequirement::Tls)]
        );
        assert!(config.listeners[0].tls.is_none());
    }

    #[test]
    fn require_ssl_in_a_directory_applies_where_its_files_are_served() {
        let site = Site::new("directory");
        let config = site
            .translate(
                "Listen 8080\nWSGIScriptAlias /app {dir}/app.wsgi\nAlias /files {dir}/static\n\
                 <Directory {dir}/static/>\n    SSLRequireSSL\n</Directory>\n\
                 <Directory {dir}>\n    SSLRequireSSL\n</Directory>\n",
            )
            .unwrap();
        let mut prefixes: Vec<&str> = config
            .client_certificates
            .iter()
            .map(|rule| {
                assert_eq!(rule.requirement, TlsRequirement::Tls);
                rule.prefix.as_str()
            })
            .collect();
        prefixes.sort_unstable();
        assert_eq!(prefixes, ["/app", "/files"]);
    }

    #[test]
    fn a_regular_expression_directory_is_refused_rather_than_ignored() {
        let site = Site::new("regex");
        let errors = site
            .translate(
                "Listen 8080\nWSGIScriptAlias / {dir}/app.wsgi\n\
                 <Directory ~ \"/srv/.*\">\n    SSLRequireSSL\n</Directory>\n",
            )
            .unwrap_err();
        assert_eq!(
            errors,
            [format!(
                "{}:4: error: SSLRequireSSL inside <Directory> is not supported yet by \
                 start-server (check-config accepts it; see docs/apache.md for what runs)",
                site.conf()
            )]
        );
    }

    #[test]
    fn a_ca_path_optional_no_ca_and_export_cert_data_reach_the_listener() {
        let site = Site::new("listener");
        let config = site
            .translate(
                "Listen 8443\nWSGIScriptAlias / {dir}/app.wsgi\nSSLEngine on\n\
                 SSLCertificateFile {dir}/server.crt\nSSLCertificateKeyFile {dir}/server.key\n\
                 SSLCACertificatePath {dir}/authorities/\nSSLVerifyClient optional_no_ca\n\
                 SSLOptions +ExportCertData\n\
                 <Location /admin>\n    SSLVerifyClient require\n</Location>\n",
            )
            .unwrap();
        let tls = config.listeners[0].tls.as_ref().unwrap();
        let path = tls.client_ca_path.as_ref().unwrap();
        assert_eq!(path.path, site.0.join("authorities/"));
        assert_eq!(path.origin, format!("{}:6", site.conf()));
        assert!(tls.client_ca.is_none());
        assert!(tls.accept_unverified);
        assert!(tls.export_certificates);
        assert!(!tls.environment);
        assert_eq!(
            config.client_certificates,
            vec![
                rule("/", TlsRequirement::ClientCertificate(false)),
                rule("/admin", TlsRequirement::ClientCertificate(true)),
            ]
        );
    }

    #[test]
    fn verify_client_in_a_directory_applies_where_its_files_are_served_under_the_locations() {
        let site = Site::new("verify-directory");
        let config = site
            .translate(
                "Listen 8443\nWSGIScriptAlias /app {dir}/app.wsgi\nAlias /files {dir}/static\n\
                 SSLEngine on\nSSLCertificateFile {dir}/server.crt\n\
                 SSLCertificateKeyFile {dir}/server.key\nSSLCACertificateFile {dir}/ca.crt\n\
                 <Directory {dir}/static>\n    SSLVerifyClient require\n</Directory>\n\
                 <Directory {dir}>\n    SSLVerifyClient optional_no_ca\n</Directory>\n\
                 <Location /files/open>\n    SSLVerifyClient none\n</Location>\n\
                 <Location /app>\n    SSLVerifyClient require\n</Location>\n",
            )
            .unwrap();
        // The directory of the script is overridden by the <Location> that covers its URL.
        assert_eq!(
            config.client_certificates,
            vec![
                rule("/files", TlsRequirement::ClientCertificate(true)),
                rule("/files/open", TlsRequirement::ClientCertificate(false)),
                rule("/app", TlsRequirement::ClientCertificate(true)),
            ]
        );
        let tls = config.listeners[0].tls.as_ref().unwrap();
        assert!(tls.accept_unverified);
        assert_eq!(tls.verify_depth, 1);
    }

    #[test]
    fn verify_depth_reaches_the_listener_and_is_not_yet_in_a_section() {
        let site = Site::new("depth");
        let base = "Listen 8443\nWSGIScriptAlias / {dir}/app.wsgi\nSSLEngine on\n\
                    SSLCertificateFile {dir}/server.crt\nSSLCertificateKeyFile {dir}/server.key\n\
                    SSLCACertificateFile {dir}/ca.crt\n";
        let config = site
            .translate(&format!("{base}SSLVerifyDepth 3\n"))
            .unwrap();
        assert_eq!(config.listeners[0].tls.as_ref().unwrap().verify_depth, 3);
        let errors = site
            .translate(&format!(
                "{base}<Location /admin>\n    SSLVerifyDepth 2\n</Location>\n"
            ))
            .unwrap_err();
        assert_eq!(
            errors,
            [format!(
                "{}:8: error: SSLVerifyDepth inside <Location> is not supported yet by \
                 start-server (check-config accepts it; see docs/apache.md for what runs)",
                site.conf()
            )]
        );
    }

    #[test]
    fn require_in_a_directory_needs_an_authority_too() {
        let site = Site::new("require-directory");
        let errors = site
            .translate(
                "Listen 8443\nWSGIScriptAlias / {dir}/app.wsgi\nSSLEngine on\n\
                 SSLCertificateFile {dir}/server.crt\nSSLCertificateKeyFile {dir}/server.key\n\
                 <Directory {dir}/static>\n    SSLVerifyClient require\n</Directory>\n",
            )
            .unwrap_err();
        assert_eq!(
            errors,
            [format!(
                "{}:7: error: SSLVerifyClient require needs SSLCACertificateFile or \
                 SSLCACertificatePath, the authorities that sign the client certificates",
                site.conf()
            )]
        );
    }

    #[test]
    fn require_needs_an_authority_file_or_directory() {
        let site = Site::new("require");
        let base = "Listen 8443\nWSGIScriptAlias / {dir}/app.wsgi\nSSLEngine on\n\
                    SSLCertificateFile {dir}/server.crt\nSSLCertificateKeyFile {dir}/server.key\n\
                    SSLVerifyClient require\n";
        assert_eq!(
            site.translate(base).unwrap_err(),
            [format!(
                "{}:6: error: SSLVerifyClient require needs SSLCACertificateFile or \
                 SSLCACertificatePath, the authorities that sign the client certificates",
                site.conf()
            )]
        );
        let with_path = format!("{base}SSLCACertificatePath {{dir}}\n");
        let config = site.translate(&with_path).unwrap();
        let tls = config.listeners[0].tls.as_ref().unwrap();
        assert!(!tls.accept_unverified);
        // optional_no_ca needs no authority at all.
        let no_ca = base.replace("require", "optional_no_ca");
        let config = site.translate(&no_ca).unwrap();
        let tls = config.listeners[0].tls.as_ref().unwrap();
        assert!(tls.accept_unverified && tls.client_ca_path.is_none());
    }
}
