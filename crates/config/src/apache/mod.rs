//! Apache httpd configuration files, read the way httpd reads them.
//!
//! Why hand-written: no maintained crate reads httpd's configuration language with httpd's
//! semantics — its quoting and line continuation ([`syntax`]), and the directives httpd
//! carries out while it reads (`Define` and `${VAR}`, `Include`/`IncludeOptional` with globs
//! relative to `ServerRoot`, `<IfModule>`, `<IfDefine>`, `<IfVersion>`, `<IfFile>`), which
//! decide what the rest of the file means ([`reader`]). Its fuzz target is `fuzz/syntax.rs`.
//!
//! The result is a tree of [`Node`]s — directives and sections (`<VirtualHost>`,
//! `<Directory>`, `<Location>`, …) — with the read-time conditions already decided and the
//! included files spliced in. Every node keeps its [`Origin`] (file and line), so that every
//! error and warning about it can name it.

mod access;
mod check;
mod daemon;
pub mod directives;
mod error;
mod handlers;
mod lines;
mod reader;
mod ssl;
mod syntax;
mod translate;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use check::{ImportScript, Notice, Report, ScriptMount, Severity, check, listen_port};
pub use daemon::{DaemonError, DaemonProcess};
pub use error::ApacheError;
pub use reader::{APACHE_VERSION, ReadOptions, is_implemented_module};
pub use translate::{RUNS, StartOptions, apply_include, server_config};

/// Where a directive or section was written: its file and the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The file, as it was named (absolute when read through `Include` relative to the
    /// server root).
    pub file: Arc<PathBuf>,
    /// The number of the line the directive starts on, from 1.
    pub line: u32,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// A directive or a section of a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// `Name arg...`
    Directive(Directive),
    /// `<Name arg...>` … `</Name>`
    Section(Section),
}

impl Node {
    /// The directive's or section's name, as written.
    pub fn name(&self) -> &str {
        match self {
            Node::Directive(d) => &d.name,
            Node::Section(s) => &s.name,
        }
    }

    /// Where it was written.
    pub fn origin(&self) -> &Origin {
        match self {
            Node::Directive(d) => &d.origin,
            Node::Section(s) => &s.origin,
        }
    }
}

/// One directive with its arguments (quotes removed, `${VAR}`s replaced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// The name as written (httpd compares names without regard to case).
    pub name: String,
    /// The arguments.
    pub args: Vec<String>,
    /// Where it was written.
    pub origin: Origin,
}

impl Directive {
    /// Whether this is the directive `name` (compared as httpd does, ignoring case).
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}

/// A section: its opening line's name and arguments, and what it contains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The name as written, without `<` (`VirtualHost`, `Directory`, …).
    pub name: String,
    /// The arguments of the opening line.
    pub args: Vec<String>,
    /// The directives and sections inside.
    pub children: Vec<Node>,
    /// Where its opening line was written.
    pub origin: Origin,
}

impl Section {
    /// Whether this is the section `name` (ignoring case).
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}

/// A configuration read: its nodes, and what reading it established.
#[derive(Debug, Clone)]
pub struct ApacheConfig {
    /// The top-level directives and sections, in order, included files spliced in.
    pub nodes: Vec<Node>,
    /// The `ServerRoot` relative paths are taken from (the last one set, else the directory
    /// of the first file).
    pub server_root: PathBuf,
    /// Every file read, in order.
    pub files: Vec<PathBuf>,
}

/// Reads `files` in order, as one configuration (several site files given together).
pub fn read_config(files: &[PathBuf], options: &ReadOptions) -> Result<ApacheConfig, ApacheError> {
    reader::Reader::new(files.first().map(PathBuf::as_path), options).read_all(files)
}

/// Reads one file's text, as if it were the file `path` (for tests and `check-config` of
/// text given on standard input).
pub fn read_text(
    path: &Path,
    text: &str,
    options: &ReadOptions,
) -> Result<ApacheConfig, ApacheError> {
    reader::Reader::new(Some(path), options).read_text(path, text)
}
