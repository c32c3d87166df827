"""HTTP/2 with --http2 (mod_wsgi-express's option, mod_http2's `Protocols h2 h2c http/1.1`):
over HTTPS when the client picks h2 by ALPN, in the clear with prior knowledge; the same
service as HTTP/1.1; streams of one connection run concurrently; large bodies in both
directions in bounded memory; a graceful restart under HTTP/2 load loses nothing. Real
clients: curl and h2load (nghttp2)."""

import re
import signal
import subprocess

import pytest

from h2client import H2Load
from support import wait_until
from test_tls import ENVIRON_APP, https_port, pki  # noqa: F401  (the fixture)

APP = """
import os, threading
arrived = threading.Barrier(5, timeout=20)

def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/together":
        # Answers only once five requests are in at the same time.
        arrived.wait()
        body = [b"together\\n"]
    elif path == "/upload":
        total = 0
        while True:
            chunk = environ["wsgi.input"].read(65536)
            if not chunk:
                break
            total += len(chunk)
        body = [b"%d\\n" % total]
    elif path == "/download":
        size = int(environ["QUERY_STRING"])
        block = b"x" * 65536
        def stream():
            for _ in range(size // len(block)):
                yield block
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(size))])
        return stream()
    else:
        body = [("%s %s pid=%d\\n" % (environ["SERVER_PROTOCOL"], path, os.getpid())).encode()]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return body
"""


@pytest.fixture
def app(tmp_path):
    path = tmp_path / "h2.wsgi"
    path.write_text(APP)
    return path


def start(server, pki, app, *extra):
    srv = server(str(app), "--http2", "--https-port", "0", "--threads", "5",
                 "--ssl-certificate-file", str(pki / "server.crt"),
                 "--ssl-certificate-key-file", str(pki / "server.key"), *extra)
    return srv, https_port(srv)


def curl(*args):
    result = subprocess.run(["curl", "-sS", *map(str, args)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def h2load(*args):
    result = subprocess.run(["h2load", *map(str, args)], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    requests = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                         r"(\d+) failed, (\d+) errored, (\d+) timeout", result.stdout)
    statuses = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx",
                         result.stdout)
    assert requests and statuses, result.stdout
    return [int(n) for n in requests.groups()], [int(n) for n in statuses.groups()], result.stdout


def test_curl_gets_http2_over_tls_and_in_the_clear(server, pki, app):
    srv, port = start(server, pki, app)
    ca = pki / "ca.crt"
    out = curl("--http2", "--cacert", ca, "-w", "%{http_version}\n",
               f"https://localhost:{port}/a")
    assert re.fullmatch(r"HTTP/2\.0 /a pid=\d+\n2\n", out), out
    out = curl("--http2-prior-knowledge", "-w", "%{http_version}\n", srv.url + "/b")
    assert out.startswith("HTTP/2.0 /b pid=") and out.endswith("\n2\n")
    # HTTP/1.1 stays on both.
    out = curl("--http1.1", "--cacert", ca, "-w", "%{http_version}\n",
               f"https://localhost:{port}/c")
    assert out.startswith("HTTP/1.1 /c pid=") and out.endswith("\n1.1\n")
    out = curl("-w", "%{http_version}\n", srv.url + "/d")
    assert out.startswith("HTTP/1.1 /d pid=") and out.endswith("\n1.1\n")


def test_without_http2_tls_offers_only_http1(server, pki, app):
    srv = server(str(app), "--https-port", "0",
                 "--ssl-certificate-file", str(pki / "server.crt"),
                 "--ssl-certificate-key-file", str(pki / "server.key"))
    port = https_port(srv)
    out = curl("--http2", "--cacert", pki / "ca.crt", "-w", "%{http_version}\n",
               f"https://localhost:{port}/a")
    assert out.startswith("HTTP/1.1 /a") and out.endswith("\n1.1\n")


def test_streams_of_one_connection_run_concurrently(server, pki, app):
    """Five streams on one connection meet at a barrier in five Python threads: served one
    after the other, none would ever answer."""
    _, port = start(server, pki, app)
    (total, started, done, ok, failed, errored, timeout), (s2, s3, s4, s5), out = h2load(
        "-n", "5", "-c", "1", "-m", "5", f"https://localhost:{port}/together")
    assert (ok, failed, errored, s2) == (5, 0, 0, 5), out


def test_a_hundred_concurrent_streams_all_answer(server, pki, app):
    srv, port = start(server, pki, app)
    (_, _, _, ok, failed, errored, _), (s2, _, _, s5), out = h2load(
        "-n", "2000", "-c", "1", "-m", "100", f"https://localhost:{port}/x")
    assert (ok, failed, errored, s2, s5) == (2000, 0, 0, 2000, 0), out
    (_, _, _, ok, failed, errored, _), (s2, _, _, _), out = h2load(
        "-n", "1000", "-c", "1", "-m", "100", srv.url + "/x")
    assert (ok, failed, errored, s2) == (1000, 0, 0, 1000), out


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        return int(re.search(r"VmHWM:\s+(\d+) kB", status.read()).group(1))


def test_a_hundred_mib_each_way_keeps_the_workers_memory_flat(server, pki, app, tmp_path):
    srv, port = start(server, pki, app, "--limit-request-body", "0")
    ca = pki / "ca.crt"
    base = f"https://localhost:{port}"
    curl("--http2", "--cacert", ca, base + "/warm-up")
    worker = srv.worker_pid()
    before = peak_rss_kib(worker)
    size = 100 * 1024 * 1024
    upload = tmp_path / "upload.bin"
    with open(upload, "wb") as f:
        f.truncate(size)
    out = curl("--http2", "--cacert", ca, "-T", upload, "-w", "%{http_version}\n",
               base + "/upload")
    assert out == f"{size}\n2\n"
    out = curl("--http2", "--cacert", ca, "-o", "/dev/null", "-w",
               "%{http_version} %{size_download}\n", f"{base}/download?{size}")
    assert out == f"2 {size}\n"
    grown_mib = (peak_rss_kib(worker) - before) / 1024
    # Flow control and streaming bound it: a few windows, not the 100 MiB bodies.
    assert grown_mib < 40, f"the worker's peak memory grew by {grown_mib:.0f} MiB"


def test_a_graceful_restart_under_http2_load_loses_no_request(server, pki, app):
    """SIGHUP replaces both workers while a client keeps ten streams open: the old workers
    send GOAWAY and finish every stream they accepted; the client sends the streams above the
    GOAWAY's last stream id again on a new connection, as RFC 9113 allows (tests/h2client.py);
    not one fails."""
    srv, port = start(server, pki, app, "--processes", "2")
    old = set(srv.worker_pids())
    with H2Load(port, "/x", pki / "ca.crt") as load:
        wait_until(lambda: load.completed >= 500, what="500 HTTP/2 responses")
        srv.send_signal(signal.SIGHUP)
        wait_until(lambda: not (set(srv.worker_pids()) & old), what="the old workers gone")
        after = load.completed
        wait_until(lambda: load.completed >= after + 500, what="500 responses after the restart")
    assert load.failures == [], load.failures[:5]
    # The old workers' connections ended: the client moved to new ones.
    assert load.connections >= 2
