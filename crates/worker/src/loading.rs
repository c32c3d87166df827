//! Loading a worker before it serves: Python started, the group's `WSGIImportScript`s and
//! applications loaded, the authentication scripts its rules name, the logs opened and the
//! certificates read while the worker still runs as root ([`load`]).

use oxwsgi_config::{AppEntry, GroupRole, LogDestination, ServerConfig};
use oxwsgi_http_front::{ForwardTarget, HostSettings};
use oxwsgi_scoreboard::Board;
use oxwsgi_wsgi_bridge::{AppIdentity, AuthScripts, MountedApp, PythonRuntime, Startup};

use crate::hosts::AppMount;
use crate::{SERVER_SOFTWARE, WorkerError, auth_scripts, hosts, privileges};

/// A worker whose applications are loaded, ready to serve.
pub struct LoadedWorker {
    /// Python, when the group has applications (a static-files server never starts it).
    pub(crate) python: Option<PythonRuntime>,
    pub(crate) apps: Vec<MountedApp>,
    /// The authentication scripts its rules name, loaded after the applications.
    pub(crate) scripts: AuthScripts,
    /// The virtual hosts it serves itself.
    pub(crate) hosts: Vec<HostSettings>,
    /// The error log file, opened before the switch to the group's user.
    pub(crate) error_log: Option<oxwsgi_logging::OpenedLog>,
    pub(crate) entry_files: Vec<std::path::PathBuf>,
    pub(crate) group: usize,
    /// For the front tier: where each of its applications' requests go.
    pub(crate) forward: Option<Vec<ForwardTarget>>,
    /// The group's listeners that speak TLS, with their certificates (read as root).
    pub(crate) tls: Vec<(usize, oxwsgi_http_front::tls::TlsConfig)>,
}

/// Starts Python and loads the applications of process group `group`; a group without
/// applications serves static files only, and Python is not started at all.
///
/// `server_fds` are the descriptors a child the application forks must close.
pub fn load(
    config: &ServerConfig,
    group: usize,
    server_fds: &[std::os::fd::RawFd],
    startup: Startup,
    board: &Board,
) -> Result<LoadedWorker, WorkerError> {
    // Opened before any application code runs: an application that closes a standard
    // descriptor at import must not see an access log take its number.
    let logging = config.logging_of_group(group);
    let served_hosts = hosts::of_group(config, group);
    let access_logs = hosts::PreparedLogs::open(config, group, &served_hosts)?;
    // Opened now, and written to once the worker is ready: the group's user, switched to next,
    // may not be allowed to open it.
    let error_log = match &logging.error_log {
        LogDestination::File(path) => match oxwsgi_logging::open_error_log(path) {
            Ok(file) => Some(file),
            Err(err) => {
                tracing::error!("cannot open the error log {}: {err}", path.display());
                None
            }
        },
        LogDestination::Terminal => None,
    };
    // Certificates and keys, while still root: a key file only root may read is the usual
    // way to keep one.
    let tls = config
        .listeners
        .iter()
        .enumerate()
        .filter(|(index, _)| config.group(group).serves_listener(*index))
        .filter_map(|(index, listener)| listener.tls.as_ref().map(|tls| (index, listener, tls)))
        .map(|(index, listener, tls)| {
            let config = oxwsgi_http_front::tls::server_config(tls, listener.http2)?;
            Ok((index, config))
        })
        .collect::<Result<Vec<_>, WorkerError>>()?;
    // The group's user, before any of its code (or Python's) runs, and before any thread
    // starts (the switch changes the calling thread only).
    if let Some(run_as) = &config.group(group).run_as {
        privileges::switch_user(run_as)?;
    }
    let access_logs = access_logs.start()?;
    let has_apps = config.apps_of_group(group).next().is_some();
    let imports = &config.group(group).import_scripts;
    let python = if has_apps || !imports.is_empty() {
        let python = oxwsgi_wsgi_bridge::initialize(&config.group(group).python, startup)?;
        oxwsgi_wsgi_bridge::guard_forked_children(&python, server_fds)?;
        oxwsgi_wsgi_bridge::install_crash_reports(&python)?;
        let group_config = config.group(group);
        oxwsgi_wsgi_bridge::install_mod_wsgi_module(
            &python,
            oxwsgi_wsgi_bridge::ModWsgiInfo {
                board: board.clone(),
                server_metrics: config.operations.server_metrics,
                process_group: group_config.name.clone(),
                application_group: group_config.application_group.clone(),
                maximum_processes: group_config.processes,
                threads_per_process: group_config.threads,
            },
        )?;
        oxwsgi_wsgi_bridge::start_instrumentation(&python, &config.instrumentation)?;
        if config.development.debug_mode {
            oxwsgi_wsgi_bridge::development::use_terminal(&python)?;
        }
        preload(&python, imports);
        Some(python)
    } else {
        None
    };
    let mut apps = Vec::new();
    let mut app_mounts = Vec::new();
    let mut entry_files = Vec::new();
    let forward = (config.group(group).role == GroupRole::Front).then(|| {
        config
            .forwarded_apps()
            .into_iter()
            .map(|(mount, target, index)| {
                app_mounts.push(AppMount::of(mount, app_mounts.len()));
                let target = config.group(target);
                ForwardTarget {
                    group: target.name.clone(),
                    socket: target
                        .internal_socket
                        .clone()
                        .expect("forwarded groups have a socket"),
                    app: index,
                }
            })
            .collect()
    });
    for (mount, app) in config.app_mounts_of_group(group) {
        let Some(python) = &python else { break };
        let script_filename = match &app.entry {
            AppEntry::Script(path) | AppEntry::Paste(path) => {
                entry_files.push(path.clone());
                Some(path.display().to_string())
            }
            AppEntry::Module(_) | AppEntry::Welcome => None,
        };
        let loaded = oxwsgi_wsgi_bridge::load_application(
            python,
            &app.entry,
            &app.callable,
            SERVER_SOFTWARE,
        )?;
        let mut loaded =
            oxwsgi_wsgi_bridge::instrument_application(python, loaded, &config.instrumentation)?;
        if config.development.post_mortem {
            oxwsgi_wsgi_bridge::development::debug_post_mortem(python, &mut loaded)?;
        }
        apps.push(MountedApp {
            app: loaded,
            identity: AppIdentity {
                script_name: mount
                    .pattern
                    .is_none()
                    .then(|| mount.prefix.as_str().to_owned()),
                script_filename,
                callable: app.callable.clone(),
                environ: app.environ.clone(),
                pass_authorization: app.pass_authorization,
                document_root: config.document_root_of(mount.host).display().to_string(),
                head_as_get: app
                    .map_head_to_get
                    .as_get(config.static_files_of(mount.host).compress_responses),
            },
        });
        app_mounts.push(AppMount::of(mount, app_mounts.len()));
    }
    // `--add-handler` scripts: applications of their own, which a request for a file of their
    // extension reaches (its URL the `SCRIPT_NAME`).
    let mut handlers = Vec::new();
    for handler in config
        .handler_scripts
        .iter()
        .filter(|h| h.app.group == group)
    {
        let Some(python) = &python else { break };
        let AppEntry::Script(script) = &handler.app.entry else {
            continue;
        };
        entry_files.push(script.clone());
        let loaded = oxwsgi_wsgi_bridge::load_application(
            python,
            &handler.app.entry,
            &handler.app.callable,
            SERVER_SOFTWARE,
        )?;
        handlers.push((handler.extension.clone(), apps.len()));
        apps.push(MountedApp {
            app: loaded,
            identity: AppIdentity {
                script_name: None,
                script_filename: Some(script.display().to_string()),
                callable: handler.app.callable.clone(),
                environ: handler.app.environ.clone(),
                pass_authorization: handler.app.pass_authorization,
                document_root: config.document_root.display().to_string(),
                head_as_get: handler
                    .app
                    .map_head_to_get
                    .as_get(config.static_files.compress_responses),
            },
        });
    }
    let scripts = auth_scripts::load(
        config,
        group,
        &served_hosts,
        python.as_ref(),
        &mut entry_files,
    )?;
    if let Some(python) = python
        .as_ref()
        .filter(|_| config.development.debugger_startup)
    {
        oxwsgi_wsgi_bridge::development::debugger_startup(python)?;
    }
    Ok(LoadedWorker {
        python,
        apps,
        scripts,
        hosts: hosts::settings(config, &served_hosts, &app_mounts, &handlers, access_logs),
        error_log,
        entry_files,
        group,
        forward,
        tls,
    })
}

/// Imports the group's `WSGIImportScript`s, in order, before its applications load. One that
/// raises is logged with its traceback and the worker goes on, as a mod_wsgi process does.
fn preload(python: &oxwsgi_wsgi_bridge::PythonRuntime, scripts: &[std::path::PathBuf]) {
    for script in scripts {
        tracing::info!(
            "loading WSGI script '{}' (WSGIImportScript)",
            script.display()
        );
        match oxwsgi_wsgi_bridge::import_script(python, script) {
            Ok(()) => {}
            Err(oxwsgi_wsgi_bridge::ImportFailure::SystemExit) => tracing::error!(
                "SystemExit exception raised when doing exec of Python script file '{}' \
                 (WSGIImportScript); the worker goes on",
                script.display()
            ),
            Err(oxwsgi_wsgi_bridge::ImportFailure::Raised(traceback)) => tracing::error!(
                "Unable to execute Python script file '{}' (WSGIImportScript); the worker goes \
                 on:\n{traceback}",
                script.display()
            ),
        }
    }
}
