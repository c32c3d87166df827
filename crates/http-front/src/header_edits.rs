//! httpd's `RequestHeader` and `Header` (mod_headers), applied to the requests under their URL
//! paths: request headers before routing, response headers on the way out — on the
//! application's and the files' responses, and with `always` on the server's own error
//! responses too.

use http::{HeaderMap, HeaderName, HeaderValue};
use oxwsgi_config::headers::{HeaderAction, HeaderEdit};

/// Applies the edits that cover `path` (decoded and normalised), in order.
pub(crate) fn apply(headers: &mut HeaderMap, edits: &[HeaderEdit], path: &[u8], error: bool) {
    for edit in edits {
        if (error && !edit.always) || !edit.prefix.matches(path) {
            continue;
        }
        // Names and values were checked when the configuration was read.
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(edit.name.as_bytes()),
            HeaderValue::from_str(&edit.value),
        ) else {
            continue;
        };
        apply_one(headers, edit.action, name, value);
    }
}

fn apply_one(headers: &mut HeaderMap, action: HeaderAction, name: HeaderName, value: HeaderValue) {
    match action {
        HeaderAction::Set => {
            headers.insert(name, value);
        }
        HeaderAction::SetIfEmpty => {
            if headers.get(&name).is_none_or(|v| v.is_empty()) {
                headers.insert(name, value);
            }
        }
        HeaderAction::Add => {
            headers.append(name, value);
        }
        HeaderAction::Unset => {
            headers.remove(&name);
        }
        HeaderAction::Append | HeaderAction::Merge => {
            let existing: Vec<HeaderValue> = headers.get_all(&name).iter().cloned().collect();
            if existing.is_empty() {
                headers.insert(name, value);
                return;
            }
            let joined = existing
                .iter()
                .map(|v| v.as_bytes())
                .collect::<Vec<_>>()
                .join(&b", "[..]);
            let present = joined
                .split(|&b| b == b',')
                .any(|item| item.trim_ascii() == value.as_bytes());
            if action == HeaderAction::Merge && present {
                return;
            }
            let mut combined = joined;
            combined.extend_from_slice(b", ");
            combined.extend_from_slice(value.as_bytes());
            if let Ok(combined) = HeaderValue::from_bytes(&combined) {
                headers.insert(name, combined);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxwsgi_config::MountPoint;

    fn edit(
        prefix: &str,
        always: bool,
        action: HeaderAction,
        name: &str,
        value: &str,
    ) -> HeaderEdit {
        HeaderEdit {
            prefix: MountPoint::parse(prefix).unwrap(),
            host: None,
            always,
            action,
            name: name.to_owned(),
            value: value.to_owned(),
        }
    }

    #[test]
    fn edits_follow_mod_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("vary", HeaderValue::from_static("Accept"));
        headers.insert("x-gone", HeaderValue::from_static("1"));
        let edits = [
            edit(
                "/",
                false,
                HeaderAction::Set,
                "x-frame-options",
                "SAMEORIGIN",
            ),
            edit("/", false, HeaderAction::Merge, "vary", "Accept"),
            edit("/", false, HeaderAction::Append, "vary", "Cookie"),
            edit("/", false, HeaderAction::Unset, "x-gone", ""),
            edit("/", true, HeaderAction::Add, "x-always", "a"),
            edit("/api", false, HeaderAction::Set, "x-api", "1"),
        ];
        apply(&mut headers, &edits, b"/page", false);
        assert_eq!(headers["x-frame-options"], "SAMEORIGIN");
        assert_eq!(headers["vary"], "Accept, Cookie");
        assert!(!headers.contains_key("x-gone") && !headers.contains_key("x-api"));
        assert_eq!(headers["x-always"], "a");
        let mut error = HeaderMap::new();
        apply(&mut error, &edits, b"/api/x", true);
        assert_eq!(error.len(), 1);
        assert_eq!(error["x-always"], "a");
    }
}
