//! `/metrics`: the scoreboard and the supervisor's own counts in Prometheus' text exposition
//! format (version 0.0.4), checked by `promtool check metrics` in the tests.

use std::fmt::Write;

use oxwsgi_scoreboard::{
    DURATION_BOUNDS_US, GroupTotals, Histogram, METHODS, STATUS_CLASSES, Scoreboard, Snapshot,
};

use crate::metrics::{ExitReason, Observed};

/// A family with one sample per group: its name, its help, and the group's value.
type PerGroup = (&'static str, &'static str, fn(&GroupTotals) -> u64);

/// The whole page.
pub(crate) fn render(scoreboard: &Scoreboard, observed: &Observed) -> String {
    let snapshot = Snapshot::read(scoreboard);
    let mut page = Page::default();
    let groups = &snapshot.groups;

    page.family(
        "oxwsgi_ready",
        "gauge",
        "1 while the server serves and is not stopping, else 0 (what /ready says).",
    );
    page.sample("oxwsgi_ready", &[], u64::from(observed.is_ready()));

    page.family(
        "oxwsgi_requests_total",
        "counter",
        "Requests answered, by process group, method and status class.",
    );
    for group in groups {
        for (m, method) in METHODS.iter().enumerate() {
            for (c, class) in STATUS_CLASSES.iter().enumerate() {
                let count = group.requests[m][c];
                // Every series that has happened, and GET 2xx always, so a rate exists from
                // the start.
                if count > 0 || (m == 0 && c == 1) {
                    page.sample(
                        "oxwsgi_requests_total",
                        &[
                            ("group", &group.name),
                            ("method", method),
                            ("status", class),
                        ],
                        count,
                    );
                }
            }
        }
    }
    page.histogram(
        "oxwsgi_request_duration_seconds",
        "Time from a request's head arriving to the end of its response.",
        groups,
        |g| &g.duration,
    );
    page.histogram(
        "oxwsgi_queue_wait_seconds",
        "Time a request waited for a Python thread.",
        groups,
        |g| &g.queue_wait,
    );
    let gauges: [PerGroup; 2] = [
        (
            "oxwsgi_requests_in_flight",
            "Requests being handled now (until their response is sent).",
            |g| g.in_flight,
        ),
        (
            "oxwsgi_connections_open",
            "Client connections open now.",
            |g| g.connections_open,
        ),
    ];
    for (name, help, value) in gauges {
        page.family(name, "gauge", help);
        for group in groups {
            page.sample(name, &[("group", &group.name)], value(group));
        }
    }
    page.family(
        "oxwsgi_python_threads",
        "gauge",
        "Python request threads of serving workers, busy (running a request) or idle.",
    );
    for group in groups {
        for (state, count) in [("busy", group.busy_threads), ("idle", group.idle_threads)] {
            page.sample(
                "oxwsgi_python_threads",
                &[("group", &group.name), ("state", state)],
                count,
            );
        }
    }
    page.family(
        "oxwsgi_workers",
        "gauge",
        "Worker processes, by state (starting, serving, draining).",
    );
    for group in groups {
        for state in ["starting", "serving", "draining"] {
            let count = group
                .workers
                .iter()
                .filter(|w| w.state.name() == state)
                .count() as u64;
            page.sample(
                "oxwsgi_workers",
                &[("group", &group.name), ("state", state)],
                count,
            );
        }
    }
    let counters: [PerGroup; 9] = [
        (
            "oxwsgi_connections_total",
            "Client connections accepted.",
            |g| g.connections,
        ),
        (
            "oxwsgi_received_bytes_total",
            "Bytes read from clients.",
            |g| g.bytes_in,
        ),
        (
            "oxwsgi_sent_bytes_total",
            "Bytes of response bodies sent to clients.",
            |g| g.bytes_out,
        ),
        (
            "oxwsgi_request_timeouts_total",
            "Requests that ran past --request-timeout (answered 504, or cut).",
            |g| g.request_timeouts,
        ),
        (
            "oxwsgi_queue_timeouts_total",
            "Requests answered 504 after waiting past --queue-timeout for a Python thread.",
            |g| g.queue_timeouts,
        ),
        (
            "oxwsgi_queue_full_total",
            "Requests answered 503 because the queue (--daemon-backlog) was full.",
            |g| g.queue_full,
        ),
        (
            "oxwsgi_slow_requests_total",
            "Requests reported as still running after --slow-requests.",
            |g| g.slow_requests,
        ),
        (
            "oxwsgi_gil_waits_total",
            "Times a Python thread waited to take the GIL back.",
            |g| g.gil_waits,
        ),
        (
            "oxwsgi_log_write_failures_total",
            "Log lines the workers could not write (a full disk, an unwritable file).",
            |g| g.log_write_failures,
        ),
    ];
    for (name, help, value) in counters {
        page.family(name, "counter", help);
        for group in groups {
            page.sample(name, &[("group", &group.name)], value(group));
        }
    }
    page.family(
        "oxwsgi_supervisor_log_write_failures_total",
        "counter",
        "Log lines the supervisor could not write (a full disk, an unwritable file).",
    );
    page.sample(
        "oxwsgi_supervisor_log_write_failures_total",
        &[],
        oxwsgi_logging::write_failures(),
    );
    page.family(
        "oxwsgi_gil_wait_seconds_total",
        "counter",
        "Time Python threads waited to take the GIL back.",
    );
    for group in groups {
        page.seconds(
            "oxwsgi_gil_wait_seconds_total",
            &[("group", &group.name)],
            group.gil_wait_us,
        );
    }
    page.family(
        "oxwsgi_worker_starts_total",
        "counter",
        "Worker processes started.",
    );
    for (index, group) in groups.iter().enumerate() {
        page.sample(
            "oxwsgi_worker_starts_total",
            &[("group", &group.name)],
            observed.starts(index),
        );
    }
    page.family(
        "oxwsgi_worker_exits_total",
        "counter",
        "Worker processes that ended, by reason: recycle, timeout, limit, reload, stop, \
         crash, deadlock, failed-start.",
    );
    for (index, group) in groups.iter().enumerate() {
        for reason in ExitReason::ALL {
            page.sample(
                "oxwsgi_worker_exits_total",
                &[("group", &group.name), ("reason", reason.label())],
                observed.exits(index, reason),
            );
        }
    }
    workers(&mut page, &snapshot);
    page.text
}

/// Memory and CPU of each worker process, from `/proc`.
fn workers(page: &mut Page, snapshot: &Snapshot) {
    let live: Vec<(&str, String, String, ProcStat)> = snapshot
        .groups
        .iter()
        .flat_map(|g| g.workers.iter().map(move |w| (g, w)))
        .filter(|(_, w)| w.pid != 0)
        .filter_map(|(g, w)| {
            ProcStat::read(w.pid)
                .map(|stat| (g.name.as_str(), w.slot.to_string(), w.pid.to_string(), stat))
        })
        .collect();
    page.family(
        "oxwsgi_worker_resident_memory_bytes",
        "gauge",
        "Resident memory of each worker process.",
    );
    for (group, slot, pid, stat) in &live {
        page.sample(
            "oxwsgi_worker_resident_memory_bytes",
            &[("group", group), ("slot", slot), ("pid", pid)],
            stat.rss_bytes,
        );
    }
    page.family(
        "oxwsgi_worker_cpu_seconds_total",
        "counter",
        "CPU time of each worker process, in user and system mode.",
    );
    for (group, slot, pid, stat) in &live {
        for (mode, ticks) in [("user", stat.user_ticks), ("system", stat.system_ticks)] {
            let _ = writeln!(
                page.text,
                "oxwsgi_worker_cpu_seconds_total{} {}",
                labels(&[
                    ("group", group),
                    ("slot", slot),
                    ("pid", pid),
                    ("mode", mode)
                ]),
                ticks as f64 / stat.ticks_per_second as f64
            );
        }
    }
}

/// The resident memory of process `pid`, in bytes, from `/proc` (what
/// `oxwsgi_worker_resident_memory_bytes` shows); `None` once it is gone.
pub(crate) fn resident_bytes(pid: u32) -> Option<u64> {
    ProcStat::read(pid).map(|stat| stat.rss_bytes)
}

/// What `/proc/PID/stat` and `statm` say of a process.
struct ProcStat {
    rss_bytes: u64,
    user_ticks: u64,
    system_ticks: u64,
    ticks_per_second: u64,
}

impl ProcStat {
    fn read(pid: u32) -> Option<ProcStat> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name (field 2) may hold spaces and parentheses: fields after the last
        // `)` are fixed, starting with field 3.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let user_ticks = fields.get(11)?.parse().ok()?;
        let system_ticks = fields.get(12)?.parse().ok()?;
        let rss_pages: u64 = fields.get(21)?.parse().ok()?;
        Some(ProcStat {
            rss_bytes: rss_pages * rustix::param::page_size() as u64,
            user_ticks,
            system_ticks,
            ticks_per_second: rustix::param::clock_ticks_per_second().max(1),
        })
    }
}

#[derive(Default)]
struct Page {
    text: String,
}

impl Page {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels_: &[(&str, &str)], value: u64) {
        let _ = writeln!(self.text, "{name}{} {value}", labels(labels_));
    }

    fn seconds(&mut self, name: &str, labels_: &[(&str, &str)], us: u64) {
        let _ = writeln!(self.text, "{name}{} {}", labels(labels_), us as f64 / 1e6);
    }

    fn histogram(
        &mut self,
        name: &str,
        help: &str,
        groups: &[GroupTotals],
        histogram: fn(&GroupTotals) -> &Histogram,
    ) {
        self.family(name, "histogram", help);
        for group in groups {
            let histogram = histogram(group);
            let mut cumulative = 0;
            let bounds = DURATION_BOUNDS_US
                .iter()
                .map(|&us| format!("{}", us as f64 / 1e6))
                .chain(std::iter::once("+Inf".to_owned()));
            for (i, le) in bounds.enumerate() {
                cumulative += histogram.buckets.get(i).copied().unwrap_or(0);
                self.sample(
                    &format!("{name}_bucket"),
                    &[("group", &group.name), ("le", &le)],
                    cumulative,
                );
            }
            self.seconds(
                &format!("{name}_sum"),
                &[("group", &group.name)],
                histogram.sum_us,
            );
            self.sample(
                &format!("{name}_count"),
                &[("group", &group.name)],
                histogram.count(),
            );
        }
    }
}

/// `{a="1",b="2"}` with values escaped as the format says (backslash, quote, newline).
fn labels(pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let mut out = String::from("{");
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(
            labels(&[("group", "a\"b\\c\nd"), ("x", "y")]),
            r#"{group="a\"b\\c\nd",x="y"}"#
        );
    }

    #[test]
    fn this_process_has_a_stat() {
        let stat = ProcStat::read(std::process::id()).unwrap();
        assert!(stat.rss_bytes > 0);
    }
}
