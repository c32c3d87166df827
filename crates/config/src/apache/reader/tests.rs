use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;
use crate::apache::{ApacheError, Node, ReadOptions, read_config, read_text};

/// A fresh directory for one test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("oxwsgi-apache-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn options(env: &[(&str, &str)]) -> ReadOptions {
    ReadOptions {
        defines: Vec::new(),
        environment: Some(
            env.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
        ),
    }
}

fn read(text: &str) -> Result<Vec<Node>, ApacheError> {
    read_text(
        Path::new("/etc/site.conf"),
        text,
        &options(&[("HOME_DIR", "/home/x")]),
    )
    .map(|config| config.nodes)
}

/// The nodes as `name args` lines, sections indented.
fn outline(nodes: &[Node]) -> Vec<String> {
    fn walk(nodes: &[Node], depth: usize, out: &mut Vec<String>) {
        for node in nodes {
            match node {
                Node::Directive(d) => {
                    out.push(format!(
                        "{}{} {}",
                        "  ".repeat(depth),
                        d.name,
                        d.args.join("|")
                    ));
                }
                Node::Section(s) => {
                    out.push(format!(
                        "{}<{} {}>",
                        "  ".repeat(depth),
                        s.name,
                        s.args.join("|")
                    ));
                    walk(&s.children, depth + 1, out);
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(nodes, 0, &mut out);
    out
}

#[test]
fn seed_000_reads_as_written() {
    let nodes = read(
        "Listen 127.0.0.1:8080\nServerName pecan_test\n\nWSGIDaemonProcess pecan_test threads=5 \
         user=tuan\nWSGIPassAuthorization On\nWSGIScriptAlias / /var/www/pecan_test/app.wsgi\n\
         WSGIProcessgroup pecan_test\nWSGIApplicationgroup %{GLOBAL}\nOrder deny,allow\n\
         Allow from all\n",
    )
    .unwrap();
    assert_eq!(nodes.len(), 9);
    assert_eq!(nodes[2].origin().line, 4);
    assert_eq!(nodes[2].origin().to_string(), "/etc/site.conf:4");
    assert_eq!(
        outline(&nodes)[2],
        "WSGIDaemonProcess pecan_test|threads=5|user=tuan"
    );
}

#[test]
fn sections_nest_and_conditions_are_decided_while_reading() {
    let nodes = read(
        "<IfModule mod_wsgi.c>\n  WSGIPythonHome ${HOME_DIR}/env\n  <Directory /srv>\n    \
         <IfVersion >= 2.4>\n      Require all granted\n    </IfVersion>\n    <IfVersion < 2.4>\n\
               Order allow,deny\n    </IfVersion>\n  </Directory>\n</IfModule>\n\
         <IfModule !wsgi_module>\n  Undefined ${NOPE}\n</IfModule>\n\
         <IfModule mod_rewrite.c>\n  RewriteEngine on\n</IfModule>\n\
         LoadModule rewrite_module modules/mod_rewrite.so\n\
         <IfModule rewrite_module>\n  RewriteEngine on\n</IfModule>\n",
    )
    .unwrap();
    assert_eq!(
        outline(&nodes),
        vec![
            "WSGIPythonHome /home/x/env",
            "<Directory /srv>",
            "  Require all|granted",
            "LoadModule rewrite_module|modules/mod_rewrite.so",
            "RewriteEngine on",
        ]
    );
}

#[test]
fn defines_come_before_the_environment_and_undefined_variables_are_errors() {
    let nodes = read("Define HOME_DIR /srv\nDefine FLAG\nAlias /x ${HOME_DIR}/x\n<IfDefine FLAG>\nA\n</IfDefine>\n<IfDefine !FLAG>\nB\n</IfDefine>\nUnDefine FLAG\n<IfDefine FLAG>\nC\n</IfDefine>\n").unwrap();
    assert_eq!(outline(&nodes), vec!["Alias /x|/srv/x", "A "]);
    let err = read("Listen 80\nAlias /x ${MISSING}/x\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "/etc/site.conf:2: the variable ${MISSING} is not defined: define it with `Define MISSING \
         VALUE` before this line, or set it in the environment"
    );
}

#[test]
fn malformed_sections_name_their_line() {
    let cases = [
        (
            "<Directory /srv>\nRequire all granted\n",
            "/etc/site.conf:1: <Directory> was not closed: add </Directory> at the end of the section",
        ),
        (
            "<Directory /srv>\n</Location>\n",
            "/etc/site.conf:2: expected </Directory> but saw </Location>",
        ),
        (
            "A\n</Directory>\n",
            "/etc/site.conf:2: </Directory> without matching <Directory> section",
        ),
        (
            "<Location /x\n</Location>\n",
            "/etc/site.conf:1: <Location> directive missing closing '>'",
        ),
        (
            "<IfModule nope_module>\n<Directory /x>\n",
            "/etc/site.conf:1: <IfModule> was not closed: add </IfModule> at the end of the section",
        ),
    ];
    for (text, message) in cases {
        assert_eq!(read(text).unwrap_err().to_string(), message, "{text:?}");
    }
}

#[test]
fn includes_follow_server_root_globs_and_directories() {
    let scratch = Scratch::new("include");
    let root = &scratch.0;
    scratch.write("conf.d/b.conf", "B 1\n");
    scratch.write("conf.d/a.conf", "A 1\nInclude sub\n");
    scratch.write("sub/z", "Z 1\n");
    scratch.write("sub/y", "Y 1\n");
    let main = scratch.write(
        "apache2.conf",
        &format!(
            "ServerRoot {}\nInclude conf.d/*.conf\nIncludeOptional missing/*.conf\n\
             IncludeOptional nothing.conf\nLast 1\n",
            root.display()
        ),
    );
    let config = read_config(std::slice::from_ref(&main), &options(&[])).unwrap();
    let names: Vec<&str> = config.nodes.iter().map(Node::name).collect();
    assert_eq!(names, ["ServerRoot", "A", "Y", "Z", "B", "Last"]);
    assert_eq!(config.nodes[2].origin().file.as_path(), root.join("sub/y"));
    assert_eq!(config.files.len(), 5);

    let missing = scratch.write("bad.conf", "Listen 80\nInclude sites/*.conf\n");
    let err = read_config(std::slice::from_ref(&missing), &options(&[])).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:2: Include 'sites/*.conf' matches no file (looked for '{}', relative to \
             ServerRoot); use IncludeOptional for a file that may be absent",
            missing.display(),
            root.join("sites/*.conf").display()
        )
    );
    let looping = scratch.write("loop.conf", "Include loop.conf\n");
    let err = read_config(&[looping], &options(&[])).unwrap_err();
    assert!(matches!(err, ApacheError::IncludeLoop { .. }), "{err}");
}

#[test]
fn envvars_next_to_the_main_file_are_read() {
    let scratch = Scratch::new("envvars");
    scratch.write(
        "envvars",
        "unset HOME\nexport APACHE_RUN_USER=www-data\nexport APACHE_LOG_DIR=/var/log/apache2$SUFFIX\n\
         if [ x ]; then\n  SUFFIX=\nfi\nAPACHE_LOCK_DIR='/var/lock/apache2'\n",
    );
    let main = scratch.write("apache2.conf", "User ${APACHE_RUN_USER}\nErrorLog ${APACHE_LOG_DIR}/error.log\nMutex file:${APACHE_LOCK_DIR} default\n");
    let config = read_config(&[main], &options(&[("APACHE_RUN_USER", "nobody")])).unwrap();
    assert_eq!(
        outline(&config.nodes),
        vec![
            "User www-data",
            "ErrorLog /var/log/apache2/error.log",
            "Mutex file:/var/lock/apache2|default",
        ]
    );
}

#[test]
fn if_version_compares_with_2_4_62() {
    let origin = Origin {
        file: Arc::new(PathBuf::from("x")),
        line: 1,
    };
    let check = |args: &[&str]| {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        if_version(&args, &origin).unwrap()
    };
    assert!(check(&[">=", "2.4"]));
    assert!(!check(&["<", "2.4"]));
    assert!(check(&["2.4"]));
    assert!(!check(&["=", "2.2"]));
    assert!(check(&["!", "2.2"]));
    assert!(check(&["~", r"^2\.4"]));
    assert!(check(&["/^2\\.4\\.6/"]));
    assert!(check(&["<=", "2.4.62"]));
    assert!(!check(&[">", "2.4.62"]));
    assert!(if_version(&["=>".to_owned(), "2".to_owned()], &origin).is_err());
}

#[test]
fn regression_empty_directive_name() {
    // Found by fuzz_apache_reader_any_text: a line of only `""` made a directive with no name.
    assert_eq!(
        read(" \t\"\"").unwrap_err().to_string(),
        "/etc/site.conf:1: a directive with an empty name"
    );
}
