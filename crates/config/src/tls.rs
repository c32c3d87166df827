//! HTTPS: which listeners speak TLS, with which certificates.
//!
//! The model keeps file paths, not keys: the files are read where they are used (each worker,
//! as root, before it switches to its group's user, so that key files readable only by root
//! work), and once by the server before anything listens, so that a bad file stops the start
//! with its name. Each file remembers the option or the `file:line` that named it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How one listener speaks TLS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerTls {
    /// The certificates it offers, chosen by the name a client asks for (SNI); the first for a
    /// client that names no host, or one that no certificate's names match.
    pub identities: Vec<TlsIdentity>,
    /// The authorities whose client certificates it accepts: the certificates of a PEM file
    /// (`--ssl-ca-certificate-file`, `SSLCACertificateFile`). With authorities (this file,
    /// [`client_ca_path`](Self::client_ca_path) or both), the handshake asks every client for a
    /// certificate and checks the one it gets; which URLs require one is said by
    /// [`ServerConfig::client_certificates`](crate::ServerConfig::client_certificates).
    pub client_ca: Option<NamedFile>,
    /// More authorities: every PEM certificate file in a directory (`SSLCACertificatePath`).
    pub client_ca_path: Option<NamedFile>,
    /// Whether the handshake also accepts a client certificate no authority signed
    /// (`SSLVerifyClient optional_no_ca`): one that is well-formed, within its dates and not
    /// limited to other uses than client authentication, from a client that proves it holds
    /// its key. The handshake then asks every client for a certificate, authorities or not;
    /// such a certificate never satisfies `SSLVerifyClient require`.
    pub accept_unverified: bool,
    /// How many authority certificates a client certificate's chain may have above the client's
    /// own, the trusted authority included (`SSLVerifyDepth`; mod_ssl's default, and
    /// mod_wsgi-express's, is [`DEFAULT_VERIFY_DEPTH`]): 0 accepts only a certificate that is
    /// itself an authority (or, under `optional_no_ca`, self-signed), 1 one an authority signed
    /// directly, 2 one signed through one intermediate authority, and so on. A longer chain
    /// fails the handshake, as with mod_ssl.
    pub verify_depth: u32,
    /// Whether requests get the `SSL_*` environ keys (`--ssl-environment`,
    /// `SSLOptions +StdEnvVars`).
    pub environment: bool,
    /// Whether requests get the certificates themselves, PEM (`SSLOptions +ExportCertData`):
    /// `SSL_SERVER_CERT`, `SSL_CLIENT_CERT` and `SSL_CLIENT_CERT_CHAIN_n`.
    pub export_certificates: bool,
    /// The protocol versions it speaks (`SSLProtocol`).
    pub protocols: TlsProtocols,
}

/// mod_ssl's `SSLVerifyDepth` when none is given: a client certificate an authority signed
/// directly.
pub const DEFAULT_VERIFY_DEPTH: u32 = 1;

/// The TLS versions a listener speaks: rustls has none older than 1.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsProtocols {
    /// TLS 1.2.
    pub tls12: bool,
    /// TLS 1.3.
    pub tls13: bool,
}

impl TlsProtocols {
    /// Both.
    pub const ALL: TlsProtocols = TlsProtocols {
        tls12: true,
        tls13: true,
    };
}

/// What mod_ssl asks of the requests under a URL path: a client certificate
/// (`--ssl-verify-client`, `SSLVerifyClient` in a `<Location>` or a `<Directory>`), or TLS at all
/// (`SSLRequireSSL`). Without a rule, neither is required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientCertificateRule {
    /// The URL path (and what is below it).
    pub prefix: crate::model::MountPoint,
    /// What it asks.
    pub requirement: TlsRequirement,
    /// The only virtual host it applies in; every one when `None`.
    pub host: Option<usize>,
}

/// What a [`ClientCertificateRule`] asks of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TlsRequirement {
    /// Over TLS, whether a client certificate one of the listener's authorities signed is
    /// needed (`SSLVerifyClient require`, true) or not (`none`, `optional`, `optional_no_ca`).
    /// The most specific of these rules for a path wins (of equally specific ones, the last; the
    /// Apache translation leaves out a `<Directory>`'s rule that a `<Location>` around it
    /// overrides, as httpd merges `<Location>` sections last). A request in the clear is not
    /// concerned, as with mod_ssl.
    ClientCertificate(bool),
    /// The request must come over TLS (`SSLRequireSSL`): in the clear, a 403. Every such rule
    /// around a path counts (httpd has no way to turn it off below).
    Tls,
}

/// A certificate with its key, for some host names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsIdentity {
    /// The host names (lower case, `*` and `?` wildcards as in `ServerAlias`) it is chosen
    /// for; empty: only as the listener's default.
    pub names: Vec<String>,
    /// The certificate (PEM), and the intermediate certificates after it, if the file has
    /// them.
    pub certificate: NamedFile,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: NamedFile,
    /// More intermediate certificates (PEM), sent after the certificate's own
    /// (`--ssl-certificate-chain-file`, `SSLCertificateChainFile`).
    pub chain: Option<NamedFile>,
}

/// A file, and where the configuration names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedFile {
    /// The file.
    pub path: PathBuf,
    /// The option (`--ssl-certificate-file`) or `file:line` that named it.
    pub origin: String,
}

impl NamedFile {
    /// `path`, named by `origin`.
    pub fn new(path: PathBuf, origin: impl Into<String>) -> NamedFile {
        NamedFile {
            path,
            origin: origin.into(),
        }
    }
}
