//! Fuzz target of `Accept-Encoding` parsing (see docs/testing.md, "Fuzzing").
//!
//! `fuzz_accept_encoding`: on any header values `accepted` returns (never panics), names each
//! coding at most once, never one refused with `q=0` (`*;q=0` included), and orders them by
//! preference (brotli first on a tie); with well-formed q-values (RFC 9110 §12.4.2) the result
//! is exactly the model's, and a malformed q-value on one coding never drops another that is
//! accepted with a well-formed one.

use http::{HeaderMap, HeaderValue, header};
use proptest::prelude::*;

use super::{Coding, accepted};

/// A q-value as a client may send it, well-formed or not: `(text, Some(value) if well-formed)`.
fn q_value() -> impl Strategy<Value = (String, Option<f32>)> {
    let well_formed = prop_oneof![
        Just("0".to_owned()),
        Just("1".to_owned()),
        Just("1.0".to_owned()),
        Just("1.000".to_owned()),
        Just("0.0".to_owned()),
        "0\\.[0-9]{1,3}",
    ]
    .prop_map(|text| {
        let value = text.parse::<f32>().expect("well-formed");
        (text, Some(value))
    });
    let malformed = prop_oneof![
        proptest::sample::select(vec![
            "", "nan", "NaN", "inf", "-inf", "infinity", "-1", "2", "1.5", "1e3", "0x1", "abc",
            " 0.5", "0,5", "1.", ".5", "-0",
        ])
        .prop_map(str::to_owned),
        "[ -~]{0,4}".prop_filter("not a well-formed q-value, nor a new item", |t| {
            !is_qvalue(t) && !t.contains(',')
        }),
    ]
    .prop_map(|text| (text, None));
    prop_oneof![3 => well_formed, 1 => malformed]
}

/// RFC 9110's `qvalue`: `0[.ddd]` or `1[.000]`.
fn is_qvalue(text: &str) -> bool {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = frac.len() <= 3 && frac.bytes().all(|b| b.is_ascii_digit());
    let dot_ok = !text.ends_with('.');
    match int {
        "0" => digits && dot_ok,
        "1" => digits && dot_ok && frac.bytes().all(|b| b == b'0'),
        _ => false,
    }
}

#[derive(Debug, Clone)]
struct Item {
    token: &'static str,
    q: Option<(String, Option<f32>)>,
    spacing: &'static str,
}

fn item() -> impl Strategy<Value = Item> {
    (
        proptest::sample::select(vec![
            "br", "BR", "gzip", "GZip", "x-gzip", "*", "identity", "deflate", "compress", "zstd",
        ]),
        proptest::option::of(q_value()),
        proptest::sample::select(vec!["", " ", "\t", "  "]),
    )
        .prop_map(|(token, q, spacing)| Item { token, q, spacing })
}

fn render(items: &[Item]) -> String {
    items
        .iter()
        .map(|item| match &item.q {
            Some((q, _)) => format!("{s}{}{s};{s}q={q}", item.token, s = item.spacing),
            None => format!("{s}{}{s}", item.token, s = item.spacing),
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn family(token: &str) -> Option<&'static str> {
    match token.to_ascii_lowercase().as_str() {
        "br" => Some("br"),
        "gzip" | "x-gzip" => Some("gzip"),
        "*" => Some("*"),
        _ => None,
    }
}

/// The q of each of br, gzip and `*` as the last mention says: `Some(Some(q))` when
/// well-formed (or absent, meaning 1), `Some(None)` when malformed, `None` when not named.
fn mentions(items: &[Item]) -> [Option<Option<f32>>; 3] {
    let mut out = [None, None, None];
    for item in items {
        let slot = match family(item.token) {
            Some("br") => 0,
            Some("gzip") => 1,
            Some(_) => 2,
            None => continue,
        };
        out[slot] = Some(match &item.q {
            None => Some(1.0),
            Some((_, value)) => *value,
        });
    }
    out
}

proptest! {
    #[test]
    fn fuzz_accept_encoding(
        lines in proptest::collection::vec(proptest::collection::vec(item(), 0..5), 0..3),
        raw in any::<Vec<u8>>(),
    ) {
        // Arbitrary bytes as one more header value: only no panic and no duplicates.
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_bytes(&raw) {
            headers.append(header::ACCEPT_ENCODING, value);
            let codings = accepted(&headers);
            prop_assert!(codings.len() <= 2 && (codings.len() < 2 || codings[0] != codings[1]));
        }

        let mut headers = HeaderMap::new();
        for line in &lines {
            headers.append(header::ACCEPT_ENCODING, HeaderValue::from_str(&render(line)).unwrap());
        }
        let codings = accepted(&headers);
        prop_assert!(codings.len() <= 2 && (codings.len() < 2 || codings[0] != codings[1]));
        let all: Vec<Item> = lines.concat();
        let [br, gzip, any] = mentions(&all);
        let effective = |own: Option<Option<f32>>| own.or(any);
        let (br, gzip) = (effective(br), effective(gzip));
        // Refused with q=0 (its own or `*`'s): never offered.
        if br == Some(Some(0.0)) {
            prop_assert!(!codings.contains(&Coding::Brotli), "{:?} gave {:?}", lines, codings);
        }
        if gzip == Some(Some(0.0)) {
            prop_assert!(!codings.contains(&Coding::Gzip), "{:?} gave {:?}", lines, codings);
        }
        // Accepted with a well-formed q above 0: always offered, whatever the other says.
        if let Some(Some(q)) = br {
            if q > 0.0 {
                prop_assert!(codings.contains(&Coding::Brotli), "{:?} gave {:?}", render(&all), codings);
            }
        }
        if let Some(Some(q)) = gzip {
            if q > 0.0 {
                prop_assert!(codings.contains(&Coding::Gzip), "{:?} gave {:?}", render(&all), codings);
            }
        }
        // All well-formed: exactly the model, best first, brotli first on a tie.
        if !matches!(br, Some(None)) && !matches!(gzip, Some(None)) {
            let b = br.flatten().unwrap_or(0.0);
            let g = gzip.flatten().unwrap_or(0.0);
            let mut expected = Vec::new();
            if b > 0.0 && b >= g { expected.push(Coding::Brotli); }
            if g > 0.0 { expected.push(Coding::Gzip); }
            if b > 0.0 && b < g { expected.push(Coding::Brotli); }
            prop_assert_eq!(&codings, &expected, "{:?}", render(&all));
        }
    }
}

/// Regression: `br, gzip;q=nan` gave no coding at all — `q=nan` parsed to a NaN, which made
/// both comparisons that place brotli false (the seed is also kept in
/// proptest-regressions/fuzz/compress.txt).
#[test]
fn regression_nan_q_value_drops_no_coding() {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static("br,gzip;q=nan"),
    );
    assert!(accepted(&headers).contains(&Coding::Brotli));
    headers.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static("gzip, br;q=NaN"),
    );
    assert!(accepted(&headers).contains(&Coding::Gzip));
    headers.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static("br, *;q=nan"),
    );
    assert!(accepted(&headers).contains(&Coding::Brotli));
}
