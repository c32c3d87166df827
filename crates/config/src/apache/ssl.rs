//! mod_ssl's directives, read as httpd reads them, for the checker (which reports what rustls
//! will not do) and the translator (which makes the listeners speak TLS).
//!
//! rustls speaks TLS 1.2 and 1.3 only: an `SSLProtocol` that also enables SSLv3, TLS 1.0 or
//! 1.1 gets those left out with a warning; one that leaves neither 1.2 nor 1.3 is an error.

use crate::tls::TlsProtocols;

/// The protocols an `SSLProtocol` line enables (mod_ssl's default is `all -SSLv3`), and a
/// warning for those rustls will not speak; an error for what it cannot read or run.
pub(crate) fn protocols(args: &[String]) -> Result<(TlsProtocols, Option<String>), String> {
    // The old protocols as one flag: any of them asked for is reported, none is spoken.
    let mut old: Vec<&str> = Vec::new();
    let (mut tls12, mut tls13) = (false, false);
    for arg in args {
        let (sign, name) = match arg.as_bytes().first() {
            Some(b'+') => (Some(true), &arg[1..]),
            Some(b'-') => (Some(false), &arg[1..]),
            _ => (None, arg.as_str()),
        };
        let on = sign.unwrap_or(true);
        if sign.is_none() {
            // A name without a sign replaces what came before, as in mod_ssl.
            old.clear();
            tls12 = false;
            tls13 = false;
        }
        match name.to_ascii_lowercase().as_str() {
            "all" => {
                tls12 = on;
                tls13 = on;
                set_old(&mut old, &["TLSv1", "TLSv1.1"], on);
            }
            "tlsv1.3" => tls13 = on,
            "tlsv1.2" => tls12 = on,
            "tlsv1.1" => set_old(&mut old, &["TLSv1.1"], on),
            "tlsv1" => set_old(&mut old, &["TLSv1"], on),
            "sslv3" => set_old(&mut old, &["SSLv3"], on),
            "sslv2" => set_old(&mut old, &["SSLv2"], on),
            _ => {
                return Err(format!(
                    "SSLProtocol: unknown protocol '{arg}' (all, SSLv3, TLSv1, TLSv1.1, \
                     TLSv1.2 or TLSv1.3, each with + or -)"
                ));
            }
        }
    }
    if !tls12 && !tls13 {
        return Err(format!(
            "SSLProtocol {}: oxwsgi speaks TLSv1.2 and TLSv1.3 only (rustls); enable one of them",
            args.join(" ")
        ));
    }
    let warning = (!old.is_empty()).then(|| {
        format!(
            "SSLProtocol: {} left out: rustls does not speak protocols older than TLSv1.2",
            old.join(", ")
        )
    });
    Ok((TlsProtocols { tls12, tls13 }, warning))
}

fn set_old<'a>(old: &mut Vec<&'a str>, names: &[&'a str], on: bool) {
    old.retain(|n| !names.contains(n));
    if on {
        old.extend(names);
    }
}

/// What an `SSLVerifyClient` level asks of a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VerifyClient {
    /// `none`: nothing.
    None,
    /// `optional`: a certificate the authorities signed, if the client has one.
    Optional,
    /// `require`: a certificate the authorities signed.
    Require,
    /// `optional_no_ca`: any certificate, if the client has one, whoever signed it.
    OptionalNoCa,
}

impl VerifyClient {
    /// Whether a request needs a certificate the authorities signed.
    pub(crate) fn required(self) -> bool {
        self == VerifyClient::Require
    }
}

/// An `SSLVerifyClient` level; an error for an unknown one.
pub(crate) fn verify_client(level: &str) -> Result<VerifyClient, String> {
    match level.to_ascii_lowercase().as_str() {
        "none" => Ok(VerifyClient::None),
        "optional" => Ok(VerifyClient::Optional),
        "require" => Ok(VerifyClient::Require),
        "optional_no_ca" => Ok(VerifyClient::OptionalNoCa),
        _ => Err(format!(
            "SSLVerifyClient: unknown level '{level}' (none, optional, require or optional_no_ca)"
        )),
    }
}

/// An `SSLVerifyDepth`: how many authority certificates a client certificate's chain may have
/// above it, the trusted one included. mod_ssl reads the number with `atoi` and refuses a
/// negative one in these words; oxwsgi also refuses what is not a number (which `atoi` would
/// read as 0).
pub(crate) fn verify_depth(arg: &str) -> Result<u32, String> {
    arg.parse::<u32>()
        .map_err(|_| format!("SSLVerifyDepth: Invalid argument '{arg}' (a number, 0 or more)"))
}

/// The `SSLOptions` that change what a request gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SslOptions {
    /// `StdEnvVars`: the `SSL_*` variables.
    pub(crate) std_env_vars: bool,
    /// `ExportCertData`: the certificates themselves, PEM.
    pub(crate) export_cert_data: bool,
}

/// What an `SSLOptions` line leaves of `before`, and an option that would change what a
/// request gets and is not done yet; an error for an unknown option.
pub(crate) fn options_over(
    args: &[String],
    before: SslOptions,
) -> Result<(SslOptions, Option<&'static str>), String> {
    let mut options = before;
    let mut not_yet = None;
    let mut first_unsigned = true;
    for arg in args {
        let (on, name) = match arg.as_bytes().first() {
            Some(b'+') => (true, &arg[1..]),
            Some(b'-') => (false, &arg[1..]),
            _ => {
                // As mod_ssl: the first option without a sign replaces what came before.
                if std::mem::take(&mut first_unsigned) {
                    options = SslOptions::default();
                }
                (true, arg.as_str())
            }
        };
        match name.to_ascii_lowercase().as_str() {
            "stdenvvars" => options.std_env_vars = on,
            "exportcertdata" => options.export_cert_data = on,
            // Renegotiation does not exist in TLS 1.3 nor in rustls: nothing to optimise.
            "optrenegotiate" => {}
            "fakebasicauth" if on => not_yet = Some("SSLOptions +FakeBasicAuth"),
            "strictrequire" if on => not_yet = Some("SSLOptions +StrictRequire"),
            "legacydnstringformat" if on => not_yet = Some("SSLOptions +LegacyDNStringFormat"),
            "fakebasicauth" | "strictrequire" | "legacydnstringformat" => {}
            _ => return Err(format!("SSLOptions: unknown option '{arg}'")),
        }
    }
    Ok((options, not_yet))
}

/// [`options_over`] for `StdEnvVars` alone (what the checker asks: whether the line can be
/// read).
pub(crate) fn options(
    args: &[String],
    std_env_vars: bool,
) -> Result<(bool, Option<&'static str>), String> {
    let before = SslOptions {
        std_env_vars,
        export_cert_data: false,
    };
    options_over(args, before).map(|(options, not_yet)| (options.std_env_vars, not_yet))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn protocols_follow_mod_ssl_and_leave_out_what_rustls_cannot_speak() {
        let both = TlsProtocols {
            tls12: true,
            tls13: true,
        };
        assert_eq!(protocols(&args("all -SSLv3")).unwrap().0, both);
        let (set, warning) = protocols(&args("all -SSLv3")).unwrap();
        assert_eq!(set, both);
        assert_eq!(
            warning.as_deref(),
            Some(
                "SSLProtocol: TLSv1, TLSv1.1 left out: rustls does not speak protocols older than TLSv1.2"
            )
        );
        assert_eq!(
            protocols(&args("all -SSLv3 -TLSv1 -TLSv1.1")).unwrap(),
            (both, None)
        );
        assert_eq!(
            protocols(&args("-all +TLSv1.3")).unwrap().0,
            TlsProtocols {
                tls12: false,
                tls13: true
            }
        );
        assert_eq!(
            protocols(&args("TLSv1.2")).unwrap().0,
            TlsProtocols {
                tls12: true,
                tls13: false
            }
        );
        assert!(protocols(&args("TLSv1 +TLSv1.1")).is_err());
        assert!(protocols(&args("all -TLSv2")).is_err());
    }

    #[test]
    fn options_turn_std_env_vars_on_and_refuse_what_is_not_done() {
        assert_eq!(options(&args("+StdEnvVars"), false), Ok((true, None)));
        assert_eq!(options(&args("-StdEnvVars"), true), Ok((false, None)));
        assert_eq!(
            options(&args("StdEnvVars OptRenegotiate"), false),
            Ok((true, None))
        );
        assert_eq!(
            options(&args("+StdEnvVars +FakeBasicAuth"), false),
            Ok((true, Some("SSLOptions +FakeBasicAuth")))
        );
        assert!(options(&args("+Bogus"), false).is_err());
    }

    #[test]
    fn export_cert_data_is_its_own_option_and_an_unsigned_one_resets_it() {
        let none = SslOptions::default();
        let both = SslOptions {
            std_env_vars: true,
            export_cert_data: true,
        };
        let export = SslOptions {
            std_env_vars: false,
            export_cert_data: true,
        };
        assert_eq!(
            options_over(&args("+StdEnvVars +ExportCertData"), none),
            Ok((both, None))
        );
        assert_eq!(
            options_over(&args("+exportcertdata"), none),
            Ok((export, None))
        );
        // A second line adds to the first; a line without signs starts again.
        assert_eq!(options_over(&args("+StdEnvVars"), export), Ok((both, None)));
        assert!(
            !options_over(&args("-ExportCertData"), both)
                .unwrap()
                .0
                .export_cert_data
        );
        assert_eq!(
            options_over(&args("StdEnvVars"), both).unwrap().0,
            SslOptions {
                std_env_vars: true,
                export_cert_data: false,
            }
        );
        assert_eq!(
            options_over(&args("ExportCertData +StdEnvVars"), both),
            Ok((both, None))
        );
    }

    #[test]
    fn verify_depth_is_a_number_of_certificates() {
        assert_eq!(verify_depth("0"), Ok(0));
        assert_eq!(verify_depth("10"), Ok(10));
        for bad in ["-1", "two", "", "1.5"] {
            assert_eq!(
                verify_depth(bad),
                Err(format!(
                    "SSLVerifyDepth: Invalid argument '{bad}' (a number, 0 or more)"
                ))
            );
        }
    }

    #[test]
    fn verify_client_levels_are_read_without_regard_to_case() {
        assert_eq!(verify_client("require"), Ok(VerifyClient::Require));
        assert_eq!(
            verify_client("Optional_No_CA"),
            Ok(VerifyClient::OptionalNoCa)
        );
        assert_eq!(verify_client("OPTIONAL"), Ok(VerifyClient::Optional));
        assert_eq!(verify_client("none"), Ok(VerifyClient::None));
        assert!(VerifyClient::Require.required());
        assert!(!VerifyClient::OptionalNoCa.required());
        assert_eq!(
            verify_client("sometimes"),
            Err(
                "SSLVerifyClient: unknown level 'sometimes' (none, optional, require or \
                 optional_no_ca)"
                    .to_owned()
            )
        );
    }
}

#[cfg(test)]
#[path = "fuzz/ssl.rs"]
mod fuzz;
