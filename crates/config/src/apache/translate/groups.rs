//! Scripts and process groups: the applications a site's `WSGIScriptAlias`es (and its
//! directories of scripts) mount, and the process groups that run them, with their Python,
//! limits and the user their workers run as.
//!
//! Separate because it reads the check's report (scripts, `WSGIDaemonProcess`es) rather than
//! directives, and the file system (the scripts, the users).

use std::path::PathBuf;
use std::time::Duration;

use super::{Site, Translator};
use crate::apache::Origin;
use crate::apache::check::{Report, ScriptMount};
use crate::apache::daemon::DaemonProcess;
use crate::model::{
    AppEntry, GroupRole, IndexScript, Lifecycle, Mount, MountPoint, MountTarget, ProcessGroup,
    PythonSettings, RunAs, ScriptPattern, WsgiApp,
};
use crate::resolve::{inspect_python_home, seconds};
use crate::worker_limits::WorkerLimits;

impl Translator<'_> {
    /// The process groups the scripts name (the default group for those that name none, and
    /// for a site without scripts), in order of first use, and the applications they run.
    pub(super) fn groups_and_mounts(
        &mut self,
        report: &Report,
        site: &Site,
    ) -> Option<(Vec<ProcessGroup>, Vec<Mount>)> {
        // Each group's name (`None`: the default group) and application group.
        let mut groups: Vec<(Option<&str>, Option<String>)> = Vec::new();
        // What is mounted where: a `<Location>` below one of these is not another's.
        let mount_points: Vec<MountPoint> = report
            .scripts
            .iter()
            .map(|script| script.url.as_str())
            .chain(site.aliases.iter().map(|(url, _, _)| url.as_str()))
            .filter_map(MountPoint::parse)
            .collect();
        let mut mounts = Vec::new();
        for script in &report.scripts {
            let name = script
                .process_group
                .as_deref()
                .filter(|g| *g != "%{GLOBAL}");
            let Some(entries) = self.script_entries(script) else {
                continue;
            };
            for (path, prefix, pattern) in entries {
                let Some(environ) = self.script_environ(site, &path, &prefix, &mount_points) else {
                    continue;
                };
                let Some(pass_authorization) =
                    self.pass_authorization(site, &path, &prefix, &mount_points, false)
                else {
                    continue;
                };
                if pattern.is_some() && script.application_group.is_none() {
                    // %{RESOURCE} names each request's SCRIPT_NAME, which a pattern
                    // decides per request: one interpreter per script cannot follow it.
                    self.not_yet(
                        &script.origin,
                        "WSGIScriptAliasMatch with the default application group \
                         (%{RESOURCE}; set WSGIApplicationGroup %{GLOBAL} or a name)",
                    );
                    break;
                }
                let Some(app_group) = self.application_group_name(
                    script.application_group.as_deref(),
                    site,
                    &prefix,
                    &environ,
                    &script.origin,
                ) else {
                    continue;
                };
                // mod_wsgi gives each application group an interpreter of its own; oxwsgi runs
                // one per process, so each application group of a process group gets workers of
                // its own, with the group's settings (docs/apache.md).
                let key = (name, Some(app_group));
                let index = match groups.iter().position(|group| *group == key) {
                    Some(index) => index,
                    None => {
                        groups.push(key);
                        groups.len() - 1
                    }
                };
                mounts.push(Mount {
                    prefix,
                    target: MountTarget::Wsgi(WsgiApp {
                        group: index,
                        entry: AppEntry::Script(path),
                        callable: site
                            .callable
                            .clone()
                            .unwrap_or_else(|| "application".to_owned()),
                        environ,
                        pass_authorization,
                        error_override: site.error_override,
                        map_head_to_get: site.map_head_to_get,
                    }),
                    host: None,
                    pattern: pattern.clone(),
                });
            }
        }
        if groups.is_empty() {
            groups.push((None, None));
        }
        let mut process_groups = Vec::new();
        for (name, application_group) in groups {
            let daemon = name.and_then(|name| report.daemons.iter().find(|d| d.name == name));
            let group = self.process_group(daemon, site, application_group.unwrap_or_default())?;
            process_groups.push(group);
        }
        Some((process_groups, mounts))
    }

    /// The report with the scripts of the site's directories of scripts added, and the
    /// directory URLs whose index is a script (`None`: the site has none).
    pub(super) fn handler_scripts(
        &mut self,
        report: &Report,
        site: &Site,
    ) -> Option<(Option<Report>, Vec<IndexScript>)> {
        if site.script_directories.is_empty() {
            return Some((None, Vec::new()));
        }
        let mut bases: Vec<(String, PathBuf)> = site
            .aliases
            .iter()
            .map(|(url, path, _)| (url.clone(), path.clone()))
            .collect();
        if let Some(root) = &site.document_root {
            bases.push(("/".to_owned(), root.clone()));
        }
        // The longest URL first: a file under an Alias is served there, not by the root.
        bases.sort_by_key(|(url, _)| std::cmp::Reverse(url.len()));
        let default_index: Vec<String> = match &site.directory_index {
            Some(Some(name)) => vec![name.clone()],
            Some(None) => Vec::new(),
            None => vec!["index.html".to_owned()],
        };
        match site.script_directories.scripts(&bases, &default_index) {
            Ok(found) => {
                let mut report = report.clone();
                report.scripts.extend(found.scripts);
                let indexes = found
                    .index_scripts
                    .into_iter()
                    .map(|(directory, script)| IndexScript {
                        directory,
                        script,
                        host: None,
                    })
                    .collect();
                Some((Some(report), indexes))
            }
            Err(errors) => {
                for (origin, message) in errors {
                    self.error(&origin, message);
                }
                None
            }
        }
    }

    /// The scripts a `WSGIScriptAlias` or `WSGIScriptAliasMatch` mounts: each one's file, the
    /// mount point its rules are found by, and the pattern that leads to it. A pattern's
    /// scripts are the files its script names (`$1`… as `*`), loaded at start; one added later
    /// is not served until a restart.
    fn script_entries(
        &mut self,
        script: &ScriptMount,
    ) -> Option<Vec<(PathBuf, MountPoint, Option<ScriptPattern>)>> {
        if !script.pattern {
            let path = self.path(&script.script);
            if path.is_dir() {
                self.not_yet(
                    &script.origin,
                    "a WSGIScriptAlias to a directory of scripts",
                );
                return None;
            }
            if !path.is_file() {
                self.error(
                    &script.origin,
                    format!("the WSGI script '{}' does not exist", path.display()),
                );
                return None;
            }
            let Some(prefix) = MountPoint::parse(&script.url) else {
                self.error(
                    &script.origin,
                    format!(
                        "WSGIScriptAlias '{}': the URL path must start with /",
                        script.url
                    ),
                );
                return None;
            };
            return Some(vec![(path, prefix, None)]);
        }
        if let Err(err) = regex::bytes::Regex::new(&script.url) {
            self.error(
                &script.origin,
                format!(
                    "WSGIScriptAliasMatch '{}' is not a regular expression oxwsgi can use \
                     (Rust's regex syntax: no look-around, no back-references): {err}",
                    script.url
                ),
            );
            return None;
        }
        let target = self.path(&script.script);
        let target = target.to_string_lossy();
        let files = script_files(&target);
        if files.is_empty() {
            self.error(
                &script.origin,
                format!(
                    "WSGIScriptAliasMatch: no script matches '{target}' ($1… standing for any \
                     name); oxwsgi loads a pattern's scripts at start"
                ),
            );
            return None;
        }
        let pattern = ScriptPattern {
            regex: script.url.clone(),
            script: target.into_owned(),
        };
        let prefix = literal_prefix(&script.url);
        Some(
            files
                .into_iter()
                .map(|file| (file, prefix.clone(), Some(pattern.clone())))
                .collect(),
        )
    }

    /// The name `WSGIApplicationGroup` gives a script's interpreter (`mod_wsgi.application_group`):
    /// `%{GLOBAL}` is `""`, `%{SERVER}` the server's name (with a port other than 80 and 443),
    /// `%{RESOURCE}` (mod_wsgi's default) that and the mount point, `%{ENV:NAME}` a variable the
    /// configuration sets (else the text itself, as mod_wsgi does), anything else itself.
    fn application_group_name(
        &mut self,
        value: Option<&str>,
        site: &Site,
        mount: &MountPoint,
        environ: &[(String, String)],
        origin: &Origin,
    ) -> Option<String> {
        let server_name = site.server_name.as_deref().unwrap_or("localhost");
        let port = site.listens.first().map_or(80, |(_, p)| *p);
        let host = if port == 80 || port == 443 {
            server_name.to_owned()
        } else {
            format!("{server_name}:{port}")
        };
        Some(match value {
            None | Some("%{RESOURCE}") => format!("{host}|{}", mount.as_str()),
            Some("%{GLOBAL}") => String::new(),
            Some("%{SERVER}") => host,
            Some(env) if env.starts_with("%{ENV:") && env.ends_with('}') => {
                let name = &env[6..env.len() - 1];
                environ
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map_or_else(|| env.to_owned(), |(_, v)| v.clone())
            }
            Some(other) if other.starts_with("%{") => {
                self.not_yet(origin, &format!("WSGIApplicationGroup {other}"));
                return None;
            }
            Some(name) => name.to_owned(),
        })
    }

    /// The settings of a group (`daemon`, or the default group), over the site's directives.
    pub(super) fn process_group(
        &mut self,
        daemon: Option<&DaemonProcess>,
        site: &Site,
        application_group: String,
    ) -> Option<ProcessGroup> {
        let option = |name: &str| daemon.and_then(|d| d.options.get(name)).map(String::as_str);
        let number = |name: &str| option(name).and_then(|v| v.parse::<u64>().ok());
        let optional = |name: &str| number(name).filter(|n| *n > 0).map(seconds);
        let run_as = self.run_as(daemon, site)?;
        if let Some(daemon) = daemon {
            for name in ["umask"] {
                if daemon.options.contains_key(name) {
                    self.not_yet(&daemon.origin, &format!("WSGIDaemonProcess {name}="));
                }
            }
        }
        let home = match (option("python-home"), &site.python_home) {
            (Some(dir), _) => Some((self.path(dir), daemon.map(|d| d.origin.clone()))),
            (None, Some((dir, origin))) => Some((dir.clone(), Some(origin.clone()))),
            (None, None) => None,
        };
        let home = match home {
            Some((dir, origin)) => match inspect_python_home("python-home", &dir) {
                Ok(home) => Some(home),
                Err(err) => {
                    if let Some(origin) = origin {
                        self.error(&origin, err.to_string());
                    }
                    return None;
                }
            },
            None => None,
        };
        let mut paths = match option("python-path") {
            Some(list) => list
                .split(':')
                .filter(|p| !p.is_empty())
                .map(|p| self.path(p))
                .collect(),
            None => site.python_path.clone(),
        };
        paths.dedup();
        let working_directory = option("home")
            .map(|h| self.path(h))
            .unwrap_or_else(|| self.env.current_dir.clone());
        let switch_interval = match option("switch-interval") {
            Some(value) => match crate::app_options::switch_interval(value) {
                Some(interval) => Some(interval),
                None => {
                    let origin = daemon.map(|d| d.origin.clone())?;
                    self.error(
                        &origin,
                        format!("switch-interval={value}: give a number of seconds above 0"),
                    );
                    return None;
                }
            },
            None => site.switch_interval,
        };
        let name = daemon.map(|d| d.name.clone()).unwrap_or_default();
        Some(ProcessGroup {
            name,
            threads: number("threads").map_or(15, |n| n as usize),
            processes: number("processes").map_or(1, |n| n as usize),
            multiprocess: option("processes").is_some(),
            python: PythonSettings {
                home,
                paths,
                working_directory,
                egg_cache: option("python-eggs").map(|dir| self.path(dir)),
                warnings: site.python_warnings.clone(),
                switch_interval,
            },
            application_group,
            queue_backlog: number("listen-backlog").map_or(100, |n| n.max(1) as usize),
            queue_timeout: optional("queue-timeout").unwrap_or(LONG_QUEUE),
            // mod_wsgi's default; 0 refuses at once when the queue is full.
            connect_timeout: number("connect-timeout").map_or(Duration::from_secs(15), seconds),
            lifecycle: Lifecycle {
                maximum_requests: number("maximum-requests").unwrap_or(0),
                maximum_requests_jitter: 0,
                restart_interval: optional("restart-interval"),
                inactivity_timeout: optional("inactivity-timeout"),
                request_timeout: optional("request-timeout"),
                startup_timeout: optional("startup-timeout").unwrap_or(Duration::from_secs(15)),
                graceful_timeout: number("graceful-timeout")
                    .map_or(Duration::from_secs(15), seconds),
                shutdown_timeout: number("shutdown-timeout")
                    .map_or(Duration::from_secs(5), seconds),
                deadlock_timeout: Some(
                    number("deadlock-timeout").map_or(Duration::from_secs(300), seconds),
                )
                .filter(|d| !d.is_zero()),
                reload_on_script_change: site.script_reloading.unwrap_or(true),
                limits: WorkerLimits {
                    cpu_time: optional("cpu-time-limit"),
                    memory: number("memory-limit").filter(|n| *n > 0),
                    virtual_memory: number("virtual-memory-limit").filter(|n| *n > 0),
                    maximum_rss: None,
                    interrupt_timeout: optional("interrupt-timeout"),
                    eviction_timeout: optional("eviction-timeout"),
                },
            },
            run_as,
            listeners: Vec::new(),
            internal_socket: None,
            role: GroupRole::Applications,
            logging: None,
            import_scripts: Vec::new(),
        })
    }

    /// The user a group's workers run as: its `user=` (with `group=` and
    /// `supplementary-groups=`), else httpd's `User` (and `Group`). Started as root, one must
    /// be named (workers never run as root); otherwise they run as the current user, and a
    /// `user=` naming another is an error.
    fn run_as(&mut self, daemon: Option<&DaemonProcess>, site: &Site) -> Option<Option<RunAs>> {
        let option = |name: &str| daemon.and_then(|d| d.options.get(name)).map(String::as_str);
        let daemon_origin = daemon.map(|d| d.origin.clone());
        if self.env.uid != 0 {
            if let (Some(user), Some(origin)) = (option("user"), &daemon_origin) {
                let current = crate::users::user_name(self.env.uid);
                if current.as_deref() != Some(user) && user != format!("#{}", self.env.uid) {
                    let current = current.unwrap_or_else(|| format!("#{}", self.env.uid));
                    self.error(
                        origin,
                        format!(
                            "WSGIDaemonProcess user={user}: only root can run the workers as \
                             another user (oxwsgi runs as {current}); start it as root, or \
                             remove user="
                        ),
                    );
                    return None;
                }
            }
            return Some(None);
        }
        let (user, origin, group) = match (option("user"), &site.user) {
            (Some(user), _) => (
                user.to_owned(),
                daemon_origin.clone(),
                option("group").map(str::to_owned),
            ),
            (None, Some((user, origin))) => (
                user.clone(),
                Some(origin.clone()),
                option("group")
                    .map(str::to_owned)
                    .or_else(|| site.group.clone()),
            ),
            (None, None) => {
                if let Some(origin) = daemon_origin.or_else(|| site.first_origin.clone()) {
                    self.error(
                        &origin,
                        "oxwsgi was started as root and nothing names the user the workers run \
                         as: add `User www-data` (or user= to the WSGIDaemonProcess); the \
                         workers never run as root",
                    );
                }
                return None;
            }
        };
        match crate::users::run_as(&user, group.as_deref(), option("supplementary-groups")) {
            Ok(run_as) => Some(Some(run_as)),
            Err(why) => {
                if let Some(origin) = origin {
                    self.error(&origin, format!("user {user}: {why}"));
                }
                None
            }
        }
    }
}

/// The files a pattern's script can name: `$0`…`$9` as `*`, the rest taken literally.
fn script_files(script: &str) -> Vec<PathBuf> {
    let mut glob = String::new();
    let mut literal = String::new();
    let mut chars = script.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            chars.next();
            glob.push_str(&glob::Pattern::escape(&literal));
            literal.clear();
            glob.push('*');
        } else {
            literal.push(c);
        }
    }
    glob.push_str(&glob::Pattern::escape(&literal));
    let Ok(paths) = glob::glob(&glob) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = paths.flatten().filter(|p| p.is_file()).collect();
    files.sort();
    files
}

/// The literal start of a `WSGIScriptAliasMatch` expression, up to its last `/` before the
/// first special character: the URL path the configuration's `<Location>`s are compared with.
pub(super) fn literal_prefix(regex: &str) -> MountPoint {
    let text = regex.strip_prefix('^').unwrap_or(regex);
    let literal: String = text
        .chars()
        .take_while(|c| !"\\.+*?()|[]{}^$".contains(*c))
        .collect();
    let cut = literal.rfind('/').map_or("/", |at| &literal[..at.max(1)]);
    MountPoint::parse(cut).unwrap_or_else(MountPoint::root)
}

/// mod_wsgi's queue has no timeout unless `queue-timeout` is set: a very long one.
const LONG_QUEUE: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);

#[cfg(test)]
mod tests;
