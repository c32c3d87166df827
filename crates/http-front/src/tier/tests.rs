//! The hop end to end: a [`Forwarder`] and a worker's [`accept_loop`] over a real unix socket,
//! with applications that need no Python.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, Version};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;
use tokio::sync::watch;

use super::forward::{ForwardTarget, Forwarder};
use super::internal::accept_loop;
use crate::application::{
    AppBody, AppError, AppRequest, AppResponse, Application, AuthAnswer, AuthQuery, AuthQuestion,
};
use crate::{NoApplication, NoStream};
use oxwsgi_exchange::Authenticated;

/// A group's applications: every question gets `answer`, every request a 201 naming the
/// application; both are kept for the test to look at.
struct Recorder {
    answer: AuthAnswer,
    asked: Mutex<Vec<AuthQuery>>,
    called: Mutex<Vec<AppRequest>>,
}

impl Recorder {
    fn new(answer: AuthAnswer) -> Arc<Recorder> {
        Arc::new(Recorder {
            answer,
            asked: Mutex::new(Vec::new()),
            called: Mutex::new(Vec::new()),
        })
    }
}

impl Application for Recorder {
    type Stream = NoStream;

    fn call(
        &self,
        request: AppRequest,
    ) -> impl Future<Output = Result<AppResponse<NoStream>, AppError>> + Send + 'static {
        let mut headers = HeaderMap::new();
        headers.insert("x-app", HeaderValue::from(request.app));
        self.called.lock().unwrap().push(request);
        std::future::ready(Ok(AppResponse {
            status: StatusCode::CREATED,
            reason: None,
            headers,
            body: AppBody::Full(Bytes::from_static(b"served")),
            in_flight: None,
        }))
    }

    fn authorize(&self, query: AuthQuery) -> impl Future<Output = AuthAnswer> + Send + 'static {
        self.asked.lock().unwrap().push(query);
        std::future::ready(self.answer.clone())
    }
}

/// A socket path of its own for each test, none there yet.
fn socket_path(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("oxwsgi-tier-{}-{name}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// Serves `app` as a group's worker on `socket` until the returned sender is dropped.
fn worker<A: Application>(socket: &Path, app: Arc<A>) -> (watch::Sender<bool>, watch::Sender<()>) {
    let listener = UnixListener::bind(socket).unwrap();
    let (stop_tx, stop) = watch::channel(false);
    let (open_tx, open) = watch::channel(());
    tokio::spawn(accept_loop(
        listener,
        app,
        100,
        stop,
        open,
        oxwsgi_scoreboard::Scoreboard::private(1),
    ));
    (stop_tx, open_tx)
}

/// The front tier's forwarder, whose application 1 is application 7 of group `g` at `socket`.
fn forwarder(socket: &Path) -> Forwarder {
    let target = |app| ForwardTarget {
        group: "g".to_owned(),
        socket: socket.to_owned(),
        app,
    };
    Forwarder::new(vec![target(0), target(7)])
}

/// A client's request for the front tier's application 1.
fn request(with_body: bool) -> AppRequest {
    let mut head = http::Request::builder()
        .method("POST")
        .uri("/app/x?q=1")
        .version(Version::HTTP_10)
        .header("host", "example.org")
        .header("authorization", "Basic em9lOmh1bnRlcjI=")
        .header("x-one", "1")
        .header("x-one", "2")
        .body(())
        .unwrap()
        .into_parts()
        .0;
    if with_body {
        head.headers
            .insert("content-length", HeaderValue::from_static("5"));
    }
    AppRequest {
        app: 1,
        listener: 0,
        head,
        path: Bytes::from_static(b"/app/x"),
        script_name_len: 4,
        body: None,
        body_limit: 10,
        remote: "192.0.2.7:5000".parse().unwrap(),
        local: "127.0.0.1:80".parse().unwrap(),
        request_id: "req-1".to_owned(),
        received_at: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        redirect: None,
        tls: None,
        proxied: None,
        authenticated: Some(Authenticated {
            user: Bytes::from_static(b"zo\xeb"),
            auth_type: "Basic".to_owned(),
        }),
    }
}

fn query(question: AuthQuestion) -> AuthQuery {
    AuthQuery {
        script: PathBuf::from("/srv/auth/check.wsgi"),
        question,
        request: request(true),
    }
}

#[tokio::test]
async fn a_question_reaches_its_groups_scripts_and_their_answer_comes_back() {
    let socket = socket_path("asked");
    let questions = [
        AuthQuestion::CheckPassword {
            user: Bytes::from_static(b"zo\xeb"),
            password: Bytes::from_static(b"hun ter2\xff"),
        },
        AuthQuestion::RealmHash {
            user: Bytes::from_static(b"zoe"),
            realm: "Zoë's".to_owned(),
        },
        AuthQuestion::GroupsForUser {
            user: Bytes::from_static(b"zoe"),
        },
        AuthQuestion::AllowAccess {
            host: "192.0.2.7".to_owned(),
        },
    ];
    let answers = [
        AuthAnswer::Granted {
            user: Some(Bytes::from_static(b"zo\xeb")),
        },
        AuthAnswer::UnknownUser,
        AuthAnswer::Groups(vec![Bytes::from_static(b"a b"), Bytes::new()]),
        AuthAnswer::Access(None),
    ];
    for (question, answer) in questions.into_iter().zip(answers) {
        let app = Recorder::new(answer.clone());
        let _worker = worker(&socket, Arc::clone(&app));
        let got = forwarder(&socket).authorize(query(question.clone())).await;
        assert_eq!(got, answer);

        assert!(app.called.lock().unwrap().is_empty());
        let asked = app.asked.lock().unwrap().pop().expect("asked");
        assert_eq!(asked.script, Path::new("/srv/auth/check.wsgi"));
        assert_eq!(asked.question, question);
        let request = asked.request;
        let sent = super::tests::request(true);
        // The group's numbering.
        assert_eq!(request.app, 7);
        assert!(request.body.is_none());
        assert_eq!(request.head.method, sent.head.method);
        assert_eq!(request.head.uri, sent.head.uri);
        assert_eq!(request.head.version, Version::HTTP_10);
        assert_eq!(request.head.headers, sent.head.headers);
        assert_eq!(request.path, sent.path);
        assert_eq!(request.script_name_len, sent.script_name_len);
        assert_eq!(request.remote, sent.remote);
        assert_eq!(request.local, sent.local);
        assert_eq!(request.request_id, sent.request_id);
        assert_eq!(request.received_at, sent.received_at);
        assert_eq!(request.authenticated, sent.authenticated);
        std::fs::remove_file(&socket).unwrap();
    }
}

#[tokio::test]
async fn a_worker_without_scripts_answers_failed() {
    let socket = socket_path("default");
    let _worker = worker(&socket, Arc::new(NoApplication));
    let question = AuthQuestion::GroupsForUser {
        user: Bytes::from_static(b"zoe"),
    };
    let answer = forwarder(&socket).authorize(query(question)).await;
    assert_eq!(answer, AuthAnswer::Failed);
    std::fs::remove_file(&socket).unwrap();
}

#[tokio::test]
async fn a_group_that_cannot_be_reached_answers_failed() {
    let socket = socket_path("absent");
    let question = AuthQuestion::AllowAccess {
        host: "192.0.2.7".to_owned(),
    };
    let answer = forwarder(&socket).authorize(query(question)).await;
    assert_eq!(answer, AuthAnswer::Failed);
}

/// A worker that answers each connection with `response`, whatever it was asked.
fn fake_worker(socket: &Path, response: &'static [u8]) {
    let listener = UnixListener::bind(socket).unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut head = Vec::new();
            let mut buffer = [0; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buffer[..n]),
                }
            }
            let _ = stream.write_all(response).await;
        }
    });
}

#[tokio::test]
async fn a_missing_or_malformed_answer_is_failed() {
    for (name, response) in [
        ("bare", &b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"[..]),
        (
            "malformed",
            b"HTTP/1.1 200 OK\r\noxwsgi-internal-auth-answer: answer=maybe\r\ncontent-length: 0\r\n\r\n",
        ),
        ("refused", b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"),
        ("cut", b"HTTP/1.1 200 OK\r\noxwsgi-internal-auth-"),
        ("closed", b""),
    ] {
        let socket = socket_path(name);
        fake_worker(&socket, response);
        let question = AuthQuestion::CheckPassword {
            user: Bytes::from_static(b"zoe"),
            password: Bytes::from_static(b"hunter2"),
        };
        let answer = forwarder(&socket).authorize(query(question)).await;
        assert_eq!(answer, AuthAnswer::Failed, "{name}");
        std::fs::remove_file(&socket).unwrap();
    }
}

#[tokio::test]
async fn a_request_still_reaches_its_groups_application() {
    let socket = socket_path("called");
    let app = Recorder::new(AuthAnswer::Denied);
    let _worker = worker(&socket, Arc::clone(&app));
    let response = forwarder(&socket).call(request(false)).await.unwrap();
    assert_eq!(response.status, StatusCode::CREATED);
    assert_eq!(response.headers["x-app"], "7");
    let AppBody::Stream(body) = response.body else {
        panic!("a relayed body");
    };
    assert_eq!(body.collect().await.unwrap().to_bytes(), "served");
    assert!(app.asked.lock().unwrap().is_empty());
    let called = app.called.lock().unwrap().pop().expect("called");
    assert_eq!(called.app, 7);
    assert_eq!(called.head.headers, request(false).head.headers);
    std::fs::remove_file(&socket).unwrap();
}
