//! `--debug-mode`'s terminal: the worker's standard input and output are the terminal's, which
//! the supervisor passes on as inherited descriptors (its own standard input carried the
//! start-up data, and its standard output may lead to the error log by then).

use std::os::fd::{OwnedFd, RawFd};
use std::sync::OnceLock;

use oxwsgi_process::fds;

/// The terminal's standard output, put back on descriptor 1 after the error log took it.
static TERMINAL_OUTPUT: OnceLock<OwnedFd> = OnceLock::new();

/// Makes the inherited terminal descriptors this process's 0 and 1.
pub(crate) fn adopt_terminal((input, output): (RawFd, RawFd)) -> std::io::Result<()> {
    let input = fds::adopt(input)?;
    rustix::stdio::dup2_stdin(&input)?;
    let output = fds::adopt(output)?;
    rustix::io::fcntl_setfd(&output, rustix::io::FdFlags::CLOEXEC)?;
    rustix::stdio::dup2_stdout(&output)?;
    let _ = TERMINAL_OUTPUT.set(output);
    Ok(())
}

/// Puts the terminal back on descriptor 1 once the error log has moved to its file (which
/// takes descriptors 1 and 2): under debug mode the application's output is the developer's.
pub(crate) fn restore_terminal_output() {
    if let Some(output) = TERMINAL_OUTPUT.get() {
        if let Err(err) = rustix::stdio::dup2_stdout(output) {
            tracing::warn!("--debug-mode: cannot give the terminal back to the application: {err}");
        }
    }
}
