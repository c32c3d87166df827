//! Directories of scripts: `AddHandler wsgi-script .wsgi` (or `SetHandler wsgi-script`) with
//! `Options ExecCGI` in a `<Directory>`, as mod_wsgi's configuration guidelines show. Every
//! file of such a directory with a matching extension (every file, for `SetHandler`) is an
//! application at the URL its file is served at — below an `Alias` or the `DocumentRoot` —
//! with that URL as `SCRIPT_NAME` and the rest of the request's path as `PATH_INFO`.
//!
//! mod_wsgi finds such a script per request, and loads it on first use. oxwsgi finds the
//! scripts when the configuration is read, and loads them at start like any other: one added
//! later is served after a restart. A `DirectoryIndex` entry that names a script makes the
//! directory's URL (with its slash) run it, as mod_dir's internal redirect does.

use std::path::{Path, PathBuf};

use super::Origin;
use super::check::ScriptMount;

/// What the `<Directory>` sections say about scripts.
#[derive(Debug, Clone, Default)]
pub(super) struct ScriptDirectories {
    /// Directories whose files are scripts: the extensions (`None`: every file) and where
    /// the handler was set.
    handlers: Vec<(PathBuf, Option<Vec<String>>, Origin)>,
    /// Directories with `Options ExecCGI`.
    exec_cgi: Vec<PathBuf>,
    /// `DirectoryIndex` of directories.
    indexes: Vec<(PathBuf, Vec<String>)>,
    /// `WSGIProcessGroup` and `WSGIApplicationGroup` of directories.
    process_groups: Vec<(PathBuf, String)>,
    application_groups: Vec<(PathBuf, String)>,
}

/// An index script: the directory URL (ending in `/`) and the script's URL.
pub(super) type IndexScript = (String, String);

/// The scripts found in the directories of scripts.
#[derive(Debug, Default)]
pub(super) struct FoundScripts {
    /// Each script, as if a `WSGIScriptAlias` mounted it.
    pub(super) scripts: Vec<ScriptMount>,
    /// The directory URLs whose index is a script.
    pub(super) index_scripts: Vec<IndexScript>,
}

/// What is wrong with a directory of scripts, where.
pub(super) type Problems = Vec<(Origin, String)>;

impl ScriptDirectories {
    /// `AddHandler wsgi-script .ext …` (with `extensions`) or `SetHandler wsgi-script`
    /// (without) in `<Directory dir>`.
    pub(super) fn handler(
        &mut self,
        dir: PathBuf,
        extensions: Option<Vec<String>>,
        origin: &Origin,
    ) {
        let extensions = extensions.map(|list| {
            list.iter()
                .map(|ext| format!(".{}", ext.trim_start_matches('.').to_ascii_lowercase()))
                .collect()
        });
        self.handlers.push((dir, extensions, origin.clone()));
    }

    pub(super) fn exec_cgi(&mut self, dir: PathBuf) {
        self.exec_cgi.push(dir);
    }

    pub(super) fn index(&mut self, dir: PathBuf, names: Vec<String>) {
        self.indexes.push((dir, names));
    }

    pub(super) fn process_group(&mut self, dir: PathBuf, group: String) {
        self.process_groups.push((dir, group));
    }

    pub(super) fn application_group(&mut self, dir: PathBuf, group: String) {
        self.application_groups.push((dir, group));
    }

    pub(super) fn is_empty(&self) -> bool {
        self.handlers.is_empty()
    }

    /// The scripts of the directories, each at the URLs `bases` (URL path, directory: the
    /// `Alias`es and the document root) serve it at, and the directory URLs whose index is a
    /// script; or what is wrong, by origin.
    pub(super) fn scripts(
        &self,
        bases: &[(String, PathBuf)],
        default_index: &[String],
    ) -> Result<FoundScripts, Problems> {
        let mut scripts = Vec::new();
        let mut index_scripts = Vec::new();
        let mut errors = Vec::new();
        for (dir, extensions, origin) in &self.handlers {
            if !self.exec_cgi.iter().any(|d| dir.starts_with(d)) {
                errors.push((
                    origin.clone(),
                    format!(
                        "the scripts of <Directory {}> need `Options ExecCGI` there (without it \
                         httpd refuses them with a 403)",
                        dir.display()
                    ),
                ));
                continue;
            }
            let served: Vec<(String, &Path)> = bases
                .iter()
                .filter_map(|(url, base)| {
                    let rest = dir.strip_prefix(base).ok()?;
                    Some((join_url(url, rest), dir.as_path()))
                })
                .collect();
            if served.is_empty() {
                errors.push((
                    origin.clone(),
                    format!(
                        "no Alias or DocumentRoot serves <Directory {}>: its scripts would have \
                         no URL",
                        dir.display()
                    ),
                ));
                continue;
            }
            let is_script = |file: &Path| match extensions {
                None => true,
                Some(list) => file.file_name().is_some_and(|name| {
                    let name = name.to_string_lossy().to_ascii_lowercase();
                    list.iter().any(|ext| name.ends_with(ext.as_str()))
                }),
            };
            for (dir_url, dir) in &served {
                for (sub, files) in walk(dir) {
                    let sub_url = join_url(dir_url, sub.strip_prefix(dir).unwrap_or(Path::new("")));
                    for file in files.iter().filter(|f| is_script(f)) {
                        let name = file.file_name().expect("a file").to_string_lossy();
                        scripts.push(self.mount(&format!("{sub_url}/{name}"), file, origin));
                    }
                    let index = self.index_of(&sub, default_index);
                    let first = index.iter().find(|name| sub.join(name).is_file());
                    if let Some(name) = first.filter(|name| is_script(&sub.join(name))) {
                        index_scripts.push((format!("{sub_url}/"), format!("{sub_url}/{name}")));
                    }
                }
            }
        }
        if errors.is_empty() {
            Ok(FoundScripts {
                scripts,
                index_scripts,
            })
        } else {
            Err(errors)
        }
    }

    fn mount(&self, url: &str, file: &Path, origin: &Origin) -> ScriptMount {
        let nearest = |list: &[(PathBuf, String)]| {
            list.iter()
                .filter(|(dir, _)| file.starts_with(dir))
                .max_by_key(|(dir, _)| dir.components().count())
                .map(|(_, value)| value.clone())
        };
        ScriptMount {
            url: url.to_owned(),
            pattern: false,
            script: file.display().to_string(),
            virtual_host: None,
            virtual_host_origin: None,
            process_group: nearest(&self.process_groups),
            application_group: nearest(&self.application_groups),
            origin: origin.clone(),
        }
    }

    /// The `DirectoryIndex` that applies in `dir`: its own or its nearest parent's, else the
    /// server's.
    fn index_of(&self, dir: &Path, default: &[String]) -> Vec<String> {
        self.indexes
            .iter()
            .filter(|(d, _)| dir.starts_with(d))
            .max_by_key(|(d, _)| d.components().count())
            .map_or_else(|| default.to_vec(), |(_, names)| names.clone())
    }
}

/// `url` (a URL path, no trailing slash needed) followed by the relative path `rest`.
fn join_url(url: &str, rest: &Path) -> String {
    let mut joined = url.trim_end_matches('/').to_owned();
    for part in rest.components() {
        joined.push('/');
        joined.push_str(&part.as_os_str().to_string_lossy());
    }
    joined
}

/// Every directory under `dir` (itself first), each with its files, in name order; hidden
/// names are skipped, as the static files skip them.
fn walk(dir: &Path) -> Vec<(PathBuf, Vec<PathBuf>)> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        let mut entries: Vec<PathBuf> = entries
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| {
                !path
                    .file_name()
                    .is_some_and(|name| name.to_string_lossy().starts_with('.'))
            })
            .collect();
        entries.sort();
        let (dirs, files): (Vec<PathBuf>, Vec<PathBuf>) =
            entries.into_iter().partition(|path| path.is_dir());
        out.push((current, files.into_iter().filter(|f| f.is_file()).collect()));
        pending.extend(dirs.into_iter().rev());
    }
    out
}
