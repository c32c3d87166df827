//! The seam between the HTTP side and whatever runs applications.
//!
//! The HTTP side parses, routes and limits requests; an [`Application`] turns an
//! [`AppRequest`] into an [`AppResponse`]. The types that cross are `oxwsgi-exchange`'s, shared
//! with the Python side. The worker process implements the trait with the Python pool; tests can
//! implement it with plain Rust. Nothing here knows about Python.

use std::future::Future;

use bytes::Bytes;
pub use oxwsgi_exchange::{
    AppBody, AppError, AppRequest, AppResponse, BodyError, BoxError, FileRegion, InFlightGuard,
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
}
