//! Log rotation (`--rotate-logs`), done in one place: the supervisor.
//!
//! Every worker appends to the same error and access log files (`O_APPEND`, a line per write),
//! so no worker may rotate them: two would rotate the same file twice. Instead the supervisor
//! looks at the files' sizes once a second; when one is larger than `--max-log-size` it
//!
//! 1. renames `FILE.N-1` to `FILE.N`, …, `FILE.1` to `FILE.2` (the oldest beyond
//!    `--max-log-files` is overwritten, so dropped), then `FILE` to `FILE.1`;
//! 2. creates a new, empty `FILE` with the old one's permissions and owner (logrotate's
//!    `create`);
//! 3. reopens its own descriptors and tells every serving worker to reopen theirs (SIGWINCH,
//!    through the task that owns the worker's process; see `Supervisor::reopen_logs`).
//!
//! Numbered names (logrotate's, Python's `RotatingFileHandler`'s) rather than
//! mod_wsgi-express's: its `rotatelogs` writes to a new timestamped file each time, so the log
//! is never at its configured path and `tail -f error_log` shows nothing. Here `FILE` is always
//! the one being written.
//!
//! No line is lost: a worker writes to its descriptor, not to the path, and puts the new file
//! onto the same descriptor number when told (`oxwsgi_logging::LogFile`). Lines written between
//! the rename and the reopen go to `FILE.1`, with the lines before them. The limit is checked
//! once a second, so a file may pass it by what the server writes in a second.

use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use oxwsgi_config::{LogDestination, LogSettings, Rotation, ServerConfig};

/// The log files of a configuration and when to rotate them.
#[derive(Debug)]
pub(crate) struct Rotator {
    rotation: Rotation,
    files: Vec<Watched>,
}

/// One log file.
#[derive(Debug)]
struct Watched {
    path: PathBuf,
    /// Its last rotation failed (said once, not every second).
    failing: bool,
}

impl Rotator {
    /// The rotator of `config`'s log files, if it rotates them.
    pub(crate) fn of(config: &ServerConfig) -> Option<Rotator> {
        let rotation = config.log_files.rotation?;
        let mut paths: Vec<PathBuf> = Vec::new();
        for logging in log_settings(config) {
            let destinations = std::iter::once(&logging.error_log)
                .chain(logging.access_log.as_ref().map(|log| &log.destination));
            for destination in destinations {
                if let LogDestination::File(path) = destination {
                    if !paths.contains(path) {
                        paths.push(path.clone());
                    }
                }
            }
        }
        Some(Rotator {
            rotation,
            files: paths
                .into_iter()
                .map(|path| Watched {
                    path,
                    failing: false,
                })
                .collect(),
        })
    }

    /// Rotates every file that has grown past the limit; true when one was.
    pub(crate) fn check(&mut self) -> bool {
        let mut rotated = false;
        for file in &mut self.files {
            let large = std::fs::metadata(&file.path)
                .is_ok_and(|meta| meta.is_file() && meta.len() > self.rotation.max_bytes);
            if !large {
                continue;
            }
            match rotate(&file.path, self.rotation.max_files) {
                Ok(()) => {
                    rotated = true;
                    file.failing = false;
                    tracing::info!("rotated the log {}", file.path.display());
                }
                Err(err) if !file.failing => {
                    file.failing = true;
                    tracing::error!(
                        "cannot rotate the log {}: {err}; it grows on until it can be",
                        file.path.display()
                    );
                }
                Err(_) => {}
            }
        }
        rotated
    }
}

/// Every log setting of the configuration: the server's, its groups', its virtual hosts'.
fn log_settings(config: &ServerConfig) -> impl Iterator<Item = &LogSettings> {
    std::iter::once(&config.logging)
        .chain(config.groups.iter().filter_map(|g| g.logging.as_ref()))
        .chain(config.hosts.iter().filter_map(|h| h.logging.as_ref()))
}

/// `path` with `.n` after it.
fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// Shifts the rotated files of `path` by one, keeping `keep` of them, makes `path` the first,
/// and creates a new `path` like the old one.
pub(crate) fn rotate(path: &Path, keep: u32) -> io::Result<()> {
    let old = std::fs::metadata(path)?;
    for n in (1..keep).rev() {
        match std::fs::rename(numbered(path, n), numbered(path, n + 1)) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(err),
            _ => {}
        }
    }
    std::fs::rename(path, numbered(path, 1))?;
    let created = OpenOptions::new()
        .append(true)
        .create_new(true)
        .mode(old.mode() & 0o7777)
        .open(path);
    match created {
        Ok(file) => {
            // As the old file was, whatever the umask; its owner when the supervisor may give
            // it (it runs as root), so that whoever could write the old file can write this.
            let _ = file.set_permissions(old.permissions());
            if (old.uid(), old.gid())
                != (
                    rustix::process::geteuid().as_raw(),
                    rustix::process::getegid().as_raw(),
                )
            {
                let _ = std::os::unix::fs::fchown(&file, Some(old.uid()), Some(old.gid()));
            }
            Ok(())
        }
        // A writer reopened it first: it is there.
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("oxwsgi-rotation-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn rotation_shifts_the_numbered_files_and_keeps_only_so_many() {
        let dir = temp_dir("shift");
        let log = dir.join("error_log");
        for text in ["a", "b", "c", "d"] {
            std::fs::write(&log, text).unwrap();
            rotate(&log, 2).unwrap();
            assert_eq!(std::fs::read_to_string(&log).unwrap(), "");
        }
        assert_eq!(
            std::fs::read_to_string(dir.join("error_log.1")).unwrap(),
            "d"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("error_log.2")).unwrap(),
            "c"
        );
        assert!(!dir.join("error_log.3").exists());
    }

    #[test]
    fn the_new_file_has_the_old_ones_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("mode");
        let log = dir.join("access_log");
        std::fs::write(&log, "x").unwrap();
        std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o640)).unwrap();
        rotate(&log, 1).unwrap();
        let mode = std::fs::metadata(&log).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
    }

    #[test]
    fn only_files_past_the_limit_are_rotated() {
        let dir = temp_dir("limit");
        let log = dir.join("error_log");
        std::fs::write(&log, "12345").unwrap();
        let mut rotator = Rotator {
            rotation: Rotation {
                max_bytes: 5,
                max_files: 3,
            },
            files: vec![Watched {
                path: log.clone(),
                failing: false,
            }],
        };
        assert!(!rotator.check());
        std::fs::write(&log, "123456").unwrap();
        assert!(rotator.check());
        assert_eq!(
            std::fs::read_to_string(dir.join("error_log.1")).unwrap(),
            "123456"
        );
    }
}
