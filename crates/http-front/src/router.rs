//! Which application a request path belongs to: the longest mount point that contains it.

use oxwsgi_config::MountPoint;

/// The URL space of the WSGI applications, longest mount point first.
#[derive(Debug, Clone)]
pub struct Router {
    mounts: Vec<(MountPoint, usize)>,
}

impl Router {
    /// A router over `(mount point, application index)` pairs.
    pub fn new(mut mounts: Vec<(MountPoint, usize)>) -> Router {
        mounts.sort_by_key(|(mount, _)| std::cmp::Reverse(mount.as_str().len()));
        Router { mounts }
    }

    /// The application for a decoded path, and how many leading bytes of it are the mount
    /// point (`SCRIPT_NAME`).
    pub fn route(&self, path: &[u8]) -> Option<(usize, usize)> {
        self.mounts
            .iter()
            .find(|(mount, _)| mount.matches(path))
            .map(|(mount, app)| (*app, mount.as_str().len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_mount_point_wins() {
        let router = Router::new(vec![
            (MountPoint::root(), 0),
            (MountPoint::parse("/api").unwrap(), 1),
        ]);
        assert_eq!(router.route(b"/api/users"), Some((1, 4)));
        assert_eq!(router.route(b"/api"), Some((1, 4)));
        assert_eq!(router.route(b"/apis"), Some((0, 0)));
        assert_eq!(router.route(b"/"), Some((0, 0)));
    }

    #[test]
    fn paths_outside_every_mount_point_have_no_route() {
        let router = Router::new(vec![(MountPoint::parse("/app").unwrap(), 0)]);
        assert_eq!(router.route(b"/other"), None);
        assert_eq!(router.route(b"/"), None);
    }
}
