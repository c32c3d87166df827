"""HTTP/1.1 behaviour on the wire: keep-alive, pipelining, HTTP/1.0, and refusals of
malformed or hostile requests with their exact status and message."""

import pytest

from support import EXAMPLES, read_response, read_until_closed


@pytest.fixture
def hello(server):
    return server(EXAMPLES / "hello.wsgi")


def test_keep_alive_serves_several_requests_on_one_connection(hello):
    with hello.connect() as sock:
        for _ in range(3):
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            status, headers, body, rest = read_response(sock)
            assert (status, body, rest) == ("HTTP/1.1 200 OK", b"Hello World!\n", b"")


def test_idle_keep_alive_connection_is_closed_after_the_timeout(server):
    srv = server("--keep-alive-timeout", "1", EXAMPLES / "hello.wsgi")
    with srv.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_response(sock)[2] == b"Hello World!\n"
        sock.settimeout(10)
        assert sock.recv(100) == b"", "the idle connection should have been closed"


def test_keep_alive_timeout_zero_closes_after_each_response(server):
    srv = server("--keep-alive-timeout", "0", EXAMPLES / "hello.wsgi")
    data = srv.raw(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Connection: close" in data


def test_pipelined_requests_are_answered_in_order(hello):
    with hello.connect() as sock:
        sock.sendall(
            b"GET /1 HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /2 HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /3 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        )
        data = read_until_closed(sock)
    assert data.count(b"HTTP/1.1 200 OK\r\n") == 3
    assert data.count(b"Hello World!\n") == 3


def test_http_1_0_client_gets_a_length_delimited_response_and_a_close(hello):
    data = hello.raw(b"GET / HTTP/1.0\r\n\r\n")
    assert data.startswith(b"HTTP/1.0 200 OK\r\n")
    assert data.endswith(b"\r\n\r\nHello World!\n")


def test_malformed_request_line_gets_400(hello):
    data = hello.raw(b"THIS IS NOT HTTP\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")


def test_http_1_1_without_host_gets_400(hello):
    data = hello.raw(b"GET / HTTP/1.1\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"Bad request: an HTTP/1.1 request must have a Host header." in data


@pytest.mark.parametrize(
    "path,status,message",
    [
        (b"/a%2Fb", b"404 Not Found", b"The requested URL was not found on this server."),
        (b"/a%00b", b"404 Not Found", b"The requested URL was not found on this server."),
        (b"/../etc/passwd", b"404 Not Found", b"The requested URL was not found on this server."),
        (b"/%2e%2e/x", b"404 Not Found", b"The requested URL was not found on this server."),
        (b"/a%zz", b"400 Bad Request", b"Bad request: the request path has a malformed %-escape."),
    ],
)
def test_hostile_paths_are_refused_before_the_app(hello, path, status, message):
    data = hello.raw(b"GET " + path + b" HTTP/1.1\r\nHost: t\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 " + status + b"\r\n"), data[:200]
    assert message in data
    assert b"Hello World" not in data


def test_unsupported_expectation_gets_417(hello):
    data = hello.raw(b"POST / HTTP/1.1\r\nHost: t\r\nExpect: teapot\r\nContent-Length: 1\r\n\r\nx")
    assert data.startswith(b"HTTP/1.1 417 Expectation Failed\r\n")
    assert b"Only the expectation 100-continue is supported." in data


def test_conflicting_framing_headers_get_400(hello):
    data = hello.raw(
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"
    )
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")


def test_oversized_headers_get_431(hello):
    data = hello.raw(b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")


def test_slow_headers_are_cut_after_the_header_timeout(server):
    srv = server("--header-timeout", "1", EXAMPLES / "hello.wsgi")
    with srv.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")
        sock.settimeout(10)  # the server must close well before this (else: socket.timeout)
        data = read_until_closed(sock)
    assert b"Hello World" not in data


def test_response_headers_are_title_case_with_date_and_server(hello):
    data = hello.raw(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    head = data.split(b"\r\n\r\n")[0]
    assert b"\r\nContent-Type: text/plain\r\n" in head
    assert b"\r\nServer: oxwsgi\r\n" in head
    assert b"\r\nDate: " in head
