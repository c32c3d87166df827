//! httpd's `Redirect`, `RedirectMatch`, `RedirectPermanent` and `RedirectTemp` (mod_alias):
//! requests under a URL path, or matching a regular expression, are sent elsewhere.

use serde::{Deserialize, Serialize};

use crate::model::MountPoint;

/// What a redirect applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RedirectWhen {
    /// `Redirect`: the path and what is below it; the rest of the path follows the target.
    Prefix(MountPoint),
    /// `RedirectMatch`: a regular expression on the path; `$1`… in the target are its groups.
    Pattern(String),
}

/// One redirect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redirect {
    /// Which requests.
    pub when: RedirectWhen,
    /// The status: 301, 302, 303, another 3xx, or 410 (`gone`).
    pub status: u16,
    /// Where to (none for `gone`): an absolute URL, or a path the request's host is put before.
    pub target: Option<String>,
    /// The only virtual host it applies in; every one when `None`.
    pub host: Option<usize>,
}

/// What a server error response is replaced with (httpd's `ErrorDocument`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorBody {
    /// This text, as the body.
    Text(String),
    /// A redirect (302) to this URL.
    Url(String),
    /// What this local path (with its own query, if any) gives, as httpd's internal redirect:
    /// a file an `Alias` or the document root serves there, with the error's status; an
    /// application's response to a GET for it, whose environ names the failed request
    /// (`REDIRECT_STATUS`, `REDIRECT_URL`, …). A path nothing serves leaves the server's own
    /// page.
    Local(String),
}

impl ErrorBody {
    /// What an `ErrorDocument` target (or `--error-document`'s) means, as httpd reads it: a
    /// path starting with `/` is local, one with `://` a URL to redirect to, anything else the
    /// text itself. `None` for `default`: the server's own page again.
    pub fn from_target(target: &str) -> Option<ErrorBody> {
        Some(if target.starts_with('/') {
            ErrorBody::Local(target.to_owned())
        } else if target.contains("://") {
            ErrorBody::Url(target.to_owned())
        } else if target.eq_ignore_ascii_case("default") {
            return None;
        } else {
            ErrorBody::Text(target.to_owned())
        })
    }

    /// The status an `ErrorDocument` may replace the page of: three digits, 400 to 599.
    pub fn status(code: &str) -> Option<u16> {
        code.parse::<u16>()
            .ok()
            .filter(|c| code.len() == 3 && (400..=599).contains(c))
    }
}

/// One `ErrorDocument`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDocument {
    /// The status it replaces the server's page for.
    pub status: u16,
    /// With what.
    pub body: ErrorBody,
    /// The only virtual host it applies in; every one when `None`.
    pub host: Option<usize>,
}
