//! `--unix-socket PATH`, `--unix-socket-mode` and `--unix-socket-owner`: a listener on a unix
//! socket, for a proxy on the same machine. mod_wsgi-express has no such option (Apache
//! listens on TCP only); the names follow the `--unix-socket` of other servers' command lines.

use std::path::Path;

use super::Environment;
use crate::cli::StartServer;
use crate::error::ConfigError;
use crate::model::{ListenerConfig, SocketOwner, UnixSocket};

/// The most a unix socket path may be: `sun_path` holds 108 bytes with its final NUL.
const MAX_PATH: usize = 107;

/// The unix socket listener the options describe, if `--unix-socket` is given; the other two
/// options without it are refused.
pub(super) fn listener(
    args: &StartServer,
    env: &Environment,
) -> Result<Option<ListenerConfig>, ConfigError> {
    let Some(path) = &args.unix_socket else {
        if args.unix_socket_owner.is_some() {
            return Err(ConfigError::Needs {
                option: "--unix-socket-owner",
                needed: "--unix-socket, the socket it owns",
            });
        }
        return Ok(None);
    };
    let path = env.absolute(path);
    if path.as_os_str().len() > MAX_PATH {
        return Err(ConfigError::Invalid {
            option: "--unix-socket",
            value: path.display().to_string(),
            reason: "a unix socket path has at most 107 bytes; choose a shorter one",
        });
    }
    if !path.parent().is_some_and(Path::is_dir) {
        return Err(ConfigError::Invalid {
            option: "--unix-socket",
            value: path.display().to_string(),
            reason: "its directory does not exist",
        });
    }
    let mode = parse_mode(&args.unix_socket_mode).ok_or_else(|| ConfigError::Invalid {
        option: "--unix-socket-mode",
        value: args.unix_socket_mode.clone(),
        reason: "give permission bits in octal, such as 0660 or 0666",
    })?;
    let owner = args.unix_socket_owner.as_deref().map(owner).transpose()?;
    Ok(Some(ListenerConfig {
        host: None,
        port: 0,
        backlog: args.server_backlog,
        tls: None,
        http2: args.http2,
        unix: Some(UnixSocket { path, mode, owner }),
    }))
}

/// Octal permission bits, at most `0777`.
fn parse_mode(text: &str) -> Option<u32> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    u32::from_str_radix(digits, 8)
        .ok()
        .filter(|&mode| mode <= 0o777)
}

/// `USER` or `USER:GROUP` (either as a name or `#ID`).
fn owner(text: &str) -> Result<SocketOwner, ConfigError> {
    let fail = |reason: String| ConfigError::NotFound {
        option: "--unix-socket-owner",
        value: text.to_owned(),
        reason,
    };
    let (user, group) = match text.split_once(':') {
        Some((user, group)) => (user, Some(group)),
        None => (text, None),
    };
    let found = match user.strip_prefix('#') {
        Some(id) => id.parse().ok().and_then(uzers::get_user_by_uid),
        None => uzers::get_user_by_name(user),
    }
    .ok_or_else(|| fail(format!("no user is named '{user}' on this system")))?;
    let gid = match group {
        None => found.primary_group_id(),
        Some(group) => match group.strip_prefix('#') {
            Some(id) => id
                .parse()
                .map_err(|_| fail(format!("'{group}' is not a group id")))?,
            None => uzers::get_group_by_name(group)
                .map(|g| g.gid())
                .ok_or_else(|| fail(format!("no group is named '{group}' on this system")))?,
        },
    };
    Ok(SocketOwner {
        name: text.to_owned(),
        uid: found.uid(),
        gid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_octal_permission_bits() {
        assert_eq!(parse_mode("0660"), Some(0o660));
        assert_eq!(parse_mode("666"), Some(0o666));
        assert_eq!(parse_mode("0o600"), Some(0o600));
        assert_eq!(parse_mode("0888"), None);
        assert_eq!(parse_mode("01777"), None, "no sticky or set-id bits");
    }

    #[test]
    fn the_owner_is_looked_up_by_name_or_id() {
        let root = owner("root").unwrap();
        assert_eq!((root.uid, root.gid), (0, 0));
        assert_eq!(owner("#0:#0").unwrap().uid, 0);
        assert!(
            owner("no-such-user-here")
                .unwrap_err()
                .to_string()
                .contains("no user is named")
        );
    }
}
