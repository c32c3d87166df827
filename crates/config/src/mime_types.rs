//! Apache `mime.types` files, as `--mime-types` names them.
//!
//! Each line is a media type followed by the file extensions it applies to; `#` starts a
//! comment. A line with a type and no extension is allowed and means nothing.

use std::collections::BTreeMap;

/// Parses a `mime.types` file's text into extension → media type. Later lines win.
pub fn parse(text: &str) -> BTreeMap<String, String> {
    let mut types = BTreeMap::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let Some(media_type) = words.next() else {
            continue;
        };
        if !media_type.contains('/') {
            continue;
        }
        for extension in words {
            types.insert(
                extension.trim_start_matches('.').to_ascii_lowercase(),
                media_type.to_owned(),
            );
        }
    }
    types
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_map_extensions_to_types() {
        let types = parse(
            "# comment\ntext/x-custom  cst  CSTX\n\napplication/x-empty\nimage/webp webp # trailing\n",
        );
        assert_eq!(types["cst"], "text/x-custom");
        assert_eq!(types["cstx"], "text/x-custom");
        assert_eq!(types["webp"], "image/webp");
        assert_eq!(types.len(), 3);
    }
}

#[cfg(test)]
#[path = "fuzz/mime_types.rs"]
mod fuzz;
