//! The `mod_wsgi` module an application imports (`import mod_wsgi`), as mod_wsgi puts one in
//! every interpreter it runs: the process and application group names, the server's shape, and
//! the metrics functions — `process_metrics()` (this worker) and `server_metrics()` (every
//! worker; `None` unless `--server-metrics`), read from the scoreboard. Where a `mod_wsgi`
//! package is installed (mod_wsgi-express), its directory stays the module's `__path__`, so its
//! submodules still import, as under Apache.

use std::sync::OnceLock;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use oxwsgi_scoreboard::{Board, Snapshot, ThreadState};

/// What the module tells an application.
#[derive(Debug, Clone)]
pub struct ModWsgiInfo {
    /// This worker's board.
    pub board: Board,
    /// Whether `server_metrics()` answers.
    pub server_metrics: bool,
    /// `mod_wsgi.process_group`.
    pub process_group: String,
    /// `mod_wsgi.application_group`.
    pub application_group: String,
    /// `mod_wsgi.maximum_processes`.
    pub maximum_processes: usize,
    /// `mod_wsgi.threads_per_process`.
    pub threads_per_process: usize,
}

static INFO: OnceLock<ModWsgiInfo> = OnceLock::new();

/// Puts the `mod_wsgi` module in `sys.modules` (before the applications load).
pub(crate) fn install(py: Python<'_>, info: ModWsgiInfo) -> PyResult<()> {
    let module = PyModule::new(py, "mod_wsgi")?;
    module.add("version", (5, 0, 0))?;
    module.add("process_group", &info.process_group)?;
    module.add("application_group", &info.application_group)?;
    module.add("maximum_processes", info.maximum_processes)?;
    module.add("threads_per_process", info.threads_per_process)?;
    module.add_function(wrap_pyfunction!(process_metrics, &module)?)?;
    module.add_function(wrap_pyfunction!(server_metrics, &module)?)?;
    module.add(
        "RequestTimeout",
        py.get_type::<crate::interrupt::RequestTimeout>(),
    )?;
    let spec = py
        .import("importlib.util")?
        .call_method1("find_spec", ("mod_wsgi",))
        .ok()
        .filter(|spec| !spec.is_none());
    if let Some(locations) = spec
        .and_then(|spec| spec.getattr("submodule_search_locations").ok())
        .filter(|locations| !locations.is_none())
    {
        module.add(
            "__path__",
            PyList::new(py, locations.try_iter()?.flatten())?,
        )?;
    }
    py.import("sys")?
        .getattr("modules")?
        .set_item("mod_wsgi", &module)?;
    let _ = INFO.set(info);
    Ok(())
}

fn seconds(us: u64) -> f64 {
    us as f64 / 1e6
}

/// This worker's figures, with mod_wsgi's keys.
#[pyfunction]
fn process_metrics(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let metrics = PyDict::new(py);
    let Some(info) = INFO.get() else {
        return Ok(metrics);
    };
    let (group, board) = info.board.position();
    let snapshot = Snapshot::read(info.board.scoreboard());
    let worker = snapshot.groups[group]
        .workers
        .iter()
        .find(|w| w.board == board);
    let usage = Usage::read();
    let now = oxwsgi_scoreboard::unix_us();
    metrics.set_item("pid", std::process::id())?;
    metrics.set_item("request_count", worker.map_or(0, |w| w.requests))?;
    metrics.set_item(
        "request_busy_time",
        seconds(worker.map_or(0, |w| w.busy_us)),
    )?;
    metrics.set_item("memory_max_rss", usage.max_rss)?;
    metrics.set_item("memory_rss", usage.rss)?;
    metrics.set_item("cpu_user_time", usage.user)?;
    metrics.set_item("cpu_system_time", usage.system)?;
    metrics.set_item("cpu_time", usage.user + usage.system)?;
    let started = worker.map_or(now, |w| w.started_unix_us);
    metrics.set_item("restart_time", seconds(started))?;
    metrics.set_item("current_time", seconds(now))?;
    metrics.set_item("running_time", now.saturating_sub(started) / 1_000_000)?;
    metrics.set_item("request_threads", info.threads_per_process)?;
    let threads = PyList::empty(py);
    let mut active = 0;
    for thread in worker.map(|w| w.threads.as_slice()).unwrap_or_default() {
        if thread.state != ThreadState::Idle {
            active += 1;
        }
        let entry = PyDict::new(py);
        entry.set_item("thread_id", thread.index + 1)?;
        entry.set_item("request_count", thread.requests)?;
        threads.append(entry)?;
    }
    metrics.set_item("active_requests", active)?;
    metrics.set_item("threads", threads)?;
    Ok(metrics)
}

/// Every worker of every group with each of its threads, as mod_wsgi's scoreboard view; `None`
/// unless `--server-metrics`.
#[pyfunction]
fn server_metrics(py: Python<'_>) -> PyResult<Option<Bound<'_, PyDict>>> {
    let Some(info) = INFO.get().filter(|info| info.server_metrics) else {
        return Ok(None);
    };
    let snapshot = Snapshot::read(info.board.scoreboard());
    let now = oxwsgi_scoreboard::unix_us();
    let metrics = PyDict::new(py);
    let processes = PyList::empty(py);
    let mut server_limit = 0;
    let mut thread_limit = 0;
    let mut earliest = now;
    for group in &snapshot.groups {
        thread_limit = thread_limit.max(group.threads);
        for worker in &group.workers {
            server_limit += 1;
            earliest = earliest.min(worker.started_unix_us);
            let process = PyDict::new(py);
            process.set_item("process_num", worker.slot)?;
            process.set_item("group", &group.name)?;
            process.set_item("pid", worker.pid)?;
            process.set_item("generation", worker.generation)?;
            process.set_item("quiescing", worker.state.name() == "draining")?;
            process.set_item("request_count", worker.requests)?;
            let workers = PyList::empty(py);
            for thread in &worker.threads {
                let entry = PyDict::new(py);
                entry.set_item("thread_num", thread.index)?;
                entry.set_item("generation", worker.generation)?;
                entry.set_item(
                    "status",
                    match thread.state {
                        ThreadState::Idle => "_",
                        ThreadState::Busy => "W",
                        ThreadState::Auth => "A",
                    },
                )?;
                entry.set_item("access_count", thread.requests)?;
                entry.set_item(
                    "start_time",
                    thread
                        .request
                        .as_ref()
                        .map(|_| seconds(now.saturating_sub(thread.running_us))),
                )?;
                entry.set_item("last_used", seconds(thread.last_used_unix_us))?;
                entry.set_item("request", thread.request.clone().unwrap_or_default())?;
                workers.append(entry)?;
            }
            process.set_item("workers", workers)?;
            processes.append(process)?;
        }
    }
    metrics.set_item("server_limit", server_limit)?;
    metrics.set_item("thread_limit", thread_limit)?;
    metrics.set_item("running_generation", 0)?;
    metrics.set_item("restart_time", seconds(earliest))?;
    metrics.set_item("current_time", seconds(now))?;
    metrics.set_item("running_time", now.saturating_sub(earliest) / 1_000_000)?;
    metrics.set_item("processes", processes)?;
    Ok(Some(metrics))
}

/// This process's memory (bytes) and CPU time (seconds), from `/proc/self`.
#[derive(Default)]
struct Usage {
    rss: u64,
    max_rss: u64,
    user: f64,
    system: f64,
}

impl Usage {
    fn read() -> Usage {
        let mut usage = Usage::default();
        if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
            for line in status.lines() {
                let kib = |line: &str| {
                    line.split_whitespace()
                        .nth(1)
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(0)
                        * 1024
                };
                if line.starts_with("VmRSS:") {
                    usage.rss = kib(line);
                } else if line.starts_with("VmHWM:") {
                    usage.max_rss = kib(line);
                }
            }
        }
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        // Fields after the command name's closing parenthesis, from field 3.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or("", |(_, rest)| rest)
            .split_whitespace()
            .collect();
        let ticks = rustix::param::clock_ticks_per_second().max(1) as f64;
        let field = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0) as f64
                / ticks
        };
        usage.user = field(11);
        usage.system = field(12);
        usage
    }
}
