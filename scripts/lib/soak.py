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


class Stats:
    """Counts and latencies, shared by the load threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sent = 0
        self.answered = 0
        self.failed = []  # (start, end, kind, what)
        self.latencies = []
        self.slowest = []  # (latency, start, kind, attempts)

    def ok(self, started, kind="", attempts=1):
        latency = time.monotonic() - started
        with self.lock:
            self.sent += 1
            self.answered += 1
            self.latencies.append(latency)
            if latency > 1.0:
                self.slowest.append((latency, started, kind, attempts))

    def fail(self, started, kind, what):
        with self.lock:
            self.sent += 1
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
                return response.status, data, attempt
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
                status, data, retried = c.request("GET", "/hello", headers={"Connection": "close"})
                c.close()
                want = expected["/hello"]
            elif kind == "upload":
                status, data, retried = client.request("POST", "/upload", body=UPLOAD)
                want = expected["/upload"]
            elif kind == "static":
                status, data, retried = client.request("GET", static_path[0])
                want = static_path[1]
            else:
                path = "/" + kind
                status, data, retried = client.request("GET", path)
                want = expected[path]
            if status != 200 or data != want:
                stats.fail(started, kind, f"status {status}, {len(data)} bytes")
            else:
                stats.ok(started, kind, retried)
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
    """The worker pids of the supervisor: its children."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat[1]) == supervisor:
            pids.append(int(entry))
    return pids


def rss_kib(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def main():
    parser = argparse.ArgumentParser(description="Soak oxwsgi under chaos (see scripts/soak).")
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--kill-every", type=float, default=20, help="seconds, on average")
    parser.add_argument("--restart-every", type=float, default=30, help="seconds (SIGHUP)")
    parser.add_argument("--maximum-requests", type=int, default=5_000)
    parser.add_argument("--binary", default=str(ROOT / "target" / "release" / "oxwsgi"))
    args = parser.parse_args()

    workdir = pathlib.Path(tempfile.mkdtemp(prefix="oxwsgi-soak-"))
    static_dir = workdir / "static"
    static_dir.mkdir()
    static_body = os.urandom(100 * 1024)
    (static_dir / "file.bin").write_bytes(static_body)
    port_probe = socket.socket()
    port_probe.bind(("127.0.0.1", 0))
    port = port_probe.getsockname()[1]
    port_probe.close()
    command = [
        args.binary, "start-server", str(APP),
        "--port", str(port),
        "--server-root", str(workdir / "root"),
        "--processes", "2", "--threads", "4",
        "--maximum-requests", str(args.maximum_requests),
        "--url-alias", "/static", str(static_dir),
        "--header-timeout", "2", "--header-max-timeout", "4",
        "--socket-timeout", "3",
        "--keep-alive-timeout", "5",
        "--log-level", "info",
    ]
    venv = ROOT / ".venv"
    if venv.exists():
        command += ["--python-home", str(venv)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=open(workdir / "stderr.log", "w"),
                              start_new_session=True)
    error_log = workdir / "root" / "error_log"
    stderr_log = workdir / "stderr.log"

    def log_text():
        return "".join(p.read_text(errors="replace") for p in (error_log, stderr_log) if p.exists())

    deadline = time.monotonic() + 60
    while "ready: serving" not in log_text():
        if server.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"oxwsgi did not start; see {error_log} and {workdir / 'stderr.log'}")
        time.sleep(0.1)

    stats = Stats()
    stop = threading.Event()
    slow_counts = {"trickled": 0, "stopped reading": 0, "slow client errors": 0}
    threads = [
        threading.Thread(target=load, args=(port, stats, stop, ("/static/file.bin", static_body), i))
        for i in range(args.clients)
    ]
    threads.append(threading.Thread(target=slow_clients, args=(port, stop, slow_counts)))
    for t in threads:
        t.start()

    kills, restarts, samples = [], [], []
    rng = random.Random(1)
    started = time.monotonic()
    end = started + args.minutes * 60
    next_kill = started + rng.expovariate(1 / args.kill_every)
    next_restart = started + args.restart_every
    next_sample = started
    try:
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_sample:
                with stats.lock:
                    served = stats.sent
                for pid in workers_of(server.pid):
                    samples.append((now - started, served, pid, rss_kib(pid)))
                next_sample = now + 5
            if now >= next_kill:
                pids = workers_of(server.pid)
                if pids:
                    victim = rng.choice(pids)
                    os.kill(victim, signal.SIGKILL)
                    kills.append((now, victim))
                next_kill = now + rng.expovariate(1 / args.kill_every)
            if now >= next_restart:
                server.send_signal(signal.SIGHUP)
                restarts.append(now)
                next_restart = now + args.restart_every
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=120)
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)

    # A failure is "in flight on a killed worker" when a kill fell inside it. kill() returns
    # before the process is gone, and until then it may still accept a connection: a request
    # that starts within 0.2 s after a kill counts too.
    def at_kill(failure):
        start, finish, _, _ = failure
        return any(start - 0.2 <= at <= finish + 0.5 for at, _ in kills)

    in_flight = [f for f in stats.failed if at_kill(f)]
    other = [f for f in stats.failed if not at_kill(f)]
    recycles = len(re.findall(r"will be replaced: maximum-requests", log_text()))
    elapsed = time.monotonic() - started
    latencies = sorted(stats.latencies)

    def pct(p):
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000

    print(f"oxwsgi soak: {elapsed / 60:.1f} min, {args.clients} clients + slow clients, "
          f"2 processes x 4 threads, --maximum-requests {args.maximum_requests}")
    print(f"chaos: {len(kills)} workers killed (SIGKILL), {len(restarts)} graceful restarts "
          f"(SIGHUP), {recycles} --maximum-requests recycles")
    print(f"requests: {stats.sent} sent, {stats.answered} answered correctly, "
          f"{len(stats.failed)} failed: {len(in_flight)} in flight on a killed worker, "
          f"{len(other)} other")
    for start, finish, kind, what in other[:20]:
        near_kill = min((abs(at - start) for at, _ in kills), default=float("inf"))
        near_restart = min((abs(at - start) for at in restarts), default=float("inf"))
        print(f"  other failure at {start - started:.1f} s: {kind}: {what} (nearest kill "
              f"{near_kill:.2f} s away, nearest SIGHUP {near_restart:.2f} s away)")
    print(f"slow clients (cut on purpose, not counted above): {slow_counts}")
    if latencies:
        print(f"latency ms: p50 {pct(50):.1f}, p90 {pct(90):.1f}, p99 {pct(99):.1f}, "
              f"max {latencies[-1] * 1000:.1f}; mean {statistics.mean(latencies) * 1000:.1f}")
    # Workers are replaced all the time here (kills, SIGHUP every 30 s, recycles), so memory
    # is judged by the largest worker of each minute against the requests served so far.
    for latency, start, kind, attempts in sorted(stats.slowest, reverse=True)[:10]:
        near_kill = min((abs(at - start) for at, _ in kills), default=float("inf"))
        near_restart = min((abs(at - start) for at in restarts), default=float("inf"))
        print(f"  slow: {kind} took {latency:.2f} s at {start - started:.1f} s "
              f"({attempts} attempt(s); nearest kill {near_kill:.2f} s, SIGHUP {near_restart:.2f} s)")
    print("worker RSS by minute (largest worker; requests so far):")
    minutes = {}
    for at, served, pid, rss in samples:
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
    print(f"server root (logs): {workdir / 'root'}")
    sys.exit(1 if other else 0)


if __name__ == "__main__":
    main()
