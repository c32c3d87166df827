"""Helpers of the strict HTTP/1.1 tests (test_strict_*.py): raw exchanges with the `recorder`
server (conftest.py), what its application (tests/apps/recorder.wsgi) recorded, and the checks
that a request was refused with an exact status before the application."""

import re
import socket

import pytest

from support import wait_until

REASONS = {
    200: "OK",
    400: "Bad Request",
    405: "Method Not Allowed",
    408: "Request Timeout",
    414: "URI Too Long",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    505: "HTTP Version Not Supported",
}

# The page of oxwsgi's 500 (error_response.rs).
INTERNAL_ERROR = (
    b"The server encountered an internal error and could not complete the request. "
    b"The error has been logged."
)
MALFORMED_BODY = b"Bad request: the request body is not well-formed."


def params(*rows):
    """Parametrize rows whose first item, the case's name, is also its test id."""
    return [row if isinstance(row, type(pytest.param())) else pytest.param(*row, id=row[0]) for row in rows]


class Reply:
    """What the server sent on one connection, and whether it closed the connection."""

    def __init__(self, data, closed):
        self.data = data
        self.closed = closed
        head, sep, self.body = data.partition(b"\r\n\r\n")
        self.head = head if sep else b""
        self.status_line = data.split(b"\r\n", 1)[0] if sep else None

    def header(self, name):
        """The value of a response header (the first one), or None."""
        for line in self.head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None

    def describe(self):
        if self.status_line is not None:
            left_open = "" if self.closed else " (connection left open)"
            return self.status_line.decode("latin-1") + left_open
        if not self.data:
            if self.closed:
                return "closed without a response"
            return "no response, connection left open"
        return f"garbage {self.data[:200]!r}"


def exchange(srv, data, half_close=False, timeout=10, fin_with_data=False):
    """Sends `data` on a new connection (then, with `half_close`, shuts down the sending side, as
    a client with nothing more to send) and reads until the server closes the connection, or sends
    nothing for `timeout` seconds. With `fin_with_data`, the data and the end of the sending side
    go out in one TCP segment (corked: Linux puts the FIN on the last unsent segment), so that the
    server finds both in the socket at once."""
    assert srv.running, "the server is no longer running"
    with srv.connect(timeout) as sock:
        try:
            if fin_with_data:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
                half_close = True
            sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server refused early: what it said is read below
        return read_reply(sock)


def exchange_after_call(srv, first, then, case, timeout=10):
    """Sends `first` on a new connection, waits until the application was called for `case`,
    then sends `then`, and reads as `exchange` does."""
    assert srv.running, "the server is no longer running"
    with srv.connect(timeout) as sock:
        sock.sendall(first)
        wait_until(lambda: called(srv, case), timeout, f"the application's call for {case}")
        try:
            sock.sendall(then)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_reply(sock)


def read_reply(sock):
    """Reads until the server closes the connection, or sends nothing for the socket's timeout."""
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return Reply(b"".join(chunks), True)
        except socket.timeout:
            return Reply(b"".join(chunks), False)
        if not chunk:
            return Reply(b"".join(chunks), True)
        chunks.append(chunk)


def calls(srv):
    """The lines the application recorded, one per call: `METHOD TARGET case=X-CASE`."""
    path = srv.state_dir / "calls.log"
    return path.read_bytes().splitlines() if path.exists() else []


def called(srv, case):
    """Whether the application was called for the case (by its path `/case-<case>` or its
    `X-Case` header)."""
    name = case.encode()
    by_path = re.compile(rb"/case-" + re.escape(name) + rb"(?![\w-])")
    return any(by_path.search(line) or line.endswith(b" case=" + name) for line in calls(srv))


def body_reads(srv, case):
    """What the application's reads of the body gave for the case: `ok <length>` or
    `error <exception>`."""
    path = srv.state_dir / "reads.log"
    if not path.exists():
        return []
    prefix = case + " "
    lines = path.read_text().splitlines()
    return [line[len(prefix) :] for line in lines if line.startswith(prefix)]


def outcome(srv, reply, case):
    """One line for an assertion message: what the server answered and whether the app ran."""
    return f"{reply.describe()}; the application was {'' if called(srv, case) else 'not '}called"


def status_line(status, version="HTTP/1.1"):
    return f"{version} {status} {REASONS[status]}".encode()


def assert_refused(
    srv, reply, case, status, message=None, versions=("HTTP/1.1",), closes=False
):
    """The request was answered with exactly `status` (and its page says `message`), and the
    application never saw it. With `closes`, the response says `Connection: close` and the
    server closed the connection (RFC 9112 §6.3: a message whose framing is invalid)."""
    what = outcome(srv, reply, case)
    assert reply.status_line in [status_line(status, v) for v in versions], what
    if message is not None:
        assert b"<p>" + message + b"</p>" in reply.body, f"{what}: {reply.body[:300]!r}"
    assert not called(srv, case), what
    if closes:
        assert (reply.header(b"connection") or b"").lower() == b"close", f"{what}: {reply.head!r}"
        assert reply.closed, what


def assert_served(srv, reply, case, body=b"ok", version="HTTP/1.1"):
    """The request reached the application, which answered 200 with `body`."""
    what = outcome(srv, reply, case)
    assert reply.status_line == status_line(200, version), what
    assert reply.body == body, f"{what}: {reply.body[:300]!r}"
    assert called(srv, case), what
