//! The resolved configuration handed to the supervisor across its `exec`.
//!
//! `start-server` resolves the configuration (reading files, checking paths, printing what is
//! wrong), then executes itself again under the supervisor's title. Handing the result over,
//! instead of resolving again, means the supervisor runs exactly what was checked and printed,
//! even if a file or variable changes in between, and nothing is reported twice. The JSON goes
//! into an anonymous memory file (no size limit, unlike an environment variable) whose
//! descriptor survives the `exec`; its number travels in [`VARIABLE`].

use std::io::{self, Read, Seek, Write};
use std::os::fd::{AsFd, OwnedFd};

use oxwsgi_config::ServerConfig;

/// The environment variable with the descriptor's number.
pub const VARIABLE: &str = "OXWSGI_RESOLVED_CONFIG_FD";

/// Writes `config` into an inheritable memory file; keep the descriptor open across the
/// `exec`, and pass its number in [`VARIABLE`].
pub fn hand_over(config: &ServerConfig) -> io::Result<OwnedFd> {
    let fd = rustix::fs::memfd_create("oxwsgi-resolved-config", rustix::fs::MemfdFlags::empty())?;
    let mut file = std::fs::File::from(fd);
    file.write_all(&serde_json::to_vec(config).map_err(io::Error::other)?)?;
    file.rewind()?;
    let fd = OwnedFd::from(file);
    crate::fds::make_inheritable(fd.as_fd())?;
    Ok(fd)
}

/// Reads the configuration handed over in descriptor `number`.
pub fn take_over(number: &str) -> io::Result<ServerConfig> {
    let fd: i32 = number
        .parse()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "not a descriptor number"))?;
    let mut file = std::fs::File::from(crate::fds::adopt(fd)?);
    let mut json = Vec::new();
    file.read_to_end(&mut json)?;
    serde_json::from_slice(&json).map_err(io::Error::other)
}
