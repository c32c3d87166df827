//! Which mount a request path belongs to: the longest mount point that contains it, an alias
//! winning a tie with an application; where no alias contains it, a `WSGIScriptAliasMatch`
//! pattern whose expression matches it and names a loaded script comes first (patterns in
//! the configuration's order).

use std::collections::HashMap;
use std::path::PathBuf;

use oxwsgi_config::{MountPoint, ScriptPattern};

/// What a mount point serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mounted {
    /// The WSGI application with this index (in the order the applications were loaded).
    App(usize),
    /// The `--url-alias` with this index.
    Alias(usize),
}

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// To an application; `script_name_len` bytes of the path are its mount point.
    App {
        /// The application's index.
        app: usize,
        /// The length of its mount point.
        script_name_len: usize,
    },
    /// To an alias; `prefix_len` bytes of the path are its URL path.
    Alias {
        /// The alias's index.
        alias: usize,
        /// The length of its URL path.
        prefix_len: usize,
    },
    /// To an alias, at a path below its directory an `AliasMatch` named.
    AliasAt {
        /// The alias's index.
        alias: usize,
        /// The path below the alias's directory.
        relative: Vec<u8>,
    },
    /// Nowhere but, maybe, the document root.
    Unmounted,
}

/// The URL space, longest mount point first.
#[derive(Debug, Clone)]
pub struct Router {
    mounts: Vec<(MountPoint, Mounted)>,
    patterns: Vec<PatternRoute>,
    alias_patterns: Vec<AliasPattern>,
}

/// An `AliasMatch`, ready to route.
#[derive(Debug, Clone)]
struct AliasPattern {
    regex: regex::bytes::Regex,
    target: String,
    /// The alias (a directory: the target's literal start) its paths are below.
    alias: usize,
    root: Vec<u8>,
}

/// A `WSGIScriptAliasMatch`, ready to route.
#[derive(Debug, Clone)]
struct PatternRoute {
    regex: regex::bytes::Regex,
    script: String,
    /// The applications loaded from the scripts it can name, by file name.
    apps: HashMap<Vec<u8>, usize>,
}

impl Router {
    /// A router over `(mount point, what it serves)` pairs.
    pub fn new(mut mounts: Vec<(MountPoint, Mounted)>) -> Router {
        mounts.sort_by_key(|(mount, what)| {
            (
                std::cmp::Reverse(mount.as_str().len()),
                matches!(what, Mounted::App(_)),
            )
        });
        Router {
            mounts,
            patterns: Vec::new(),
            alias_patterns: Vec::new(),
        }
    }

    /// Adds `AliasMatch` patterns, each with its alias (a directory, `root`, which the
    /// target starts with).
    ///
    /// The expressions were checked when the configuration was read.
    pub fn with_alias_patterns(mut self, patterns: &[(ScriptPattern, PathBuf, usize)]) -> Router {
        use std::os::unix::ffi::OsStrExt;
        for (pattern, root, alias) in patterns {
            self.alias_patterns.push(AliasPattern {
                regex: regex::bytes::Regex::new(&pattern.regex)
                    .expect("the configuration checked the expression"),
                target: pattern.script.clone(),
                alias: *alias,
                root: root.as_os_str().as_bytes().to_vec(),
            });
        }
        self
    }

    /// Adds `WSGIScriptAliasMatch` patterns, each with the applications loaded from the
    /// scripts it names (file, application index).
    ///
    /// The expressions were checked when the configuration was read.
    pub fn with_patterns(mut self, patterns: &[(ScriptPattern, Vec<(PathBuf, usize)>)]) -> Router {
        use std::os::unix::ffi::OsStrExt;
        for (pattern, scripts) in patterns {
            let regex = regex::bytes::Regex::new(&pattern.regex)
                .expect("the configuration checked the expression");
            let apps = scripts
                .iter()
                .map(|(file, app)| (file.as_os_str().as_bytes().to_vec(), *app))
                .collect();
            self.patterns.push(PatternRoute {
                regex,
                script: pattern.script.clone(),
                apps,
            });
        }
        self
    }

    /// The first application mounted by prefix, if there is one: whose Python answers an
    /// authentication script's question about a request no application serves (a file).
    pub fn first_app(&self) -> Option<usize> {
        self.mounts.iter().find_map(|(_, mounted)| match mounted {
            Mounted::App(app) => Some(*app),
            Mounted::Alias(_) => None,
        })
    }

    /// Where a decoded path goes.
    pub fn route(&self, path: &[u8]) -> Route {
        let by_prefix = self.mounts.iter().find(|(mount, _)| mount.matches(path));
        if !matches!(by_prefix, Some((_, Mounted::Alias(_)))) {
            if let Some(route) = self.route_by_alias_pattern(path) {
                return route;
            }
            if let Some(route) = self.route_by_pattern(path) {
                return route;
            }
        }
        match by_prefix {
            Some((mount, Mounted::App(app))) => Route::App {
                app: *app,
                script_name_len: mount.path_len(),
            },
            Some((mount, Mounted::Alias(alias))) => Route::Alias {
                alias: *alias,
                prefix_len: mount.path_len(),
            },
            None => Route::Unmounted,
        }
    }

    /// Where an `AliasMatch` leads `path`: its target with the groups put in (httpd replaces
    /// the whole path with it), below the alias's directory. A target that would leave the
    /// directory (only a `$1` holding `..` could, and normalised paths hold none) leads nowhere.
    fn route_by_alias_pattern(&self, path: &[u8]) -> Option<Route> {
        self.alias_patterns.iter().find_map(|pattern| {
            let captures = pattern.regex.captures(path)?;
            let target = substitute(&pattern.target, &captures);
            let relative = target.strip_prefix(pattern.root.as_slice())?;
            let relative = relative.strip_prefix(b"/").unwrap_or(relative);
            if relative.split(|&b| b == b'/').any(|part| part == b"..") {
                return None;
            }
            Some(Route::AliasAt {
                alias: pattern.alias,
                relative: relative.to_vec(),
            })
        })
    }

    /// The application a pattern leads `path` to: the first expression that matches it and
    /// names one of its scripts, with the matched part as the mount point.
    fn route_by_pattern(&self, path: &[u8]) -> Option<Route> {
        self.patterns.iter().find_map(|pattern| {
            let captures = pattern.regex.captures(path)?;
            let script = substitute(&pattern.script, &captures);
            let app = *pattern.apps.get(&script)?;
            let matched = captures.get(0).expect("group 0 is the match");
            // The matched part is SCRIPT_NAME only if the path starts with it (`^…`).
            (matched.start() == 0).then_some(Route::App {
                app,
                script_name_len: matched.end(),
            })
        })
    }
}

/// `script` with `$0`…`$9` replaced by the expression's groups (an unmatched group by
/// nothing), as httpd's `ap_pregsub` does.
fn substitute(script: &str, captures: &regex::bytes::Captures<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(script.len() + 16);
    let mut bytes = script.bytes().peekable();
    while let Some(byte) = bytes.next() {
        match (byte, bytes.peek()) {
            (b'$', Some(digit @ b'0'..=b'9')) => {
                let group = usize::from(digit - b'0');
                bytes.next();
                if let Some(value) = captures.get(group) {
                    out.extend_from_slice(value.as_bytes());
                }
            }
            _ => out.push(byte),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(path: &str) -> MountPoint {
        MountPoint::parse(path).unwrap()
    }

    #[test]
    fn the_longest_mount_point_wins() {
        let router = Router::new(vec![
            (MountPoint::root(), Mounted::App(0)),
            (mount("/api"), Mounted::App(1)),
        ]);
        assert_eq!(
            router.route(b"/api/users"),
            Route::App {
                app: 1,
                script_name_len: 4
            }
        );
        assert_eq!(
            router.route(b"/api"),
            Route::App {
                app: 1,
                script_name_len: 4
            }
        );
        assert_eq!(
            router.route(b"/apis"),
            Route::App {
                app: 0,
                script_name_len: 0
            }
        );
    }

    #[test]
    fn aliases_win_over_the_application_below_them() {
        let router = Router::new(vec![
            (MountPoint::root(), Mounted::App(0)),
            (mount("/static"), Mounted::Alias(0)),
        ]);
        assert_eq!(
            router.route(b"/static/a.css"),
            Route::Alias {
                alias: 0,
                prefix_len: 7
            }
        );
        assert_eq!(
            router.route(b"/other"),
            Route::App {
                app: 0,
                script_name_len: 0
            }
        );
    }

    #[test]
    fn a_pattern_names_the_script_and_its_match_is_the_mount_point() {
        let pattern = ScriptPattern {
            regex: "^/tools/([a-z]+)".to_owned(),
            script: "/srv/tools/$1.wsgi".to_owned(),
        };
        let scripts = vec![
            (PathBuf::from("/srv/tools/alpha.wsgi"), 1),
            (PathBuf::from("/srv/tools/beta.wsgi"), 2),
        ];
        let router = Router::new(vec![
            (MountPoint::root(), Mounted::App(0)),
            (mount("/tools/static"), Mounted::Alias(0)),
        ])
        .with_patterns(&[(pattern, scripts)]);
        assert_eq!(
            router.route(b"/tools/beta/x/y"),
            Route::App {
                app: 2,
                script_name_len: 11
            }
        );
        // A script the pattern names but that was not loaded: the rest of the URL space.
        assert_eq!(
            router.route(b"/tools/delta"),
            Route::App {
                app: 0,
                script_name_len: 0
            }
        );
        assert_eq!(
            router.route(b"/tools/static/a.css"),
            Route::Alias {
                alias: 0,
                prefix_len: 13
            }
        );
    }

    #[test]
    fn an_alias_pattern_names_a_path_below_its_directory() {
        let pattern = ScriptPattern {
            regex: "^/icons/(.*)$".to_owned(),
            script: "/usr/share/icons/$1".to_owned(),
        };
        let router = Router::new(vec![(MountPoint::root(), Mounted::App(0))])
            .with_alias_patterns(&[(pattern, PathBuf::from("/usr/share/icons"), 3)]);
        assert_eq!(
            router.route(b"/icons/sub/a.png"),
            Route::AliasAt {
                alias: 3,
                relative: b"sub/a.png".to_vec()
            }
        );
        // A group that climbs out of the directory leads nowhere (the application, here).
        assert_eq!(
            router.route(b"/icons/../etc/passwd"),
            Route::App {
                app: 0,
                script_name_len: 0
            }
        );
    }

    #[test]
    fn paths_outside_every_mount_point_are_unmounted() {
        let router = Router::new(vec![(mount("/app"), Mounted::App(0))]);
        assert_eq!(router.route(b"/other"), Route::Unmounted);
        assert_eq!(router.route(b"/"), Route::Unmounted);
    }
}
