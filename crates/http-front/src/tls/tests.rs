//! Whole handshakes, in memory: a rustls client against a listener's configuration, and what
//! the application learns of the connection.

use std::path::PathBuf;
use std::sync::Arc;

use oxwsgi_config::tls::{
    ClientCertificateRule, DEFAULT_VERIFY_DEPTH, ListenerTls, NamedFile, TlsIdentity, TlsProtocols,
    TlsRequirement,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{ClientConfig, ClientConnection, ServerConnection, SupportedProtocolVersion};

use super::fixtures::{
    ALICE, ALICE_KEY, BOB, BOB_KEY, MIDDLE, ROOT, ROOT_KEY, SELFIE, SELFIE_KEY, SERVER, SERVER_KEY,
    SERVER_ONLY, SERVER_ONLY_KEY,
};
use super::{ClientCertificates, TlsConfig, TlsDetails, server_config};

/// The files of a listener: the server's certificate and key, and the root as the only
/// authority (`authorities/root.pem`); removed when dropped.
struct Files(PathBuf);

impl Files {
    fn new(name: &str) -> Files {
        let dir =
            std::env::temp_dir().join(format!("oxwsgi-tls-tests-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("authorities")).unwrap();
        std::fs::write(dir.join("server.crt"), SERVER).unwrap();
        std::fs::write(dir.join("server.key"), SERVER_KEY).unwrap();
        std::fs::write(dir.join("authorities/root.pem"), ROOT).unwrap();
        Files(dir)
    }

    fn named(&self, name: &str) -> NamedFile {
        NamedFile::new(self.0.join(name), format!("{name}:1"))
    }

    /// A listener that exports the certificates, with the authorities or without, and
    /// `optional_no_ca` or not, with mod_ssl's default `SSLVerifyDepth`.
    fn listener(&self, authorities: bool, accept_unverified: bool) -> TlsConfig {
        self.listener_with_depth(authorities, accept_unverified, DEFAULT_VERIFY_DEPTH)
    }

    /// [`Files::listener`] with `SSLVerifyDepth` `depth`.
    fn listener_with_depth(
        &self,
        authorities: bool,
        accept_unverified: bool,
        depth: u32,
    ) -> TlsConfig {
        let tls = ListenerTls {
            identities: vec![TlsIdentity {
                names: vec!["localhost".to_owned()],
                certificate: self.named("server.crt"),
                key: self.named("server.key"),
                chain: None,
            }],
            client_ca: None,
            client_ca_path: authorities.then(|| self.named("authorities")),
            accept_unverified,
            verify_depth: depth,
            environment: true,
            export_certificates: true,
            protocols: TlsProtocols::ALL,
        };
        server_config(&tls, false).unwrap()
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
}

/// A client that trusts the root, speaks `version`, and presents `chain` signing with `key`
/// (whether or not it is the certificate's: the server must find out).
fn client(chain: &[&str], key: &str, version: &'static SupportedProtocolVersion) -> ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der(ROOT)).unwrap();
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
    let signing = provider.key_provider.load_private_key(key).unwrap();
    let certified = CertifiedKey::new(chain.iter().map(|pem| der(pem)).collect(), signing);
    ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[version])
        .unwrap()
        .with_root_certificates(roots)
        .with_client_cert_resolver(Arc::new(SingleCertAndKey::from(certified)))
}

/// A client that trusts the root and has no certificate.
fn anonymous() -> ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der(ROOT)).unwrap();
    ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// Runs a handshake between `client` and the listener, then what the application learns of
/// the connection; the server's error when it refuses the handshake.
fn handshake(listener: &TlsConfig, client: ClientConfig) -> Result<TlsDetails, rustls::Error> {
    let name = "localhost".try_into().unwrap();
    let mut client = ClientConnection::new(Arc::new(client), name).unwrap();
    let mut server = ServerConnection::new(Arc::clone(&listener.rustls)).unwrap();
    for _ in 0..10 {
        let mut flight = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut flight).unwrap();
        }
        let mut unread = flight.as_slice();
        while !unread.is_empty() {
            server.read_tls(&mut unread).unwrap();
            server.process_new_packets()?;
        }
        let mut flight = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut flight).unwrap();
        }
        let mut unread = flight.as_slice();
        while !unread.is_empty() {
            client.read_tls(&mut unread).unwrap();
            // The server's refusal reaches the client as an alert: the server's error says
            // more.
            let _ = client.process_new_packets();
        }
        if !server.is_handshaking() && !client.is_handshaking() {
            return Ok(listener.details(&server));
        }
    }
    panic!("the handshake did not finish");
}

/// The value of a variable the application gets.
fn variable<'d>(details: &'d TlsDetails, name: &str) -> Option<&'d str> {
    details
        .environment
        .as_ref()?
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.as_str())
}

const VERSIONS: [&SupportedProtocolVersion; 2] = [&rustls::version::TLS13, &rustls::version::TLS12];

#[test]
fn optional_no_ca_accepts_a_self_signed_certificate_and_says_it_is_unverified() {
    let files = Files::new("self-signed");
    for authorities in [false, true] {
        let listener = files.listener(authorities, true);
        for version in VERSIONS {
            let details = handshake(&listener, client(&[SELFIE], SELFIE_KEY, version)).unwrap();
            assert!(!details.client_verified);
            assert_eq!(
                variable(&details, "SSL_CLIENT_VERIFY"),
                Some("FAILED:self-signed certificate")
            );
            assert_eq!(variable(&details, "SSL_CLIENT_S_DN"), Some("CN=selfie"));
            // As OpenSSL writes PEM, byte for byte.
            assert_eq!(variable(&details, "SSL_CLIENT_CERT"), Some(SELFIE));
            assert_eq!(variable(&details, "SSL_SERVER_CERT"), Some(SERVER));
            assert_eq!(variable(&details, "SSL_CLIENT_CERT_CHAIN_0"), None);
        }
    }
}

#[test]
fn optional_no_ca_still_needs_the_client_to_hold_the_certificates_key() {
    let files = Files::new("stranger");
    let listener = files.listener(false, true);
    for version in VERSIONS {
        let refused = handshake(&listener, client(&[SELFIE], ROOT_KEY, version)).unwrap_err();
        assert!(
            matches!(
                refused,
                rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature)
            ),
            "{version:?}: {refused:?}"
        );
    }
}

#[test]
fn optional_no_ca_refuses_a_certificate_for_servers_only() {
    let files = Files::new("servers-only");
    let listener = files.listener(false, true);
    let refused = handshake(
        &listener,
        client(&[SERVER_ONLY], SERVER_ONLY_KEY, VERSIONS[0]),
    )
    .unwrap_err();
    assert_eq!(
        refused,
        rustls::Error::InvalidCertificate(rustls::CertificateError::InvalidPurpose)
    );
}

#[test]
fn a_certificate_the_authorities_signed_is_verified_with_or_without_optional_no_ca() {
    let files = Files::new("verified");
    for accept_unverified in [false, true] {
        // Bob's chain has an intermediate: SSLVerifyDepth 2.
        let listener = files.listener_with_depth(true, accept_unverified, 2);
        let details = handshake(&listener, client(&[ALICE], ALICE_KEY, VERSIONS[0])).unwrap();
        assert!(details.client_verified);
        assert_eq!(variable(&details, "SSL_CLIENT_VERIFY"), Some("SUCCESS"));
        assert_eq!(variable(&details, "SSL_CLIENT_CERT"), Some(ALICE));
        // The chain the client sent after its own certificate, in its order.
        let details = handshake(&listener, client(&[BOB, MIDDLE], BOB_KEY, VERSIONS[1])).unwrap();
        assert!(details.client_verified);
        assert_eq!(variable(&details, "SSL_CLIENT_CERT"), Some(BOB));
        assert_eq!(variable(&details, "SSL_CLIENT_CERT_CHAIN_0"), Some(MIDDLE));
        assert_eq!(variable(&details, "SSL_CLIENT_CERT_CHAIN_1"), None);
    }
    // Without optional_no_ca, one no authority signed fails the handshake.
    let listener = files.listener(true, false);
    let refused = handshake(&listener, client(&[SELFIE], SELFIE_KEY, VERSIONS[0])).unwrap_err();
    assert!(
        matches!(refused, rustls::Error::InvalidCertificate(_)),
        "{refused:?}"
    );
}

#[test]
fn export_cert_data_alone_gives_the_certificates_and_an_empty_client_one() {
    let files = Files::new("export-only");
    let tls = ListenerTls {
        identities: vec![TlsIdentity {
            names: Vec::new(),
            certificate: files.named("server.crt"),
            key: files.named("server.key"),
            chain: None,
        }],
        client_ca: None,
        client_ca_path: None,
        accept_unverified: false,
        verify_depth: DEFAULT_VERIFY_DEPTH,
        environment: false,
        export_certificates: true,
        protocols: TlsProtocols::ALL,
    };
    let listener = server_config(&tls, false).unwrap();
    let details = handshake(&listener, anonymous()).unwrap();
    assert!(!details.client_verified);
    assert_eq!(
        details.environment,
        Some(vec![
            ("SSL_CLIENT_CERT", String::new()),
            ("SSL_SERVER_CERT", SERVER.to_owned()),
        ])
    );
}

#[test]
fn tls_is_required_under_every_require_ssl_rule_and_certificates_by_the_most_specific() {
    let rule = |prefix: &str, requirement| ClientCertificateRule {
        prefix: oxwsgi_config::MountPoint::parse(prefix).unwrap(),
        requirement,
        host: None,
    };
    let rules = ClientCertificates::new(&[
        rule("/admin", TlsRequirement::ClientCertificate(true)),
        rule("/admin/open", TlsRequirement::ClientCertificate(false)),
        rule("/admin", TlsRequirement::Tls),
        // Below an SSLRequireSSL, a rule that says nothing of TLS leaves it required.
        rule("/secure", TlsRequirement::Tls),
        rule("/secure/inner", TlsRequirement::ClientCertificate(false)),
    ]);
    assert!(rules.required(b"/admin/x"));
    assert!(!rules.required(b"/admin/open/x"));
    assert!(!rules.required(b"/other"));
    assert!(rules.tls_required(b"/admin"));
    assert!(rules.tls_required(b"/admin/open/x"));
    assert!(rules.tls_required(b"/secure/inner/x"));
    assert!(!rules.tls_required(b"/securely"));
    assert!(!rules.tls_required(b"/"));
}

/// The refusal of a chain of `found` authority certificates where `allowed` are.
fn too_long(found: usize, allowed: u32) -> String {
    format!(
        "other error: Certificate Verification: Certificate Chain too long (chain has {found} \
         certificates, but maximum allowed are only {allowed}; SSLVerifyDepth)"
    )
}

#[test]
fn verify_depth_counts_the_authorities_above_the_clients_certificate_as_mod_ssl_does() {
    let files = Files::new("depth");
    for accept_unverified in [false, true] {
        for version in VERSIONS {
            // mod_ssl's default, 1: Alice's (the root signed it) but not Bob's (through the
            // middle authority), also under optional_no_ca.
            let listener = files.listener(true, accept_unverified);
            let details = handshake(&listener, client(&[ALICE], ALICE_KEY, version)).unwrap();
            assert!(details.client_verified);
            let refused =
                handshake(&listener, client(&[BOB, MIDDLE], BOB_KEY, version)).unwrap_err();
            assert_eq!(refused.to_string(), too_long(2, 1), "{version:?}");
            // The root sent along changes nothing: the chain ends at the trusted root.
            let refused =
                handshake(&listener, client(&[BOB, MIDDLE, ROOT], BOB_KEY, version)).unwrap_err();
            assert_eq!(refused.to_string(), too_long(2, 1), "{version:?}");
            let deeper = files.listener_with_depth(true, accept_unverified, 2);
            let details = handshake(&deeper, client(&[BOB, MIDDLE], BOB_KEY, version)).unwrap();
            assert!(details.client_verified);
            // 0: only a certificate that is itself an authority.
            let none = files.listener_with_depth(true, accept_unverified, 0);
            let refused = handshake(&none, client(&[ALICE], ALICE_KEY, version)).unwrap_err();
            assert_eq!(refused.to_string(), too_long(1, 0), "{version:?}");
        }
    }
}

#[test]
fn verify_depth_bounds_an_unverified_chain_as_openssl_builds_it() {
    let files = Files::new("depth-unverified");
    // optional_no_ca without authorities: Bob's chain stops at the middle authority, whose
    // issuer was not sent: depth 1.
    let listener = files.listener_with_depth(false, true, 1);
    let details = handshake(&listener, client(&[BOB, MIDDLE], BOB_KEY, VERSIONS[0])).unwrap();
    assert_eq!(
        variable(&details, "SSL_CLIENT_VERIFY"),
        Some("FAILED:unable to get local issuer certificate")
    );
    let listener = files.listener_with_depth(false, true, 0);
    let refused = handshake(&listener, client(&[BOB, MIDDLE], BOB_KEY, VERSIONS[0])).unwrap_err();
    assert_eq!(refused.to_string(), too_long(1, 0));
    // A self-signed certificate alone is at depth 0.
    let details = handshake(&listener, client(&[SELFIE], SELFIE_KEY, VERSIONS[1])).unwrap();
    assert_eq!(
        variable(&details, "SSL_CLIENT_VERIFY"),
        Some("FAILED:self-signed certificate")
    );
}
