//! A proxied WebSocket (or any protocol a `101` switches to): once the target has switched,
//! the client's connection and the target's are joined, bytes copied both ways as they come,
//! until either side closes or nothing passes either way for the proxy timeout (httpd's
//! tunnel after `upgrade=websocket`, idle-bounded by `ProxyTimeout`).
//!
//! The client's connection stays counted as open (its connection slot, the drain) until the
//! tunnel ends: [`TunnelState`] tells the connection's task, which waits for it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::conn::ConnActivity;

/// Whether a connection was switched to a tunnel, and when the tunnel ended.
#[derive(Debug, Default)]
pub(crate) struct TunnelState {
    switched: AtomicBool,
    ended: tokio::sync::Notify,
}

impl TunnelState {
    /// Marks the connection switched: set before the `101` goes out, so that nothing after it
    /// is read as HTTP.
    pub(crate) fn switch(&self) {
        self.switched.store(true, Ordering::Release);
    }

    /// Whether the connection was switched.
    pub(crate) fn is_switched(&self) -> bool {
        self.switched.load(Ordering::Acquire)
    }

    /// Waits until the tunnel has ended.
    pub(crate) async fn ended(&self) {
        self.ended.notified().await;
    }

    fn end(&self) {
        self.ended.notify_one();
    }
}

/// How much one read of either side takes.
const CHUNK: usize = 16 * 1024;

/// Joins the client's connection to the target's once both have switched, until the tunnel
/// ends; then tells the client's connection.
pub(super) async fn run(
    client: OnUpgrade,
    target: OnUpgrade,
    activity: Arc<ConnActivity>,
    timeout: Duration,
    url: String,
) {
    match tokio::try_join!(client, target) {
        Ok((client, target)) => {
            let (client, target) = (TokioIo::new(client), TokioIo::new(target));
            if let Some(silence) = join(client, target, timeout).await {
                tracing::info!(
                    "closing the tunnel to {url}: nothing passed for {}s (--proxy-timeout)",
                    silence.as_secs()
                );
            }
        }
        Err(err) => tracing::info!("the switch to a tunnel to {url} failed: {err}"),
    }
    activity.tunnel.end();
}

/// Copies both ways until one side ends (each side's end passed on as a shutdown of the
/// other's writing) or an error; `Some(timeout)` when it ended by silence.
async fn join<C, T>(client: C, target: T, timeout: Duration) -> Option<Duration>
where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut client_read, mut client_write) = tokio::io::split(client);
    let (mut target_read, mut target_write) = tokio::io::split(target);
    let mut up = vec![0u8; CHUNK];
    let mut down = vec![0u8; CHUNK];
    let (mut up_open, mut down_open) = (true, true);
    while up_open || down_open {
        tokio::select! {
            read = client_read.read(&mut up), if up_open => match read {
                Ok(0) | Err(_) => {
                    up_open = false;
                    let _ = target_write.shutdown().await;
                }
                Ok(n) => {
                    if target_write.write_all(&up[..n]).await.is_err() {
                        return None;
                    }
                }
            },
            read = target_read.read(&mut down), if down_open => match read {
                Ok(0) | Err(_) => {
                    down_open = false;
                    let _ = client_write.shutdown().await;
                }
                Ok(n) => {
                    if client_write.write_all(&down[..n]).await.is_err() {
                        return None;
                    }
                }
            },
            () = tokio::time::sleep(timeout) => return Some(timeout),
        }
    }
    None
}
