//! Switching a worker to its group's user before Python starts, as mod_wsgi's daemon
//! processes do for `user=`: supplementary groups, then the group, then the user.
//!
//! The switch uses the raw system calls, which change the calling thread only; it is made
//! while the worker is still single-threaded (before the runtime and Python start), and checked
//! to be. The kernel clears the parent-death signal on a change of credentials, so it is set
//! again.

use oxwsgi_config::RunAs;
use rustix::process::{Gid, Uid};

/// Why the worker could not become its group's user.
#[derive(Debug, thiserror::Error)]
#[error("cannot run as the user {user}: {why}")]
pub struct SwitchError {
    user: String,
    why: String,
}

/// Becomes `run_as` when running as root; otherwise checks that the worker already is that
/// user.
pub(crate) fn switch_user(run_as: &RunAs) -> Result<(), SwitchError> {
    let fail = |why: String| SwitchError {
        user: run_as.user.clone(),
        why,
    };
    let current = rustix::process::geteuid().as_raw();
    if current == run_as.uid {
        return Ok(());
    }
    if current != 0 {
        return Err(fail(format!(
            "the worker runs as uid {current}, not as root"
        )));
    }
    let threads = std::fs::read_dir("/proc/self/task")
        .map(|t| t.count())
        .unwrap_or(0);
    if threads != 1 {
        return Err(fail(format!(
            "the worker has {threads} threads; the switch must come before any starts"
        )));
    }
    let groups: Vec<Gid> = run_as.groups.iter().map(|&g| Gid::from_raw(g)).collect();
    rustix::thread::set_thread_groups(&groups).map_err(|e| fail(format!("setgroups: {e}")))?;
    rustix::thread::set_thread_res_gid(
        Gid::from_raw(run_as.gid),
        Gid::from_raw(run_as.gid),
        Gid::from_raw(run_as.gid),
    )
    .map_err(|e| fail(format!("setresgid({}): {e}", run_as.gid)))?;
    let uid = Uid::from_raw(run_as.uid);
    rustix::thread::set_thread_res_uid(uid, uid, uid)
        .map_err(|e| fail(format!("setresuid({}): {e}", run_as.uid)))?;
    // No way back: a worker that could become root again has not switched.
    if rustix::thread::set_thread_uid(Uid::ROOT).is_ok() {
        return Err(fail("root could be taken back after the switch".to_owned()));
    }
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM));
    Ok(())
}
