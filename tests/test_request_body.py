"""wsgi.input: bodies streamed from the client as the application reads them, with the limits,
100-continue and disconnects handled the way the issue describes."""

import hashlib
import json
import os
import socket

import requests

from support import APPS, read_response, wait_for_file, wait_until


def sha_reply(data):
    return {"length": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_five_mib_upload_reaches_the_app_intact(server, state_dir):
    srv = server(APPS / "behaviours.wsgi", env={"OXWSGI_TEST_STATE": str(state_dir)})
    data = os.urandom(5 * 1024 * 1024)
    response = requests.post(srv.url + "/input/sha256", data=data)
    assert response.status_code == 200
    assert response.json() == sha_reply(data)


def test_chunked_upload_reaches_the_app_intact(server, state_dir):
    srv = server(APPS / "behaviours.wsgi", env={"OXWSGI_TEST_STATE": str(state_dir)})
    pieces = [os.urandom(n) for n in (1, 1000, 70000, 3)]

    def generate():
        yield from pieces

    response = requests.post(srv.url + "/input/sha256", data=generate())
    assert response.status_code == 200
    assert response.json() == sha_reply(b"".join(pieces))


def test_readline_readlines_and_iteration(server, state_dir):
    srv = server(APPS / "behaviours.wsgi", env={"OXWSGI_TEST_STATE": str(state_dir)})
    body = b"first line\nsecond\nthird\nlast without newline"
    assert requests.post(srv.url + "/input/lines", data=body).json() == [
        "first line\n",
        "sec",
        ["ond\n", "third\n", "last without newline"],
    ]
    assert requests.post(srv.url + "/input/iter", data=body).json() == [
        "first line\n",
        "second\n",
        "third\n",
        "last without newline",
    ]


def test_expect_100_continue_is_sent_only_when_the_app_reads(server, state_dir):
    srv = server(APPS / "behaviours.wsgi", env={"OXWSGI_TEST_STATE": str(state_dir)})
    with srv.connect() as sock:
        sock.sendall(
            b"POST /input/after-delay?tag=c1 HTTP/1.1\r\nHost: t\r\n"
            b"Content-Length: 11\r\nExpect: 100-continue\r\n\r\n"
        )
        # The application is running but has not read yet: nothing may have been sent.
        wait_for_file(state_dir / "before-read-c1")
        sock.settimeout(0.5)
        try:
            early = sock.recv(100)
        except socket.timeout:
            early = b""
        assert early == b""
        (state_dir / "read-c1").touch()
        sock.settimeout(10)
        interim = b""
        while b"\r\n\r\n" not in interim:
            interim += sock.recv(1)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"hello world")
        status, _, body, _ = read_response(sock)
    assert status == "HTTP/1.1 200 OK"
    assert body == b"read 11 bytes\n"


def test_expect_100_continue_upload_through_a_client(server, state_dir):
    srv = server(APPS / "behaviours.wsgi", env={"OXWSGI_TEST_STATE": str(state_dir)})
    data = os.urandom(300_000)
    with srv.connect() as sock:
        sock.sendall(
            b"POST /input/sha256 HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n"
            b"Expect: 100-continue\r\n\r\n" % len(data)
        )
        interim = b""
        while b"\r\n\r\n" not in interim:
            interim += sock.recv(1)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(data)
        status, _, body, _ = read_response(sock)
    assert status == "HTTP/1.1 200 OK"
    assert json.loads(body) == sha_reply(data)


def test_app_that_ignores_the_body_never_triggers_100_continue(server, state_dir):
    srv = server(APPS / "behaviours.wsgi", env={"OXWSGI_TEST_STATE": str(state_dir)})
    with srv.connect() as sock:
        sock.sendall(
            b"POST /input/ignore HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        status, _, body, _ = read_response(sock)
    assert status == "HTTP/1.1 200 OK"
    assert body == b"did not read the body\n"


def test_declared_body_over_the_limit_gets_413_before_the_app_runs(server, state_dir):
    srv = server(
        "--limit-request-body",
        "1000",
        APPS / "behaviours.wsgi",
        env={"OXWSGI_TEST_STATE": str(state_dir)},
    )
    response = requests.post(srv.url + "/ran?tag=big", data=b"x" * 1001)
    assert response.status_code == 413
    assert "The request body is larger than the limit of 1000 bytes." in response.text
    assert not (state_dir / "ran.log").exists()
    ok = requests.post(srv.url + "/ran?tag=small", data=b"x" * 1000)
    assert ok.status_code == 200
    assert (state_dir / "ran.log").read_text() == "small\n"


def test_chunked_body_over_the_limit_gets_413(server, state_dir):
    srv = server(
        "--limit-request-body",
        "100000",
        APPS / "behaviours.wsgi",
        env={"OXWSGI_TEST_STATE": str(state_dir)},
    )

    def generate():
        for _ in range(20):
            yield b"z" * 10000

    response = requests.post(srv.url + "/input/sha256", data=generate())
    assert response.status_code == 413
    assert "The request body is larger than the limit of 100000 bytes." in response.text


def test_client_disconnecting_mid_body_raises_oserror_in_the_app(server, state_dir):
    srv = server(APPS / "behaviours.wsgi", env={"OXWSGI_TEST_STATE": str(state_dir)})
    with srv.connect() as sock:
        sock.sendall(
            b"POST /input/disconnect?tag=d1 HTTP/1.1\r\nHost: t\r\n"
            b"Content-Length: 100000\r\n\r\n" + b"a" * 1000
        )
        # The app is called and goes on to read the body; then the client goes away.
        wait_for_file(state_dir / "input-started-d1")
    report = state_dir / "input-error-d1"
    wait_until(lambda: report.exists() and report.read_text(), timeout=15, what="the app's report")
    assert report.read_text() == (
        "OSError: client disconnected before sending the whole request body "
        "(1000 bytes received)\n"
    )


def test_hundred_mib_upload_streams_with_flat_memory(server, state_dir):
    srv = server(
        "--limit-request-body",
        str(200 * 1024 * 1024),
        APPS / "behaviours.wsgi",
        env={"OXWSGI_TEST_STATE": str(state_dir)},
    )
    requests.get(srv.url + "/")
    before = srv.rss_kib("VmHWM")
    block = os.urandom(1024 * 1024)
    digest = hashlib.sha256()

    class Upload:
        """A 100 MiB body made on the fly, with a known length (so no chunked framing)."""

        def __init__(self):
            self.left = 100

        def __len__(self):
            return 100 * len(block)

        def read(self, size=-1):
            if not self.left:
                return b""
            self.left -= 1
            digest.update(block)
            return block

    response = requests.post(srv.url + "/input/sha256", data=Upload())
    assert response.json() == {"length": 100 * len(block), "sha256": digest.hexdigest()}
    growth_mib = (srv.rss_kib("VmHWM") - before) / 1024
    assert growth_mib < 30, f"peak memory grew by {growth_mib:.0f} MiB for a 100 MiB upload"


def test_limit_zero_means_no_limit(server, state_dir):
    srv = server(
        "--limit-request-body",
        "0",
        APPS / "behaviours.wsgi",
        env={"OXWSGI_TEST_STATE": str(state_dir)},
    )
    data = os.urandom(11 * 1024 * 1024)  # over the default limit of 10 MiB
    response = requests.post(srv.url + "/input/sha256", data=data)
    assert response.status_code == 200
    assert response.json() == sha_reply(data)
