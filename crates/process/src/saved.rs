//! The configuration `oxwsgi setup-server` saves in the server root, which
//! `start-server --from-setup FILE` (the control script, the systemd unit) runs.
//!
//! It is the resolved [`ServerConfig`] the supervisor gets across its `exec` ([`crate::handoff`]),
//! as JSON, with the version of oxwsgi that wrote it and the command line it was resolved from:
//! a server started from it runs exactly what `setup-server` checked and printed, even if the
//! environment it was resolved in (the current directory, `$VIRTUAL_ENV`, the locale) differs
//! at start. The file is written whole or not at all (a temporary file renamed into place), and
//! readable by its owner only, since the configuration may hold `SetEnv` values.

use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use oxwsgi_config::ServerConfig;
use serde::{Deserialize, Serialize};

/// The file's name in the server root.
pub const FILE_NAME: &str = "oxwsgi.json";

/// What the file holds.
#[derive(Serialize, Deserialize)]
struct Saved {
    /// The version of oxwsgi that wrote it.
    oxwsgi: String,
    /// The command line it was resolved from (for people reading the file).
    command: Vec<String>,
    /// The resolved configuration.
    config: ServerConfig,
}

/// The saved configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The file is not a configuration this oxwsgi can read.
    #[error(
        "{path} is not a configuration this oxwsgi ({ours}) can run{written_by}: {source}; run \
         `oxwsgi setup-server` again"
    )]
    Invalid {
        /// The file.
        path: PathBuf,
        /// This oxwsgi's version.
        ours: &'static str,
        /// Which oxwsgi wrote it, when that can be told.
        written_by: String,
        /// What was wrong.
        #[source]
        source: serde_json::Error,
    },
}

/// Writes `config` into `path`, resolved from `command`.
pub fn save(path: &Path, config: &ServerConfig, command: &[String]) -> io::Result<()> {
    let saved = Saved {
        oxwsgi: env!("CARGO_PKG_VERSION").to_owned(),
        command: command.to_vec(),
        config: config.clone(),
    };
    let mut json = serde_json::to_vec_pretty(&saved).map_err(io::Error::other)?;
    json.push(b'\n');
    write_whole(path, &json, 0o600)
}

/// Reads the configuration saved in `path`.
pub fn load(path: &Path) -> Result<ServerConfig, LoadError> {
    let text = std::fs::read(path).map_err(|source| LoadError::Read {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_slice::<Saved>(&text)
        .map(|saved| saved.config)
        .map_err(|source| {
            // Which version wrote it, if at least that much can be read.
            #[derive(Deserialize)]
            struct Version {
                oxwsgi: String,
            }
            let written_by = serde_json::from_slice::<Version>(&text)
                .map(|v| format!(" (it was written by oxwsgi {})", v.oxwsgi))
                .unwrap_or_default();
            LoadError::Invalid {
                path: path.to_owned(),
                ours: env!("CARGO_PKG_VERSION"),
                written_by,
                source,
            }
        })
}

/// Writes `contents` to `path` with permissions `mode`: into a temporary file next to it, then
/// renamed over it, so a reader never sees half a file.
pub fn write_whole(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file path"))?;
    let mut temporary = path.to_owned();
    temporary.set_file_name(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&temporary)?;
        // The mode is applied through the umask at creation; set it as asked.
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_of_another_shape_names_the_version_that_wrote_it() {
        let dir = std::env::temp_dir().join(format!("oxwsgi-saved-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(FILE_NAME);
        std::fs::write(
            &path,
            br#"{"oxwsgi": "0.0.1", "command": [], "config": {}}"#,
        )
        .unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(err.contains("written by oxwsgi 0.0.1"), "{err}");
        assert!(err.contains("run `oxwsgi setup-server` again"), "{err}");
        std::fs::write(&path, b"not json").unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(!err.contains("written by"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
