//! Errors reading Apache configuration files: each names the file and line at fault, in
//! httpd's words where httpd has words for it.

use std::path::PathBuf;

use super::Origin;

/// A configuration file cannot be read as httpd would read it.
#[derive(Debug, thiserror::Error)]
pub enum ApacheError {
    /// A file cannot be read (from the command line, or named by an `Include`).
    #[error("{}cannot read the configuration file '{}': {source}", at(.included_at), .path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The `Include` that named it, if one did.
        included_at: Option<Origin>,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The text breaks the configuration syntax.
    #[error("{origin}: {message}")]
    Syntax {
        /// Where.
        origin: Origin,
        /// What is wrong, in httpd's words where it has them.
        message: String,
    },
    /// `${NAME}` names neither a `Define` nor an environment variable.
    #[error(
        "{origin}: the variable ${{{name}}} is not defined: define it with `Define {name} \
         VALUE` before this line, or set it in the environment"
    )]
    UndefinedVariable {
        /// Where.
        origin: Origin,
        /// The variable.
        name: String,
    },
    /// An `Include` (not `IncludeOptional`) names a file or pattern that matches nothing.
    #[error(
        "{origin}: Include '{pattern}' matches no file{}; use IncludeOptional for a file that \
         may be absent",
        relative_note(.pattern, .resolved)
    )]
    NothingToInclude {
        /// Where.
        origin: Origin,
        /// The path or pattern as written.
        pattern: String,
        /// The path or pattern as looked for.
        resolved: PathBuf,
    },
    /// `Include`s nest too deep: most likely a file includes itself.
    #[error("{origin}: Include nests more than {limit} files deep; does a file include itself?")]
    IncludeLoop {
        /// Where.
        origin: Origin,
        /// The limit.
        limit: usize,
    },
}

fn at(origin: &Option<Origin>) -> String {
    origin
        .as_ref()
        .map(|o| format!("{o}: "))
        .unwrap_or_default()
}

fn relative_note(pattern: &str, resolved: &std::path::Path) -> String {
    if std::path::Path::new(pattern) == resolved {
        String::new()
    } else {
        format!(
            " (looked for '{}', relative to ServerRoot)",
            resolved.display()
        )
    }
}

impl ApacheError {
    pub(crate) fn syntax(origin: &Origin, message: impl Into<String>) -> ApacheError {
        ApacheError::Syntax {
            origin: origin.clone(),
            message: message.into(),
        }
    }
}
