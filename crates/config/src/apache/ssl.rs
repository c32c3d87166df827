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

/// What an `SSLVerifyClient` level means here: whether a certificate is required. `None` for
/// `optional_no_ca`, which accepts certificates no authority signed (rustls checks every
/// certificate it is sent).
pub(crate) fn verify_client(level: &str) -> Result<Option<bool>, String> {
    match level.to_ascii_lowercase().as_str() {
        "none" | "optional" => Ok(Some(false)),
        "require" => Ok(Some(true)),
        "optional_no_ca" => Ok(None),
        _ => Err(format!(
            "SSLVerifyClient: unknown level '{level}' (none, optional, require or optional_no_ca)"
        )),
    }
}

/// What an `SSLOptions` line leaves: whether `StdEnvVars` is on, and an option that would
/// change what a request gets and is not done yet; an error for an unknown option.
pub(crate) fn options(
    args: &[String],
    before: bool,
) -> Result<(bool, Option<&'static str>), String> {
    let mut std_env_vars = before;
    let mut not_yet = None;
    let mut first_unsigned = true;
    for arg in args {
        let (on, name) = match arg.as_bytes().first() {
            Some(b'+') => (true, &arg[1..]),
            Some(b'-') => (false, &arg[1..]),
            _ => {
                // As mod_ssl: the first option without a sign replaces what came before.
                if std::mem::take(&mut first_unsigned) {
                    std_env_vars = false;
                }
                (true, arg.as_str())
            }
        };
        match name.to_ascii_lowercase().as_str() {
            "stdenvvars" => std_env_vars = on,
            // Renegotiation does not exist in TLS 1.3 nor in rustls: nothing to optimise.
            "optrenegotiate" => {}
            "exportcertdata" if on => not_yet = Some("SSLOptions +ExportCertData"),
            "fakebasicauth" if on => not_yet = Some("SSLOptions +FakeBasicAuth"),
            "strictrequire" if on => not_yet = Some("SSLOptions +StrictRequire"),
            "legacydnstringformat" if on => not_yet = Some("SSLOptions +LegacyDNStringFormat"),
            "exportcertdata" | "fakebasicauth" | "strictrequire" | "legacydnstringformat" => {}
            _ => return Err(format!("SSLOptions: unknown option '{arg}'")),
        }
    }
    Ok((std_env_vars, not_yet))
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
            options(&args("+StdEnvVars +ExportCertData"), false),
            Ok((true, Some("SSLOptions +ExportCertData")))
        );
        assert!(options(&args("+Bogus"), false).is_err());
    }
}

#[cfg(test)]
#[path = "fuzz/ssl.rs"]
mod fuzz;
