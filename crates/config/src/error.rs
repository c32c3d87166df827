//! Configuration errors: each names the option or file at fault and says what to do.

use std::path::PathBuf;

/// The configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file the configuration names does not exist or cannot be read.
    #[error("the {what} '{path}' cannot be read: {source}", path = path.display())]
    Unreadable {
        /// What the file is for.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A path that must be a file is something else.
    #[error("the {what} '{path}' is not a file", path = path.display())]
    NotAFile {
        /// What the file is for.
        what: &'static str,
        /// The path.
        path: PathBuf,
    },
    /// A path that must be a directory is not one.
    #[error("{option} '{path}' is not a directory", path = path.display())]
    NotADirectory {
        /// The option or variable that named it.
        option: &'static str,
        /// The path.
        path: PathBuf,
    },
    /// `--python-home` is neither a virtual environment nor a Python installation.
    #[error(
        "{option} '{path}' is neither a virtual environment (no pyvenv.cfg) nor a Python \
         installation (no lib/ directory); give the directory that \
         `python -c 'import sys; print(sys.prefix)'` prints",
        path = path.display()
    )]
    NotAPythonHome {
        /// The option or variable that named it.
        option: &'static str,
        /// The directory.
        path: PathBuf,
    },
    /// A module name that cannot be imported.
    #[error(
        "'{name}' is not a Python module name; with --application-type module, give a dotted \
         name such as mysite.wsgi"
    )]
    BadModuleName {
        /// The name given.
        name: String,
    },
    /// An option's value is out of range or malformed.
    #[error("{option} {value}: {reason}")]
    Invalid {
        /// The option.
        option: &'static str,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An option's value names something the system does not have (a user, a group).
    #[error("{option} {value}: {reason}")]
    NotFound {
        /// The option.
        option: &'static str,
        /// The value given.
        value: String,
        /// What the lookup said.
        reason: String,
    },
    /// An option that needs another one.
    #[error("{option} needs {needed}")]
    Needs {
        /// The option given.
        option: &'static str,
        /// What else must be given, and why.
        needed: &'static str,
    },
    /// `--access-log-format` is not a usable Apache `LogFormat`.
    #[error(transparent)]
    AccessLogFormat(#[from] crate::access_format::FormatError),
    /// `--error-log-format` is not a usable Apache `ErrorLogFormat`.
    #[error(transparent)]
    ErrorLogFormat(#[from] crate::error_format::ErrorFormatError),
    /// The current directory is gone.
    #[error("cannot read the current directory: {0}")]
    CurrentDir(#[source] std::io::Error),
    /// An option whose feature oxwsgi does not provide (mod_wsgi-express's `--with-cgi`).
    #[error("{option} is refused: {reason}")]
    Refused {
        /// The option.
        option: &'static str,
        /// Why, and what to do instead.
        reason: &'static str,
    },
}
