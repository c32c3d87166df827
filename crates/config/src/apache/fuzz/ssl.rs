//! Fuzz target of mod_ssl's argument parsing (see docs/testing.md, "Fuzzing").
//!
//! `fuzz_ssl_arguments`: on any `SSLProtocol`, `SSLOptions`, `SSLVerifyClient` and
//! `SSLVerifyDepth` arguments
//! (signed and unsigned protocol, option and level names, in any case, mixed with junk) the
//! parsers never panic; an accepted `SSLProtocol` enables TLS 1.2 or 1.3, and names a warning
//! exactly when it asked for an older protocol; `all` alone enables both; an accepted
//! `SSLOptions` line whose arguments are all signed keeps what it does not name, and the
//! checker's reading of `StdEnvVars` is the translator's; an accepted `SSLVerifyDepth` is a
//! number written in digits (after a `+`, as `atoi` reads it), never a negative one.

use proptest::prelude::*;

use super::{SslOptions, options, options_over, protocols, verify_client, verify_depth};

fn word() -> impl Strategy<Value = String> {
    let name = proptest::sample::select(vec![
        "all",
        "SSLv2",
        "SSLv3",
        "TLSv1",
        "TLSv1.1",
        "TLSv1.2",
        "TLSv1.3",
        "StdEnvVars",
        "ExportCertData",
        "OptRenegotiate",
        "FakeBasicAuth",
        "StrictRequire",
        "optional_no_ca",
        "require",
        "none",
        "tlsv1.3",
        "ALL",
        "bogus",
        "",
        "0",
        "2",
        "10",
        "4294967296",
    ]);
    let sign = proptest::sample::select(vec!["", "+", "-"]);
    prop_oneof![
        4 => (sign, name).prop_map(|(s, n)| format!("{s}{n}")),
        1 => "[ -~]{0,8}",
    ]
}

proptest! {
    #[test]
    fn fuzz_ssl_arguments(args in proptest::collection::vec(word(), 0..6), on in any::<bool>()) {
        if let Ok((set, warning)) = protocols(&args) {
            prop_assert!(set.tls12 || set.tls13);
            if warning.is_some() {
                let old = ["all", "sslv2", "sslv3", "tlsv1", "tlsv1.1"];
                let asked = args.iter().any(|a| {
                    let name = a.trim_start_matches(['+', '-']).to_ascii_lowercase();
                    old.contains(&name.as_str())
                });
                prop_assert!(asked, "a warning for {:?}", args);
            }
        }
        let before = SslOptions {
            std_env_vars: on,
            export_cert_data: !on,
        };
        if let Ok((after, _)) = options_over(&args, before) {
            prop_assert_eq!(options(&args, on).map(|(std, _)| std), Ok(after.std_env_vars));
            let signed = args.iter().all(|a| a.starts_with(['+', '-']));
            let names = |name: &str| {
                args.iter()
                    .any(|a| a.trim_start_matches(['+', '-']).eq_ignore_ascii_case(name))
            };
            if signed && !names("StdEnvVars") {
                prop_assert_eq!(after.std_env_vars, before.std_env_vars);
            }
            if signed && !names("ExportCertData") {
                prop_assert_eq!(after.export_cert_data, before.export_cert_data);
            }
        } else {
            prop_assert!(options(&args, on).is_err());
        }
        for arg in &args {
            let _ = verify_client(arg);
            if let Ok(depth) = verify_depth(arg) {
                // A number, as atoi reads it (a `+` sign allowed), never a negative one.
                let digits = arg.strip_prefix('+').unwrap_or(arg);
                prop_assert!(!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()));
                prop_assert_eq!(u64::from(depth), digits.parse::<u64>().unwrap());
            }
        }
        let all = protocols(&["all".to_owned()]).expect("all is a protocol set");
        prop_assert!(all.0.tls12 && all.0.tls13);
    }
}
