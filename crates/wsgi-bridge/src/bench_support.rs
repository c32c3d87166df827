//! The request path's pieces, callable one at a time by the criterion micro-benchmarks in
//! `benches/request_path.rs`. Not an API: nothing in the server uses it.
//!
//! Each method does what [`crate::handler::serve`] does for that step, with the same types, so a
//! benchmark measures the code a request runs and not a copy of it.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use http::Method;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use tokio::sync::oneshot;

use crate::environ::{AppIdentity, EnvironBuilder, EnvironSettings, ListenerIdentity, PerRequest};
use crate::file_wrapper::FileWrapper;
use crate::gil::{ThreadContext, make_context};
use crate::handler::{AppSlot, Shared};
use crate::pool::JobQueue;
use crate::request::{Job, Reply, Task};
use crate::response::{self, ResponseWriter};
use crate::start_response::{EndOfResponse, StartResponse};
use crate::watchdog::{Limits, ThreadSlot, Watch};
use oxwsgi_exchange::AppRequest;

/// One Python thread's worth of the request path, around one application.
pub struct RequestPath {
    shared: Shared,
    context: ThreadContext,
}

impl RequestPath {
    /// Prepares the environ template and a thread context for `app`, mounted at the root and
    /// served on one plain-HTTP listener at port 8000.
    pub fn new(py: Python<'_>, app: Py<PyAny>) -> PyResult<RequestPath> {
        let settings = EnvironSettings {
            server_software: "oxwsgi/bench".to_owned(),
            server_name: "localhost".to_owned(),
            process_group: "localhost:8000".to_owned(),
            application_group: String::new(),
            multithread: true,
            multiprocess: false,
            run_once: false,
            listeners: vec![ListenerIdentity {
                host: String::new(),
                port: 8000,
                scheme: "http",
            }],
        };
        let identity = AppIdentity {
            script_name: Some(String::new()),
            script_filename: Some("/srv/app.wsgi".to_owned()),
            callable: "application".to_owned(),
            environ: Vec::new(),
            pass_authorization: true,
            document_root: "/srv/htdocs".to_owned(),
            head_as_get: false,
        };
        let file_wrapper = py.get_type::<FileWrapper>();
        let environ = EnvironBuilder::new(py, &settings, &[identity], file_wrapper.as_any())?;
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
            queue: Arc::new(JobQueue::new(
                1,
                1,
                std::time::Duration::from_secs(60),
                board,
            )),
            apps: Box::new([AppSlot {
                callable: app,
                description: "the benchmark's application".to_owned(),
            }]),
            environ,
            watch,
            scripts: crate::auth_script::AuthScripts::default(),
        };
        let context = make_context(py, 0, slot)?;
        Ok(RequestPath { shared, context })
    }

    /// Builds the environ of `request` (without a body).
    pub fn environ<'py>(
        &self,
        py: Python<'py>,
        request: &AppRequest,
    ) -> PyResult<Bound<'py, PyDict>> {
        self.shared.environ.build(
            py,
            request,
            PerRequest {
                input: self.context.empty_input.bind(py).as_any(),
                errors: self.context.errors.bind(py).as_any(),
                thread_id: self.context.thread_id.bind(py).as_any(),
                queue_start: SystemTime::now(),
            },
        )
    }

    /// Makes a request's `start_response` and calls it as an application would.
    pub fn start_response(
        &self,
        py: Python<'_>,
        status: &Bound<'_, PyAny>,
        headers: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let (reply, _answer) = oneshot::channel();
        self.context
            .slot
            .begin(&Method::GET, &http::Uri::from_static("/"), "bench", reply);
        let start_response = self.new_start_response(py)?;
        let _end = EndOfResponse(&start_response);
        start_response.call1((status, headers))?;
        self.context.slot.end();
        Ok(())
    }

    /// Calls `start_response` and turns `result` (the application's return value) into the
    /// reply the HTTP side receives.
    pub fn respond(
        &self,
        py: Python<'_>,
        status: &Bound<'_, PyAny>,
        headers: &Bound<'_, PyAny>,
        result: &Bound<'_, PyAny>,
    ) -> PyResult<Reply> {
        let (reply, mut answer) = oneshot::channel();
        self.context
            .slot
            .begin(&Method::GET, &http::Uri::from_static("/"), "bench", reply);
        let start_response = self.new_start_response(py)?;
        {
            let _end = EndOfResponse(&start_response);
            start_response.call1((status, headers))?;
            response::send_result(py, &start_response, result)?;
        }
        self.context.slot.end();
        Ok(answer
            .try_recv()
            .expect("a finished response has sent its reply"))
    }

    /// Runs `request` through the whole of a Python thread's part, as the pool would: environ,
    /// the application, its result, `close()`; returns the reply.
    pub fn serve(&self, py: Python<'_>, request: AppRequest) -> Reply {
        let (reply, mut answer) = oneshot::channel();
        let job = Job {
            request,
            task: Task::Respond(reply),
            queued_at: Instant::now(),
            queued_at_wall: SystemTime::now(),
        };
        crate::handler::serve(py, &self.shared, &self.context, job);
        answer
            .try_recv()
            .expect("a served request has sent its reply")
    }

    fn new_start_response<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, StartResponse>> {
        let writer = ResponseWriter::new(Arc::clone(&self.context.slot), false);
        Ok(Py::new(py, StartResponse::new(writer))?.into_bound(py))
    }
}
