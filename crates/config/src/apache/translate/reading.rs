//! The directive readers: each directive and section httpd would honour, read into the
//! [`Site`](super::Site) being built (what it sets, or an error naming its file and line).
//!
//! Separate from the assembly of the model: reading one directive needs only the directive
//! and what was read before it, never the check's report or the other virtual hosts.

use std::path::{Path, PathBuf};

use super::Translator;
use crate::access::AccessRule;
use crate::apache::access;
use crate::apache::directives::{Disposition, spec};
use crate::apache::lines::{EnvChange, env_changes, parse_header_edit, parse_redirect};
use crate::apache::{Directive, Node, Section};
use crate::model::{LogDestination, LogLevel};
use crate::redirect::ErrorBody;

impl Translator<'_> {
    /// A `<Directory>`, `<Location>` or `<Files>` section: what it holds must mean the same
    /// as the site without it, except for what the translation reads from it.
    pub(super) fn section(&mut self, section: &Section) {
        let Some(spec) = spec(&section.name, true) else {
            return;
        };
        if spec.disposition != Disposition::Honoured {
            return;
        }
        let container = [
            "Directory",
            "Location",
            "Files",
            "FilesMatch",
            "DirectoryMatch",
            "LocationMatch",
        ]
        .iter()
        .any(|name| section.is(name));
        if !container {
            self.not_yet(&section.origin, &format!("<{}>", section.name));
            return;
        }
        match access::section_rule(&section.children) {
            Ok(Some(rule)) => {
                let target = section.args.first().cloned().unwrap_or_default();
                if section.is("Directory") {
                    let dir = self.path(target.trim_end_matches('/'));
                    self.site.directory_rules.push((dir, rule));
                } else if section.is("Location") {
                    self.site
                        .location_rules
                        .push((target, rule, section.origin.clone()));
                } else if rule != AccessRule::All(true) {
                    self.not_yet(
                        &section.origin,
                        &format!("access rules inside <{}>", section.name),
                    );
                }
            }
            Ok(None) => {}
            Err(problem) if problem.not_yet => self.not_yet(&problem.origin, &problem.message),
            Err(problem) => self.error(&problem.origin, problem.message),
        }
        match access::section_auth(&section.children) {
            Ok(Some(mut settings)) => {
                // Relative to `ServerRoot`, as `ap_set_file_slot` makes them.
                for file in [&mut settings.user_file, &mut settings.group_file]
                    .into_iter()
                    .flatten()
                {
                    *file = self.path(&file.to_string_lossy());
                }
                // The scripts too (mod_wsgi's `ap_server_root_relative`); unlike the
                // password files, which httpd opens per request, a script is loaded when a
                // worker starts, so one that is not there is an error now.
                let scripts = [
                    &mut settings.user_script,
                    &mut settings.group_script,
                    &mut settings.access_script,
                ];
                for script in scripts.into_iter().flatten() {
                    let written = script.to_string_lossy().into_owned();
                    *script = self.path(&written);
                    if !script.is_file() {
                        let origin = section
                            .children
                            .iter()
                            .find_map(|n| match n {
                                Node::Directive(d)
                                    if access::SCRIPT_DIRECTIVES.iter().any(|x| d.is(x))
                                        && d.args.first() == Some(&written) =>
                                {
                                    Some(d.origin.clone())
                                }
                                _ => None,
                            })
                            .unwrap_or_else(|| section.origin.clone());
                        self.error(
                            &origin,
                            format!(
                                "the script {} is not a file that can be read",
                                script.display()
                            ),
                        );
                    }
                }
                let target = section.args.first().cloned().unwrap_or_default();
                if section.is("Directory") {
                    let dir = self.path(target.trim_end_matches('/'));
                    self.site.directory_auth.push((dir, settings));
                } else if section.is("Location") {
                    self.site.location_auth.push((target, settings));
                } else {
                    self.not_yet(
                        &section.origin,
                        &format!("authentication inside <{}>", section.name),
                    );
                }
            }
            Ok(None) => {}
            Err(problem) if problem.not_yet => self.not_yet(&problem.origin, &problem.message),
            Err(problem) => self.error(&problem.origin, problem.message),
        }
        let changes: Vec<EnvChange> = section
            .children
            .iter()
            .filter_map(|n| match n {
                Node::Directive(d) if ["SetEnv", "UnsetEnv", "PassEnv"].iter().any(|x| d.is(x)) => {
                    Some(env_changes(d))
                }
                _ => None,
            })
            .flatten()
            .collect();
        if !changes.is_empty() {
            let target = section.args.first().cloned().unwrap_or_default();
            if section.is("Directory") {
                let dir = self.path(target.trim_end_matches('/'));
                self.site.directory_environ.push((dir, changes));
            } else if section.is("Location") {
                self.site
                    .location_environ
                    .push((target, changes, section.origin.clone()));
            } else {
                self.not_yet(
                    &section.origin,
                    &format!("SetEnv inside <{}>", section.name),
                );
            }
        }
        for node in section
            .children
            .iter()
            .filter(|n| !access::is_access(n) && !access::is_auth(n))
        {
            match node {
                Node::Section(inner) => self.section(inner),
                Node::Directive(d) if ["SetEnv", "UnsetEnv", "PassEnv"].iter().any(|x| d.is(x)) => {
                }
                Node::Directive(d) => self.inside_section(d, section),
            }
        }
    }

    fn inside_section(&mut self, d: &Directive, section: &Section) {
        if spec(&d.name, false).is_none_or(|s| s.disposition != Disposition::Honoured) {
            return;
        }
        let args: Vec<String> = d.args.iter().map(|a| a.to_ascii_lowercase()).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match d.name.to_ascii_lowercase().as_str() {
            // Read by the check's routing (process and application groups), or harmless; a
            // directory of scripts takes its groups from its own.
            "wsgiprocessgroup" | "wsgiapplicationgroup" if section.is("Directory") => {
                let dir = self.path(section.args.first().map_or("", String::as_str));
                let value = d.args.first().cloned().unwrap_or_default();
                if d.is("WSGIProcessGroup") {
                    self.site.script_directories.process_group(dir, value);
                } else {
                    self.site.script_directories.application_group(dir, value);
                }
            }
            "wsgiprocessgroup" | "wsgiapplicationgroup" | "allowoverride" => {}
            "addhandler" | "sethandler"
                if section.is("Directory") && args.first() == Some(&"wsgi-script") =>
            {
                let dir = self.path(section.args.first().map_or("", String::as_str));
                let extensions = d.is("AddHandler").then(|| d.args[1..].to_vec());
                self.site
                    .script_directories
                    .handler(dir, extensions, &d.origin);
            }
            "options" => {
                let is_document_root = section.is("Directory")
                    && section.args.first().is_some_and(|dir| {
                        self.site
                            .document_root
                            .as_deref()
                            .is_some_and(|root| Path::new(dir.trim_end_matches('/')) == root)
                    });
                if section.is("Directory")
                    && args
                        .iter()
                        .any(|a| matches!(*a, "execcgi" | "+execcgi" | "all"))
                {
                    let dir = self.path(section.args.first().map_or("", String::as_str));
                    self.site.script_directories.exec_cgi(dir);
                }
                for option in &args {
                    let option = option.trim_start_matches(['+', '-']);
                    match option {
                        "indexes" if is_document_root || section.is("Directory") => {
                            self.site.directory_listing =
                                !d.args.iter().any(|a| a.eq_ignore_ascii_case("-indexes"));
                        }
                        "followsymlinks"
                        | "symlinksifownermatch"
                        | "execcgi"
                        | "none"
                        | "all"
                        | "includes"
                        | "includesnoexec"
                        | "multiviews"
                        | "indexes" => {}
                        other => {
                            self.error(&d.origin, format!("Options: unknown option '{other}'"))
                        }
                    }
                }
            }
            "directoryindex" => {
                if section.is("Directory") {
                    let dir = self.path(section.args.first().map_or("", String::as_str));
                    self.site.script_directories.index(dir, d.args.clone());
                }
                self.directory_index(d);
            }
            "header" | "requestheader" if section.is("Location") => {
                let location = section.args.first().cloned().unwrap_or_default();
                self.header_line(d, &location);
            }
            "sethandler" if section.is("Location") && args == ["server-status"] => {
                // mod_status's page, at the section's path; its `Require` lines are the
                // section's access rules, as in httpd.
                let location = section.args.first().cloned().unwrap_or_default();
                match crate::model::MountPoint::parse(&location) {
                    Some(_) => self.site.operations.server_status = Some(location),
                    None => self.error(
                        &d.origin,
                        "SetHandler server-status: the <Location> must be a URL path",
                    ),
                }
            }
            "wsgiignoreactivity" if section.is("Location") => {
                let location = section.args.first().cloned().unwrap_or_default();
                if on(d) {
                    self.site.operations.ignore_activity.push(location);
                }
            }
            "sethandler" if section.is("Location") && args == ["none"] => {
                // httpd: no handler here, so the static files' own. The router already
                // gives an `Alias` precedence over an application.
            }
            "wsgipassauthorization" => {
                let place = section.args.first().cloned().unwrap_or_default();
                if section.is("Location") {
                    let origin = d.origin.clone();
                    self.site
                        .location_pass_authorization
                        .push((place, on(d), origin));
                } else if section.is("Directory") {
                    let dir = self.path(&place);
                    self.site.directory_pass_authorization.push((dir, on(d)));
                } else {
                    self.not_yet(&d.origin, &format!("{} inside <{}>", d.name, section.name));
                }
            }
            "wsgiscriptreloading" => self.site.script_reloading = Some(on(d)),
            name if name.starts_with("ssl") => self.tls_inside_section(d, section),
            _ => self.not_yet(&d.origin, &format!("{} inside <{}>", d.name, section.name)),
        }
    }

    fn directory_index(&mut self, d: &Directive) {
        self.site.directory_index = Some(match d.args.first() {
            Some(first) if first.eq_ignore_ascii_case("disabled") => None,
            first => first.cloned(),
        });
    }

    pub(super) fn directive(&mut self, d: &Directive) {
        if spec(&d.name, false).is_none_or(|s| s.disposition != Disposition::Honoured) {
            return;
        }
        let first = d.args.first().map(String::as_str).unwrap_or("");
        match d.name.to_ascii_lowercase().as_str() {
            name if name.starts_with("ssl") => self.tls_directive(d),
            "listen" => self.listen(d),
            "servername" => {
                let name = first.split_once("://").map_or(first, |(_, rest)| rest);
                let host = name
                    .rsplit_once(':')
                    .filter(|(_, p)| p.parse::<u16>().is_ok())
                    .map_or(name, |(h, _)| h);
                self.site.server_name = Some(host.to_owned());
            }
            "serveralias" => self
                .site
                .server_aliases
                .extend(d.args.iter().map(|a| a.to_ascii_lowercase())),
            "serverroot" => {}
            "documentroot" => self.site.document_root = Some(self.path(first)),
            "alias" => match d.args.as_slice() {
                [url, path] => {
                    let path = self.path(path);
                    self.site
                        .aliases
                        .push((url.clone(), path, d.origin.clone()));
                }
                _ => self.error(&d.origin, "Alias takes a URL path and a file or directory"),
            },
            "aliasmatch" => match d.args.as_slice() {
                [regex, target] => {
                    let target = self.path(target).to_string_lossy().into_owned();
                    self.site
                        .alias_matches
                        .push((regex.clone(), target, d.origin.clone()));
                }
                _ => self.error(
                    &d.origin,
                    "AliasMatch takes a regular expression and a file or directory",
                ),
            },
            "directoryindex" => self.directory_index(d),
            "errorlog" => {
                if first.starts_with('|') || first.starts_with("syslog") {
                    self.not_yet(&d.origin, "an ErrorLog to a program or syslog");
                } else {
                    self.site.error_log = Some(LogDestination::File(self.path(first)));
                }
            }
            "logformat" => match d.args.as_slice() {
                [format] => {
                    self.site.log_formats.insert(String::new(), format.clone());
                }
                [format, nickname] => {
                    self.site
                        .log_formats
                        .insert(nickname.clone(), format.clone());
                }
                _ => self.error(
                    &d.origin,
                    "LogFormat takes a format and an optional nickname",
                ),
            },
            "customlog" | "transferlog" => self.custom_log(d),
            "loglevel" => {
                let level = d
                    .args
                    .iter()
                    .find(|a| !a.contains(':'))
                    .and_then(|a| LogLevel::parse(a));
                match level {
                    Some(level) => self.site.log_level = Some(level),
                    None if d.args.iter().all(|a| a.contains(':')) => {}
                    None => self.error(
                        &d.origin,
                        format!(
                            "LogLevel '{}': not one of {}",
                            d.args.join(" "),
                            LogLevel::NAMES.join(", ")
                        ),
                    ),
                }
            }
            "limitrequestbody" => self.site.limit_request_body = self.number(d),
            "limitrequestline" => self.site.limit_request_line = self.number(d).map(|n| n as usize),
            "limitrequestfieldsize" => {
                self.site.limit_request_field_size = self.number(d).map(|n| n as usize)
            }
            "limitrequestfields" => {
                self.site.limit_request_fields = self.number(d).map(|n| n as usize)
            }
            "timeout" => self.site.timeout = self.number(d),
            "keepalive" => self.site.keep_alive = Some(on(d)),
            "keepalivetimeout" => {
                let value = first.trim_end_matches("ms");
                match value.parse::<u64>() {
                    Ok(n) if first.ends_with("ms") => {
                        self.site.keep_alive_timeout = Some(n.div_ceil(1000))
                    }
                    Ok(n) => self.site.keep_alive_timeout = Some(n),
                    Err(_) => self.error(
                        &d.origin,
                        format!("KeepAliveTimeout '{first}' is not a number of seconds"),
                    ),
                }
            }
            "requestreadtimeout" => self.request_read_timeout(d),
            "listenbacklog" => {
                self.site.listen_backlog = self.number(d).map(|n| n.min(u64::from(u32::MAX)) as u32)
            }
            "pidfile" => self.site.pid_file = Some(self.path(first)),
            "typesconfig" => {
                let path = self.path(first);
                match std::fs::read_to_string(&path) {
                    Ok(text) => self.site.mime_types.extend(crate::mime_types::parse(&text)),
                    Err(err) => self.error(
                        &d.origin,
                        format!("TypesConfig '{}' cannot be read: {err}", path.display()),
                    ),
                }
            }
            "addtype" => {
                if let Some((media_type, extensions)) = d.args.split_first() {
                    for ext in extensions {
                        let ext = ext.trim_start_matches('.').to_ascii_lowercase();
                        self.site.mime_types.insert(ext, media_type.clone());
                    }
                }
            }
            "enablesendfile" => self.site.enable_sendfile = on(d),
            // The user of groups that name none; httpd ignores both unless started as root.
            "user" => self.site.user = Some((first.to_owned(), d.origin.clone())),
            "group" => self.site.group = Some(first.to_owned()),
            "wsgipythonhome" => self.site.python_home = Some((self.path(first), d.origin.clone())),
            "wsgipythonpath" => {
                let paths: Vec<PathBuf> = first
                    .split(':')
                    .filter(|p| !p.is_empty())
                    .map(|p| self.path(p))
                    .collect();
                self.site.python_path.extend(paths);
            }
            "wsgicallableobject" => self.site.callable = Some(first.to_owned()),
            "wsgichunkedrequest" => self.site.chunked_requests = on(d),
            "wsgipythonwarnings" => self.site.python_warnings.push(first.to_owned()),
            "wsgiswitchinterval" => match crate::app_options::switch_interval(first) {
                Some(interval) => self.site.switch_interval = Some(interval),
                None => self.error(
                    &d.origin,
                    format!("WSGISwitchInterval {first}: give a number of seconds above 0"),
                ),
            },
            "wsgierroroverride" => self.site.error_override = on(d),
            "wsgimapheadtoget" => match crate::HeadMapping::parse(first) {
                Some(mapping) => self.site.map_head_to_get = mapping,
                None => self.error(
                    &d.origin,
                    format!("WSGIMapHEADToGET {first}: give On, Off or Auto"),
                ),
            },
            "wsgiservermetrics" => self.site.operations.server_metrics = on(d),
            "wsgislowrequests" => match first.parse::<f64>() {
                Ok(seconds) if seconds.is_finite() && seconds > 0.0 => {
                    self.site.operations.slow_requests =
                        Some(std::time::Duration::from_secs_f64(seconds));
                }
                _ => self.error(
                    &d.origin,
                    format!("WSGISlowRequests {first}: give a number of seconds above 0"),
                ),
            },
            "oxwsgimetricslisten" => {
                let (host, port) = match first.rsplit_once(':') {
                    Some((host, port)) => (Some(host.trim_matches(['[', ']']).to_owned()), port),
                    None => (None, first),
                };
                match port.parse::<u16>() {
                    Ok(port) => {
                        self.site.operations.metrics =
                            Some(crate::operations::MetricsListener { host, port });
                    }
                    Err(_) => self.error(
                        &d.origin,
                        format!("OxwsgiMetricsListen {first}: give [ADDRESS:]PORT"),
                    ),
                }
            }
            "errordocument" => match d.args.as_slice() {
                [code, target] if ErrorBody::status(code).is_some() => {
                    let status = ErrorBody::status(code).unwrap_or(500);
                    self.site.error_documents.retain(|(s, _, _)| *s != status);
                    if let Some(body) = ErrorBody::from_target(target) {
                        self.site.error_documents.push((status, body, d.origin.clone()));
                    }
                }
                _ => self.error(&d.origin, "ErrorDocument takes an error status (400-599) and a text, a local path or a URL"),
            },
            "protocols" => {
                self.site.protocols = Some(d.args.iter().map(|a| a.to_ascii_lowercase()).collect());
            }
            "traceenable" => match first.to_ascii_lowercase().as_str() {
                value @ ("on" | "off") => self.site.trace_enable = Some(value.to_owned()),
                _ => self.not_yet(&d.origin, &format!("TraceEnable {first}")),
            },
            "header" | "requestheader" => self.header_line(d, "/"),
            "redirect" | "redirectmatch" | "redirectpermanent" | "redirecttemp" => {
                match parse_redirect(d) {
                    Ok(redirect) => self.site.redirects.push(redirect),
                    Err(why) => self.error(&d.origin, why),
                }
            }
            "setenv" | "unsetenv" | "passenv" => {
                let changes = env_changes(d);
                self.site.environ.extend(changes);
            }
            "wsgipassauthorization" => self.site.pass_authorization = Some(on(d)),
            "wsgiscriptreloading" => self.site.script_reloading = Some(on(d)),
            "wsgitrustedproxyheaders" | "wsgitrustedproxies" => self.proxy_directive(d),
            // Read through the check's report, or decided while reading.
            "wsgidaemonprocess"
            | "wsgiscriptalias"
            | "wsgiscriptaliasmatch"
            | "wsgiprocessgroup"
            | "wsgiapplicationgroup"
            | "include"
            | "includeoptional"
            | "define"
            | "undefine"
            | "wsgiimportscript" => {}
            "order" | "satisfy" | "allow" | "deny" | "require" => {
                self.site.server_access.push(Node::Directive(d.clone()));
            }
            _ => self.not_yet(&d.origin, &d.name),
        }
    }

    fn header_line(&mut self, d: &Directive, location: &str) {
        match parse_header_edit(d) {
            Ok(edit) => {
                self.site
                    .header_edits
                    .push((location.to_owned(), d.is("RequestHeader"), edit))
            }
            Err((true, what)) => self.not_yet(&d.origin, &what),
            Err((false, why)) => self.error(&d.origin, why),
        }
    }

    fn number(&mut self, d: &Directive) -> Option<u64> {
        match d.args.first().map(|a| a.parse::<u64>()) {
            Some(Ok(n)) => Some(n),
            _ => {
                self.error(&d.origin, format!("{} takes a whole number", d.name));
                None
            }
        }
    }

    fn listen(&mut self, d: &Directive) {
        let Some(address) = d.args.first() else {
            return;
        };
        if d.args
            .get(1)
            .is_some_and(|p| p.eq_ignore_ascii_case("https"))
        {
            self.not_yet(&d.origin, "Listen ... https");
            return;
        }
        let (host, port) = match address.rsplit_once(':') {
            Some((host, port)) => (
                Some(
                    host.trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_owned(),
                ),
                port,
            ),
            None => (None, address.as_str()),
        };
        match port.parse::<u16>() {
            Ok(port) => self.site.listens.push((
                host.filter(|h| !h.is_empty() && h != "*" && h != "0.0.0.0"),
                port,
            )),
            Err(_) => self.error(&d.origin, format!("Listen '{address}': not a port")),
        }
    }

    fn custom_log(&mut self, d: &Directive) {
        let (path, format) = match d.args.as_slice() {
            [path] => (path, None),
            [path, format] => (path, Some(format)),
            [_, _, condition, ..] => {
                self.not_yet(
                    &d.origin,
                    &format!("a conditional access log ({condition})"),
                );
                return;
            }
            [] => return,
        };
        if path.starts_with('|') || path.starts_with("syslog") {
            self.not_yet(&d.origin, "an access log to a program or syslog");
            return;
        }
        let format = match format {
            Some(f) => self
                .site
                .log_formats
                .get(f)
                .cloned()
                .unwrap_or_else(|| f.clone()),
            None => self
                .site
                .log_formats
                .get("")
                .cloned()
                .unwrap_or_else(|| "common".to_owned()),
        };
        if let Err(err) = crate::access_format::AccessFormat::parse(&format) {
            self.error(&d.origin, err.to_string());
            return;
        }
        if self.site.access_log.is_some() {
            self.not_yet(&d.origin, "a second access log");
            return;
        }
        self.site.access_log = Some((LogDestination::File(self.path(path)), format));
    }

    fn request_read_timeout(&mut self, d: &Directive) {
        let mut timeouts = self.site.request_read_timeout.unwrap_or_default();
        for arg in &d.args {
            let Some((stage, spec)) = arg.split_once('=') else {
                self.error(
                    &d.origin,
                    format!("RequestReadTimeout '{arg}': write it as header=... or body=..."),
                );
                return;
            };
            let mut parts = spec.split(',');
            let times = parts.next().unwrap_or("");
            let (timeout, max) = match times.split_once('-') {
                Some((t, m)) => (t.parse::<u64>(), m.parse::<u64>()),
                None => (times.parse::<u64>(), Ok(0)),
            };
            let rate = match parts.next() {
                Some(rate) => rate
                    .strip_prefix("MinRate=")
                    .or_else(|| rate.strip_prefix("minrate="))
                    .and_then(|r| r.parse::<u64>().ok()),
                None => Some(0),
            };
            let (Ok(timeout), Ok(max), Some(rate)) = (timeout, max, rate) else {
                self.error(
                    &d.origin,
                    format!(
                        "RequestReadTimeout '{arg}': not of the form {stage}=20-40,MinRate=500"
                    ),
                );
                return;
            };
            match stage.to_ascii_lowercase().as_str() {
                "header" => timeouts.header = (timeout, max, rate),
                "body" => timeouts.body = (timeout, max, rate),
                "handshake" => {}
                _ => {
                    self.error(
                        &d.origin,
                        format!(
                            "RequestReadTimeout '{arg}': the stages are header, body and handshake"
                        ),
                    );
                    return;
                }
            }
        }
        self.site.request_read_timeout = Some(timeouts);
    }
}

fn on(d: &Directive) -> bool {
    d.args.first().is_some_and(|a| a.eq_ignore_ascii_case("on"))
}
