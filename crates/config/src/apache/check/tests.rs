use std::collections::BTreeMap;
use std::path::Path;

use super::*;
use crate::apache::{ReadOptions, read_text};

fn report(text: &str, ignore_unsupported: bool) -> Report {
    let options = ReadOptions {
        defines: Vec::new(),
        environment: Some(BTreeMap::new()),
    };
    let config = read_text(Path::new("/etc/site.conf"), text, &options).unwrap();
    check(&config, ignore_unsupported)
}

fn lines(report: &Report, severity: Severity) -> Vec<String> {
    report
        .notices
        .iter()
        .filter(|n| n.severity == severity)
        .map(ToString::to_string)
        .collect()
}

const SEED_000: &str = "Listen 127.0.0.1:8080\nServerName pecan_test\n\n\
WSGIDaemonProcess pecan_test threads=5 user=tuan\nWSGIPassAuthorization On\n\
WSGIScriptAlias / /var/www/pecan_test/app.wsgi\nWSGIProcessgroup pecan_test\n\
WSGIApplicationgroup %{GLOBAL}\nOrder deny,allow\nAllow from all\n";

#[test]
fn seed_000_passes_with_a_warning_for_its_server_level_access_rules() {
    let report = report(SEED_000, false);
    assert!(!report.has_errors(), "{:?}", report.notices);
    assert_eq!(
        lines(&report, Severity::Warning),
        vec![
            "/etc/site.conf:9: warning: Order outside <Directory> or <Location> applies to the \
             whole server (httpd itself would refuse it here)",
            "/etc/site.conf:10: warning: Allow outside <Directory> or <Location> applies to the \
             whole server (httpd itself would refuse it here)",
        ]
    );
    assert_eq!(report.scripts.len(), 1);
    let script = &report.scripts[0];
    assert_eq!(script.process_group.as_deref(), Some("pecan_test"));
    assert_eq!(script.application_group.as_deref(), Some("%{GLOBAL}"));
    let summary = report.summary();
    assert!(
        summary.contains("  127.0.0.1:8080  (/etc/site.conf:1)\n"),
        "{summary}"
    );
    assert!(
        summary.contains("  pecan_test threads=5 user=tuan  (/etc/site.conf:4)\n"),
        "{summary}"
    );
    assert!(
        summary.contains(
            "  / -> /var/www/pecan_test/app.wsgi  process group pecan_test, application group \
             %{GLOBAL}  (/etc/site.conf:6)\n"
        ),
        "{summary}"
    );
}

#[test]
fn seed_002_takes_its_process_group_from_the_directory_around_the_script() {
    let text = "<IfModule mod_wsgi.c>\n    WSGIPythonHome  /var/www/pyApps/pyenv\n\
        WSGIDaemonProcess pyApps \\\n        user=www-data group=www-data \\\n        processes=2 threads=5 \\\n        maximum-requests=5 umask=0007 \\\n        display-name=pyApps\n\
        <Directory /var/www/pyApps>\n        WSGIProcessGroup pyApps\n        WSGIApplicationGroup %{GLOBAL}\n        Require all granted\n    </Directory>\n</IfModule>\n\
        <IfModule mod_wsgi.c>\n    WSGIScriptAlias /hello.py /var/www/pyApps/helloWorld/index.wsgi\n</IfModule>\n";
    let report = report(text, false);
    assert!(!report.has_errors(), "{:?}", report.notices);
    let script = &report.scripts[0];
    assert_eq!(
        (script.process_group.as_deref(), script.origin.line),
        (Some("pyApps"), 15)
    );
    assert_eq!(report.daemons[0].options["maximum-requests"], "5");
}

#[test]
fn what_oxwsgi_does_not_do_stops_unless_ignored() {
    let text = "Listen 80\nRewriteEngine On\nRewriteRule ^/old$ /new [R]\n";
    let strict = report(text, false);
    assert_eq!(
        lines(&strict, Severity::Error)[1],
        "/etc/site.conf:3: error: RewriteRule is not supported: oxwsgi has no mod_rewrite; \
         express the rule with Alias, Redirect or in the application; remove it, or start with \
         --ignore-unsupported to skip it"
    );
    let lenient = report(text, true);
    assert!(!lenient.has_errors());
    assert_eq!(lines(&lenient, Severity::Warning).len(), 2);
}

#[test]
fn unknown_directives_options_places_and_groups_are_errors() {
    let text = "Listen 80\nWSGIDeamonProcess app\nWSGIDaemonProcess app thread=5\n\
        <Directory /x>\n  Listen 81\n  <VirtualHost *:80>\n  </VirtualHost>\n</Directory>\n\
        WSGIScriptAlias /a /x/a.wsgi process-group=nope\nAllowOverride All\n\
        <Directory /y>\nAllowOverride All\n</Directory>\nLoadModule wsgi_module x.so\n";
    let report = report(text, false);
    assert_eq!(
        lines(&report, Severity::Error),
        vec![
            "/etc/site.conf:2: error: Invalid command 'WSGIDeamonProcess', perhaps misspelled or \
             defined by a module not included in the server configuration",
            "/etc/site.conf:3: error: invalid option to WSGIDaemonProcess: 'thread' (did you \
             mean 'threads'?)",
            "/etc/site.conf:5: error: Listen is not allowed here (inside <Directory>)",
            "/etc/site.conf:6: error: <VirtualHost> is not allowed here (inside <Directory>)",
            "/etc/site.conf:10: error: AllowOverride is not allowed here",
            "/etc/site.conf:12: error: AllowOverride All is not supported: oxwsgi never reads \
             .htaccess files; use AllowOverride None and move their directives here",
            "/etc/site.conf:9: error: the process group 'nope' that serves /a is not defined: \
             add WSGIDaemonProcess nope before it",
        ]
    );
    assert_eq!(
        lines(&report, Severity::Info),
        vec![
            "/etc/site.conf:14: info: LoadModule is accepted without effect: oxwsgi has the \
              modules it implements built in"
        ]
    );
}

/// A file that exists, to import.
fn existing_script() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml").to_owned()
}

#[test]
fn a_service_group_runs_one_global_script_in_one_process_and_serves_nothing() {
    let script = existing_script();
    let text = format!(
        "WSGIDaemonProcess svc threads=0 processes=2\n\
         WSGIImportScript {script} process-group=svc application-group=mine\n\
         WSGIImportScript {script} process-group=svc application-group=%{{GLOBAL}}\n\
         WSGIScriptAlias / {script} process-group=svc\n"
    );
    let report = report(&text, false);
    assert_eq!(
        lines(&report, Severity::Error),
        vec![
            format!(
                "/etc/site.conf:3: error: WSGIImportScript: the service group 'svc' (threads=0) \
                 already runs {script} (/etc/site.conf:2); oxwsgi runs one script per service: \
                 give this one a WSGIDaemonProcess of its own"
            ),
            "/etc/site.conf:2: error: WSGIImportScript into the service group 'svc' \
             (threads=0) runs the script as the main program of the main interpreter: write \
             application-group=%{GLOBAL}"
                .to_owned(),
            "/etc/site.conf:1: error: WSGIDaemonProcess svc: a service group (threads=0) runs \
             one process in oxwsgi; remove processes= or write processes=1"
                .to_owned(),
            "/etc/site.conf:4: error: the process group 'svc' that serves / has threads=0: it \
             serves no requests (it runs a WSGIImportScript as a service); give it threads, or \
             run the application in another group"
                .to_owned(),
        ]
    );
}

#[test]
fn an_import_script_names_a_group_it_can_reach_and_its_options() {
    let script = existing_script();
    let text = format!(
        "<VirtualHost *:80>\nServerName a.example\nWSGIDaemonProcess a\n</VirtualHost>\n\
         <VirtualHost *:80>\nServerName b.example\n\
         WSGIImportScript {script} process-group=a application-group=%{{GLOBAL}}\n\
         </VirtualHost>\n\
         WSGIImportScript {script} process-group=a colour=blue\n\
         WSGIImportScript {script} process-group='a'\n"
    );
    let report = report(&text, false);
    assert_eq!(
        lines(&report, Severity::Error),
        vec![
            "/etc/site.conf:7: error: WSGIImportScript: the process group 'a' belongs to the \
             <VirtualHost> at /etc/site.conf:1, whose ServerName is not this one's: define the \
             group at server level, or load the script from that host",
            "/etc/site.conf:9: error: WSGIImportScript: invalid option 'colour=blue' (the \
             options are process-group=NAME and application-group=NAME)",
            "/etc/site.conf:10: error: WSGIImportScript needs application-group=, the \
             application group to load the script into: WSGIImportScript FILE \
             process-group=NAME application-group=%{GLOBAL}",
        ]
    );
    assert!(report.imports.is_empty());
}
