use std::path::PathBuf;
use std::sync::Arc;

use oxwsgi_config::tls::{ListenerTls, NamedFile, TlsProtocols};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::{CertificateError, Error};

use super::super::fixtures::{ALICE, BOB, MIDDLE, ROOT, SELFIE, SERVER_ONLY};
use super::{
    ClientCheck, ClientVerify, acceptable, directory_certificates, unverified_reason,
    verified_depth,
};
use crate::tls::TlsError;

fn der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
}

/// A directory of its own, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("oxwsgi-tls-client-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn named(&self) -> NamedFile {
        NamedFile::new(self.0.clone(), "/etc/site.conf:7")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn listener(ca_path: NamedFile, accept_unverified: bool) -> ListenerTls {
    ListenerTls {
        identities: Vec::new(),
        client_ca: None,
        client_ca_path: Some(ca_path),
        accept_unverified,
        // Bob's chain has an intermediate.
        verify_depth: 2,
        environment: false,
        export_certificates: false,
        protocols: TlsProtocols::ALL,
    }
}

#[test]
fn the_reason_for_an_unverified_chain_is_openssls_for_its_shape() {
    // What httpd 2.4.71 with OpenSSL 3.0 says for each shape under optional_no_ca.
    assert_eq!(
        unverified_reason(&der(SELFIE), &[]),
        "self-signed certificate"
    );
    assert_eq!(
        unverified_reason(&der(ALICE), &[]),
        "unable to verify the first certificate"
    );
    assert_eq!(
        unverified_reason(&der(ALICE), &[der(ROOT)]),
        "self-signed certificate in certificate chain"
    );
    assert_eq!(
        unverified_reason(&der(BOB), &[der(MIDDLE)]),
        "unable to get local issuer certificate"
    );
    assert_eq!(
        unverified_reason(&der(BOB), &[der(ROOT), der(MIDDLE)]),
        "self-signed certificate in certificate chain"
    );
    // A certificate that has nothing to do with the chain changes nothing.
    assert_eq!(
        unverified_reason(&der(ALICE), &[der(SELFIE)]),
        "unable to verify the first certificate"
    );
}

#[test]
fn the_verified_depth_counts_the_authorities_above_the_client_up_to_a_trusted_one() {
    let root = der(ROOT);
    let subject = x509_parser::parse_x509_certificate(&root)
        .unwrap()
        .1
        .subject()
        .as_raw()
        .to_vec();
    let authorities = [(root.clone(), subject)];
    assert_eq!(verified_depth(&der(ALICE), &[], &authorities), 1);
    assert_eq!(verified_depth(&der(BOB), &[der(MIDDLE)], &authorities), 2);
    // Sent in any order, with the root or unrelated certificates: the shortest chain.
    assert_eq!(
        verified_depth(
            &der(BOB),
            &[der(SELFIE), der(ROOT), der(MIDDLE)],
            &authorities
        ),
        2
    );
    assert_eq!(verified_depth(&der(ALICE), &[der(MIDDLE)], &authorities), 1);
    // An authority itself.
    assert_eq!(verified_depth(&root, &[], &authorities), 0);
    // Names that lead nowhere (never after the authorities' check): every certificate counts.
    assert_eq!(
        verified_depth(&der(SELFIE), &[der(MIDDLE)], &authorities),
        2
    );
}

#[test]
fn an_unverified_certificate_must_be_within_its_dates_and_for_clients() {
    let now = UnixTime::now();
    assert_eq!(acceptable(&der(SELFIE), now), Ok(()));
    assert_eq!(acceptable(&der(ALICE), now), Ok(()));
    assert_eq!(
        acceptable(&der(SERVER_ONLY), now),
        Err(CertificateError::InvalidPurpose.into())
    );
    assert_eq!(
        acceptable(
            &der(SELFIE),
            UnixTime::since_unix_epoch(std::time::Duration::ZERO)
        ),
        Err(CertificateError::NotValidYet.into())
    );
    let later = std::time::Duration::from_secs(200 * 365 * 24 * 60 * 60);
    assert_eq!(
        acceptable(&der(SELFIE), UnixTime::since_unix_epoch(later)),
        Err(CertificateError::Expired.into())
    );
    assert_eq!(
        acceptable(&CertificateDer::from(b"not a certificate".to_vec()), now),
        Err::<(), Error>(CertificateError::BadEncoding.into())
    );
}

#[test]
fn a_ca_path_gives_every_pem_certificate_file_in_it() {
    let dir = Scratch::new("path");
    std::fs::write(dir.0.join("root.pem"), ROOT).unwrap();
    // As c_rehash leaves it: a hashed link to the same file, and one to nothing.
    std::os::unix::fs::symlink(dir.0.join("root.pem"), dir.0.join("5d30f3c5.0")).unwrap();
    std::os::unix::fs::symlink(dir.0.join("gone.pem"), dir.0.join("0badc0de.0")).unwrap();
    // Two in one file, a file without certificates, a directory.
    std::fs::write(dir.0.join("more.crt"), format!("{MIDDLE}{SELFIE}")).unwrap();
    std::fs::write(dir.0.join("README"), "authorities for the clients\n").unwrap();
    std::fs::create_dir(dir.0.join("old")).unwrap();
    std::fs::write(dir.0.join("old/alice.pem"), ALICE).unwrap();
    let found = directory_certificates(&dir.named()).unwrap();
    let names: Vec<(CertificateDer<'_>, String)> = found
        .into_iter()
        .map(|(certificate, path)| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (certificate, name)
        })
        .collect();
    assert_eq!(
        names,
        [
            (der(ROOT), "5d30f3c5.0".to_owned()),
            (der(MIDDLE), "more.crt".to_owned()),
            (der(SELFIE), "more.crt".to_owned()),
            (der(ROOT), "root.pem".to_owned()),
        ]
    );
}

#[test]
fn a_ca_path_without_certificates_or_that_is_missing_is_an_error_naming_its_line() {
    let dir = Scratch::new("empty");
    std::fs::write(dir.0.join("README"), "nothing here\n").unwrap();
    let err = directory_certificates(&dir.named()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "/etc/site.conf:7 '{}': no PEM certificate in any file of the directory; give the \
             directory of the authorities' certificates (files that start with -----BEGIN \
             CERTIFICATE-----)",
            dir.0.display()
        )
    );
    let missing = NamedFile::new(dir.0.join("nope"), "/etc/site.conf:7");
    assert!(matches!(
        directory_certificates(&missing),
        Err(TlsError::Unreadable { origin, .. }) if origin == "/etc/site.conf:7"
    ));
}

#[test]
fn under_optional_no_ca_a_certificate_is_judged_again_after_the_handshake() {
    let dir = Scratch::new("judge");
    std::fs::write(dir.0.join("root.pem"), ROOT).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let (verifier, check) = super::verifier(&listener(dir.named(), true), &provider).unwrap();
    assert!(verifier.is_some_and(|v| v.offer_client_auth() && !v.client_auth_mandatory()));
    assert!(matches!(check, ClientCheck::Generous(Some(_))));
    assert_eq!(check.judge(None), ClientVerify::None);
    assert_eq!(check.judge(Some(&[der(ALICE)])), ClientVerify::Success);
    assert_eq!(
        check.judge(Some(&[der(BOB), der(MIDDLE)])),
        ClientVerify::Success
    );
    assert_eq!(
        check.judge(Some(&[der(SELFIE)])),
        ClientVerify::Failed("self-signed certificate")
    );
    assert_eq!(
        ClientVerify::Failed("self-signed certificate").value(),
        "FAILED:self-signed certificate"
    );
    // Without optional_no_ca the handshake judged: what it let through is verified.
    let (_, check) = super::verifier(&listener(dir.named(), false), &provider).unwrap();
    assert!(matches!(check, ClientCheck::Handshake));
    assert_eq!(check.judge(Some(&[der(ALICE)])), ClientVerify::Success);
}
