//! mod_wsgi's authentication scripts: `WSGIAuthUserScript` (`check_password` for Basic,
//! `get_realm_hash` for Digest), `WSGIAuthGroupScript` (`groups_for_user`) and
//! `WSGIAccessScript` (`allow_access`).
//!
//! Each script is loaded once, at worker start, after the applications and in the same
//! interpreter, as mod_wsgi loads it: as the module a WSGI script of that path gets
//! (`_mod_wsgi_` and the MD5 of the path, with `__file__` set), so a file that is also an
//! application's script is that one module. A script that cannot be loaded stops the worker
//! as an application that cannot be loaded does: a question asked at request time must find
//! the script there, and a broken one is better reported before the first request than as a
//! 500 on every request it guards.
//!
//! A question ([`oxwsgi_exchange::AuthQuery`]) runs as a job of the pool: on a Python thread
//! taken for the call only, through the requests' queue, its limit and its timeout. The
//! function gets the request's environ as its application would (without a body, and, as
//! under mod_wsgi, without the `Authorization` headers) and the strings decoded from Latin-1;
//! what it returns is read as mod_wsgi's `wsgi_auth.c` reads it ([`answer`]). Every failure
//! is logged and answered as failed: the HTTP side answers a 500, as httpd does for
//! `AUTH_GENERAL_ERROR`.

mod answer;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use oxwsgi_exchange::{AppRequest, AuthAnswer, AuthQuery, AuthQuestion};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyModule, PyString};

use crate::environ::{PerRequest, latin1};
use crate::error::AppLoadError;
use crate::errors_stream::tag_thread;
use crate::gil::ThreadContext;
use crate::handler::{EndOfRequest, Shared};
use crate::interpreter::PythonRuntime;
use crate::pool::WsgiPool;
use crate::request::{AuthTask, Job, Task};
use answer::Problem;

/// The authentication scripts a worker loaded: each script's module namespace, by the path
/// the configuration names it by.
#[derive(Debug, Default)]
pub struct AuthScripts {
    scripts: Vec<(PathBuf, Py<PyDict>)>,
}

impl AuthScripts {
    /// The namespace of the script at `path`, if it was loaded. A worker has a handful of
    /// scripts at most: a scan costs less than hashing the path.
    fn namespace(&self, path: &Path) -> Option<&Py<PyDict>> {
        self.scripts
            .iter()
            .find(|(loaded, _)| loaded == path)
            .map(|(_, namespace)| namespace)
    }
}

/// How start-up messages name a script.
fn describe(path: &Path) -> String {
    format!("WSGI authentication script '{}'", path.display())
}

/// Loads the authentication scripts at `paths` (absolute, as the configuration names them),
/// once each; call it after the applications are loaded. A script that is missing, does not
/// compile or raises fails like an application that fails to load: the error carries the
/// traceback and names the file.
pub fn load_auth_scripts(
    _runtime: &PythonRuntime,
    paths: &[PathBuf],
) -> Result<AuthScripts, AppLoadError> {
    Python::attach(|py| {
        let mut scripts = AuthScripts::default();
        for path in paths {
            if scripts.namespace(path).is_some() {
                continue;
            }
            let what = describe(path);
            let module = crate::app::bootstrap(py)
                .and_then(|helper| helper.call_method1("load_auth_script", (path,)))
                .map_err(|err| crate::app::load_failure(py, &err, &what))?;
            let namespace = module
                .cast::<PyModule>()
                .map(|module| module.dict().unbind())
                .map_err(|err| crate::app::load_failure(py, &err.into(), &what))?;
            scripts.scripts.push((path.clone(), namespace));
        }
        Ok(scripts)
    })
}

impl WsgiPool {
    /// Queues a question for one of the authentication scripts loaded with the pool
    /// ([`load_auth_scripts`]), behind the requests already waiting and within the same
    /// limits; the future resolves to the script's answer.
    ///
    /// Every failure to get an answer — a full queue, a pool shutting down, a wait past the
    /// queue timeout, a script stuck past the request timeout — is logged and answered
    /// [`AuthAnswer::Failed`].
    pub fn authorize(&self, query: AuthQuery) -> impl Future<Output = AuthAnswer> + Send + 'static {
        let AuthQuery {
            script,
            question,
            request,
        } = query;
        let (answer, receiver) = tokio::sync::oneshot::channel();
        let described = format!(
            "the authentication script '{}' about {} {}",
            script.display(),
            request.head.method,
            request.head.uri
        );
        let request_id = request.request_id.clone();
        let job = Job {
            request,
            task: Task::Authorize(AuthTask {
                script,
                question,
                answer,
            }),
            queued_at: Instant::now(),
            queued_at_wall: SystemTime::now(),
        };
        // Queued now, while the pool is at hand; the future only waits for the answer.
        let queued = self.push(job);
        async move {
            if let Err(rejected) = queued {
                tracing::error!(request_id = %request_id, "cannot ask {described}: {rejected}");
                return AuthAnswer::Failed;
            }
            // A dropped channel means the Python side lost the question to an internal error,
            // which it logged.
            receiver.await.unwrap_or(AuthAnswer::Failed)
        }
    }
}

/// Answers as failed a question that waited longer than the queue timeout for a Python
/// thread, without asking it.
pub(crate) fn answer_queue_timeout(request: &AppRequest, task: AuthTask, timeout: Duration) {
    tracing::error!(
        request_id = %request.request_id,
        "queue timeout expired: the question for the authentication script '{}' about {} {} \
         waited more than {}s for a free Python thread and was not asked",
        task.script.display(),
        request.head.method,
        request.head.uri,
        timeout.as_secs_f64(),
    );
    let _ = task.answer.send(AuthAnswer::Failed);
}

/// Asks a script the question of `task` about `request`, on this Python thread, and sends the
/// answer (unless the watchdog answered first: the script ran past the request timeout).
pub(crate) fn ask(
    py: Python<'_>,
    shared: &Shared,
    context: &ThreadContext,
    request: AppRequest,
    task: AuthTask,
    queued_at_wall: SystemTime,
) {
    let AuthTask {
        script,
        question,
        answer,
    } = task;
    let _tag = tag_thread(&request.request_id);
    context.slot.begin_auth(
        &request.head.method,
        &request.head.uri,
        &request.request_id,
        answer,
    );
    let _end = EndOfRequest(&context.slot);
    let call = Call {
        shared,
        context,
        request: &request,
        script: &script,
        question: &question,
    };
    let result = call.run(py, queued_at_wall);
    // What the script wrote to `wsgi.errors` without a final newline goes out with its call,
    // as mod_wsgi closes the call's log object.
    context.errors.get().flush(py);
    crate::fork::leave_if_forked(py);
    if let Some(answer) = context.slot.take_auth_answer() {
        let _ = answer.send(result);
    }
}

/// One question for one script about one request.
struct Call<'a> {
    shared: &'a Shared,
    context: &'a ThreadContext,
    request: &'a AppRequest,
    script: &'a Path,
    question: &'a AuthQuestion,
}

impl Call<'_> {
    /// The script's answer; failures are logged here.
    fn run(&self, py: Python<'_>, queued_at_wall: SystemTime) -> AuthAnswer {
        let Some(namespace) = self.shared.scripts.namespace(self.script) else {
            self.log(
                py,
                format!(
                    "the authentication script '{}' was not loaded by this process, which \
                     loads those of the rules of the hosts it serves",
                    self.script.display()
                ),
            );
            return answer::failure(self.question);
        };
        if self.request.app >= self.shared.apps.len() {
            self.log(
                py,
                format!(
                    "cannot ask the authentication script '{}': the request names application \
                     {}, and this process runs {}",
                    self.script.display(),
                    self.request.app,
                    self.shared.apps.len()
                ),
            );
            return answer::failure(self.question);
        }
        // A module's own namespace, as mod_wsgi looks the function up: not through a module
        // `__getattr__`.
        let function = match namespace
            .bind(py)
            .get_item(answer::function_name(self.question))
        {
            Ok(Some(function)) => function,
            Ok(None) => {
                self.log(py, answer::missing_function(self.question, self.script));
                return answer::failure(self.question);
            }
            Err(err) => {
                self.report_exception(py, &err);
                return answer::failure(self.question);
            }
        };
        let outcome = self
            .call(py, &function, queued_at_wall)
            .map_err(Problem::Raised)
            .and_then(|result| answer::interpret(self.question, &result, self.script));
        match outcome {
            Ok(answer) => answer,
            Err(Problem::Message(message)) => {
                self.log(py, message);
                answer::failure(self.question)
            }
            Err(Problem::Raised(err)) => {
                self.report_exception(py, &err);
                answer::failure(self.question)
            }
        }
    }

    /// Calls `function` with the request's environ and the question's strings.
    fn call<'py>(
        &self,
        py: Python<'py>,
        function: &Bound<'py, PyAny>,
        queued_at_wall: SystemTime,
    ) -> PyResult<Bound<'py, PyAny>> {
        let environ = self.shared.environ.build(
            py,
            self.request,
            PerRequest {
                input: self.context.empty_input.bind(py).as_any(),
                errors: self.context.errors.bind(py).as_any(),
                thread_id: self.context.thread_id.bind(py).as_any(),
                queue_start: queued_at_wall,
            },
        )?;
        // mod_wsgi's environ for these scripts never carries the credentials' headers, whatever
        // `WSGIPassAuthorization` says for the application.
        for key in [
            intern!(py, "HTTP_AUTHORIZATION"),
            intern!(py, "HTTP_PROXY_AUTHORIZATION"),
        ] {
            if environ.contains(key)? {
                environ.del_item(key)?;
            }
        }
        match self.question {
            AuthQuestion::CheckPassword { user, password } => {
                function.call1((environ, latin1(py, user), latin1(py, password)))
            }
            AuthQuestion::RealmHash { user, realm } => {
                function.call1((environ, latin1(py, user), latin1(py, realm.as_bytes())))
            }
            AuthQuestion::GroupsForUser { user } => function.call1((environ, latin1(py, user))),
            AuthQuestion::AllowAccess { host } => {
                function.call1((environ, PyString::new(py, host)))
            }
        }
    }

    /// Logs a message about the call at `error`, with the GIL released.
    fn log(&self, py: Python<'_>, message: String) {
        let request_id = &self.request.request_id;
        py.detach(|| tracing::error!(request_id = %request_id, "{message}"));
    }

    /// Logs an exception with its traceback as an application's is logged: formatted with the
    /// GIL, written without it.
    fn report_exception(&self, py: Python<'_>, err: &PyErr) {
        let traceback = crate::traceback::format(py, err);
        let (head, request_id) = (&self.request.head, &self.request.request_id);
        let script = self.script.display();
        let function = answer::function_name(self.question);
        py.detach(|| {
            tracing::error!(
                request_id = %request_id,
                "Exception occurred processing WSGI script '{script}' ('{function}') for {} \
                 {}:\n{traceback}",
                head.method,
                head.uri,
            );
        });
    }
}
