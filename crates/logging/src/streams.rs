//! The server's own output descriptors, kept apart from the standard ones the application can
//! close.
//!
//! An application (or a daemonising helper it calls) may close descriptor 1 or 2, at import or
//! in a request. The next descriptor the process opens then takes that number: the I/O
//! runtime's epoll instance, or a client's connection. A server that kept writing its log to
//! "descriptor 2" would then write other requests' log lines into that client's socket.
//!
//! So the log never goes through the standard numbers. At start-up, before any application
//! code runs, [`capture`] duplicates standard error and standard output to descriptors above the
//! standard range, close-on-exec (children the application starts do not inherit them). Every
//! log line is written to the captured error descriptor; an access log on the terminal writes
//! to the captured output descriptor ([`terminal_stdout`]). When the error log becomes a file
//! ([`redirect_to`]), the file is put in place of the captured descriptor (its number does not
//! change, so `fileno()` handed to Python stays valid) and also onto 1 and 2, so that output
//! which bypasses the log (a C extension's `fprintf(stderr)`) lands there too.
//!
//! After the application has loaded, [`restore_standard_streams`] checks 0–2 again: a number the
//! application closed is filled (with `/dev/null` for 0, the log for 1 and 2) before the runtime
//! starts and could take it.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError, RwLock};

use rustix::io::{DupFlags, dup3, fcntl_dupfd_cloexec};

use crate::failures::{Change, Outage};
use crate::files::{ReopenError, open_append, write_all};

/// The lowest number the server's own descriptors may have.
const ABOVE_STANDARD: RawFd = 3;

/// The captured descriptors.
struct Captured {
    /// Where log lines go: standard error as it was at start-up, or the error log file.
    log: RwLock<OwnedFd>,
    /// Standard output as it was at start-up (for an access log on the terminal); `None` when
    /// it was not open.
    stdout: Option<OwnedFd>,
    /// The error log's file, once the log is one: what a reopen opens.
    path: Mutex<Option<PathBuf>>,
    /// Whether writes to the log fail.
    outage: Outage,
}

/// The error log file, opened: what [`redirect_to_file`] puts in place.
#[derive(Debug)]
pub struct OpenedLog {
    path: PathBuf,
    fd: OwnedFd,
}

static CAPTURED: OnceLock<Captured> = OnceLock::new();

/// Moves `fd` above the standard range (if it is not already there), close-on-exec.
pub(crate) fn above_standard(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() >= ABOVE_STANDARD {
        return Ok(fd);
    }
    Ok(fcntl_dupfd_cloexec(&fd, ABOVE_STANDARD)?)
}

/// A close-on-exec duplicate of `fd` above the standard range; `None` when `fd` is not open.
fn duplicate(fd: impl AsFd) -> Option<OwnedFd> {
    fcntl_dupfd_cloexec(fd, ABOVE_STANDARD).ok()
}

fn dev_null() -> io::Result<OwnedFd> {
    above_standard(OpenOptions::new().write(true).open("/dev/null")?.into())
}

/// Duplicates standard error and standard output for the server's own use. Called once, at
/// start-up, before any application code runs; later calls do nothing.
pub(crate) fn capture() {
    CAPTURED.get_or_init(|| {
        let log = duplicate(io::stderr().as_fd())
            .or_else(|| dev_null().ok())
            .expect("a process can open /dev/null");
        Captured {
            log: RwLock::new(log),
            stdout: duplicate(io::stdout().as_fd()),
            path: Mutex::new(None),
            outage: Outage::new(),
        }
    });
}

/// Writes `bytes` to the log, in one `write` when it fits (lines from several threads and
/// processes do not interleave), and to the start-up log while there is one. Before [`capture`]
/// (in unit tests), standard error is used.
///
/// A write that fails loses the line; the failure is counted, and reported once per outage on
/// standard output as it was at start-up (the terminal, or the service manager's journal): the
/// log itself cannot say it.
pub(crate) fn write_log(bytes: &[u8]) {
    crate::startup::copy(bytes);
    let Some(captured) = CAPTURED.get() else {
        let _ = io::stderr().lock().write_all(bytes);
        return;
    };
    let written = {
        let log = captured.log.read().unwrap_or_else(PoisonError::into_inner);
        write_all(&*log, bytes)
    };
    let change = match &written {
        Ok(()) => captured.outage.succeeded(),
        Err(_) => captured.outage.failed(1),
    };
    let report = match (change, written) {
        (Change::Same, _) => return,
        (Change::Started, Err(err)) => format!(
            "cannot write to the error log{}: {err}; its lines are dropped (and counted) until \
             it can be written again, and the server goes on serving",
            log_path_shown(captured)
        ),
        (Change::Ended(lost), _) => format!(
            "the error log{} can be written again; {lost} line(s) could not be written",
            log_path_shown(captured)
        ),
        (Change::Started, Ok(())) => return,
    };
    if let Some(stdout) = &captured.stdout {
        let line = format!(
            "[{}] [oxwsgi:error] [pid {}] {report}\n",
            chrono::Local::now().format("%a %b %d %H:%M:%S%.6f %Y"),
            std::process::id()
        );
        let _ = write_all(stdout, line.as_bytes());
    }
}

/// ` PATH` of the error log's file, or nothing for the terminal.
fn log_path_shown(captured: &Captured) -> String {
    captured
        .path
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .map_or_else(String::new, |path| format!(" {}", path.display()))
}

/// The number of the log's descriptor, for Python's `sys.stderr.fileno()` (faulthandler writes
/// there directly); 2 before [`capture`].
pub fn log_fileno() -> RawFd {
    CAPTURED.get().map_or(2, |captured| {
        captured
            .log
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_raw_fd()
    })
}

/// A handle on standard output as it was at start-up, for an access log on the terminal.
pub fn terminal_stdout() -> io::Result<File> {
    match CAPTURED.get().and_then(|captured| captured.stdout.as_ref()) {
        Some(stdout) => Ok(File::from(stdout.try_clone()?)),
        None => Ok(File::from(duplicate(io::stdout().as_fd()).ok_or_else(
            || io::Error::new(io::ErrorKind::NotFound, "standard output is closed"),
        )?)),
    }
}

/// Makes `path` (appended to) the error log: log lines, and whatever this process writes to
/// descriptors 1 and 2.
pub(crate) fn redirect_to(path: &Path) -> io::Result<()> {
    redirect_to_file(open_log(path)?)
}

/// Opens `path` for appending, on a descriptor above the standard range.
pub(crate) fn open_log(path: &Path) -> io::Result<OpenedLog> {
    Ok(OpenedLog {
        path: path.to_path_buf(),
        fd: open_append(path)?,
    })
}

/// Makes the open log `file` the destination of log lines, standard error and standard output.
pub(crate) fn redirect_to_file(file: OpenedLog) -> io::Result<()> {
    if let Some(captured) = CAPTURED.get() {
        let mut log = captured.log.write().unwrap_or_else(PoisonError::into_inner);
        dup3(&file.fd, &mut log, DupFlags::CLOEXEC)?;
        *captured.path.lock().unwrap_or_else(PoisonError::into_inner) = Some(file.path);
    }
    rustix::stdio::dup2_stderr(&file.fd)?;
    rustix::stdio::dup2_stdout(&file.fd)?;
    Ok(())
}

/// Opens the error log's file again (after a rotation) and puts it in place of the old one: on
/// the log's descriptor, and on descriptors 1 and 2 where they still lead to the old file (an
/// application may have sent them elsewhere). Nothing to do while the log is the terminal.
pub(crate) fn reopen_log() -> Result<(), ReopenError> {
    let Some(captured) = CAPTURED.get() else {
        return Ok(());
    };
    let Some(path) = captured
        .path
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
    else {
        return Ok(());
    };
    let failed = |source: io::Error| ReopenError {
        path: path.clone(),
        source,
    };
    let new = open_append(&path).map_err(failed)?;
    let mut log = captured.log.write().unwrap_or_else(PoisonError::into_inner);
    let old = same_file_key(&*log);
    let leads_to_log = |fd: std::os::fd::BorrowedFd<'_>| old.is_some() && same_file_key(fd) == old;
    if leads_to_log(rustix::stdio::stdout()) {
        rustix::stdio::dup2_stdout(&new).map_err(|e| failed(e.into()))?;
    }
    if leads_to_log(rustix::stdio::stderr()) {
        rustix::stdio::dup2_stderr(&new).map_err(|e| failed(e.into()))?;
    }
    dup3(&new, &mut log, DupFlags::CLOEXEC).map_err(|e| failed(e.into()))?;
    Ok(())
}

/// The device and inode of the file `fd` leads to; `None` when it is not open.
fn same_file_key(fd: impl AsFd) -> Option<(u64, u64)> {
    rustix::fs::fstat(fd)
        .ok()
        .map(|stat| (stat.st_dev, stat.st_ino))
}

/// Fills the standard descriptors the application closed: 0 with `/dev/null`, 1 and 2 with the
/// log. Returns the numbers that had been closed.
///
/// Opening a file takes the lowest free number, so opening `/dev/null` until the number is above
/// the standard range finds (and fills) every hole without looking at numbers that are not ours.
pub fn restore_standard_streams() -> Vec<RawFd> {
    let mut filled = Vec::new();
    while let Ok(null) = File::open("/dev/null") {
        let number = null.as_raw_fd();
        if number >= ABOVE_STANDARD {
            break;
        }
        filled.push(number);
        // The standard slot owns the descriptor from now on, like those a process starts with,
        // and like them it is inherited by the programs the application starts.
        let null = OwnedFd::from(null);
        let _ = rustix::io::fcntl_setfd(&null, rustix::io::FdFlags::empty());
        if let Some(captured) = CAPTURED.get() {
            let log = captured.log.read().unwrap_or_else(PoisonError::into_inner);
            let _ = match number {
                1 => rustix::stdio::dup2_stdout(&*log),
                2 => rustix::stdio::dup2_stderr(&*log),
                _ => Ok(()),
            };
        }
        let _ = null.into_raw_fd();
    }
    filled
}
