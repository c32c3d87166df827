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


def test_the_service_is_the_same_over_http2(server, pki, app, tmp_path):
    """Static files, compression, the body limit, the head limits and the access log, asked
    over HTTP/1.1 and over HTTP/2 (in the clear, with prior knowledge): the same answers."""
    docroot = tmp_path / "docroot"
    docroot.mkdir()
    (docroot / "page.txt").write_text("static page line\n" * 200)
    srv, _ = start(server, pki, app, "--document-root", docroot, "--compress-responses",
                   "--limit-request-body", "1000", "--limit-request-field-size", "200",
                   "--access-log")

    def ask(version, *args):
        out = curl(version, "-o", "/dev/null", "-w", "%{http_code} %{size_download}\n", *args)
        return out.split()

    for version, shown in (("--http1.1", "HTTP/1.1"), ("--http2-prior-knowledge", "HTTP/2.0")):
        assert ask(version, srv.url + "/page.txt") == ["200", str(17 * 200)]
        # Compressed: fewer bytes on the wire than the file has.
        status, size = ask(version, "-H", "Accept-Encoding: gzip", srv.url + "/page.txt")
        assert status == "200" and int(size) < 17 * 200
        headers = curl(version, "-s", "-D", "-", "-o", "/dev/null", "-H",
                       "Accept-Encoding: gzip", srv.url + "/page.txt")
        assert re.search(r"(?im)^content-encoding: gzip\r?$", headers), headers
        # The body limit: 413 before the application reads.
        if shown == "HTTP/1.1":
            assert ask(version, "--data-binary", "x" * 2000, srv.url + "/upload")[0] == "413"
        else:
            # Answered while the client still sends: the whole response, then RST_STREAM with
            # NO_ERROR (RFC 9113 §8.1), which this curl reports as an error; nghttp shows it.
            body = tmp_path / "body"
            body.write_bytes(b"x" * 300_000)
            frames = subprocess.run(["nghttp", "-v", "-d", str(body), srv.url + "/upload"],
                                    capture_output=True, text=True, timeout=60).stdout
            assert re.search(r"recv \(stream_id=\d+\) :status: 413", frames), frames
            assert re.search(r"recv DATA frame <length=\d+, flags=0x01.*\n\s+; END_STREAM\n"
                             r".*recv RST_STREAM frame.*\n\s+\(error_code=NO_ERROR", frames), frames
        assert ask(version, "--data-binary", "x" * 500, srv.url + "/upload")[0] == "200"
        # A header field past --limit-request-field-size: 431 (hyper's own for HTTP/2 frames
        # decoded larger than its limit, or ours).
        assert ask(version, "-H", "X-Long: " + "y" * 400, srv.url + "/a")[0] == "431"
        # SERVER_PROTOCOL as httpd's mod_http2 gives it.
        assert curl(version, srv.url + "/proto").startswith(f"{shown} /proto ")
        srv.wait_for_log(
            rf'127\.0\.0\.1 - - \[[^]]+\] "GET /proto {re.escape(shown)}" 200 \d+',
            source=lambda: srv.stdout)
