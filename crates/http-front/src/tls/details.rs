//! What a connection's TLS tells the application: mod_ssl's `SSL_*` variables
//! (`SSLOptions +StdEnvVars`, and the certificates themselves with `+ExportCertData`), in
//! mod_ssl's formats, so that code written for Apache reads them unchanged.
//!
//! * names are OpenSSL's: `TLSv1.3`, cipher suites as `TLS_AES_256_GCM_SHA384` and
//!   `ECDHE-RSA-AES128-GCM-SHA256`;
//! * distinguished names as mod_ssl 2.4 prints them (RFC 2253: the most specific part first,
//!   `CN=client,O=Example,C=NZ`, with `,` `+` `"` `\` `<` `>` `;` escaped);
//! * serial numbers in upper-case hex, validity as OpenSSL prints times
//!   (`Mar  3 12:00:00 2027 GMT`);
//! * certificates as OpenSSL writes PEM: `-----BEGIN CERTIFICATE-----`, the DER in base64
//!   lines of 64 characters, `-----END CERTIFICATE-----`, each line ending in a newline.
//!
//! Made once per connection, and only for listeners that pass them.

use base64::Engine;
use rustls::pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, X509Certificate, X509Name};

/// The `SSL_*` variables of one certificate, with `prefix` (`SSL_CLIENT_`, `SSL_SERVER_`)
/// before each name: `S_DN`, `S_DN_CN`, `I_DN`, `I_DN_CN`, `M_SERIAL`, `M_VERSION`,
/// `V_START`, `V_END`. Nothing for a certificate that cannot be read.
pub(crate) fn certificate_variables(
    certificate: &CertificateDer<'_>,
    names: &CertificateNames,
) -> Vec<(&'static str, String)> {
    let Ok((_, parsed)) = X509Certificate::from_der(certificate) else {
        return Vec::new();
    };
    let mut out = vec![
        (names.subject, distinguished_name(parsed.subject())),
        (names.issuer, distinguished_name(parsed.issuer())),
        (names.serial, serial(parsed.raw_serial())),
        (names.version, (parsed.version().0 + 1).to_string()),
        (
            names.start,
            openssl_time(parsed.validity().not_before.timestamp()),
        ),
        (
            names.end,
            openssl_time(parsed.validity().not_after.timestamp()),
        ),
    ];
    if let Some(cn) = common_name(parsed.subject()) {
        out.push((names.subject_cn, cn));
    }
    if let Some(cn) = common_name(parsed.issuer()) {
        out.push((names.issuer_cn, cn));
    }
    out
}

/// `SSL_CLIENT_CERT` (empty without a certificate, as mod_ssl sets it) and one
/// `SSL_CLIENT_CERT_CHAIN_n` per other certificate the client sent, from 0, in the order it
/// sent them (OpenSSL's peer chain on a server: without the client's own certificate). At
/// most [`CLIENT_CHAIN`]'s length of them.
pub(crate) fn client_certificates(chain: &[CertificateDer<'_>]) -> Vec<(&'static str, String)> {
    let mut out = Vec::with_capacity(chain.len().min(CLIENT_CHAIN.len() + 1));
    out.push((
        "SSL_CLIENT_CERT",
        chain.first().map(pem).unwrap_or_default(),
    ));
    out.extend(
        CLIENT_CHAIN
            .iter()
            .zip(chain.iter().skip(1))
            .map(|(name, certificate)| (*name, pem(certificate))),
    );
    out
}

/// The names of the client's chain certificates: ten, what a chain of `SSLVerifyDepth` 10 (the
/// default is 1) has above the client's certificate; those after the tenth are not passed.
const CLIENT_CHAIN: [&str; 10] = [
    "SSL_CLIENT_CERT_CHAIN_0",
    "SSL_CLIENT_CERT_CHAIN_1",
    "SSL_CLIENT_CERT_CHAIN_2",
    "SSL_CLIENT_CERT_CHAIN_3",
    "SSL_CLIENT_CERT_CHAIN_4",
    "SSL_CLIENT_CERT_CHAIN_5",
    "SSL_CLIENT_CERT_CHAIN_6",
    "SSL_CLIENT_CERT_CHAIN_7",
    "SSL_CLIENT_CERT_CHAIN_8",
    "SSL_CLIENT_CERT_CHAIN_9",
];

/// A certificate as OpenSSL's `PEM_write_bio_X509` writes it.
pub(crate) fn pem(certificate: &CertificateDer<'_>) -> String {
    let base64 = base64::engine::general_purpose::STANDARD.encode(certificate.as_ref());
    let mut out = String::with_capacity(base64.len() + base64.len() / 64 + 64);
    out.push_str("-----BEGIN CERTIFICATE-----\n");
    let mut rest = base64.as_str();
    while !rest.is_empty() {
        let (line, after) = rest.split_at(rest.len().min(64));
        out.push_str(line);
        out.push('\n');
        rest = after;
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// The variable names for one side's certificate.
pub(crate) struct CertificateNames {
    subject: &'static str,
    subject_cn: &'static str,
    issuer: &'static str,
    issuer_cn: &'static str,
    serial: &'static str,
    version: &'static str,
    start: &'static str,
    end: &'static str,
}

/// The client certificate's variables.
pub(crate) const CLIENT: CertificateNames = CertificateNames {
    subject: "SSL_CLIENT_S_DN",
    subject_cn: "SSL_CLIENT_S_DN_CN",
    issuer: "SSL_CLIENT_I_DN",
    issuer_cn: "SSL_CLIENT_I_DN_CN",
    serial: "SSL_CLIENT_M_SERIAL",
    version: "SSL_CLIENT_M_VERSION",
    start: "SSL_CLIENT_V_START",
    end: "SSL_CLIENT_V_END",
};

/// The server certificate's variables.
pub(crate) const SERVER: CertificateNames = CertificateNames {
    subject: "SSL_SERVER_S_DN",
    subject_cn: "SSL_SERVER_S_DN_CN",
    issuer: "SSL_SERVER_I_DN",
    issuer_cn: "SSL_SERVER_I_DN_CN",
    serial: "SSL_SERVER_M_SERIAL",
    version: "SSL_SERVER_M_VERSION",
    start: "SSL_SERVER_V_START",
    end: "SSL_SERVER_V_END",
};

/// A name as mod_ssl prints it: RFC 2253, the last RDN first.
fn distinguished_name(name: &X509Name<'_>) -> String {
    let mut parts: Vec<String> = Vec::new();
    for rdn in name.iter_rdn() {
        let attributes: Vec<String> = rdn
            .iter()
            .map(|attribute| {
                let value = match attribute.as_str() {
                    Ok(text) => escaped(text),
                    Err(_) => String::from_utf8_lossy(attribute.as_slice()).into_owned(),
                };
                format!("{}={value}", short_name(attribute.attr_type()))
            })
            .collect();
        parts.push(attributes.join("+"));
    }
    parts.reverse();
    parts.join(",")
}

/// The first common name of `name`.
fn common_name(name: &X509Name<'_>) -> Option<String> {
    name.iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned)
}

/// OpenSSL's short name of an attribute type, else its dotted form.
fn short_name(oid: &x509_parser::der_parser::oid::Oid<'_>) -> String {
    let dotted = oid.to_id_string();
    let known = match dotted.as_str() {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.5" => "serialNumber",
        "2.5.4.12" => "title",
        "2.5.4.4" => "SN",
        "2.5.4.42" => "GN",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        "1.2.840.113549.1.9.1" => "emailAddress",
        _ => return dotted,
    };
    known.to_owned()
}

/// RFC 2253's escapes: `,+"\<>;` anywhere, `#` or a space first, a space last.
fn escaped(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A serial number as OpenSSL's `BN_bn2hex` prints it: upper-case hex, without leading zero
/// bytes.
fn serial(raw: &[u8]) -> String {
    let significant: Vec<String> = raw
        .iter()
        .skip_while(|&&b| b == 0)
        .map(|b| format!("{b:02X}"))
        .collect();
    if significant.is_empty() {
        "00".to_owned()
    } else {
        significant.concat()
    }
}

/// A time as OpenSSL's `ASN1_TIME_print`: `Mar  3 12:00:00 2027 GMT`.
fn openssl_time(timestamp: i64) -> String {
    chrono::DateTime::from_timestamp(timestamp, 0)
        .map(|time| time.format("%b %e %H:%M:%S %Y GMT").to_string())
        .unwrap_or_default()
}

/// Every variable name [`certificate_variables`], [`client_certificates`] and the connection
/// give, so that a name read back (from the front tier's hop) is one of them.
pub(crate) const VARIABLE_NAMES: &[&str] = &[
    "SSL_PROTOCOL",
    "SSL_CIPHER",
    "SSL_CIPHER_USEKEYSIZE",
    "SSL_CIPHER_ALGKEYSIZE",
    "SSL_VERSION_LIBRARY",
    "SSL_TLS_SNI",
    "SSL_CLIENT_VERIFY",
    "SSL_CLIENT_S_DN",
    "SSL_CLIENT_S_DN_CN",
    "SSL_CLIENT_I_DN",
    "SSL_CLIENT_I_DN_CN",
    "SSL_CLIENT_M_SERIAL",
    "SSL_CLIENT_M_VERSION",
    "SSL_CLIENT_V_START",
    "SSL_CLIENT_V_END",
    "SSL_SERVER_S_DN",
    "SSL_SERVER_S_DN_CN",
    "SSL_SERVER_I_DN",
    "SSL_SERVER_I_DN_CN",
    "SSL_SERVER_M_SERIAL",
    "SSL_SERVER_M_VERSION",
    "SSL_SERVER_V_START",
    "SSL_SERVER_V_END",
    "SSL_SERVER_CERT",
    "SSL_CLIENT_CERT",
    "SSL_CLIENT_CERT_CHAIN_0",
    "SSL_CLIENT_CERT_CHAIN_1",
    "SSL_CLIENT_CERT_CHAIN_2",
    "SSL_CLIENT_CERT_CHAIN_3",
    "SSL_CLIENT_CERT_CHAIN_4",
    "SSL_CLIENT_CERT_CHAIN_5",
    "SSL_CLIENT_CERT_CHAIN_6",
    "SSL_CLIENT_CERT_CHAIN_7",
    "SSL_CLIENT_CERT_CHAIN_8",
    "SSL_CLIENT_CERT_CHAIN_9",
];

/// OpenSSL's name of a rustls cipher suite (mod_ssl's `SSL_CIPHER`), and its key size.
pub(crate) fn cipher(suite: rustls::SupportedCipherSuite) -> (&'static str, u16) {
    use rustls::CipherSuite as S;
    match suite.suite() {
        S::TLS13_AES_128_GCM_SHA256 => ("TLS_AES_128_GCM_SHA256", 128),
        S::TLS13_AES_256_GCM_SHA384 => ("TLS_AES_256_GCM_SHA384", 256),
        S::TLS13_CHACHA20_POLY1305_SHA256 => ("TLS_CHACHA20_POLY1305_SHA256", 256),
        S::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => ("ECDHE-ECDSA-AES128-GCM-SHA256", 128),
        S::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => ("ECDHE-ECDSA-AES256-GCM-SHA384", 256),
        S::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => ("ECDHE-ECDSA-CHACHA20-POLY1305", 256),
        S::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => ("ECDHE-RSA-AES128-GCM-SHA256", 128),
        S::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => ("ECDHE-RSA-AES256-GCM-SHA384", 256),
        S::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => ("ECDHE-RSA-CHACHA20-POLY1305", 256),
        _ => (suite.suite().as_str().unwrap_or("UNKNOWN"), 0),
    }
}

/// OpenSSL's name of a protocol version (mod_ssl's `SSL_PROTOCOL`).
pub(crate) fn protocol(version: rustls::ProtocolVersion) -> &'static str {
    match version {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3",
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2",
        _ => "UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_as_rfc_2253_says() {
        assert_eq!(escaped("Example, Inc."), "Example\\, Inc.");
        assert_eq!(escaped("#1 a+b"), "\\#1 a\\+b");
        assert_eq!(escaped(" padded "), "\\ padded\\ ");
        assert_eq!(escaped("plain"), "plain");
    }

    #[test]
    fn certificates_are_written_as_openssl_writes_pem() {
        use rustls::pki_types::pem::PemObject;
        for pem_file in [super::super::fixtures::ROOT, super::super::fixtures::SELFIE] {
            let certificate = CertificateDer::from_pem_slice(pem_file.as_bytes()).unwrap();
            assert_eq!(pem(&certificate), pem_file);
        }
        // 48 bytes are one line of 64 characters; one more starts a second.
        let one = pem(&CertificateDer::from(vec![0u8; 48]));
        assert_eq!(one.lines().map(str::len).collect::<Vec<_>>(), [27, 64, 25]);
        let two = pem(&CertificateDer::from(vec![0u8; 49]));
        assert_eq!(
            two.lines().map(str::len).collect::<Vec<_>>(),
            [27, 64, 4, 25]
        );
        assert!(two.ends_with("-----END CERTIFICATE-----\n"));
    }

    #[test]
    fn the_hop_knows_every_chain_variable() {
        for name in CLIENT_CHAIN {
            assert!(VARIABLE_NAMES.contains(&name), "{name}");
        }
        let chain: Vec<CertificateDer<'_>> =
            (0..12).map(|n| CertificateDer::from(vec![n; 3])).collect();
        let names: Vec<&str> = client_certificates(&chain)
            .iter()
            .map(|(n, _)| *n)
            .collect();
        assert_eq!(names.len(), 11);
        assert_eq!(names[0], "SSL_CLIENT_CERT");
        assert_eq!(names[10], "SSL_CLIENT_CERT_CHAIN_9");
    }

    #[test]
    fn serials_and_times_print_as_openssl_prints_them() {
        assert_eq!(serial(&[0x00, 0x1a, 0x2b]), "1A2B");
        assert_eq!(serial(&[0x00]), "00");
        assert_eq!(openssl_time(1_804_075_200), "Mar  3 12:00:00 2027 GMT");
    }
}
