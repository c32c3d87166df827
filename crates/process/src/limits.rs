//! The process's own limits, raised to what the system allows.
//!
//! A server holds a descriptor per connection: with the usual soft limit of 1024 open files, a
//! worker with `--max-clients 1024` and its logs, sockets and Python's own files would run out
//! long before its configured capacity. The soft limit is raised to the hard limit once, in the
//! supervisor, and the workers inherit it (as nginx's `worker_rlimit_nofile` or the Go runtime
//! do).

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Raises the soft limit on open files to the hard limit; returns the limit now in force.
pub fn raise_open_files() -> Option<u64> {
    let current = getrlimit(Resource::Nofile);
    let Some(hard) = current.maximum else {
        // No hard limit: ask for a generous soft one rather than "unlimited", which the kernel
        // refuses for open files.
        let wanted = 1 << 20;
        let raised = Rlimit {
            current: Some(wanted),
            maximum: None,
        };
        return match setrlimit(Resource::Nofile, raised) {
            Ok(()) => Some(wanted),
            Err(_) => current.current,
        };
    };
    if current.current == Some(hard) {
        return Some(hard);
    }
    let raised = Rlimit {
        current: Some(hard),
        maximum: Some(hard),
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => Some(hard),
        Err(_) => current.current,
    }
}
