//! A side service process (`--service-script`): started by the supervisor like a worker (a
//! fresh process of the binary or of the interpreter, its start-up data on standard input), it
//! serves nothing and runs its script as Python's main program.
//!
//! Before any of the script's code runs, it closes every socket it inherited (the listeners
//! are the workers'; the control pipe has nothing to report: the supervisor follows a service
//! by its exit alone), opens its log (its own file, or the server's error log) and, when
//! started as root, becomes its user. What it writes then goes to that log.

use oxwsgi_config::LogDestination;
use oxwsgi_logging::notice;
use oxwsgi_process::{WorkerStart, exit_status, fds};
use oxwsgi_wsgi_bridge::{ServiceEnd, Startup};

/// Runs service `index` of the start-up data; returns the process's exit status: the script's
/// (`SystemExit`), 1 if it raised, [`exit_status::APP_LOAD_FAILED`] if Python could not start.
pub(crate) fn run(start: &WorkerStart, index: usize, startup: Startup) -> i32 {
    let service = &start.config.services[index];
    oxwsgi_logging::init(
        start.config.logging.level,
        start.config.logging.error_format.as_deref(),
    );
    let inherited = start
        .listener_fds
        .iter()
        .copied()
        .chain(start.internal_fds.iter().flatten().copied())
        .chain([start.control_fd]);
    for fd in inherited {
        // Adopted to be closed at once.
        drop(fds::adopt(fd));
    }
    // Opened while still root: the service's user may not be allowed to.
    let log = match (&service.log_file, &start.config.logging.error_log) {
        (Some(path), _) | (None, LogDestination::File(path)) => {
            match oxwsgi_logging::open_error_log(path) {
                Ok(file) => Some(file),
                Err(err) => {
                    tracing::error!(
                        "service '{}': cannot open its log {}: {err}",
                        service.name,
                        path.display()
                    );
                    None
                }
            }
        }
        (None, LogDestination::Terminal) => None,
    };
    if let Err(err) = switch_user(service) {
        tracing::error!("service '{}': {err}", service.name);
        return exit_status::START_FAILED;
    }
    redirect(log);
    oxwsgi_logging::restore_standard_streams();
    let python = match oxwsgi_wsgi_bridge::initialize(&service.python, startup) {
        Ok(python) => python,
        Err(err) => {
            tracing::error!("service '{}': {err}", service.name);
            return exit_status::APP_LOAD_FAILED;
        }
    };
    if let Err(err) = oxwsgi_wsgi_bridge::install_crash_reports(&python) {
        tracing::warn!("service '{}': {err}", service.name);
    }
    tracing::info!(
        "service '{}' runs {} (pid {})",
        service.name,
        service.script.display(),
        std::process::id()
    );
    let status = match oxwsgi_wsgi_bridge::run_service_script(&python, &service.script) {
        ServiceEnd::Exited(status) => status,
        ServiceEnd::Raised(traceback) => {
            tracing::error!(
                "service '{}': the script {} raised:\n{traceback}",
                service.name,
                service.script.display()
            );
            1
        }
    };
    oxwsgi_wsgi_bridge::run_exit_functions(&python);
    notice!(
        "service '{}' (pid {}) ends with exit status {status}",
        service.name,
        std::process::id()
    );
    status
}

/// Becomes the service's user when started as root; a service started by another user stays
/// that user, as mod_wsgi-express's `--service-user` applies only to root.
fn switch_user(service: &oxwsgi_config::Service) -> Result<(), crate::privileges::SwitchError> {
    let Some(run_as) = &service.run_as else {
        return Ok(());
    };
    let current = rustix::process::geteuid().as_raw();
    if current == 0 {
        return crate::privileges::switch_user(run_as);
    }
    if current != run_as.uid {
        tracing::warn!(
            "service '{}': not started as root, so it runs as uid {current}, not as {}",
            service.name,
            run_as.user
        );
    }
    Ok(())
}

/// Sends everything the process writes (log lines, `print`, tracebacks, a C library's
/// output) to its log file, if it has one.
fn redirect(log: Option<oxwsgi_logging::OpenedLog>) {
    if let Some(file) = log {
        if let Err(err) = oxwsgi_logging::redirect_stderr_to_file(file) {
            tracing::error!("cannot write to the service's log: {err}");
        }
    }
}
