//! Fuzz target of mod_ssl's argument parsing (see docs/testing.md, "Fuzzing").
//!
//! `fuzz_ssl_arguments`: on any `SSLProtocol`, `SSLOptions` and `SSLVerifyClient` arguments
//! (signed and unsigned protocol and option names, in any case, mixed with junk) the parsers
//! never panic; an accepted `SSLProtocol` enables TLS 1.2 or 1.3, and names a warning exactly
//! when it asked for an older protocol; `all` alone enables both.

use proptest::prelude::*;

use super::{options, protocols, verify_client};

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
        "tlsv1.3",
        "ALL",
        "bogus",
        "",
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
        let _ = options(&args, on);
        for arg in &args {
            let _ = verify_client(arg);
        }
        let all = protocols(&["all".to_owned()]).expect("all is a protocol set");
        prop_assert!(all.0.tls12 && all.0.tls13);
    }
}
