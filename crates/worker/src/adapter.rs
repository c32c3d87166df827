//! The WSGI pool seen as an [`Application`]: requests go to the pool as they are, replies come
//! back as they are, and pool refusals become the HTTP side's [`AppError`]s. Both sides use
//! `oxwsgi-exchange`'s types, so nothing is converted or copied here. Questions for the
//! authentication scripts go to the same pool.

use std::future::Future;
use std::sync::Arc;

use crate::lifecycle::Activity;
use oxwsgi_http_front::{AppError, AppRequest, AppResponse, Application, AuthAnswer, AuthQuery};
use oxwsgi_wsgi_bridge::{ChunkStream, Rejected, WsgiPool};

/// Runs requests on the Python side of this process.
pub(crate) struct WsgiApplication {
    pub(crate) pool: WsgiPool,
    pub(crate) activity: Arc<Activity>,
}

/// Counts a request as finished when dropped: with its response body, or with the future when
/// there is no response. `None` for a request that is not activity (`--ignore-activity`).
struct InFlight(Option<Arc<Activity>>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(activity) = &self.0 {
            activity.request_finished();
        }
    }
}

impl Application for WsgiApplication {
    type Stream = ChunkStream;

    fn call(
        &self,
        request: AppRequest,
    ) -> impl Future<Output = Result<AppResponse<ChunkStream>, AppError>> + Send + 'static {
        // Queued now, while `self` is at hand; the future only waits for the reply (and, when
        // the queue is full, for room in it: see `WsgiPool::submit`).
        let counts = self.activity.counts(request.head.uri.path());
        self.activity.request_started(counts);
        let in_flight = InFlight(counts.then(|| Arc::clone(&self.activity)));
        let submitted = self.pool.submit(request);
        async move {
            let reply = submitted.await.map_err(|rejected| match rejected {
                Rejected::QueueFull | Rejected::ShuttingDown => AppError::Unavailable,
            })?;
            match reply.await {
                Ok(Ok(mut response)) => {
                    // Until the body is sent: a streamed response is a request in progress.
                    response.in_flight = Some(Box::new(in_flight));
                    Ok(response)
                }
                Ok(Err(error)) => Err(error),
                // The Python side dropped the request without answering: an internal error,
                // already logged there.
                Err(_) => Err(AppError::Internal),
            }
        }
    }

    /// Asks the pool, whose Python loaded the scripts. Not counted in [`Activity`]: the call
    /// is part of the request it is about, which is counted when it reaches the application,
    /// so `--maximum-requests` and the idle timers see requests, not the checks before them.
    fn authorize(&self, query: AuthQuery) -> impl Future<Output = AuthAnswer> + Send + 'static {
        self.pool.authorize(query)
    }
}
