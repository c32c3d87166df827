//! `start-server --envvars-script FILE`: the environment a shell script sets.
//!
//! mod_wsgi-express's `apachectl` sources the script (`. FILE`) and then starts httpd, so what
//! the script exports is the environment of the server and of the application. Here `/bin/sh`
//! sources it the same way and prints the environment it ends with; the command then executes
//! itself again with that environment (this process's own is never changed: Python threads
//! may read it), before the configuration is resolved, so the variables count for `${VAR}` in
//! `--include-file` and `--config` files, for `--passenv`, and reach the workers (which
//! inherit it) and the application's `os.environ`.
//!
//! As with `apachectl`, a command of the script that fails does not stop the start (the shell
//! goes on to the next line: a last `[ -f x ] && export A=1` is common); the shell stopping
//! does — `exit N` (even `exit 0`), a syntax error, `set -e` — and is an error naming the file
//! with the shell's own message.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Why the script's environment could not be had; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum EnvvarsError {
    /// The script cannot be opened.
    #[error("cannot read the --envvars-script {}: {source}", script.display())]
    Unreadable {
        /// The script as given.
        script: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `/bin/sh` cannot be started.
    #[error("cannot run /bin/sh for the --envvars-script {}: {source}", script.display())]
    NoShell {
        /// The script as given.
        script: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The shell stopped in the script (`exit`, a syntax error, `set -e`, a signal).
    #[error("the --envvars-script {} failed ({how}){}", script.display(), said_after_colon(said))]
    Failed {
        /// The script as given.
        script: PathBuf,
        /// How the shell ended: `/bin/sh exited with status 3`.
        how: String,
        /// What the shell and the script wrote to standard error.
        said: String,
    },
}

fn said_after_colon(said: &str) -> String {
    if said.is_empty() {
        String::new()
    } else {
        format!(": {said}")
    }
}

/// Sources the script, prints a marker, then the environment, NUL-separated. The script's
/// standard output goes to standard error, so that whatever it prints cannot be taken for
/// the environment; the marker tells an environment from a shell that stopped in the script.
const SOURCE_THEN_PRINT: &str = r#". "$1" >&2; printf 'oxwsgi-sourced\0'; exec env -0"#;
/// What [`SOURCE_THEN_PRINT`] prints before the environment.
const MARKER: &[u8] = b"oxwsgi-sourced\0";

/// Set (to the script's path) in the environment of the process that runs with the script's
/// environment, so that it does not source the script again. Not passed on to the workers.
pub const SOURCED: &str = "OXWSGI_ENVVARS_SOURCED";

/// The environment `/bin/sh` has after sourcing `script` (variables it unsets are not in it).
/// What the script wrote to standard error (and standard output) is passed on to this
/// process's standard error.
pub fn source(script: &Path) -> Result<Vec<(OsString, OsString)>, EnvvarsError> {
    let unreadable = |source| EnvvarsError::Unreadable {
        script: script.to_path_buf(),
        source,
    };
    // `. NAME` without a slash searches $PATH: give the shell a path that is the file's.
    let absolute = std::path::absolute(script).map_err(unreadable)?;
    std::fs::File::open(&absolute).map_err(unreadable)?;
    let output = Command::new("/bin/sh")
        .args(["-c", SOURCE_THEN_PRINT, "sh"])
        .arg(&absolute)
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|source| EnvvarsError::NoShell {
            script: script.to_path_buf(),
            source,
        })?;
    let said = String::from_utf8_lossy(&output.stderr);
    let said = said.trim_end();
    match output.stdout.strip_prefix(MARKER) {
        Some(listed) if output.status.success() => {
            if !said.is_empty() {
                let _ = writeln!(std::io::stderr(), "{said}");
            }
            Ok(parse(listed))
        }
        _ => {
            let how = match output.status.code() {
                Some(code) => format!("/bin/sh exited with status {code}"),
                None => format!("/bin/sh was stopped by a signal ({})", output.status),
            };
            Err(EnvvarsError::Failed {
                script: script.to_path_buf(),
                how,
                said: said.to_owned(),
            })
        }
    }
}

/// `NAME=value` entries separated by NULs, as `env -0` prints them.
fn parse(listed: &[u8]) -> Vec<(OsString, OsString)> {
    listed
        .split(|&b| b == 0)
        .filter_map(|entry| {
            // A name may not be empty nor hold `=`; the value may hold anything but NUL.
            let at = entry.iter().skip(1).position(|&b| b == b'=')? + 1;
            Some((
                OsStr::from_bytes(&entry[..at]).to_owned(),
                OsStr::from_bytes(&entry[at + 1..]).to_owned(),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(listed: &[u8]) -> Vec<(String, String)> {
        parse(listed)
            .into_iter()
            .map(|(n, v)| (n.into_string().unwrap(), v.into_string().unwrap()))
            .collect()
    }

    #[test]
    fn values_may_hold_equals_signs_and_newlines() {
        assert_eq!(
            pairs(b"A=1\0URL=postgres://u:p@h/db?x=y\0TEXT=two\nlines\0"),
            [
                ("A".to_owned(), "1".to_owned()),
                ("URL".to_owned(), "postgres://u:p@h/db?x=y".to_owned()),
                ("TEXT".to_owned(), "two\nlines".to_owned()),
            ]
        );
    }

    #[test]
    fn entries_without_a_name_are_left_out() {
        assert_eq!(pairs(b"=x\0\0B=\0"), [("B".to_owned(), String::new())]);
    }

    #[test]
    fn a_script_that_exits_is_an_error_with_the_shell_status() {
        let dir = std::env::temp_dir().join(format!("oxwsgi-envvars-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("exits.sh");
        std::fs::write(&script, "echo going >&2\nexit 0\n").unwrap();
        let err = source(&script).unwrap_err().to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            err,
            format!(
                "the --envvars-script {} failed (/bin/sh exited with status 0): going",
                script.display()
            )
        );
    }

    #[test]
    fn a_script_sets_and_unsets_variables() {
        let dir = std::env::temp_dir().join(format!("oxwsgi-envvars-set-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("sets.sh");
        std::fs::write(
            &script,
            "echo noise\nexport GREETING='a b=c'\nunset HOME\nfalse\n",
        )
        .unwrap();
        let environment = source(&script).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let value = |name: &str| {
            environment
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(value("GREETING"), Some("a b=c".into()));
        assert_eq!(value("HOME"), None);
    }
}
