//! `--service-script NAME FILE` and its companions `--service-user`, `--service-group` and
//! `--service-log-file`, as mod_wsgi-express reads them: pairs whose first value names the
//! service. A companion for a name no `--service-script` gives is refused (it would otherwise
//! be silently lost to a typo).

use std::path::Path;

use super::Environment;
use crate::cli::StartServer;
use crate::error::ConfigError;
use crate::model::{PythonSettings, Service};

/// The services of the command line, in the order given; each runs `python` (the
/// application's). A relative log file name is in `log_directory`.
pub(super) fn resolve(
    args: &StartServer,
    env: &Environment,
    python: &PythonSettings,
    log_directory: &Path,
) -> Result<Vec<Service>, ConfigError> {
    let scripts = pairs("--service-script", &args.service_script)?;
    let users = pairs("--service-user", &args.service_user)?;
    let groups = pairs("--service-group", &args.service_group)?;
    let logs = pairs("--service-log-file", &args.service_log_file)?;
    for (option, given) in [
        ("--service-user", &users),
        ("--service-group", &groups),
        ("--service-log-file", &logs),
    ] {
        if let Some((name, _)) = given
            .iter()
            .find(|(name, _)| !scripts.iter().any(|(s, _)| s == name))
        {
            return Err(ConfigError::Invalid {
                option,
                value: (*name).to_owned(),
                reason: "no --service-script has that name",
            });
        }
    }
    let mut services: Vec<Service> = Vec::new();
    for (name, script) in scripts {
        if !valid_name(name) {
            return Err(ConfigError::Invalid {
                option: "--service-script",
                value: name.to_owned(),
                reason: "a service name is letters, digits, '-', '_' and '.'",
            });
        }
        if services.iter().any(|s| s.name == name) {
            return Err(ConfigError::Invalid {
                option: "--service-script",
                value: name.to_owned(),
                reason: "two services have that name",
            });
        }
        let script = super::existing_file("service script", &env.absolute(Path::new(script)))?;
        let last = |given: &[(&str, &str)]| {
            given
                .iter()
                .rev()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        };
        let group = last(&groups);
        let run_as = match (last(&users), group) {
            (Some(user), group) => Some(lookup("--service-user", &user, group.as_deref())?),
            (None, Some(group)) => {
                // A group alone: the user oxwsgi starts as, with that group.
                let user =
                    crate::users::user_name(env.uid).unwrap_or_else(|| format!("#{}", env.uid));
                Some(lookup("--service-group", &user, Some(&group))?)
            }
            (None, None) => None,
        };
        services.push(Service {
            name: name.to_owned(),
            script,
            python: python.clone(),
            run_as,
            log_file: last(&logs).map(|file| log_directory.join(file)),
        });
    }
    Ok(services)
}

/// The `NAME VALUE` pairs of a repeated two-value option.
fn pairs<'a>(
    option: &'static str,
    values: &'a [String],
) -> Result<Vec<(&'a str, &'a str)>, ConfigError> {
    values
        .chunks(2)
        .map(|pair| match pair {
            [name, value] => Ok((name.as_str(), value.as_str())),
            _ => Err(ConfigError::Invalid {
                option,
                value: pair.join(" "),
                reason: "it takes a service name and a value",
            }),
        })
        .collect()
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The user (and group) a service runs as. Root is refused as for the workers.
fn lookup(
    option: &'static str,
    user: &str,
    group: Option<&str>,
) -> Result<crate::model::RunAs, ConfigError> {
    crate::users::run_as(user, group, None).map_err(|reason| ConfigError::NotFound {
        option,
        value: match group {
            Some(group) => format!("{user}:{group}"),
            None => user.to_owned(),
        },
        reason,
    })
}
