"""What operators watch the server through: Prometheus metrics and the health endpoints on the
metrics listener (--metrics-port), the status page (--server-status), slow-request reports
(--slow-requests), the figures an application reads (mod_wsgi.process_metrics() and
--server-metrics), and health checks that do not count as activity (--ignore-activity)."""

import os
import re
import shutil
import signal
import subprocess
import threading

import pytest
import requests

from support import VENV, Server, free_port, user_directive, wait_for_file, wait_until
from test_apache_config import write


def gated_app(path, gate):
    """An application whose /sleep requests run until the file `gate` exists (the test opens
    it), and whose /metrics-py answers what the mod_wsgi module says."""
    path.write_text(
        "import json, os, time\n"
        "def application(environ, start_response):\n"
        "    path = environ['PATH_INFO']\n"
        "    status = '200 OK'\n"
        "    if path == '/sleep':\n"
        f"        open({str(gate)!r} + '.started', 'a').close()\n"
        "        deadline = time.monotonic() + 30\n"
        f"        while not os.path.exists({str(gate)!r}) and time.monotonic() < deadline:\n"
        "            time.sleep(0.02)\n"
        "    if path == '/metrics-py':\n"
        "        import mod_wsgi\n"
        "        body = json.dumps({'process': mod_wsgi.process_metrics(),\n"
        "                           'server': mod_wsgi.server_metrics(),\n"
        "                           'group': mod_wsgi.process_group}).encode()\n"
        "    else:\n"
        "        body = b'ok'\n"
        "    start_response(status, [('Content-Type', 'text/plain')])\n"
        "    return [body]\n"
    )
    return path


def metrics_url(srv):
    match = re.search(r"Metrics URL\s*: http://[^:]+:(\d+)/metrics", srv.stdout)
    assert match, srv.stdout
    return f"http://127.0.0.1:{match.group(1)}"


def scrape(srv):
    response = requests.get(metrics_url(srv) + "/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return response.text


def sample(text, name, **labels):
    """The value of the sample `name` whose labels include `labels` (None if absent)."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.match(r"([a-z_]+)(?:\{(.*)\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    return None


def requests_total(srv, status="2xx"):
    return sample(scrape(srv), "oxwsgi_requests_total", method="GET", status=status) or 0


def test_prometheus_metrics_count_requests_and_pass_promtool(server, tmp_path):
    app = gated_app(tmp_path / "app.wsgi", tmp_path / "gate")
    srv = server("--metrics-port", "0", "--processes", "2", "--threads", "2", app)
    for _ in range(7):
        assert requests.get(srv.url + "/", timeout=10).status_code == 200
    wait_until(lambda: requests_total(srv) == 7, what="7 requests counted")
    text = scrape(srv)
    # Both workers' numbers, in one series per group: no other request was counted.
    assert sample(text, "oxwsgi_requests_total") == 7
    assert sample(text, "oxwsgi_request_duration_seconds_count") == 7
    assert sample(text, "oxwsgi_request_duration_seconds_bucket", le="+Inf") == 7
    assert sample(text, "oxwsgi_workers", state="serving") == 2
    assert sample(text, "oxwsgi_python_threads", state="idle") == 4
    assert sample(text, "oxwsgi_worker_starts_total") == 2
    assert sample(text, "oxwsgi_ready") == 1
    assert sample(text, "oxwsgi_sent_bytes_total") == 7 * len(b"ok")
    assert sample(text, "oxwsgi_worker_resident_memory_bytes") > 0
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: apt install prometheus (scripts/test does)"
    check = subprocess.run(
        [promtool, "check", "metrics"], input=text.encode(), capture_output=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout + check.stderr == b""


def test_the_request_counter_does_not_go_down_when_a_worker_is_recycled(server, tmp_path):
    app = gated_app(tmp_path / "app.wsgi", tmp_path / "gate")
    srv = server("--metrics-port", "0", "--maximum-requests", "3", app)
    first = srv.worker_pid()
    for _ in range(3):
        assert requests.get(srv.url + "/", timeout=10).status_code == 200
    wait_until(lambda: srv.worker_pids() not in ([first], []), what="a recycled worker")
    wait_until(
        lambda: sample(scrape(srv), "oxwsgi_worker_exits_total", reason="recycle") == 1,
        what="the recycled worker's exit counted",
    )
    assert requests_total(srv) == 3
    assert requests.get(srv.url + "/", timeout=10).status_code == 200
    wait_until(lambda: requests_total(srv) == 4, what="the new worker's request counted")
    text = scrape(srv)
    assert sample(text, "oxwsgi_worker_starts_total") == 2
    assert sample(text, "oxwsgi_worker_exits_total", reason="crash") == 0


def test_a_request_timeout_is_a_504_in_its_counters(server, tmp_path):
    gate = tmp_path / "gate"
    app = gated_app(tmp_path / "app.wsgi", gate)
    srv = server("--metrics-port", "0", "--request-timeout", "1", app)
    try:
        response = requests.get(srv.url + "/sleep", timeout=30)
        assert response.status_code == 504
    finally:
        gate.touch()
    wait_until(lambda: requests_total(srv, "5xx") == 1, what="the 504 counted")
    wait_until(
        lambda: sample(scrape(srv), "oxwsgi_request_timeouts_total") == 1,
        what="the request timeout counted",
    )
    wait_until(
        lambda: sample(scrape(srv), "oxwsgi_worker_exits_total", reason="timeout") == 1,
        what="the stuck worker replaced and counted",
    )


def test_metrics_listener_answers_404_and_405_elsewhere(server, tmp_path):
    srv = server("--metrics-port", "0", gated_app(tmp_path / "app.wsgi", tmp_path / "gate"))
    base = metrics_url(srv)
    missing = requests.get(base + "/other", timeout=10)
    assert missing.status_code == 404
    assert missing.text == "not found: the metrics listener serves /metrics, /ready and /live\n"
    assert requests.post(base + "/metrics", timeout=10).status_code == 405
    live = requests.get(base + "/live", timeout=10)
    assert (live.status_code, live.text) == (200, "alive\n")


def test_server_status_shows_a_running_request_with_its_url(server, tmp_path):
    gate = tmp_path / "gate"
    app = gated_app(tmp_path / "app.wsgi", gate)
    srv = server("--server-status", "--threads", "3", app)
    sleeper = threading.Thread(
        target=lambda: requests.get(srv.url + "/sleep?who=status", timeout=60)
    )
    sleeper.start()
    try:
        wait_for_file(str(gate) + ".started")
        auto = requests.get(srv.url + "/server-status?auto", timeout=10)
        assert auto.status_code == 200
        assert auto.headers["content-type"] == "text/plain; charset=utf-8"
        fields = []
        for line in auto.text.splitlines():
            key, sep, value = line.partition(": ")
            assert sep and key and re.fullmatch(r"[A-Za-z ]+", key), line
            fields.append((key, value))
        values = dict(fields)
        # The sleeper; the page itself is served without Python.
        assert values["BusyWorkers"] == "1"
        assert values["IdleWorkers"] == "2"
        assert values["Scoreboard"].count("W") == 1
        assert values["Processes"] == "1"
        threads = [v for k, v in fields if k == "Thread"]
        sleeping = [t for t in threads if t.endswith("request=GET /sleep?who=status")]
        assert len(sleeping) == 1, threads
        assert re.search(r"state=busy seconds=\d+\.\d{3} ", sleeping[0])
        assert f"pid={srv.worker_pid()}" in sleeping[0]
        page = requests.get(srv.url + "/server-status", timeout=10)
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert "<td>GET /sleep?who=status</td>" in page.text
        assert f"<td>{srv.worker_pid()}</td>" in page.text
    finally:
        gate.touch()
        sleeper.join()


def test_server_status_is_refused_to_clients_elsewhere(server, tmp_path):
    """The command line's rule lets only local clients in; an --include-file's own rule for
    the path replaces it (here: nobody, which shows whose rule applies)."""
    app = gated_app(tmp_path / "app.wsgi", tmp_path / "gate")
    include = tmp_path / "status.conf"
    include.write_text("<Location /server-status>\n    Require all denied\n</Location>\n")
    srv = server("--server-status", "--include-file", include, app)
    assert requests.get(srv.url + "/server-status", timeout=10).status_code == 403
    # Not the application's: without --server-status the path is the application's.
    other = server(app)
    response = requests.get(other.url + "/server-status", timeout=10)
    assert (response.status_code, response.text) == (200, "ok")


def test_server_status_is_refused_to_clients_a_proxy_here_forwards(server, tmp_path):
    """Behind nginx on the same machine every connection is local: the page is refused when
    the trusted proxy says the client is elsewhere, shown when it says the client is here."""
    app = gated_app(tmp_path / "app.wsgi", tmp_path / "gate")
    srv = server("--server-status", "--trust-proxy-header", "X-Forwarded-For",
                 "--trust-proxy", "127.0.0.1", app)
    status = srv.url + "/server-status?auto"
    outside = requests.get(status, headers={"X-Forwarded-For": "198.51.100.9"}, timeout=10)
    assert outside.status_code == 403
    assert "<p>You don't have permission to access this resource.</p>" in outside.text
    srv.wait_for_log(r"Client denied by server configuration: '/server-status' \(a trusted "
                     r"proxy forwarded it for a client on another machine\)")
    here = requests.get(status, headers={"X-Forwarded-For": "127.0.0.1"}, timeout=10)
    assert here.status_code == 200 and "Uptime: " in here.text
    assert requests.get(status, timeout=10).status_code == 200


def test_ready_turns_503_at_sigterm_while_requests_in_flight_finish(server, tmp_path):
    gate = tmp_path / "gate"
    app = gated_app(tmp_path / "app.wsgi", gate)
    srv = server("--metrics-port", "0", app)
    ready = metrics_url(srv) + "/ready"
    assert requests.get(ready, timeout=10).status_code == 200
    result = {}
    sleeper = threading.Thread(
        target=lambda: result.update(
            response=requests.get(srv.url + "/sleep", timeout=60)
        )
    )
    sleeper.start()
    try:
        wait_for_file(str(gate) + ".started")
        srv.send_signal(signal.SIGTERM)
        wait_until(
            lambda: requests.get(ready, timeout=10).status_code == 503,
            what="/ready answering 503",
        )
        not_ready = requests.get(ready, timeout=10)
        assert not_ready.text == "not ready: starting or stopping\n"
        assert requests.get(metrics_url(srv) + "/live", timeout=10).status_code == 200
    finally:
        gate.touch()
        sleeper.join()
    assert result["response"].status_code == 200
    assert result["response"].text == "ok"
    assert srv.wait_exit() == 0


def test_slow_requests_are_logged_with_their_stack_and_left_running(server, tmp_path):
    gate = tmp_path / "gate"
    app = gated_app(tmp_path / "app.wsgi", gate)
    srv = server("--slow-requests", "0.5", "--metrics-port", "0", app)
    result = {}
    sleeper = threading.Thread(
        target=lambda: result.update(
            response=requests.get(srv.url + "/sleep?slow=1", timeout=60)
        )
    )
    sleeper.start()
    try:
        srv.wait_for_log(
            r"slow request: GET /sleep\?slow=1 has run for \d+\.\ds on Python thread \d+ of "
            r"worker process \d+ and is still running\. Python stack of the thread:"
        )
        srv.wait_for_log(r"line 9, in application\n.*    time.sleep\(0.02\)")
    finally:
        gate.touch()
        sleeper.join()
    assert result["response"].status_code == 200
    assert sample(scrape(srv), "oxwsgi_slow_requests_total") == 1
    assert "request timeout" not in srv.error_log()


def test_the_application_reads_process_and_server_metrics(server, tmp_path):
    app = gated_app(tmp_path / "app.wsgi", tmp_path / "gate")
    plain = server("--threads", "2", app)
    for _ in range(3):
        requests.get(plain.url + "/", timeout=10)
    answer = requests.get(plain.url + "/metrics-py", timeout=10).json()
    assert answer["server"] is None
    process = answer["process"]
    assert process["pid"] == plain.worker_pid()
    assert process["request_count"] == 3
    assert process["request_threads"] == 2
    assert process["active_requests"] == 1
    assert process["memory_rss"] > 0
    assert sorted(t["thread_id"] for t in process["threads"]) == [1, 2]

    full = server("--server-metrics", "--processes", "2", "--threads", "2", app)
    server_metrics = requests.get(full.url + "/metrics-py", timeout=10).json()["server"]
    assert server_metrics["thread_limit"] == 2
    processes = server_metrics["processes"]
    assert sorted(p["pid"] for p in processes) == sorted(full.worker_pids())
    statuses = [w["status"] for p in processes for w in p["workers"]]
    assert statuses.count("W") == 1 and statuses.count("_") == 3
    running = [w for p in processes for w in p["workers"] if w["status"] == "W"]
    assert running[0]["request"] == "GET /metrics-py"


def test_health_checks_do_not_keep_an_idle_worker_alive(server, tmp_path):
    app = gated_app(tmp_path / "app.wsgi", tmp_path / "gate")
    srv = server("--inactivity-timeout", "1", "--ignore-activity", "/health", app)
    first = srv.worker_pid()

    def replaced_while_checked():
        assert requests.get(srv.url + "/health", timeout=10).status_code == 200
        return first not in srv.worker_pids()

    wait_until(replaced_while_checked, what="the worker replaced despite health checks")
    srv.wait_for_log(r"will be replaced: inactivity-timeout")


@pytest.mark.parametrize("value", ["0", "-1", "inf"])
def test_slow_requests_must_be_a_positive_number(server, tmp_path, value):
    from support import BINARY

    result = subprocess.run(
        [str(BINARY), "start-server", f"--slow-requests={value}", "--server-root",
         str(tmp_path / "root")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert f"--slow-requests {value}: give a number of seconds above 0" in result.stderr


def test_an_apache_site_turns_on_the_same_endpoints(tmp_path, site_dir):
    """`OxwsgiMetricsListen`, `<Location /server-status> SetHandler server-status` with its own
    `Require`, `WSGIServerMetrics On` and `WSGISlowRequests` give what the options give."""
    gate = site_dir / "gate"
    app = gated_app(site_dir / "app.wsgi", gate)
    os.chmod(site_dir, 0o777)  # the workers' user writes the gate's marker here
    port, metrics_port = free_port(), free_port()
    conf = write(
        site_dir / "site.conf",
        f"""
        Listen 127.0.0.1:{port}
        {user_directive()}
        WSGIPythonHome {VENV}
        OxwsgiMetricsListen 127.0.0.1:{metrics_port}
        WSGIServerMetrics On
        WSGISlowRequests 0.5
        WSGIScriptAlias / {app}
        <Location /server-status>
            SetHandler server-status
            Require ip 127.0.0.1
        </Location>
        """,
    )
    srv = Server(["--config", conf], tmp_path, apache=True)
    try:
        base = f"http://127.0.0.1:{port}"
        metrics = f"http://127.0.0.1:{metrics_port}"
        assert requests.get(metrics + "/ready", timeout=10).status_code == 200
        answer = requests.get(base + "/metrics-py", timeout=10).json()
        running = [w["request"] for p in answer["server"]["processes"] for w in p["workers"]
                   if w["status"] == "W"]
        assert running == ["GET /metrics-py"]
        sleeper = threading.Thread(
            target=lambda: requests.get(base + "/sleep?apache", timeout=60)
        )
        sleeper.start()
        try:
            wait_for_file(str(gate) + ".started")
            auto = requests.get(base + "/server-status?auto", timeout=10).text
            assert "request=GET /sleep?apache" in auto
            srv.wait_for_log(r"slow request: GET /sleep\?apache has run for")
        finally:
            gate.touch()
            sleeper.join()
        wait_until(
            lambda: sample(requests.get(metrics + "/metrics", timeout=10).text,
                           "oxwsgi_requests_total", method="GET", status="2xx") == 3,
            what="the three application requests counted",
        )
    finally:
        srv.stop()


def test_with_a_drain_delay_new_requests_are_served_while_ready_says_503(server, tmp_path):
    app = gated_app(tmp_path / "app.wsgi", tmp_path / "gate")
    srv = server("--metrics-port", "0", "--drain-delay", "600", app)
    ready = metrics_url(srv) + "/ready"
    srv.send_signal(signal.SIGTERM)
    srv.wait_for_log(
        r"caught SIGTERM: /ready answers 503 now; draining the workers in 600s "
        r"\(--drain-delay\), then stopping"
    )
    assert requests.get(ready, timeout=10).status_code == 503
    # Still accepting: a load balancer that has not polled /ready yet loses nothing.
    fresh = requests.get(srv.url + "/", timeout=10, headers={"Connection": "close"})
    assert (fresh.status_code, fresh.text) == (200, "ok")
    assert srv.running
    # A second SIGTERM does not wait for the rest of the delay.
    srv.send_signal(signal.SIGTERM)
    srv.wait_for_log(r"caught a second SIGTERM: draining the workers now")
    assert srv.wait_exit() == 0
