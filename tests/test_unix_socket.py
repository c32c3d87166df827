"""--unix-socket: a listener for a proxy on the same machine, bound by the supervisor like the
TCP one, with its mode and owner, replaced when stale, refused when live or not a socket, and
removed when the server stops."""

import http.client
import json
import os
import socket
import stat
import subprocess

from support import APPS, BINARY, ROOT, VENV, Server, wait_until


class UnixConnection(http.client.HTTPConnection):
    """An HTTP/1.1 client connection over a unix socket."""

    def __init__(self, path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.path = str(path)

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def environ_over(path, headers=None, host=None):
    conn = UnixConnection(path)
    try:
        conn.putrequest("GET", "/env", skip_host=host is not None)
        if host is not None:
            conn.putheader("Host", host)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        assert response.status == 200
        report = json.loads(response.read())
        return {key: entry["value"] for key, entry in report.items() if isinstance(entry, dict)}
    finally:
        conn.close()


def test_requests_over_the_unix_socket_come_from_this_machine(server, tmp_path):
    path = tmp_path / "app.sock"
    srv = server(APPS / "environ.wsgi", "--unix-socket", path)
    assert f"Unix Socket        : {path} (mode 0660)" in srv.stdout
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o660

    environ = environ_over(path, host="example.org")
    assert environ["REMOTE_ADDR"] == "127.0.0.1"
    assert environ["REMOTE_PORT"] == "0"
    assert environ["SERVER_NAME"] == "example.org"
    # nginx's `proxy_set_header Host $host` drops the port: the scheme's is meant.
    assert environ["SERVER_PORT"] == "80"
    assert environ["wsgi.url_scheme"] == "http"
    assert environ["mod_wsgi.listener_host"] == str(path)
    assert srv.stop() == 0
    assert not path.exists(), "the socket file is removed when the server stops"


def test_the_mode_is_set_and_a_stale_socket_is_replaced(server, tmp_path):
    path = tmp_path / "stale.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()
    assert path.exists()
    srv = server(APPS / "environ.wsgi", "--unix-socket", path, "--unix-socket-mode", "600")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert environ_over(path)["REQUEST_METHOD"] == "GET"
    srv.stop()


def test_the_proxy_header_counts_from_the_unix_socket_when_loopback_is_trusted(server, tmp_path):
    path = tmp_path / "proxied.sock"
    server(APPS / "environ.wsgi", "--unix-socket", path,
           "--trust-proxy-header", "X-Forwarded-For", "--trust-proxy", "127.0.0.1")
    environ = environ_over(path, headers={"X-Forwarded-For": "203.0.113.7"})
    assert environ["REMOTE_ADDR"] == "203.0.113.7"


def test_the_proxy_header_does_not_count_when_only_another_proxy_is_trusted(server, tmp_path):
    path = tmp_path / "untrusted.sock"
    server(APPS / "environ.wsgi", "--unix-socket", path,
           "--trust-proxy-header", "X-Forwarded-For", "--trust-proxy", "10.0.0.1")
    environ = environ_over(path, headers={"X-Forwarded-For": "203.0.113.7"})
    assert environ["REMOTE_ADDR"] == "127.0.0.1"
    assert "HTTP_X_FORWARDED_FOR" not in environ


def start_refused(tmp_path, path):
    """Runs a server that must refuse to start; returns its exit status and error output."""
    result = subprocess.run(
        [str(BINARY), "start-server", str(APPS / "environ.wsgi"), "--port", "0",
         "--server-root", str(tmp_path / "refused-root"), "--log-to-terminal",
         "--python-home", str(VENV), "--unix-socket", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    return result.returncode, result.stderr


def test_a_socket_another_server_listens_on_is_refused_and_kept(tmp_path):
    path = tmp_path / "live.sock"
    live = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    live.bind(str(path))
    live.listen(1)
    try:
        status, stderr = start_refused(tmp_path, path)
        assert status != 0
        assert f"could not listen on unix:{path}: another server is listening on it" in stderr
        assert path.exists()
        # The other server still has its socket: a client reaches it.
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(str(path))
    finally:
        live.close()


def test_a_path_that_is_not_a_socket_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "data.txt"
    path.write_text("precious")
    status, stderr = start_refused(tmp_path, path)
    assert status != 0
    assert "the path exists and is not a socket" in stderr
    assert path.read_text() == "precious"


def test_two_instances_cannot_share_one_socket(server, tmp_path):
    path = tmp_path / "shared.sock"
    first = server(APPS / "environ.wsgi", "--unix-socket", path)
    status, stderr = start_refused(tmp_path, path)
    assert status != 0, stderr
    assert "another server is listening on it" in stderr
    # The first instance still serves on its socket.
    assert environ_over(path)["REMOTE_ADDR"] == "127.0.0.1"
    first.stop()
    wait_until(lambda: not path.exists(), timeout=10, what="the socket file's removal")


def test_an_unknown_owner_is_refused_before_anything_starts(tmp_path):
    result = subprocess.run(
        [str(BINARY), "start-server", "--port", "0", "--server-root", str(tmp_path / "r"),
         "--unix-socket", str(tmp_path / "o.sock"),
         "--unix-socket-owner", "no-such-user-for-oxwsgi"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert result.returncode != 0
    assert "--unix-socket-owner no-such-user-for-oxwsgi: no user is named" in result.stderr
    assert not (tmp_path / "o.sock").exists()


def test_the_help_explains_the_unix_socket_options():
    result = subprocess.run([str(BINARY), "start-server", "--help"],
                            capture_output=True, text=True, timeout=30)
    for option in ("--unix-socket <SOCKET-PATH>", "--unix-socket-mode <OCTAL-MODE>",
                   "--unix-socket-owner <USER[:GROUP]>"):
        assert option in result.stdout


def test_server_over_tcp_still_answers_beside_the_unix_socket(tmp_path):
    path = tmp_path / "both.sock"
    srv = Server([APPS / "environ.wsgi", "--unix-socket", path], tmp_path)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        conn.request("GET", "/")
        response = conn.getresponse()
        assert response.status == 200
        assert json.loads(response.read())["REMOTE_PORT"]["value"] != "0"
        conn.close()
    finally:
        srv.stop()
