//! Process titles: what `ps` shows for each oxwsgi process.
//!
//! The oxwsgi binary gives its processes their title as `argv[0]` when it executes them, so no
//! argument-memory tricks are needed there, and a worker is recognised by its title alone;
//! everything else it needs arrives on standard input.
//!
//! A Python interpreter cannot be given its title that way: it finds its virtual environment
//! from `argv[0]`. When oxwsgi runs as a Python extension, its processes title themselves once
//! started, with [`set`], the way `setproctitle` does: the kernel shows a process's command line
//! from the memory its arguments were placed in, and a process may write over it.

/// The title of the supervisor process.
pub const SUPERVISOR: &str = "oxwsgi: supervisor";

const WORKER_PREFIX: &str = "oxwsgi: worker ";

const SERVICE_PREFIX: &str = "oxwsgi: service ";

/// The title of the side service `name` (`--service-script`).
pub fn service(name: &str) -> String {
    format!("{SERVICE_PREFIX}{name}")
}

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
        Role::Service => "oxwsgi-service",
        Role::Supervisor | Role::Command => "oxwsgi",
    };
    let _ = std::fs::write("/proc/self/comm", name);
}

/// Makes `ps` show `title` for this process (and `short` as its kernel name, see
/// [`set_short_name`]): writes the title over the process's own argument strings.
///
/// The kernel publishes where the argument strings are (fields 48 and 49 of
/// `/proc/self/stat`, since Linux 3.5) and reads `/proc/self/cmdline` from there. The title is
/// written through `/proc/self/mem`, which needs no `unsafe` code: the strings are this
/// process's own stack memory, and Rust never holds a reference to them. After this,
/// `std::env::args` (which reads that memory lazily) returns the title: call it only after
/// the arguments were read, before other threads exist. Python keeps its own copy of its
/// arguments (`sys.argv`, `sys.orig_argv`), so it is not affected.
///
/// The area keeps its size, so a title longer than the original command line is cut. Its last
/// byte is left non-zero, which tells the kernel the area was rewritten: `cmdline` then ends at
/// the title's end, with no trailing separators.
pub fn set(title: &str, role: Role) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt as _;
    set_short_name(role);
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let (start, end) = argument_area(&stat).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "no argument area in /proc/self/stat",
        )
    })?;
    let size = usize::try_from(end.saturating_sub(start)).unwrap_or(0);
    let Some(area) = title_area(title, size) else {
        return Ok(());
    };
    let mem = std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/self/mem")?;
    mem.write_all_at(&area, start)
}

/// The start and end addresses of the argument strings, from the text of `/proc/self/stat`.
fn argument_area(stat: &str) -> Option<(u64, u64)> {
    // The command name (field 2) is in parentheses and may hold spaces or parentheses itself:
    // the fields are counted from its closing one, which is field 3's predecessor.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace().skip(48 - 3);
    let start = fields.next()?.parse().ok()?;
    let end = fields.next()?.parse().ok()?;
    (start != 0 && end > start).then_some((start, end))
}

/// The bytes to write over an argument area of `size` bytes: the title, cut to fit, a NUL, and
/// spaces to the end, the last one marking the area as rewritten. `None` when too small.
fn title_area(title: &str, size: usize) -> Option<Vec<u8>> {
    if size < 3 {
        return None;
    }
    let mut cut = title.len().min(size - 2);
    while !title.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut area = Vec::with_capacity(size);
    area.extend_from_slice(&title.as_bytes()[..cut]);
    area.push(0);
    area.resize(size, b' ');
    Some(area)
}

/// Which kind of oxwsgi process this is, by its `argv[0]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Started by the supervisor as a worker.
    Worker,
    /// Started by the supervisor as a side service (it enters as a worker does; its start-up
    /// data says it is a service).
    Service,
    /// Re-executed by `start-server` with the supervisor's title.
    Supervisor,
    /// Started by a user.
    Command,
}

/// The role a process has, given its `argv[0]`.
pub fn role(arg0: &str) -> Role {
    if arg0.starts_with(WORKER_PREFIX) {
        Role::Worker
    } else if arg0.starts_with(SERVICE_PREFIX) {
        Role::Service
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
        assert_eq!(service("mailer"), "oxwsgi: service mailer");
        assert_eq!(role(&service("mailer")), Role::Service);
        assert_eq!(role("/usr/bin/oxwsgi"), Role::Command);
    }

    #[test]
    fn the_argument_area_is_read_after_a_command_name_with_parentheses() {
        let mut fields: Vec<String> = (3..=52).map(|n| n.to_string()).collect();
        fields[48 - 3] = "1000".into();
        fields[49 - 3] = "1040".into();
        let stat = format!("42 (a) b) {}", fields.join(" "));
        assert_eq!(argument_area(&stat), Some((1000, 1040)));
    }

    #[test]
    fn a_title_fills_the_area_and_ends_it_marked_as_rewritten() {
        let area = title_area("oxwsgi: supervisor", 24).unwrap();
        assert_eq!(area, b"oxwsgi: supervisor\0     ");
        let cut = title_area("oxwsgi: worker 1 [x]", 8).unwrap();
        assert_eq!(cut, b"oxwsgi\0 ");
        assert_eq!(title_area("x", 2), None);
    }

    #[test]
    fn this_process_can_be_titled() {
        // The test binary's own argument area: written, then read back as the kernel shows it.
        set("oxwsgi: test title", Role::Command).unwrap();
        let cmdline = std::fs::read("/proc/self/cmdline").unwrap();
        assert!(cmdline.starts_with(b"oxwsgi: test"), "{cmdline:?}");
    }
}
