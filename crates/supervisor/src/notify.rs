//! Telling a service manager where the server is: systemd's `sd_notify(3)` protocol.
//!
//! When `NOTIFY_SOCKET` names a unix datagram socket (a path, or an abstract name starting
//! with `@`), the supervisor sends it `READY=1` once every first worker serves, `RELOADING=1`
//! (with `MONOTONIC_USEC=`, which systemd 253 and later want) when SIGHUP or SIGUSR1 starts a
//! rolling restart and `READY=1` again when it is over, `STOPPING=1` when it starts draining,
//! and a `STATUS=` line with each, which `systemctl status` shows. Without the variable nothing
//! is sent. Workers do not inherit it (see `worker::spawn`): only the supervisor, the service's
//! main process, speaks for the service.

use std::os::linux::net::SocketAddrExt as _;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// The variable naming the socket.
pub(crate) const VARIABLE: &str = "NOTIFY_SOCKET";

/// Where notifications go; sends nothing when the service manager asked for none.
#[derive(Debug, Default)]
pub(crate) struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
}

impl Notifier {
    /// The notifier `NOTIFY_SOCKET` asks for.
    pub(crate) fn from_env() -> Notifier {
        let Some(name) = std::env::var_os(VARIABLE) else {
            return Notifier::default();
        };
        let name = name.to_string_lossy().into_owned();
        match connect(&name) {
            Ok(target) => Notifier {
                target: Some(target),
            },
            Err(err) => {
                tracing::warn!("{VARIABLE}={name:?}: {err}; no readiness notifications are sent");
                Notifier::default()
            }
        }
    }

    /// Sends `READY=1`: the server serves.
    pub(crate) fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={status}"));
    }

    /// Sends `RELOADING=1`: the workers are being restarted; [`Notifier::ready`] follows.
    pub(crate) fn reloading(&self, status: &str) {
        let now = monotonic_usec();
        self.send(&format!(
            "RELOADING=1\nMONOTONIC_USEC={now}\nSTATUS={status}"
        ));
    }

    /// Sends `STOPPING=1`: the server drains and stops.
    pub(crate) fn stopping(&self, status: &str) {
        self.send(&format!("STOPPING=1\nSTATUS={status}"));
    }

    /// Sends a `STATUS=` line alone.
    pub(crate) fn status(&self, status: &str) {
        self.send(&format!("STATUS={status}"));
    }

    fn send(&self, message: &str) {
        let Some((socket, address)) = &self.target else {
            return;
        };
        // One line per field: a status never spans lines.
        let message = message.replace('\r', " ");
        if let Err(err) = socket.send_to_addr(message.as_bytes(), address) {
            tracing::warn!("cannot notify the service manager ({message:?}): {err}");
        }
    }
}

fn connect(name: &str) -> std::io::Result<(UnixDatagram, SocketAddr)> {
    let address = match name.strip_prefix('@') {
        Some(abstract_name) => SocketAddr::from_abstract_name(abstract_name.as_bytes())?,
        None if name.starts_with('/') => SocketAddr::from_pathname(name)?,
        None => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a socket path nor an abstract socket name (@NAME)",
            ));
        }
    };
    Ok((UnixDatagram::unbound()?, address))
}

/// `CLOCK_MONOTONIC` in microseconds, the clock systemd compares `MONOTONIC_USEC` with.
fn monotonic_usec() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (now.tv_sec as u64) * 1_000_000 + (now.tv_nsec as u64) / 1_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_reach_a_path_socket_and_an_abstract_one() {
        let dir = std::env::temp_dir().join(format!("oxwsgi-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let receiver = UnixDatagram::bind(&path).unwrap();
        let notifier = Notifier {
            target: Some(connect(path.to_str().unwrap()).unwrap()),
        };
        notifier.ready("serving");
        let mut buf = [0; 256];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=serving");
        notifier.reloading("restarting");
        let n = receiver.recv(&mut buf).unwrap();
        let text = std::str::from_utf8(&buf[..n]).unwrap();
        assert!(text.starts_with("RELOADING=1\nMONOTONIC_USEC="), "{text}");
        std::fs::remove_dir_all(&dir).unwrap();

        let name = format!("oxwsgi-notify-test-{}", std::process::id());
        let abstract_address = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let receiver = UnixDatagram::bind_addr(&abstract_address).unwrap();
        let notifier = Notifier {
            target: Some(connect(&format!("@{name}")).unwrap()),
        };
        notifier.stopping("draining");
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1\nSTATUS=draining");
    }

    #[test]
    fn a_relative_name_is_refused() {
        assert!(connect("notify").is_err());
    }
}
