//! The accept loop: it never gives up, and it respects the connection limit.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::tls::TlsConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::server::TlsStream;

use crate::application::Application;
use crate::client_name::ClientName;
use crate::conn::{serve_connection, serve_http2};
use crate::service::{ConnShared, ServerShared};

/// A listening socket the server accepts on.
#[derive(Debug)]
pub enum ListenSocket {
    /// TCP (plain or TLS).
    Tcp(std::net::TcpListener),
    /// A unix socket (`--unix-socket`), for a proxy on the same machine: plain HTTP/1.1, or
    /// h2c with prior knowledge.
    Unix(std::os::unix::net::UnixListener),
}

impl std::os::fd::AsFd for ListenSocket {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            ListenSocket::Tcp(socket) => socket.as_fd(),
            ListenSocket::Unix(socket) => socket.as_fd(),
        }
    }
}

/// The address a connection over a unix socket is said to come from, and to have reached:
/// the loopback address, since its peer is on this machine (a unix socket has no IP address
/// to show in `REMOTE_ADDR`, and access rules and `--trust-proxy` take IP addresses). Port 0
/// says there is no port.
pub(crate) const UNIX_PEER: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

/// Accepts connections on a unix socket until the server drains, as [`accept_loop`] does on
/// TCP: within the connection limit, skipping errors that concern one connection.
pub(crate) async fn accept_unix_loop<A: Application>(
    listener: tokio::net::UnixListener,
    index: usize,
    http2: bool,
    server: Arc<ServerShared<A>>,
    mut stop: watch::Receiver<bool>,
    open_connections: watch::Receiver<()>,
) {
    let for_connections = stop.clone();
    let spawn = |stream: tokio::net::UnixStream, permit| {
        let shared = ConnShared {
            server: Arc::clone(&server),
            activity: None,
            remote: UNIX_PEER,
            local: UNIX_PEER,
            listener: index,
            client_name: Arc::new(ClientName::new(UNIX_PEER.ip())),
            tls: None,
        };
        let stop = for_connections.clone();
        let open = open_connections.clone();
        tokio::spawn(async move {
            if http2 && unix_starts_with_preface(&stream, &shared).await {
                serve_http2(stream, shared, stop).await;
            } else {
                serve_connection(stream, shared, stop).await;
            }
            drop(open);
            drop(permit);
        });
    };
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&server.connection_slots).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
            _ = stop.changed() => {
                if *stop.borrow() { break } else { continue }
            }
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => {
                if *stop.borrow() { break } else { continue }
            }
        };
        match accepted {
            Ok((stream, _)) => spawn(stream, Some(permit)),
            Err(err) if is_connection_error(&err) => {}
            Err(err) => {
                tracing::error!(
                    "accept error on unix socket listener {index}: {err}; retrying in 1s"
                );
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    for stream in sweep(&listener) {
        match tokio::net::UnixStream::from_std(std::os::unix::net::UnixStream::from(stream)) {
            Ok(stream) => {
                let permit = Arc::clone(&server.connection_slots)
                    .try_acquire_owned()
                    .ok();
                spawn(stream, permit);
            }
            Err(err) => tracing::debug!("a queued connection failed: {err}"),
        }
    }
}

/// [`starts_with_preface`] on a unix socket, which tokio gives no `peek`: the socket's own
/// `recv` with `MSG_PEEK`, once it is readable.
async fn unix_starts_with_preface<A: Application>(
    stream: &tokio::net::UnixStream,
    shared: &ConnShared<A>,
) -> bool {
    let mut seen = [0u8; PREFACE.len()];
    let look = async {
        loop {
            stream.readable().await.ok()?;
            // Through `try_io`, so that finding nothing clears the readiness tokio had.
            let peeked = stream.try_io(tokio::io::Interest::READABLE, || {
                let flags = rustix::net::RecvFlags::PEEK | rustix::net::RecvFlags::DONTWAIT;
                rustix::net::recv(stream, &mut seen, flags).map_err(io::Error::from)
            });
            let n = match peeked {
                Ok((n, _)) => n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                Err(_) => return None,
            };
            if n == 0 || seen[..n] != PREFACE[..n] {
                return Some(false);
            }
            if n == PREFACE.len() {
                return Some(true);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let limit = shared.server.settings.http.header_timeout;
    matches!(tokio::time::timeout(limit, look).await, Ok(Some(true)))
}

/// Accepts connections until the server drains.
///
/// Errors that concern one connection (it was reset before it was accepted) are skipped. Running
/// out of descriptors is logged and retried after a second, rather than spinning or giving up:
/// connections finishing will free descriptors.
pub(crate) async fn accept_loop<A: Application>(
    listener: TcpListener,
    index: usize,
    tls: Option<TlsConfig>,
    http2: bool,
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
    let connection = TcpConnection {
        index,
        local,
        tls,
        http2,
        server: Arc::clone(&server),
        stop: stop.clone(),
        open_connections,
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
                if *stop.borrow() { break } else { continue }
            }
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => {
                if *stop.borrow() { break } else { continue }
            }
        };
        match accepted {
            Ok((stream, remote)) => connection.spawn(stream, remote, Some(permit)),
            Err(err) if is_connection_error(&err) => {}
            Err(err) => {
                tracing::error!("accept error on {local}: {err}; retrying in 1s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    // Draining: the connections already in the queue are served too (see `sweep`).
    for stream in sweep(&listener) {
        let stream = std::net::TcpStream::from(stream);
        let remote = stream.peer_addr();
        match (TcpStream::from_std(stream), remote) {
            (Ok(stream), Ok(remote)) => {
                let permit = Arc::clone(&server.connection_slots)
                    .try_acquire_owned()
                    .ok();
                connection.spawn(stream, remote, permit);
            }
            (Err(err), _) | (_, Err(err)) => tracing::debug!("a queued connection failed: {err}"),
        }
    }
}

/// The most connections one sweep accepts: a queue that fills as fast as it is emptied (a
/// worker replaced while its replacement accepts from the same socket) still ends the sweep.
const SWEEP_MAX: usize = 4096;

/// Accepts, without waiting, the connections waiting in a listening socket's queue when this
/// worker stops accepting. When the server stops, the supervisor has made the socket take no
/// new connection (`Bound::refuse_new_connections` in `oxwsgi-process`), so what is in the
/// queue is all there will be: served here (with `Connection: close`), none is left to be
/// reset when the socket closes. Each draining worker sweeps; whichever accepts a connection
/// serves it.
fn sweep(listener: &impl std::os::fd::AsFd) -> Vec<std::os::fd::OwnedFd> {
    let flags = rustix::net::SocketFlags::NONBLOCK | rustix::net::SocketFlags::CLOEXEC;
    let mut accepted = Vec::new();
    while accepted.len() < SWEEP_MAX {
        match rustix::net::accept_with(listener, flags) {
            Ok(stream) => accepted.push(stream),
            Err(rustix::io::Errno::INTR) => {}
            // Empty (EAGAIN), or an error that concerns one connection or the socket: the
            // sweep is a courtesy, over at the first refusal.
            Err(_) => break,
        }
    }
    if !accepted.is_empty() {
        tracing::debug!("draining: serving {} queued connection(s)", accepted.len());
    }
    accepted
}

/// What serving a TCP listener's connections needs, for the accept loop and its sweep.
struct TcpConnection<A> {
    index: usize,
    local: SocketAddr,
    tls: Option<TlsConfig>,
    http2: bool,
    server: Arc<ServerShared<A>>,
    stop: watch::Receiver<bool>,
    open_connections: watch::Receiver<()>,
}

impl<A: Application> TcpConnection<A> {
    /// Serves an accepted connection on a task of its own.
    fn spawn(
        &self,
        stream: TcpStream,
        remote: SocketAddr,
        permit: Option<tokio::sync::OwnedSemaphorePermit>,
    ) {
        // On a dual-stack socket IPv4 clients appear as ::ffff:a.b.c.d; show them (in
        // REMOTE_ADDR and the logs) as the IPv4 addresses they are.
        let shared = ConnShared {
            server: Arc::clone(&self.server),
            activity: None,
            remote: canonical(remote),
            local: stream.local_addr().map(canonical).unwrap_or(self.local),
            listener: self.index,
            client_name: Arc::new(ClientName::new(canonical(remote).ip())),
            tls: None,
        };
        let stop = self.stop.clone();
        let open = self.open_connections.clone();
        let tls = self.tls.clone();
        let http2 = self.http2;
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            match tls {
                None if http2 && starts_with_preface(&stream, &shared).await => {
                    serve_http2(stream, shared, stop).await;
                }
                None => serve_connection(stream, shared, stop).await,
                Some(tls) => {
                    if let Some(stream) = handshake(&tls, stream, &shared).await {
                        let mut shared = shared;
                        let connection = stream.get_ref().1;
                        shared.tls = Some(Arc::new(tls.details(connection)));
                        if connection.alpn_protocol() == Some(b"h2") {
                            serve_http2(stream, shared, stop).await;
                        } else {
                            serve_connection(stream, shared, stop).await;
                        }
                    }
                }
            }
            drop(open);
            drop(permit);
        });
    }
}

/// HTTP/2's connection preface, which a client speaking h2c with prior knowledge starts with.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Whether a cleartext connection starts with HTTP/2's preface: its first bytes are looked at
/// without taking them, for as long as they match and the header timeout allows. An HTTP/1
/// request differs at its first byte (no method is `PRI`).
async fn starts_with_preface<A: Application>(stream: &TcpStream, shared: &ConnShared<A>) -> bool {
    let mut seen = [0u8; PREFACE.len()];
    let look = async {
        loop {
            let n = stream.peek(&mut seen).await.ok()?;
            if n == 0 || seen[..n] != PREFACE[..n] {
                return Some(false);
            }
            if n == PREFACE.len() {
                return Some(true);
            }
            // A partial preface (rare: clients send it whole): peek returns at once while
            // bytes wait, so look again a little later rather than spin.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let limit = shared.server.settings.http.header_timeout;
    matches!(tokio::time::timeout(limit, look).await, Ok(Some(true)))
}

/// The TLS handshake of a new connection, which must finish within the header timeout (the
/// time a client has to send a request head): a client that opens connections and stalls in
/// the handshake holds its connection slot no longer than one that stalls before its head.
async fn handshake<A: Application>(
    tls: &TlsConfig,
    stream: TcpStream,
    shared: &ConnShared<A>,
) -> Option<TlsStream<TcpStream>> {
    let limit = shared.server.settings.http.header_timeout;
    match tokio::time::timeout(limit, tls.acceptor().accept(stream)).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(err)) => {
            tracing::info!(client.addr = %shared.remote, "TLS handshake failed: {err}");
            None
        }
        Err(_) => {
            tracing::info!(
                client.addr = %shared.remote,
                "closing the connection: the TLS handshake did not finish within the header \
                 timeout ({}s)",
                limit.as_secs()
            );
            None
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
