"""The measuring half of bench/run: starts each server, loads it with wrk, stops it, and prints
the tables. bench/run installs and builds first, then runs this file with the Python oxwsgi
embeds; it needs nothing but the standard library. `bench/run --help` lists the options.

How a measurement goes:

- Every server is started in a session of its own (setsid, as under a service manager; with
  Linux's scheduler autogroups a server sharing wrk's session would share its CPU group), on a
  free port of 127.0.0.1, and is ready when the scenario's URL answers (polled, with a
  deadline). Its answer is checked (status and body) before any load.
- Servers that serve the same application share one start: the hello scenarios (1, 64 and 512
  connections, and new connections) run one after the other on the same server.
- wrk warms the server up, then measures; a thread samples the resident memory of every process
  of the server's session (and their descendants) meanwhile, and the peak of their sum is kept.
- The server is stopped by its pid: SIGTERM to its process group, then, after a deadline,
  SIGKILL to whatever is left of its session. The harness does this on any exit, including
  Ctrl-C, and waits until the port is closed before the next server starts.
- Repetitions are interleaved: every server in every scenario once, then all again. The tables
  give the median of the repetitions and their spread ((max - min) / median).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from catalog import (APPS, BENCH, OUT, PAGE, ROOT, SCENARIO_BY_NAME, SCENARIOS,
                     SERVER_ALIASES, SERVER_BY_NAME, SERVERS, Config, Context, Launch, Plan,
                     Scenario, Server)
from report import fmt_mib, fmt_ms, fmt_rps, report

# --- Processes -------------------------------------------------------------------------------


def proc_table() -> dict[int, tuple[int, int, int]]:
    """pid -> (parent pid, session id, resident pages) of every process."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        # After "pid (comm) ": state, ppid, pgrp, session, ... rss is the 24th field overall.
        table[int(entry.name)] = (int(fields[1]), int(fields[3]), int(fields[21]))
    return table


def server_pids(leader: int, table: dict[int, tuple[int, int, int]] | None = None) -> set[int]:
    """The server's processes: its session, and any descendant that left it."""
    table = table if table is not None else proc_table()
    members = {pid for pid, (_, sid, _) in table.items() if sid == leader or pid == leader}
    grew = True
    while grew:
        grew = False
        for pid, (ppid, _, _) in table.items():
            if pid not in members and ppid in members:
                members.add(pid)
                grew = True
    return members


def tree_rss(leader: int) -> int:
    table = proc_table()
    return sum(table[pid][2] for pid in server_pids(leader, table)) * PAGE


class RssSampler:
    """Samples the summed RSS of a server's processes in the background; keeps the peak."""

    def __init__(self, leader: int, interval: float = 0.25) -> None:
        self.leader, self.interval, self.peak = leader, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            self.peak = max(self.peak, tree_rss(self.leader))
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_rss(self.leader))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Running:
    """A started server. stop() is idempotent; every Running is stopped on any exit."""

    all: list[Running] = []

    def __init__(self, launch: Launch, log: Path, port: int) -> None:
        self.port, self.log = port, log
        env = {**os.environ, **launch.env}
        env.pop("VIRTUAL_ENV", None)  # each server is told its venv explicitly
        self.logfile = open(log, "wb")
        self.logfile.write(f"$ {shlex.join(launch.argv)}\n".encode())
        self.logfile.flush()
        # start_new_session: setsid() in the child; the server leads its own session and
        # process group, which is how it is stopped.
        self.proc = subprocess.Popen(launch.argv, cwd=launch.cwd, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self.logfile, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.pid = self.proc.pid
        Running.all.append(self)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 6) -> str:
        try:
            text = self.log.read_text(errors="replace").strip().splitlines()[1:]
        except OSError:
            return ""
        return " | ".join(line.strip() for line in text[-lines:])

    def stop(self, grace: float = 15.0) -> None:
        if self in Running.all:
            Running.all.remove(self)
        members = server_pids(self.pid)
        if self.proc.poll() is None:
            os.killpg(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if self.proc.poll() is not None and not members & set(proc_table()):
                break
            time.sleep(0.05)
        # Whatever is left, by pid: the group while its leader is unreaped (so the id is still
        # this server's), then each process left of its session or its descendants.
        if self.proc.poll() is None:
            os.killpg(self.pid, signal.SIGKILL)
        for pid in sorted((members | server_pids(self.pid)) & set(proc_table())):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.logfile.close()
        deadline = time.monotonic() + 10
        while port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)


def stop_all() -> None:
    for running in list(Running.all):
        running.stop(grace=5.0)


# --- Requests and wrk ------------------------------------------------------------------------


def request(port: int, scenario: Scenario, timeout: float) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/octet-stream"} if scenario.body else {}
        conn.request(scenario.method, scenario.path, body=scenario.body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_ready(running: Running, scenario: Scenario, deadline_s: float) -> str | None:
    """Polls until the server answers the scenario's URL; None when it does, else why not."""
    deadline = time.monotonic() + deadline_s
    last = "no answer"
    while time.monotonic() < deadline:
        if not running.alive():
            return f"exited with status {running.proc.returncode}: {running.log_tail()}"
        try:
            request(running.port, scenario, timeout=max(1.0, deadline - time.monotonic()))
            return None
        except (OSError, http.client.HTTPException) as error:
            last = f"{type(error).__name__}: {error}"
        time.sleep(0.1)
    tail = running.log_tail()
    return f"did not answer within {deadline_s:g} s ({last})" + (f": {tail}" if tail else "")


def check_answer(port: int, scenario: Scenario) -> str | None:
    """None when the server answers the scenario correctly, else what is wrong."""
    try:
        status, body = request(port, scenario, timeout=30)
    except (OSError, http.client.HTTPException) as error:
        return f"request failed: {type(error).__name__}: {error}"
    if status != 200:
        return f"answered {status}: {body[:120]!r}"
    if scenario.expect_bytes is None:
        try:
            json.loads(body)
        except ValueError:
            return f"answered no JSON: {body[:120]!r}"
    elif len(body) != scenario.expect_bytes:
        return f"answered {len(body)} bytes, not {scenario.expect_bytes}"
    return None


UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def to_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not match:
        raise ValueError(f"latency {text!r}")
    return float(match.group(1)) * UNITS_MS[match.group(2)]


def wrk_command(port: int, scenario: Scenario, seconds: int, threads: int, latency: bool) -> list[str]:
    argv = ["wrk", "-t", str(min(threads, scenario.connections)), "-c", str(scenario.connections),
            "-d", f"{seconds}s", "--timeout", "10s"]
    if latency:
        argv.append("--latency")
    for header in scenario.headers:
        argv += ["-H", header]
    if scenario.lua:
        argv += ["-s", str(BENCH / "lua" / scenario.lua)]
    return argv + [f"http://127.0.0.1:{port}{scenario.path}"]


def parse_wrk(output: str) -> dict:
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    total = re.search(r"^\s*(\d+) requests in", output, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    if not (rps and total and p50 and p99):
        raise ValueError("unexpected wrk output: " + " | ".join(output.strip().splitlines()[-4:]))
    errors = {"connect": 0, "read": 0, "write": 0, "timeout": 0, "non-2xx": 0}
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket_errors:
        for key, value in zip(("connect", "read", "write", "timeout"), socket_errors.groups()):
            errors[key] = int(value)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non2xx:
        errors["non-2xx"] = int(non2xx.group(1))
    return {"rps": float(rps.group(1)), "requests": int(total.group(1)),
            "p50_ms": to_ms(p50.group(1)), "p99_ms": to_ms(p99.group(1)), "errors": errors}


def run_wrk(argv: list[str], seconds: int) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)


# --- The run ---------------------------------------------------------------------------------


class Results:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: list[dict] = []

    def add(self, **record) -> None:
        self.records.append(record)
        self.path.write_text(json.dumps(self.records, indent=1))


def log_name(rep: int, config: Config, group: list[Scenario], server: Server) -> str:
    return f"r{rep}-{config.name}-{group[0].name}-{server.name}.log"


class Failure(Exception):
    """A measurement that could not be made; its message goes into the table."""


def measure_one(plan: Plan, running: Running, scenario: Scenario) -> tuple[dict, int]:
    """Checks the server's answer, warms it up and measures it: (wrk's figures, peak RSS)."""
    if not running.alive():
        raise Failure(f"exited with status {running.proc.returncode}: {running.log_tail()}")
    wrong = check_answer(running.port, scenario)
    if wrong:
        raise Failure(wrong)
    try:
        with RssSampler(running.pid) as rss:
            if plan.warmup > 0:
                run_wrk(wrk_command(running.port, scenario, plan.warmup, plan.wrk_threads, False),
                        plan.warmup)
            done = run_wrk(
                wrk_command(running.port, scenario, plan.duration, plan.wrk_threads, True),
                plan.duration)
    except subprocess.TimeoutExpired:
        raise Failure("wrk did not finish in time") from None
    if done.returncode != 0:
        raise Failure(f"wrk exited {done.returncode}: {done.stderr.strip()[-200:]}")
    try:
        measured = parse_wrk(done.stdout)
    except ValueError as error:
        raise Failure(str(error)) from None
    if not running.alive():
        measured["errors"]["server exited"] = 1
    return measured, rss.peak


def measure_group(plan: Plan, ctx: Context, results: Results, rep: int, config: Config,
                  group: list[Scenario], server: Server, progress) -> None:
    """One start of one server: the scenarios of a group, one after the other."""
    scenarios = plan.runnable(server, group)
    app, static = APPS[group[0].app], group[0].static
    port = free_port()
    common = dict(rep=rep, config=config.name, server=server.name)
    log = OUT / "logs" / log_name(rep, config, group, server)

    def failed(scenario: Scenario, reason: str) -> None:
        if "log: " not in reason:
            reason += f" (log: {log.relative_to(ROOT)})"
        results.add(**common, scenario=scenario.name, ok=False, reason=reason)
        progress(config, scenario, server, "FAILED: " + reason)

    try:
        running = Running(server.launch(ctx, app, config, port, static), log, port)
    except Exception as error:  # noqa: BLE001 - reported in the table
        for scenario in scenarios:
            failed(scenario, f"could not start: {error}")
        return
    try:
        why = wait_ready(running, scenarios[0], plan.start_timeout)
        if why:
            for scenario in scenarios:
                failed(scenario, f"did not start: {why} (log: {log.relative_to(ROOT)})")
            return
        for scenario in scenarios:
            try:
                measured, peak = measure_one(plan, running, scenario)
            except Failure as failure:
                failed(scenario, str(failure))
                continue
            results.add(**common, scenario=scenario.name, ok=True, rss=peak, **measured)
            errors = sum(measured["errors"].values())
            progress(config, scenario, server,
                     f"{fmt_rps(measured['rps'])} req/s, p50 {fmt_ms(measured['p50_ms'])} ms, "
                     f"p99 {fmt_ms(measured['p99_ms'])} ms, {fmt_mib(peak)} MiB"
                     + (f", {errors} errors" if errors else ""))
    finally:
        running.stop()


def run(plan: Plan, results: Results) -> None:
    ctx = Context()
    logs = OUT / "logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    starts, loads, seconds = plan.estimate()
    print(f"bench/run: {loads} measurements on {starts} server starts, about "
          f"{seconds / 60:.0f} min", file=sys.stderr)
    done = [0]

    def progress(config, scenario, server, text):
        done[0] += 1
        print(f"  [{done[0]}/{loads}] {config.name} {scenario.name} {server.name}: {text}",
              file=sys.stderr, flush=True)

    try:
        for rep in range(1, plan.repetitions + 1):
            print(f"bench/run: repetition {rep} of {plan.repetitions}", file=sys.stderr)
            for config in plan.configs:
                for group in plan.groups():
                    for server in plan.servers:
                        if plan.runnable(server, group):
                            measure_group(plan, ctx, results, rep, config, group, server, progress)
    finally:
        stop_all()
        ctx.remove()


# --- Command line ----------------------------------------------------------------------------


def parse_list(text: str, known: dict, aliases: dict | None = None) -> list[str]:
    names = []
    for name in (n.strip() for n in text.split(",")):
        if not name:
            continue
        if aliases and name in aliases:
            names += aliases[name]
        elif name in known:
            names.append(name)
        else:
            raise SystemExit(f"bench/run: unknown name {name!r}; known: {', '.join(known)}")
    return names


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/run", description="Benchmarks oxwsgi against its peers (see bench/run).",
        epilog="bench/run's own options: --no-setup (no apt, pip or user), --no-build.")
    parser.add_argument("--scenarios", "--scenario", default=",".join(SCENARIO_BY_NAME),
                        help="comma-separated scenarios (default: all; see --list)")
    parser.add_argument("--servers", "--server", default=",".join(SERVER_BY_NAME),
                        help="comma-separated servers (default: all; 'gunicorn' means both kinds)")
    parser.add_argument("--configs", default="1x4,2x2",
                        help="processes x threads, comma-separated (default: 1x4,2x2)")
    parser.add_argument("--duration", type=int, help="seconds per measurement (default 5)")
    parser.add_argument("--warmup", type=int, help="seconds of warm-up before each (default 1)")
    parser.add_argument("--repetitions", type=int, help="interleaved repetitions (default 3)")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk's threads (default 1)")
    parser.add_argument("--start-timeout", type=float, default=60,
                        help="seconds a server may take to answer (default 60)")
    parser.add_argument("--quick", action="store_true",
                        help="1 s per measurement, no warm-up, 1 repetition (unless given)")
    parser.add_argument("--record", action="store_true",
                        help="append the tables to bench/RESULTS.md")
    parser.add_argument("--list", action="store_true", help="list scenarios and servers")
    # bench/run checks the command line this way before it installs and builds anything.
    parser.add_argument("--check-arguments", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.list:
        print("Scenarios:")
        for s in SCENARIOS:
            print(f"  {s.name:<12} {s.title}")
        print("Servers:")
        for s in SERVERS:
            print(f"  {s.name:<17} {s.title}")
        return 0

    quick = args.quick
    duration = args.duration if args.duration is not None else (1 if quick else 5)
    warmup = args.warmup if args.warmup is not None else (0 if quick else 1)
    repetitions = args.repetitions if args.repetitions is not None else (1 if quick else 3)
    if duration < 1 or warmup < 0 or repetitions < 1:
        raise SystemExit("bench/run: --duration and --repetitions must be at least 1")
    configs = []
    for text in args.configs.split(","):
        match = re.fullmatch(r"\s*(\d+)x(\d+)\s*", text)
        if not match:
            raise SystemExit(f"bench/run: --configs takes PROCESSESxTHREADS, not {text!r}")
        configs.append(Config(int(match.group(1)), int(match.group(2))))
    scenarios = [SCENARIO_BY_NAME[n] for n in parse_list(args.scenarios, SCENARIO_BY_NAME)]
    wanted = parse_list(args.servers, SERVER_BY_NAME, SERVER_ALIASES)
    if args.check_arguments:
        return 0
    servers, unavailable = [], {}
    for server in SERVERS:
        if server.name not in wanted:
            continue
        why = server.missing()
        if why:
            unavailable[server.name] = why
            print(f"bench/run: {server.name} will not run: {why}", file=sys.stderr)
        else:
            servers.append(server)
    if not shutil.which("wrk"):
        raise SystemExit("bench/run: wrk is needed (apt-get install wrk)")

    plan = Plan(configs, scenarios, servers, unavailable, duration, warmup, repetitions,
                args.wrk_threads, args.start_timeout)
    OUT.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    results = Results(OUT / f"results-{stamp}.json")

    def interrupted(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    # Also SIGINT: a shell that starts this in the background makes it ignore SIGINT.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupted)
    command = os.environ.get("BENCH_COMMAND") or shlex.join(["bench/run", *argv])
    try:
        run(plan, results)
    except KeyboardInterrupt:
        print("bench/run: interrupted; the servers were stopped. Partial results:", file=sys.stderr)
        print(report(plan, results.records, command))
        return 130
    text = report(plan, results.records, command)
    (OUT / f"results-{stamp}.md").write_text(text)
    print(text)
    print(f"bench/run: raw results in {results.path.relative_to(ROOT)}", file=sys.stderr)
    if args.record:
        with open(BENCH / "RESULTS.md", "a") as f:
            f.write("\n" + text)
        print("bench/run: appended to bench/RESULTS.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
