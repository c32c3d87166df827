//! The names at the top of the document root, kept in memory so that requests which cannot be
//! static files never touch the disk.
//!
//! The set is re-read when the directory's modification time changes, checked once a second
//! (and at start-up): a file added at the top of the document root is served within a second.
//! Deeper changes need no refresh, since only the first path segment is checked here.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::SystemTime;

/// The top-level names of the document root.
#[derive(Debug, Default)]
pub(crate) struct TopLevel {
    names: RwLock<HashSet<Vec<u8>>>,
    seen_modified: Mutex<Option<SystemTime>>,
}

impl TopLevel {
    /// Whether a request path below the root (not `/` itself) may name something in the
    /// document root: only if its first segment exists at the top.
    pub(crate) fn might_contain(&self, path: &[u8]) -> bool {
        let rest = path.strip_prefix(b"/").unwrap_or(path);
        let first = rest.split(|&b| b == b'/').next().unwrap_or(b"");
        !first.is_empty() && self.has(first)
    }

    /// Whether `name` exists at the top of the document root.
    pub(crate) fn has(&self, name: &[u8]) -> bool {
        self.names
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(name)
    }

    /// Re-reads the names if the directory changed since the last look. Blocking.
    pub(crate) fn refresh(&self, root: &Path) {
        use std::os::unix::ffi::OsStrExt;
        let modified = std::fs::metadata(root).and_then(|m| m.modified()).ok();
        {
            let mut seen = self
                .seen_modified
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if modified.is_some() && *seen == modified {
                return;
            }
            *seen = modified;
        }
        let names: HashSet<Vec<u8>> = std::fs::read_dir(root)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|entry| entry.file_name().as_bytes().to_vec())
                    .collect()
            })
            .unwrap_or_default();
        *self.names.write().unwrap_or_else(PoisonError::into_inner) = names;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_top_level_names_that_exist_may_be_files() {
        let dir = std::env::temp_dir().join(format!("oxwsgi-top-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("static")).unwrap();
        std::fs::write(dir.join("robots.txt"), "").unwrap();
        let top = TopLevel::default();
        top.refresh(&dir);
        assert!(top.might_contain(b"/robots.txt"));
        assert!(top.might_contain(b"/static/app.css"));
        assert!(
            !top.might_contain(b"/"),
            "the root is the caller's decision"
        );
        assert!(top.has(b"robots.txt"));
        assert!(!top.might_contain(b"/api/users"));
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(dir.join("new.txt"), "").unwrap();
        top.refresh(&dir);
        assert!(top.might_contain(b"/new.txt"));
    }
}
