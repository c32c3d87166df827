//! The seam between the HTTP side and whatever runs applications.
//!
//! The HTTP side parses, routes and limits requests; an [`Application`] turns an
//! [`AppRequest`] into an [`AppResponse`]. The types that cross are `oxwsgi-exchange`'s, shared
//! with the Python side. The worker process implements the trait with the Python pool; tests can
//! implement it with plain Rust. Nothing here knows about Python.

use std::future::Future;

use bytes::Bytes;
pub use oxwsgi_exchange::{
    AppBody, AppError, AppRequest, AppResponse, AuthAnswer, AuthQuery, AuthQuestion, BodyError,
    BoxError, FileRegion, InFlightGuard,
};

/// Runs the applications mounted in the URL space.
pub trait Application: Send + Sync + 'static {
    /// The type of streamed response bodies.
    type Stream: http_body::Body<Data = Bytes, Error = BoxError> + Send + Unpin + 'static;

    /// Handles one request routed to the application at `request.app`.
    fn call(
        &self,
        request: AppRequest,
    ) -> impl Future<Output = Result<AppResponse<Self::Stream>, AppError>> + Send + 'static;

    /// Asks one of the configuration's Python authentication scripts a question about a
    /// request (`WSGIAuthUserScript`, `WSGIAuthGroupScript`, `WSGIAccessScript`), before the
    /// application is called. Runners without Python scripts answer [`AuthAnswer::Failed`]
    /// (and the request gets a 500), which no valid configuration leads to.
    fn authorize(&self, query: AuthQuery) -> impl Future<Output = AuthAnswer> + Send + 'static {
        tracing::error!(
            "no Python runs here to ask {} a question",
            query.script.display()
        );
        std::future::ready(AuthAnswer::Failed)
    }
}
