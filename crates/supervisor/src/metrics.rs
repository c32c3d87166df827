//! The metrics listener: `/metrics` in Prometheus' text format, `/ready` and `/live` for load
//! balancers and orchestrators, served by the supervisor on a listener of its own.
//!
//! The supervisor serves it because it alone sees the whole server: every worker's board on
//! the scoreboard (read here, out of band — the request path pays nothing for a scrape), the
//! workers it started and why each one ended, and when a graceful stop begins. `/ready` turns
//! 503 at that moment, before any worker stops accepting, so a load balancer that polls it
//! drains the instance first; `/live` answers as long as the supervisor's loop runs.
//! It runs on the supervisor's own single-threaded runtime, so a scrape never competes with
//! the workers' threads.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper_util::rt::{TokioIo, TokioTimer};
use oxwsgi_scoreboard::Scoreboard;

use crate::prometheus;

/// Why a worker ended, as `oxwsgi_worker_exits_total` labels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExitReason {
    /// Replaced after `--maximum-requests`, `--restart-interval` or `--inactivity-timeout`.
    Recycle,
    /// Replaced after a request ran past `--request-timeout`.
    Timeout,
    /// Replaced after reaching a resource limit: `--cpu-time-limit`, `--memory-limit`,
    /// `--virtual-memory-limit` or `--maximum-rss-size`.
    Limit,
    /// Replaced because the script changed or a restart signal came.
    Reload,
    /// Stopped with the server.
    Stop,
    /// Died while serving (a signal, `os._exit`, the OOM killer).
    Crash,
    /// Exited because its GIL could not be taken for `--deadlock-timeout`.
    Deadlock,
    /// Never became ready (failed to load, or killed after `--startup-timeout`).
    FailedStart,
}

impl ExitReason {
    pub(crate) const ALL: [ExitReason; 8] = [
        ExitReason::Recycle,
        ExitReason::Timeout,
        ExitReason::Limit,
        ExitReason::Reload,
        ExitReason::Stop,
        ExitReason::Crash,
        ExitReason::Deadlock,
        ExitReason::FailedStart,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            ExitReason::Recycle => "recycle",
            ExitReason::Timeout => "timeout",
            ExitReason::Limit => "limit",
            ExitReason::Reload => "reload",
            ExitReason::Stop => "stop",
            ExitReason::Crash => "crash",
            ExitReason::Deadlock => "deadlock",
            ExitReason::FailedStart => "failed-start",
        }
    }
}

/// What the supervisor knows that the scoreboard does not: whether it is ready, and the
/// workers it started and saw end, per group.
#[derive(Debug)]
pub(crate) struct Observed {
    ready: AtomicBool,
    starts: Vec<AtomicU64>,
    exits: Vec<[AtomicU64; ExitReason::ALL.len()]>,
}

impl Observed {
    pub(crate) fn new(groups: usize) -> Observed {
        Observed {
            ready: AtomicBool::new(false),
            starts: (0..groups).map(|_| AtomicU64::new(0)).collect(),
            exits: (0..groups).map(|_| Default::default()).collect(),
        }
    }

    pub(crate) fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    pub(crate) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    pub(crate) fn started(&self, group: usize) {
        self.starts[group].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn exited(&self, group: usize, reason: ExitReason) {
        let index = ExitReason::ALL.iter().position(|r| *r == reason);
        if let Some(index) = index {
            self.exits[group][index].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn starts(&self, group: usize) -> u64 {
        self.starts[group].load(Ordering::Relaxed)
    }

    pub(crate) fn exits(&self, group: usize, reason: ExitReason) -> u64 {
        ExitReason::ALL
            .iter()
            .position(|r| *r == reason)
            .map_or(0, |i| self.exits[group][i].load(Ordering::Relaxed))
    }
}

/// Everything a scrape reads.
pub(crate) struct MetricsState {
    pub(crate) scoreboard: Arc<Scoreboard>,
    pub(crate) observed: Arc<Observed>,
}

/// Serves the metrics listener until the supervisor exits.
pub(crate) async fn serve(listener: std::net::TcpListener, state: Arc<MetricsState>) {
    let listener = match listener
        .set_nonblocking(true)
        .and_then(|()| tokio::net::TcpListener::from_std(listener))
    {
        Ok(listener) => listener,
        Err(err) => {
            tracing::error!("cannot serve the metrics listener: {err}");
            return;
        }
    };
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(err) => {
                // Out of descriptors, most likely: try again a little later.
                tracing::warn!("metrics listener: cannot accept a connection: {err}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<_>| {
                let response = answer(&state, &request);
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn answer<B>(state: &MetricsState, request: &Request<B>) -> Response<Full<Bytes>> {
    let text = |status: StatusCode, content_type: &'static str, body: String| {
        Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, content_type)
            .header(header::CACHE_CONTROL, "no-store")
            .body(Full::new(Bytes::from(body)))
            .expect("a valid response")
    };
    const PLAIN: &str = "text/plain; charset=utf-8";
    if !matches!(*request.method(), http::Method::GET | http::Method::HEAD) {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            PLAIN,
            "only GET and HEAD\n".into(),
        );
    }
    match request.uri().path() {
        "/metrics" => text(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            prometheus::render(&state.scoreboard, &state.observed),
        ),
        "/ready" if state.observed.is_ready() => text(StatusCode::OK, PLAIN, "ready\n".into()),
        "/ready" => text(
            StatusCode::SERVICE_UNAVAILABLE,
            PLAIN,
            "not ready: starting or stopping\n".into(),
        ),
        "/live" => text(StatusCode::OK, PLAIN, "alive\n".into()),
        _ => text(
            StatusCode::NOT_FOUND,
            PLAIN,
            "not found: the metrics listener serves /metrics, /ready and /live\n".into(),
        ),
    }
}
