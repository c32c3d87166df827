//! Socket activation: listening sockets a service manager opened for this process.
//!
//! systemd's protocol (`sd_listen_fds(3)`), which other launchers speak too: `LISTEN_PID` is
//! the pid of the process the sockets are for, `LISTEN_FDS` their number n, passed as the
//! descriptors 3 to 3 + n - 1, and `LISTEN_FDNAMES` their names (`FileDescriptorName=`),
//! separated by colons. The supervisor adopts them for its listeners instead of binding: ports
//! below 1024 then need no root, and the sockets outlive a restart of the whole service, so
//! connections made meanwhile wait in their queue instead of being refused.
//!
//! `start-server` executes itself as the supervisor without forking, so `LISTEN_PID` still
//! names it there. The variables are not passed on to the workers (see [`VARIABLES`]): they
//! were for the supervisor, and an application must not take them as its own.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, ToSocketAddrs};
use std::os::fd::{AsFd, OwnedFd, RawFd};

use oxwsgi_config::ListenerConfig;
use socket2::{SockRef, Type};

/// The first descriptor passed.
pub const FIRST_FD: RawFd = 3;

/// The variables of the protocol, which workers must not inherit.
pub const VARIABLES: [&str; 3] = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"];

/// A socket passed to this process.
#[derive(Debug)]
pub struct Inherited {
    /// The socket.
    pub socket: TcpListener,
    /// The address it is bound to.
    pub address: SocketAddr,
    /// Its name in `LISTEN_FDNAMES`, if it has one.
    pub name: Option<String>,
}

impl Inherited {
    /// How the socket reads in messages: its address, and its name.
    pub fn describe(&self) -> String {
        match &self.name {
            Some(name) => format!("{} ({name})", self.address),
            None => self.address.to_string(),
        }
    }
}

/// The passed sockets cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ActivationError {
    /// A variable does not say what the protocol says.
    #[error("socket activation: {variable}={value:?} is not valid: {why}")]
    Variable {
        /// The variable.
        variable: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A passed descriptor is not a TCP socket bound to an address.
    #[error(
        "socket activation: descriptor {fd}{name} is not a TCP socket oxwsgi can listen on \
         ({why}); the socket unit should say ListenStream=PORT or ListenStream=ADDRESS:PORT"
    )]
    NotTcp {
        /// The descriptor.
        fd: RawFd,
        /// Its name, as ` (NAME)`, or nothing.
        name: String,
        /// What it is instead.
        why: String,
    },
    /// A passed descriptor could not be taken.
    #[error("socket activation: descriptor {fd}: {source}")]
    Io {
        /// The descriptor.
        fd: RawFd,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// How many sockets the variables pass to the process with pid `own_pid`, and their names:
/// `None` when they pass none to it (no `LISTEN_PID`, or another process's).
pub fn parse(
    listen_pid: Option<&str>,
    listen_fds: Option<&str>,
    listen_fdnames: Option<&str>,
    own_pid: u32,
) -> Result<Option<Vec<Option<String>>>, ActivationError> {
    let (Some(pid), Some(fds)) = (listen_pid, listen_fds) else {
        return Ok(None);
    };
    let pid: u32 = pid.trim().parse().map_err(|_| ActivationError::Variable {
        variable: "LISTEN_PID",
        value: pid.to_owned(),
        why: "not a process id",
    })?;
    if pid != own_pid {
        // Meant for another process (a parent that did not unset them).
        return Ok(None);
    }
    let count: usize = fds.trim().parse().map_err(|_| ActivationError::Variable {
        variable: "LISTEN_FDS",
        value: fds.to_owned(),
        why: "not a number of descriptors",
    })?;
    if count > 4096 {
        return Err(ActivationError::Variable {
            variable: "LISTEN_FDS",
            value: fds.to_owned(),
            why: "too many descriptors",
        });
    }
    let mut names: Vec<Option<String>> = listen_fdnames
        .map(|names| {
            names
                .split(':')
                .map(|n| Some(n.to_owned()).filter(|n| !n.is_empty()))
                .collect()
        })
        .unwrap_or_default();
    names.resize(count, None);
    Ok(Some(names))
}

/// The sockets passed to this process, taken from the environment's variables: none when
/// there are none for it.
pub fn inherited() -> Result<Vec<Inherited>, ActivationError> {
    let var = |name| std::env::var(name).ok();
    let Some(names) = parse(
        var("LISTEN_PID").as_deref(),
        var("LISTEN_FDS").as_deref(),
        var("LISTEN_FDNAMES").as_deref(),
        std::process::id(),
    )?
    else {
        return Ok(Vec::new());
    };
    let mut sockets = Vec::new();
    for (index, name) in names.into_iter().enumerate() {
        let fd = FIRST_FD + index as RawFd;
        let owned = crate::fds::adopt(fd).map_err(|source| ActivationError::Io { fd, source })?;
        let (socket, address) = tcp_listener(owned).map_err(|why| ActivationError::NotTcp {
            fd,
            name: name.as_ref().map(|n| format!(" ({n})")).unwrap_or_default(),
            why,
        })?;
        sockets.push(Inherited {
            socket,
            address,
            name,
        });
    }
    Ok(sockets)
}

fn tcp_listener(fd: OwnedFd) -> Result<(TcpListener, SocketAddr), String> {
    let borrowed = fd.as_fd();
    let socket = SockRef::from(&borrowed);
    match socket.r#type() {
        Ok(kind) if kind == Type::STREAM => {}
        Ok(_) => return Err("not a stream socket (ListenDatagram?)".to_owned()),
        Err(err) => return Err(format!("not a socket: {err}")),
    }
    let address = socket
        .local_addr()
        .map_err(|err| err.to_string())?
        .as_socket()
        .ok_or_else(|| "not an IP socket (a unix socket?)".to_owned())?;
    Ok((TcpListener::from(fd), address))
}

/// Which passed socket each listener takes: first the one bound to the listener's address,
/// then, for the listeners left, the sockets left in order. `None` for a listener no socket is
/// left for (it binds its own).
pub fn assign(listeners: &[ListenerConfig], passed: &[SocketAddr]) -> Vec<Option<usize>> {
    let mut taken = vec![false; passed.len()];
    let mut assigned: Vec<Option<usize>> = listeners
        .iter()
        .map(|listener| {
            let found = passed
                .iter()
                .enumerate()
                .find(|&(i, address)| !taken[i] && is_address_of(listener, *address))
                .map(|(i, _)| i);
            if let Some(i) = found {
                taken[i] = true;
            }
            found
        })
        .collect();
    // A unix socket listener binds its own: what is passed are TCP sockets.
    let tcp = listeners.iter().map(|l| l.unix.is_none());
    for (slot, _) in assigned
        .iter_mut()
        .zip(tcp)
        .filter(|(slot, tcp)| slot.is_none() && *tcp)
    {
        if let Some(i) = taken.iter().position(|t| !t) {
            taken[i] = true;
            *slot = Some(i);
        }
    }
    assigned
}

/// Whether `address` is where `listener` would bind: its port (unless 0), and every interface
/// for a listener without a host, else one of the host's addresses.
fn is_address_of(listener: &ListenerConfig, address: SocketAddr) -> bool {
    if listener.port == 0 || listener.port != address.port() {
        return false;
    }
    match &listener.host {
        None => address.ip().is_unspecified(),
        Some(host) => match host.parse::<IpAddr>() {
            Ok(ip) => ip == address.ip(),
            Err(_) => (host.as_str(), listener.port)
                .to_socket_addrs()
                .is_ok_and(|mut all| all.any(|a| a.ip() == address.ip())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener(host: Option<&str>, port: u16) -> ListenerConfig {
        ListenerConfig {
            host: host.map(str::to_owned),
            port,
            backlog: 100,
            tls: None,
            http2: false,
            unix: None,
        }
    }

    #[test]
    fn variables_for_another_process_pass_nothing() {
        assert!(parse(Some("12"), Some("1"), None, 13).unwrap().is_none());
        assert!(parse(None, Some("1"), None, 13).unwrap().is_none());
        assert!(parse(Some("13"), None, None, 13).unwrap().is_none());
    }

    #[test]
    fn names_are_read_and_padded_to_the_count() {
        let names = parse(Some("7"), Some("3"), Some("http:https"), 7)
            .unwrap()
            .unwrap();
        assert_eq!(
            names,
            [Some("http".to_owned()), Some("https".to_owned()), None]
        );
        assert_eq!(parse(Some("7"), Some("0"), None, 7).unwrap(), Some(vec![]));
    }

    #[test]
    fn invalid_variables_are_refused_naming_them() {
        let err = parse(Some("x"), Some("1"), None, 7)
            .unwrap_err()
            .to_string();
        assert!(err.contains("LISTEN_PID=\"x\""), "{err}");
        let err = parse(Some("7"), Some("-1"), None, 7)
            .unwrap_err()
            .to_string();
        assert!(err.contains("LISTEN_FDS"), "{err}");
    }

    #[test]
    fn sockets_go_to_their_addresses_first_then_in_order() {
        let listeners = [
            listener(None, 8000),
            listener(Some("127.0.0.1"), 8443),
            listener(None, 9000),
        ];
        let passed: Vec<SocketAddr> = vec![
            "127.0.0.1:8443".parse().unwrap(),
            "[::]:8000".parse().unwrap(),
            "0.0.0.0:80".parse().unwrap(),
        ];
        assert_eq!(assign(&listeners, &passed), [Some(1), Some(0), Some(2)]);
        // Fewer sockets than listeners: the rest bind their own.
        assert_eq!(assign(&listeners, &passed[..1]), [None, Some(0), None]);
        // No address matches: in order.
        assert_eq!(
            assign(&[listener(None, 8000)], &["0.0.0.0:80".parse().unwrap()]),
            [Some(0)]
        );
    }
}
