//! mod_wsgi-express's options for what the application runs as and sees: its user and group,
//! environ variables, Python's warnings filter and switch interval, the names of its process
//! and application groups, the supervisor's title, error documents and what replaces the
//! application's error responses, how `HEAD` reaches it, `.htaccess` overrides and chunked
//! request bodies. [`AppOptionsArgs`] is flattened into `start-server`; [`AppOptionsArgs::apply`]
//! puts their values into the model the Apache front end also fills (`User`/`Group`, `SetEnv`,
//! `PassEnv`, `WSGIPythonWarnings`, `switch-interval=`, `WSGIApplicationGroup`,
//! `ErrorDocument`, `WSGIErrorOverride`, `WSGIMapHEADToGET`).

use std::time::Duration;

use clap::Args;

use crate::error::ConfigError;
use crate::model::{AppEntry, HandlerScript, HeadMapping, MountTarget, ServerConfig, WsgiApp};
use crate::redirect::{ErrorBody, ErrorDocument};

const HEADING: &str = "Application environment";

/// The command line's options of this module.
#[derive(Debug, Clone, Default, Args)]
pub struct AppOptionsArgs {
    /// When oxwsgi is started as root: the user the workers (and side services without a
    /// --service-user) switch to before Python starts. Without root it has no effect, as with
    /// mod_wsgi-express [default: the user oxwsgi starts as].
    #[arg(long, value_name = "USERNAME", help_heading = HEADING)]
    pub user: Option<String>,

    /// When oxwsgi is started as root: the group the workers switch to [default: the
    /// --user's primary group, else that of the user oxwsgi starts as].
    #[arg(long, value_name = "GROUP", help_heading = HEADING)]
    pub group: Option<String>,

    /// A key and its value added to every request's WSGI environ (httpd's SetEnv, which
    /// mod_wsgi passes into the environ, not os.environ); the server's own keys win. Repeat
    /// for several [default: none].
    #[arg(
        long,
        num_args = 2,
        value_names = ["KEY", "VALUE"],
        action = clap::ArgAction::Append,
        help_heading = HEADING
    )]
    pub setenv: Vec<String>,

    /// The name of a variable of oxwsgi's own environment whose value is added to every
    /// request's WSGI environ (httpd's PassEnv); one that is not set is left out. Repeat for
    /// several [default: none].
    #[arg(long, value_name = "KEY", help_heading = HEADING)]
    pub passenv: Vec<String>,

    /// An entry for Python's warnings filter in -W syntax
    /// (action:message:category:module:lineno), such as 'error' or
    /// 'ignore::DeprecationWarning'; repeat for several, applied in order [default: Python's
    /// filters].
    #[arg(long, value_name = "SPEC", help_heading = HEADING)]
    pub python_warnings: Vec<String>,

    /// Python's thread switch interval (sys.setswitchinterval), in seconds, set in each worker
    /// before the application loads [default: Python's, 0.005].
    #[arg(long, value_name = "SECONDS", help_heading = HEADING)]
    pub switch_interval: Option<f64>,

    /// The application group: mod_wsgi.application_group and the environ key of that name.
    /// %{GLOBAL} is the main interpreter (''); %{SERVER} is HOST:PORT, %{RESOURCE}
    /// HOST:PORT|MOUNT-POINT; any other name is itself. oxwsgi runs one interpreter per
    /// worker, so this only names it [default: %{GLOBAL}].
    #[arg(long, value_name = "NAME", help_heading = HEADING)]
    pub application_group: Option<String>,

    /// The name of the workers' process group: mod_wsgi.process_group, and the name in their
    /// process titles ('oxwsgi: worker 1 [NAME]') [default: HOST:PORT].
    #[arg(long, value_name = "NAME", help_heading = HEADING)]
    pub process_group: Option<String>,

    /// The supervisor's process title, what ps shows for it, instead of 'oxwsgi:
    /// supervisor' (cut to the length of the command line oxwsgi was started with)
    /// [default: oxwsgi: supervisor].
    #[arg(long, value_name = "NAME", help_heading = HEADING)]
    pub process_name: Option<String>,

    /// What the server answers instead of its own error page for STATUS (400-599): a local
    /// URL path (served with the error's status: a file, or the application's response to a
    /// GET for it), a URL to redirect to, or a text (httpd's ErrorDocument). Applies to the
    /// application's error responses only with --error-override. Repeat for several
    /// [default: none].
    #[arg(
        long,
        num_args = 2,
        value_names = ["STATUS", "DOCUMENT"],
        action = clap::ArgAction::Append,
        help_heading = HEADING
    )]
    pub error_document: Vec<String>,

    /// Replace the application's own error responses (status 400 and above) with the
    /// server's: its --error-document for the status, else its own page (mod_wsgi's
    /// WSGIErrorOverride).
    #[arg(long, help_heading = HEADING)]
    pub error_override: bool,

    /// Whether a HEAD request reaches the application as a GET (the server still sends only
    /// the head): Off, On, or Auto: when --compress-responses is on, whose headers depend on
    /// the whole body (mod_wsgi's WSGIMapHEADToGET).
    #[arg(
        long,
        default_value = "Auto",
        value_name = "OFF|ON|AUTO",
        help_heading = HEADING
    )]
    pub map_head_to_get: String,

    /// Which .htaccess directives may override the configuration under the document root.
    /// oxwsgi reads no .htaccess file: only None is accepted [default: None].
    #[arg(long, value_name = "DIRECTIVE-TYPE", help_heading = HEADING)]
    pub allow_override: Vec<String>,

    /// A WSGI script that answers for the document root's files whose name ends in EXTENSION
    /// (such as .md): the file's URL becomes SCRIPT_NAME, what follows it PATH_INFO, and the
    /// script's handle_request (else its application) is called. Repeat for several
    /// [default: none].
    #[arg(
        long,
        num_args = 2,
        value_names = ["EXTENSION", "SCRIPT-PATH"],
        action = clap::ArgAction::Append,
        help_heading = HEADING
    )]
    pub add_handler: Vec<String>,

    /// Accept request bodies sent with chunked transfer encoding. oxwsgi always does (a
    /// framing error still gets a 400); mod_wsgi-express refuses them with a 411 unless
    /// given. Accepted for its command lines.
    #[arg(long, help_heading = HEADING)]
    pub chunked_request: bool,
}

/// `seconds` as a switch interval: a number of seconds above 0, as mod_wsgi-express requires.
pub fn switch_interval(seconds: &str) -> Option<Duration> {
    seconds
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
}

impl AppOptionsArgs {
    /// Puts the options into `config`, which the rest of the command line made (one group,
    /// one application). `uid` is the user oxwsgi runs as; `host` and `port` make the default
    /// names.
    pub fn apply(
        &self,
        config: &mut ServerConfig,
        uid: u32,
        port: u16,
        current_dir: &std::path::Path,
    ) -> Result<(), ConfigError> {
        for value in &self.allow_override {
            if !value.eq_ignore_ascii_case("none") {
                return Err(ConfigError::Invalid {
                    option: "--allow-override",
                    value: value.clone(),
                    reason: "oxwsgi reads no .htaccess file, so nothing may be overridden there; \
                             give None, or put the directives in an --include-file",
                });
            }
        }
        let map_head_to_get =
            HeadMapping::parse(&self.map_head_to_get).ok_or_else(|| ConfigError::Invalid {
                option: "--map-head-to-get",
                value: self.map_head_to_get.clone(),
                reason: "give Off, On or Auto",
            })?;
        let switch_interval =
            match self.switch_interval {
                Some(seconds) => Some(switch_interval(&seconds.to_string()).ok_or_else(|| {
                    ConfigError::Invalid {
                        option: "--switch-interval",
                        value: seconds.to_string(),
                        reason: "give a positive number of seconds",
                    }
                })?),
                None => None,
            };
        let environ = self.environ()?;
        let error_documents = self.error_documents()?;
        let run_as = self.run_as(uid)?;

        let host_port = format!("{}:{port}", config.server_name);
        for group in &mut config.groups {
            group.python.warnings = self.python_warnings.clone();
            group.python.switch_interval = switch_interval;
            if let Some(name) = &self.process_group {
                group.name = name.clone();
            }
            if run_as.is_some() {
                group.run_as = run_as.clone();
            }
        }
        for service in &mut config.services {
            service.python.warnings = self.python_warnings.clone();
            service.python.switch_interval = switch_interval;
            if service.run_as.is_none() {
                service.run_as = run_as.clone();
            }
        }
        for mount in &mut config.mounts {
            if let MountTarget::Wsgi(app) = &mut mount.target {
                app.environ.extend(environ.iter().cloned());
                app.error_override = self.error_override;
                app.map_head_to_get = map_head_to_get;
                let group = &mut config.groups[app.group];
                group.application_group = self.application_group_name(&host_port, &mount.prefix)?;
            }
        }
        for pair in self.add_handler.chunks(2) {
            let [extension, script] = pair else {
                continue;
            };
            let name = extension.trim_start_matches('.');
            if name.is_empty() || name.contains('/') {
                return Err(ConfigError::Invalid {
                    option: "--add-handler",
                    value: pair.join(" "),
                    reason: "give a file name extension (such as .md) and a WSGI script",
                });
            }
            let script = current_dir.join(script);
            if !script.is_file() {
                return Err(ConfigError::NotAFile {
                    what: "--add-handler script",
                    path: script,
                });
            }
            config.handler_scripts.push(HandlerScript {
                extension: format!(".{}", name.to_ascii_lowercase()),
                app: WsgiApp {
                    group: 0,
                    entry: AppEntry::Script(script),
                    // mod_wsgi's handler scripts define handle_request; express falls back
                    // to application.
                    callable: "handle_request|application".to_owned(),
                    environ: environ.clone(),
                    pass_authorization: true,
                    error_override: self.error_override,
                    map_head_to_get,
                },
            });
        }
        config.error_documents.extend(error_documents);
        config.process_name = self.process_name.clone();
        Ok(())
    }

    /// `--setenv` pairs, then the `--passenv` variables that are set, as express writes its
    /// `SetEnv` lines before its `PassEnv` lines.
    fn environ(&self) -> Result<Vec<(String, String)>, ConfigError> {
        let mut environ = Vec::new();
        for pair in self.setenv.chunks(2) {
            match pair {
                [key, value] if !key.is_empty() => environ.push((key.clone(), value.clone())),
                _ => {
                    return Err(ConfigError::Invalid {
                        option: "--setenv",
                        value: pair.join(" "),
                        reason: "give a key (not empty) and a value",
                    });
                }
            }
        }
        for key in &self.passenv {
            if let Ok(value) = std::env::var(key) {
                environ.push((key.clone(), value));
            }
        }
        Ok(environ)
    }

    fn error_documents(&self) -> Result<Vec<ErrorDocument>, ConfigError> {
        let mut documents: Vec<ErrorDocument> = Vec::new();
        for pair in self.error_document.chunks(2) {
            let [code, target] = pair else {
                continue;
            };
            let status = ErrorBody::status(code).ok_or_else(|| ConfigError::Invalid {
                option: "--error-document",
                value: pair.join(" "),
                reason: "give an error status (400-599) and a URL path, a URL or a text",
            })?;
            // A later one for the same status wins, as in httpd.
            documents.retain(|d| d.status != status);
            if let Some(body) = ErrorBody::from_target(target) {
                documents.push(ErrorDocument {
                    status,
                    body,
                    host: None,
                });
            }
        }
        Ok(documents)
    }

    /// The user the workers switch to: only when started as root, as httpd's `User`.
    fn run_as(&self, uid: u32) -> Result<Option<crate::model::RunAs>, ConfigError> {
        if uid != 0 || (self.user.is_none() && self.group.is_none()) {
            return Ok(None);
        }
        let (option, user) = match (&self.user, &self.group) {
            (Some(user), _) => ("--user", user.clone()),
            // A group alone would leave the workers running as root.
            (None, group) => {
                return Err(ConfigError::NotFound {
                    option: "--group",
                    value: group.clone().unwrap_or_default(),
                    reason: "started as root, a group alone would leave the workers running \
                             as root, which they never do: give --user too, an unprivileged \
                             user such as www-data"
                        .into(),
                });
            }
        };
        crate::users::run_as(&user, self.group.as_deref(), None)
            .map(Some)
            .map_err(|reason| ConfigError::NotFound {
                option,
                value: match &self.group {
                    Some(group) => format!("{user}:{group}"),
                    None => user,
                },
                reason,
            })
    }

    /// The interpreter's name mod_wsgi gives for `--application-group`.
    fn application_group_name(
        &self,
        host_port: &str,
        mount: &crate::model::MountPoint,
    ) -> Result<String, ConfigError> {
        Ok(match self.application_group.as_deref() {
            None | Some("%{GLOBAL}") => String::new(),
            Some("%{SERVER}") => host_port.to_owned(),
            Some("%{RESOURCE}") => format!("{host_port}|{}", mount.as_str()),
            Some(other) if other.starts_with("%{") => {
                return Err(ConfigError::Invalid {
                    option: "--application-group",
                    value: other.to_owned(),
                    reason: "give a name, %{GLOBAL}, %{SERVER} or %{RESOURCE}",
                });
            }
            Some(name) => name.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switch_interval_must_be_positive_seconds() {
        assert_eq!(switch_interval("0.25"), Some(Duration::from_millis(250)));
        assert_eq!(switch_interval("0"), None);
        assert_eq!(switch_interval("-1"), None);
        assert_eq!(switch_interval("soon"), None);
    }

    #[test]
    fn setenv_comes_before_passenv_and_unset_variables_are_left_out() {
        let args = AppOptionsArgs {
            setenv: vec!["A".into(), "1".into()],
            passenv: vec!["PATH".into(), "OXWSGI_SURELY_UNSET_VARIABLE".into()],
            ..AppOptionsArgs::default()
        };
        let environ = args.environ().unwrap();
        assert_eq!(environ[0], ("A".to_owned(), "1".to_owned()));
        assert_eq!(environ[1].0, "PATH");
        assert_eq!(environ.len(), 2);
    }

    #[test]
    fn error_documents_read_as_httpd_reads_them() {
        let args = AppOptionsArgs {
            error_document: vec![
                "404".into(),
                "/missing.html".into(),
                "500".into(),
                "Broken".into(),
                "404".into(),
                "/gone.html".into(),
            ],
            ..AppOptionsArgs::default()
        };
        let documents = args.error_documents().unwrap();
        assert_eq!(documents.len(), 2);
        assert_eq!(documents[0].body, ErrorBody::Text("Broken".into()));
        assert_eq!(documents[1].body, ErrorBody::Local("/gone.html".into()));
        let bad = AppOptionsArgs {
            error_document: vec!["200".into(), "x".into()],
            ..AppOptionsArgs::default()
        };
        assert!(bad.error_documents().is_err());
    }

    #[test]
    fn application_group_tokens_name_the_interpreter() {
        let mount = crate::model::MountPoint::parse("/app").unwrap();
        let named = |value: &str| AppOptionsArgs {
            application_group: Some(value.to_owned()),
            ..AppOptionsArgs::default()
        };
        let name = |value: &str| named(value).application_group_name("localhost:8000", &mount);
        assert_eq!(name("%{GLOBAL}").unwrap(), "");
        assert_eq!(name("%{SERVER}").unwrap(), "localhost:8000");
        assert_eq!(name("%{RESOURCE}").unwrap(), "localhost:8000|/app");
        assert_eq!(name("shop").unwrap(), "shop");
        assert!(name("%{ENV:X}").is_err());
    }
}
