//! What oxwsgi's supervisor and its worker processes share.
//!
//! The supervisor starts each worker by executing the `oxwsgi` binary again, or the Python
//! interpreter with a bootstrap when oxwsgi is installed as a Python package ([`launch`]) —
//! never by forking a process that runs Python or threads. A worker learns everything from
//! three inherited things:
//!
//! * how it was started: the binary's `argv[0]` is the process title (`oxwsgi: worker 2
//!   [localhost:8000]`), which also tells `main` that this process is a worker ([`title`]); the
//!   interpreter's bootstrap enters the worker directly;
//! * standard input, carrying one [`WorkerStart`] as JSON: the resolved configuration and the
//!   numbers of the inherited descriptors ([`start`]);
//! * the listening sockets and a control pipe, inherited as descriptors ([`fds`]), on which the
//!   worker reports `ready` and asks to be replaced ([`control`]).

#![deny(unsafe_code)]

pub mod activation;
pub mod control;
pub mod envvars_script;
pub mod fds;
pub mod handoff;
pub mod launch;
pub mod limits;
pub mod saved;
pub mod sockets;
pub mod start;
pub mod title;
pub mod unix_socket;

pub use control::{ReplaceReason, Report};
pub use launch::{Launcher, PythonLauncher};
pub use start::WorkerStart;

/// Exit statuses of a worker process, which tell the supervisor why it ended.
pub mod exit_status {
    /// The worker drained and stopped as asked.
    pub const STOPPED: i32 = 0;
    /// The application (or Python) could not be loaded: starting again will not help.
    pub const APP_LOAD_FAILED: i32 = 3;
    /// The worker could not start for another reason (its start-up data, its sockets).
    pub const START_FAILED: i32 = 4;
    /// The worker found Python's lock held too long (a deadlock) and exited to be replaced.
    pub const DEADLOCK: i32 = 5;
}
