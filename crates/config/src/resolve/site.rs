//! What the command line says of who may reach the site: `--server-name` with its aliases
//! (name-based virtual hosting, as mod_wsgi-express sets it up) and the Python access and
//! authentication scripts (`--host-access-script`, `--auth-user-script`,
//! `--auth-group-script`), made into the same virtual hosts, redirects and access rules an
//! Apache file gives.

use std::path::PathBuf;

use super::{Environment, Https, existing_file};
use crate::access::{
    AccessControl, AccessRule, AccessRules, AuthControl, AuthProvider, AuthSettings,
};
use crate::cli::StartServer;
use crate::error::ConfigError;
use crate::model::{MountPoint, VirtualHost};
use crate::redirect::{Redirect, RedirectWhen};

/// With `--server-name`, each virtual host `https` made becomes three, as mod_wsgi-express's
/// configuration has them: the listener's default (`_default_`, answering any other `Host`:
/// every request is refused, a 403, or with `--allow-localhost` served only to clients on this
/// machine), the named host (`--server-name` and `--server-alias`es) that serves the site, and
/// — for a name starting with `www.` — the parent domain, which redirects to the `www.` name:
/// on plain HTTP a 301 to `http://www.…:PORT/` (a 302 to the HTTPS port with `--https-only`,
/// as express's rewrite), on HTTPS a 301 to `https://www.…:HTTPS-PORT/`. Redirects and header
/// edits that named a host move to its named host.
pub(super) fn name_based(https: &mut Https, args: &StartServer) -> Result<(), ConfigError> {
    let Some(server_name) = &args.server_name else {
        for (option, given) in [
            ("--server-alias", !args.server_alias.is_empty()),
            ("--allow-localhost", args.allow_localhost),
        ] {
            if given {
                return Err(ConfigError::Needs {
                    option,
                    needed: "--server-name, the name the site answers to",
                });
            }
        }
        return Ok(());
    };
    let server_name = host_name("--server-name", server_name)?;
    let mut names = vec![server_name.clone()];
    for alias in &args.server_alias {
        names.push(host_name("--server-alias", alias)?);
    }
    let parent = server_name
        .strip_prefix("www.")
        .filter(|parent| !parent.is_empty());
    let https_listener = 1;
    let mut hosts = Vec::new();
    let mut moved = Vec::new();
    let mut access = AccessRules::default();
    let mut parent_redirects = Vec::new();
    for host in std::mem::take(&mut https.hosts) {
        let default = hosts.len();
        hosts.push(VirtualHost {
            names: Vec::new(),
            ..host.clone()
        });
        access.locations.push(AccessControl {
            prefix: MountPoint::root(),
            rule: if args.allow_localhost {
                AccessRule::Local
            } else {
                AccessRule::All(false)
            },
            host: Some(default),
        });
        moved.push(hosts.len());
        hosts.push(VirtualHost {
            names: names.clone(),
            ..host.clone()
        });
        if let Some(parent) = parent {
            for listener in host.listeners.clone() {
                let (status, target) = match (listener == https_listener, args.https_port) {
                    (true, Some(port)) => (301, format!("https://{server_name}:{port}/")),
                    (false, Some(port)) if args.https_only => {
                        (302, format!("https://{server_name}:{port}/"))
                    }
                    _ => (301, format!("http://{server_name}:{}/", args.port)),
                };
                let at = hosts.len();
                hosts.push(VirtualHost {
                    names: vec![parent.to_owned()],
                    listeners: vec![listener],
                    ..host.clone()
                });
                parent_redirects.push(Redirect {
                    when: RedirectWhen::Prefix(MountPoint::root()),
                    status,
                    target: Some(target),
                    host: Some(at),
                });
            }
        }
    }
    let to_named = |host: &mut Option<usize>| {
        if let Some(index) = host {
            *index = moved[*index];
        }
    };
    for redirect in &mut https.redirects {
        to_named(&mut redirect.host);
    }
    // Made with their final indexes.
    https.redirects.extend(parent_redirects);
    for edit in https
        .header_edits
        .request
        .iter_mut()
        .chain(&mut https.header_edits.response)
    {
        to_named(&mut edit.host);
    }
    for rule in &mut https.client_certificates {
        to_named(&mut rule.host);
    }
    https.hosts = hosts;
    https.access.extend(access);
    Ok(())
}

/// A host name as `--server-name` or `--server-alias` gives it: lower case, no port.
fn host_name(option: &'static str, value: &str) -> Result<String, ConfigError> {
    let valid = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.*?_".contains(&b));
    if !valid {
        return Err(ConfigError::Invalid {
            option,
            value: value.to_owned(),
            reason: "a host name has only letters, digits, '-', '.' (and, in an alias, '*' \
                     and '?' wildcards), and no port",
        });
    }
    Ok(value.to_ascii_lowercase())
}

/// `--host-access-script`, `--auth-user-script` and `--auth-group-script`, as
/// mod_wsgi-express writes them into its configuration: `<Location />` sections with
/// `WSGIAccessScript`, and `AuthType`, `AuthName 'HOST:PORT'`, `AuthBasicProvider wsgi`,
/// `WSGIAuthUserScript`, `WSGIAuthGroupScript` and `Require valid-user` (with
/// `Require wsgi-group GROUP`).
pub(super) fn scripts(args: &StartServer, env: &Environment) -> Result<AccessRules, ConfigError> {
    let script = |path: &Option<PathBuf>, what: &'static str| {
        path.as_ref()
            .map(|path| existing_file(what, &env.absolute(path)))
            .transpose()
    };
    let access_script = script(
        &args.host_access_script,
        "host access script (--host-access-script)",
    )?;
    let user_script = script(
        &args.auth_user_script,
        "user authentication script (--auth-user-script)",
    )?;
    let group_script = script(
        &args.auth_group_script,
        "group authorization script (--auth-group-script)",
    )?;
    let digest = if args.auth_type.eq_ignore_ascii_case("digest") {
        true
    } else if args.auth_type.eq_ignore_ascii_case("basic") {
        false
    } else {
        return Err(ConfigError::Invalid {
            option: "--auth-type",
            value: args.auth_type.clone(),
            reason: "the authentication scheme is Basic or Digest",
        });
    };
    if group_script.is_some() && user_script.is_none() {
        return Err(ConfigError::Needs {
            option: "--auth-group-script",
            needed: "--auth-user-script, which authenticates the users whose groups it gives",
        });
    }
    let mut rules = AccessRules::default();
    if let Some(access_script) = access_script {
        rules.auth_locations.push(AuthControl {
            prefix: MountPoint::root(),
            settings: AuthSettings {
                access_script: Some(access_script),
                ..AuthSettings::default()
            },
            host: None,
        });
    }
    if let Some(user_script) = user_script {
        let host = args.host.as_deref().unwrap_or("localhost");
        rules.auth_locations.push(AuthControl {
            prefix: MountPoint::root(),
            settings: AuthSettings {
                auth_type: Some(Some(if digest { "Digest" } else { "Basic" }.to_owned())),
                name: Some(format!("{host}:{}", args.port)),
                // mod_wsgi-express's `Auth%(auth_type)sProvider wsgi`.
                basic_providers: (!digest).then(|| vec![AuthProvider::Wsgi]),
                digest_providers: digest.then(|| vec![AuthProvider::Wsgi]),
                user_script: Some(user_script),
                group_script: group_script.clone(),
                ..AuthSettings::default()
            },
            host: None,
        });
        let rule = match group_script {
            Some(_) => AccessRule::AllOf(vec![
                AccessRule::ValidUser,
                AccessRule::WsgiGroup(vec![args.auth_group.clone()]),
            ]),
            None => AccessRule::ValidUser,
        };
        rules.locations.push(AccessControl {
            prefix: MountPoint::root(),
            rule,
            host: None,
        });
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::super::start_server;
    use super::*;
    use crate::ServerConfig;
    use crate::cli::{Cli, Command};

    fn config(args: &[&str]) -> Result<ServerConfig, ConfigError> {
        let mut argv = vec!["oxwsgi", "start-server"];
        argv.extend_from_slice(args);
        let Command::StartServer(args) = Cli::parse_from(argv).command else {
            panic!("not start-server")
        };
        let dir = std::env::temp_dir().join(format!("oxwsgi-site-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("auth.wsgi"), "").unwrap();
        std::fs::write(dir.join("auth.crt"), "").unwrap();
        std::fs::write(dir.join("auth.key"), "").unwrap();
        let env = Environment {
            current_dir: dir,
            uid: 1000,
            ..Environment::default()
        };
        start_server(&args, &env)
    }

    fn rule_of(config: &ServerConfig, host: usize) -> Option<AccessRule> {
        config.access.of_host(host).rule_for(b"/x").cloned()
    }

    #[test]
    fn a_server_name_makes_a_refusing_default_host_and_a_named_one() {
        let config = config(&[
            "--port",
            "8080",
            "--server-name",
            "WWW.Example.com",
            "--server-alias",
            "*.example.org",
        ])
        .unwrap();
        let names: Vec<&[String]> = config.hosts.iter().map(|h| h.names.as_slice()).collect();
        assert_eq!(
            names,
            [
                &[][..],
                &["www.example.com".to_owned(), "*.example.org".to_owned()][..],
                &["example.com".to_owned()][..],
            ]
        );
        assert_eq!(rule_of(&config, 0), Some(AccessRule::All(false)));
        assert_eq!(rule_of(&config, 1), None);
        assert_eq!(
            config.redirects,
            [Redirect {
                when: RedirectWhen::Prefix(MountPoint::root()),
                status: 301,
                target: Some("http://www.example.com:8080/".to_owned()),
                host: Some(2),
            }]
        );
        assert_eq!(config.server_name, "www.example.com");
    }

    #[test]
    fn the_parent_domain_redirects_on_https_too_and_straight_to_it_with_https_only() {
        let redirects = |extra: &[&str]| {
            let mut args = vec![
                "--port",
                "8080",
                "--https-port",
                "8443",
                "--ssl-certificate",
                "auth",
                "--server-name",
                "www.example.com",
            ];
            args.extend_from_slice(extra);
            let config = config(&args).unwrap();
            config
                .redirects
                .iter()
                .filter(|r| config.hosts[r.host.unwrap()].names == ["example.com"])
                .map(|r| (r.status, r.target.clone().unwrap()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            redirects(&[]),
            [
                (301, "http://www.example.com:8080/".to_owned()),
                (301, "https://www.example.com:8443/".to_owned()),
            ]
        );
        assert_eq!(
            redirects(&["--https-only"]),
            [
                (302, "https://www.example.com:8443/".to_owned()),
                (301, "https://www.example.com:8443/".to_owned()),
            ]
        );
    }

    #[test]
    fn allow_localhost_lets_this_machine_use_the_default_host() {
        let config = config(&["--server-name", "example.com", "--allow-localhost"]).unwrap();
        assert_eq!(config.hosts.len(), 2);
        assert_eq!(rule_of(&config, 0), Some(AccessRule::Local));
    }

    #[test]
    fn name_options_need_a_server_name() {
        for option in [&["--server-alias", "a.example"][..], &["--allow-localhost"]] {
            let err = config(option).unwrap_err().to_string();
            assert!(err.contains("needs --server-name"), "{err}");
        }
        let err = config(&["--server-name", "a.example:80"]).unwrap_err();
        assert!(err.to_string().starts_with("--server-name a.example:80: "));
    }

    #[test]
    fn an_auth_user_script_guards_the_whole_site_as_express_does() {
        let config = config(&[
            "--port",
            "8080",
            "--auth-user-script",
            "auth.wsgi",
            "--auth-group-script",
            "auth.wsgi",
            "--auth-group",
            "staff",
            "--host-access-script",
            "auth.wsgi",
        ])
        .unwrap();
        let settings = config.access.auth_for(b"/static/a.css");
        let script = settings.user_script.clone().unwrap();
        assert!(script.is_absolute() && script.ends_with("auth.wsgi"));
        assert_eq!(settings.auth_type(), Some("Basic"));
        assert_eq!(settings.name.as_deref(), Some("localhost:8080"));
        assert_eq!(settings.basic_providers, Some(vec![AuthProvider::Wsgi]));
        assert_eq!(settings.group_script.as_deref(), Some(script.as_path()));
        assert_eq!(settings.access_script.as_deref(), Some(script.as_path()));
        assert_eq!(
            config.access.rule_for(b"/"),
            Some(&AccessRule::AllOf(vec![
                AccessRule::ValidUser,
                AccessRule::WsgiGroup(vec!["staff".to_owned()]),
            ]))
        );
        assert_eq!(config.access.scripts(), [script]);
    }

    #[test]
    fn script_options_are_checked() {
        let err = config(&["--auth-user-script", "missing.wsgi"]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("the user authentication script (--auth-user-script) '"),
            "{err}"
        );
        let err = config(&["--auth-group-script", "auth.wsgi"]).unwrap_err();
        assert!(
            err.to_string().contains("needs --auth-user-script"),
            "{err}"
        );
        let err = config(&["--auth-user-script", "auth.wsgi", "--auth-type", "NTLM"])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "--auth-type NTLM: the authentication scheme is Basic or Digest"
        );
        let digest = config(&["--auth-user-script", "auth.wsgi", "--auth-type", "digest"]).unwrap();
        let settings = digest.access.auth_for(b"/");
        assert_eq!(settings.auth_type(), Some("Digest"));
        assert_eq!(settings.digest_providers, Some(vec![AuthProvider::Wsgi]));
    }
}
