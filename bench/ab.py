#!/usr/bin/env python3
"""Interleaved A/B of oxwsgi builds: CPU time per request and throughput, side by side.

    bench/ab.py REPS SECONDS 'NAME=ENV;ARGS' ...
    bench/ab.py 6 5 "before=BIN:/tmp/oxwsgi.before;" "after=BIN:target/release/oxwsgi;"
    bench/ab.py 6 5 "cli=;" "site=CONFIG:bench/sites/one-group.conf;" \
        "hop=CONFIG:bench/sites/two-groups.conf;"

Each variant (a name, `KEY:VALUE` environment pairs — `BIN` picks the binary — and extra
start-server arguments) serves bench/hello.py (APP=... another app) on its own port; wrk (one
thread, 64 connections) warms it for a second, then loads it for SECONDS. The rounds go A, B, A,
B, ... so that the machine's drift hits every variant alike. CPU per request is the server's
whole process group's user+system time from /proc, divided by the requests wrk completed: the
design's cost, less sensitive than throughput to what else the machine does. Prints, per
variant, the median and range of requests per second, the median CPU per request and each
round's p99.

`CONFIG:FILE` runs an Apache site file instead of the command line: FILE is a template whose
`{port}`, `{app}` and `{user_line}` (`User oxwsgi-test` when run as root) are filled in; the
files in bench/sites/ serve the same application directly (one group) and through the front
tier (two groups on one address), to measure the hop.
"""

import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time

reps = int(sys.argv[1])
duration = sys.argv[2]
variants = sys.argv[3:]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("BIN", os.path.join(ROOT, "target", "release", "oxwsgi"))
APP = os.environ.get("APP", os.path.join(ROOT, "bench", "hello.py"))
PATH = os.environ.get("URL", "/")


def cpu_ticks(session):
    """User+system ticks of every process in the session (the server and its workers)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
            if int(fields[3]) == session:
                total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total


results = {v: [] for v in variants}
port = 18600
for _ in range(reps):
    for variant in variants:
        name, _, rest = variant.partition("=")
        envs, _, args = rest.partition(";")
        env = dict(os.environ)
        for pair in filter(None, envs.split(",")):
            key, _, value = pair.partition(":")
            env[key] = value
        port += 1
        if "CONFIG" in env:
            template = open(os.path.join(ROOT, env["CONFIG"])).read()
            user_line = "User oxwsgi-test" if os.getuid() == 0 else ""
            config = f"/tmp/oxwsgi-ab-{os.getpid()}-{port}.conf"
            with open(config, "w") as out:
                out.write(template.format(port=port, app=APP, user_line=user_line))
            command = [env.get("BIN", BIN), "start-server", "--config", config] + args.split()
        else:
            command = [env.get("BIN", BIN), "start-server", APP, "--port", str(port),
                       "--daemon-backlog", "1024", "--log-level", "warn"] + args.split()
        server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        url = f"http://127.0.0.1:{port}{PATH}"
        subprocess.run(["wrk", "-t1", "-c64", "-d1", url], capture_output=True)
        before = cpu_ticks(server.pid)
        out = subprocess.run(["wrk", "-t1", "-c64", f"-d{duration}", "--latency", url],
                             capture_output=True, text=True).stdout
        after = cpu_ticks(server.pid)
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        p99 = re.search(r"\s99%\s+(\S+)", out).group(1)
        requests = int(re.search(r"(\d+) requests in", out).group(1))
        micros = (after - before) * 1e6 / os.sysconf("SC_CLK_TCK") / requests
        results[variant].append((rps, micros, p99))
        os.killpg(server.pid, signal.SIGTERM)
        server.wait()

for variant in variants:
    rps = [r[0] for r in results[variant]]
    micros = [r[1] for r in results[variant]]
    print(f"{variant.split('=')[0]:12} rps median {statistics.median(rps):8.0f} "
          f"[{min(rps):.0f}-{max(rps):.0f}]  cpu/req {statistics.median(micros):5.1f}us  "
          f"p99 {[r[2] for r in results[variant]]}")
