//! `--reload-on-changes`: the worker asks to be replaced (new first, so no request is lost)
//! when the source file of a module it imported changes, or a file a `--reload-on-changes=GLOB`
//! pattern names.
//!
//! Files are watched with the kernel's notifications (inotify, through the `notify` crate), so
//! no file is looked at until one changes, however many modules the application imports. What
//! is watched is each file's directory, not the file: editors save by writing a new file and
//! renaming it over the old one, which a watch on the old file's inode would miss. The list of
//! imported files comes from `sys.modules`, looked at once before the worker serves and then
//! once a second, and only read again when its size changed (modules imported late, by a
//! request, are watched from then on).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use oxwsgi_logging::notice;
use oxwsgi_process::ReplaceReason;
use oxwsgi_wsgi_bridge::development::ImportedFiles;
use tokio::sync::{mpsc, watch};

use crate::control::Control;

/// How long the files must stay quiet after a change before the worker asks to be replaced:
/// an editor's save is several events (truncate, writes, rename), and the new worker is to
/// import the whole new file.
const SETTLE: Duration = Duration::from_millis(200);

/// The longest wait for the files to stay quiet.
const SETTLE_AT_MOST: Duration = Duration::from_secs(2);

/// How often `sys.modules` is looked at for modules imported since.
const RESCAN: Duration = Duration::from_secs(1);

/// The watched files and patterns, and the kernel's reports about them.
pub(crate) struct CodeWatch {
    watcher: RecommendedWatcher,
    events: mpsc::UnboundedReceiver<notify::Result<Event>>,
    imported: Option<ImportedFiles>,
    files: HashSet<PathBuf>,
    directories: HashSet<PathBuf>,
    patterns: Vec<glob::Pattern>,
    /// Directories that could not be watched have been reported once.
    warned: bool,
}

impl CodeWatch {
    /// Starts watching the files `imported` lists now and those `patterns` (absolute globs)
    /// match; `None` (after logging why) if the kernel's notifications cannot be had.
    pub(crate) fn start(imported: Option<ImportedFiles>, patterns: &[String]) -> Option<CodeWatch> {
        let (sender, events) = mpsc::unbounded_channel();
        let watcher = notify::recommended_watcher(move |event| {
            let _ = sender.send(event);
        });
        let watcher = match watcher {
            Ok(watcher) => watcher,
            Err(err) => {
                tracing::error!("--reload-on-changes: cannot watch files: {err}");
                return None;
            }
        };
        let mut watch = CodeWatch {
            watcher,
            events,
            imported,
            files: HashSet::new(),
            directories: HashSet::new(),
            patterns: Vec::new(),
            warned: false,
        };
        for pattern in patterns {
            let Ok(compiled) = glob::Pattern::new(pattern) else {
                continue;
            };
            let (base, recursive) = pattern_base(pattern);
            let mode = if recursive {
                RecursiveMode::Recursive
            } else {
                RecursiveMode::NonRecursive
            };
            if let Err(err) = watch.watcher.watch(&base, mode) {
                tracing::warn!(
                    "--reload-on-changes={pattern}: cannot watch {}: {err}",
                    base.display()
                );
            }
            watch.patterns.push(compiled);
        }
        let files = watch
            .imported
            .as_mut()
            .map(ImportedFiles::new_files)
            .unwrap_or_default();
        watch.add_files(files);
        tracing::info!(
            "--reload-on-changes: watching {} file(s) in {} directories, and {} pattern(s)",
            watch.files.len(),
            watch.directories.len(),
            watch.patterns.len()
        );
        Some(watch)
    }

    fn add_files(&mut self, files: Vec<PathBuf>) {
        let here = std::env::current_dir().unwrap_or_default();
        for file in files {
            let file = here.join(file);
            let Some(directory) = file.parent().map(Path::to_path_buf) else {
                continue;
            };
            if !self.directories.contains(&directory) {
                // A module from a zip file or a frozen one has no directory to watch.
                if !directory.is_dir() {
                    continue;
                }
                if let Err(err) = self.watcher.watch(&directory, RecursiveMode::NonRecursive) {
                    if !self.warned {
                        self.warned = true;
                        tracing::warn!(
                            "--reload-on-changes: cannot watch {} ({err}); changes there go \
                             unnoticed (see /proc/sys/fs/inotify/max_user_watches)",
                            directory.display()
                        );
                    }
                    continue;
                }
                self.directories.insert(directory);
            }
            self.files.insert(file);
        }
    }

    /// The watched file an event is about, if any.
    fn changed_file(&self, event: &Event) -> Option<PathBuf> {
        match event.kind {
            EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) => {}
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => {}
            _ => return None,
        }
        event
            .paths
            .iter()
            .find(|path| {
                self.files.contains(*path)
                    || self.patterns.iter().any(|pattern| {
                        pattern.matches_path_with(
                            path,
                            glob::MatchOptions {
                                require_literal_separator: true,
                                ..glob::MatchOptions::new()
                            },
                        )
                    })
            })
            .cloned()
    }

    /// Follows the files until the worker stops, asking for a replacement after each change.
    pub(crate) async fn run(mut self, control: Arc<Control>, mut stop: watch::Receiver<bool>) {
        let mut rescan = tokio::time::interval(RESCAN);
        rescan.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                _ = rescan.tick() => self.rescan().await,
                event = self.events.recv() => {
                    let Some(event) = event else { return };
                    let changed = match event {
                        Ok(event) => self.changed_file(&event),
                        Err(err) => {
                            tracing::warn!("--reload-on-changes: {err}");
                            None
                        }
                    };
                    if let Some(path) = changed {
                        self.settle().await;
                        notice!("{} changed (--reload-on-changes)", path.display());
                        control.replace(ReplaceReason::CodeChanged);
                    }
                }
            }
        }
    }

    /// Waits until no event came for [`SETTLE`], or [`SETTLE_AT_MOST`] (files that never
    /// stop changing must not keep the new code away).
    async fn settle(&mut self) {
        let until = tokio::time::Instant::now() + SETTLE_AT_MOST;
        while tokio::time::Instant::now() < until {
            match tokio::time::timeout(SETTLE, self.events.recv()).await {
                Ok(Some(_)) => continue,
                _ => return,
            }
        }
    }

    /// Watches the files of modules imported since the last look.
    async fn rescan(&mut self) {
        let Some(mut imported) = self.imported.take() else {
            return;
        };
        // The GIL may be busy: wait for it on the blocking pool, not on an I/O thread.
        let looked = tokio::task::spawn_blocking(move || {
            let files = imported.new_files();
            (imported, files)
        })
        .await;
        if let Ok((imported, files)) = looked {
            self.imported = Some(imported);
            if !files.is_empty() {
                let names: Vec<_> = files.iter().map(|f| f.display().to_string()).collect();
                tracing::info!(
                    "--reload-on-changes: now also watching {} (imported since)",
                    names.join(", ")
                );
            }
            self.add_files(files);
        }
    }
}

/// The directory to watch for `pattern`: its leading components without a glob character,
/// and whether what follows spans directories (then the watch is recursive).
fn pattern_base(pattern: &str) -> (PathBuf, bool) {
    let is_glob = |part: &str| part.contains(['*', '?', '[']);
    let parts: Vec<&str> = pattern.split('/').collect();
    let first_glob = parts
        .iter()
        .position(|part| is_glob(part))
        .unwrap_or(parts.len() - 1);
    let base = parts[..first_glob].join("/");
    let recursive = parts.len() - first_glob > 1 || parts[first_glob..].contains(&"**");
    let base = if base.is_empty() {
        PathBuf::from("/")
    } else {
        PathBuf::from(base)
    };
    (base, recursive)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pattern_is_watched_from_its_last_plain_directory() {
        assert_eq!(
            pattern_base("/srv/app/templates/*.html"),
            (PathBuf::from("/srv/app/templates"), false)
        );
        assert_eq!(
            pattern_base("/srv/app/templates/**/*.html"),
            (PathBuf::from("/srv/app/templates"), true)
        );
        assert_eq!(
            pattern_base("/srv/app/*/settings.toml"),
            (PathBuf::from("/srv/app"), true)
        );
        assert_eq!(
            pattern_base("/srv/app/settings.toml"),
            (PathBuf::from("/srv/app"), false)
        );
    }
}
