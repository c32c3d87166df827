"""The soak under chaos of scripts/soak: mixed load on a real oxwsgi while its workers are
killed, restarted and recycled. See scripts/soak for what it prints and why."""

import argparse
import http.client
import os
import pathlib
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
APP = ROOT / "scripts" / "lib" / "soak_app.wsgi"

UPLOAD = b"u" * (256 * 1024)

# The application the server runs: scripts/lib/soak_app.wsgi, with the answering worker named in
# every response it makes — its pid, and its start time (clock ticks after boot, field 22 of
# /proc/self/stat) so that a pid the kernel hands out again is not taken for the same worker.
# The static file is answered by the worker's Rust side, not by this application, and carries
# neither header. Written into the run's directory by main().
APP_WITH_PID = """\
import os
import runpy

_application = runpy.run_path({app!r})["application"]
_PID = str(os.getpid())
_STARTED = open("/proc/self/stat").read().rsplit(")", 1)[1].split()[19]


def application(environ, start_response):
    def start(status, headers, exc_info=None):
        return start_response(status, list(headers) + [("X-Worker-Pid", _PID), ("X-Worker-Started", _STARTED)], exc_info)

    return _application(environ, start)
"""


class Stats:
    """Counts and latencies, shared by the load threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sent = 0
        self.answered = 0
        self.failed = []  # (start, end, kind, what)
        self.latencies = []
        self.slowest = []  # (latency, start, kind, attempts)
        self.by_worker = {}  # (pid, start ticks) -> responses it made that reached a client

    def ok(self, started, kind="", attempts=1, worker=None):
        latency = time.monotonic() - started
        with self.lock:
            self.sent += 1
            self.answered += 1
            if worker is not None:
                self.by_worker[worker] = self.by_worker.get(worker, 0) + 1
            self.latencies.append(latency)
            if latency > 1.0:
                self.slowest.append((latency, started, kind, attempts))

    def fail(self, started, kind, what, worker=None):
        with self.lock:
            self.sent += 1
            if worker is not None:
                self.by_worker[worker] = self.by_worker.get(worker, 0) + 1
            self.failed.append((started, time.monotonic(), kind, what))


class Client:
    """One keep-alive connection, as a browser or `requests` keeps one: a request that fails on
    a reused connection before any byte of its answer is sent again once on a new one (RFC 9112
    §9.3.1), which is what makes a server's closing of idle connections invisible."""

    def __init__(self, port):
        self.port = port
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        for attempt in (1, 2):
            fresh = self.conn is None
            if fresh:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                response = self.conn.getresponse()
                data = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.close()
                pid, ticks = response.getheader("X-Worker-Pid"), response.getheader("X-Worker-Started")
                worker = (int(pid), int(ticks)) if pid and ticks else None
                return response.status, data, attempt, worker
            except (ConnectionError, http.client.RemoteDisconnected, BrokenPipeError) as err:
                self.close()
                if fresh or attempt == 2:
                    raise
                last = err
            except Exception:
                self.close()
                raise
        raise last

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def load(port, stats, stop, static_path, seed):
    rng = random.Random(seed)
    client = Client(port)
    expected = {
        "/hello": b"hello /hello",
        "/slow": b"hello /slow",
        "/stream": b"s" * 50 * 1024,
        "/upload": b"%d" % len(UPLOAD),
    }
    while not stop.is_set():
        kind = rng.choices(
            ["hello", "new-connection", "upload", "stream", "static", "slow"],
            weights=[50, 10, 5, 10, 15, 10],
        )[0]
        started = time.monotonic()
        try:
            if kind == "new-connection":
                c = Client(port)
                status, data, retried, worker = c.request("GET", "/hello", headers={"Connection": "close"})
                c.close()
                want = expected["/hello"]
            elif kind == "upload":
                status, data, retried, worker = client.request("POST", "/upload", body=UPLOAD)
                want = expected["/upload"]
            elif kind == "static":
                status, data, retried, worker = client.request("GET", static_path[0])
                want = static_path[1]
            else:
                path = "/" + kind
                status, data, retried, worker = client.request("GET", path)
                want = expected[path]
            if status != 200 or data != want:
                stats.fail(started, kind, f"status {status}, {len(data)} bytes", worker)
            else:
                stats.ok(started, kind, retried, worker)
        except Exception as err:
            stats.fail(started, kind, f"{type(err).__name__}: {err}")


def slow_clients(port, stop, counts):
    """Clients that trickle their heads or never read: the server must cut them, and they must
    not disturb anyone else. Their outcomes are counted apart (they are meant to be cut)."""
    rng = random.Random(7)
    while not stop.is_set():
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=60)
            if rng.random() < 0.5:
                sock.sendall(b"GET /hello HTTP/1.1\r\nHost: soak\r\n")
                sock.settimeout(1)
                for _ in range(5):
                    try:
                        if not sock.recv(100):
                            break
                    except socket.timeout:
                        sock.sendall(b"X")
                counts["trickled"] += 1
            else:
                sock.sendall(b"GET /stream HTTP/1.1\r\nHost: soak\r\n\r\n")
                sock.recv(10)
                counts["stopped reading"] += 1
            sock.close()
        except OSError:
            counts["slow client errors"] += 1


def workers_of(supervisor):
    """The workers of the supervisor, its children, as (pid, start time in clock ticks after
    boot) — the same pair the application puts in its responses."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat[1]) == supervisor:
            pids.append((int(entry), int(stat[19])))
    return pids


def rss_kib(pid):
    """VmRSS, RssAnon and RssFile of the process in KiB: (None, None, None) once it is gone."""
    found = {}
    try:
        for line in open(f"/proc/{pid}/status"):
            name = line.split(":", 1)[0]
            if name in ("VmRSS", "RssAnon", "RssFile"):
                found[name] = int(line.split()[1])
    except OSError:
        pass
    return found.get("VmRSS"), found.get("RssAnon"), found.get("RssFile")


def free_port():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


class Server:
    """One oxwsgi under test, with its logs under workdir/<name>."""

    def __init__(self, args, workdir, name, app, static_dir, processes, maximum_requests):
        self.port = free_port()
        self.root = workdir / name
        self.error_log = self.root / "error_log"
        self.stderr_log = workdir / f"{name}-stderr.log"
        command = [
            args.binary, "start-server", str(app),
            "--port", str(self.port),
            "--server-root", str(self.root),
            "--processes", str(processes), "--threads", "4",
            "--maximum-requests", str(maximum_requests),
            "--url-alias", "/static", str(static_dir),
            "--header-timeout", "2", "--header-max-timeout", "4",
            "--socket-timeout", "3",
            "--keep-alive-timeout", "5",
            "--log-level", "info",
        ]
        venv = ROOT / ".venv"
        if venv.exists():
            command += ["--python-home", str(venv)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                        stderr=open(self.stderr_log, "w"), start_new_session=True)
        self.pid = self.process.pid

    def log_text(self):
        return "".join(p.read_text(errors="replace") for p in (self.error_log, self.stderr_log)
                       if p.exists())

    def wait_ready(self):
        deadline = time.monotonic() + 60
        while "ready: serving" not in self.log_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"oxwsgi did not start; see {self.error_log} and {self.stderr_log}")
            time.sleep(0.1)

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)

    def endings(self):
        """Why the supervisor replaced each worker, by pid, from its log."""
        names = {"maximum-requests": "recycled", "SIGHUP restart": "SIGHUP"}
        return {int(pid): names.get(why, why) for pid, why in
                re.findall(r"\(pid (\d+)\) will be replaced: ([^\n]+)", self.log_text())}


def worker_table(args, title, samples, stats, killed, endings):
    """Each worker's RSS over its own life against the requests it answered itself: a worker
    that leaks grows with its own requests, whatever the others do. Prints a table and returns
    [(growth, KiB grown, requests)] of the workers measured, and how many were not."""
    lives = {}  # worker -> [(at, rss KiB, own requests so far)]
    for at, _, worker, rss, own in samples:
        if rss is not None:
            lives.setdefault(worker, []).append((at, rss, own))
    last_at = max((at for at, *_ in samples), default=0)
    print(title)
    print(f"  {'pid':>7} {'from s':>6} {'lived s':>7} {'requests':>8}  {'end':<8} {'first':>5} "
          f"{'warm':>5} {'peak':>5} {'last':>5} {'growth':>7} {'fit':>7}")
    measured, short, unwarmed = [], 0, 0
    for worker, life in sorted(lives.items(), key=lambda item: item[1][0][0]):
        first_at, first_rss, _ = life[0]
        at, rss, own = life[-1]
        if worker in killed:
            end = "killed"
        elif worker[0] in endings:
            end = endings[worker[0]]
        elif at >= last_at:
            end = "running"
        else:
            end = "gone"
        warm_at = next((i for i, sample in enumerate(life) if sample[2] >= args.warm_up), None)
        warm_text, growth_text, fit_text = "-", "-", "-"
        if warm_at is None:
            unwarmed += 1
        else:
            _, warm_rss, warm_own = life[warm_at]
            warm_text = f"{warm_rss / 1024:.1f}"
            if own - warm_own >= args.measure_at_least:
                growth = (rss - warm_rss) / 1024 / ((own - warm_own) / 1e6)
                measured.append((growth, rss - warm_rss, own - warm_own))
                growth_text = f"{growth:+.2f}"
                after = life[warm_at:]
                fit = statistics.linear_regression([o for _, _, o in after], [r for _, r, _ in after])
                fit_text = f"{fit.slope / 1024 * 1e6:+.2f}"
            else:
                short += 1
                growth_text = "short"
        peak = max(r for _, r, _ in life)
        print(f"  {worker[0]:>7} {first_at:>6.1f} {at - first_at:>7.1f} "
              f"{stats.by_worker.get(worker, 0):>8}  {end:<8} {first_rss / 1024:>5.1f} "
              f"{warm_text:>5} {peak / 1024:>5.1f} {rss / 1024:>5.1f} {growth_text:>7} {fit_text:>7}")
    print(f"  {len(lives)} workers: {len(measured)} measured, {short} too short-lived (warmed up, "
          f"but fewer than {args.measure_at_least} requests after), {unwarmed} never warmed up "
          f"(fewer than {args.warm_up} requests)")
    return measured, short + unwarmed


def main():
    parser = argparse.ArgumentParser(description="Soak oxwsgi under chaos (see scripts/soak).")
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--kill-every", type=float, default=20, help="seconds, on average")
    parser.add_argument("--restart-every", type=float, default=30, help="seconds (SIGHUP)")
    parser.add_argument("--maximum-requests", type=int, default=5_000)
    parser.add_argument("--binary", default=str(ROOT / "target" / "release" / "oxwsgi"))
    parser.add_argument("--long-lived-worker", action=argparse.BooleanOptionalAction, default=True,
                        help="also run a second oxwsgi of one process that nothing kills, restarts "
                             "or recycles, under --long-lived-clients clients of the same mix, so "
                             "that one worker lives the whole run (default: on)")
    parser.add_argument("--long-lived-clients", type=int, default=4)
    parser.add_argument("--sample-every", type=float, default=1, help="seconds between RSS samples")
    parser.add_argument("--warm-up", type=int, default=10_000,
                        help="a worker's own requests before its RSS counts as warmed up")
    parser.add_argument("--measure-at-least", type=int, default=10_000,
                        help="a worker's own requests after warm-up needed to judge its growth")
    args = parser.parse_args()

    workdir = pathlib.Path(tempfile.mkdtemp(prefix="oxwsgi-soak-"))
    static_dir = workdir / "static"
    static_dir.mkdir()
    static_body = os.urandom(100 * 1024)
    (static_dir / "file.bin").write_bytes(static_body)
    static = ("/static/file.bin", static_body)
    app = workdir / "soak_app.wsgi"
    app.write_text(APP_WITH_PID.format(app=str(APP)))
    server = Server(args, workdir, "root", app, static_dir, 2, args.maximum_requests)
    calm = None
    if args.long_lived_worker:
        calm = Server(args, workdir, "long-lived-root", app, static_dir, 1, 0)
    for s in (server, calm):
        if s is not None:
            s.wait_ready()

    stats, calm_stats = Stats(), Stats()
    stop = threading.Event()
    slow_counts = {"trickled": 0, "stopped reading": 0, "slow client errors": 0}
    threads = [threading.Thread(target=load, args=(server.port, stats, stop, static, i))
               for i in range(args.clients)]
    threads.append(threading.Thread(target=slow_clients, args=(server.port, stop, slow_counts)))
    if calm is not None:
        threads += [threading.Thread(target=load, args=(calm.port, calm_stats, stop, static, 1000 + i))
                    for i in range(args.long_lived_clients)]
    for t in threads:
        t.start()

    # Every sample: (seconds into the run, requests sent so far to that server, worker, VmRSS
    # KiB, the worker's own requests so far), per server; `detail` adds RssAnon and RssFile.
    kills, restarts, samples, calm_samples, detail = [], [], [], [], []
    rng = random.Random(1)
    started = time.monotonic()
    end = started + args.minutes * 60
    next_kill = started + rng.expovariate(1 / args.kill_every)
    next_restart = started + args.restart_every
    next_sample = started

    def sample(s, s_stats, into, name, now):
        workers = workers_of(s.pid)
        rss = {worker: rss_kib(worker[0]) for worker in workers}
        with s_stats.lock:
            served = s_stats.sent
            own = {worker: s_stats.by_worker.get(worker, 0) for worker in workers}
        for worker in workers:
            into.append((now - started, served, worker, rss[worker][0], own[worker]))
            detail.append((name, now - started, worker, own[worker], *rss[worker]))

    try:
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_sample:
                sample(server, stats, samples, "chaos", now)
                if calm is not None:
                    sample(calm, calm_stats, calm_samples, "long-lived", now)
                next_sample = now + args.sample_every
            if now >= next_kill:
                workers = workers_of(server.pid)
                if workers:
                    victim = rng.choice(workers)
                    os.kill(victim[0], signal.SIGKILL)
                    kills.append((now, victim))
                next_kill = now + rng.expovariate(1 / args.kill_every)
            if now >= next_restart:
                server.process.send_signal(signal.SIGHUP)
                restarts.append(now)
                next_restart = now + args.restart_every
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=120)
        for s in (server, calm):
            if s is not None:
                s.stop()

    # A failure is "in flight on a killed worker" when a kill fell inside it. kill() returns
    # before the process is gone, and until then it may still accept a connection: a request
    # that starts within 0.2 s after a kill counts too.
    def at_kill(failure):
        start, finish, _, _ = failure
        return any(start - 0.2 <= at <= finish + 0.5 for at, _ in kills)

    in_flight = [f for f in stats.failed if at_kill(f)]
    other = [f for f in stats.failed if not at_kill(f)]
    recycles = len(re.findall(r"will be replaced: maximum-requests", server.log_text()))
    elapsed = time.monotonic() - started
    latencies = sorted(stats.latencies)

    def pct(p):
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000

    def nearest(start):
        near_kill = min((abs(at - start) for at, _ in kills), default=float("inf"))
        near_restart = min((abs(at - start) for at in restarts), default=float("inf"))
        return near_kill, near_restart

    print(f"oxwsgi soak: {elapsed / 60:.1f} min, {args.clients} clients + slow clients, "
          f"2 processes x 4 threads, --maximum-requests {args.maximum_requests}")
    print(f"chaos: {len(kills)} workers killed (SIGKILL), {len(restarts)} graceful restarts "
          f"(SIGHUP), {recycles} --maximum-requests recycles")
    print(f"requests: {stats.sent} sent, {stats.answered} answered correctly, "
          f"{len(stats.failed)} failed: {len(in_flight)} in flight on a killed worker, "
          f"{len(other)} other")
    for start, finish, kind, what in other[:20]:
        near_kill, near_restart = nearest(start)
        print(f"  other failure at {start - started:.1f} s: {kind}: {what} (nearest kill "
              f"{near_kill:.2f} s away, nearest SIGHUP {near_restart:.2f} s away)")
    if calm is not None:
        # Nothing is killed there: every failure is one that should not happen.
        print(f"long-lived worker's server (1 process x 4 threads, {args.long_lived_clients} "
              f"clients of the same mix, never killed, restarted or recycled): "
              f"{calm_stats.sent} sent, {calm_stats.answered} answered correctly, "
              f"{len(calm_stats.failed)} failed")
        for start, finish, kind, what in calm_stats.failed[:20]:
            print(f"  failure at {start - started:.1f} s: {kind}: {what}")
    print(f"slow clients (cut on purpose, not counted above): {slow_counts}")
    if latencies:
        print(f"latency ms: p50 {pct(50):.1f}, p90 {pct(90):.1f}, p99 {pct(99):.1f}, "
              f"max {latencies[-1] * 1000:.1f}; mean {statistics.mean(latencies) * 1000:.1f}")
    for latency, start, kind, attempts in sorted(stats.slowest, reverse=True)[:10]:
        near_kill, near_restart = nearest(start)
        print(f"  slow: {kind} took {latency:.2f} s at {start - started:.1f} s "
              f"({attempts} attempt(s); nearest kill {near_kill:.2f} s, SIGHUP {near_restart:.2f} s)")

    # Memory, worker by worker: RSS against the worker's own requests, from its warm-up on.
    print(f"RSS of each worker over its life, sampled every {args.sample_every:g} s. requests: "
          f"the application's answers that reached a client (the static file, answered without "
          f"the application, is not counted, so growth per request is overstated). RSS in MiB: "
          f"first sample, warm (first sample after {args.warm_up} of its requests), peak, last. "
          f"growth: warm to last, MiB per million of its own requests, for workers with "
          f"{args.measure_at_least} or more requests after warm-up; fit: the least-squares slope "
          f"of RSS on requests over the same samples. end: killed by the soak, SIGHUP, recycled "
          f"(--maximum-requests), or running at the end.")
    measured, unmeasured = worker_table(
        args, "chaos server:", samples, stats, {victim for _, victim in kills}, server.endings())
    if calm is not None:
        more, fewer = worker_table(args, "long-lived worker's server:", calm_samples, calm_stats,
                                   set(), calm.endings())
        measured += more
        unmeasured += fewer
    if measured:
        growths = [growth for growth, _, _ in measured]
        grown_kib = sum(kib for _, kib, _ in measured)
        grown_requests = sum(requests for _, _, requests in measured)
        worst = max(growths)
        print(f"RSS growth after warm-up, MiB per million of a worker's own requests: "
              f"{len(measured)} workers measured ({unmeasured} too short-lived): median "
              f"{statistics.median(growths):+.2f}, max {worst:+.2f}; all measured together "
              f"{grown_kib / 1024 / (grown_requests / 1e6):+.2f} ({grown_kib / 1024:+.1f} MiB over "
              f"{grown_requests} requests)")
        print(f"every measured worker under 10 MiB per million requests: "
              f"{'yes' if worst < 10 else 'NO'}")
    else:
        print(f"RSS growth after warm-up: no worker served enough requests to measure "
              f"({unmeasured} too short-lived)")

    # The chaos server as a whole: the largest worker of each minute against the requests
    # served so far (all workers, of any age).
    print("chaos server's worker RSS by minute (largest worker; requests so far):")
    minutes = {}
    for at, served, _, rss, _ in samples:
        if rss is not None:
            minute = int(at // 60)
            best = minutes.get(minute, (0, 0))
            minutes[minute] = (max(best[0], rss), max(best[1], served))
    for minute, (rss, served) in sorted(minutes.items()):
        print(f"  minute {minute + 1:3d}: {rss / 1024:6.1f} MiB  ({served} requests)")
    if len(minutes) >= 3:
        first, last = sorted(minutes.items())[1], sorted(minutes.items())[-1]
        requests = last[1][1] - first[1][1]
        growth = (last[1][0] - first[1][0]) / 1024 / (requests / 1e6) if requests else 0.0
        print(f"RSS growth after the first minute (warm-up): {growth:+.2f} MiB per million "
              f"requests ({first[1][0] / 1024:.1f} -> {last[1][0] / 1024:.1f} MiB over "
              f"{requests} requests)")
    else:
        print("RSS growth: the run is too short to measure (3 minutes at least)")
    with open(workdir / "rss.csv", "w") as out:
        out.write("server,seconds,pid,requests,vmrss_kib,rssanon_kib,rssfile_kib\n")
        for name, at, worker, own, rss, anon, file in detail:
            out.write(f"{name},{at:.2f},{worker[0]},{own},{rss},{anon},{file}\n")
    print(f"logs: {workdir}/*root/error_log; every RSS sample: {workdir / 'rss.csv'}")
    # The RSS verdict does not change the exit status: only failures do.
    sys.exit(1 if other or calm_stats.failed else 0)


if __name__ == "__main__":
    main()
