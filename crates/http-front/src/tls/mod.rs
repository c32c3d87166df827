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
//! `ServerAlias` names; a client that names none, or an unknown name, gets the first. Client
//! certificates: `client.rs`.

use std::path::PathBuf;
use std::sync::Arc;

use oxwsgi_config::tls::{ListenerTls, NamedFile, TlsIdentity, TlsRequirement};
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

mod client;
mod details;
#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;

/// A listener's TLS settings, its certificates read.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    rustls: Arc<rustls::ServerConfig>,
    /// What requests learn of the connection, when the listener passes something.
    environment: Option<Arc<Environment>>,
    /// How a client certificate the handshake accepted is judged.
    clients: client::ClientCheck,
}

/// The `SSL_*` variables a listener passes.
#[derive(Debug)]
struct Environment {
    /// mod_ssl's standard ones (`SSLOptions +StdEnvVars`).
    standard: bool,
    /// The certificates, PEM (`SSLOptions +ExportCertData`).
    certificates: bool,
    /// Each certificate's host names, and its `SSL_SERVER_*` variables.
    servers: Vec<ServerCertificate>,
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
        let chain = connection.peer_certificates();
        let verify = self.clients.judge(chain);
        let environment = self.environment.as_ref().map(|environment| {
            let mut variables = Vec::with_capacity(32);
            let server_name = connection.server_name();
            if environment.standard {
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
                if let Some(name) = server_name {
                    variables.push(("SSL_TLS_SNI", name.to_owned()));
                }
                variables.push(("SSL_CLIENT_VERIFY", verify.value()));
                if let Some(certificate) = chain.and_then(<[_]>::first) {
                    variables.extend(details::certificate_variables(
                        certificate,
                        &details::CLIENT,
                    ));
                }
            }
            if environment.certificates {
                variables.extend(details::client_certificates(chain.unwrap_or_default()));
            }
            // The certificate the resolver chose: the same choice again.
            let server = server_name
                .and_then(|name| {
                    environment.servers.iter().find(|(names, _)| {
                        names
                            .iter()
                            .any(|pattern| oxwsgi_config::host_name_matches(pattern, name))
                    })
                })
                .or_else(|| environment.servers.first());
            if let Some((_, server)) = server {
                variables.extend(server.iter().cloned());
            }
            variables
        });
        TlsDetails {
            client_verified: verify == client::ClientVerify::Success,
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
    let (verifier, clients) = client::verifier(tls, &provider)?;
    let builder = match verifier {
        None => builder.with_no_client_auth(),
        Some(verifier) => builder.with_client_cert_verifier(verifier),
    };
    let mut config = builder.with_cert_resolver(resolver);
    // The server's order of cipher suites (rustls': strongest first), not the client's.
    config.ignore_client_order = true;
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    let environment = (tls.environment || tls.export_certificates).then(|| {
        let servers = identities
            .iter()
            .map(|(names, key)| {
                let mut variables = Vec::new();
                if let Ok(certificate) = key.end_entity_cert() {
                    if tls.environment {
                        variables.extend(details::certificate_variables(
                            certificate,
                            &details::SERVER,
                        ));
                    }
                    if tls.export_certificates {
                        variables.push(("SSL_SERVER_CERT", details::pem(certificate)));
                    }
                }
                (names.clone(), variables)
            })
            .collect();
        Arc::new(Environment {
            standard: tls.environment,
            certificates: tls.export_certificates,
            servers,
        })
    });
    Ok(TlsConfig {
        rustls: Arc::new(config),
        environment,
        clients,
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

/// Where requests need a client certificate (`SSLVerifyClient`: over TLS, the most specific
/// rule for a path wins) or TLS at all (`SSLRequireSSL`: every rule around a path counts).
#[derive(Debug, Clone, Default)]
pub(crate) struct ClientCertificates {
    certificates: Vec<(oxwsgi_config::MountPoint, bool)>,
    tls: Vec<oxwsgi_config::MountPoint>,
}

impl ClientCertificates {
    pub(crate) fn new(rules: &[oxwsgi_config::tls::ClientCertificateRule]) -> ClientCertificates {
        let mut out = ClientCertificates::default();
        for rule in rules {
            match rule.requirement {
                TlsRequirement::ClientCertificate(required) => {
                    out.certificates.push((rule.prefix.clone(), required));
                }
                TlsRequirement::Tls => out.tls.push(rule.prefix.clone()),
            }
        }
        out
    }

    /// Whether a request over TLS for the decoded, normalised `path` needs a client
    /// certificate.
    pub(crate) fn required(&self, path: &[u8]) -> bool {
        self.certificates
            .iter()
            .filter(|(prefix, _)| prefix.matches(path))
            // Of equally specific ones, the last.
            .max_by_key(|(prefix, _)| prefix.as_str().len())
            .is_some_and(|(_, required)| *required)
    }

    /// Whether a request for the decoded, normalised `path` must come over TLS.
    pub(crate) fn tls_required(&self, path: &[u8]) -> bool {
        self.tls.iter().any(|prefix| prefix.matches(path))
    }
}
