//! The start-up data a supervisor gives a worker on its standard input.

use std::io::Read;
use std::os::fd::RawFd;

use oxwsgi_config::ServerConfig;
use serde::{Deserialize, Serialize};

/// Everything a worker process needs to know, sent once as JSON on its standard input.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerStart {
    /// The configuration, as the supervisor resolved it (so a worker never re-reads files that
    /// may have changed since).
    pub config: ServerConfig,
    /// The process group this worker belongs to (index into `config.groups`).
    pub group: usize,
    /// Set for a side service (index into `config.services`): the process runs that service's
    /// script instead of serving (`group` and `slot` are then unused).
    #[serde(default)]
    pub service: Option<usize>,
    /// The worker's slot in its group, from 1: `mod_wsgi`-style worker numbering in titles and
    /// logs. A replacement takes over its predecessor's slot.
    pub slot: usize,
    /// The inherited listening sockets, in the order of `config.listeners`.
    pub listener_fds: Vec<RawFd>,
    /// The inherited unix sockets on which the front tier reaches each group's workers, by
    /// group (see `ProcessGroup::internal_socket`). Like the listening sockets, a worker
    /// closes those that are not its group's before any application code runs.
    pub internal_fds: Vec<Option<RawFd>>,
    /// The write end of the control pipe to the supervisor.
    pub control_fd: RawFd,
    /// The supervisor's process id, to notice if it goes away.
    pub supervisor_pid: u32,
    /// A secret the supervisor made at start and gives every worker (the key of Digest
    /// authentication's nonces, so that a nonce one worker gave is good at any other).
    pub auth_secret: [u8; 32],
    /// The inherited scoreboard (shared memory laid out by [`scoreboard_layout`]) and the
    /// board in it that is this worker's; `None` when every board of the group is taken, and
    /// the worker's numbers are then not counted.
    #[serde(default)]
    pub scoreboard: Option<(RawFd, usize)>,
    /// The start-up log, for a worker of the server's first start: what it prints until it
    /// serves is copied there (`None` for a worker started later, or without `--startup-log`).
    #[serde(default)]
    pub startup_log: Option<std::path::PathBuf>,
    /// Under `--debug-mode`: inherited duplicates of the terminal's standard input and output
    /// (the supervisor's as it started), which become the worker's descriptors 0 and 1 once
    /// the start-up data has been read from standard input.
    #[serde(default)]
    pub terminal: Option<(RawFd, RawFd)>,
}

/// The scoreboard's layout for `config`: one shape per process group, named as titles name it.
pub fn scoreboard_layout(config: &ServerConfig) -> oxwsgi_scoreboard::Layout {
    oxwsgi_scoreboard::Layout::new(
        config
            .groups
            .iter()
            .enumerate()
            .map(|(index, group)| oxwsgi_scoreboard::GroupShape {
                name: config.group_title(index),
                processes: group.processes,
                threads: group.threads,
            })
            .collect(),
    )
}

/// Start-up data could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Standard input could not be read.
    #[error("cannot read the worker start-up data from standard input: {0}")]
    Read(#[source] std::io::Error),
    /// It was not valid start-up data.
    #[error(
        "standard input does not hold worker start-up data ({0}); worker processes are started \
         by `oxwsgi start-server`, not by hand"
    )]
    Parse(#[source] serde_json::Error),
}

impl WorkerStart {
    /// The data as one JSON document.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("the configuration model serialises")
    }

    /// The process title: the worker's, or the service's.
    pub fn title(&self) -> String {
        match self.service {
            Some(index) => crate::title::service(&self.config.services[index].name),
            None => crate::title::worker(self.slot, &self.config.group_title(self.group)),
        }
    }

    /// Reads the data from standard input, to its end.
    pub fn read_stdin() -> Result<WorkerStart, StartError> {
        let mut text = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut text)
            .map_err(StartError::Read)?;
        serde_json::from_slice(&text).map_err(StartError::Parse)
    }
}
