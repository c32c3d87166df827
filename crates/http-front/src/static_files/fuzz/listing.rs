//! Fuzz target of directory listing pages (see docs/testing.md, "Fuzzing").
//!
//! `fuzz_listing_page`: whatever the file names and URL path (markup, quotes, ampersands,
//! `javascript:`, non-ASCII), the page has exactly the markup of the same page with harmless
//! names — no name adds a tag or an attribute — each link is percent-encoded, and each name
//! reads back (unescaped) as itself.

use proptest::prelude::*;

use super::page;

fn name() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => proptest::sample::select(vec![
            "<", ">", "&", "\"", "'", "<script>", "</a>", "&amp;", "javascript:", "/", "%", " ",
            "é", "a", "..", "=", "`", "\n", "#", "?",
        ])
        .prop_map(str::to_owned),
        1 => any::<String>().prop_map(|s| s.chars().take(3).collect()),
    ];
    proptest::collection::vec(piece, 1..6).prop_map(|p| p.concat())
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&gt;", ">")
        .replace("&lt;", "<")
        .replace("&amp;", "&")
}

proptest! {
    #[test]
    fn fuzz_listing_page(
        url in name(),
        entries in proptest::collection::vec((name(), any::<bool>()), 0..6),
    ) {
        let url_path = format!("/{url}/");
        let html = page(&url_path, &entries);
        let harmless: Vec<(String, bool)> = entries.iter().map(|(_, d)| ("x".to_owned(), *d)).collect();
        let reference = page("/x/", &harmless);
        let markup = |s: &str| s.chars().filter(|c| matches!(c, '<' | '>' | '"')).count();
        prop_assert_eq!(markup(&html), markup(&reference), "{}", html);
        for (name, is_dir) in &entries {
            let slash = if *is_dir { "/" } else { "" };
            let escaped = unescape(&super::escape(name));
            prop_assert_eq!(&escaped, name);
            let href = percent_encoding::utf8_percent_encode(name, super::LINK).to_string();
            prop_assert!(href.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~%".contains(&b)));
            let expected_entry = format!("{href}{slash}\">");
            prop_assert!(html.contains(&expected_entry), "no link {:?}", expected_entry);
        }
        // Every entry's text, between its tags, reads back as the name.
        let texts: Vec<String> = html
            .split("<li><a href=\"")
            // The first link is the parent's (`url_path` is never `/` here).
            .skip(2)
            .map(|chunk| {
                let start = chunk.find("\">").unwrap() + 2;
                let end = chunk.find("</a></li>").unwrap();
                unescape(&chunk[start..end])
            })
            .collect();
        let expected: Vec<String> = entries.iter().map(|(n, d)| format!("{n}{}", if *d { "/" } else { "" })).collect();
        prop_assert_eq!(texts, expected);
    }
}
