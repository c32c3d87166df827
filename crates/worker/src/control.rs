//! This worker's side of the control pipe to the supervisor.

use std::fs::File;
use std::io::Write;
use std::os::fd::RawFd;
use std::sync::{Mutex, PoisonError};

use oxwsgi_process::{ReplaceReason, Report, fds};

/// Reports to the supervisor. Each report is one short line, written in one `write`, so
/// reports from several threads never interleave.
#[derive(Debug)]
pub(crate) struct Control {
    pipe: Mutex<File>,
}

impl Control {
    /// Adopts the inherited write end of the control pipe.
    pub(crate) fn adopt(fd: RawFd) -> std::io::Result<Control> {
        Ok(Control {
            pipe: Mutex::new(File::from(fds::adopt(fd)?)),
        })
    }

    /// A control pipe from a descriptor this process already owns (tests).
    #[cfg(test)]
    pub(crate) fn adopt_owned(fd: std::os::fd::OwnedFd) -> Control {
        Control {
            pipe: Mutex::new(File::from(fd)),
        }
    }

    /// Tells the supervisor the worker serves.
    pub(crate) fn ready(&self) {
        self.send(Report::Ready);
    }

    /// Asks the supervisor to replace this worker (new one first).
    pub(crate) fn replace(&self, reason: ReplaceReason) {
        oxwsgi_logging::notice!("asking to be replaced: {reason}");
        self.send(Report::Replace(reason));
    }

    fn send(&self, report: Report) {
        let mut pipe = self.pipe.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(err) = pipe.write_all(report.encode().as_bytes()) {
            // The supervisor is gone; the parent-death signal stops this worker shortly.
            tracing::warn!("cannot report to the supervisor: {err}");
        }
    }
}
