//! The server-status page (`--server-status`): an HTML page for people and a `?auto` form of
//! `key: value` lines for scripts, as mod_status has.

use std::fmt::Write;

use crate::board::{BoardState, ThreadState};
use crate::read::Snapshot;

/// What the page says besides the scoreboard.
#[derive(Debug, Clone)]
pub struct StatusPage<'a> {
    /// `oxwsgi/VERSION`.
    pub server_version: &'a str,
    /// How long the worker showing the page has run, in seconds (the server's own start is
    /// the supervisor's, which the page does not know).
    pub worker_uptime_s: u64,
}

fn seconds(us: u64) -> String {
    format!("{:.3}", us as f64 / 1e6)
}

/// One letter per Python thread, mod_status's scoreboard line: `_` idle, `W` running a
/// request, `A` an authentication script, `.` a worker starting, `G` draining.
fn scoreboard_line(snapshot: &Snapshot) -> String {
    let mut line = String::new();
    for group in &snapshot.groups {
        for worker in &group.workers {
            for thread in &worker.threads {
                line.push(match (worker.state, thread.state) {
                    (BoardState::Starting, _) => '.',
                    (BoardState::Draining, ThreadState::Idle) => 'G',
                    (_, ThreadState::Idle) => '_',
                    (_, ThreadState::Busy) => 'W',
                    (_, ThreadState::Auth) => 'A',
                });
            }
        }
    }
    line
}

/// The `?auto` form: `key: value` lines; `Worker` and `Thread` repeat, one per worker and one
/// per thread running a request.
pub fn render_auto(snapshot: &Snapshot, page: &StatusPage<'_>) -> String {
    let mut out = String::new();
    let groups = &snapshot.groups;
    let requests: u64 = groups.iter().map(|g| g.requests_total()).sum();
    let bytes: u64 = groups.iter().map(|g| g.bytes_out).sum();
    let busy: u64 = groups.iter().map(|g| g.busy_threads).sum();
    let idle: u64 = groups.iter().map(|g| g.idle_threads).sum();
    let processes: usize = groups.iter().map(|g| g.workers.len()).sum();
    let _ = writeln!(out, "ServerVersion: {}", page.server_version);
    let _ = writeln!(out, "Uptime: {}", page.worker_uptime_s);
    let _ = writeln!(out, "Total Accesses: {requests}");
    let _ = writeln!(out, "Total kBytes: {}", bytes / 1024);
    let _ = writeln!(out, "BusyWorkers: {busy}");
    let _ = writeln!(out, "IdleWorkers: {idle}");
    let _ = writeln!(out, "Processes: {processes}");
    let _ = writeln!(out, "Scoreboard: {}", scoreboard_line(snapshot));
    for group in groups {
        for worker in &group.workers {
            let _ = writeln!(
                out,
                "Worker: group={} slot={} pid={} state={} age={} requests={} busy={}",
                group.name,
                worker.slot,
                worker.pid,
                worker.state.name(),
                seconds(worker.age_us),
                worker.requests,
                worker
                    .threads
                    .iter()
                    .filter(|t| t.state != ThreadState::Idle)
                    .count()
            );
            for thread in &worker.threads {
                if let Some(request) = &thread.request {
                    let _ = writeln!(
                        out,
                        "Thread: group={} pid={} thread={} state={} seconds={} request={}",
                        group.name,
                        worker.pid,
                        thread.index,
                        thread.state.name(),
                        seconds(thread.running_us),
                        request
                    );
                }
            }
        }
    }
    out
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The HTML page: per group, every worker with its pid, age and requests served, and the
/// state of each of its Python threads with the request it runs and for how long.
pub fn render_html(snapshot: &Snapshot, page: &StatusPage<'_>) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>oxwsgi server status</title>\
         <style>body{{font-family:sans-serif}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:2px 6px;text-align:left}}</style></head><body>\n\
         <h1>oxwsgi server status</h1>\n<p>{} &middot; this worker up {} s &middot; \
         scoreboard <code>{}</code> (<code>_</code> idle, <code>W</code> running a request, \
         <code>A</code> authentication, <code>.</code> starting, <code>G</code> draining)</p>\n",
        escape(page.server_version),
        page.worker_uptime_s,
        scoreboard_line(snapshot)
    );
    for group in &snapshot.groups {
        let _ = write!(
            out,
            "<h2>Group {}</h2>\n<p>{} requests, {} busy and {} idle Python threads, {} \
             connections open</p>\n<table>\n<tr><th>Worker</th><th>PID</th><th>State</th>\
             <th>Age (s)</th><th>Requests</th><th>Thread</th><th>Thread state</th>\
             <th>Running (s)</th><th>Request</th></tr>\n",
            escape(&group.name),
            group.requests_total(),
            group.busy_threads,
            group.idle_threads,
            group.connections_open
        );
        for worker in &group.workers {
            for thread in &worker.threads {
                let _ = writeln!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                     <td>{}</td><td>{}</td><td>{}</td></tr>",
                    worker.slot,
                    worker.pid,
                    worker.state.name(),
                    seconds(worker.age_us),
                    worker.requests,
                    thread.index,
                    thread.state.name(),
                    if thread.request.is_some() {
                        seconds(thread.running_us)
                    } else {
                        String::new()
                    },
                    escape(thread.request.as_deref().unwrap_or(""))
                );
            }
        }
        out.push_str("</table>\n");
    }
    out.push_str("</body></html>\n");
    out
}
