//! Client certificates: the authorities that sign them (`SSLCACertificateFile`,
//! `SSLCACertificatePath`), how the handshake checks one (`SSLVerifyClient`), and what
//! mod_ssl's `SSL_CLIENT_VERIFY` says of it.
//!
//! With authorities, the handshake asks every client for a certificate and checks one it
//! sends against them (rustls' [`WebPkiClientVerifier`]); one they did not sign fails the
//! handshake. With `SSLVerifyClient optional_no_ca`, [`AnyClientCertificate`] accepts one no
//! authority signed too, as mod_ssl does, if the certificate itself is acceptable: well-formed,
//! within its dates, and not limited to other uses than client authentication (OpenSSL's
//! `sslclient` purpose; mod_ssl fails the handshake on an expired certificate or one for
//! servers only). The client still proves it holds the certificate's key: the handshake's
//! signature is checked as for any certificate.
//!
//! `SSLVerifyDepth` bounds the chain ([`DepthLimited`]): after the authorities' check, the
//! chain is followed from the client's certificate to the authority, and one with more
//! authority certificates above the client's than the depth (the authority included, as
//! mod_ssl counts them: its default 1 takes a certificate an authority signed directly, not one
//! signed through an intermediate) fails the handshake, as with mod_ssl, which logs
//! `Certificate Verification: Certificate Chain too long (chain has 2 certificates, but maximum
//! allowed are only 1)`. A chain no authority vouches for (`optional_no_ca`) is bounded the
//! same way, by the chain OpenSSL would build of what the client sent.
//!
//! A verifier keeps nothing per connection, so what `SSL_CLIENT_VERIFY` says of an accepted
//! certificate is found again once the handshake is done ([`ClientCheck::judge`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use oxwsgi_config::tls::{ListenerTls, NamedFile};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, OtherError, SignatureScheme,
};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::{TlsError, certificates};

/// What a listener asks of clients: the handshake's verifier (none: no certificate is asked
/// for), and how a certificate it accepted is judged afterwards.
pub(super) fn verifier(
    tls: &ListenerTls,
    provider: &Arc<CryptoProvider>,
) -> Result<(Option<Arc<dyn ClientCertVerifier>>, ClientCheck), TlsError> {
    let mut authorities: Vec<(CertificateDer<'static>, &NamedFile, PathBuf)> = Vec::new();
    if let Some(file) = &tls.client_ca {
        for certificate in certificates(file)? {
            authorities.push((certificate, file, file.path.clone()));
        }
    }
    if let Some(directory) = &tls.client_ca_path {
        authorities.extend(
            directory_certificates(directory)?
                .into_iter()
                .map(|(certificate, path)| (certificate, directory, path)),
        );
    }
    let signed_by = if authorities.is_empty() {
        None
    } else {
        let subjects = authority_subjects(&authorities);
        let inner = authorities_verifier(authorities, provider)?;
        let limited: Arc<dyn ClientCertVerifier> = Arc::new(DepthLimited {
            inner,
            authorities: subjects,
            depth: tls.verify_depth,
        });
        Some(limited)
    };
    Ok(match (signed_by, tls.accept_unverified) {
        (signed_by, false) => (signed_by, ClientCheck::Handshake),
        (signed_by, true) => {
            let any = AnyClientCertificate {
                authorities: signed_by.clone(),
                algorithms: provider.signature_verification_algorithms,
                depth: tls.verify_depth,
            };
            (Some(Arc::new(any)), ClientCheck::Generous(signed_by))
        }
    })
}

/// Asks every client for a certificate, and checks one it sends against `authorities` (each
/// with the file or directory that named it and the file it came from). A client may send
/// none: whether a URL needs one is decided per request (httpd's `SSLVerifyClient require`
/// in a `<Location>`), so that it gets a 403 page there rather than a failed handshake
/// everywhere.
fn authorities_verifier(
    authorities: Vec<(CertificateDer<'static>, &NamedFile, PathBuf)>,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    let mut seen: Vec<CertificateDer<'static>> = Vec::new();
    let first = authorities[0].1;
    for (certificate, named, path) in authorities {
        // A directory made by c_rehash has each certificate twice: its file and the link.
        if seen.contains(&certificate) {
            continue;
        }
        roots
            .add(certificate.clone())
            .map_err(|err| TlsError::BadFile {
                origin: named.origin.clone(),
                path,
                problem: format!("a certificate in it cannot be an authority: {err}"),
            })?;
        seen.push(certificate);
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider))
        .allow_unauthenticated()
        .build()
        .map_err(|err| TlsError::BadFile {
            origin: first.origin.clone(),
            path: first.path.clone(),
            problem: err.to_string(),
        })
}

/// The certificates of an `SSLCACertificatePath` directory, each with its file: those of
/// every file in it (or symbolic link to one) that holds PEM certificates, in the order of
/// their names. mod_ssl lets OpenSSL look authorities up by the hashed names `c_rehash` and
/// `openssl rehash` make (`5d30f3c5.0`, a link to the certificate's file); reading every file
/// finds the same certificates, with or without the links. Files without a PEM certificate (a
/// README, a key, a revocation list) and links to nothing are passed over; a directory with
/// no certificate at all is an error, as with httpd.
fn directory_certificates(
    directory: &NamedFile,
) -> Result<Vec<(CertificateDer<'static>, PathBuf)>, TlsError> {
    let unreadable = |path: &Path, source| TlsError::Unreadable {
        origin: directory.origin.clone(),
        path: path.to_path_buf(),
        source,
    };
    let mut paths = std::fs::read_dir(&directory.path)
        .and_then(|entries| {
            entries
                .map(|entry| entry.map(|entry| entry.path()))
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(|source| unreadable(&directory.path, source))?;
    paths.sort();
    let mut found = Vec::new();
    for path in paths {
        // The file a link leads to.
        match std::fs::metadata(&path) {
            Ok(metadata) if metadata.is_dir() => continue,
            Ok(_) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(unreadable(&path, source)),
        }
        let pem = std::fs::read(&path).map_err(|source| unreadable(&path, source))?;
        let Ok(certificates) = CertificateDer::pem_slice_iter(&pem).collect::<Result<Vec<_>, _>>()
        else {
            continue;
        };
        found.extend(certificates.into_iter().map(|c| (c, path.clone())));
    }
    if found.is_empty() {
        return Err(TlsError::BadFile {
            origin: directory.origin.clone(),
            path: directory.path.clone(),
            problem: "no PEM certificate in any file of the directory; give the directory \
                      of the authorities' certificates (files that start with -----BEGIN \
                      CERTIFICATE-----)"
                .to_owned(),
        });
    }
    Ok(found)
}

/// How a listener judges a client certificate once the handshake accepted it.
#[derive(Debug, Clone)]
pub(super) enum ClientCheck {
    /// The handshake accepted only certificates the authorities signed.
    Handshake,
    /// `optional_no_ca`: it accepted any acceptable certificate; those the authorities (when
    /// there are some) signed are verified.
    Generous(Option<Arc<dyn ClientCertVerifier>>),
}

/// What mod_ssl's `SSL_CLIENT_VERIFY` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ClientVerify {
    /// `NONE`: no certificate.
    None,
    /// `SUCCESS`: one the authorities signed.
    Success,
    /// `FAILED:reason`: one accepted by `optional_no_ca` without an authority, with OpenSSL's
    /// reason, as httpd 2.4 reports it (mod_ssl's `GENEROUS` needs a verify result OpenSSL
    /// never leaves when it found no authority).
    Failed(&'static str),
}

impl ClientVerify {
    /// The variable's value.
    pub(super) fn value(self) -> String {
        match self {
            ClientVerify::None => "NONE".to_owned(),
            ClientVerify::Success => "SUCCESS".to_owned(),
            ClientVerify::Failed(reason) => format!("FAILED:{reason}"),
        }
    }
}

impl ClientCheck {
    /// What the certificate chain a client sent (none: `None`) amounts to.
    pub(super) fn judge(&self, chain: Option<&[CertificateDer<'_>]>) -> ClientVerify {
        let Some((end_entity, intermediates)) = chain.and_then(<[_]>::split_first) else {
            return ClientVerify::None;
        };
        match self {
            ClientCheck::Handshake => ClientVerify::Success,
            ClientCheck::Generous(Some(authorities))
                if authorities
                    .verify_client_cert(end_entity, intermediates, UnixTime::now())
                    .is_ok() =>
            {
                ClientVerify::Success
            }
            ClientCheck::Generous(_) => {
                ClientVerify::Failed(unverified_reason(end_entity, intermediates))
            }
        }
    }
}

/// OpenSSL's reason for a chain no authority vouches for (`X509_verify_cert_error_string`,
/// OpenSSL 3's wording), from the chain it builds of what the client sent: the end-entity
/// certificate, then the certificate that issued it, and so on, by their names.
fn unverified_reason(
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
) -> &'static str {
    match unverified_chain(end_entity, intermediates) {
        None | Some((1, false)) => "unable to verify the first certificate",
        Some((1, true)) => "self-signed certificate",
        Some((_, true)) => "self-signed certificate in certificate chain",
        Some((_, false)) => "unable to get local issuer certificate",
    }
}

/// The chain OpenSSL builds of what a client sent when no authority vouches for it: the
/// end-entity certificate, then the certificate that issued it, and so on, by their names,
/// until a self-issued one or one whose issuer was not sent. Its length, and whether it ends
/// with a self-issued certificate; `None` if the client's certificate cannot be read.
fn unverified_chain(
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
) -> Option<(usize, bool)> {
    let first = parse(end_entity)?;
    let sent: Vec<X509Certificate<'_>> = intermediates.iter().filter_map(parse).collect();
    let self_issued = |c: &X509Certificate<'_>| c.issuer().as_raw() == c.subject().as_raw();
    let mut length = 1;
    let mut last = &first;
    // A chain takes each certificate once: at most one step per certificate sent.
    while !self_issued(last) && length <= sent.len() {
        let issuer = sent
            .iter()
            .find(|c| c.subject().as_raw() == last.issuer().as_raw());
        let Some(issuer) = issuer else {
            break;
        };
        length += 1;
        last = issuer;
    }
    Some((length, self_issued(last)))
}

fn parse<'a>(certificate: &'a CertificateDer<'_>) -> Option<X509Certificate<'a>> {
    X509Certificate::from_der(certificate)
        .ok()
        .map(|(_, parsed)| parsed)
}

/// The authorities as [`DepthLimited`] looks for them: each certificate with its subject
/// name (DER, as certificates name their issuer).
fn authority_subjects(
    authorities: &[(CertificateDer<'static>, &NamedFile, PathBuf)],
) -> Vec<(CertificateDer<'static>, Vec<u8>)> {
    authorities
        .iter()
        .filter_map(|(certificate, _, _)| {
            let subject = parse(certificate)?.subject().as_raw().to_vec();
            Some((certificate.clone(), subject))
        })
        .collect()
}

/// How many authority certificates the chain from `end_entity` to a trusted authority has
/// above the client's own certificate, the authority included (the highest depth at which
/// OpenSSL's verify callback sees a certificate): 0 when the certificate is itself an
/// authority, 1 when an authority issued it, 2 through one intermediate that the client sent,
/// and so on. OpenSSL looks among the trusted certificates first at each step, so the
/// shortest chain counts. A chain the authorities' check accepted always reaches one; should
/// the names not lead there, every certificate sent is counted.
fn verified_depth(
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    authorities: &[(CertificateDer<'static>, Vec<u8>)],
) -> usize {
    let longest = intermediates.len() + 1;
    if authorities
        .iter()
        .any(|(authority, _)| authority.as_ref() == end_entity.as_ref())
    {
        return 0;
    }
    let Some(first) = parse(end_entity) else {
        return longest;
    };
    let sent: Vec<X509Certificate<'_>> = intermediates.iter().filter_map(parse).collect();
    let mut taken = vec![false; sent.len()];
    let mut level = vec![first];
    for depth in 1..=longest {
        let trusted = level.iter().any(|certificate| {
            let issuer = certificate.issuer().as_raw();
            authorities.iter().any(|(_, subject)| subject == issuer)
        });
        if trusted {
            return depth;
        }
        let mut next = Vec::new();
        for certificate in &level {
            for (index, candidate) in sent.iter().enumerate() {
                if !taken[index] && candidate.subject().as_raw() == certificate.issuer().as_raw() {
                    taken[index] = true;
                    next.push(candidate.clone());
                }
            }
        }
        if next.is_empty() {
            break;
        }
        level = next;
    }
    longest
}

/// A chain longer than `SSLVerifyDepth` allows, in mod_ssl's words (whose "certificates" are
/// those above the client's).
#[derive(Debug)]
struct ChainTooLong {
    found: usize,
    allowed: u32,
}

impl std::fmt::Display for ChainTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Certificate Verification: Certificate Chain too long (chain has {} certificates, \
             but maximum allowed are only {}; SSLVerifyDepth)",
            self.found, self.allowed
        )
    }
}

impl std::error::Error for ChainTooLong {}

/// The handshake's refusal of a chain of `found` authority certificates where `allowed` are.
/// rustls answers it with a `handshake_failure` alert (mod_ssl's answer is OpenSSL's
/// `internal_error`, an accident of its verify callback refusing a chain OpenSSL accepted).
fn chain_too_long(found: usize, allowed: u32) -> rustls::Error {
    rustls::Error::Other(OtherError(Arc::new(ChainTooLong { found, allowed })))
}

/// Whether a verifier's error is [`chain_too_long`]'s.
fn is_chain_too_long(err: &rustls::Error) -> bool {
    matches!(err, rustls::Error::Other(OtherError(inner)) if inner.is::<ChainTooLong>())
}

/// The authorities' verifier, and `SSLVerifyDepth` on the chain it accepted.
#[derive(Debug)]
struct DepthLimited {
    inner: Arc<dyn ClientCertVerifier>,
    /// The authorities, each with its subject name.
    authorities: Vec<(CertificateDer<'static>, Vec<u8>)>,
    /// The most authority certificates above the client's.
    depth: u32,
}

impl ClientCertVerifier for DepthLimited {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let found = verified_depth(end_entity, intermediates, &self.authorities);
        if found > self.depth as usize {
            return Err(chain_too_long(found, self.depth));
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner
            .verify_tls12_signature(message, certificate, signature)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner
            .verify_tls13_signature(message, certificate, signature)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `SSLVerifyClient optional_no_ca`: a client certificate the authorities (if any) signed, or
/// one no authority vouches for that is acceptable by itself ([`acceptable`]).
#[derive(Debug)]
struct AnyClientCertificate {
    /// The listener's authorities.
    authorities: Option<Arc<dyn ClientCertVerifier>>,
    /// What the handshake's signature may be made with.
    algorithms: WebPkiSupportedAlgorithms,
    /// `SSLVerifyDepth`, for a chain no authority vouches for.
    depth: u32,
}

impl ClientCertVerifier for AnyClientCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // None without authorities: a client should then send any certificate it has.
        self.authorities
            .as_ref()
            .map_or(&[], |authorities| authorities.root_hint_subjects())
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if let Some(authorities) = &self.authorities {
            match authorities.verify_client_cert(end_entity, intermediates, now) {
                Ok(verified) => return Ok(verified),
                // mod_ssl lets only the errors of a missing authority pass.
                Err(err) if is_chain_too_long(&err) => return Err(err),
                Err(_) => {}
            }
        }
        acceptable(end_entity, now)?;
        // The highest depth OpenSSL reaches in the chain it builds of what was sent.
        let found = unverified_chain(end_entity, intermediates).map_or(0, |(length, _)| length - 1);
        if found > self.depth as usize {
            return Err(chain_too_long(found, self.depth));
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, certificate, signature, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, certificate, signature, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Whether a certificate no authority vouches for is acceptable by itself: well-formed (as
/// rustls parses certificates), within its dates at `now`, and, when it says what it is for
/// (an extended key usage), for client authentication.
fn acceptable(certificate: &CertificateDer<'_>, now: UnixTime) -> Result<(), rustls::Error> {
    ParsedCertificate::try_from(certificate)?;
    let Ok((_, parsed)) = X509Certificate::from_der(certificate) else {
        return Err(CertificateError::BadEncoding.into());
    };
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let validity = parsed.validity();
    if now < validity.not_before.timestamp() {
        return Err(CertificateError::NotValidYet.into());
    }
    if now > validity.not_after.timestamp() {
        return Err(CertificateError::Expired.into());
    }
    match parsed.extended_key_usage() {
        Ok(None) => Ok(()),
        Ok(Some(usage)) if usage.value.client_auth => Ok(()),
        Ok(Some(_)) => Err(CertificateError::InvalidPurpose.into()),
        Err(_) => Err(CertificateError::BadEncoding.into()),
    }
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
