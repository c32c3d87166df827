//! Per-URL rules: a site's access rules, environ and `Authorization` passing, error
//! documents, header edits and `Alias` mounts, laid out by the URL paths they apply to.
//!
//! Separate because both a site file and `--include-file` ([`super::include`]) lay out their
//! rules this way, over mounts decided elsewhere.

use std::path::{Path, PathBuf};

use super::{Site, Translator};
use crate::access::{AccessControl, AccessRules, AuthControl, AuthSettings};
use crate::apache::access;
use crate::apache::lines::{EnvChange, apply_environ};
use crate::headers::{HeaderEdit, HeaderEdits};
use crate::model::{
    AppEntry, Mount, MountPoint, MountTarget, ScriptPattern, StaticTarget, WsgiApp,
};
use crate::redirect::ErrorDocument;

impl Translator<'_> {
    /// The access rules of a site, laid out by URL path: each `<Directory>` rule at the URL
    /// paths its files are served at (the most specific directory around each mounted file or
    /// directory, and the directories inside a served one), each `<Location>` rule at its path.
    /// The authentication settings are laid out the same way, each directory's merged first
    /// with those of the directories around it (its modules merge them field by field).
    pub(super) fn access_rules(
        &mut self,
        site: &Site,
        mounts: &[Mount],
        document_root: &Path,
    ) -> AccessRules {
        let mut directories = site.directory_rules.clone();
        if !site.server_access.is_empty() {
            match access::section_rule(&site.server_access) {
                // The whole server: the least specific directory of all.
                Ok(Some(rule)) => directories.insert(0, (PathBuf::from("/"), rule)),
                Ok(None) => {}
                Err(problem) if problem.not_yet => self.not_yet(&problem.origin, &problem.message),
                Err(problem) => self.error(&problem.origin, problem.message),
            }
        }
        let by_url = lay_out(&directories, mounts, document_root);
        // Each directory's settings over those of the directories around it (least specific
        // first; of equally specific ones, in the order written).
        let mut around: Vec<&(PathBuf, AuthSettings)> = site.directory_auth.iter().collect();
        around.sort_by_key(|(dir, _)| dir.components().count());
        let merged: Vec<(PathBuf, AuthSettings)> = site
            .directory_auth
            .iter()
            .map(|(dir, _)| {
                let settings = around
                    .iter()
                    .filter(|(outer, _)| dir.starts_with(outer))
                    .fold(AuthSettings::default(), |base, (_, own)| own.over(&base));
                (dir.clone(), settings)
            })
            .collect();
        let auth_directories = lay_out(&merged, mounts, document_root)
            .into_iter()
            .map(|(prefix, settings)| AuthControl {
                prefix,
                settings,
                host: None,
            })
            .collect();
        let locations = site
            .location_rules
            .iter()
            .filter_map(|(url, rule, origin)| match MountPoint::parse(url) {
                Some(prefix) => Some(AccessControl {
                    prefix,
                    rule: rule.clone(),
                    host: None,
                }),
                None => {
                    self.error(
                        origin,
                        format!("<Location {url}>: the URL path must start with /"),
                    );
                    None
                }
            })
            .collect();
        let auth_locations = site
            .location_auth
            .iter()
            .filter_map(|(url, settings)| {
                MountPoint::parse(url).map(|prefix| AuthControl {
                    prefix,
                    settings: settings.clone(),
                    host: None,
                })
            })
            .collect();
        // For equal prefixes the last one pushed applies (`AccessRules::allows`).
        AccessRules {
            directories: by_url
                .into_iter()
                .map(|(prefix, rule)| AccessControl {
                    prefix,
                    rule,
                    host: None,
                })
                .collect(),
            locations,
            auth_directories,
            auth_locations,
        }
    }

    /// The environ variables a script gets: the server's and virtual host's `SetEnv`s, then
    /// those of the `<Directory>`s around the script (least specific first), then those of
    /// the `<Location>`s around its whole URL space. A `<Location>` inside the application's
    /// URL space would set variables per request, which is not supported yet.
    pub(super) fn script_environ(
        &mut self,
        site: &Site,
        script: &Path,
        mount: &MountPoint,
        mounts: &[MountPoint],
    ) -> Option<Vec<(String, String)>> {
        let mut environ = Vec::new();
        apply_environ(&mut environ, &site.environ);
        let mut directories: Vec<&(PathBuf, Vec<EnvChange>)> = site
            .directory_environ
            .iter()
            .filter(|(dir, _)| script.starts_with(dir))
            .collect();
        directories.sort_by_key(|(dir, _)| dir.components().count());
        for (_, changes) in directories {
            apply_environ(&mut environ, changes);
        }
        let mut locations = Vec::new();
        for (url, changes, at) in &site.location_environ {
            let Some(location) = MountPoint::parse(url) else {
                continue;
            };
            if location.matches(mount.as_str().as_bytes()) {
                locations.push((location, changes));
            } else if inside_app(&location, mount, mounts) {
                self.not_yet(
                    at,
                    &format!("SetEnv in <Location {url}> inside the application at {mount}"),
                );
                return None;
            }
        }
        locations.sort_by_key(|(location, _)| location.as_str().len());
        for (_, changes) in locations {
            apply_environ(&mut environ, changes);
        }
        Some(environ)
    }

    /// Whether `Authorization` reaches a script: the server's or virtual host's
    /// `WSGIPassAuthorization`, then the `<Directory>`s around the script, then the
    /// `<Location>`s around its URL space, each more specific one winning (mod_wsgi's merge).
    /// One inside its URL space would apply per request: not yet.
    pub(super) fn pass_authorization(
        &mut self,
        site: &Site,
        script: &Path,
        mount: &MountPoint,
        mounts: &[MountPoint],
        base: bool,
    ) -> Option<bool> {
        let mut pass = site.pass_authorization.unwrap_or(base);
        let mut directories: Vec<&(PathBuf, bool)> = site
            .directory_pass_authorization
            .iter()
            .filter(|(dir, _)| script.starts_with(dir))
            .collect();
        directories.sort_by_key(|(dir, _)| dir.components().count());
        if let Some((_, on)) = directories.last() {
            pass = *on;
        }
        let mut locations = Vec::new();
        for (url, on, at) in &site.location_pass_authorization {
            let Some(location) = MountPoint::parse(url) else {
                continue;
            };
            if location.matches(mount.as_str().as_bytes()) {
                locations.push((location, *on));
            } else if inside_app(&location, mount, mounts) {
                self.not_yet(
                    at,
                    &format!(
                        "WSGIPassAuthorization in <Location {url}> inside the application at {mount}"
                    ),
                );
                return None;
            }
        }
        locations.sort_by_key(|(location, _)| location.as_str().len());
        if let Some((_, on)) = locations.last() {
            pass = *on;
        }
        Some(pass)
    }

    /// The `ErrorDocument`s. A local path may be served by anything (a file, an application):
    /// it is an internal request; one nothing serves leaves the server's own page, as httpd
    /// leaves its own.
    pub(super) fn error_documents(site: &Site) -> Vec<ErrorDocument> {
        site.error_documents
            .iter()
            .map(|(status, body, _)| ErrorDocument {
                status: *status,
                body: body.clone(),
                host: None,
            })
            .collect()
    }

    /// The static mounts of the site's `Alias`es.
    pub(super) fn alias_mounts(&mut self, site: &Site) -> Vec<Mount> {
        let mut mounts = Vec::new();
        for (url, path, origin) in &site.aliases {
            // `Alias /static/ …` serves what is below /static/, not /static itself.
            let prefix = if url.len() > 1 && url.ends_with('/') {
                MountPoint::below_only(url)
            } else {
                MountPoint::parse(url)
            };
            let Some(prefix) = prefix else {
                self.error(
                    origin,
                    format!("Alias '{url}': the URL path must start with /"),
                );
                continue;
            };
            let target = if path.is_dir() {
                StaticTarget::Directory(path.clone())
            } else if path.is_file() {
                StaticTarget::File(path.clone())
            } else {
                self.error(
                    origin,
                    format!(
                        "Alias {url}: '{}' is neither a file nor a directory",
                        path.display()
                    ),
                );
                continue;
            };
            mounts.push(Mount {
                prefix,
                target: MountTarget::Static(target),
                host: None,
                pattern: None,
            });
        }
        for (regex, target, origin) in &site.alias_matches {
            if let Err(err) = regex::bytes::Regex::new(regex) {
                self.error(
                    origin,
                    format!(
                        "AliasMatch '{regex}' is not a regular expression oxwsgi can use (Rust's \
                         regex syntax: no look-around, no back-references): {err}"
                    ),
                );
                continue;
            }
            // What the target names is resolved below its literal start, as a directory
            // alias's files are below its directory: `$1` cannot climb out of it.
            let literal = target.split('$').next().unwrap_or("");
            let root = match literal.rfind('/') {
                Some(at) => PathBuf::from(&literal[..at.max(1)]),
                None => PathBuf::from("/"),
            };
            if !root.is_dir() {
                self.error(
                    origin,
                    format!(
                        "AliasMatch {regex}: '{}', where '{target}' starts, is not a directory",
                        root.display()
                    ),
                );
                continue;
            }
            mounts.push(Mount {
                prefix: super::groups::literal_prefix(regex),
                target: MountTarget::Static(StaticTarget::Directory(root)),
                host: None,
                pattern: Some(ScriptPattern {
                    regex: regex.clone(),
                    script: target.clone(),
                }),
            });
        }
        mounts
    }

    /// The site's `Header` and `RequestHeader` lines.
    pub(super) fn header_edits(&self, site: &Site) -> HeaderEdits {
        let mut header_edits = HeaderEdits::default();
        for (location, request, edit) in &site.header_edits {
            let Some(prefix) = MountPoint::parse(location) else {
                continue;
            };
            let edit = HeaderEdit {
                prefix,
                host: None,
                always: edit.always,
                action: edit.action,
                name: edit.name.clone(),
                value: edit.value.clone(),
            };
            if *request {
                header_edits.request.push(edit);
            } else {
                header_edits.response.push(edit);
            }
        }
        header_edits
    }
}

/// What `<Directory>` sections set (a rule, authentication settings), laid out at the URL
/// paths their files are served at: the most specific directory around each mounted file or
/// directory, and the directories inside a served one. Document root first, then aliases,
/// then applications: for the same URL path the last one wins, as the router gives the
/// application the request.
pub(super) fn lay_out<T: Clone>(
    directories: &[(PathBuf, T)],
    mounts: &[Mount],
    document_root: &Path,
) -> Vec<(MountPoint, T)> {
    let around = |path: &Path| {
        directories
            .iter()
            .filter(|(dir, _)| path.starts_with(dir))
            .max_by_key(|(dir, _)| dir.components().count())
            .map(|(_, value)| value.clone())
    };
    let mut by_url = Vec::new();
    let served_directory = |url: &str, dir: &Path, by_url: &mut Vec<(MountPoint, T)>| {
        if let (Some(value), Some(prefix)) = (around(dir), MountPoint::parse(url)) {
            by_url.push((prefix, value));
        }
        for (inner, value) in directories {
            let Ok(rest) = inner.strip_prefix(dir) else {
                continue;
            };
            if rest.as_os_str().is_empty() {
                continue;
            }
            let url = format!("{}/{}", url.trim_end_matches('/'), rest.display());
            if let Some(prefix) = MountPoint::parse(&url) {
                by_url.push((prefix, value.clone()));
            }
        }
    };
    served_directory("/", document_root, &mut by_url);
    for mount in mounts {
        match &mount.target {
            MountTarget::Static(StaticTarget::Directory(dir)) => {
                served_directory(&mount.prefix.to_string(), dir, &mut by_url);
            }
            MountTarget::Static(StaticTarget::File(file)) => {
                if let Some(value) = around(file) {
                    by_url.push((mount.prefix.clone(), value));
                }
            }
            MountTarget::Wsgi(_) => {}
        }
    }
    for mount in mounts {
        if let MountTarget::Wsgi(WsgiApp {
            entry: AppEntry::Script(script),
            ..
        }) = &mount.target
        {
            if let Some(value) = around(script) {
                by_url.push((mount.prefix.clone(), value));
            }
        }
    }
    by_url
}

/// Whether some requests under `location` reach the application at `mount`: it is below the
/// mount, and not within a longer mount point (another application's, or an `Alias`).
fn inside_app(location: &MountPoint, mount: &MountPoint, mounts: &[MountPoint]) -> bool {
    let path = location.as_str().as_bytes();
    mount.matches(path)
        && !mounts
            .iter()
            .any(|other| other.as_str().len() > mount.as_str().len() && other.matches(path))
}
