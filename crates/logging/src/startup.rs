//! The start-up log (mod_wsgi-express's `--startup-log`): a copy of everything a process
//! writes while the server starts — the banner, every log line, the reason it could not start —
//! in a file of its own, which survives the terminal it started from.
//!
//! The supervisor and each worker of the first start append to the same file (each line in one
//! write, as for the error log) from [`begin`] to [`end`]: the supervisor ends its copy when
//! every worker serves, a worker when it is ready; a worker started later (a replacement) does
//! not write there.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::files::LogFile;

/// Whether a copy is being written (checked before taking the lock: after start-up, every log
/// line costs one load).
static ACTIVE: AtomicBool = AtomicBool::new(false);
static FILE: Mutex<Option<Arc<LogFile>>> = Mutex::new(None);

/// Starts copying this process's start-up output to `path` (appended to).
pub fn begin(path: &Path) -> std::io::Result<()> {
    let file = LogFile::open(path, "the start-up log")?;
    *FILE.lock().unwrap_or_else(PoisonError::into_inner) = Some(file);
    ACTIVE.store(true, Ordering::Release);
    Ok(())
}

/// Stops the copy: the start-up is over.
pub fn end() {
    ACTIVE.store(false, Ordering::Release);
    FILE.lock().unwrap_or_else(PoisonError::into_inner).take();
}

/// Writes `bytes` to the start-up log, if one is being written.
pub(crate) fn copy(bytes: &[u8]) {
    if !ACTIVE.load(Ordering::Acquire) {
        return;
    }
    let file = FILE.lock().unwrap_or_else(PoisonError::into_inner).clone();
    if let Some(file) = file {
        let lines = bytes.iter().filter(|&&b| b == b'\n').count().max(1) as u64;
        file.write(bytes, lines);
    }
}

/// Writes `text` where the start-up messages go: standard output (the banner), and the
/// start-up log while there is one.
pub fn print(text: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
    copy(text.as_bytes());
}

/// Writes `text` to the error log as it is (no line prefix), and to the start-up log while
/// there is one: a message for the user such as why the server could not start.
pub fn print_error(text: &str) {
    crate::streams::write_log(text.as_bytes());
}
