"""Regression tests for issue 8's review findings, one section per item: standard descriptors
the application closes, keep-alive after an unread request body, streams counted as inactivity,
the request-timeout log of a started response, wsgi.file_wrapper over objects that are not plain
binary files, write() from another thread, os.fork() in a request, --enable-sendfile with
--compress-responses on a file being rewritten, HEAD without a declared length, and (item 10)
wsgi.input read after its request and a blocked error log that must not hold the GIL."""

import gzip
import os
import pathlib
import re
import signal
import socket
import subprocess
import threading
import time

import pytest
import requests

from support import (
    APPS,
    BINARY,
    VENV,
    port_is_listening,
    read_response,
    read_until_closed,
    recv_until,
    wait_for_file,
    wait_until,
)


def start(server, state_dir, *args, **kwargs):
    return server(
        *args, APPS / "regressions.wsgi", env={"OXWSGI_TEST_STATE": str(state_dir)}, **kwargs
    )


def read_noted(path):
    """The lines an application wrote with note(), once the first one is complete."""
    wait_until(lambda: path.exists() and path.read_text().endswith("\n"), what=f"{path}")
    return path.read_text().splitlines()


def pid_state(pid):
    """The state letter of a process (R, S, Z, ...), or None once it no longer exists."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def gone_or_zombie(pid):
    return pid_state(pid) in (None, "Z")


def kill_if_alive(pid):
    if pid is not None and not gone_or_zombie(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def kill_leftover_workers(pids):
    """Kills, by pid, worker processes a server stopped by SIGKILL left behind."""
    for pid in pids:
        try:
            title = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if title.startswith(b"oxwsgi: worker"):
            kill_if_alive(pid)


def read_to_end_of_chunked(sock, data=b""):
    """Reads until a chunked body has ended (b"0\\r\\n\\r\\n") or the server closes."""
    while not data.endswith(b"0\r\n\r\n"):
        try:
            chunk = sock.recv(1 << 20)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def parse_chunked(data):
    """Splits a whole chunked response into (head, body); fails unless it is well formed and
    ends with the last chunk."""
    head, sep, rest = data.partition(b"\r\n\r\n")
    assert sep, f"no complete head in {data[:300]!r}"
    body = []
    while True:
        size_line, sep, rest = rest.partition(b"\r\n")
        assert sep, f"the body was cut inside a chunk size line (after {sum(map(len, body))} bytes)"
        size = int(size_line, 16)
        assert len(rest) >= size + 2, f"the body was cut inside a chunk (after {sum(map(len, body))} bytes)"
        assert rest[size : size + 2] == b"\r\n", "a chunk does not end with CRLF"
        body.append(rest[:size])
        rest = rest[size + 2 :]
        if size == 0:
            assert rest == b"", f"bytes after the last chunk: {rest[:100]!r}"
            return head, b"".join(body)


# --- 1. Standard descriptors the application closes ------------------------------------------


@pytest.mark.parametrize("log_to_terminal", [True, False], ids=["terminal", "log-files"])
def test_app_closing_stderr_at_import_still_serves_and_stops(server, log_to_terminal):
    srv = server(APPS / "closes_stderr_at_import.wsgi", "--access-log", log_to_terminal=log_to_terminal)
    workers = srv.worker_pids()
    try:
        response = requests.get(srv.url + "/?closed-at-import", timeout=10)
        assert (response.status_code, response.text) == (200, "alive")
        # What the application prints still reaches the error log.
        srv.wait_for_log(r"\[wsgi:error\] .*answering after closing standard error at import$")
        # The access log did not take the closed number: its lines go where they belong.
        access = (lambda: srv.stdout) if log_to_terminal else (lambda: (srv.server_root / "access_log").read_text())
        srv.wait_for_log(r'"GET /\?closed-at-import HTTP/1.1" 200', source=access)
        assert "closed-at-import HTTP" not in srv.error_log()
    finally:
        code = srv.stop(timeout=20)
        kill_leftover_workers(workers)
    assert code == 0


def get_hello(sock):
    """A GET /hello on a kept connection; returns every byte read up to the end of its body."""
    sock.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
    return recv_until(sock, lambda r: r.endswith(b"\r\n\r\nhello\n"))


def assert_log_output_stays_out_of_a_socket(srv, fd, log_requests, leaked):
    """The application closes `fd`; connection A, accepted next, takes the descriptor number.
    After requests that write to the log, A must still carry only HTTP."""
    assert requests.get(srv.url + f"/close-fd?fd={fd}").text == f"closed fd {fd}\n"
    with srv.connect() as conn_a:
        # A full exchange proves A was accepted before the requests below.
        assert get_hello(conn_a).startswith(b"HTTP/1.1 200 OK\r\n")
        for path, status in log_requests:
            assert requests.get(srv.url + path).status_code == status
        received = get_hello(conn_a)
    assert received.startswith(b"HTTP/1.1 200 OK\r\n"), f"log output on the connection: {received[:500]!r}"
    for text in leaked:
        assert text not in received


@pytest.mark.parametrize("log_to_terminal", [True, False], ids=["terminal", "log-files"])
def test_error_log_never_goes_to_a_socket_that_took_a_closed_stderr(server, state_dir, log_to_terminal):
    srv = start(server, state_dir, log_to_terminal=log_to_terminal)
    assert_log_output_stays_out_of_a_socket(
        srv,
        2,
        [("/print-stderr?marker=MARKER-8c1f", 200), ("/raise", 500)],
        [b"MARKER-8c1f", b"Traceback", b"ZeroDivisionError"],
    )


def test_access_log_never_goes_to_a_socket_that_took_a_closed_stdout(server, state_dir):
    srv = start(server, state_dir, "--access-log")
    assert_log_output_stays_out_of_a_socket(
        srv, 1, [("/print-stderr?marker=MARKER-51d0", 200), ("/raise", 500)], [b'"GET /']
    )


# --- 2. Keep-alive after a request body the application did not read ------------------------


@pytest.mark.parametrize(
    "path,status,body",
    [
        (b"/ignore-body", "HTTP/1.1 200 OK", b"ignored the body\n"),
        (b"/ignore-body-and-raise", "HTTP/1.1 500 Internal Server Error", None),
    ],
    ids=["answered", "raised"],
)
def test_connection_is_kept_after_a_body_the_app_did_not_read(server, state_dir, path, status, body):
    srv = start(server, state_dir)
    payload = os.urandom(6000)
    with srv.connect() as sock:
        sock.sendall(b"POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % (path, len(payload)))
        time.sleep(0.05)  # as http.client does: the head, then the body in a second send
        sock.sendall(payload)
        first_status, first_headers, first_body, rest = read_response(sock)
        assert first_status == status
        if body is not None:
            assert first_body == body
        assert first_headers.get("connection") != "close"
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        second_status, _, second_body, _ = read_response(sock)
        assert (second_status, second_body) == ("HTTP/1.1 200 OK", b"hello\n")
    if body is None:
        srv.wait_for_log(r"RuntimeError: raised without reading the body")


def test_connection_is_kept_after_an_unread_chunked_body_sent_a_byte_at_a_time(server, state_dir):
    srv = start(server, state_dir)
    with srv.connect() as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(b"POST /ignore-body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        # The chunks only once the application has answered without reading them.
        read_noted(state_dir / "ignored-body")
        for i in range(40):
            sock.sendall(b"1\r\n" + bytes([97 + i % 26]) + b"\r\n")
        sock.sendall(b"0\r\n\r\n")
        status, headers, body, _ = read_response(sock)
        assert (status, body) == ("HTTP/1.1 200 OK", b"ignored the body\n")
        assert headers.get("connection") != "close"
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_response(sock)[:3:2] == ("HTTP/1.1 200 OK", b"hello\n")


def bytes_accepted_after_response(sock, total):
    """Sends up to `total` body bytes after the response arrived; returns how many the server
    took before closing (socket buffers included)."""
    sent = 0
    chunk = b"x" * 65536
    try:
        while sent < total:
            sent += sock.send(chunk)
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        pass
    return sent


def test_a_refused_body_is_not_read_before_closing(server, state_dir):
    """A 413 closes the connection: the server must not read the refused body first (with the
    lingering read, it read up to --limit-request-body of it)."""
    srv = start(server, state_dir)
    with srv.connect(timeout=10) as sock:
        sock.sendall(b"POST /ignore-body HTTP/1.1\r\nHost: t\r\nContent-Length: 40000000\r\n\r\n")
        status, headers, _, _ = read_response(sock)
        assert (status, headers.get("connection")) == ("HTTP/1.1 413 Payload Too Large", "close")
        sent = bytes_accepted_after_response(sock, 40_000_000)
    assert sent < 8 * 1048576, f"the server read {sent} bytes of a refused body"


def test_a_body_is_not_read_when_the_client_closes_the_connection(server, state_dir):
    srv = start(server, state_dir)
    with srv.connect(timeout=10) as sock:
        sock.sendall(
            b"POST /ignore-body HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
            b"Content-Length: 9000000\r\n\r\n"
        )
        status, _, body, _ = read_response(sock)
        assert (status, body) == ("HTTP/1.1 200 OK", b"ignored the body\n")
        sent = bytes_accepted_after_response(sock, 9_000_000)
    assert sent < 8 * 1048576, f"the server read {sent} bytes of a body after its last response"


# --- 3. A streaming response is activity -----------------------------------------------------


def test_a_slow_stream_is_not_cut_by_the_inactivity_timeout(server, state_dir):
    srv = start(server, state_dir, "--inactivity-timeout", "2", "--graceful-timeout", "1")
    with srv.connect(timeout=30) as sock:
        sock.sendall(b"GET /lines?count=8&every=1 HTTP/1.1\r\nHost: t\r\n\r\n")
        data = read_to_end_of_chunked(sock)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert data.endswith(b"0\r\n\r\n"), f"the stream was cut: {data[-120:]!r}"
    _, body = parse_chunked(data)
    assert body == b"".join(b"line %d\n" % i for i in range(8))


# --- 4. What the request-timeout log says ----------------------------------------------------


def request_timeout_line(srv, path):
    return srv.wait_for_log(rf"request timeout: GET {re.escape(path)} [^\n]*").group(0)


def test_request_timeout_before_the_response_started_logs_a_504(server, state_dir):
    srv = start(server, state_dir, "--request-timeout", "2")
    response = requests.get(srv.url + "/sleep-before-start?seconds=5", timeout=30)
    assert response.status_code == 504
    assert "The application did not answer within the request timeout." in response.text
    # Its thread may hold the request body as long as it stays stuck: the connection cannot be
    # reused, and the response says so.
    assert response.headers["Connection"] == "close"
    line = request_timeout_line(srv, "/sleep-before-start?seconds=5")
    assert re.search(r"request timeout: GET /sleep-before-start\?seconds=5 .*it was answered with a 504", line), line
    (state_dir / "release-stuck").touch()


def test_request_timeout_after_the_response_started_logs_a_cut_not_a_504(server, state_dir):
    srv = start(server, state_dir, "--request-timeout", "2", "--graceful-timeout", "2")
    try:
        with srv.connect(timeout=30) as sock:
            sock.sendall(b"GET /stream-forever?tag=t1 HTTP/1.1\r\nHost: t\r\n\r\n")
            data = read_until_closed(sock)
        assert data.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"line 0\n" in data
        assert not data.endswith(b"0\r\n\r\n"), "a cut stream must not look complete"
        line = request_timeout_line(srv, "/stream-forever?tag=t1")
        assert re.search(
            r"request timeout: GET /stream-forever\?tag=t1 .*its response had already started, so "
            r"it was cut after \d+ bytes of body",
            line,
        ), line
        assert "answered with a 504" not in line
    finally:
        (state_dir / "stop-t1").touch()


# --- 5. wsgi.file_wrapper over objects that are not plain binary files -----------------------

CONTENT = b"".join(b"line %05d of the wrapped file\n" % i for i in range(3000))


def get_closing(srv, path):
    """GET with Connection: close; returns (status line, head, body), the body de-chunked."""
    data = srv.raw(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    head, _, body = data.partition(b"\r\n\r\n")
    if b"\r\ntransfer-encoding: chunked" in head.lower():
        _, body = parse_chunked(data)
    return head.split(b"\r\n", 1)[0].decode(), head, body


def test_file_wrapper_of_a_gzip_file_sends_the_decompressed_data(server, state_dir):
    (state_dir / "data.gz").write_bytes(gzip.compress(CONTENT))
    with gzip.open(state_dir / "data.gz", "rb") as f:
        expected = f.read()
    srv = start(server, state_dir)
    status, _, body = get_closing(srv, "/wrap/gzip?name=data.gz")
    assert status == "HTTP/1.1 200 OK"
    assert body == expected, f"{len(body)} bytes beginning {body[:20]!r}"


def test_file_wrapper_of_an_object_without_tell_sends_what_read_returns(server, state_dir):
    (state_dir / "data.txt").write_bytes(CONTENT)
    srv = start(server, state_dir)
    status, _, body = get_closing(srv, "/wrap/no-tell?name=data.txt")
    assert status == "HTTP/1.1 200 OK"
    assert body == CONTENT[10:], f"{len(body)} bytes beginning {body[:20]!r}"


def test_file_wrapper_of_a_binary_file_after_a_read_sends_the_rest(server, state_dir):
    """A control, which passed before the fix too: the fast path still serves a plain binary
    file from its current position."""
    (state_dir / "data.txt").write_bytes(CONTENT)
    srv = start(server, state_dir)
    status, head, body = get_closing(srv, "/wrap/binary-after-read?name=data.txt")
    assert status == "HTTP/1.1 200 OK"
    assert b"\r\nContent-Length: %d\r\n" % (len(CONTENT) - 10) in head + b"\r\n"
    assert body == CONTENT[10:]


def assert_500_for_the_wrapper(srv, path, last_line):
    status, _, body = get_closing(srv, path)
    assert status == "HTTP/1.1 500 Internal Server Error", (status, body[:200])
    assert b"The server encountered an internal error" in body
    srv.wait_for_log(re.escape(last_line))
    assert requests.get(srv.url + "/hello").text == "hello\n"


def test_file_wrapper_of_a_write_only_file_gives_500(server, state_dir):
    srv = start(server, state_dir)
    assert_500_for_the_wrapper(srv, "/wrap/write-only?name=out.bin", "io.UnsupportedOperation: read")
    srv.wait_for_log(
        re.escape(
            f"Exception occurred processing WSGI script '{APPS / 'regressions.wsgi'}' for "
            "GET /wrap/write-only?name=out.bin:"
        )
        + r"\n.*io\.UnsupportedOperation: read$"
    )


def test_file_wrapper_of_a_text_file_gives_500(server, state_dir):
    (state_dir / "data.txt").write_bytes(CONTENT)
    srv = start(server, state_dir)
    assert_500_for_the_wrapper(
        srv,
        "/wrap/text?name=data.txt",
        "TypeError: the response body must be an iterable of bytes, but it yielded a str",
    )


# --- 6. write() from another thread while the request ends -----------------------------------


def test_write_from_another_thread_after_the_app_returned(server, state_dir):
    srv = start(server, state_dir)
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.settimeout(15)
        sock.connect(("127.0.0.1", srv.port))
        sock.sendall(b"GET /write-from-thread?tag=w1 HTTP/1.1\r\nHost: t\r\n\r\n")
        # Read the head only, then nothing while the thread writes and the app returns.
        received = recv_until(sock, lambda r: b"\r\n\r\n" in r)
        wait_for_file(state_dir / "returned-w1")
        data = read_to_end_of_chunked(sock, received)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    _, body = parse_chunked(data)
    wait_until(
        lambda: any(line.startswith("raised") for line in read_noted(state_dir / "thread-w1"))
        or "done" in read_noted(state_dir / "thread-w1"),
        timeout=15,
        what="the thread to stop writing",
    )
    log = srv.error_log()
    assert "panicked" not in log and "Already borrowed" not in log, f"a panic:\n{log[-1500:]}"
    assert len(body) < 20 * 1048576, "the thread wrote all 20 MiB: the request did not end"
    assert set(body) <= {ord("x")}
    (last,) = [l for l in read_noted(state_dir / "thread-w1") if not l.startswith("write ")]
    assert last.startswith("raised RuntimeError: ") and "the request has ended" in last, last
    # While the thread was inside write(), the request's own write() said so, and waited for
    # nothing.
    (probe,) = read_noted(state_dir / "probe-w1")
    assert probe == (
        "RuntimeError: another thread is in the middle of write() or start_response() for this "
        "response; a response can only be written by one thread at a time"
    ), probe
    assert requests.get(srv.url + "/hello").text == "hello\n"


# --- 7. os.fork() in a request ---------------------------------------------------------------


def fork_in_a_request(srv, state_dir, tag, query=""):
    """GET /fork: the parent answers; returns the pid the child wrote down."""
    response = requests.get(srv.url + f"/fork?tag={tag}{query}", timeout=10)
    assert (response.status_code, response.text) == (200, "parent")
    return int(read_noted(state_dir / f"child-{tag}")[0])


def test_a_child_forked_in_a_request_that_returns_into_the_server_exits(server, state_dir):
    srv = start(server, state_dir)
    port = srv.port
    child = None
    try:
        child = fork_in_a_request(srv, state_dir, "f1")
        wait_until(lambda: gone_or_zombie(child), timeout=10, what="the forked child to exit")
        srv.stop()
        assert not port_is_listening(port), "something still listens on the server's port"
        assert gone_or_zombie(child)
    finally:
        kill_if_alive(child)


def test_a_child_forked_in_a_request_does_not_keep_the_port(server, state_dir):
    srv = start(server, state_dir)
    port = srv.port
    child = None
    try:
        child = fork_in_a_request(srv, state_dir, "f2", "&child=sleep")
        srv.stop()
        assert not port_is_listening(port), "the forked child still holds the listening socket"
        # The server's signal handlers are gone in the child: SIGTERM ends it, as it would any
        # process.
        os.kill(child, signal.SIGTERM)
        wait_until(lambda: gone_or_zombie(child), timeout=10, what="the child to end on SIGTERM")
    finally:
        kill_if_alive(child)


# --- 8. --enable-sendfile with --compress-responses on a file being rewritten ---------------


def test_compressing_a_mapped_file_that_is_rewritten_does_not_crash_the_worker(server, state_dir, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    target = site / "big.txt"
    content = b"".join(b"line %07d: compressible text for the encoder\n" % i for i in range(40000))
    target.write_bytes(content)
    srv = start(server, state_dir, "--enable-sendfile", "--compress-responses", "--document-root", site)
    worker = srv.worker_pid()
    stop = threading.Event()

    def rewrite():
        while not stop.is_set():
            with open(target, "wb") as out:  # truncates, then writes it all again
                out.write(content)

    rewriter = threading.Thread(target=rewrite)
    rewriter.start()
    try:
        for _ in range(60):
            try:
                requests.get(srv.url + "/big.txt", headers={"Accept-Encoding": "gzip"}, timeout=10).content
            except requests.RequestException:
                pass  # a fetch of a file caught mid-rewrite may fail; the worker must not
    finally:
        stop.set()
        rewriter.join()
    log = srv.error_log()
    assert "signal 7" not in log and "SIGBUS" not in log, log[-600:]
    assert srv.worker_pids() == [worker]


# --- 9. HEAD without a length declared by the application -----------------------------------


def test_head_without_a_declared_length_announces_none(server, state_dir):
    srv = start(server, state_dir)
    data = srv.raw(b"HEAD /bottle-like HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    head, sep, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n"), data
    assert b"\r\ncontent-length:" not in head.lower(), head
    assert (sep, body) == (b"\r\n\r\n", b""), "HEAD must not send body bytes"
    # The GET of the same URL is unchanged.
    response = requests.get(srv.url + "/bottle-like")
    assert response.text == "first, second, third\n"


# --- 10. wsgi.input read after its request ended --------------------------------------------


@pytest.mark.parametrize("threads", ["1", "5"])
def test_reading_a_kept_wsgi_input_after_its_request_says_it_ended(server, state_dir, threads):
    srv = start(server, state_dir, "--threads", threads)
    assert requests.post(srv.url + "/keep-input", data=b"kept body " * 100).text == "kept\n"
    response = requests.get(srv.url + "/read-kept-input")
    assert response.status_code == 200
    assert "the request has ended" in response.text, response.text


def bytes_in_pipe(fd):
    import fcntl
    import struct
    import termios

    return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]


def threads_writing_to_a_full_pipe(pid):
    """How many threads of process `pid` wait in write() on a full pipe (the kernel's wchan)."""
    count = 0
    for task in pathlib.Path(f"/proc/{pid}/task").iterdir():
        try:
            count += "pipe_write" in (task / "wchan").read_text()
        except FileNotFoundError:
            pass
    return count


def test_a_blocked_error_log_does_not_stop_other_python_threads(tmp_path, state_dir):
    """print() in one request waits on a full error-log pipe without holding the GIL, so the
    other Python threads go on serving (a log that blocks while holding it froze them all)."""
    log_read, log_write = os.pipe()
    env = dict(os.environ, OXWSGI_TEST_STATE=str(state_dir))
    env.pop("VIRTUAL_ENV", None)
    command = [
        str(BINARY), "start-server", "--port", "0", "--log-to-terminal", "--threads", "3",
        "--server-root", str(tmp_path / "root"), "--python-home", str(VENV),
        str(APPS / "regressions.wsgi"),
    ]
    stdout_path = tmp_path / "stdout.log"
    with open(stdout_path, "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=log_write, stdin=subprocess.DEVNULL, env=env)
    os.close(log_write)
    try:
        wait_until(lambda: re.search(r"Server URL\s+: http://[^/]+:(\d+)/", stdout_path.read_text()), what="the banner")
        port = re.search(r"Server URL\s+: http://[^/]+:(\d+)/", stdout_path.read_text()).group(1)
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: port_is_listening(int(port)), what="the server to listen")
        printer = threading.Thread(
            target=lambda: requests.get(url + "/print-lines?count=20000&tag=p1", timeout=60), daemon=True
        )
        printer.start()
        wait_for_file(state_dir / "printing-p1")
        # Nobody reads the log: the pipe fills, and the printing thread waits in write().
        wait_until(lambda: bytes_in_pipe(log_read) >= 60000, what="the log pipe to fill")
        response = requests.get(url + "/hello", timeout=15)
        assert (response.status_code, response.text) == (200, "hello\n")
        assert printer.is_alive(), "the printing request finished: the pipe never blocked it"
        # A traceback is written to the log without the GIL too.
        raiser = threading.Thread(target=lambda: requests.get(url + "/raise", timeout=60), daemon=True)
        raiser.start()
        worker = int(pathlib.Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()[0])
        wait_until(lambda: threads_writing_to_a_full_pipe(worker) >= 2, what="the traceback to block")
        response = requests.get(url + "/hello", timeout=15)
        assert (response.status_code, response.text) == (200, "hello\n")
        assert raiser.is_alive(), "the failing request finished: its traceback never blocked"
    finally:
        # Read the log until the server is gone, so nothing stays blocked on it.
        def drain():
            while os.read(log_read, 1 << 20):
                pass

        drainer = threading.Thread(target=drain, daemon=True)
        drainer.start()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        drainer.join(timeout=10)
        os.close(log_read)
