//! What a worker serves: the virtual hosts on its group's listeners, each with its URL space
//! (the worker's applications mounted there, its static files and rules) and its access log.
//!
//! A group reached only through the front tier serves no host itself: its requests come
//! routed, naming their application.

use std::path::PathBuf;
use std::sync::Arc;

use oxwsgi_config::{
    AccessLogSettings, AppEntry, Mount, MountPoint, MountTarget, ScriptPattern, ServerConfig,
    StaticTarget, WsgiApp,
};
use oxwsgi_http_front::{AccessLog, AccessLogError, HostSettings, OpenedAccessLog, UrlSpace};

/// An application this worker runs (or, in the front tier, forwards), where it is mounted.
#[derive(Debug, Clone)]
pub(crate) struct AppMount {
    /// The virtual host it is mounted in; every one when `None`.
    pub(crate) host: Option<usize>,
    pub(crate) prefix: MountPoint,
    /// Its index among the worker's applications (what a request names it by).
    pub(crate) index: usize,
    /// Whether its error responses are replaced by the server's (`WSGIErrorOverride`).
    pub(crate) error_override: bool,
    /// For a script a `WSGIScriptAliasMatch` names: the pattern, and the script's file.
    pub(crate) pattern: Option<(ScriptPattern, PathBuf)>,
}

impl AppMount {
    /// The application `index` of `mount`.
    pub(crate) fn of(mount: &Mount, index: usize) -> AppMount {
        let pattern = mount.pattern.as_ref().map(|pattern| {
            let file = match &mount.target {
                MountTarget::Wsgi(WsgiApp {
                    entry: AppEntry::Script(file),
                    ..
                }) => file.clone(),
                _ => PathBuf::new(),
            };
            (pattern.clone(), file)
        });
        AppMount {
            error_override: matches!(&mount.target, MountTarget::Wsgi(app) if app.error_override),
            host: mount.host,
            prefix: mount.prefix.clone(),
            index,
            pattern,
        }
    }
}

/// The virtual hosts (indexes) on the group's own listeners.
pub(crate) fn of_group(config: &ServerConfig, group: usize) -> Vec<usize> {
    let group = config.group(group);
    (0..config.hosts.len())
        .filter(|&h| {
            config.hosts[h]
                .listeners
                .iter()
                .any(|&l| group.serves_listener(l))
        })
        .collect()
}

/// The access logs of the hosts, opened (before the switch to the group's user, who may not
/// be allowed to open them), each file once however many hosts share it.
pub(crate) struct PreparedLogs {
    logs: Vec<(AccessLogSettings, OpenedAccessLog)>,
    /// For each host served, its log among `logs`.
    of_host: Vec<Option<usize>>,
}

impl PreparedLogs {
    pub(crate) fn open(
        config: &ServerConfig,
        group: usize,
        hosts: &[usize],
    ) -> Result<PreparedLogs, AccessLogError> {
        let group_name = config.group_title(group);
        let mut logs: Vec<(AccessLogSettings, OpenedAccessLog)> = Vec::new();
        let mut of_host = Vec::new();
        for &host in hosts {
            let logging = config.hosts[host]
                .logging
                .as_ref()
                .unwrap_or(&config.logging);
            let Some(settings) = &logging.access_log else {
                of_host.push(None);
                continue;
            };
            match logs.iter().position(|(open, _)| open == settings) {
                Some(index) => of_host.push(Some(index)),
                None => {
                    let opened = AccessLog::prepare(settings, &config.server_name, &group_name)?;
                    of_host.push(Some(logs.len()));
                    logs.push((settings.clone(), opened));
                }
            }
        }
        Ok(PreparedLogs { logs, of_host })
    }

    /// Starts the logs' writers: each host's log.
    pub(crate) fn start(self) -> Result<Vec<Option<Arc<AccessLog>>>, AccessLogError> {
        let started = self
            .logs
            .into_iter()
            .map(|(_, opened)| opened.start().map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self
            .of_host
            .iter()
            .map(|index| index.map(|i| Arc::clone(&started[i])))
            .collect())
    }
}

/// The settings of each host served: its applications among `apps`, the static files and
/// rules the configuration gives it.
pub(crate) fn settings(
    config: &ServerConfig,
    hosts: &[usize],
    apps: &[AppMount],
    handlers: &[(String, usize)],
    logs: Vec<Option<Arc<AccessLog>>>,
) -> Vec<HostSettings> {
    let in_host = |tag: Option<usize>, host: usize| tag.is_none_or(|h| h == host);
    hosts
        .iter()
        .zip(logs)
        .map(|(&host, access_log)| HostSettings {
            host: config.hosts[host].clone(),
            url_space: UrlSpace {
                apps: apps
                    .iter()
                    .filter(|app| in_host(app.host, host) && app.pattern.is_none())
                    .map(|app| (app.prefix.clone(), app.index))
                    .collect(),
                app_patterns: patterns(apps.iter().filter(|app| in_host(app.host, host))),
                index_scripts: config
                    .index_scripts
                    .iter()
                    .filter(|index| in_host(index.host, host))
                    .map(|index| (index.directory.clone(), index.script.clone()))
                    .collect(),
                aliases: config
                    .mounts
                    .iter()
                    .filter(|mount| in_host(mount.host, host) && mount.pattern.is_none())
                    .filter_map(|mount| match &mount.target {
                        MountTarget::Static(target) => Some((mount.prefix.clone(), target.clone())),
                        MountTarget::Wsgi(_) => None,
                    })
                    .collect(),
                alias_patterns: config
                    .mounts
                    .iter()
                    .filter(|mount| in_host(mount.host, host))
                    .filter_map(|mount| match (&mount.target, &mount.pattern) {
                        (MountTarget::Static(StaticTarget::Directory(root)), Some(pattern)) => {
                            Some((pattern.clone(), root.clone()))
                        }
                        _ => None,
                    })
                    .collect(),
                document_root: config.document_root_of(Some(host)).to_path_buf(),
                static_files: config.static_files_of(Some(host)).clone(),
                access: config.access.of_host(host),
                header_edits: config.header_edits.of_host(host),
                redirects: config
                    .redirects
                    .iter()
                    .filter(|r| in_host(r.host, host))
                    .cloned()
                    .collect(),
                handlers: handlers.to_vec(),
                error_override_apps: apps
                    .iter()
                    .filter(|app| in_host(app.host, host) && app.error_override)
                    .map(|app| app.index)
                    .collect(),
                error_documents: config
                    .error_documents
                    .iter()
                    .filter(|e| in_host(e.host, host))
                    .cloned()
                    .collect(),
                client_certificates: config
                    .client_certificates
                    .iter()
                    .filter(|rule| in_host(rule.host, host))
                    .cloned()
                    .collect(),
            },
            access_log,
        })
        .collect()
}

/// The patterns of `apps`, in order, each with the scripts it names.
fn patterns<'a>(
    apps: impl Iterator<Item = &'a AppMount>,
) -> Vec<(ScriptPattern, Vec<(PathBuf, usize)>)> {
    let mut patterns: Vec<(ScriptPattern, Vec<(PathBuf, usize)>)> = Vec::new();
    for app in apps {
        let Some((pattern, file)) = &app.pattern else {
            continue;
        };
        let entry = (file.clone(), app.index);
        match patterns.iter_mut().find(|(p, _)| p == pattern) {
            Some((_, scripts)) => scripts.push(entry),
            None => patterns.push((pattern.clone(), vec![entry])),
        }
    }
    patterns
}
