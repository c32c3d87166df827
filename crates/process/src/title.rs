//! Process titles: what `ps` shows for each oxwsgi process.
//!
//! The title is `argv[0]`, set when the process is executed, so no argument-memory tricks are
//! needed. A worker is recognised by its title alone; everything else it needs arrives on
//! standard input.

/// The title of the supervisor process.
pub const SUPERVISOR: &str = "oxwsgi: supervisor";

const WORKER_PREFIX: &str = "oxwsgi: worker ";

/// The title of worker `slot` (counted from 1) of process group `group`.
pub fn worker(slot: usize, group: &str) -> String {
    format!("{WORKER_PREFIX}{slot} [{group}]")
}

/// Sets the kernel's short name of the process (`/proc/self/comm`, what `ps -e`, `top` and
/// `pgrep` show): processes are executed from `/proc/self/exe`, which would otherwise name them
/// all `exe`. Called first thing in `main`, so threads started later inherit it. Failure only
/// costs the cosmetic name, so it is ignored.
pub fn set_short_name(role: Role) {
    let name = match role {
        Role::Worker => "oxwsgi-worker",
        Role::Supervisor | Role::Command => "oxwsgi",
    };
    let _ = std::fs::write("/proc/self/comm", name);
}

/// Which kind of oxwsgi process this is, by its `argv[0]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Started by the supervisor as a worker.
    Worker,
    /// Re-executed by `start-server` with the supervisor's title.
    Supervisor,
    /// Started by a user.
    Command,
}

/// The role a process has, given its `argv[0]`.
pub fn role(arg0: &str) -> Role {
    if arg0.starts_with(WORKER_PREFIX) {
        Role::Worker
    } else if arg0 == SUPERVISOR {
        Role::Supervisor
    } else {
        Role::Command
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_say_what_each_process_is() {
        assert_eq!(
            worker(2, "localhost:8000"),
            "oxwsgi: worker 2 [localhost:8000]"
        );
        assert_eq!(role(&worker(2, "g")), Role::Worker);
        assert_eq!(role(SUPERVISOR), Role::Supervisor);
        assert_eq!(role("/usr/bin/oxwsgi"), Role::Command);
    }
}
