"""Python threads: a slow request never holds up others, the queue is bounded, and a request
that waits too long for a thread gets a 504 without running."""

import threading
import time

import requests

from support import APPS, wait_for_file


def start(server, state_dir, *args):
    return server(*args, APPS / "behaviours.wsgi", env={"OXWSGI_TEST_STATE": str(state_dir)})


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
    srv = start(server, state_dir, "--threads", "1", "--daemon-backlog", "1")
    blocked, _ = in_background(srv.url + "/block?tag=q1")
    wait_for_file(state_dir / "blocked.log")
    queued, queued_result = in_background(srv.url + "/ran?tag=queued")
    time.sleep(0.5)  # the second request reaches the queue and fills its one place
    response = requests.get(srv.url + "/ran?tag=refused", timeout=10)
    assert response.status_code == 503
    assert "The server is temporarily unable to take the request" in response.text
    (state_dir / "unblock-q1").touch()
    blocked.join(timeout=15)
    queued.join(timeout=15)
    assert queued_result["response"].text == "ran queued\n"
    assert (state_dir / "ran.log").read_text().split() == ["queued"]


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
