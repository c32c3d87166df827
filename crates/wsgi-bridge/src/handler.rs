//! Running one request on a Python thread, from the environ to `close()`.
//!
//! Whatever happens — a normal response, an exception before or after the head went out, a
//! client that disconnects — the response is ended exactly once and the result's `close()` is
//! called exactly once. Exceptions go to the error log with their traceback; the client sees only
//! a status (500 before the head went out, a cut connection after).

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use http::Method;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

use crate::auth_script::AuthScripts;
use crate::environ::{EnvironBuilder, PerRequest};
use crate::errors_stream::tag_thread;
use crate::gil::ThreadContext;
use crate::input::{InputFailure, WsgiInput};
use crate::pool::{JobQueue, answer_queue_timeout};
use oxwsgi_exchange::{AppError, AppRequest};
use tokio::sync::oneshot;

use crate::request::{Job, Reply, StreamAborted, Task};
use crate::response::{self, BodyIrregularities, Ending, ResponseWriter};
use crate::start_response::{EndOfResponse, StartResponse};
use crate::watchdog::{PoolEvent, ThreadSlot, Watch};

/// What every Python thread of a pool shares.
pub(crate) struct Shared {
    pub(crate) queue: Arc<JobQueue>,
    pub(crate) apps: Box<[AppSlot]>,
    pub(crate) environ: EnvironBuilder,
    pub(crate) watch: Arc<Watch>,
    /// The configuration's authentication scripts, loaded after the applications.
    pub(crate) scripts: AuthScripts,
}

/// A loaded application, as the threads call it.
pub(crate) struct AppSlot {
    pub(crate) callable: Py<PyAny>,
    pub(crate) description: String,
}

/// Runs one job to completion: a request through the application, or a question for an
/// authentication script.
pub(crate) fn serve(py: Python<'_>, shared: &Shared, context: &ThreadContext, job: Job) {
    let Job {
        request,
        task,
        queued_at,
        queued_at_wall,
    } = job;
    let now = Instant::now();
    let counters = shared.queue.board.counters();
    counters.queue_waited(now.duration_since(queued_at).as_micros() as u64);
    if shared.queue.expired_since(queued_at, now) {
        counters.queue_timed_out();
        let timeout = shared.queue.timeout();
        // Logged without the GIL, like every log line written on a Python thread: a log that
        // blocks must not stop the other threads.
        py.detach(move || answer_queue_timeout(request, task, timeout));
        return;
    }
    match task {
        Task::Respond(reply) => respond(py, shared, context, request, reply, queued_at_wall),
        Task::Authorize(task) => {
            crate::auth_script::ask(py, shared, context, request, task, queued_at_wall);
        }
    }
}

/// Runs one request through the application to completion.
fn respond(
    py: Python<'_>,
    shared: &Shared,
    context: &ThreadContext,
    mut request: AppRequest,
    reply: oneshot::Sender<Reply>,
    queued_at_wall: SystemTime,
) {
    let _tag = tag_thread(&request.request_id);
    let app = &shared.apps[request.app];
    context.slot.begin(
        &request.head.method,
        &request.head.uri,
        &request.request_id,
        reply,
    );
    let _end = EndOfRequest(&context.slot);
    let writer = ResponseWriter::new(
        Arc::clone(&context.slot),
        request.head.method == Method::HEAD,
    );
    let start_response = match Py::new(py, StartResponse::new(writer)) {
        Ok(sr) => sr.into_bound(py),
        Err(err) => {
            tracing::error!(
                "could not create start_response: {}",
                crate::traceback::format(py, &err)
            );
            return;
        }
    };
    let end_of_response = EndOfResponse(&start_response);
    let input = match request.body.take() {
        Some(body) => match Py::new(py, WsgiInput::new(body, request.body_limit)) {
            Ok(input) => Some(input),
            Err(err) => {
                report_exception(py, app, &request, &err);
                fail(py, &start_response, AppError::Internal);
                return;
            }
        },
        None => None,
    };
    let input_object = match &input {
        Some(input) => input.bind(py).clone().into_any(),
        None => context.empty_input.bind(py).clone().into_any(),
    };

    let environ = shared.environ.build(
        py,
        &request,
        PerRequest {
            input: &input_object,
            errors: context.errors.bind(py).as_any(),
            thread_id: context.thread_id.bind(py).as_any(),
            queue_start: queued_at_wall,
        },
    );
    // A `mod_wsgi.RequestTimeout` meant for this thread's previous request must not hit this one.
    if context.slot.take_interrupt_raised() {
        crate::interrupt::consume_pending(py);
    }
    let result =
        environ.and_then(|environ| app.callable.bind(py).call1((environ, &start_response)));
    crate::fork::leave_if_forked(py);
    let outcome = match &result {
        Ok(result) => response::send_result(py, &start_response, result),
        Err(err) => Err(err.clone_ref(py)),
    };

    let ending = outcome.as_ref().ok().copied();
    if let Err(err) = outcome {
        let input_failure = input.as_ref().and_then(|i| i.get().failure());
        match input_failure {
            Some(failure) => {
                let traceback = crate::traceback::format(py, &err);
                py.detach(|| {
                    tracing::info!(
                        "{} {}: {}; the application raised:\n{traceback}",
                        request.head.method,
                        request.head.uri,
                        describe_input_failure(failure),
                    );
                });
                fail(py, &start_response, input_failure_status(failure));
            }
            None if crate::interrupt::is_request_timeout(py, &err) => {
                // The watchdog answered the client (504) when it raised the exception.
                py.detach(|| {
                    tracing::info!(
                        request_id = %request.request_id,
                        "{} {} unwound after mod_wsgi.RequestTimeout was raised in its thread; \
                         the thread serves on",
                        request.head.method,
                        request.head.uri,
                    );
                });
                fail(py, &start_response, AppError::RequestTimeout);
            }
            None => {
                report_failure(py, app, &request, &err, result.as_ref().ok());
                fail(py, &start_response, AppError::Internal);
                if err.is_instance_of::<pyo3::exceptions::PyMemoryError>(py) {
                    shared.watch.report(PoolEvent::OutOfMemory {
                        request: format!("{} {}", request.head.method, request.head.uri),
                    });
                }
            }
        }
    }
    // Where the application was when its client went away: a generator's suspended line,
    // found before close() ends it.
    let gone_at = match &result {
        Ok(result)
            if start_response
                .get()
                .writer_for_server(py)
                .client_gone()
                .is_some() =>
        {
            crate::traceback::location(app.callable.bind(py), Some(result))
        }
        _ => None,
    };
    let closed = match &result {
        Ok(result) => close_result(py, app, &request, result),
        Err(_) => true,
    };
    if ending == Some(Ending::AfterClose) {
        if !closed {
            fail(py, &start_response, AppError::Internal);
        } else if let Err(err) = start_response.get().writer_for_server(py).finish(py) {
            report_failure(py, app, &request, &err, result.as_ref().ok());
            fail(py, &start_response, AppError::Internal);
        }
    }
    drop(end_of_response);
    let (client_gone, irregularities) = {
        let writer = start_response.get().writer_for_server(py);
        (writer.client_gone(), writer.irregularities)
    };
    // Nearly every request has nothing to report: the GIL is given up only to write a line.
    if client_gone.is_some() || irregularities.any() {
        py.detach(|| {
            report_irregularities(
                client_gone.map(|produced| (produced, gone_at)),
                irregularities,
                &request.head,
                &request.request_id,
            )
        });
    }
    if let Some(input) = input {
        input.get().release();
    }
    crate::fork::leave_if_forked(py);
}

/// Clears the thread's slot when the request is over, however it ends.
pub(crate) struct EndOfRequest<'a>(pub(crate) &'a ThreadSlot);

impl Drop for EndOfRequest<'_> {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// Ends the response with an error status, or cuts it if the head is already out.
fn fail(py: Python<'_>, start_response: &Bound<'_, StartResponse>, failure: AppError) {
    start_response
        .get()
        .writer_for_server(py)
        .fail(py, failure, StreamAborted::ApplicationError);
}

/// Calls the result's `close()`, if it has one; an exception there is logged. `false` when it
/// raised.
fn close_result(
    py: Python<'_>,
    app: &AppSlot,
    request: &AppRequest,
    result: &Bound<'_, PyAny>,
) -> bool {
    // A list or tuple (the common result) has no close(): asking would raise and discard an
    // AttributeError, with its formatted message, on every request.
    if result.is_exact_instance_of::<PyList>() || result.is_exact_instance_of::<PyTuple>() {
        return true;
    }
    let closed = match result.getattr(pyo3::intern!(py, "close")) {
        Ok(close) => close.call0().map(drop),
        Err(_) => Ok(()),
    };
    match closed {
        Ok(()) => true,
        Err(err) => {
            report_exception(py, app, request, &err);
            false
        }
    }
}

/// Logs an exception with its traceback: formatted with the GIL, written without it.
fn report_exception(py: Python<'_>, app: &AppSlot, request: &AppRequest, err: &PyErr) {
    report_failure(py, app, request, err, None);
}

/// Logs a failure of the application; when the exception was raised by the server about what
/// the application returned (no Python frame of the application in its traceback: a `None`
/// result, a `str` yielded), the log names where in the application that came from instead.
fn report_failure(
    py: Python<'_>,
    app: &AppSlot,
    request: &AppRequest,
    err: &PyErr,
    result: Option<&Bound<'_, PyAny>>,
) {
    let mut traceback = crate::traceback::format(py, err);
    if err.traceback(py).is_none() {
        if let Some(location) = crate::traceback::location(app.callable.bind(py), result) {
            traceback.push_str(&format!(
                "\nRaised about what the application returned: {location}"
            ));
        }
    }
    let (head, request_id) = (&request.head, &request.request_id);
    py.detach(|| {
        tracing::error!(
            request_id = %request_id,
            "Exception occurred processing {} for {} {}:\n{traceback}",
            app.description,
            head.method,
            head.uri,
        );
    });
}

fn report_irregularities(
    client_gone: Option<(u64, Option<String>)>,
    irregular: BodyIrregularities,
    head: &http::request::Parts,
    request_id: &str,
) {
    if let Some((produced, at)) = client_gone {
        let at = at
            .map(|at| format!("; the application was at {at}"))
            .unwrap_or_default();
        // Common and harmless (a closed browser tab), so not a warning; mod_wsgi reports it too.
        tracing::info!(
            request_id = %request_id,
            "{} {}: the client closed the connection before the response was complete \
             ({produced} bytes of body produced{at})",
            head.method,
            head.uri
        );
    }
    if irregular.truncated {
        tracing::warn!(
            "{} {}: the application produced more body than its Content-Length; the excess \
             was not sent",
            head.method,
            head.uri
        );
    }
    if let Some((produced, declared)) = irregular.short {
        tracing::warn!(
            "{} {}: the application produced {produced} bytes of body but declared a \
             Content-Length of {declared}; the connection was closed",
            head.method,
            head.uri
        );
    }
}

fn input_failure_status(failure: InputFailure) -> AppError {
    match failure {
        InputFailure::TooLarge { .. } => AppError::BodyTooLarge,
        InputFailure::TimedOut => AppError::BodyTimeout,
        InputFailure::Disconnected { .. } => AppError::IncompleteBody,
        InputFailure::Malformed { .. } => AppError::MalformedBody,
    }
}

fn describe_input_failure(failure: InputFailure) -> String {
    match failure {
        InputFailure::TooLarge { limit } => {
            format!("the request body is larger than the limit of {limit} bytes")
        }
        InputFailure::TimedOut => "the client stopped sending the request body".to_owned(),
        InputFailure::Disconnected { received } => {
            format!("the client disconnected after {received} bytes of request body")
        }
        InputFailure::Malformed { received } => {
            format!("the request body was not well-formed after {received} bytes")
        }
    }
}
