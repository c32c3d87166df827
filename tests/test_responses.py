"""Responses: start_response checks, write(), streaming with backpressure, Content-Length
rules, HEAD, wsgi.file_wrapper, and close() called exactly once on every path."""

import os
import re
import socket

import pytest
import requests

from support import (
    APPS,
    read_response,
    read_until_closed,
    recv_until,
    wait_closed,
    wait_for_file,
    wait_until_steady,
)


def start(server, state_dir, *args):
    return server(*args, APPS / "behaviours.wsgi", env={"OXWSGI_TEST_STATE": str(state_dir)})


def test_first_chunk_of_a_generator_arrives_before_it_finishes(server, state_dir):
    srv = start(server, state_dir)
    with srv.connect() as sock:
        sock.sendall(b"GET /generator?tag=g1 HTTP/1.1\r\nHost: t\r\n\r\n")
        received = recv_until(sock, lambda r: b"first chunk\n" in r)
        # The generator is still blocked; only now is it allowed to go on.
        assert b"second chunk" not in received
        (state_dir / "release-g1").touch()
        received = recv_until(sock, lambda r: r.endswith(b"0\r\n\r\n"), received)
    assert b"Transfer-Encoding: chunked" in received
    assert b"second chunk\n" in received


def test_close_is_called_once_after_a_normal_response(server, state_dir):
    srv = start(server, state_dir)
    response = requests.get(srv.url + "/close/normal?tag=n1")
    assert response.text == "one two\n"
    assert wait_closed(state_dir, "n1", srv.url) == 1


def test_close_is_called_once_after_an_exception_while_iterating(server, state_dir):
    srv = start(server, state_dir)
    response = requests.get(srv.url + "/close/raise-before-body?tag=e1")
    assert response.status_code == 500
    assert wait_closed(state_dir, "e1", srv.url) == 1
    # Raising after the head went out: the connection is cut, and close() still runs once.
    with srv.connect() as sock:
        sock.sendall(b"GET /close/raise?tag=e2 HTTP/1.1\r\nHost: t\r\n\r\n")
        data = read_until_closed(sock)
    assert data.startswith(b"HTTP/1.1 200 OK")
    assert b"partial" in data
    assert not data.endswith(b"0\r\n\r\n"), "a cut body must not look complete"
    assert wait_closed(state_dir, "e2", srv.url) == 1
    srv.wait_for_log(r"RuntimeError: failing while streaming, as asked")


def test_close_is_called_once_after_the_client_disconnects(server, state_dir):
    srv = start(server, state_dir, "--log-level", "info")
    with srv.connect() as sock:
        sock.sendall(b"GET /close/forever?tag=c1 HTTP/1.1\r\nHost: t\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 200 OK")
    assert wait_closed(state_dir, "c1", srv.url) == 1
    srv.wait_for_log(
        r"GET /close/forever\?tag=c1: the client closed the connection before the response was "
        r"complete \(\d+ bytes of body produced; the application was at File "
        r'"[^"]*behaviours\.wsgi", line \d+, in application\)'
    )


def test_slow_client_slows_the_app_instead_of_growing_memory(server, state_dir):
    srv = start(server, state_dir)
    with srv.connect() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.sendall(b"GET /slow-consumer?tag=s1 HTTP/1.1\r\nHost: t\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 200 OK")
        produced = state_dir / "produced-s1"
        wait_for_file(produced)
        # The app runs as far ahead as it can, then waits: its count of chunks stops growing.
        ahead = wait_until_steady(lambda: len(produced.read_text().split()), "the app's chunks")
        # 200 chunks of 1 MiB exist; with a bounded channel and socket buffers only a few may
        # have been produced while the client reads nothing.
        assert ahead < 20, f"the app produced {ahead} MiB ahead of a client that reads nothing"
        assert srv.rss_kib() < 150 * 1024


def test_an_exception_gives_500_and_a_logged_traceback_never_shown(server, state_dir):
    srv = start(server, state_dir)
    response = requests.get(srv.url + "/raise")
    assert response.status_code == 500
    assert "The server encountered an internal error" in response.text
    assert "Traceback" not in response.text and "ZeroDivision" not in response.text
    srv.wait_for_log(r"\[wsgi:error\].*Exception occurred processing WSGI script '.*behaviours.wsgi' for GET /raise:")
    srv.wait_for_log(r"ZeroDivisionError: the application divided by zero on purpose")
    assert requests.get(srv.url + "/").text == "ok\n"


def assert_500_with_logged_traceback(srv, path, last_line):
    """A 500 whose page shows nothing of the error, and the full traceback in the log."""
    response = requests.get(srv.url + path)
    assert response.status_code == 500
    assert "Traceback" not in response.text and last_line.split(":")[0] not in response.text
    srv.wait_for_log(re.escape(last_line))
    log = srv.error_log()
    exception_at = log.index(f"Exception occurred processing WSGI script '{APPS / 'behaviours.wsgi'}' for GET {path}:")
    traceback = log[exception_at:log.index(last_line)]
    assert "Traceback (most recent call last):" in traceback
    assert f'File "{APPS / "behaviours.wsgi"}", line ' in traceback
    assert requests.get(srv.url + "/").text == "ok\n"


def test_a_bad_status_line_gives_500(server, state_dir):
    srv = start(server, state_dir)
    assert_500_with_logged_traceback(
        srv,
        "/bad-status",
        "ValueError: invalid status 'OK': it must be a three-digit code, a space and a reason phrase",
    )


@pytest.mark.parametrize(
    "path,last_line",
    [
        ("/bad-header-name", "ValueError: invalid response header name 'Bad Name'"),
        (
            "/bytes-header-value",
            "TypeError: response header names and values must be str, not (str, bytes)",
        ),
    ],
)
def test_bad_header_names_and_values_give_500(server, state_dir, path, last_line):
    srv = start(server, state_dir)
    assert_500_with_logged_traceback(srv, path, last_line)


def test_header_injection_is_refused_with_500(server, state_dir):
    srv = start(server, state_dir)
    response = requests.get(srv.url + "/bad-header")
    assert response.status_code == 500
    assert "Set-Cookie" not in response.headers
    srv.wait_for_log(r"ValueError: the value of response header 'X-Injected' contains CR, LF or NUL")


def test_start_response_twice_without_exc_info_gives_500(server, state_dir):
    srv = start(server, state_dir)
    assert_500_with_logged_traceback(
        srv, "/start-twice", "AssertionError: start_response() was called a second time without exc_info"
    )


def test_exc_info_replaces_the_head_before_it_is_sent(server, state_dir):
    srv = start(server, state_dir)
    response = requests.get(srv.url + "/exc-info")
    assert response.status_code == 503
    assert response.reason == "Busy Now"
    assert response.text == "replaced\n"


def test_exc_info_after_the_head_was_sent_cuts_the_response(server, state_dir):
    srv = start(server, state_dir)
    data = srv.raw(b"GET /exc-info-after-body HTTP/1.1\r\nHost: t\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200 OK")
    assert b"started" in data and b"never" not in data
    srv.wait_for_log(r"KeyError: 'too late'")


def test_write_callable_sends_before_the_iterable(server, state_dir):
    srv = start(server, state_dir)
    assert requests.get(srv.url + "/write").text == "written by write()\nthen returned\n"


def test_longer_body_than_content_length_is_cut_and_logged(server, state_dir):
    srv = start(server, state_dir)
    with srv.connect() as sock:
        sock.sendall(b"GET /content-length/long HTTP/1.1\r\nHost: t\r\n\r\n")
        status, headers, body, rest = read_response(sock)
        assert (status, headers["content-length"], body) == ("HTTP/1.1 200 OK", "5", b"12345")
        # The connection is still usable: the extra bytes never went out.
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_response(sock)[2] == b"ok\n"
    srv.wait_for_log(r"GET /content-length/long: the application produced more body than its Content-Length")


def test_shorter_body_than_content_length_closes_the_connection(server, state_dir):
    srv = start(server, state_dir)
    data = srv.raw(b"GET /content-length/short HTTP/1.1\r\nHost: t\r\n\r\n")
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"Content-Length: 100" in head
    assert body == b"only twenty bytes..."
    srv.wait_for_log(
        r"GET /content-length/short: the application produced 20 bytes of body but declared a "
        r"Content-Length of 100; the connection was closed"
    )


def test_body_without_length_is_chunked(server, state_dir):
    srv = start(server, state_dir)
    response = requests.get(srv.url + "/chunked")
    assert response.headers["Transfer-Encoding"] == "chunked"
    assert response.text == "no length given\n"


def test_head_sends_headers_without_a_body(server, state_dir):
    srv = start(server, state_dir)
    with srv.connect() as sock:
        sock.sendall(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n")
        data = recv_until(sock, lambda r: r.count(b"HTTP/1.1 200 OK") == 2 and r.endswith(b"ok\n"))
    first, second = data.split(b"HTTP/1.1 200 OK")[1:]
    assert b"Content-Length: 3" in first
    assert first.endswith(b"\r\n\r\n"), "HEAD must not send body bytes"
    assert second.endswith(b"\r\n\r\nok\n")


def test_custom_reason_phrase_is_kept(server, state_dir):
    srv = start(server, state_dir)
    data = srv.raw(b"GET /reason HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 299 Quite Fine\r\n")


def test_file_wrapper_sends_a_real_file_and_closes_it_once(server, state_dir):
    content = os.urandom(3 * 1024 * 1024 + 17)
    (state_dir / "blob.bin").write_bytes(content)
    srv = start(server, state_dir)
    response = requests.get(srv.url + "/file-wrapper?name=blob.bin&tag=f1")
    assert response.content == content
    assert response.headers["Content-Length"] == str(len(content))
    assert wait_closed(state_dir, "f1", srv.url) == 1
    assert not (state_dir / "python-reads.log").exists(), "the file went through Python"
    # The control: once the head is out, the wrapper is iterated, through Python's read().
    response = requests.get(srv.url + "/file-wrapper?name=blob.bin&tag=f3&write-first=1")
    assert response.content == content
    assert wait_closed(state_dir, "f3", srv.url) == 1
    assert "f3" in (state_dir / "python-reads.log").read_text().split()
    # From the current position of the file object.
    response = requests.get(srv.url + "/file-wrapper?name=blob.bin&tag=f2&skip=1000")
    assert response.content == content[1000:]
    assert wait_closed(state_dir, "f2", srv.url) == 1


def test_file_wrapper_over_a_non_file_is_iterated(server, state_dir):
    srv = start(server, state_dir)
    assert requests.get(srv.url + "/file-wrapper-pipe").text == "not a file\n"


@pytest.mark.parametrize(
    "query,message",
    [
        ("value=%2B1", "ValueError: Content-Length '+1' is not a non-negative whole number"),
        ("value=1.0", "ValueError: Content-Length '1.0' is not a non-negative whole number"),
        ("value=3&value=4", "ValueError: Content-Length given twice with different values: 3 and 4"),
    ],
)
def test_invalid_content_length_from_the_app_gives_500(server, state_dir, query, message):
    srv = start(server, state_dir)
    response = requests.get(srv.url + "/content-length/given?" + query)
    assert response.status_code == 500
    assert "The error has been logged." in response.text
    srv.wait_for_log(re.escape(message))


def test_the_same_content_length_twice_is_folded_into_one(server, state_dir):
    srv = start(server, state_dir)
    data = srv.raw(
        b"GET /content-length/given?value=3&value=3 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    head, body = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert head.count(b"Content-Length") == 1
    assert b"\r\nContent-Length: 3" in head
    assert body == b"abc"


@pytest.mark.parametrize(
    "path,message",
    [
        ("/yields-str", "TypeError: the response body must be an iterable of bytes, but it yielded a str"),
        ("/returns-none", "TypeError: 'NoneType' object is not iterable"),
    ],
)
def test_a_body_that_is_not_bytes_gives_500(server, state_dir, path, message):
    srv = start(server, state_dir)
    response = requests.get(srv.url + path)
    assert response.status_code == 500
    srv.wait_for_log(re.escape(message))
    assert requests.get(srv.url + "/").text == "ok\n"


def test_head_announces_only_a_declared_length_or_a_wrapped_files(server, state_dir):
    # A HEAD response carries the Content-Length the application declared, or the length of a
    # regular file given to wsgi.file_wrapper; never one computed from a body it happened to
    # return whole (the GET of the same URL may produce a different body).
    (state_dir / "small.bin").write_bytes(b"x" * 1234)
    srv = start(server, state_dir)
    for path, length in [
        (b"/", b"3"),
        (b"/list-no-length", None),
        (b"/file-wrapper?name=small.bin", b"1234"),
    ]:
        data = srv.raw(b"HEAD " + path + b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        head, sep, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK\r\n"), data
        if length is None:
            assert b"\r\ncontent-length:" not in head.lower(), head
        else:
            assert b"\r\nContent-Length: " + length + b"\r\n" in head + b"\r\n"
        assert (sep, body) == (b"\r\n\r\n", b""), "HEAD must not send body bytes"


def test_write_kept_past_the_end_of_its_request_raises(server, state_dir):
    srv = start(server, state_dir, "--threads", "1")
    assert requests.get(srv.url + "/keep-write").text == "kept\n"
    assert requests.get(srv.url + "/late-write").text == (
        "RuntimeError: the request has ended: start_response() and write() can no longer be used\n"
    )
