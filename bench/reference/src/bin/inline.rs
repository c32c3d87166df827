//! hyper on tokio calling a WSGI application (the `application` of the script file given on
//! the command line, bench/hello.py in bench/run) directly in the connection task: the request
//! is parsed, the environ built, the application called and its response collected on the same
//! runtime thread, and each runtime thread keeps one Python thread state for life. No hand-off
//! between threads, no queue, no limit on concurrent calls other than the GIL: a bound on what
//! a WSGI server on hyper can reach, not a server to deploy (a slow request here blocks every
//! connection of its thread).
//!
//! The environ has the keys of PEP 3333 (CGI variables, HTTP_ headers, wsgi.*), built per
//! request as any server must; `start_response` returns no `write` callable.

#![allow(unsafe_code)]

use std::convert::Infallible;
use std::sync::OnceLock;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple};

/// What every request uses, made once.
struct Shared {
    application: Py<PyAny>,
    bytes_io: Py<PyAny>,
    errors: Py<PyAny>,
    version: Py<PyTuple>,
    server_port: Py<PyString>,
    multiprocess: bool,
}

static SHARED: OnceLock<Shared> = OnceLock::new();

#[pyclass]
#[derive(Default)]
struct StartResponse {
    status: Option<String>,
    headers: Vec<(String, String)>,
}

#[pymethods]
impl StartResponse {
    #[pyo3(signature = (status, headers, exc_info = None))]
    fn __call__(
        &mut self,
        status: String,
        headers: Vec<(String, String)>,
        exc_info: Option<Bound<'_, PyAny>>,
    ) {
        let _ = exc_info;
        self.status = Some(status);
        self.headers = headers;
    }
}

/// Gives the runtime thread a Python thread state for the rest of its life (as oxwsgi's
/// `keep_thread_state`): later `Python::attach` calls only take the GIL.
fn keep_thread_state() {
    // SAFETY: Python is initialised before the runtime is built. Ensure creates this thread's
    // state and takes the GIL; SaveThread gives up the GIL and leaves the state, with a use
    // count of one, so no later Ensure/Release pair deletes it.
    unsafe {
        let _ = pyo3::ffi::PyGILState_Ensure();
        let _ = pyo3::ffi::PyEval_SaveThread();
    }
}

fn environ<'py>(
    py: Python<'py>,
    shared: &Shared,
    parts: &hyper::http::request::Parts,
    body: Bytes,
) -> PyResult<Bound<'py, PyDict>> {
    let environ = PyDict::new(py);
    environ.set_item(intern!(py, "REQUEST_METHOD"), parts.method.as_str())?;
    environ.set_item(intern!(py, "SCRIPT_NAME"), intern!(py, ""))?;
    environ.set_item(intern!(py, "PATH_INFO"), parts.uri.path())?;
    environ.set_item(intern!(py, "QUERY_STRING"), parts.uri.query().unwrap_or(""))?;
    environ.set_item(intern!(py, "SERVER_NAME"), intern!(py, "127.0.0.1"))?;
    environ.set_item(intern!(py, "SERVER_PORT"), shared.server_port.bind(py))?;
    let protocol = match parts.version {
        hyper::Version::HTTP_10 => intern!(py, "HTTP/1.0"),
        _ => intern!(py, "HTTP/1.1"),
    };
    environ.set_item(intern!(py, "SERVER_PROTOCOL"), protocol)?;
    environ.set_item(intern!(py, "REMOTE_ADDR"), intern!(py, "127.0.0.1"))?;
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        let key = match name.as_str() {
            "content-type" => "CONTENT_TYPE".to_owned(),
            "content-length" => "CONTENT_LENGTH".to_owned(),
            other => {
                let mut key = String::with_capacity(5 + other.len());
                key.push_str("HTTP_");
                key.extend(other.chars().map(|c| {
                    if c == '-' {
                        '_'
                    } else {
                        c.to_ascii_uppercase()
                    }
                }));
                key
            }
        };
        match environ.get_item(&key)? {
            Some(previous) => {
                let joined = format!("{}, {value}", previous.extract::<String>()?);
                environ.set_item(key, joined)?
            }
            None => environ.set_item(key, value)?,
        }
    }
    environ.set_item(intern!(py, "wsgi.version"), shared.version.bind(py))?;
    environ.set_item(intern!(py, "wsgi.url_scheme"), intern!(py, "http"))?;
    let input = shared.bytes_io.bind(py).call1((PyBytes::new(py, &body),))?;
    environ.set_item(intern!(py, "wsgi.input"), input)?;
    environ.set_item(intern!(py, "wsgi.errors"), shared.errors.bind(py))?;
    environ.set_item(intern!(py, "wsgi.multithread"), true)?;
    environ.set_item(intern!(py, "wsgi.multiprocess"), shared.multiprocess)?;
    environ.set_item(intern!(py, "wsgi.run_once"), false)?;
    Ok(environ)
}

fn call(
    py: Python<'_>,
    parts: &hyper::http::request::Parts,
    body: Bytes,
) -> PyResult<Response<Full<Bytes>>> {
    let shared = SHARED.get().expect("initialised in main");
    let environ = environ(py, shared, parts, body)?;
    let start_response = Bound::new(py, StartResponse::default())?;
    let result = shared
        .application
        .bind(py)
        .call1((environ, &start_response))?;
    let mut content = Vec::new();
    let iterated = (|| {
        for item in result.try_iter()? {
            content.extend_from_slice(item?.cast::<PyBytes>()?.as_bytes());
        }
        Ok::<_, PyErr>(())
    })();
    if result.hasattr(intern!(py, "close"))? {
        result.call_method0(intern!(py, "close"))?;
    }
    iterated?;
    let start = start_response.borrow();
    let status = start
        .status
        .as_deref()
        .unwrap_or("500 start_response not called");
    let code = status
        .get(..3)
        .and_then(|code| code.parse().ok())
        .unwrap_or(500);
    let mut response = Response::builder().status(code);
    for (name, value) in &start.headers {
        response = response.header(name, value);
    }
    Ok(response
        .body(Full::new(Bytes::from(content)))
        .expect("a valid response"))
}

async fn handle(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let response = Python::attach(|py| {
        call(py, &parts, body).unwrap_or_else(|error| {
            error.print(py);
            let mut response = Response::new(Full::new(Bytes::from_static(b"application error\n")));
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            response
        })
    });
    Ok(response)
}

fn load(
    py: Python<'_>,
    script: &str,
    options: &oxwsgi_bench_reference::Options,
) -> PyResult<Shared> {
    let path = std::path::Path::new(script);
    let dir = path
        .parent()
        .map(|d| d.to_string_lossy().into_owned())
        .unwrap_or_default();
    py.import("sys")?
        .getattr("path")?
        .call_method1("insert", (0, dir))?;
    let namespace = py.import("runpy")?.call_method1("run_path", (script,))?;
    Ok(Shared {
        application: namespace.get_item("application")?.unbind(),
        bytes_io: py.import("io")?.getattr("BytesIO")?.unbind(),
        errors: py.import("sys")?.getattr("stderr")?.unbind(),
        version: PyTuple::new(py, [1, 0])?.unbind(),
        server_port: PyString::new(py, &options.port.to_string()).unbind(),
        multiprocess: options.processes > 1,
    })
}

fn main() {
    let options = oxwsgi_bench_reference::options();
    let Some(script) = options.args.first().cloned() else {
        eprintln!("usage: inline [--host A] [--port N] [--processes N] [--threads N] SCRIPT.py");
        std::process::exit(2)
    };
    oxwsgi_bench_reference::fan_out(&options);
    Python::initialize();
    let shared = Python::attach(|py| {
        load(py, &script, &options).unwrap_or_else(|error| {
            error.print(py);
            std::process::exit(1)
        })
    });
    let _ = SHARED.set(shared);
    oxwsgi_bench_reference::serve(&options, keep_thread_state, handle)
}
