//! Directory listings (`--directory-listing`): a plain HTML page, like Apache's autoindex.

/// The listing page of `url_path` (which ends with `/`).
pub(crate) fn page(url_path: &str, entries: &[(String, bool)]) -> String {
    let title = escape(url_path);
    let mut page = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of {title}</title>\
         </head>\n<body>\n<h1>Index of {title}</h1>\n<ul>\n"
    );
    if url_path != "/" {
        page.push_str("<li><a href=\"../\">../</a></li>\n");
    }
    for (name, is_dir) in entries {
        let slash = if *is_dir { "/" } else { "" };
        let href = percent_encoding::utf8_percent_encode(name, LINK).to_string();
        page.push_str(&format!(
            "<li><a href=\"{href}{slash}\">{}{slash}</a></li>\n",
            escape(name)
        ));
    }
    page.push_str("</ul>\n</body></html>\n");
    page
}

/// Characters escaped in a link to an entry.
const LINK: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_escaped_and_directories_marked() {
        let page = page(
            "/docs/",
            &[("sub dir".into(), true), ("<a>.txt".into(), false)],
        );
        assert!(page.contains("<h1>Index of /docs/</h1>"));
        assert!(page.contains("<a href=\"sub%20dir/\">sub dir/</a>"));
        assert!(page.contains("<a href=\"%3Ca%3E.txt\">&lt;a&gt;.txt</a>"));
        assert!(page.contains("href=\"../\""));
    }
}

#[cfg(test)]
#[path = "fuzz/listing.rs"]
mod fuzz;
