//! Loading the scripts, the environ a script sees, and the way through the pool: refusals and
//! timeouts.

use std::path::{Path, PathBuf};
use std::time::Duration;

use oxwsgi_config::AppEntry;
use oxwsgi_exchange::{AuthAnswer, AuthQuery, AuthQuestion};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use tokio::sync::oneshot;

use super::{ScriptDir, Thread, access, check, environ_settings, identity, python, request};
use crate::auth_script::{AuthScripts, load_auth_scripts};
use crate::error::AppLoadError;
use crate::pool::{MountedApp, PoolSettings, WsgiPool, answer_queue_timeout};
use crate::request::{AuthTask, Task};

#[test]
fn the_script_sees_the_request_environ_without_body_or_credentials() {
    let dir = ScriptDir::new("environ");
    let script = dir.write(
        "auth.wsgi",
        r#"
seen = {}
def check_password(environ, user, password):
    seen.update(environ)
    seen["input"] = environ["wsgi.input"].read()
    seen["file"] = __file__
    seen["module"] = __name__
    environ["wsgi.errors"].write("checked without a newline")
    return True
"#,
    );
    let scripts = load_auth_scripts(python(), std::slice::from_ref(&script)).expect("it loads");
    Python::attach(|py| {
        let thread = Thread::new(py, scripts);
        assert_eq!(
            thread.ask(py, &script, check(b"alice")),
            AuthAnswer::Granted { user: None }
        );
        let namespace = thread.shared.scripts.namespace(&script).unwrap().bind(py);
        let seen = namespace.get_item("seen").unwrap().unwrap();
        let seen = seen.cast::<PyDict>().unwrap();
        let text =
            |key: &str| -> String { seen.get_item(key).unwrap().unwrap().extract().unwrap() };
        assert_eq!(text("REQUEST_METHOD"), "GET");
        assert_eq!(text("SCRIPT_NAME"), "/private");
        assert_eq!(text("PATH_INFO"), "/page");
        assert_eq!(text("QUERY_STRING"), "x=1");
        assert_eq!(text("HTTP_X_TEST"), "yes");
        assert_eq!(text("REMOTE_ADDR"), "192.0.2.7");
        assert_eq!(text("mod_wsgi.request_id"), "auth-test");
        assert!(!seen.contains("HTTP_AUTHORIZATION").unwrap());
        assert!(seen.contains("wsgi.errors").unwrap());
        let input: Vec<u8> = seen.get_item("input").unwrap().unwrap().extract().unwrap();
        assert!(input.is_empty());
        assert_eq!(text("file"), script.display().to_string());
        let module = text("module");
        assert!(
            module.starts_with("_mod_wsgi_") && module.len() == "_mod_wsgi_".len() + 32,
            "{module}"
        );
    });
}

#[test]
fn a_script_that_is_also_an_application_script_is_one_module() {
    let dir = ScriptDir::new("shared_module");
    let script = dir.write(
        "app.wsgi",
        "runs = globals().get('runs', 0) + 1\ndef application(environ, start_response): pass\n",
    );
    let app = load_application_script(&script);
    let scripts = load_auth_scripts(python(), std::slice::from_ref(&script)).expect("it loads");
    Python::attach(|py| {
        let namespace = scripts.namespace(&script).unwrap().bind(py);
        let app_globals = app.bind(py).getattr("__globals__").unwrap();
        assert!(namespace.is(&app_globals));
        let runs: u32 = namespace
            .get_item("runs")
            .unwrap()
            .unwrap()
            .extract()
            .unwrap();
        assert_eq!(runs, 1);
    });
}

fn load_application_script(path: &Path) -> Py<PyAny> {
    let loaded = crate::load_application(
        python(),
        &AppEntry::Script(path.to_owned()),
        "application",
        "oxwsgi/test",
    )
    .expect("the application loads");
    loaded.callable
}

#[test]
fn scripts_that_cannot_load_fail_naming_the_file() {
    let dir = ScriptDir::new("load_failures");
    let missing = dir.0.join("missing.wsgi");
    let syntax = dir.write("syntax.wsgi", "def check_password(:\n");
    let raises = dir.write("raises.wsgi", "raise ImportError('no ldap module')\n");
    for (path, expected) in [
        (&missing, "FileNotFoundError"),
        (&syntax, "SyntaxError"),
        (&raises, "no ldap module"),
    ] {
        let err = load_auth_scripts(python(), std::slice::from_ref(path)).unwrap_err();
        let AppLoadError::Raised {
            what, traceback, ..
        } = &err
        else {
            panic!("{err}");
        };
        assert!(what.contains(&path.display().to_string()), "{what}");
        assert!(traceback.contains(expected), "{traceback}");
    }
}

/// A pool around the welcome application and `scripts`, with a runtime to wait on it.
fn pool(
    scripts: AuthScripts,
    request_timeout: Option<Duration>,
) -> (WsgiPool, tokio::runtime::Runtime) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let app = crate::load_application(python(), &AppEntry::Welcome, "application", "oxwsgi/test")
        .expect("the welcome page loads");
    let pool = WsgiPool::start(
        python(),
        vec![MountedApp {
            app,
            identity: identity(),
        }],
        scripts,
        PoolSettings {
            threads: 1,
            queue_backlog: 4,
            connect_timeout: Duration::ZERO,
            queue_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(30),
            environ: environ_settings(),
            runtime: runtime.handle().clone(),
            request_timeout,
            interrupt_timeout: None,
            deadlock_timeout: None,
            slow_requests: None,
            board: oxwsgi_scoreboard::Scoreboard::private(1),
            server_metrics: false,
        },
        |_| {},
    )
    .expect("the pool starts");
    (pool, runtime)
}

fn query(script: &Path, question: AuthQuestion) -> AuthQuery {
    AuthQuery {
        script: script.to_owned(),
        question,
        request: request(),
    }
}

#[test]
fn the_pool_answers_questions_and_refuses_them_once_shut_down() {
    let dir = ScriptDir::new("pool");
    let script = dir.write(
        "auth.wsgi",
        "def check_password(environ, user, password):\n    return password == 'secret'\n",
    );
    let scripts = load_auth_scripts(python(), std::slice::from_ref(&script)).expect("it loads");
    let (pool, runtime) = pool(scripts, None);
    let answer = runtime.block_on(pool.authorize(query(&script, check(b"alice"))));
    assert_eq!(answer, AuthAnswer::Granted { user: None });
    assert!(pool.shutdown(Duration::from_secs(5)));
    let answer = runtime.block_on(pool.authorize(query(&script, check(b"alice"))));
    assert_eq!(answer, AuthAnswer::Failed);
}

#[test]
fn a_script_stuck_past_the_request_timeout_is_answered_as_failed() {
    let dir = ScriptDir::new("stuck");
    let script = dir.write(
        "auth.wsgi",
        "import time\ndef allow_access(environ, host):\n    time.sleep(1.5)\n    return True\n",
    );
    let scripts = load_auth_scripts(python(), std::slice::from_ref(&script)).expect("it loads");
    let (pool, runtime) = pool(scripts, Some(Duration::from_millis(200)));
    let answer = runtime.block_on(pool.authorize(query(&script, access("192.0.2.1"))));
    assert_eq!(answer, AuthAnswer::Failed);
}

#[test]
fn a_question_past_the_queue_timeout_is_answered_as_failed() {
    let (answer, mut receiver) = oneshot::channel();
    let task = Task::Authorize(AuthTask {
        script: PathBuf::from("/srv/auth.wsgi"),
        question: check(b"alice"),
        answer,
    });
    answer_queue_timeout(request(), task, Duration::from_secs(1));
    assert_eq!(receiver.try_recv().unwrap(), AuthAnswer::Failed);
}
