//! A file read once and read again when it changes: its modification time, size and inode
//! are looked at (on the blocking pool) at most once every [`RECHECK`], and the file is read
//! and parsed again only when one of them differs.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// How long what was read is used before the file is looked at again.
pub(super) const RECHECK: Duration = Duration::from_secs(1);

/// What a file's content becomes once read.
pub(super) trait Parse: Send + Sync + Sized + 'static {
    /// The content of a whole file.
    fn parse(bytes: &[u8]) -> Self;
}

/// What tells one version of a file from another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
    device: u64,
}

impl Stamp {
    fn of(path: &Path) -> std::io::Result<Stamp> {
        let metadata = std::fs::metadata(path)?;
        Ok(Stamp {
            modified: metadata.modified().ok(),
            len: metadata.len(),
            inode: metadata.ino(),
            device: metadata.dev(),
        })
    }
}

struct State<T> {
    /// When the file was last looked at.
    checked: Option<Instant>,
    /// The version read (`None`: none, or one that changed while it was read).
    stamp: Option<Stamp>,
    content: Result<Arc<T>, Arc<str>>,
}

/// A file, as last read.
pub(super) struct Watched<T> {
    path: Arc<PathBuf>,
    state: tokio::sync::Mutex<State<T>>,
}

/// What looking at the file found.
enum Refresh<T> {
    Unchanged,
    Read(Option<Stamp>, T),
    Failed(std::io::Error),
}

impl<T: Parse> Watched<T> {
    pub(super) fn new(path: PathBuf) -> Watched<T> {
        Watched {
            path: Arc::new(path),
            state: tokio::sync::Mutex::new(State {
                checked: None,
                stamp: None,
                content: Err(Arc::from("not read yet")),
            }),
        }
    }

    /// The file's content, read again first if it changed (looked at once a [`RECHECK`]);
    /// or why it cannot be read.
    pub(super) async fn current(&self) -> Result<Arc<T>, Arc<str>> {
        let mut state = self.state.lock().await;
        if state.checked.is_some_and(|at| at.elapsed() < RECHECK) {
            return state.content.clone();
        }
        let path = Arc::clone(&self.path);
        let known = state.stamp;
        let refreshed = tokio::task::spawn_blocking(move || refresh::<T>(&path, known)).await;
        match refreshed {
            Ok(Refresh::Unchanged) => {}
            Ok(Refresh::Read(stamp, content)) => {
                state.stamp = stamp;
                state.content = Ok(Arc::new(content));
            }
            Ok(Refresh::Failed(err)) => {
                state.stamp = None;
                state.content = Err(Arc::from(err.to_string()));
            }
            Err(err) => state.content = Err(Arc::from(err.to_string())),
        }
        state.checked = Some(Instant::now());
        state.content.clone()
    }
}

/// Looks at the file (on the blocking pool); reads it if it is not the version `known`.
fn refresh<T: Parse>(path: &Path, known: Option<Stamp>) -> Refresh<T> {
    let before = match Stamp::of(path) {
        Ok(stamp) => stamp,
        Err(err) => return Refresh::Failed(err),
    };
    if known == Some(before) {
        return Refresh::Unchanged;
    }
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) => return Refresh::Failed(err),
    };
    // A file written while it was read is read again next time.
    let after = Stamp::of(path).ok();
    let stamp = (after == Some(before)).then_some(before);
    Refresh::Read(stamp, T::parse(&bytes))
}
