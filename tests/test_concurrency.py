"""Python threads: a slow request never holds up others, the queue is bounded, and a request
that waits too long for a thread gets a 504 without running."""

import json
import socket
import threading

import requests

from support import APPS, read_response, wait_for_file, wait_until, wait_until_steady


def start(server, state_dir, *args):
    return server(*args, APPS / "behaviours.wsgi", env={"OXWSGI_TEST_STATE": str(state_dir)})


def read_lines(path):
    return path.read_text().split() if path.exists() else []


def in_background(url):
    results = {}
    thread = threading.Thread(target=lambda: results.setdefault("response", requests.get(url)))
    thread.start()
    return thread, results


def test_a_blocked_request_does_not_delay_other_connections(server, state_dir):
    srv = start(server, state_dir, "--threads", "2")
    slow, results = in_background(srv.url + "/block?tag=b1")
    wait_for_file(state_dir / "blocked.log")
    # One thread is stuck; the other answers every request (a hang here fails the test).
    for _ in range(5):
        assert requests.get(srv.url + "/", timeout=10).text == "ok\n"
    (state_dir / "unblock-b1").touch()
    slow.join(timeout=15)
    assert results["response"].text == "unblocked b1\n"


def test_full_queue_answers_503(server, state_dir):
    # --connect-timeout 0: a request finding the queue full is refused at once rather than
    # waiting for room (tests/test_connect_timeout.py has the wait).
    srv = start(server, state_dir, "--threads", "1", "--daemon-backlog", "1",
                "--connect-timeout", "0")
    blocked, _ = in_background(srv.url + "/block?tag=q1")
    wait_for_file(state_dir / "blocked.log")
    # Two more requests at once: whichever reaches the queue first fills its one place, so the
    # other is answered 503 at once, while the first waits for the thread.
    clients = {tag: in_background(srv.url + f"/ran?tag={tag}") for tag in ("a", "b")}
    wait_until(
        lambda: any("response" in result for _, result in clients.values()),
        timeout=15,
        what="an answer to one of the two requests",
    )
    (refused,) = [tag for tag, (_, result) in clients.items() if "response" in result]
    (queued,) = [tag for tag in clients if tag != refused]
    response = clients[refused][1]["response"]
    assert response.status_code == 503
    assert "The server is temporarily unable to take the request" in response.text
    assert "response" not in clients[queued][1], "the queued request ran before the thread was free"
    (state_dir / "unblock-q1").touch()
    blocked.join(timeout=15)
    for thread, _ in clients.values():
        thread.join(timeout=15)
    assert clients[queued][1]["response"].text == f"ran {queued}\n"
    assert (state_dir / "ran.log").read_text().split() == [queued]


def test_request_waiting_past_the_queue_timeout_gets_504_and_never_runs(server, state_dir):
    srv = start(server, state_dir, "--threads", "1", "--queue-timeout", "1")
    blocked, _ = in_background(srv.url + "/block?tag=long")
    wait_for_file(state_dir / "blocked.log")
    response = requests.get(srv.url + "/ran?tag=late", timeout=20)
    assert response.status_code == 504
    assert "The request waited too long for the application to become free." in response.text
    (state_dir / "unblock-long").touch()
    blocked.join(timeout=15)
    assert not (state_dir / "ran.log").exists(), "the timed-out request must never run"
    srv.wait_for_log(r"queue timeout expired: GET /ran\?tag=late waited more than 1s")


def test_two_blocked_requests_leave_the_third_thread_serving(server, state_dir):
    srv = start(server, state_dir, "--threads", "3")
    first, first_result = in_background(srv.url + "/block?tag=t1")
    second, second_result = in_background(srv.url + "/block?tag=t2")
    wait_until(lambda: len(read_lines(state_dir / "blocked.log")) == 2, timeout=15,
               what="the two blocking requests to start")
    for _ in range(5):
        assert requests.get(srv.url + "/", timeout=10).text == "ok\n"
    for tag in ("t1", "t2"):
        (state_dir / f"unblock-{tag}").touch()
    first.join(timeout=15)
    second.join(timeout=15)
    assert first_result["response"].text == "unblocked t1\n"
    assert second_result["response"].text == "unblocked t2\n"


def test_a_thread_waiting_for_an_upload_does_not_hold_the_gil(server, state_dir):
    srv = start(server, state_dir, "--threads", "2")
    with srv.connect() as stalled:
        # Half a body, then nothing: the app's wsgi.input.read() waits on the socket.
        stalled.sendall(
            b"POST /input/sha256?tag=u1 HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n"
            + b"a" * 50000
        )
        wait_for_file(state_dir / "input-started-u1")  # the app goes on to read the body
        # Another Python thread needs the GIL to answer; it must get it at once.
        for _ in range(5):
            assert requests.get(srv.url + "/", timeout=5).text == "ok\n"
        stalled.sendall(b"a" * 50000)
        status, _, body, _ = read_response(stalled)
    assert status == "HTTP/1.1 200 OK"
    assert json.loads(body)["length"] == 100000


def test_a_thread_waiting_for_a_slow_reader_does_not_hold_the_gil(server, state_dir):
    srv = start(server, state_dir, "--threads", "2")
    with srv.connect() as slow:
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        slow.sendall(b"GET /slow-consumer?tag=r1 HTTP/1.1\r\nHost: t\r\n\r\n")
        assert slow.recv(100).startswith(b"HTTP/1.1 200 OK")
        produced = wait_for_file(state_dir / "produced-r1")
        # The response channel and socket buffers fill up; the app waits: its count of chunks
        # stops growing.
        wait_until_steady(lambda: len(produced.read_text().split()), "the app's chunks")
        for _ in range(5):
            assert requests.get(srv.url + "/", timeout=5).text == "ok\n"


def test_a_client_that_stops_reading_is_cut_after_the_socket_timeout(server, state_dir):
    srv = start(server, state_dir, "--threads", "1", "--socket-timeout", "1", "--log-level", "info")
    with srv.connect() as stuck:
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        stuck.sendall(b"GET /close/forever?tag=stuck HTTP/1.1\r\nHost: t\r\n\r\n")
        assert stuck.recv(100).startswith(b"HTTP/1.1 200 OK")
        # The only Python thread is held by a response nobody reads, until the socket
        # timeout closes the connection and close() ends the response.
        wait_for_file(state_dir / "closed.log", timeout=15)
        assert (state_dir / "closed.log").read_text() == "stuck\n"
        assert requests.get(srv.url + "/ran?tag=after", timeout=10).text == "ran after\n"
    srv.wait_for_log(r"closing the connection: no byte of the response went out for 1s")
