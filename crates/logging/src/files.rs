//! Log files that can be reopened under their writers.
//!
//! Rotation (by the supervisor, or by logrotate) renames a log file away; every process that
//! writes to it must then go on in a new file of the same name. A [`LogFile`] keeps its
//! descriptor's number for life and puts the new file *onto* that number (`dup3`), so a writer
//! in the middle of a write finishes it in the old file, the next write goes to the new one, and
//! no writer ever sees a closed descriptor. Lines written between the rename and the reopen
//! land in the renamed file, which is where they belong anyway.
//!
//! Every file opened with [`LogFile::open`] is remembered (weakly) so that [`reopen_all`] finds
//! it; the error log ([`crate::streams`]) is reopened by the same call.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};

use rustix::io::{DupFlags, dup3};

use crate::failures::{Change, Outage};

/// The log files of this process that can be reopened.
static OPEN: Mutex<Vec<Weak<LogFile>>> = Mutex::new(Vec::new());

/// A log that lines are appended to, written with one `write` per batch.
#[derive(Debug)]
pub struct LogFile {
    /// What the log is, for messages ("the access log").
    what: &'static str,
    /// Its file, when it is one (the terminal is not reopened).
    path: Option<PathBuf>,
    /// The descriptor lines are written to; reopening replaces the file under its number.
    fd: RwLock<OwnedFd>,
    outage: Outage,
}

impl LogFile {
    /// Opens `path` for appending (creating it), and remembers it for [`reopen_all`].
    pub fn open(path: &Path, what: &'static str) -> io::Result<Arc<LogFile>> {
        let file = Arc::new(LogFile {
            what,
            path: Some(path.to_path_buf()),
            fd: RwLock::new(open_append(path)?),
            outage: Outage::new(),
        });
        let mut open = OPEN.lock().unwrap_or_else(PoisonError::into_inner);
        open.retain(|file| file.strong_count() > 0);
        open.push(Arc::downgrade(&file));
        Ok(file)
    }

    /// A log written to a descriptor that is not a file of its own (standard output): never
    /// reopened.
    pub fn from_fd(fd: OwnedFd, what: &'static str) -> Arc<LogFile> {
        Arc::new(LogFile {
            what,
            path: None,
            fd: RwLock::new(fd),
            outage: Outage::new(),
        })
    }

    /// Appends `bytes` (`lines` lines) in one write when the system allows. A failed write
    /// loses the lines: they are counted, and the outage is logged when it starts and ends.
    pub fn write(&self, bytes: &[u8], lines: u64) {
        let written = {
            let fd = self.fd.read().unwrap_or_else(PoisonError::into_inner);
            write_all(&*fd, bytes)
        };
        let shown = || {
            self.path.as_deref().map_or_else(
                || "(standard output)".to_owned(),
                |path| path.display().to_string(),
            )
        };
        match written {
            Ok(()) => {
                if let Change::Ended(lost) = self.outage.succeeded() {
                    crate::notice!(
                        "{} {} can be written again; {lost} line(s) could not be written",
                        self.what,
                        shown()
                    );
                }
            }
            Err(err) => {
                if self.outage.failed(lines) == Change::Started {
                    tracing::error!(
                        "cannot write to {} {}: {err}; its lines are dropped (and counted) \
                         until it can be written again, and the server goes on serving",
                        self.what,
                        shown()
                    );
                }
            }
        }
    }

    /// Opens the file's path again and puts the new file in the old one's place.
    pub fn reopen(&self) -> io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let new = open_append(path)?;
        let mut fd = self.fd.write().unwrap_or_else(PoisonError::into_inner);
        dup3(&new, &mut fd, DupFlags::CLOEXEC)?;
        Ok(())
    }
}

/// A log that could not be reopened.
#[derive(Debug, thiserror::Error)]
#[error("cannot reopen {path}: {source}", path = path.display())]
pub struct ReopenError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: io::Error,
}

/// Reopens every log file of this process by its path: the error log and every [`LogFile`].
/// A file that cannot be reopened (its directory is gone, or this process switched to a user
/// who may not open it) keeps its descriptor: its lines go on to the renamed file.
pub fn reopen_all() -> Vec<ReopenError> {
    let mut errors = Vec::new();
    if let Err(err) = crate::streams::reopen_log() {
        errors.push(err);
    }
    let open: Vec<Arc<LogFile>> = OPEN
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    for file in open {
        if let Err(source) = file.reopen() {
            errors.push(ReopenError {
                path: file.path.clone().unwrap_or_default(),
                source,
            });
        }
    }
    errors
}

/// Opens `path` for appending (creating it) on a descriptor above the standard range.
pub(crate) fn open_append(path: &Path) -> io::Result<OwnedFd> {
    crate::streams::above_standard(
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?
            .into(),
    )
}

/// Writes all of `bytes`, retrying after partial writes and interruptions.
pub(crate) fn write_all(fd: impl AsFd, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match rustix::io::write(&fd, bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(written) => bytes = &bytes[written..],
            Err(rustix::io::Errno::INTR) => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("oxwsgi-logging-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_reopened_file_takes_the_next_lines_and_the_renamed_one_keeps_the_earlier() {
        let dir = temp_dir("reopen");
        let path = dir.join("access_log");
        let log = LogFile::open(&path, "the access log").unwrap();
        log.write(b"one\n", 1);
        std::fs::rename(&path, dir.join("access_log.1")).unwrap();
        log.write(b"two\n", 1);
        log.reopen().unwrap();
        log.write(b"three\n", 1);
        assert_eq!(
            std::fs::read_to_string(dir.join("access_log.1")).unwrap(),
            "one\ntwo\n"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "three\n");
    }

    #[test]
    fn a_full_device_counts_the_lines_it_loses() {
        let log = LogFile::open(Path::new("/dev/full"), "the access log").unwrap();
        let before = crate::write_failures();
        log.write(b"a\nb\n", 2);
        log.write(b"c\n", 1);
        assert!(crate::write_failures() >= before + 3);
    }
}
