//! The developer's tools: reloading on code changes, debug mode and the Python debugger
//! (mod_wsgi-express's `--reload-on-changes`, `--debug-mode`, `--enable-debugger`,
//! `--debugger-startup`). The command line ([`DevelopmentArgs`]) makes a [`Development`];
//! Apache files have no directive for any of them (express implements them in the handler
//! script it generates, not in mod_wsgi), so they leave it at its default: all off.

use std::path::Path;
use std::time::Duration;

use clap::{ArgAction, Args};
use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::model::ProcessGroup;

/// What the developer's tools do; everything is off by default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Development {
    /// One worker process with one Python thread, with the terminal's standard input and
    /// output as the application's, in the terminal's foreground (Ctrl-C reaches it and stops
    /// the server at once); nothing replaces the worker while it serves.
    pub debug_mode: bool,
    /// Whether an exception escaping the application opens pdb's post-mortem session on the
    /// terminal (before the 500 is sent). Only with `debug_mode`.
    pub post_mortem: bool,
    /// Whether pdb opens on the terminal once the application is loaded, before the worker
    /// serves, to set breakpoints. Only with `post_mortem`.
    pub debugger_startup: bool,
    /// Replace the workers (new first) when a source file of any module they imported
    /// changes, or a file matching `reload_patterns`.
    pub reload_on_changes: bool,
    /// Glob patterns (absolute, `**` for any depth of directories) of other files whose
    /// change replaces the workers, such as templates or settings files.
    pub reload_patterns: Vec<String>,
}

/// The command line's options for [`Development`].
#[derive(Debug, Clone, Default, Args)]
pub struct DevelopmentArgs {
    /// Replace the workers (gracefully: new first) when the source file of any module they
    /// imported changes, not only the WSGI script; files are watched with the kernel's
    /// notifications (inotify), never polled, and the log names the file that changed. With
    /// =GLOB, files matching the pattern are watched too, such as
    /// --reload-on-changes='templates/**/*.html' (relative to --working-directory; `*` stays
    /// in one directory, `**` spans any number); may be repeated. Off under --debug-mode, as
    /// with mod_wsgi-express. For development only [default: off].
    #[arg(
        long,
        value_name = "GLOB",
        num_args = 0..=1,
        require_equals = true,
        action = ArgAction::Append,
        help_heading = "Development"
    )]
    pub reload_on_changes: Option<Vec<String>>,

    /// Run for an interactive debugger: one worker process with one thread, whose standard
    /// input and output are the terminal's (print() and pdb reach it), in the terminal's
    /// foreground; Ctrl-C stops the server at once. Overrides --processes and --threads, and
    /// turns off every replacement of the worker (--maximum-requests, --restart-interval,
    /// --inactivity-timeout, --request-timeout, --deadlock-timeout, reloading) and the wait
    /// for a worker to load (--startup-timeout) [default: off].
    #[arg(long, help_heading = "Development")]
    pub debug_mode: bool,

    /// Open pdb's post-mortem session on the terminal when an exception escapes the
    /// application (its call, its iteration or its close), before the client gets its 500.
    /// Implies --debug-mode, as with mod_wsgi-express [default: off].
    #[arg(long, help_heading = "Development")]
    pub enable_debugger: bool,

    /// With --enable-debugger: open pdb on the terminal once the application is loaded,
    /// before the server takes requests, to set breakpoints (b FILE:LINE) that then stop
    /// requests; `c` starts serving [default: off].
    #[arg(long, requires = "enable_debugger", help_heading = "Development")]
    pub debugger_startup: bool,
}

impl DevelopmentArgs {
    /// The [`Development`] these options make; relative patterns are taken from
    /// `working_directory`.
    pub fn resolve(&self, working_directory: &Path) -> Result<Development, ConfigError> {
        let debug_mode = self.debug_mode || self.enable_debugger;
        let mut reload_patterns = Vec::new();
        for pattern in self.reload_on_changes.iter().flatten() {
            reload_patterns.push(absolute_pattern(pattern, working_directory)?);
        }
        Ok(Development {
            debug_mode,
            post_mortem: self.enable_debugger,
            debugger_startup: self.debugger_startup,
            // express: "All forms of source code reloading will also be disabled".
            reload_on_changes: self.reload_on_changes.is_some() && !debug_mode,
            reload_patterns: if debug_mode {
                Vec::new()
            } else {
                reload_patterns
            },
        })
    }
}

/// `pattern` made absolute and checked.
fn absolute_pattern(pattern: &str, working_directory: &Path) -> Result<String, ConfigError> {
    let invalid = |reason| ConfigError::Invalid {
        option: "--reload-on-changes",
        value: pattern.to_owned(),
        reason,
    };
    if pattern.is_empty() {
        return Err(invalid(
            "give a glob pattern of files, such as templates/*.html",
        ));
    }
    let absolute = if pattern.starts_with('/') {
        pattern.to_owned()
    } else {
        format!(
            "{}/{pattern}",
            working_directory
                .display()
                .to_string()
                .trim_end_matches('/')
        )
    };
    glob::Pattern::new(&absolute).map_err(|_| {
        invalid("not a glob pattern (`*`, `?`, `[...]` and `**` as a whole path component)")
    })?;
    Ok(absolute)
}

impl Development {
    /// Makes `group` run as debug mode says: one process, one thread, and nothing that
    /// replaces or kills the worker while a debugger may hold it (a pdb session at start-up
    /// or in a request takes as long as the developer takes).
    pub fn apply_to(&self, group: &mut ProcessGroup) {
        if !self.debug_mode {
            return;
        }
        group.processes = 1;
        group.threads = 1;
        let lifecycle = &mut group.lifecycle;
        lifecycle.maximum_requests = 0;
        lifecycle.maximum_requests_jitter = 0;
        lifecycle.restart_interval = None;
        lifecycle.inactivity_timeout = None;
        lifecycle.request_timeout = None;
        lifecycle.deadlock_timeout = None;
        lifecycle.reload_on_script_change = false;
        // A year stands for "no limit": the supervisor adds it to an instant.
        lifecycle.startup_timeout = Duration::from_secs(365 * 24 * 3600);
        // Ctrl-C stops at once: requests in flight are cut, not waited for.
        lifecycle.graceful_timeout = Duration::ZERO;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(reload: Option<Vec<&str>>) -> DevelopmentArgs {
        DevelopmentArgs {
            reload_on_changes: reload.map(|r| r.into_iter().map(str::to_owned).collect()),
            ..DevelopmentArgs::default()
        }
    }

    #[test]
    fn patterns_are_taken_from_the_working_directory() {
        let dev = args(Some(vec!["templates/**/*.html", "/etc/app.toml"]))
            .resolve(Path::new("/srv/app/"))
            .unwrap();
        assert!(dev.reload_on_changes);
        assert_eq!(
            dev.reload_patterns,
            ["/srv/app/templates/**/*.html", "/etc/app.toml"]
        );
    }

    #[test]
    fn the_flag_alone_watches_modules_only() {
        let dev = args(Some(vec![])).resolve(Path::new("/srv")).unwrap();
        assert!(dev.reload_on_changes);
        assert!(dev.reload_patterns.is_empty());
        assert!(
            !args(None)
                .resolve(Path::new("/srv"))
                .unwrap()
                .reload_on_changes
        );
    }

    #[test]
    fn a_bad_pattern_is_refused_naming_it() {
        let err = args(Some(vec!["[abc"]))
            .resolve(Path::new("/srv"))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "--reload-on-changes [abc: not a glob pattern (`*`, `?`, `[...]` and `**` as a \
             whole path component)"
        );
    }

    #[test]
    fn the_debugger_implies_debug_mode_which_turns_reloading_off() {
        let dev = DevelopmentArgs {
            enable_debugger: true,
            reload_on_changes: Some(vec!["*.html".into()]),
            ..DevelopmentArgs::default()
        }
        .resolve(Path::new("/srv"))
        .unwrap();
        assert!(dev.debug_mode && dev.post_mortem);
        assert!(!dev.reload_on_changes);
        assert!(dev.reload_patterns.is_empty());
    }
}
