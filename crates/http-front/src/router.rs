//! Which mount a request path belongs to: the longest mount point that contains it, an alias
//! winning a tie with an application.

use oxwsgi_config::MountPoint;

/// What a mount point serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mounted {
    /// The WSGI application with this index (in the order the applications were loaded).
    App(usize),
    /// The `--url-alias` with this index.
    Alias(usize),
}

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// Nowhere but, maybe, the document root.
    Unmounted,
}

/// The URL space, longest mount point first.
#[derive(Debug, Clone)]
pub struct Router {
    mounts: Vec<(MountPoint, Mounted)>,
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
        Router { mounts }
    }

    /// Where a decoded path goes.
    pub fn route(&self, path: &[u8]) -> Route {
        match self.mounts.iter().find(|(mount, _)| mount.matches(path)) {
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
    fn paths_outside_every_mount_point_are_unmounted() {
        let router = Router::new(vec![(mount("/app"), Mounted::App(0))]);
        assert_eq!(router.route(b"/other"), Route::Unmounted);
        assert_eq!(router.route(b"/"), Route::Unmounted);
    }
}
