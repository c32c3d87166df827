//! Unix socket listeners (`--unix-socket`): bound by the supervisor like the TCP ones, and like
//! them put in the listening state only by a worker whose application has loaded.
//!
//! The path is checked before it is taken: a socket file left by a server that is gone (a
//! connection to it is refused) is replaced; one another server answers on is refused, as a
//! TCP port in use is; anything else at the path (a file, a directory) is refused and left
//! alone. The file gets its mode and owner right after `bind`; nobody can connect before a
//! worker listens, so there is no moment when it is open to more users than configured. The
//! supervisor removes the file when it stops ([`remove`]).

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

use oxwsgi_config::UnixSocket;
use socket2::{Domain, SockAddr, Socket, Type};

/// Binds the socket of a `--unix-socket` listener (not listening), with its mode and owner.
pub fn bind(config: &UnixSocket) -> Result<UnixListener, UnixSocketError> {
    let path = &config.path;
    let fail = |why: Why| UnixSocketError {
        path: path.display().to_string(),
        why,
    };
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if UnixStream::connect(path).is_ok() {
                return Err(fail(Why::InUse));
            }
            std::fs::remove_file(path).map_err(|err| fail(Why::Io("cannot replace it", err)))?;
            tracing::info!("replaced the stale socket {}", path.display());
        }
        Ok(_) => return Err(fail(Why::NotASocket)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(fail(Why::Io("cannot look at it", err))),
    }
    let bound = Socket::new(Domain::UNIX, Type::STREAM, None)
        .and_then(|socket| {
            socket.bind(&SockAddr::unix(path)?)?;
            Ok(socket)
        })
        .map_err(|err| fail(Why::Io("cannot bind it", err)))?;
    let settle = || -> io::Result<()> {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(config.mode))?;
        if let Some(owner) = &config.owner {
            std::os::unix::fs::chown(path, Some(owner.uid), Some(owner.gid))?;
        }
        Ok(())
    };
    if let Err(err) = settle() {
        let _ = std::fs::remove_file(path);
        return Err(fail(Why::Io(
            "cannot give it its mode and owner (changing the owner needs root)",
            err,
        )));
    }
    Ok(UnixListener::from(std::os::fd::OwnedFd::from(bound)))
}

/// Removes the socket file when the server stops, if it is still a socket (never anything
/// put there since).
pub fn remove(path: &Path) {
    let is_socket = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket());
    if is_socket {
        if let Err(err) = std::fs::remove_file(path) {
            tracing::warn!("cannot remove the socket {}: {err}", path.display());
        }
    }
}

/// A `--unix-socket` could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("{why}")]
pub struct UnixSocketError {
    /// The socket's path.
    pub path: String,
    /// What is wrong.
    #[source]
    pub why: Why,
}

/// Why a unix socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum Why {
    /// Another server accepts connections on it.
    #[error("another server is listening on it; stop it, or choose another path")]
    InUse,
    /// Something other than a socket is there.
    #[error(
        "the path exists and is not a socket; oxwsgi leaves it alone: remove it, or choose another path"
    )]
    NotASocket,
    /// The system refused.
    #[error("{0}: {1}")]
    Io(&'static str, #[source] io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("oxwsgi-unix-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn config(path: &Path) -> UnixSocket {
        UnixSocket {
            path: path.to_path_buf(),
            mode: 0o600,
            owner: None,
        }
    }

    #[test]
    fn a_stale_socket_is_replaced_and_the_mode_set() {
        let dir = temp("stale");
        let path = dir.join("s.sock");
        drop(UnixListener::bind(&path).unwrap());
        assert!(
            path.exists(),
            "the old socket file stays after its listener closed"
        );
        let socket = bind(&config(&path)).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        drop(socket);
        remove(&path);
        assert!(!path.exists());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_live_socket_or_a_plain_file_is_refused_and_left_alone() {
        let dir = temp("refused");
        let live = dir.join("live.sock");
        let _server = UnixListener::bind(&live).unwrap();
        let err = bind(&config(&live)).unwrap_err();
        assert!(matches!(err.why, Why::InUse), "{err}");
        assert!(live.exists());

        let file = dir.join("file");
        std::fs::write(&file, "keep").unwrap();
        let err = bind(&config(&file)).unwrap_err();
        assert!(err.to_string().contains("is not a socket"), "{err}");
        remove(&file);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
