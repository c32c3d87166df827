"""HTTP/1.1 behaviour on the wire: keep-alive, pipelining, HTTP/1.0, and refusals of
malformed or hostile requests with their exact status and message."""

import json
import socket

import pytest

from support import APPS, EXAMPLES, read_response, read_until_closed, wait_for_file


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


@pytest.mark.parametrize(
    "hosts,message",
    [
        (b"Host: a\r\nHost: b\r\n", b"Bad request: the request has more than one Host header."),
        (b"Host: evil.com/../x\r\n", b"Bad request: the Host header is not a valid host name."),
        (b"Host: a b\r\n", b"Bad request: the Host header is not a valid host name."),
        (b"Host: h:port\r\n", b"Bad request: the Host header is not a valid host name."),
    ],
)
def test_repeated_or_invalid_host_gets_400(hello, hosts, message):
    data = hello.raw(b"GET / HTTP/1.1\r\n" + hosts + b"\r\n")
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n"), data[:200]
    assert message in data
    assert b"Hello World" not in data


def test_transfer_encoding_wins_over_content_length(server, state_dir):
    srv = server(APPS / "behaviours.wsgi", env={"OXWSGI_TEST_STATE": str(state_dir)})
    data = srv.raw(
        b"POST /input/sha256 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Length: 5\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    )
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    # The body the app read is the chunked one (3 bytes), not 5 bytes of Content-Length;
    # a message framed two ways is never reused for another request.
    assert data.endswith(
        b'{"length": 3, "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}'
    )
    assert b"\r\nConnection: close\r\n" in data


def test_malformed_chunked_body_gets_400_and_oserror_in_the_app(server, state_dir):
    """The body turns out malformed while the application reads it: the read raises OSError,
    the client gets a 400."""
    srv = server(APPS / "behaviours.wsgi", env={"OXWSGI_TEST_STATE": str(state_dir)})
    with srv.connect() as sock:
        sock.sendall(
            b"POST /input/disconnect?tag=m1 HTTP/1.1\r\nHost: t\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"
        )
        wait_for_file(state_dir / "input-started-m1")
        sock.sendall(b"zz\r\nmore\r\n0\r\n\r\n")
        data = read_until_closed(sock)
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n"), data[:200]
    assert b"Bad request: the request body is not well-formed." in data
    report = wait_for_file(state_dir / "input-error-m1")
    assert report.read_text() == (
        "OSError: the request body is not well-formed (3 bytes received before the error)\n"
    )


def test_malformed_chunked_body_that_came_with_its_head_never_reaches_the_app(server, state_dir):
    srv = server(APPS / "behaviours.wsgi", env={"OXWSGI_TEST_STATE": str(state_dir)})
    data = srv.raw(
        b"POST /input/disconnect?tag=m2 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
        b"\r\n3\r\nabc\r\nzz\r\nmore\r\n0\r\n\r\n"
    )
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n"), data[:200]
    assert (
        b"Bad request: a chunk size of the request body is not a hexadecimal number." in data
    )
    assert b"\r\nConnection: close\r\n" in data
    assert not (state_dir / "input-started-m2").exists()


def test_absolute_form_target_names_the_server_and_is_the_request_uri(server):
    srv = server(APPS / "environ.wsgi")
    data = srv.raw(
        b"GET http://example.org:8765/some/where?x=1 HTTP/1.1\r\nHost: other\r\n"
        b"Connection: close\r\n\r\n"
    )
    report = json.loads(data.split(b"\r\n\r\n", 1)[1])
    environ = {key: entry["value"] for key, entry in report.items() if isinstance(entry, dict)}
    assert environ["SERVER_NAME"] == "example.org"
    assert environ["SERVER_PORT"] == "8765"
    assert environ["PATH_INFO"] == "/some/where"
    assert environ["QUERY_STRING"] == "x=1"
    assert environ["REQUEST_URI"] == "http://example.org:8765/some/where?x=1"


def test_unread_body_after_expect_100_continue_closes_the_connection(server, state_dir):
    srv = server(APPS / "behaviours.wsgi", env={"OXWSGI_TEST_STATE": str(state_dir)})
    with srv.connect() as sock:
        sock.sendall(
            b"POST /input/ignore HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        data = read_until_closed(sock)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"HTTP/1.1 100 Continue" not in data
    assert b"\r\nConnection: close\r\n" in data
    assert data.endswith(b"\r\n\r\ndid not read the body\n")


def test_http_1_0_response_of_unknown_length_ends_with_the_connection(server, state_dir):
    srv = server(APPS / "behaviours.wsgi", env={"OXWSGI_TEST_STATE": str(state_dir)})
    with srv.connect() as sock:
        sock.sendall(b"GET /chunked HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        data = read_until_closed(sock)
    head, body = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.0 200 OK\r\n")
    assert b"\r\nConnection: close" in head
    assert b"keep-alive" not in head
    assert b"Transfer-Encoding" not in head
    assert body == b"no length given\n"


def test_http_1_0_keep_alive_is_honoured_for_a_known_length(hello):
    with hello.connect() as sock:
        for _ in range(2):
            sock.sendall(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            status, headers, body, rest = read_response(sock)
            assert (status, body) == ("HTTP/1.0 200 OK", b"Hello World!\n")


def test_a_client_that_shuts_down_its_sending_side_still_gets_its_answer(server):
    """A half-close after a complete request (`nc -N`, `shutdown(SHUT_WR)`) is not a
    disconnect: the request is answered, as Apache and nginx answer it."""
    srv = server(APPS / "behaviours.wsgi")
    for _ in range(20):
        with srv.connect() as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            sock.shutdown(socket.SHUT_WR)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200 OK"), answer
