//! What the developer's instruments record about the application: a cProfile profile of each
//! request, a coverage.py report of the code that ran, and a copy of each request and response
//! with their bodies (mod_wsgi-express's `--enable-profiler`, `--enable-coverage` and
//! `--enable-recorder`). The command line ([`InstrumentationArgs`]) makes an
//! [`Instrumentation`]; the worker's Python applies it (the wsgi-bridge crate).
//!
//! mod_wsgi-express turns on its debug mode (one process, one thread) when one of these is
//! given. oxwsgi does not: each works with any number of processes and threads (profiled
//! requests run one at a time, coverage data of every worker is combined into one report), so
//! a profile or a coverage report can be taken of the server as it runs in production.
//! `--debug-mode` gives express's single process where that is wanted.

use std::path::{Path, PathBuf};

use clap::Args;
use serde::{Deserialize, Serialize};

/// The instruments in use, each with the absolute directory it writes into; none by default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instrumentation {
    /// Where each request's cProfile data goes, one `.pstats` file per request.
    pub profiler: Option<PathBuf>,
    /// Where coverage.py's HTML report (`index.html`) and its data files go.
    pub coverage: Option<PathBuf>,
    /// Where each request and its response are recorded.
    pub recorder: Option<PathBuf>,
}

impl Instrumentation {
    /// Whether any instrument is on.
    pub fn any(&self) -> bool {
        self.profiler.is_some() || self.coverage.is_some() || self.recorder.is_some()
    }
}

/// The command line's options for [`Instrumentation`], as mod_wsgi-express names them.
#[derive(Debug, Clone, Default, Args)]
pub struct InstrumentationArgs {
    /// Profile each request with cProfile and write its data to --profiler-directory, one
    /// file per request named TIME-PID-COUNT-METHOD-PATH.pstats (read it with pstats,
    /// snakeviz, ...). Profiled requests run one at a time. Unlike mod_wsgi-express, this does
    /// not turn on --debug-mode.
    #[arg(long, help_heading = "Developer instruments")]
    pub enable_profiler: bool,

    /// Where --enable-profiler writes, created if missing [default: SERVER-ROOT/pstats].
    #[arg(
        long,
        value_name = "DIRECTORY-PATH",
        help_heading = "Developer instruments"
    )]
    pub profiler_directory: Option<PathBuf>,

    /// Measure which lines of Python run, with coverage.py (installed in the application's
    /// Python), from before the application loads; each worker process writes the HTML report
    /// (index.html in --coverage-directory) when it stops, combined with the data of the
    /// workers that stopped before it, so the report of the last one covers them all. Unlike
    /// mod_wsgi-express, this does not turn on --debug-mode.
    #[arg(long, help_heading = "Developer instruments")]
    pub enable_coverage: bool,

    /// Where --enable-coverage writes, created if missing [default: SERVER-ROOT/htmlcov].
    #[arg(
        long,
        value_name = "DIRECTORY-PATH",
        help_heading = "Developer instruments"
    )]
    pub coverage_directory: Option<PathBuf>,

    /// Record each request and its response in --recorder-directory, as mod_wsgi-express does:
    /// files TIME-PID-COUNT.iheaders (the WSGI environ), .icontent (the request body),
    /// .oheaders (status and headers), .ocontent (the response body), and .oaexcept,
    /// .orexcept, .ofexcept (a traceback, if the application raised when called, while
    /// iterated or when closed). The request body is read whole before the application runs.
    /// Unlike mod_wsgi-express, this does not turn on --debug-mode.
    #[arg(long, help_heading = "Developer instruments")]
    pub enable_recorder: bool,

    /// Where --enable-recorder writes, created if missing [default: SERVER-ROOT/archive].
    #[arg(
        long,
        value_name = "DIRECTORY-PATH",
        help_heading = "Developer instruments"
    )]
    pub recorder_directory: Option<PathBuf>,
}

impl InstrumentationArgs {
    /// The [`Instrumentation`] these options make. Relative directories are taken from
    /// `current_dir`; the defaults are mod_wsgi-express's, under `server_root`. A directory
    /// given without its `--enable-` flag is ignored, as mod_wsgi-express ignores it.
    pub fn resolve(&self, server_root: &Path, current_dir: &Path) -> Instrumentation {
        let directory = |enabled: bool, given: &Option<PathBuf>, default: &str| {
            enabled.then(|| match given {
                Some(path) => current_dir.join(path),
                None => server_root.join(default),
            })
        };
        Instrumentation {
            profiler: directory(self.enable_profiler, &self.profiler_directory, "pstats"),
            coverage: directory(self.enable_coverage, &self.coverage_directory, "htmlcov"),
            recorder: directory(self.enable_recorder, &self.recorder_directory, "archive"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(args: InstrumentationArgs) -> Instrumentation {
        args.resolve(Path::new("/srv/root"), Path::new("/home/me"))
    }

    #[test]
    fn nothing_is_on_by_default() {
        let tools = resolve(InstrumentationArgs::default());
        assert_eq!(tools, Instrumentation::default());
        assert!(!tools.any());
    }

    #[test]
    fn directories_default_to_mod_wsgi_express_names_under_the_server_root() {
        let tools = resolve(InstrumentationArgs {
            enable_profiler: true,
            enable_coverage: true,
            enable_recorder: true,
            ..InstrumentationArgs::default()
        });
        assert_eq!(tools.profiler, Some(PathBuf::from("/srv/root/pstats")));
        assert_eq!(tools.coverage, Some(PathBuf::from("/srv/root/htmlcov")));
        assert_eq!(tools.recorder, Some(PathBuf::from("/srv/root/archive")));
    }

    #[test]
    fn a_relative_directory_is_taken_from_the_current_directory() {
        let tools = resolve(InstrumentationArgs {
            enable_profiler: true,
            profiler_directory: Some(PathBuf::from("prof")),
            enable_recorder: true,
            recorder_directory: Some(PathBuf::from("/var/rec")),
            ..InstrumentationArgs::default()
        });
        assert_eq!(tools.profiler, Some(PathBuf::from("/home/me/prof")));
        assert_eq!(tools.recorder, Some(PathBuf::from("/var/rec")));
    }

    #[test]
    fn a_directory_without_its_flag_is_ignored_as_by_mod_wsgi_express() {
        let tools = resolve(InstrumentationArgs {
            coverage_directory: Some(PathBuf::from("cov")),
            ..InstrumentationArgs::default()
        });
        assert_eq!(tools.coverage, None);
    }
}
