//! The authentication scripts against a real interpreter: here, each function's answers read
//! as mod_wsgi reads them; in `loading`, loading, the environ and the pool.
//!
//! The interpreter is started once for the test binary (Python cannot start twice in a
//! process); each test writes its scripts into a directory of its own, so their module names
//! (from the path) never meet.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use oxwsgi_config::PythonSettings;
use oxwsgi_exchange::{AppRequest, AuthAnswer, AuthQuestion};
use pyo3::prelude::*;
use tokio::sync::oneshot;

mod loading;

use super::{AuthScripts, ask, load_auth_scripts};
use crate::environ::{AppIdentity, EnvironBuilder, EnvironSettings, ListenerIdentity};
use crate::file_wrapper::FileWrapper;
use crate::gil::{ThreadContext, make_context};
use crate::handler::{AppSlot, Shared};
use crate::interpreter::PythonRuntime;
use crate::pool::JobQueue;
use crate::request::AuthTask;
use crate::watchdog::{Limits, ThreadSlot, Watch};

fn python() -> &'static PythonRuntime {
    static RUNTIME: OnceLock<PythonRuntime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let settings = PythonSettings {
            working_directory: std::env::current_dir().expect("a current directory"),
            ..PythonSettings::default()
        };
        crate::initialize(&settings, crate::Startup::Embedded).expect("Python starts")
    })
}

/// A directory of scripts for one test, removed with it.
struct ScriptDir(PathBuf);

impl ScriptDir {
    fn new(test: &str) -> ScriptDir {
        let dir = std::env::temp_dir().join(format!("oxwsgi-auth-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        ScriptDir(dir)
    }

    fn write(&self, name: &str, source: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, source).expect("the script is written");
        path
    }
}

impl Drop for ScriptDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `GET /private/page?x=1` under an application mounted at `/private`, with credentials and
/// one custom header.
fn request() -> AppRequest {
    let (head, ()) = http::Request::get("/private/page?x=1")
        .header("host", "example.com")
        .header("authorization", "Basic YWxpY2U6c2VjcmV0")
        .header("x-test", "yes")
        .body(())
        .expect("a valid request")
        .into_parts();
    AppRequest {
        app: 0,
        listener: 0,
        head,
        path: Bytes::from_static(b"/private/page"),
        script_name_len: "/private".len(),
        body: None,
        body_limit: 0,
        remote: "192.0.2.7:40000".parse().unwrap(),
        local: "127.0.0.1:8000".parse().unwrap(),
        request_id: "auth-test".to_owned(),
        received_at: SystemTime::now(),
        redirect: None,
        tls: None,
        proxied: None,
        authenticated: None,
    }
}

fn environ_settings() -> EnvironSettings {
    EnvironSettings {
        server_software: "oxwsgi/test".to_owned(),
        server_name: "localhost".to_owned(),
        process_group: "test".to_owned(),
        application_group: String::new(),
        multithread: true,
        multiprocess: false,
        run_once: false,
        listeners: vec![ListenerIdentity {
            host: String::new(),
            port: 8000,
            scheme: "http",
        }],
    }
}

fn identity() -> AppIdentity {
    AppIdentity {
        script_name: None,
        script_filename: Some("/srv/app.wsgi".to_owned()),
        callable: "application".to_owned(),
        environ: Vec::new(),
        // As the application would get it; the scripts' environ still has no credentials.
        pass_authorization: true,
        document_root: "/srv/htdocs".to_owned(),
        head_as_get: false,
    }
}

/// One Python thread's worth of a pool, around the scripts.
struct Thread {
    shared: Shared,
    context: ThreadContext,
}

impl Thread {
    fn new(py: Python<'_>, scripts: AuthScripts) -> Thread {
        let file_wrapper = py.get_type::<FileWrapper>();
        let environ = EnvironBuilder::new(
            py,
            &environ_settings(),
            &[identity()],
            file_wrapper.as_any(),
        )
        .expect("the environ template");
        let board = oxwsgi_scoreboard::Scoreboard::private(1);
        let slot = Arc::new(ThreadSlot::new(board.clone(), 0));
        let watch = Arc::new(Watch::new(
            Box::new([Arc::clone(&slot)]),
            Limits {
                request_timeout: None,
                interrupt_timeout: None,
                deadlock_timeout: None,
                slow_requests: None,
            },
            Box::new(|_| {}),
        ));
        let shared = Shared {
            queue: Arc::new(JobQueue::new(1, 1, Duration::from_secs(60), board)),
            apps: Box::new([AppSlot {
                callable: py.None(),
                description: "the test's application".to_owned(),
            }]),
            environ,
            watch,
            scripts,
        };
        let context = make_context(py, 0, slot).expect("a thread context");
        Thread { shared, context }
    }

    fn ask(&self, py: Python<'_>, script: &Path, question: AuthQuestion) -> AuthAnswer {
        let (answer, mut receiver) = oneshot::channel();
        let task = AuthTask {
            script: script.to_owned(),
            question,
            answer,
        };
        ask(
            py,
            &self.shared,
            &self.context,
            request(),
            task,
            SystemTime::now(),
        );
        receiver.try_recv().expect("the question was answered")
    }
}

/// Loads `source` as the only script of a thread, and returns the answers to `questions`.
fn answers(test: &str, source: &str, questions: Vec<AuthQuestion>) -> Vec<AuthAnswer> {
    let dir = ScriptDir::new(test);
    let script = dir.write("auth.wsgi", source);
    let scripts = load_auth_scripts(python(), std::slice::from_ref(&script)).expect("it loads");
    Python::attach(|py| {
        let thread = Thread::new(py, scripts);
        questions
            .into_iter()
            .map(|question| thread.ask(py, &script, question))
            .collect()
    })
}

fn check(user: &'static [u8]) -> AuthQuestion {
    AuthQuestion::CheckPassword {
        user: Bytes::from_static(user),
        password: Bytes::from_static(b"secret"),
    }
}

fn realm(user: &'static [u8]) -> AuthQuestion {
    AuthQuestion::RealmHash {
        user: Bytes::from_static(user),
        realm: "Zo\u{eb}".to_owned(),
    }
}

fn groups(user: &'static [u8]) -> AuthQuestion {
    AuthQuestion::GroupsForUser {
        user: Bytes::from_static(user),
    }
}

fn access(host: &str) -> AuthQuestion {
    AuthQuestion::AllowAccess {
        host: host.to_owned(),
    }
}

#[test]
fn check_password_results_are_read_as_mod_wsgi_reads_them() {
    let source = r#"
RESULTS = {
    "none": None, "yes": True, "no": False, "alias": "alice\u00e9", "empty": "",
    "number": 1, "surrogate": "\udc80",
}
def check_password(environ, user, password):
    if user == "raise":
        raise RuntimeError("the user database is down")
    return RESULTS[user]
"#;
    let got = answers(
        "check_password",
        source,
        vec![
            check(b"none"),
            check(b"yes"),
            check(b"no"),
            check(b"alias"),
            check(b"empty"),
            check(b"number"),
            check(b"surrogate"),
            check(b"raise"),
        ],
    );
    assert_eq!(
        got,
        [
            AuthAnswer::UnknownUser,
            AuthAnswer::Granted { user: None },
            AuthAnswer::Denied,
            AuthAnswer::Granted {
                user: Some(Bytes::from("alice\u{e9}"))
            },
            AuthAnswer::Failed,
            AuthAnswer::Failed,
            AuthAnswer::Failed,
            AuthAnswer::Failed,
        ]
    );
}

#[test]
fn user_and_password_arrive_decoded_from_latin1() {
    let source = r#"
def check_password(environ, user, password):
    return user == "caf\u00e9" and password == "p\u00e4ss\u00ff"
"#;
    let question = AuthQuestion::CheckPassword {
        user: Bytes::from_static(b"caf\xe9"),
        password: Bytes::from_static(b"p\xe4ss\xff"),
    };
    assert_eq!(
        answers("latin1", source, vec![question]),
        [AuthAnswer::Granted { user: None }]
    );
}

#[test]
fn get_realm_hash_results_are_read_as_mod_wsgi_reads_them() {
    let source = r#"
RESULTS = {
    "none": None, "bytes": b"0123abcd", "str": "0123abcd", "empty": "", "empty-bytes": b"",
    "wide": "\u20ac", "number": 5,
}
def get_realm_hash(environ, user, realm):
    if user == "realm":
        return realm
    return RESULTS[user]
"#;
    let got = answers(
        "get_realm_hash",
        source,
        vec![
            realm(b"none"),
            realm(b"bytes"),
            realm(b"str"),
            realm(b"empty"),
            realm(b"empty-bytes"),
            realm(b"wide"),
            realm(b"number"),
            // The realm reaches the script as its bytes decoded from Latin-1, as under
            // mod_wsgi, and comes back as the same bytes.
            realm(b"realm"),
        ],
    );
    assert_eq!(
        got,
        [
            AuthAnswer::UnknownUser,
            AuthAnswer::RealmHash(Bytes::from_static(b"0123abcd")),
            AuthAnswer::RealmHash(Bytes::from_static(b"0123abcd")),
            AuthAnswer::Failed,
            AuthAnswer::Failed,
            AuthAnswer::Failed,
            AuthAnswer::Failed,
            AuthAnswer::RealmHash(Bytes::from("Zo\u{eb}")),
        ]
    );
}

#[test]
fn groups_for_user_results_are_read_as_mod_wsgi_reads_them() {
    let source = r#"
def broken():
    yield "staff"
    raise RuntimeError("the directory went away")

RESULTS = {
    "list": ["staff", b"admins", "caf\u00e9"], "none": [], "generator": None,
    "not-iterable": 5, "bad-item": ["staff", 3], "wide": ["\u20ac"], "broken": None,
}
def groups_for_user(environ, user):
    if user == "generator":
        return (name for name in ("a", "b"))
    if user == "broken":
        return broken()
    return RESULTS[user]
"#;
    let got = answers(
        "groups_for_user",
        source,
        vec![
            groups(b"list"),
            groups(b"none"),
            groups(b"generator"),
            groups(b"not-iterable"),
            groups(b"bad-item"),
            groups(b"wide"),
            groups(b"broken"),
        ],
    );
    assert_eq!(
        got,
        [
            AuthAnswer::Groups(vec![
                Bytes::from_static(b"staff"),
                Bytes::from_static(b"admins"),
                Bytes::from_static(b"caf\xe9"),
            ]),
            AuthAnswer::Groups(Vec::new()),
            AuthAnswer::Groups(vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")]),
            AuthAnswer::Failed,
            AuthAnswer::Failed,
            AuthAnswer::Failed,
            AuthAnswer::Failed,
        ]
    );
}

#[test]
fn allow_access_results_are_read_as_mod_wsgi_reads_them() {
    let source = r#"
RESULTS = {"192.0.2.1": True, "192.0.2.2": False, "192.0.2.3": None, "192.0.2.4": "yes"}
def allow_access(environ, host):
    if host == "192.0.2.5":
        raise RuntimeError("no list of hosts")
    return RESULTS[host]
"#;
    let got = answers(
        "allow_access",
        source,
        vec![
            access("192.0.2.1"),
            access("192.0.2.2"),
            access("192.0.2.3"),
            access("192.0.2.4"),
            access("192.0.2.5"),
        ],
    );
    assert_eq!(
        got,
        [
            AuthAnswer::Access(Some(true)),
            AuthAnswer::Access(Some(false)),
            AuthAnswer::Access(None),
            // The wrong type and an exception are "not allowed", as mod_wsgi assumes.
            AuthAnswer::Access(Some(false)),
            AuthAnswer::Access(Some(false)),
        ]
    );
}

#[test]
fn a_missing_function_fails_and_access_is_then_refused() {
    let got = answers(
        "missing_function",
        "x = 1\n",
        vec![
            check(b"alice"),
            realm(b"alice"),
            groups(b"alice"),
            access("192.0.2.1"),
        ],
    );
    assert_eq!(
        got,
        [
            AuthAnswer::Failed,
            AuthAnswer::Failed,
            AuthAnswer::Failed,
            AuthAnswer::Access(Some(false)),
        ]
    );
}

#[test]
fn missing_function_messages_are_mod_wsgis() {
    let script = Path::new("/srv/auth.wsgi");
    assert_eq!(
        super::answer::missing_function(&check(b"a"), script),
        "Target WSGI user authentication script '/srv/auth.wsgi' does not provide 'Basic' \
         auth provider."
    );
    assert_eq!(
        super::answer::missing_function(&realm(b"a"), script),
        "Target WSGI user authentication script '/srv/auth.wsgi' does not provide 'Digest' \
         auth provider."
    );
    assert_eq!(
        super::answer::missing_function(&groups(b"a"), script),
        "Target WSGI group authentication script '/srv/auth.wsgi' does not provide \
         'groups_for_user' callable."
    );
    assert_eq!(
        super::answer::missing_function(&access("h"), script),
        "Target WSGI host access script '/srv/auth.wsgi' does not provide 'allow_access' \
         callable."
    );
}

#[test]
fn a_script_the_worker_did_not_load_fails() {
    python();
    Python::attach(|py| {
        let thread = Thread::new(py, AuthScripts::default());
        let nowhere = Path::new("/nonexistent/auth.wsgi");
        assert_eq!(thread.ask(py, nowhere, check(b"alice")), AuthAnswer::Failed);
        assert_eq!(
            thread.ask(py, nowhere, access("192.0.2.1")),
            AuthAnswer::Access(Some(false))
        );
    });
}
