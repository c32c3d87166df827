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
use crate::conn::serve_connection;
use crate::service::{ConnShared, ServerShared};

/// Accepts connections until the server drains.
///
/// Errors that concern one connection (it was reset before it was accepted) are skipped. Running
/// out of descriptors is logged and retried after a second, rather than spinning or giving up:
/// connections finishing will free descriptors.
pub(crate) async fn accept_loop<A: Application>(
    listener: TcpListener,
    index: usize,
    tls: Option<TlsConfig>,
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
                    client_name: Arc::new(ClientName::new(canonical(remote).ip())),
                    tls: None,
                };
                let stop = stop.clone();
                let open = open_connections.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let _ = stream.set_nodelay(true);
                    match tls {
                        None => serve_connection(stream, shared, stop).await,
                        Some(tls) => {
                            if let Some(stream) = handshake(&tls, stream, &shared).await {
                                let mut shared = shared;
                                shared.tls = Some(Arc::new(tls.details(stream.get_ref().1)));
                                serve_connection(stream, shared, stop).await;
                            }
                        }
                    }
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
