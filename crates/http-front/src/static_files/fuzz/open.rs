//! Fuzz target of static file path resolution (see docs/testing.md, "Fuzzing").
//!
//! `fuzz_static_path_resolution`: a request path goes the way the server takes it — normalised
//! ([`crate::path::normalize`]), routed ([`crate::router::Router`]: the document root, or a
//! `--url-alias` directory below `/static`), then looked up below its root, with and without
//! hidden files, from the caches and blocking, as are its `.br`/`.gz` siblings — and whatever
//! the path (`..`, `%2e%2e`, encoded slashes, backslashes, NUL, dot-files, symlinks that lead
//! out, to `/`, to `..`, or in a loop), a file that is found lies inside its root: the opened
//! descriptor's real path is below the root's real path, and it is never one of the files
//! outside.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use oxwsgi_config::MountPoint;
use proptest::prelude::*;

use super::{Found, Resolve, Root};
use crate::router::{Mounted, Route, Router};

struct Tree {
    docroot: PathBuf,
    alias: PathBuf,
    /// (device, inode) of every file outside both roots.
    outside: HashSet<(u64, u64)>,
}

/// outside/secret.txt, outside/docroot/{…}, outside/aliased/{…}, with links in and out.
fn tree() -> &'static Tree {
    static TREE: OnceLock<Tree> = OnceLock::new();
    TREE.get_or_init(|| {
        remove_stale_trees();
        let base = std::env::temp_dir().join(format!("oxwsgi-fuzz-open-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let docroot = base.join("docroot");
        let alias = base.join("aliased");
        for root in [&docroot, &alias] {
            std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
            std::fs::create_dir_all(root.join(".well-known")).unwrap();
            std::fs::write(root.join("a.txt"), "inside").unwrap();
            std::fs::write(root.join("a.txt.gz"), "inside").unwrap();
            std::fs::write(root.join("a.txt.br"), "inside").unwrap();
            std::fs::write(root.join(".env"), "inside").unwrap();
            std::fs::write(root.join(".well-known/x"), "inside").unwrap();
            std::fs::write(root.join("sub/b.txt"), "inside").unwrap();
            std::fs::write(root.join("sub/deeper/c.txt"), "inside").unwrap();
            std::fs::write(root.join("back\\slash"), "inside").unwrap();
            let link = |target: &str, name: &str| {
                std::os::unix::fs::symlink(target, root.join(name)).unwrap();
            };
            link("../secret.txt", "escape");
            link("..", "up");
            link("/", "slash");
            link(base.join("secret.txt").to_str().unwrap(), "absolute");
            link("sub/b.txt", "inside-link");
            link("sub", "sub-link");
            link("loop", "loop");
            link("../../secret.txt", "sub/escape");
            link("../b.txt", "sub/deeper/back");
            link("../../..", "sub/deeper/way-up");
        }
        std::fs::write(base.join("secret.txt"), "OUTSIDE").unwrap();
        std::fs::write(base.join("docroot.txt"), "OUTSIDE").unwrap();
        std::fs::write(base.join("a.txt"), "OUTSIDE").unwrap();
        let mut outside = HashSet::new();
        for name in ["secret.txt", "docroot.txt", "a.txt"] {
            let meta = std::fs::metadata(base.join(name)).unwrap();
            outside.insert((meta.dev(), meta.ino()));
        }
        Tree {
            docroot,
            alias,
            outside,
        }
    })
}

/// Removes the trees of earlier runs (whose process is gone): scripts/fuzz runs many.
fn remove_stale_trees() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("oxwsgi-fuzz-open-"))
        else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => proptest::sample::select(vec![
            "/", "//", ".", "..", "%2e", "%2E%2e", "%2f", "%00", "%5c", "\\", "%5C..%5C", "\0",
            "a.txt", "secret.txt", "docroot.txt", "docroot", "aliased", "sub", "deeper", "b.txt",
            "escape", "up", "slash", "absolute", "inside-link", "sub-link", "loop", "way-up",
            "back", ".env", ".well-known", "x", "etc", "passwd", "static", "%25", "%2e%2e%2f",
            "back\\slash", "back%5cslash", "~", ".gz", ".br",
        ])
        .prop_map(str::to_owned),
        1 => any::<String>().prop_map(|s| s.chars().take(3).collect()),
    ]
}

fn request_path() -> impl Strategy<Value = String> {
    proptest::collection::vec(piece(), 0..10).prop_map(|p| format!("/{}", p.concat()))
}

/// The real path of an open file, from /proc.
fn real_path(file: &std::fs::File) -> PathBuf {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).unwrap()
}

fn check_found(found: Found, root: &Path, tree: &Tree, what: &str) -> Result<(), TestCaseError> {
    if let Found::File(file, meta) = found {
        let real = real_path(&file);
        let root = root.canonicalize().unwrap();
        prop_assert!(
            real.starts_with(&root),
            "{} opened {:?}, outside {:?}",
            what,
            real,
            root
        );
        prop_assert!(
            !tree.outside.contains(&(meta.dev(), meta.ino())),
            "{} opened an outside file",
            what
        );
    }
    Ok(())
}

proptest! {
    #[test]
    fn fuzz_static_path_resolution(raw in request_path(), hidden in any::<bool>()) {
        let tree = tree();
        let Ok(path) = crate::path::normalize(&raw) else {
            return Ok(());
        };
        let router = Router::new(vec![
            (MountPoint::root(), Mounted::App(0)),
            (MountPoint::parse("/static").unwrap(), Mounted::Alias(0)),
        ]);
        let (root, relative) = match router.route(&path) {
            Route::Alias { prefix_len, .. } => {
                let rest = &path[prefix_len..];
                (&tree.alias, rest.strip_prefix(b"/").unwrap_or(rest).to_vec())
            }
            // The document root overlay looks up the path without its leading slash.
            _ => (&tree.docroot, path[1..].to_vec()),
        };
        let opened = Root::open(root);
        for resolve in [Resolve::CachedOnly, Resolve::Blocking] {
            for suffix in [&b""[..], b".br", b".gz"] {
                let mut candidate = relative.clone();
                candidate.extend_from_slice(suffix);
                let what = format!("{raw:?} -> {:?} ({resolve:?})", String::from_utf8_lossy(&candidate));
                check_found(opened.lookup(&candidate, hidden, resolve), root, tree, &what)?;
            }
        }
        // A directory listing is only made of what a lookup found to be a directory.
        if let Found::Directory = opened.lookup(&relative, hidden, Resolve::Blocking) {
            use std::os::unix::ffi::OsStrExt;
            let listed = root.join(std::ffi::OsStr::from_bytes(&relative));
            if let Ok(real) = listed.canonicalize() {
                prop_assert!(real.starts_with(root.canonicalize().unwrap()), "listing {:?}", real);
            }
        }
    }
}
