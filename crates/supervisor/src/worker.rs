//! Starting a worker process and following it: its reports and its exit arrive as [`Event`]s.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use oxwsgi_config::ServerConfig;
use oxwsgi_process::{Launcher, Report, WorkerStart, exit_status, fds};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc::UnboundedSender;

use crate::metrics::ExitReason;

/// Identifies one worker process for its whole life (slots are reused; ids are not).
pub(crate) type WorkerId = u64;

/// What happens to workers, delivered to the supervisor's loop.
#[derive(Debug)]
pub(crate) enum Event {
    /// A worker sent a report on its control pipe.
    Report(WorkerId, Report),
    /// A worker process ended.
    Exited(WorkerId, ExitStatus),
    /// The supervisor received a signal.
    Signal(SignalKind),
}

/// The signals the supervisor acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignalKind {
    /// SIGTERM: drain and stop.
    Terminate,
    /// SIGINT: drain and stop (a second one stops at once).
    Interrupt,
    /// SIGHUP: restart the workers one by one.
    Hangup,
    /// SIGUSR1: the same as SIGHUP, as with Apache's graceful restart.
    User1,
    /// SIGUSR2: reopen every log file (after logrotate renamed them).
    User2,
}

impl SignalKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            SignalKind::Terminate => "SIGTERM",
            SignalKind::Interrupt => "SIGINT",
            SignalKind::Hangup => "SIGHUP",
            SignalKind::User1 => "SIGUSR1",
            SignalKind::User2 => "SIGUSR2",
        }
    }
}

/// Where a worker is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WorkerState {
    /// Started, loading its application.
    Starting,
    /// Serving.
    Ready,
    /// Told to drain (SIGTERM sent); it finishes what it has and exits.
    Draining,
}

/// One worker process, as the supervisor tracks it.
#[derive(Debug)]
pub(crate) struct Worker {
    pub(crate) id: WorkerId,
    pub(crate) group: usize,
    pub(crate) slot: usize,
    pub(crate) pid: u32,
    pub(crate) state: WorkerState,
    /// When the current state began.
    pub(crate) since: Instant,
    /// The worker this one is replacing, if it is a replacement.
    pub(crate) replaces: Option<WorkerId>,
    /// SIGKILL has been sent: no deadline applies any more, only its exit is awaited.
    pub(crate) killed: bool,
    /// Signals for the task that owns the child process.
    pub(crate) signals: SignalSender,
    /// Its board on the scoreboard, if it got one.
    pub(crate) board: Option<usize>,
    /// Why it was told to drain, for the count of exits by reason.
    pub(crate) exit_reason: Option<ExitReason>,
    /// How long it may take to finish its requests once told to drain: the group's graceful
    /// timeout, or its eviction timeout when a restart signal evicted it.
    pub(crate) grace: Duration,
    /// The supervisor's count of log rotations and reopens when the worker was started: a
    /// worker that becomes ready after another one is told to reopen its logs then.
    pub(crate) log_generation: u64,
}

/// Where a worker's signals go: to the task that waits for the child, never to a bare pid.
pub(crate) type SignalSender = UnboundedSender<rustix::process::Signal>;

impl Worker {
    /// Sends a signal to the worker. The task that owns the child process sends it, and only
    /// while the child has not been reaped, so a pid the system has given to another process
    /// since is never signalled.
    pub(crate) fn signal(&self, signal: rustix::process::Signal) {
        let _ = self.signals.send(signal);
    }

    /// Kills the worker at once. Its exit arrives as an event like any other.
    pub(crate) fn kill(&mut self) {
        self.signal(rustix::process::Signal::KILL);
        self.killed = true;
    }

    /// Tells the worker to reopen its log files (SIGWINCH, whose default action is to do
    /// nothing: see the worker's `reopen_logs_on_signal`). A worker has the handler in place
    /// once it reported ready.
    pub(crate) fn reopen_logs(&mut self, generation: u64) {
        self.signal(rustix::process::Signal::WINCH);
        self.log_generation = generation;
    }

    /// Tells the worker to drain: stop accepting, finish its requests, exit.
    pub(crate) fn drain(&mut self, reason: ExitReason) {
        self.exit_reason = Some(reason);
        self.signal(rustix::process::Signal::TERM);
        self.state = WorkerState::Draining;
        self.since = Instant::now();
    }

    /// Tells the worker it is evicted by a restart signal: it drains as for [`Worker::drain`]
    /// but within `grace`, the eviction timeout (SIGUSR1: see the worker's `eviction_signal`).
    pub(crate) fn evict(&mut self, reason: ExitReason, grace: Duration) {
        self.exit_reason = Some(reason);
        self.signal(rustix::process::Signal::USR1);
        self.state = WorkerState::Draining;
        self.since = Instant::now();
        self.grace = grace;
    }
}

/// What a process the supervisor starts is.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind<'a> {
    /// Worker `slot` of process group `group`.
    Worker {
        /// The group's index.
        group: usize,
        /// The slot, from 1.
        slot: usize,
        /// The scoreboard's descriptor and the worker's board in it, if it got one.
        board: Option<(std::os::fd::RawFd, usize)>,
        /// The start-up log, for a worker of the first start.
        startup_log: Option<&'a Path>,
    },
    /// The side service with this index in the configuration.
    Service(usize),
}

/// A started worker process.
pub(crate) struct Spawned {
    pub(crate) pid: u32,
    pub(crate) signals: SignalSender,
}

/// The secret every worker gets ([`WorkerStart::auth_secret`]): made once, from the
/// system's random source, and the same for all the workers of this supervisor, replacements
/// included.
fn auth_secret() -> [u8; 32] {
    static SECRET: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    *SECRET.get_or_init(|| {
        use std::io::Read as _;
        let mut secret = [0; 32];
        let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut secret));
        if let Err(err) = read {
            // Linux always has it; without it, what differs from one start to the next.
            tracing::warn!("cannot read /dev/urandom ({err}): Digest nonces are guessable");
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            secret[..16].copy_from_slice(&now.to_le_bytes());
            secret[16..20].copy_from_slice(&std::process::id().to_le_bytes());
        }
        secret
    })
}

/// Starts worker `slot` of `group`: this binary again with the worker title, or the group's
/// Python interpreter with the bootstrap that enters the worker (see [`Launcher`]).
///
/// The worker gets the listening sockets and a control pipe as inherited descriptors, its
/// start-up data on standard input, and the configured locale in `LANG` and `LC_ALL`. It runs in
/// its own process group, so a Ctrl-C in the terminal reaches only the supervisor, which then
/// stops the workers in order (except under `--debug-mode`: see [`terminal_for_worker`]).
/// A side service ([`Kind::Service`]) is started the same way, with the service's Python.
pub(crate) fn spawn(
    launcher: &Launcher,
    exe: &Path,
    config: &ServerConfig,
    sockets: &crate::Sockets,
    kind: Kind<'_>,
    id: WorkerId,
    events: &UnboundedSender<Event>,
) -> io::Result<Spawned> {
    let (reader, writer) = io::pipe()?;
    fds::make_inheritable(&writer)?;
    let (group, slot, service, home, scoreboard, startup_log) = match kind {
        Kind::Worker {
            group,
            slot,
            board,
            startup_log,
        } => (
            group,
            slot,
            None,
            config.group(group).python.home.as_ref(),
            board,
            startup_log,
        ),
        Kind::Service(index) => (
            0,
            0,
            Some(index),
            config.services[index].python.home.as_ref(),
            None,
            None,
        ),
    };
    // Under --debug-mode the worker's standard input and output are the terminal's, and it
    // stays in the terminal's foreground process group: a process of another group that reads
    // the terminal is stopped (SIGTTIN), and Ctrl-C is to reach it too.
    let debug_mode = config.development.debug_mode && service.is_none();
    let terminal = if debug_mode {
        Some(terminal_for_worker()?)
    } else {
        None
    };
    let start = WorkerStart {
        config: config.clone(),
        group,
        slot,
        service,
        listener_fds: sockets
            .listeners
            .iter()
            .map(|l| l.as_fd().as_raw_fd())
            .collect(),
        internal_fds: sockets
            .internal
            .iter()
            .map(|socket| socket.as_ref().map(|s| s.as_raw_fd()))
            .collect(),
        control_fd: writer.as_raw_fd(),
        supervisor_pid: std::process::id(),
        auth_secret: auth_secret(),
        scoreboard,
        startup_log: startup_log.map(Path::to_path_buf),
        terminal: terminal
            .as_ref()
            .map(|(input, output)| (input.as_raw_fd(), output.as_raw_fd())),
    };
    let program = launcher
        .worker_command(exe, &start.title(), home)
        .map_err(io::Error::other)?;
    let mut command = tokio::process::Command::from(program);
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .env("LANG", &config.locale)
        .env("LC_ALL", &config.locale)
        // The service manager's variables were for the supervisor alone (see notify.rs and
        // oxwsgi_process::activation): neither the workers nor the application take them.
        .env_remove(crate::notify::VARIABLE)
        .kill_on_drop(false);
    if !debug_mode {
        command.process_group(0);
    }
    for variable in oxwsgi_process::activation::VARIABLES {
        command.env_remove(variable);
    }
    // The mark that the command ran in the --envvars-script's environment: the server's own.
    command.env_remove(oxwsgi_process::envvars_script::SOURCED);
    // mod_wsgi's python-eggs (mod_wsgi-express's --python-eggs): where zipped eggs unpack.
    let python = match start.service {
        Some(index) => &config.services[index].python,
        None => &config.group(start.group).python,
    };
    if let Some(dir) = &python.egg_cache {
        command.env("PYTHON_EGG_CACHE", dir);
    }
    let spawned = command.spawn();
    // The child has its own copy of the pipe's write end now; ours must close, or the pipe
    // would never report end of file.
    drop(writer);
    drop(terminal);
    let mut child = spawned?;
    let pid = child.id().unwrap_or_default();

    let json = start.to_json();
    if let Some(mut stdin) = child.stdin.take() {
        tokio::spawn(async move {
            let _ = stdin.write_all(&json).await;
            // Dropping stdin closes it: the worker reads to end of file.
        });
    }
    let control = tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(reader))?;
    let reports = events.clone();
    tokio::spawn(async move {
        let mut lines = BufReader::new(control).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            match Report::decode(&line) {
                Some(report) => {
                    let _ = reports.send(Event::Report(id, report));
                }
                None => tracing::warn!("worker pid {pid} sent an unknown report: {line:?}"),
            }
        }
    });
    let exits = events.clone();
    let (signals, mut signals_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                status = child.wait() => {
                    if let Ok(status) = status {
                        let _ = exits.send(Event::Exited(id, status));
                    }
                    return;
                }
                Some(signal) = signals_rx.recv() => {
                    // Only this task reaps the child, and it is not reaped until `wait` returns:
                    // until then the pid is still the child's.
                    let pid = child.id().and_then(|pid| rustix::process::Pid::from_raw(pid as i32));
                    if let Some(pid) = pid {
                        let _ = rustix::process::kill_process(pid, signal);
                    }
                }
            }
        }
    });
    Ok(Spawned { pid, signals })
}

/// Inheritable duplicates of the terminal's standard input and output, as the supervisor
/// started with them (its own descriptor 1 may lead to the error log by now), for a worker
/// under `--debug-mode`.
fn terminal_for_worker() -> io::Result<(OwnedFd, OwnedFd)> {
    let input = rustix::io::fcntl_dupfd_cloexec(rustix::stdio::stdin(), 3)?;
    let output = OwnedFd::from(oxwsgi_logging::terminal_stdout()?);
    fds::make_inheritable(&input)?;
    fds::make_inheritable(&output)?;
    Ok((input, output))
}

/// How a worker's exit reads in the log. The statuses that mean "could not start" mean it only
/// for a worker that had not started serving: one that was serving exits with them only if the
/// application itself calls `os._exit` with that number.
pub(crate) fn describe_exit(status: ExitStatus, was_serving: bool) -> String {
    if let Some(signal) = status.signal() {
        return format!("killed by signal {signal} ({})", signal_name(signal));
    }
    match status.code() {
        Some(exit_status::STOPPED) => "exit status 0".to_owned(),
        Some(code @ (exit_status::APP_LOAD_FAILED | exit_status::START_FAILED)) if was_serving => {
            format!("exit status {code}")
        }
        Some(exit_status::APP_LOAD_FAILED) => {
            "exit status 3: the application could not be loaded".to_owned()
        }
        Some(exit_status::START_FAILED) => "exit status 4: the worker could not start".to_owned(),
        Some(exit_status::DEADLOCK) => {
            "exit status 5: the Python interpreter was deadlocked".to_owned()
        }
        Some(code) => format!("exit status {code}"),
        None => "an unknown status".to_owned(),
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => "signal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_are_described_with_their_reason() {
        assert_eq!(
            describe_exit(ExitStatus::from_raw(9), true),
            "killed by signal 9 (SIGKILL)"
        );
        assert_eq!(
            describe_exit(ExitStatus::from_raw(3 << 8), false),
            "exit status 3: the application could not be loaded"
        );
        assert_eq!(
            describe_exit(ExitStatus::from_raw(3 << 8), true),
            "exit status 3"
        );
    }
}
