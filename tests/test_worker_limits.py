"""Worker limits and the timeouts of their family (issue 15, item 2): --interrupt-timeout
(mod_wsgi.RequestTimeout raised in a stuck request's thread before its worker is replaced),
--cpu-time-limit, --memory-limit, --maximum-rss-size (a graceful recycle), --eviction-timeout,
--response-socket-timeout (and --connect-timeout, in test_connect_timeout.py), from the command
line and from WSGIDaemonProcess options. Every wait is on an event (a log line, a pid change, a metric)."""

import concurrent.futures
import re
import signal
import socket
import threading

import pytest
import requests

from support import VENV, Server, free_port, user_directive, wait_for_file, wait_until
from test_apache_config import write
from test_operations import sample, scrape

APP = """
import os, time

import mod_wsgi

GROWN = []

def application(environ, start_response):
    path = environ['PATH_INFO']
    body = str(os.getpid()).encode()
    if path == '/class':
        body = repr((issubclass(mod_wsgi.RequestTimeout, BaseException),
                     issubclass(mod_wsgi.RequestTimeout, Exception))).encode()
    elif path == '/loop':
        # Pure Python: the interpreter sees the exception between two bytecodes.
        n = 0
        try:
            while True:
                n += 1
        except mod_wsgi.RequestTimeout:
            open(os.path.join(environ['STATE'], 'unwound'), 'w').close()
            raise
    elif path == '/swallow':
        # Catches the exception and goes on: only replacing the worker frees the thread.
        while True:
            try:
                while True:
                    time.sleep(0.01)
            except BaseException:
                open(os.path.join(environ['STATE'], 'swallowed'), 'w').close()
    elif path == '/c-sleep':
        # Blocked in C: the exception can only come when the sleep returns.
        time.sleep(3600)
    elif path == '/allocate':
        GROWN.append(bytearray(int(environ['QUERY_STRING']) * 1024 * 1024))
    elif path == '/spin':
        # Until the process has used this much CPU time (its start-up included).
        while time.process_time() < float(environ['QUERY_STRING']):
            pass
    elif path == '/slow':
        # A request that outlasts --graceful-timeout plus --shutdown-timeout.
        open(os.path.join(environ['STATE'], 'slow-started'), 'w').close()
        time.sleep(float(environ['QUERY_STRING']))
    elif path == '/big':
        body = b'x' * (64 * 1024 * 1024)
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body]
"""


def make_app(directory):
    """The application in `directory`, and the directory it leaves its markers in."""
    state = directory / "state"
    state.mkdir(exist_ok=True)
    state.chmod(0o777)
    app = directory / "app.wsgi"
    app.write_text(APP.replace("environ['STATE']", repr(str(state))))
    return app, state


def wait_replaced(srv, before):
    """Waits until the worker `before` is gone and another serves."""
    wait_until(lambda: before not in srv.worker_pids() and srv.worker_pids() != [],
               what=f"worker {before} replaced")


def pid_of(srv):
    response = requests.get(srv.url + "/", timeout=10)
    assert response.status_code == 200
    return int(response.text)


def test_request_timeout_is_a_base_exception_of_the_mod_wsgi_module(server, tmp_path):
    app, _ = make_app(tmp_path)
    srv = server(app)
    assert requests.get(srv.url + "/class", timeout=10).text == "(True, False)"


def test_a_stuck_python_loop_is_unwound_with_a_504_and_its_worker_kept(server, tmp_path):
    app, state = make_app(tmp_path)
    srv = server("--threads", "1", "--request-timeout", "1", "--interrupt-timeout", "30",
                 "--metrics-port", "0", "--log-level", "info", app)
    before = pid_of(srv)
    response = requests.get(srv.url + "/loop", timeout=60)
    assert response.status_code == 504
    srv.wait_for_log(r"GET /loop unwound after mod_wsgi\.RequestTimeout was raised in its "
                     r"thread; the thread serves on")
    assert (state / "unwound").exists()
    # The only Python thread is free again, in the same process.
    assert pid_of(srv) == before
    assert srv.worker_pids() == [before]
    text = scrape(srv)
    assert sample(text, "oxwsgi_request_timeouts_total") == 1
    assert sample(text, "oxwsgi_worker_exits_total", reason="timeout") == 0
    assert "asking to be replaced" not in srv.error_log()


def test_without_interrupt_timeout_the_stuck_worker_is_replaced(server, tmp_path):
    app, state = make_app(tmp_path)
    srv = server("--threads", "1", "--request-timeout", "1", "--graceful-timeout", "1",
                 "--shutdown-timeout", "1", app)
    before = srv.worker_pid()
    assert requests.get(srv.url + "/loop", timeout=60).status_code == 504
    wait_replaced(srv, before)
    assert pid_of(srv) != before
    assert not (state / "unwound").exists()


def test_a_request_that_swallows_the_exception_gets_its_worker_replaced(server, tmp_path):
    app, state = make_app(tmp_path)
    srv = server("--threads", "1", "--request-timeout", "1", "--interrupt-timeout", "1",
                 "--graceful-timeout", "1", "--shutdown-timeout", "1", "--metrics-port", "0",
                 app)
    before = srv.worker_pid()
    assert requests.get(srv.url + "/swallow", timeout=60).status_code == 504
    srv.wait_for_log(r"GET /swallow has run for [\d.]+s .* it did not unwind within the "
                     r"interrupt timeout \(1s\)", timeout=30)
    assert (state / "swallowed").exists()
    wait_replaced(srv, before)
    assert pid_of(srv) != before
    wait_until(
        lambda: sample(scrape(srv), "oxwsgi_worker_exits_total", reason="timeout") == 1,
        what="the stuck worker's exit counted",
    )


def test_a_request_blocked_in_c_cannot_unwind_and_its_worker_is_replaced(server, tmp_path):
    """The difference with a Python loop: time.sleep() does not return, so the exception is
    never delivered and the interrupt timeout runs out."""
    app, _ = make_app(tmp_path)
    srv = server("--threads", "1", "--request-timeout", "1", "--interrupt-timeout", "1",
                 "--graceful-timeout", "1", "--shutdown-timeout", "1", app)
    before = srv.worker_pid()
    assert requests.get(srv.url + "/c-sleep", timeout=60).status_code == 504
    srv.wait_for_log(r"mod_wsgi\.RequestTimeout was raised in its thread")
    srv.wait_for_log(r"GET /c-sleep has run for .* it did not unwind within the interrupt "
                     r"timeout", timeout=30)
    wait_replaced(srv, before)
    assert pid_of(srv) != before


def data_segment_bytes(pid):
    status = open(f"/proc/{pid}/status").read()
    return int(re.search(r"VmData:\s+(\d+) kB", status).group(1)) * 1024


def test_memory_limit_fails_the_allocation_and_recycles_the_worker(server, tmp_path):
    app, _ = make_app(tmp_path)
    probe = server("--threads", "2", app)
    assert pid_of(probe) > 0
    used = data_segment_bytes(probe.worker_pid())
    probe.stop()
    # Room for the worker as it runs, not for 512 MB more.
    limit = used + 128 * 1024 * 1024
    srv = server("--threads", "2", "--memory-limit", str(limit), "--metrics-port", "0", app)
    before = srv.worker_pid()
    assert requests.get(srv.url + "/allocate?16", timeout=30).status_code == 200
    assert requests.get(srv.url + "/allocate?512", timeout=30).status_code == 500
    srv.wait_for_log(r"MemoryError")
    srv.wait_for_log(r"GET /allocate\?512 ran out of memory under this worker's memory limit")
    wait_replaced(srv, before)
    assert pid_of(srv) != before
    wait_until(
        lambda: sample(scrape(srv), "oxwsgi_worker_exits_total", reason="limit") == 1,
        what="the exit counted as a limit",
    )
    assert sample(scrape(srv), "oxwsgi_worker_exits_total", reason="crash") == 0


def test_maximum_rss_recycles_the_worker_with_no_failed_request(server, tmp_path):
    app, _ = make_app(tmp_path)
    probe = server("--threads", "4", app)
    assert pid_of(probe) > 0
    rss_mb = probe.rss_kib() // 1024
    probe.stop()
    srv = server("--threads", "4", "--maximum-rss-size", str(rss_mb + 100),
                 "--metrics-port", "0", app)
    before = srv.worker_pid()
    failures = []
    pids = set()
    stop = threading.Event()

    def client():
        while not stop.is_set():
            try:
                response = requests.get(srv.url + "/", timeout=30)
                if response.status_code != 200:
                    failures.append(response.status_code)
                else:
                    pids.add(int(response.text))
            except requests.RequestException as err:
                failures.append(err)

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        clients = [pool.submit(client) for _ in range(3)]
        try:
            # 200 MB more resident (bytearray pages are written): past the limit.
            assert requests.get(srv.url + "/allocate?200", timeout=30).status_code == 200
            srv.wait_for_log(r"past --maximum-rss-size")
            wait_until(lambda: any(p != before for p in pids), what="the new worker serving")
            wait_until(
                lambda: sample(scrape(srv), "oxwsgi_worker_exits_total", reason="limit") == 1,
                what="the old worker gone and counted",
            )
        finally:
            stop.set()
            for future in clients:
                future.result()
    assert failures == []
    assert before in pids
    assert sample(scrape(srv), "oxwsgi_worker_exits_total", reason="crash") == 0


def test_cpu_time_limit_recycles_the_worker_after_its_request(server, tmp_path):
    app, _ = make_app(tmp_path)
    srv = server("--threads", "1", "--cpu-time-limit", "2", "--metrics-port", "0", app)
    before = srv.worker_pid()
    # The request runs past the limit; the worker finishes it before it is replaced.
    response = requests.get(srv.url + "/spin?3", timeout=60)
    assert response.status_code == 200
    assert int(response.text) == before
    srv.wait_for_log(r"this worker has used its CPU time limit \(2s, --cpu-time-limit\)")
    wait_replaced(srv, before)
    assert pid_of(srv) != before
    wait_until(
        lambda: sample(scrape(srv), "oxwsgi_worker_exits_total", reason="limit") == 1,
        what="the exit counted as a limit",
    )


@pytest.mark.parametrize("eviction", [True, False])
def test_a_restart_signal_drains_within_the_eviction_timeout(server, tmp_path, eviction):
    """A request of 4 s outlives --graceful-timeout 1 plus --shutdown-timeout 1: with
    --eviction-timeout 60 a SIGHUP restart lets it finish; without, it is cut."""
    app, state = make_app(tmp_path)
    extra = ["--eviction-timeout", "60"] if eviction else []
    srv = server("--threads", "2", "--graceful-timeout", "1", "--shutdown-timeout", "1",
                 *extra, app)
    before = srv.worker_pid()
    with srv.connect(timeout=60) as slow:
        slow.sendall(b"GET /slow?4 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        wait_for_file(state / "slow-started")
        srv.send_signal(signal.SIGHUP)
        srv.wait_for_log(r"replaced: pid \d+ serves, pid %d drains" % before, timeout=30)
        received = b""
        while chunk := slow.recv(65536):
            received += chunk
    if eviction:
        srv.wait_for_log(r"evicted by a restart: draining within the eviction timeout \(60s\)")
        assert received.startswith(b"HTTP/1.1 200 OK")
        assert received.endswith(str(before).encode())
    else:
        assert not received.startswith(b"HTTP/1.1 200 OK")
        assert "evicted by a restart" not in srv.error_log()


def test_response_socket_timeout_cuts_a_client_that_stops_reading(server, tmp_path):
    app, _ = make_app(tmp_path)
    srv = server("--socket-timeout", "600", "--response-socket-timeout", "1",
                 "--log-level", "info", app)
    with srv.connect() as stuck:
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        stuck.sendall(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
        assert stuck.recv(100).startswith(b"HTTP/1.1 200 OK")
        # Nothing more is read: the response stalls until the response socket timeout.
        srv.wait_for_log(r"closing the connection: no byte of the response went out for 1s",
                         timeout=60)
    assert pid_of(srv) > 0


def test_wsgi_daemon_process_limits_are_honoured(tmp_path, site_dir):
    """interrupt-timeout and memory-limit from WSGIDaemonProcess do what the options do."""
    site_app, _ = make_app(site_dir)
    port = free_port()
    conf = write(
        site_dir / "limits.conf",
        f"""
        Listen 127.0.0.1:{port}
        {user_directive()}
        LogLevel info
        WSGIPythonHome {VENV}
        WSGIDaemonProcess limited threads=1 request-timeout=1 interrupt-timeout=30 \\
            memory-limit=17179869184 cpu-time-limit=3600 eviction-timeout=60
        WSGIProcessGroup limited
        WSGIScriptAlias / {site_app}
        <Directory {site_dir}>
            Require all granted
        </Directory>
        """,
    )
    srv = Server(["--config", conf], tmp_path, apache=True)
    try:
        url = f"http://127.0.0.1:{port}"
        before = int(requests.get(url + "/", timeout=10).text)
        assert requests.get(url + "/loop", timeout=60).status_code == 504
        srv.wait_for_log(r"GET /loop unwound after mod_wsgi\.RequestTimeout")
        assert int(requests.get(url + "/", timeout=10).text) == before
        limits = open(f"/proc/{before}/limits").read()
        assert re.search(r"Max data size\s+17179869184\s+17179869184 ", limits), limits
        assert re.search(r"Max cpu time\s+3600\s+3606 ", limits), limits
        assert "is accepted without effect" not in srv.error_log()
    finally:
        srv.stop()
