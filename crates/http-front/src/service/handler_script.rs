//! mod_wsgi-express's `--add-handler`: a WSGI script answers for the document root's files of
//! an extension (httpd's `AddHandler` with mod_wsgi's `WSGIHandlerScript`). A request whose
//! path, up to a `/`, names such a file goes to the handler, with that part as `SCRIPT_NAME`
//! and the rest as `PATH_INFO`, as httpd maps a request to a file.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The handlers of one virtual host.
pub(crate) struct Handlers {
    document_root: PathBuf,
    /// Extension (lower case, with its dot) and the handler's application index.
    by_extension: Vec<(String, usize)>,
}

impl Handlers {
    pub(crate) fn new(document_root: &Path, by_extension: &[(String, usize)]) -> Handlers {
        Handlers {
            document_root: document_root.to_path_buf(),
            by_extension: by_extension.to_vec(),
        }
    }

    /// The handler for the decoded, normalised `path`, with the length of the part that
    /// names the file: the shortest prefix ending at a `/` (or the end) that has a handled
    /// extension and is a file under the document root. Names starting with a dot are never
    /// handed over, as they are never served.
    pub(crate) async fn find(&self, path: &[u8]) -> Option<(usize, usize)> {
        if self.by_extension.is_empty() {
            return None;
        }
        let ends = path
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'/')
            .map(|(i, _)| i)
            .skip(1)
            .chain([path.len()]);
        for end in ends {
            let prefix = &path[..end];
            if prefix.windows(2).any(|w| w == b"/.") {
                return None;
            }
            let Some(app) = self.handler_of(prefix) else {
                continue;
            };
            let relative = OsStr::from_bytes(prefix.strip_prefix(b"/").unwrap_or(prefix));
            let file = self.document_root.join(relative);
            if tokio::fs::metadata(&file)
                .await
                .is_ok_and(|meta| meta.is_file())
            {
                return Some((app, end));
            }
        }
        None
    }

    fn handler_of(&self, prefix: &[u8]) -> Option<usize> {
        let name = &prefix[prefix.iter().rposition(|b| *b == b'/').map_or(0, |i| i + 1)..];
        self.by_extension.iter().find_map(|(extension, app)| {
            let ext = extension.as_bytes();
            (name.len() > ext.len() && name[name.len() - ext.len()..].eq_ignore_ascii_case(ext))
                .then_some(*app)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handler_is_chosen_by_the_last_segments_extension_in_any_case() {
        let handlers = Handlers::new(Path::new("/srv"), &[(".md".into(), 3)]);
        assert_eq!(handlers.handler_of(b"/docs/read.MD"), Some(3));
        assert_eq!(handlers.handler_of(b"/docs.md/read"), None);
        assert_eq!(handlers.handler_of(b"/.md"), None);
    }

    #[tokio::test]
    async fn the_file_must_exist_and_its_path_may_go_on() {
        let root = std::env::temp_dir().join(format!("oxwsgi-handlers-{}", std::process::id()));
        std::fs::create_dir_all(root.join("docs")).unwrap();
        std::fs::write(root.join("docs/read.md"), "# hi").unwrap();
        let handlers = Handlers::new(&root, &[(".md".into(), 1)]);
        assert_eq!(handlers.find(b"/docs/read.md").await, Some((1, 13)));
        assert_eq!(handlers.find(b"/docs/read.md/more/x").await, Some((1, 13)));
        assert_eq!(handlers.find(b"/docs/other.md").await, None);
        assert_eq!(handlers.find(b"/.hidden/read.md").await, None);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
