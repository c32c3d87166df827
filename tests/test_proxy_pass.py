"""The reverse proxy: mod_wsgi-express's --proxy-mount-point (and its old name
--proxy-url-alias), --proxy-virtual-host and --proxy-timeout. A real backend
(tests/apps/proxy_backend.py: an HTTP echo and a WebSocket echo, in a process of its own) is
reached through oxwsgi, which hosts a WSGI application beside it."""

import json
import os
import socket
import subprocess
import sys
import tempfile

import pytest
import requests
from websockets.sync.client import connect as ws_connect

from support import APPS, BINARY, VENV, Server, free_port, wait_for_file

APP = APPS / "environ.wsgi"
BACKEND = APPS / "proxy_backend.py"


def page(code, reason, message):
    """The server's own error page (http-front's error_response.rs)."""
    return (f"<!DOCTYPE html>\n<html><head><title>{code} {reason}</title></head>\n<body>\n"
            f"<h1>{reason}</h1>\n<p>{message}</p>\n</body></html>\n")


@pytest.fixture(scope="module")
def backend():
    """The backend's (HTTP port, WebSocket port), stopped by its pid at the end."""
    with tempfile.TemporaryDirectory() as tmp:
        ports_file = os.path.join(tmp, "ports")
        proc = subprocess.Popen([str(VENV / "bin" / "python"), str(BACKEND), ports_file],
                                stdin=subprocess.DEVNULL)
        try:
            wait_for_file(ports_file)
            with open(ports_file) as f:
                http_port, ws_port = (int(p) for p in f.read().split())
            yield http_port, ws_port
        finally:
            proc.terminate()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def server(backend):
    """oxwsgi with the application at / and the backend at /api (HTTP, by the old option
    name too), /ws (WebSocket), a virtual host, and a mount point nothing listens behind."""
    http_port, ws_port = backend
    down = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        srv = Server([
            APP,
            "--proxy-mount-point", "/api", f"http://127.0.0.1:{http_port}/v1",
            "--proxy-url-alias", "/old/", f"http://127.0.0.1:{http_port}/",
            "--proxy-mount-point", "/ws", f"http://127.0.0.1:{ws_port}/",
            "--proxy-mount-point", "/down", f"http://127.0.0.1:{down}/",
            "--proxy-virtual-host", "proxied.example", f"http://127.0.0.1:{http_port}/",
            "--proxy-virtual-host", "ws.example", f"http://127.0.0.1:{ws_port}/",
            "--proxy-timeout", "2",
        ], tmp)
        try:
            yield srv
        finally:
            srv.stop()


def test_get_through_a_mount_point_reaches_the_backend_with_forwarded_headers(server):
    response = requests.get(server.url + "/api/items/a%20b?x=1&y=%2F",
                            headers={"Connection": "keep-alive, X-Drop", "X-Drop": "1",
                                     "X-Kept": "2"})
    assert response.status_code == 200
    assert response.headers["X-Backend"] == "yes"
    seen = response.json()
    assert seen["method"] == "GET"
    # The rest of the path after the target's, the query as it came.
    assert seen["path"] == "/v1/items/a%20b?x=1&y=%2F"
    headers = seen["headers"]
    assert headers["host"] == f"127.0.0.1:{server_backend_port(server)}"
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-host"] == f"127.0.0.1:{server.port}"
    assert headers["x-forwarded-port"] == str(server.port)
    assert headers["x-forwarded-prefix"] == "/api"
    assert "x-forwarded-server" in headers
    assert "x-forwarded-scheme" not in headers
    # Hop-by-hop: `Connection` and what it names stay here; the rest goes through.
    assert "x-drop" not in headers
    assert headers["x-kept"] == "2"
    assert "keep-alive" not in headers.get("connection", "")


def server_backend_port(server):
    """The backend's HTTP port, from the server's command line."""
    index = server.command.index("--proxy-mount-point")
    return int(server.command[index + 2].rsplit(":", 1)[1].split("/")[0])


def test_post_body_goes_through_and_the_application_keeps_the_rest(server):
    body = b"x" * 100_000
    response = requests.post(server.url + "/api/upload", data=body)
    assert response.status_code == 200
    seen = response.json()
    assert seen["method"] == "POST"
    assert seen["path"] == "/v1/upload"
    assert seen["body"] == body.decode()
    assert seen["headers"]["content-length"] == "100000"
    # Paths outside the mount points are the application's.
    app = requests.get(server.url + "/apis")
    assert app.status_code == 200
    assert "X-Backend" not in app.headers


def test_the_old_option_name_mounts_with_a_trailing_slash(server):
    response = requests.get(server.url + "/old/thing")
    assert response.status_code == 200
    assert response.json()["path"] == "/thing"
    assert response.json()["headers"]["x-forwarded-prefix"] == "/old"


def test_the_mount_point_without_its_slash_is_redirected_to_it(server):
    response = requests.get(server.url + "/api?q=1", allow_redirects=False)
    assert response.status_code == 302
    assert response.headers["Location"] == f"http://127.0.0.1:{server.port}/api/?q=1"


def test_a_redirect_to_the_backend_comes_back_to_this_server(server):
    response = requests.get(server.url + "/api/redirect", allow_redirects=False)
    assert response.status_code == 302
    assert response.headers["Location"] == f"http://127.0.0.1:{server.port}/api/landing"


def test_the_virtual_host_takes_every_path_by_its_host_name(server):
    response = requests.get(server.url + "/any/path",
                            headers={"Host": f"proxied.example:{server.port}"})
    assert response.status_code == 200
    seen = response.json()
    assert seen["path"] == "/any/path"
    assert seen["headers"]["x-forwarded-host"] == f"proxied.example:{server.port}"
    assert "x-forwarded-prefix" not in seen["headers"]
    # Another name: the application.
    other = requests.get(server.url + "/any/path",
                         headers={"Host": f"localhost:{server.port}"})
    assert other.status_code == 200
    assert "X-Backend" not in other.headers


def test_a_response_streams_through_before_the_backend_has_finished_it(server, backend):
    with requests.get(server.url + "/api/stream", stream=True, timeout=30) as response:
        assert response.status_code == 200
        parts = response.iter_content(chunk_size=None)
        # The backend holds the rest until told: a proxy that buffered the whole body would
        # never give this first part.
        assert next(parts) == b"first\n"
        released = requests.get(f"http://127.0.0.1:{backend[0]}/release")
        assert released.text == "released"
        assert b"".join(parts) == b"second\n"


def test_a_target_that_is_down_is_a_502(server):
    response = requests.get(server.url + "/down/anything")
    assert response.status_code == 502
    assert response.text == page(
        502, "Bad Gateway",
        "The server this request is passed on to could not be reached, or gave no valid "
        "answer.")
    server.wait_for_log(r"cannot proxy /down/anything to http://127\.0\.0\.1:\d+/anything")


def test_a_target_that_does_not_answer_is_a_504_after_the_proxy_timeout(server):
    response = requests.get(server.url + "/api/hang", timeout=30)
    assert response.status_code == 504
    assert response.text == page(
        504, "Gateway Timeout",
        "The server this request is passed on to did not answer in time.")
    server.wait_for_log(r"no response within 2s \(--proxy-timeout\)")


def test_a_websocket_echoes_through_the_mount_point(server):
    with ws_connect(f"ws://127.0.0.1:{server.port}/ws/chat?room=1",
                    open_timeout=10, close_timeout=10) as ws:
        ws.send("hello")
        assert ws.recv(timeout=10) == "echo: hello at /chat?room=1"
        ws.send("again")
        assert ws.recv(timeout=10) == "echo: again at /chat?room=1"
    # The server goes on serving ordinary requests afterwards.
    assert requests.get(server.url + "/api/after").json()["path"] == "/v1/after"


def test_a_websocket_echoes_through_the_virtual_host(server):
    # Connected to this server, with the proxied host's name in the URL (its Host header).
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    with ws_connect(f"ws://ws.example:{server.port}/chat?room=2", sock=sock,
                    open_timeout=10, close_timeout=10) as ws:
        ws.send("hello")
        assert ws.recv(timeout=10) == "echo: hello at /chat?room=2"


@pytest.mark.parametrize("args, message", [
    (["--proxy-mount-point", "api", "http://127.0.0.1:1/"],
     "--proxy-mount-point api http://127.0.0.1:1/: give a URL path, starting with /"),
    (["--proxy-mount-point", "/api", "https://127.0.0.1:1/"],
     "--proxy-mount-point /api https://127.0.0.1:1/: only http:// targets can be proxied to "
     "(TLS to the target is not supported)"),
    (["--proxy-timeout", "0"], "--proxy-timeout 0: give a number of seconds above 0"),
])
def test_bad_values_are_refused_naming_the_option(args, message, tmp_path):
    result = subprocess.run(
        [str(BINARY), "start-server", str(APP), *args,
         "--server-root", str(tmp_path)],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result
    assert result.stderr == f"oxwsgi: {message}\n"


def test_a_proxied_host_is_served_beside_a_server_name_that_refuses_other_names(backend, tmp_path):
    # With --server-name, requests for unknown names fall to a catch-all host that refuses
    # them (a 403); the proxied host is a host of its own, as in express's configuration.
    srv = Server([APP, "--server-name", "www.example.org",
                  "--proxy-virtual-host", "proxied.example", f"http://127.0.0.1:{backend[0]}/"],
                 tmp_path)
    try:
        proxied = requests.get(srv.url + "/x", headers={"Host": "proxied.example"})
        assert proxied.status_code == 200
        assert proxied.json()["path"] == "/x"
        unknown = requests.get(srv.url + "/x", headers={"Host": "unknown.example"})
        assert unknown.status_code == 403
        named = requests.get(srv.url + "/x", headers={"Host": "www.example.org"})
        assert named.status_code == 200
        assert "X-Backend" not in named.headers
    finally:
        srv.stop()
