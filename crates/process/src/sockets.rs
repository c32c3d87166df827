//! Listening sockets: bound once by the supervisor, put in the listening state by the workers.
//!
//! The supervisor binds each address (so the port is taken, and `--port 0` has a number to show)
//! but does not listen: a worker calls `listen` only once its application has loaded. Until a
//! worker is ready, connection attempts are refused rather than queued for a server that may
//! never come up; once any worker has listened, the socket stays listening for every worker and
//! its replacements, and connections wait in its queue during restarts.
//!
//! Sockets passed by socket activation (systemd's `oxwsgi.socket`) are taken instead of bound
//! ([`bind_all`]); they already listen, so connections wait in their queue from the start.

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::fd::AsFd;
use std::os::unix::net::UnixListener;
use std::path::Path;

use oxwsgi_config::ListenerConfig;
use socket2::{Domain, Protocol, SockRef, Socket, Type};

/// A listening socket could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("could not listen on {address}: {source}{hint}")]
pub struct BindError {
    /// The address, as configured.
    pub address: String,
    /// What the system said.
    #[source]
    pub source: io::Error,
    hint: &'static str,
}

impl BindError {
    fn new(address: String, source: io::Error) -> BindError {
        let hint = match source.kind() {
            io::ErrorKind::AddrInUse => {
                "; another process is using that port: stop it, or choose another with --port"
            }
            io::ErrorKind::PermissionDenied => {
                "; ports below 1024 need root (start as root and use --user), or choose a \
                 port above 1024"
            }
            io::ErrorKind::AddrNotAvailable => {
                "; that address is not one of this machine's: check --host"
            }
            _ => "",
        };
        BindError {
            address,
            source,
            hint,
        }
    }
}

/// A listener's bound socket: TCP, or a unix socket ([`crate::unix_socket`]).
#[derive(Debug)]
pub enum Bound {
    /// A TCP socket bound here.
    Tcp(TcpListener),
    /// A TCP socket socket activation passed (systemd's `oxwsgi.socket`): it outlives this
    /// server, and connections made while the service restarts wait in its queue.
    Activated(TcpListener),
    /// A unix socket.
    Unix(UnixListener),
}

impl Bound {
    /// Where it listens, for the banner and the logs: `address:port`, or `unix:PATH`.
    pub fn describe(&self) -> String {
        match self {
            Bound::Tcp(socket) | Bound::Activated(socket) => socket
                .local_addr()
                .map_or_else(|err| format!("(unknown: {err})"), |a| a.to_string()),
            Bound::Unix(socket) => socket
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(|p| format!("unix:{}", p.display())))
                .unwrap_or_else(|| "unix:(unnamed)".to_owned()),
        }
    }

    /// Makes the socket take no new connection, for a server that stops: those already in
    /// its queue are still accepted by the draining workers (each sweeps the queue as it
    /// stops accepting), and nothing arrives after them to be reset when the socket closes.
    ///
    /// A load balancer in front then sees a stopping instance refuse connections (after a
    /// connect timeout, or at once when the socket closes) before any request was sent on
    /// them, and tries another instance, instead of having requests sent on connections that
    /// wait in a queue no process accepts from, and are reset at exit.
    ///
    /// A TCP socket gets a filter that drops every packet: a client's SYN goes unanswered and
    /// is sent again, to find the socket closed (refused). A unix socket's file is removed:
    /// connecting fails at once. A socket socket activation passed is left as it is:
    /// connections made while the service restarts are to wait in its queue for the next
    /// start.
    pub fn refuse_new_connections(&self, config: &ListenerConfig) -> io::Result<()> {
        match self {
            Bound::Tcp(socket) => {
                // BPF_RET | BPF_K, 0: keep no byte of any packet.
                const DROP_ALL: socket2::SockFilter = socket2::SockFilter::new(0x06, 0, 0, 0);
                SockRef::from(socket).attach_filter(&[DROP_ALL])
            }
            Bound::Unix(_) => {
                if let Some(unix) = &config.unix {
                    crate::unix_socket::remove(&unix.path);
                }
                Ok(())
            }
            Bound::Activated(_) => Ok(()),
        }
    }

    /// The TCP address, for a TCP socket.
    pub fn tcp_address(&self) -> Option<SocketAddr> {
        match self {
            Bound::Tcp(socket) | Bound::Activated(socket) => socket.local_addr().ok(),
            Bound::Unix(_) => None,
        }
    }
}

impl AsFd for Bound {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Bound::Tcp(socket) | Bound::Activated(socket) => socket.as_fd(),
            Bound::Unix(socket) => socket.as_fd(),
        }
    }
}

/// The sockets of the listeners, in their order: those socket activation passed to this
/// process ([`crate::activation`]), matched by address, else in order; bound here for the
/// rest (unix sockets always are). A passed socket no listener takes is closed, with a warning.
pub fn bind_all(configs: &[ListenerConfig]) -> Result<Vec<Bound>, BindError> {
    let passed = crate::activation::inherited()
        .map_err(|err| BindError::new("the sockets passed".to_owned(), io::Error::other(err)))?;
    let addresses: Vec<SocketAddr> = passed.iter().map(|p| p.address).collect();
    let assigned = crate::activation::assign(configs, &addresses);
    let mut passed: Vec<Option<crate::activation::Inherited>> =
        passed.into_iter().map(Some).collect();
    let listeners = configs
        .iter()
        .zip(&assigned)
        .map(
            |(config, assigned)| match assigned.and_then(|i| passed[i].take()) {
                Some(inherited) => {
                    tracing::info!(
                        "listening on {} passed by socket activation",
                        inherited.describe()
                    );
                    Ok(Bound::Activated(inherited.socket))
                }
                None => match &config.unix {
                    Some(unix) => crate::unix_socket::bind(unix)
                        .map(Bound::Unix)
                        .map_err(|err| BindError {
                            address: config.describe(),
                            source: io::Error::other(err),
                            hint: "",
                        }),
                    None => bind(config).map(Bound::Tcp),
                },
            },
        )
        .collect::<Result<Vec<_>, _>>()?;
    for unused in passed.into_iter().flatten() {
        tracing::warn!(
            "socket activation passed {}, which no listener uses: closed",
            unused.describe()
        );
    }
    Ok(listeners)
}

/// Binds the socket of a listener: every interface (IPv6 and IPv4) when no host is given,
/// otherwise the host's first address (IPv4 preferred).
pub fn bind(config: &ListenerConfig) -> Result<TcpListener, BindError> {
    let display = match &config.host {
        Some(host) => format!("{host}:{}", config.port),
        None => format!("*:{}", config.port),
    };
    let address: SocketAddr = match &config.host {
        None => SocketAddr::from(([0u16; 8], config.port)),
        Some(host) => (host.as_str(), config.port)
            .to_socket_addrs()
            .map_err(|e| BindError::new(display.clone(), e))?
            .min_by_key(|a| a.is_ipv6())
            .ok_or_else(|| {
                BindError::new(
                    display.clone(),
                    io::Error::new(io::ErrorKind::NotFound, "the host name has no address"),
                )
            })?,
    };
    let every_interface = config.host.is_none();
    match bind_address(address, every_interface) {
        // No IPv6 on this machine: "every interface" falls back to IPv4 only.
        Err(err) if every_interface && is_no_ipv6(&err) => {
            bind_address(SocketAddr::from(([0, 0, 0, 0], config.port)), false)
        }
        other => other,
    }
    .map_err(|e| BindError::new(display, e))
}

fn is_no_ipv6(err: &io::Error) -> bool {
    // EAFNOSUPPORT (97): the kernel was built or booted without IPv6.
    err.raw_os_error() == Some(97) || err.kind() == io::ErrorKind::Unsupported
}

fn bind_address(address: SocketAddr, dual_stack: bool) -> io::Result<TcpListener> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    if address.is_ipv6() && dual_stack {
        socket.set_only_v6(false)?;
    }
    socket.bind(&address.into())?;
    Ok(socket.into())
}

/// A group's internal socket could not be set up.
#[derive(Debug, thiserror::Error)]
#[error(
    "could not create the socket {path} (the front tier's way to the group '{group}'): {source}"
)]
pub struct InternalSocketError {
    /// The socket's path.
    pub path: String,
    /// The group's name.
    pub group: String,
    /// What the system said.
    #[source]
    pub source: io::Error,
}

/// Binds the unix socket on which the front tier reaches a group's workers, replacing a
/// stale one a previous run left, and makes it `owner`'s (the front tier's user) with mode
/// 0600: only the front tier can connect, so what a forwarded request says of its client can
/// be trusted. Like a TCP listener, it listens only once a worker is ready.
pub fn bind_internal(
    path: &Path,
    group: &str,
    owner: Option<(u32, u32)>,
) -> Result<UnixListener, InternalSocketError> {
    let fail = |source| InternalSocketError {
        path: path.display().to_string(),
        group: group.to_owned(),
        source,
    };
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(fail(err)),
        _ => {}
    }
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None).map_err(fail)?;
    let address = socket2::SockAddr::unix(path).map_err(fail)?;
    socket.bind(&address).map_err(fail)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(fail)?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(fail)?;
    }
    Ok(UnixListener::from(std::os::fd::OwnedFd::from(socket)))
}

/// Puts a bound socket in the listening state, with `backlog` places in its accept queue, and
/// makes it non-blocking for the async runtime. Listening again on a listening socket only
/// updates its backlog, so every worker may call this.
pub fn listen(listener: &impl AsFd, backlog: u32) -> io::Result<()> {
    let socket = SockRef::from(listener);
    socket.listen(backlog.min(i32::MAX as u32) as i32)?;
    socket.set_nonblocking(true)
}
