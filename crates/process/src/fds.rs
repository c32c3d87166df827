//! Descriptors handed from the supervisor to a worker across `exec`.
//!
//! Rust opens every descriptor close-on-exec. The supervisor clears that flag on exactly the
//! descriptors a worker must inherit (the listening sockets, and one worker's control pipe while
//! that worker is being started), and tells the worker their numbers. The worker adopts them —
//! the one unsafe operation here, because only the supervisor's word says the numbers are open
//! and unowned — and sets close-on-exec again, so processes the application starts do not
//! inherit the server's sockets.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};

use rustix::io::{FdFlags, fcntl_getfd, fcntl_setfd};

/// Lets `fd` survive the next `exec` (in the supervisor, before starting a worker).
pub fn make_inheritable(fd: impl AsFd) -> io::Result<()> {
    fcntl_setfd(fd, FdFlags::empty())?;
    Ok(())
}

/// Takes ownership of a descriptor this process inherited, numbered `fd`.
///
/// Must be called once per number, with numbers from the supervisor's [`crate::WorkerStart`].
#[allow(unsafe_code)]
pub fn adopt(fd: RawFd) -> io::Result<OwnedFd> {
    if fd <= 2 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("descriptor {fd} is a standard stream, not an inherited socket"),
        ));
    }
    // SAFETY: the borrow lasts only for this check. `fd` is a number the supervisor reserved for
    // this process; if it is not open, `fcntl` reports EBADF and nothing else happens.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    fcntl_getfd(borrowed)?;
    // SAFETY: `fd` is open (checked above) and was inherited for this process to own: nothing
    // else in this process knows its number, and this function is called once per number.
    let owned = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    fcntl_setfd(&owned, FdFlags::CLOEXEC)?;
    Ok(owned)
}
