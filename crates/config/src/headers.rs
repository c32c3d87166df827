//! Changes to request and response headers: httpd's `RequestHeader` and `Header` (mod_headers),
//! for the requests under a URL path.

use serde::{Deserialize, Serialize};

use crate::model::MountPoint;

/// What a change does to the header it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HeaderAction {
    /// Replaces every value with this one.
    Set,
    /// Sets it only when absent or empty.
    SetIfEmpty,
    /// Adds the value to the existing one, after a comma (or sets it).
    Append,
    /// Like `Append`, unless the value is there already.
    Merge,
    /// Adds another header line with this name, whatever is there.
    Add,
    /// Removes the header.
    Unset,
}

/// One `Header` or `RequestHeader` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderEdit {
    /// The URL path (and what is below it) it applies under.
    pub prefix: MountPoint,
    /// The only virtual host it applies in; every one when `None`.
    pub host: Option<usize>,
    /// Response headers: also on the server's own error responses (`Header always`), not only
    /// on the application's and the files' responses.
    pub always: bool,
    /// What it does.
    pub action: HeaderAction,
    /// The header's name, lower case.
    pub name: String,
    /// The value (empty for `Unset`).
    pub value: String,
}

/// A server's header changes, each list in the order they apply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderEdits {
    /// `RequestHeader` lines: applied before the request is routed.
    pub request: Vec<HeaderEdit>,
    /// `Header` lines: applied to the response.
    pub response: Vec<HeaderEdit>,
}

impl HeaderEdits {
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.request.is_empty() && self.response.is_empty()
    }

    /// Those that apply in virtual host `host`.
    pub fn of_host(&self, host: usize) -> HeaderEdits {
        let keep = |list: &[HeaderEdit]| {
            list.iter()
                .filter(|e| e.host.is_none_or(|h| h == host))
                .cloned()
                .collect()
        };
        HeaderEdits {
            request: keep(&self.request),
            response: keep(&self.response),
        }
    }
}
