//! Opening a file below a root directory, and nowhere else.
//!
//! The relative path is checked one component at a time (no empty, `.`, `..` or backslash
//! component; names starting with a dot only when hidden files are allowed, and `.well-known`
//! always), then opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)` relative to the
//! root's descriptor: the kernel refuses any resolution that leaves the root — a `..` in a
//! symlink's target, an absolute symlink, a `/proc` magic link — while symlinks that stay
//! inside the root work. Kernels without `openat2` (before 5.6) get the same guarantee from
//! resolving the path and checking it is below the root.
//!
//! A lookup can run in two ways ([`Resolve`]): from the kernel's caches only, which never waits
//! for the disk and so may run on an I/O thread (`RESOLVE_CACHED`: the kernel answers `EAGAIN`
//! when a step of the path is not cached), or fully, which may block and runs on tokio's
//! blocking pool. The first is tried first; a hot file is then served without a thread
//! hand-off.

use std::ffi::OsStr;
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags, ResolveFlags};

/// Why a hidden name is refused (the overlay passes these to the application).
pub(crate) const HIDDEN: &str = "it is a hidden file";

/// A root directory, held open so renames of its path do not move what is served.
#[derive(Debug)]
pub(crate) struct Root {
    dir: Option<OwnedFd>,
    path: PathBuf,
}

/// What a path names below a root.
#[derive(Debug)]
pub(crate) enum Found {
    /// A regular file, open for reading.
    File(File, Metadata),
    /// A directory.
    Directory,
    /// Nothing (or something that is neither a file nor a directory).
    Missing,
    /// Something the rules refuse: a hidden name, a backslash, an escape from the root.
    Refused(&'static str),
    /// The lookup needs the disk (or a kernel without `RESOLVE_CACHED`): do it blocking.
    WouldBlock,
}

/// How far a lookup may go to resolve a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resolve {
    /// From the kernel's caches only, never waiting for the disk.
    CachedOnly,
    /// All the way, waiting for the disk if need be.
    Blocking,
}

impl Root {
    /// Opens the root directory; a root that does not exist serves nothing.
    pub(crate) fn open(path: &Path) -> Root {
        let dir = rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok();
        Root {
            dir,
            path: path.to_path_buf(),
        }
    }

    /// The root's path, as configured.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Looks up `relative` (a decoded URL path below the root, without its leading slash).
    pub(crate) fn lookup(&self, relative: &[u8], serve_hidden: bool, resolve: Resolve) -> Found {
        let relative = match check_relative(relative, serve_hidden) {
            Ok(relative) => relative,
            Err(why) => return Found::Refused(why),
        };
        let Some(dir) = &self.dir else {
            return Found::Missing;
        };
        let opened = if relative.as_os_str().is_empty() {
            rustix::fs::openat(dir, ".", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        } else {
            open_beneath(dir, &self.path, &relative, resolve)
        };
        let file = match opened {
            Ok(fd) => File::from(fd),
            // EINVAL: a kernel that does not know RESOLVE_CACHED; NOSYS: one without openat2.
            Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS)
                if resolve == Resolve::CachedOnly =>
            {
                return Found::WouldBlock;
            }
            Err(rustix::io::Errno::NOENT) | Err(rustix::io::Errno::NOTDIR) => {
                return Found::Missing;
            }
            Err(rustix::io::Errno::XDEV) | Err(rustix::io::Errno::LOOP) => {
                return Found::Refused("it leads out of the served directory");
            }
            Err(rustix::io::Errno::ACCESS) | Err(rustix::io::Errno::PERM) => {
                return Found::Refused("the server may not read it");
            }
            Err(_) => return Found::Missing,
        };
        match file.metadata() {
            Ok(meta) if meta.is_file() => Found::File(file, meta),
            Ok(meta) if meta.is_dir() => Found::Directory,
            _ => Found::Missing,
        }
    }

    /// Lists a directory below the root: `(name, is_directory)` pairs, hidden names left out
    /// unless allowed.
    pub(crate) fn list(
        &self,
        relative: &[u8],
        serve_hidden: bool,
    ) -> io::Result<Vec<(String, bool)>> {
        let relative = check_relative(relative, serve_hidden)
            .map_err(|why| io::Error::new(io::ErrorKind::PermissionDenied, why))?;
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(self.path.join(relative))? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') && !serve_hidden {
                continue;
            }
            let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
            entries.push((name, is_dir));
        }
        entries.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(entries)
    }
}

/// Checks each component of a relative URL path; returns it as a relative file system path.
fn check_relative(relative: &[u8], serve_hidden: bool) -> Result<PathBuf, &'static str> {
    let mut path = PathBuf::new();
    for component in relative.split(|&b| b == b'/') {
        match component {
            b"" => continue,
            b"." | b".." => return Err("it has a '.' or '..' segment"),
            _ if component.contains(&b'\\') => return Err("it has a backslash"),
            _ if component.contains(&0) => return Err("it has a NUL byte"),
            _ if component.starts_with(b".") && !serve_hidden && component != b".well-known" => {
                return Err(HIDDEN);
            }
            _ => path.push(OsStr::from_bytes(component)),
        }
    }
    Ok(path)
}

fn open_beneath(
    dir: &OwnedFd,
    root: &Path,
    relative: &Path,
    resolve: Resolve,
) -> rustix::io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY;
    let mut how = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
    if resolve == Resolve::CachedOnly {
        how |= ResolveFlags::CACHED;
    }
    match rustix::fs::openat2(dir, relative, flags, Mode::empty(), how) {
        Err(rustix::io::Errno::NOSYS) if resolve == Resolve::Blocking => {
            open_checked(root, relative, flags)
        }
        other => other,
    }
}

/// Without `openat2`: resolve the path fully and refuse it unless it is still below the root.
fn open_checked(root: &Path, relative: &Path, flags: OFlags) -> rustix::io::Result<OwnedFd> {
    let root = root.canonicalize().map_err(|_| rustix::io::Errno::NOENT)?;
    let target = root
        .join(relative)
        .canonicalize()
        .map_err(|err| match err.kind() {
            io::ErrorKind::NotFound => rustix::io::Errno::NOENT,
            _ => rustix::io::Errno::ACCESS,
        })?;
    if !target.starts_with(&root) {
        return Err(rustix::io::Errno::XDEV);
    }
    rustix::fs::open(&target, flags, Mode::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("oxwsgi-open-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("root/sub")).unwrap();
        std::fs::write(dir.join("root/sub/file.txt"), "inside").unwrap();
        std::fs::write(dir.join("secret.txt"), "outside").unwrap();
        std::fs::write(dir.join("root/.env"), "hidden").unwrap();
        std::os::unix::fs::symlink(dir.join("secret.txt"), dir.join("root/escape")).unwrap();
        std::os::unix::fs::symlink("sub/file.txt", dir.join("root/inside-link")).unwrap();
        dir
    }

    #[test]
    fn files_and_directories_below_the_root_are_found() {
        let dir = tree("found");
        let root = Root::open(&dir.join("root"));
        assert!(matches!(
            root.lookup(b"sub/file.txt", false, Resolve::Blocking),
            Found::File(..)
        ));
        assert!(matches!(
            root.lookup(b"sub", false, Resolve::Blocking),
            Found::Directory
        ));
        // Once looked up, the path is in the kernel's caches: found without the disk (or, on a
        // kernel without RESOLVE_CACHED, handed to the blocking lookup).
        assert!(matches!(
            root.lookup(b"sub/file.txt", false, Resolve::CachedOnly),
            Found::File(..) | Found::WouldBlock
        ));
        assert!(matches!(
            root.lookup(b"", false, Resolve::Blocking),
            Found::Directory
        ));
        assert!(matches!(
            root.lookup(b"nope", false, Resolve::Blocking),
            Found::Missing
        ));
        assert!(matches!(
            root.lookup(b"sub/file.txt/x", false, Resolve::Blocking),
            Found::Missing
        ));
    }

    #[test]
    fn symlinks_out_of_the_root_are_refused_and_inside_ones_followed() {
        let dir = tree("links");
        let root = Root::open(&dir.join("root"));
        assert!(matches!(
            root.lookup(b"escape", false, Resolve::Blocking),
            Found::Refused(_)
        ));
        assert!(matches!(
            root.lookup(b"inside-link", false, Resolve::Blocking),
            Found::File(..)
        ));
    }

    #[test]
    fn hidden_names_backslashes_and_dot_segments_are_refused() {
        let dir = tree("hidden");
        let root = Root::open(&dir.join("root"));
        assert!(matches!(
            root.lookup(b".env", false, Resolve::Blocking),
            Found::Refused(_)
        ));
        assert!(matches!(
            root.lookup(b".env", true, Resolve::Blocking),
            Found::File(..)
        ));
        assert!(matches!(
            root.lookup(b".well-known/x", false, Resolve::Blocking),
            Found::Missing
        ));
        assert!(matches!(
            root.lookup(b"sub\\..\\..\\secret.txt", false, Resolve::Blocking),
            Found::Refused(_)
        ));
        assert!(matches!(
            root.lookup(b"../secret.txt", false, Resolve::Blocking),
            Found::Refused(_)
        ));
    }
}

#[cfg(test)]
#[path = "fuzz/open.rs"]
mod fuzz;
