//! Listening sockets: binding them, and the accept loop that never gives up.

use std::io;
use std::net::{SocketAddr, TcpListener as StdTcpListener, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use oxwsgi_config::ListenerConfig;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::application::Application;
use crate::conn::serve_connection;
use crate::service::{ConnShared, ServerShared};

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

/// Binds a listening socket as configured: every interface (IPv6 and IPv4) when no host is
/// given, or the host's first address.
pub fn bind(config: &ListenerConfig) -> Result<StdTcpListener, BindError> {
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
    match bind_address(address, config.backlog, config.host.is_none()) {
        // No IPv6 on this machine: every-interface falls back to IPv4 only.
        Err(err)
            if config.host.is_none() && err.kind() == io::ErrorKind::Unsupported
                || config.host.is_none() && err.raw_os_error() == Some(97) =>
        {
            bind_address(
                SocketAddr::from(([0, 0, 0, 0], config.port)),
                config.backlog,
                false,
            )
        }
        other => other,
    }
    .map_err(|e| BindError::new(display, e))
}

fn bind_address(address: SocketAddr, backlog: u32, dual_stack: bool) -> io::Result<StdTcpListener> {
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
    socket.listen(backlog.min(i32::MAX as u32) as i32)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Accepts connections until the server drains.
///
/// Errors that concern one connection (it was reset before it was accepted) are skipped. Running
/// out of descriptors is logged and retried after a second, rather than spinning or giving up:
/// connections finishing will free descriptors.
pub(crate) async fn accept_loop<A: Application>(
    listener: TcpListener,
    index: usize,
    server: Arc<ServerShared<A>>,
    mut stop: watch::Receiver<bool>,
    open_connections: watch::Receiver<()>,
) {
    let local = match listener.local_addr() {
        Ok(local) => local,
        Err(err) => {
            tracing::error!("listener {index} has no local address: {err}");
            return;
        }
    };
    loop {
        // At most `max_connections` are served at once; further clients wait in the kernel's
        // backlog until one closes.
        let permit = tokio::select! {
            permit = Arc::clone(&server.connection_slots).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
            _ = stop.changed() => {
                if *stop.borrow() { return } else { continue }
            }
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => {
                if *stop.borrow() { return } else { continue }
            }
        };
        match accepted {
            Ok((stream, remote)) => {
                // On a dual-stack socket IPv4 clients appear as ::ffff:a.b.c.d; show them (in
                // REMOTE_ADDR and the logs) as the IPv4 addresses they are.
                let shared = ConnShared {
                    server: Arc::clone(&server),
                    activity: None,
                    remote: canonical(remote),
                    local: stream.local_addr().map(canonical).unwrap_or(local),
                    listener: index,
                };
                let stop = stop.clone();
                let open = open_connections.clone();
                tokio::spawn(async move {
                    serve_connection(stream, shared, stop).await;
                    drop(open);
                    drop(permit);
                });
            }
            Err(err) if is_connection_error(&err) => {}
            Err(err) => {
                tracing::error!("accept error on {local}: {err}; retrying in 1s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

fn canonical(address: SocketAddr) -> SocketAddr {
    SocketAddr::new(address.ip().to_canonical(), address.port())
}

fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
