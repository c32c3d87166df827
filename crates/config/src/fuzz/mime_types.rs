//! Fuzz target of the `mime.types` parser (see docs/testing.md, "Fuzzing").
//!
//! `fuzz_mime_types_parse`: on any text the parser returns; every extension it maps is
//! lower-case, without a leading dot, whitespace or `#`; every type has a `/` and no whitespace
//! or `#`; the map agrees with a line-by-line model (later lines win); and the map written back
//! as a `mime.types` file parses to itself.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::parse;

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(vec![
            "text/plain",
            "image/webp",
            "application/x-thing",
            "/",
            "a/",
            "#",
            "# c",
            ".",
            "..",
            ".css",
            "CSS",
            "css",
            "Js",
            "é",
            "x#y",
            "t/x#y",
            "\t",
            "\u{a0}",
            "\u{2028}",
            "\r",
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z0-9./+#-]{1,6}",
        any::<String>().prop_map(|s| s.chars().take(5).collect()),
    ]
}

fn text() -> impl Strategy<Value = String> {
    let line = proptest::collection::vec(
        (
            word(),
            proptest::sample::select(vec![" ", "\t", "  ", " \t "]),
        ),
        0..6,
    )
    .prop_map(|words| words.into_iter().map(|(w, s)| w + s).collect::<String>());
    prop_oneof![
        1 => any::<String>(),
        4 => proptest::collection::vec(
            (line, proptest::sample::select(vec!["\n", "\r\n", "\n\n"])),
            0..8,
        )
        .prop_map(|lines| lines.into_iter().map(|(l, e)| l + e).collect::<String>()),
    ]
}

/// The model: Rust's own line and whitespace splitting, applied as the format says.
fn model(text: &str) -> BTreeMap<String, String> {
    let mut types = BTreeMap::new();
    for line in text.lines() {
        let before_comment = match line.find('#') {
            Some(at) => &line[..at],
            None => line,
        };
        let words: Vec<&str> = before_comment.split_whitespace().collect();
        if let Some((media_type, extensions)) = words.split_first() {
            if media_type.contains('/') {
                for extension in extensions {
                    let key = extension.trim_start_matches('.').to_ascii_lowercase();
                    types.insert(key, (*media_type).to_owned());
                }
            }
        }
    }
    types
}

proptest! {
    #[test]
    fn fuzz_mime_types_parse(text in text()) {
        let types = parse(&text);
        for (extension, media_type) in &types {
            prop_assert!(!extension.starts_with('.'), "{:?}", extension);
            prop_assert_eq!(extension, &extension.to_ascii_lowercase());
            prop_assert!(!extension.contains(char::is_whitespace) && !extension.contains('#'));
            prop_assert!(media_type.contains('/'), "{:?}", media_type);
            prop_assert!(!media_type.contains(char::is_whitespace) && !media_type.contains('#'));
        }
        prop_assert_eq!(&types, &model(&text));
        // Written back one extension a line (the empty extension cannot be written: skip it).
        let written: String = types
            .iter()
            .filter(|(extension, _)| !extension.is_empty())
            .map(|(extension, media_type)| format!("{media_type} {extension}\n"))
            .collect();
        let mut expected = types.clone();
        expected.remove("");
        prop_assert_eq!(parse(&written), expected);
    }
}
