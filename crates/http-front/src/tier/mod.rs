//! The front tier: one listener's URL space spread over several process groups.
//!
//! When the applications mounted on a listener belong to more than one group, no group's
//! workers can accept its connections and serve them all. A Python-free front tier process
//! accepts them instead: it does everything the HTTP side does on the direct path (framing,
//! limits, access rules, redirects, static files, the access log) and forwards each
//! application's requests to its group's workers over the group's unix socket
//! ([`forward`]), where they are served ([`internal`]), and, the same way, the questions its
//! access checks have for the group's Python authentication scripts. What crosses besides the
//! request is in [`hop`]. A listener served by one group keeps the direct path: no hop at all.

pub(crate) mod forward;
mod hop;
pub(crate) mod internal;

#[cfg(test)]
mod tests;
