//! Micro-benchmarks of what a Python thread does per request: building the environ, calling
//! `start_response`, turning the application's result into the reply, and all of it together.
//!
//! `cargo bench -p oxwsgi-wsgi-bridge` (results under `target/criterion/`). The server-level
//! benchmarks, against other servers, are in `bench/` at the top of the repository.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::SystemTime;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyModule, PyString, PyTuple};

use oxwsgi_config::PythonSettings;
use oxwsgi_exchange::{AppBody, AppRequest};
use oxwsgi_wsgi_bridge::bench_support::RequestPath;

const APP: &std::ffi::CStr = c"
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '12')])
    return [b'Hello world!']
";

/// A GET as a browser sends it, through a proxy: eight headers, a query string, a cookie.
fn browser_request() -> AppRequest {
    let (head, ()) = http::Request::get("/hello/world?name=x&page=2")
        .header("host", "example.com:8000")
        .header(
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        )
        .header("accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8")
        .header("accept-encoding", "gzip, deflate, br")
        .header("accept-language", "en-GB,en;q=0.5")
        .header("connection", "keep-alive")
        .header("cookie", "session=0123456789abcdef; theme=dark")
        .header("x-forwarded-for", "203.0.113.7")
        .body(())
        .expect("a valid request")
        .into_parts();
    AppRequest {
        app: 0,
        listener: 0,
        head,
        path: Bytes::from_static(b"/hello/world"),
        script_name_len: 0,
        body: None,
        body_limit: u64::MAX,
        remote: SocketAddr::from(([127, 0, 0, 1], 50000)),
        local: SocketAddr::from(([127, 0, 0, 1], 8000)),
        request_id: "aBcDeFgHiJkLmNoP".to_owned(),
        received_at: SystemTime::now(),
        redirect: None,
        tls: None,
        proxied: None,
        authenticated: None,
    }
}

fn request_path(c: &mut Criterion) {
    let settings = PythonSettings {
        working_directory: std::env::current_dir().expect("a current directory"),
        ..PythonSettings::default()
    };
    let _runtime = oxwsgi_wsgi_bridge::initialize(&settings, oxwsgi_wsgi_bridge::Startup::Embedded)
        .expect("Python starts");
    Python::attach(|py| {
        let module = PyModule::from_code(py, APP, c"bench_app.py", c"bench_app").unwrap();
        let app = module.getattr("application").unwrap().unbind();
        let path = RequestPath::new(py, app).unwrap();

        let request = browser_request();
        c.bench_function("environ: GET with 8 headers", |b| {
            b.iter(|| black_box(path.environ(py, &request).unwrap()))
        });

        let status = PyString::new(py, "200 OK");
        let headers = PyList::new(
            py,
            [
                PyTuple::new(py, ["Content-Type", "text/html; charset=utf-8"]).unwrap(),
                PyTuple::new(py, ["Content-Length", "12"]).unwrap(),
                PyTuple::new(py, ["Cache-Control", "no-store"]).unwrap(),
            ],
        )
        .unwrap();
        c.bench_function("start_response: 3 headers", |b| {
            b.iter(|| path.start_response(py, &status, &headers).unwrap())
        });

        let hello = PyList::new(py, [PyBytes::new(py, b"Hello world!")]).unwrap();
        c.bench_function(
            "response: start_response and a list of one 12-byte chunk",
            |b| {
                b.iter(|| {
                    let reply = path.respond(py, &status, &headers, &hello).unwrap();
                    black_box(reply.expect("a response"))
                })
            },
        );

        let kib = PyBytes::new(py, &[b'x'; 1024]);
        let chunks = PyList::new(py, std::iter::repeat_n(&kib, 64)).unwrap();
        let long = PyList::new(
            py,
            [
                PyTuple::new(py, ["Content-Type", "text/plain"]).unwrap(),
                PyTuple::new(py, ["Content-Length", "65536"]).unwrap(),
            ],
        )
        .unwrap();
        c.bench_function("response: start_response and a list of 64 × 1 KiB", |b| {
            b.iter(|| {
                let reply = path.respond(py, &status, &long, &chunks).unwrap();
                black_box(reply.expect("a response"))
            })
        });

        c.bench_function("serve: the whole hello request on a Python thread", |b| {
            b.iter(|| {
                let response = path.serve(py, browser_request()).expect("a response");
                assert!(matches!(response.body, AppBody::Full(ref body) if body.len() == 12));
                black_box(response)
            })
        });
    });
}

criterion_group!(benches, request_path);
criterion_main!(benches);
