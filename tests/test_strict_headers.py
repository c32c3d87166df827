"""Strict HTTP/1.1 header sections (RFC 9112 §5, RFC 9110 §5.5 and §7.2): field names are tokens
followed at once by the colon, lines are not folded and end in CRLF, values hold no CR, NUL or
other control byte, and an HTTP/1.1 request has exactly one valid Host. Anything else is a 400
before the application.

Each request names its case by its path and an `X-Case` header; the field under test is another
one, so that the application would still record a request the server wrongly let through."""

import pytest

from strict import assert_refused, assert_served, exchange, params

NO_HOST = b"Bad request: an HTTP/1.1 request must have a Host header."
TWO_HOSTS = b"Bad request: the request has more than one Host header."
BAD_HOST = b"Bad request: the Host header is not a valid host name."


def request(case, fields, host=b"Host: t\r\n", version=b"HTTP/1.1"):
    return (
        b"GET /case-" + case.encode() + b" " + version + b"\r\n" + host
        + b"X-Case: " + case.encode() + b"\r\n" + fields + b"\r\n"
    )


@pytest.mark.parametrize(
    "case,host,fields",
    params(
        ("space-before-colon-host", b"Host : t\r\n", b""),
        ("space-before-colon", b"Host: t\r\n", b"X-Field : x\r\n"),
        ("tab-before-colon", b"Host: t\r\n", b"X-Field\t: x\r\n"),
        ("obs-fold-space", b"Host: t\r\n", b"X-Field: a\r\n b\r\n"),
        ("obs-fold-tab", b"Host: t\r\n", b"X-Field: a\r\n\tb\r\n"),
        ("obs-fold-first-line", b"", b" X-Field: a\r\nHost: t\r\n"),
        ("bare-cr-in-value", b"Host: t\r\n", b"X-Field: a\rb\r\n"),
        ("bare-cr-ends-field-line", b"Host: t\r\n", b"X-Field: a\rX-Other: b\r\n"),
        ("bare-cr-ends-head", b"Host: t\r\n", b"X-Field: a\r\n\r"),
        ("nul-in-value", b"Host: t\r\n", b"X-Field: a\x00b\r\n"),
        ("ctl-01-in-value", b"Host: t\r\n", b"X-Field: a\x01b\r\n"),
        ("esc-in-value", b"Host: t\r\n", b"X-Field: a\x1bb\r\n"),
        ("del-in-value", b"Host: t\r\n", b"X-Field: a\x7fb\r\n"),
        ("name-with-space", b"Host: t\r\n", b"Fo o: x\r\n"),
        ("name-with-at", b"Host: t\r\n", b"Foo@: x\r\n"),
        ("name-with-brackets", b"Host: t\r\n", b"[x]: y\r\n"),
        ("name-empty", b"Host: t\r\n", b": x\r\n"),
        ("name-high-byte", b"Host: t\r\n", b"X-Caf\xe9: x\r\n"),
        ("line-without-colon", b"Host: t\r\n", b"X-Field\r\n"),
    ),
)
def test_malformed_field_line_is_refused(recorder, case, host, fields):
    reply = exchange(recorder, request(case, fields, host=host))
    assert_refused(recorder, reply, case, 400)


def test_http_1_1_without_host_is_refused(recorder):
    case = "host-missing"
    reply = exchange(recorder, request(case, b"", host=b""))
    assert_refused(recorder, reply, case, 400, message=NO_HOST)


@pytest.mark.parametrize(
    "case,host",
    params(
        ("host-twice-different", b"Host: t\r\nHost: u\r\n"),
        ("host-twice-same", b"Host: t\r\nHost: t\r\n"),
    ),
)
def test_more_than_one_host_is_refused(recorder, case, host):
    reply = exchange(recorder, request(case, b"", host=host))
    assert_refused(recorder, reply, case, 400, message=TWO_HOSTS)


@pytest.mark.parametrize(
    "case,host",
    params(
        ("host-inner-space", b"Host: exa mple.com\r\n"),
        ("host-slash", b"Host: a/b\r\n"),
        ("host-at", b"Host: @x\r\n"),
        ("host-userinfo", b"Host: user@example.com\r\n"),
        ("host-bad-port", b"Host: example.com:8o\r\n"),
    ),
)
def test_malformed_host_is_refused(recorder, case, host):
    reply = exchange(recorder, request(case, b"", host=host))
    assert_refused(recorder, reply, case, 400, message=BAD_HOST)


def test_http_1_0_without_host_is_served(recorder):
    case = "http-1-0-without-host"
    reply = exchange(recorder, request(case, b"", host=b"", version=b"HTTP/1.0"))
    assert_served(recorder, reply, case, version="HTTP/1.0")
