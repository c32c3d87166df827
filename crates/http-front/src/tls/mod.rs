//! HTTPS with rustls: the certificates of a listener, read from their files, and the handshake.
//!
//! The files are read by whoever starts serving — each worker, as root, before it switches to
//! its group's user — so a key file only root may read works. The server reads them once more
//! before anything listens ([`server_config`] from `main`), so that a missing file, a file
//! without a certificate or key, or a key that is not the certificate's stops the start with
//! the file and the option or line that named it.
//!
//! Protocols: TLS 1.2 and 1.3, rustls' safe defaults (no SSLv3, TLS 1.0 or 1.1, no weak
//! ciphers). The certificate is chosen by the name the client asks for (SNI), matched like
//! `ServerAlias` names; a client that names none, or an unknown name, gets the first.

use std::path::PathBuf;
use std::sync::Arc;

use oxwsgi_config::tls::{ListenerTls, NamedFile, TlsIdentity};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

pub use oxwsgi_exchange::TlsDetails;

/// Why a listener's certificates cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file cannot be read.
    #[error("{origin} '{path}' cannot be read: {source}", path = path.display())]
    Unreadable {
        /// The option or `file:line` that named it.
        origin: String,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file has no usable PEM item of the kind it should have.
    #[error("{origin} '{path}': {problem}", path = path.display())]
    BadFile {
        /// The option or `file:line` that named it.
        origin: String,
        /// The file.
        path: PathBuf,
        /// What is wrong, and what the file should hold.
        problem: String,
    },
    /// The key is not the certificate's, or rustls cannot use it.
    #[error(
        "{key_origin} '{key}' cannot serve the certificate {certificate_origin} '{certificate}': \
         {reason}",
        key = key.display(),
        certificate = certificate.display()
    )]
    KeyRefused {
        /// The option or line that named the key.
        key_origin: String,
        /// The key file.
        key: PathBuf,
        /// The option or line that named the certificate.
        certificate_origin: String,
        /// The certificate file.
        certificate: PathBuf,
        /// rustls' reason.
        reason: String,
    },
}

mod details;

/// A listener's TLS settings, its certificates read.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    rustls: Arc<rustls::ServerConfig>,
    /// With the `SSL_*` variables: each certificate's names, and its `SSL_SERVER_*` ones.
    environment: Option<Arc<Vec<ServerCertificate>>>,
}

/// A certificate's host names, and its `SSL_SERVER_*` variables.
type ServerCertificate = (Vec<String>, Vec<(&'static str, String)>);

impl TlsConfig {
    /// What accepts the listener's connections.
    pub(crate) fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(Arc::clone(&self.rustls))
    }

    /// What the application may learn of a connection, once its handshake is done.
    pub(crate) fn details(&self, connection: &rustls::ServerConnection) -> TlsDetails {
        let client = connection
            .peer_certificates()
            .and_then(|chain| chain.first());
        let environment = self.environment.as_ref().map(|servers| {
            let mut variables = Vec::with_capacity(32);
            if let Some(version) = connection.protocol_version() {
                variables.push(("SSL_PROTOCOL", details::protocol(version).to_owned()));
            }
            if let Some(suite) = connection.negotiated_cipher_suite() {
                let (name, bits) = details::cipher(suite);
                variables.push(("SSL_CIPHER", name.to_owned()));
                variables.push(("SSL_CIPHER_USEKEYSIZE", bits.to_string()));
                variables.push(("SSL_CIPHER_ALGKEYSIZE", bits.to_string()));
            }
            variables.push(("SSL_VERSION_LIBRARY", RUSTLS.to_owned()));
            let server_name = connection.server_name();
            if let Some(name) = server_name {
                variables.push(("SSL_TLS_SNI", name.to_owned()));
            }
            variables.push((
                "SSL_CLIENT_VERIFY",
                if client.is_some() { "SUCCESS" } else { "NONE" }.to_owned(),
            ));
            if let Some(certificate) = client {
                variables.extend(details::certificate_variables(
                    certificate,
                    &details::CLIENT,
                ));
            }
            // The certificate the resolver chose: the same choice again.
            let server = server_name
                .and_then(|name| {
                    servers.iter().find(|(names, _)| {
                        names
                            .iter()
                            .any(|pattern| oxwsgi_config::host_name_matches(pattern, name))
                    })
                })
                .or_else(|| servers.first());
            if let Some((_, server)) = server {
                variables.extend(server.iter().cloned());
            }
            variables
        });
        TlsDetails {
            client_verified: client.is_some(),
            environment,
        }
    }
}

pub(crate) use details::VARIABLE_NAMES;

/// The `&'static` name of a variable mod_ssl defines.
pub(crate) fn variable_name(name: &str) -> Option<&'static str> {
    VARIABLE_NAMES.iter().copied().find(|known| *known == name)
}

/// `SSL_VERSION_LIBRARY`.
const RUSTLS: &str = "rustls/0.23";

/// The rustls configuration of a listener: its certificates, read now, and by ALPN HTTP/1.1,
/// or with `http2` also HTTP/2 (preferred).
pub fn server_config(tls: &ListenerTls, http2: bool) -> Result<TlsConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let identities = tls
        .identities
        .iter()
        .map(|identity| Ok((identity.names.clone(), certified_key(identity, &provider)?)))
        .collect::<Result<Vec<_>, TlsError>>()?;
    let resolver = Arc::new(ByName {
        identities: identities.clone(),
    });
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions(tls.protocols))
        .map_err(|err| TlsError::BadFile {
            origin: "the TLS settings".to_owned(),
            path: PathBuf::new(),
            problem: err.to_string(),
        })?;
    let builder = match &tls.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => builder.with_client_cert_verifier(client_verifier(ca, provider)?),
    };
    let mut config = builder.with_cert_resolver(resolver);
    // The server's order of cipher suites (rustls': strongest first), not the client's.
    config.ignore_client_order = true;
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    let environment = tls.environment.then(|| {
        let servers = identities
            .iter()
            .map(|(names, key)| {
                let variables = key
                    .end_entity_cert()
                    .map(|certificate| {
                        details::certificate_variables(certificate, &details::SERVER)
                    })
                    .unwrap_or_default();
                (names.clone(), variables)
            })
            .collect();
        Arc::new(servers)
    });
    Ok(TlsConfig {
        rustls: Arc::new(config),
        environment,
    })
}

/// rustls' versions for `protocols`.
fn versions(
    protocols: oxwsgi_config::tls::TlsProtocols,
) -> Vec<&'static rustls::SupportedProtocolVersion> {
    let mut versions = Vec::new();
    if protocols.tls13 {
        versions.push(&rustls::version::TLS13);
    }
    if protocols.tls12 {
        versions.push(&rustls::version::TLS12);
    }
    versions
}

/// The certificate chain and key of `identity`, checked to belong together.
fn certified_key(
    identity: &TlsIdentity,
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let mut chain = certificates(&identity.certificate)?;
    if let Some(more) = &identity.chain {
        chain.extend(certificates(more)?);
    }
    let key_file = &identity.key;
    let pem = read(key_file)?;
    let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|err| TlsError::BadFile {
        origin: key_file.origin.clone(),
        path: key_file.path.clone(),
        problem: format!(
            "no private key in it ({err}); give the PEM file that starts with -----BEGIN \
             PRIVATE KEY----- (or RSA PRIVATE KEY, EC PRIVATE KEY)"
        ),
    })?;
    let refused = |reason: String| TlsError::KeyRefused {
        key_origin: key_file.origin.clone(),
        key: key_file.path.clone(),
        certificate_origin: identity.certificate.origin.clone(),
        certificate: identity.certificate.path.clone(),
        reason,
    };
    CertifiedKey::from_der(chain, key, provider)
        .map(Arc::new)
        .map_err(|err| match err {
            rustls::Error::InconsistentKeys(_) => {
                refused("the key is not the certificate's (their public keys differ)".to_owned())
            }
            other => refused(other.to_string()),
        })
}

/// Asks every client for a certificate, and checks one it sends against the authorities of
/// `ca`. A client may send none: whether a URL needs one is decided per request (httpd's
/// `SSLVerifyClient require` in a `<Location>`), so that it gets a 403 page there rather than
/// a failed handshake everywhere.
fn client_verifier(
    ca: &NamedFile,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in certificates(ca)? {
        roots.add(certificate).map_err(|err| TlsError::BadFile {
            origin: ca.origin.clone(),
            path: ca.path.clone(),
            problem: format!("a certificate in it cannot be an authority: {err}"),
        })?;
    }
    rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .allow_unauthenticated()
        .build()
        .map_err(|err| TlsError::BadFile {
            origin: ca.origin.clone(),
            path: ca.path.clone(),
            problem: err.to_string(),
        })
}

/// The certificates of a PEM file (at least one).
fn certificates(file: &NamedFile) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(file)?;
    let bad = |problem: String| TlsError::BadFile {
        origin: file.origin.clone(),
        path: file.path.clone(),
        problem,
    };
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| bad(format!("not a PEM file of certificates: {err}")))?;
    if certificates.is_empty() {
        return Err(bad(
            "no certificate in it; give the PEM file that starts with -----BEGIN CERTIFICATE-----"
                .to_owned(),
        ));
    }
    Ok(certificates)
}

fn read(file: &NamedFile) -> Result<Vec<u8>, TlsError> {
    std::fs::read(&file.path).map_err(|source| TlsError::Unreadable {
        origin: file.origin.clone(),
        path: file.path.clone(),
        source,
    })
}

/// Chooses the certificate by the name the client asks for.
#[derive(Debug)]
struct ByName {
    /// Each certificate with its names, the default first.
    identities: Vec<(Vec<String>, Arc<CertifiedKey>)>,
}

impl ResolvesServerCert for ByName {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let chosen = hello.server_name().and_then(|name| {
            self.identities.iter().find(|(names, _)| {
                names
                    .iter()
                    .any(|pattern| oxwsgi_config::host_name_matches(pattern, name))
            })
        });
        chosen
            .or_else(|| self.identities.first())
            .map(|(_, key)| Arc::clone(key))
    }
}

/// Where requests over TLS need a client certificate: the most specific rule for a path wins.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClientCertificates(Vec<(oxwsgi_config::MountPoint, bool)>);

impl ClientCertificates {
    pub(crate) fn new(rules: &[oxwsgi_config::tls::ClientCertificateRule]) -> ClientCertificates {
        ClientCertificates(
            rules
                .iter()
                .map(|rule| (rule.prefix.clone(), rule.required))
                .collect(),
        )
    }

    /// Whether a request for the decoded, normalised `path` needs a client certificate.
    pub(crate) fn required(&self, path: &[u8]) -> bool {
        self.0
            .iter()
            .filter(|(prefix, _)| prefix.matches(path))
            // Of equally specific ones, the last.
            .max_by_key(|(prefix, _)| prefix.as_str().len())
            .is_some_and(|(_, required)| *required)
    }
}
