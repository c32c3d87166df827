//! The media type of a file, from its extension: `--mime-types` entries first, then the
//! built-in table (`mime_guess`), then `application/octet-stream`.

use std::collections::BTreeMap;
use std::path::Path;

use http::HeaderValue;

/// Extension → media type.
#[derive(Debug, Default)]
pub(crate) struct MimeTable {
    overrides: BTreeMap<String, HeaderValue>,
}

impl MimeTable {
    pub(crate) fn new(overrides: &BTreeMap<String, String>) -> MimeTable {
        MimeTable {
            overrides: overrides
                .iter()
                .filter_map(|(ext, ty)| Some((ext.clone(), HeaderValue::from_str(ty).ok()?)))
                .collect(),
        }
    }

    /// The `Content-Type` for a file name.
    pub(crate) fn content_type(&self, path: &Path) -> HeaderValue {
        let extension = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        if let Some(value) = extension.as_ref().and_then(|e| self.overrides.get(e)) {
            return value.clone();
        }
        match mime_guess::from_path(path).first_raw() {
            Some(raw) if raw.starts_with("text/") || raw == "application/javascript" => {
                // Text served without a charset is read as latin-1 by some clients; the files a
                // Python web application ships are UTF-8.
                HeaderValue::from_str(&format!("{raw}; charset=utf-8"))
                    .unwrap_or(HeaderValue::from_static("application/octet-stream"))
            }
            Some(raw) => HeaderValue::from_static(raw),
            None => HeaderValue::from_static("application/octet-stream"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_win_over_the_built_in_table() {
        let table = MimeTable::new(&BTreeMap::from([(
            "css".to_owned(),
            "text/x-special".to_owned(),
        )]));
        assert_eq!(table.content_type(Path::new("a/b.CSS")), "text/x-special");
        assert_eq!(
            table.content_type(Path::new("a.html")),
            "text/html; charset=utf-8"
        );
        assert_eq!(table.content_type(Path::new("a.png")), "image/png");
        assert_eq!(
            table.content_type(Path::new("a.unknownext")),
            "application/octet-stream"
        );
    }
}
