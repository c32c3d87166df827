//! Which of mod_wsgi's authentication scripts (`WSGIAuthUserScript`, `WSGIAuthGroupScript`,
//! `WSGIAccessScript`) a worker loads: those its Python may be asked about, loaded at start
//! like the applications so that a broken one stops the start instead of failing requests.

use std::path::PathBuf;

use oxwsgi_config::{GroupRole, ServerConfig};
use oxwsgi_wsgi_bridge::{AppLoadError, AuthScripts, PythonRuntime};

/// The scripts of the rules whose requests process group `group`'s Python answers, once
/// each: those of the hosts it serves itself (`served`), and, when the front tier forwards to
/// it, those of the hosts its applications are mounted in.
fn of_group(config: &ServerConfig, group: usize, served: &[usize]) -> Vec<PathBuf> {
    let mut hosts = served.to_vec();
    if config.group(group).internal_socket.is_some() {
        for (mount, _) in config.app_mounts_of_group(group) {
            match mount.host {
                Some(host) => hosts.push(host),
                None => hosts.extend(0..config.hosts.len()),
            }
        }
    }
    let mut scripts: Vec<PathBuf> = Vec::new();
    for host in hosts {
        for script in config.access.of_host(host).scripts() {
            if !scripts.contains(&script) {
                scripts.push(script);
            }
        }
    }
    scripts
}

/// Loads the group's scripts into `python`, after the applications (as under mod_wsgi, which
/// loads them at the first request: a script that imports the application's modules finds
/// them set up), and adds them to `entry_files`: mod_wsgi reloads a script whose file changed,
/// and here a changed file replaces the worker, as a changed application script does.
///
/// A group without Python (no application) cannot ask them: that is logged, and the requests
/// they guard get a 500.
pub(crate) fn load(
    config: &ServerConfig,
    group: usize,
    served: &[usize],
    python: Option<&PythonRuntime>,
    entry_files: &mut Vec<PathBuf>,
) -> Result<AuthScripts, AppLoadError> {
    let files = of_group(config, group, served);
    let Some(python) = python else {
        // The front tier has no Python of its own: it forwards the questions with the
        // requests.
        if !files.is_empty() && config.group(group).role != GroupRole::Front {
            let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
            tracing::warn!(
                "the access rules name Python scripts ({}), but process group {} runs no WSGI \
                 application, so no Python runs to ask them: the requests they guard are \
                 answered with a 500",
                names.join(", "),
                config.group(group).name
            );
        }
        return Ok(AuthScripts::default());
    };
    let scripts = oxwsgi_wsgi_bridge::load_auth_scripts(python, &files)?;
    entry_files.extend(files);
    Ok(scripts)
}
