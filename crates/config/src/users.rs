//! Users and groups by name or `#id`, as httpd's `User`/`Group` and mod_wsgi's `user=`,
//! `group=` and `supplementary-groups=` name them; looked up through the system's name service.

use crate::model::RunAs;

/// The user (and groups) the workers are to run as. `group` defaults to the user's primary
/// group; `supplementary` (comma-separated) to the groups the user is a member of.
pub fn run_as(
    user: &str,
    group: Option<&str>,
    supplementary: Option<&str>,
) -> Result<RunAs, String> {
    let found = match user.strip_prefix('#') {
        Some(id) => id
            .parse::<u32>()
            .ok()
            .and_then(uzers::get_user_by_uid)
            .ok_or_else(|| format!("no user has the id {id} on this system"))?,
        None => uzers::get_user_by_name(user)
            .ok_or_else(|| format!("no user is named '{user}' on this system"))?,
    };
    if found.uid() == 0 {
        return Err(format!(
            "'{user}' is root: the workers never run as root (mod_wsgi refuses it too); name an \
             unprivileged user such as www-data"
        ));
    }
    let gid = match group {
        Some(group) => group_id(group)?,
        None => found.primary_group_id(),
    };
    let name = found.name().to_string_lossy().into_owned();
    let groups = match supplementary {
        Some(list) => list
            .split(',')
            .filter(|g| !g.trim().is_empty())
            .map(|g| group_id(g.trim()))
            .collect::<Result<Vec<_>, _>>()?,
        None => uzers::get_user_groups(&name, gid)
            .unwrap_or_default()
            .iter()
            .map(|g| g.gid())
            .collect(),
    };
    Ok(RunAs {
        user: name,
        uid: found.uid(),
        gid,
        groups,
    })
}

fn group_id(group: &str) -> Result<u32, String> {
    match group.strip_prefix('#') {
        Some(id) => id
            .parse::<u32>()
            .map_err(|_| format!("'{group}' is not a group id")),
        None => uzers::get_group_by_name(group)
            .map(|g| g.gid())
            .ok_or_else(|| format!("no group is named '{group}' on this system")),
    }
}

/// The name of the user with `uid`, if it has one.
pub fn user_name(uid: u32) -> Option<String> {
    uzers::get_user_by_uid(uid).map(|u| u.name().to_string_lossy().into_owned())
}
