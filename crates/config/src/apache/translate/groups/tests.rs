//! Options of `WSGIDaemonProcess` that land in the group's model.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::super::{StartOptions, server_config};
use crate::apache::check::check;
use crate::apache::{ReadOptions, read_text};
use crate::model::ProcessGroup;
use crate::resolve::Environment;

/// A directory holding an application script, removed when dropped.
struct Site(PathBuf);

impl Site {
    fn new(name: &str) -> Site {
        let dir = std::env::temp_dir().join(format!(
            "oxwsgi-translate-groups-{name}-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("app.wsgi"), "application = None\n").unwrap();
        Site(dir)
    }

    /// The group a site with this `WSGIDaemonProcess` line runs its application in.
    fn group(&self, daemon: &str) -> ProcessGroup {
        let dir = self.0.display().to_string();
        let text = format!(
            "Listen 127.0.0.1:8080\n{daemon}\nWSGIProcessGroup app\n\
             WSGIScriptAlias / {dir}/app.wsgi\n"
        );
        let options = ReadOptions {
            defines: Vec::new(),
            environment: Some(BTreeMap::new()),
        };
        let config = read_text(&self.0.join("site.conf"), &text, &options).unwrap();
        let report = check(&config, false);
        assert!(!report.has_errors(), "{:?}", report.notices);
        let env = Environment {
            current_dir: self.0.clone(),
            uid: 1000,
            ..Environment::default()
        };
        let config = server_config(&config, &report, &env, &StartOptions::default())
            .unwrap_or_else(|errors| panic!("{errors:?}"));
        config
            .groups
            .into_iter()
            .find(|group| group.name == "app")
            .expect("the daemon's group")
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// connect-timeout= is the wait for room in the full request queue, as --connect-timeout;
/// without it, mod_wsgi's 15 seconds; 0 refuses at once.
#[test]
fn connect_timeout_sets_the_wait_for_room_in_the_queue() {
    let site = Site::new("connect-timeout");
    let wait = |options: &str| {
        site.group(&format!("WSGIDaemonProcess app threads=1 {options}"))
            .connect_timeout
    };
    assert_eq!(wait("connect-timeout=3"), Duration::from_secs(3));
    assert_eq!(wait("connect-timeout=0"), Duration::ZERO);
    assert_eq!(wait(""), Duration::from_secs(15));
}
