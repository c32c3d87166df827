//! oxwsgi's one configuration model, and the front ends that produce it.
//!
//! [`model`] is what the server runs from. The `start-server` command line ([`cli`], resolved
//! by [`resolve`]) is the first front end; Apache-style configuration files will be another,
//! producing the same model.

#![deny(unsafe_code)]

pub mod access;
pub mod access_format;
pub mod apache;
pub mod app_options;
pub mod cli;
pub mod development;
mod error;
pub mod error_format;
pub mod express_compat;
pub mod headers;
pub mod instrumentation;
pub mod mime_types;
pub mod model;
pub mod operations;
pub mod proxy;
pub mod redirect;
pub mod resolve;
pub mod reverse_proxy;
pub mod tls;
pub mod users;
pub mod worker_limits;

pub use error::ConfigError;
pub use model::*;
