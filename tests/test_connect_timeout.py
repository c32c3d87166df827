"""--connect-timeout (issue 15, item 2): a request arriving when a worker's request queue is full
(--daemon-backlog requests already waiting for a Python thread) waits for room in it, as
mod_wsgi's Apache child keeps retrying a daemon's full listen queue, and is answered 503 only
when --connect-timeout passes without room; WSGIDaemonProcess connect-timeout= is the same
setting. Every wait is on an event: a file the application writes, a gauge on /metrics."""

import os

import requests

from support import VENV, Server, free_port, user_directive, wait_for_file, wait_until
from test_apache_config import oxwsgi, write
from test_operations_counts import counting_app, in_background, metric, wait_metric

# The whole page of a 503 for a full queue (crates/http-front/src/error_response.rs).
QUEUE_FULL_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>503 Service Unavailable</title></head>\n<body>\n"
    "<h1>Service Unavailable</h1>\n"
    "<p>The server is temporarily unable to take the request; try again shortly.</p>\n"
    "</body></html>\n"
)


def start_gated(server, state_dir, tmp_path, *args):
    """One worker with one thread and room for one waiting request, the counting application
    (whose /hold?TAG waits until `release` exists in the state directory) and /metrics."""
    app = counting_app(tmp_path / "counting.wsgi")
    return server("--metrics-port", "0", "--threads", "1", "--daemon-backlog", "1", *args, app,
                  env={"OXWSGI_TEST_STATE": str(state_dir)})


def fill_thread_and_queue(srv, state_dir):
    """Occupies the one thread and the queue's one place; returns their clients."""
    held = in_background(srv.url + "/hold?first")
    wait_for_file(state_dir / "started-first")
    queued = in_background(srv.url + "/hold?second")
    wait_metric(srv, "oxwsgi_requests_in_flight", 2)
    return held, queued


def test_a_request_finding_the_queue_full_waits_for_room_and_is_served(
        server, state_dir, tmp_path):
    # Express's default --connect-timeout, 15 seconds: the test opens the gate as soon as the
    # third request is seen waiting.
    srv = start_gated(server, state_dir, tmp_path)
    clients = []
    try:
        clients += fill_thread_and_queue(srv, state_dir)
        waiting = in_background(srv.url + "/hold?third")
        clients.append(waiting)
        # The server holds the third request: in flight, neither queued nor refused.
        wait_metric(srv, "oxwsgi_requests_in_flight", 3)
        assert waiting[1] == {}, "the third request was answered while the queue was full"
        assert metric(srv, "oxwsgi_queue_full_total") == 0
    finally:
        (state_dir / "release").touch()
        for thread, _ in clients:
            thread.join()
    for tag, (_, result) in zip(("first", "second", "third"), clients):
        response = result["response"]
        assert (tag, response.status_code, response.text) == (tag, 200, "released")
        assert (state_dir / f"started-{tag}").exists()
    wait_metric(srv, "oxwsgi_requests_total", 3, method="GET", status="2xx")
    assert metric(srv, "oxwsgi_queue_full_total") == 0
    assert metric(srv, "oxwsgi_requests_in_flight") == 0


def test_a_request_still_without_room_after_the_connect_timeout_gets_a_503(
        server, state_dir, tmp_path):
    srv = start_gated(server, state_dir, tmp_path, "--connect-timeout", "1")
    clients = []
    try:
        clients += fill_thread_and_queue(srv, state_dir)
        late = requests.get(srv.url + "/hold?third", timeout=60)
        assert (late.status_code, late.text) == (503, QUEUE_FULL_PAGE)
        wait_metric(srv, "oxwsgi_queue_full_total", 1)
        wait_metric(srv, "oxwsgi_requests_total", 1, method="GET", status="5xx")
        # The refused request never reached the application; the queued one is still queued.
        assert not (state_dir / "started-third").exists()
        assert clients[1][1] == {}
    finally:
        (state_dir / "release").touch()
        for thread, _ in clients:
            thread.join()
    for _, result in clients:
        assert (result["response"].status_code, result["response"].text) == (200, "released")
    wait_metric(srv, "oxwsgi_requests_total", 2, method="GET", status="2xx")
    assert metric(srv, "oxwsgi_queue_full_total") == 1


def test_wsgi_daemon_process_connect_timeout_is_honoured(tmp_path, site_dir):
    """connect-timeout= on WSGIDaemonProcess bounds the wait for room as the option does, and
    is no longer reported as without effect."""
    state = site_dir / "state"
    state.mkdir()
    os.chmod(state, 0o777)
    app = counting_app(site_dir / "counting.wsgi")
    port = free_port()
    conf = write(
        site_dir / "connect.conf",
        f"""
        Listen 127.0.0.1:{port}
        {user_directive()}
        LogLevel info
        WSGIPythonHome {VENV}
        WSGIDaemonProcess gated threads=1 listen-backlog=1 connect-timeout=1 \\
            send-buffer-size=65536
        WSGIProcessGroup gated
        WSGIScriptAlias / {app}
        <Directory {site_dir}>
            Require all granted
        </Directory>
        """,
    )
    srv = Server(["--config", conf], tmp_path, apache=True, env={"OXWSGI_TEST_STATE": str(state)})
    url = f"http://127.0.0.1:{port}"
    clients = {}
    try:
        clients["first"] = in_background(url + "/hold?first")
        wait_for_file(state / "started-first")
        # Two more at once: one takes the queue's place, the other waits a second for room
        # that does not come, and is refused.
        late = {tag: in_background(url + f"/hold?{tag}") for tag in ("a", "b")}
        clients.update(late)
        wait_until(lambda: any(result for _, result in late.values()), timeout=60,
                   what="an answer to one of the two requests")
        answered = [tag for tag, (_, result) in late.items() if result]
        assert len(answered) == 1, late
        (refused,) = answered
        response = late[refused][1]["response"]
        assert (response.status_code, response.text) == (503, QUEUE_FULL_PAGE)
        assert not (state / f"started-{refused}").exists()
    finally:
        (state / "release").touch()
        for thread, _ in clients.values():
            thread.join()
        srv.stop()
    (queued,) = [tag for tag in late if tag != refused]
    assert clients[queued][1]["response"].text == "released"
    assert clients["first"][1]["response"].text == "released"
    # check-config --verbose lists the options accepted without effect: send-buffer-size is
    # one, connect-timeout no longer.
    checked = oxwsgi("check-config", "--verbose", conf)
    assert checked.returncode == 0, checked.stderr
    ignored = [line for line in checked.stderr.splitlines() if "without effect" in line]
    assert [line for line in ignored if "send-buffer-size" in line], checked.stderr
    assert not [line for line in ignored if "connect-timeout" in line], ignored
