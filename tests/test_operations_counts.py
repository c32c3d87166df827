"""The figures operators read, checked against traffic the test made and counted itself: every
`/metrics` counter and gauge that a reviewer found untested (503s for a full backlog, queue
timeouts, worker exits by reason, requests in flight, connections open, bytes in and out, the
queue-wait histogram), and the `Worker:` lines of `/server-status?auto` (one per worker, with its
real pid and the requests it served)."""

import collections
import os
import re
import signal
import subprocess
import threading

import pytest
import requests

from support import read_response, wait_for_file, wait_until
from test_operations import sample, scrape

# The error pages' texts (crates/http-front/src/error_response.rs), whole.
QUEUE_FULL_TEXT = "The server is temporarily unable to take the request; try again shortly."
QUEUE_TIMEOUT_TEXT = "The request waited too long for the application to become free."


def counting_app(path):
    """An application that answers its worker's pid (so the test knows who served what),
    echoes a POST body at /echo, holds /hold?TAG until the file `release` exists in
    $OXWSGI_TEST_STATE (noting `started-TAG` there first), and ends its process at /crash."""
    path.write_text(
        "import os, time\n"
        "STATE = os.environ['OXWSGI_TEST_STATE']\n"
        "def application(environ, start_response):\n"
        "    path = environ['PATH_INFO']\n"
        "    if path == '/hold':\n"
        "        open(os.path.join(STATE, 'started-' + environ['QUERY_STRING']), 'w').close()\n"
        "        deadline = time.monotonic() + 60\n"
        "        while (not os.path.exists(os.path.join(STATE, 'release'))\n"
        "               and time.monotonic() < deadline):\n"
        "            time.sleep(0.01)\n"
        "        body = b'released'\n"
        "    elif path == '/echo':\n"
        "        body = environ['wsgi.input'].read(int(environ.get('CONTENT_LENGTH') or 0))\n"
        "    elif path == '/crash':\n"
        "        os._exit(3)\n"
        "    else:\n"
        "        body = str(os.getpid()).encode()\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain'),\n"
        "                              ('Content-Length', str(len(body)))])\n"
        "    return [body]\n"
    )
    return path


@pytest.fixture
def start(server, state_dir, tmp_path):
    """Starts oxwsgi with the counting application and a metrics listener."""
    app = counting_app(tmp_path / "counting.wsgi")

    def run(*args):
        return server("--metrics-port", "0", *args, app,
                      env={"OXWSGI_TEST_STATE": str(state_dir)})

    return run


def in_background(url):
    """GETs `url` on a thread of its own; the response (or the error) lands in the dict."""
    result = {}

    def get():
        try:
            result["response"] = requests.get(url, timeout=60)
        except requests.RequestException as err:
            result["error"] = err

    thread = threading.Thread(target=get)
    thread.start()
    return thread, result


def metric(srv, name, **labels):
    return sample(scrape(srv), name, **labels)


def wait_metric(srv, name, value, **labels):
    """Waits until the sample is `value`: counters move once a response is sent, which the
    client may see before the server counts it."""
    wait_until(lambda: metric(srv, name, **labels) == value,
               what=f"{name}{labels or ''} == {value} (last: {metric(srv, name, **labels)})")


def test_a_503_for_a_full_backlog_is_counted(start, state_dir):
    # --connect-timeout 0: refused at once, not after waiting for room (see
    # tests/test_connect_timeout.py for the wait and its 503).
    srv = start("--threads", "1", "--daemon-backlog", "1", "--connect-timeout", "0")
    held, held_result = in_background(srv.url + "/hold?first")
    wait_for_file(state_dir / "started-first")
    # Two more at once: one fills the queue's only place, the other is refused at once.
    clients = {tag: in_background(srv.url + f"/hold?{tag}") for tag in ("a", "b")}
    try:
        wait_until(lambda: any(result for _, result in clients.values()),
                   what="an answer to one of the two requests")
        (refused,) = [tag for tag, (_, result) in clients.items() if result]
        response = clients[refused][1]["response"]
        assert response.status_code == 503
        assert QUEUE_FULL_TEXT in response.text
        wait_metric(srv, "oxwsgi_queue_full_total", 1)
        wait_metric(srv, "oxwsgi_requests_total", 1, method="GET", status="5xx")
        assert metric(srv, "oxwsgi_requests_in_flight") == 2  # the held one, the queued one
    finally:
        (state_dir / "release").touch()
        held.join()
        for thread, _ in clients.values():
            thread.join()
    (queued,) = [tag for tag in clients if tag != refused]
    assert held_result["response"].text == "released"
    assert clients[queued][1]["response"].text == "released"
    wait_metric(srv, "oxwsgi_requests_total", 2, method="GET", status="2xx")
    text = scrape(srv)
    assert sample(text, "oxwsgi_queue_full_total") == 1
    assert sample(text, "oxwsgi_queue_timeouts_total") == 0
    # The two that ran waited for the thread; the refused one never queued.
    assert sample(text, "oxwsgi_queue_wait_seconds_count") == 2
    assert sample(text, "oxwsgi_requests_in_flight") == 0
    # With a 5xx series beside the 2xx one, the page still passes Prometheus' own check.
    check = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                           capture_output=True)
    assert (check.returncode, check.stdout + check.stderr) == (0, b"")


def test_a_queue_timeout_is_counted_and_its_wait_is_in_the_histogram(start, state_dir):
    srv = start("--threads", "1", "--queue-timeout", "1")
    held, held_result = in_background(srv.url + "/hold?first")
    try:
        wait_for_file(state_dir / "started-first")
        late = requests.get(srv.url + "/late", timeout=60)
        assert late.status_code == 504
        assert QUEUE_TIMEOUT_TEXT in late.text
        wait_metric(srv, "oxwsgi_queue_timeouts_total", 1)
        wait_metric(srv, "oxwsgi_requests_total", 1, method="GET", status="5xx")
    finally:
        (state_dir / "release").touch()
        held.join()
    assert held_result["response"].text == "released"
    wait_metric(srv, "oxwsgi_requests_total", 1, method="GET", status="2xx")
    text = scrape(srv)
    assert sample(text, "oxwsgi_queue_timeouts_total") == 1
    assert sample(text, "oxwsgi_queue_full_total") == 0
    assert sample(text, "oxwsgi_request_timeouts_total") == 0
    # Both waited for the thread, the one that timed out too: the longest waits are the ones
    # an operator looks for in this histogram.
    assert sample(text, "oxwsgi_queue_wait_seconds_count") == 2
    assert sample(text, "oxwsgi_queue_wait_seconds_bucket", le="+Inf") == 2


def test_worker_exits_are_counted_by_reason_crash_and_reload(start):
    srv = start("--processes", "1")
    first = srv.worker_pid()
    os.kill(first, signal.SIGKILL)
    srv.wait_for_log(rf"\(pid {first}\) .*killed by signal 9")
    wait_metric(srv, "oxwsgi_worker_exits_total", 1, reason="crash")
    wait_metric(srv, "oxwsgi_worker_starts_total", 2)
    wait_metric(srv, "oxwsgi_workers", 1, state="serving")
    second = srv.worker_pid()
    assert second != first
    # A process that ends itself while serving is a crash too; its client loses the connection.
    with pytest.raises(requests.ConnectionError):
        requests.get(srv.url + "/crash", timeout=30)
    wait_metric(srv, "oxwsgi_worker_exits_total", 2, reason="crash")
    wait_metric(srv, "oxwsgi_workers", 1, state="serving")
    third = srv.worker_pid()
    assert third not in (first, second)
    # SIGHUP restarts the workers: the replaced one counts as a reload, not as a crash.
    srv.send_signal(signal.SIGHUP)
    wait_metric(srv, "oxwsgi_worker_exits_total", 1, reason="reload")
    wait_until(lambda: srv.worker_pids() not in ([third], []), what="the reloaded worker")
    text = scrape(srv)
    assert sample(text, "oxwsgi_worker_exits_total", reason="crash") == 2
    assert sample(text, "oxwsgi_worker_starts_total") == 4
    for reason in ("recycle", "timeout", "stop", "deadlock", "failed-start"):
        assert sample(text, "oxwsgi_worker_exits_total", reason=reason) == 0, reason
    assert requests.get(srv.url + "/", timeout=10).text == str(srv.worker_pid())


def test_gauges_show_the_requests_held_and_the_connections_open(start, state_dir):
    srv = start("--threads", "3")
    assert metric(srv, "oxwsgi_connections_open") == 0
    sockets = [srv.connect(timeout=60) for _ in range(3)]
    try:
        for tag, sock in zip(("one", "two"), sockets):
            sock.sendall(f"GET /hold?{tag} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
            wait_for_file(state_dir / f"started-{tag}")
        # The third connection is open and idle.
        wait_metric(srv, "oxwsgi_connections_open", 3)
        text = scrape(srv)
        assert sample(text, "oxwsgi_requests_in_flight") == 2
        assert sample(text, "oxwsgi_python_threads", state="busy") == 2
        assert sample(text, "oxwsgi_python_threads", state="idle") == 1
        assert sample(text, "oxwsgi_connections_total") == 3
        (state_dir / "release").touch()
        for sock in sockets[:2]:
            status, _, body, _ = read_response(sock)
            assert (status, body) == ("HTTP/1.1 200 OK", b"released")
    finally:
        (state_dir / "release").touch()
        for sock in sockets:
            sock.close()
    wait_metric(srv, "oxwsgi_connections_open", 0)
    text = scrape(srv)
    assert sample(text, "oxwsgi_requests_in_flight") == 0
    assert sample(text, "oxwsgi_python_threads", state="busy") == 0
    assert sample(text, "oxwsgi_connections_total") == 3


def test_bytes_and_the_queue_wait_histogram_match_the_traffic(start):
    srv = start("--threads", "2")
    sent_bytes = received_body_bytes = 0
    for size in (0, 1, 1000, 65536, 300000):
        body = os.urandom(size)
        request = (f"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {size}\r\n"
                   "Connection: close\r\n\r\n").encode() + body
        with srv.connect() as sock:
            sock.sendall(request)
            status, _, echoed, _ = read_response(sock)
        assert status == "HTTP/1.1 200 OK"
        assert echoed == body
        sent_bytes += len(request)
        received_body_bytes += len(echoed)
    wait_metric(srv, "oxwsgi_requests_total", 5, method="POST", status="2xx")
    text = scrape(srv)
    # Every byte the test sent was read; the bodies it got back are the bytes sent out.
    assert sample(text, "oxwsgi_received_bytes_total") == sent_bytes
    assert sample(text, "oxwsgi_sent_bytes_total") == received_body_bytes
    assert sample(text, "oxwsgi_queue_wait_seconds_count") == 5
    assert sample(text, "oxwsgi_queue_wait_seconds_bucket", le="+Inf") == 5
    assert sample(text, "oxwsgi_request_duration_seconds_count") == 5


def status_auto(sock):
    """`/server-status?auto` asked on an open connection: its `Worker:` lines as dicts."""
    sock.sendall(b"GET /server-status?auto HTTP/1.1\r\nHost: t\r\n\r\n")
    status, _, body, _ = read_response(sock)
    assert status == "HTTP/1.1 200 OK"
    workers = []
    for line in body.decode().splitlines():
        key, _, value = line.partition(": ")
        if key == "Worker":
            workers.append(dict(re.findall(r"(\w+)=(\S+)", value)))
    return workers


def test_server_status_has_one_worker_line_per_worker_with_its_requests(server, state_dir,
                                                                        tmp_path):
    app = counting_app(tmp_path / "counting.wsgi")
    srv = server("--server-status", "--processes", "2", "--threads", "2",
                 "--keep-alive-timeout", "300", app, env={"OXWSGI_TEST_STATE": str(state_dir)})
    # Each request on a connection of its own, wherever the kernel sends it; the answer says
    # which worker served it.
    served = collections.Counter()
    for _ in range(9):
        response = requests.get(srv.url + "/", headers={"Connection": "close"}, timeout=10)
        served[int(response.text)] += 1
    # The page is asked on one kept-alive connection, so the worker serving it is known: the
    # first request on it says which. The page's own requests count for that worker once sent.
    with srv.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        status, _, body, _ = read_response(sock)
        assert status == "HTTP/1.1 200 OK"
        page_worker = int(body)
        served[page_worker] += 1
        pages = 0
        last = {}

        def counts_reached():
            nonlocal pages
            workers = last["workers"] = status_auto(sock)
            expected = dict(served)
            expected[page_worker] += pages
            pages += 1
            have = {int(w["pid"]): int(w["requests"]) for w in workers}
            for pid, count in have.items():
                assert count <= expected.get(pid, 0), (have, expected)
            return all(have.get(pid) == n for pid, n in expected.items())

        wait_until(counts_reached, what="every request counted for the worker that served it")
    workers = last["workers"]
    pids = sorted(srv.worker_pids())
    assert sorted(int(w["pid"]) for w in workers) == pids
    assert sorted(w["slot"] for w in workers) == ["1", "2"]
    for worker in workers:
        assert worker["state"] == "serving"
        assert worker["busy"] == "0"
        assert worker["group"] == workers[0]["group"]
    assert sum(int(w["requests"]) for w in workers) == 10 + pages - 1
