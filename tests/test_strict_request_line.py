"""Strict HTTP/1.1 request lines (RFC 9112 §3, §2.5; RFC 9110 §9.3.6-7): the request target is
visible ASCII only, in the form its method allows, and the version is HTTP/1.x. Anything else is
refused before the application.

Decisions, from the RFCs and Apache httpd:
- a version of the form `HTTP/<digit>.<digit>` with a major other than 1 is a 505; a line whose
  version is missing or not of that form (`HTTP/3`, `http/1.1`) is a 400 (Apache: 400 for an
  unrecognised protocol, HTTP/0.9 refused);
- `HTTP/1.2` is served as HTTP/1.1: RFC 9112 §2.5 says a recipient SHOULD process a higher minor
  version as the highest it implements, and Apache does;
- `OPTIONS *` is answered by the server itself, 200 with an empty body, never by the
  application (Apache's core answers it so, without an Allow header);
- CONNECT: oxwsgi is an origin server, not a proxy: 405 with an Allow header (RFC 9110 §15.5.6
  requires one), never the application;
- a fragment (`#x`) or user information (`http://user@host/`) in the target: 400 (not in the
  request-target grammar; Apache refuses both in its default strict mode).
"""

import pytest

from strict import assert_refused, assert_served, called, calls, exchange, outcome, params


def request(line, case):
    return line + b"\r\nHost: t\r\nX-Case: " + case.encode() + b"\r\n\r\n"


@pytest.mark.parametrize(
    "case,target",
    params(
        ("target-utf8", b"/case-target-utf8/caf\xc3\xa9"),
        ("target-latin1", b"/case-target-latin1/caf\xe9"),
        ("target-nul", b"/case-target-nul/a\x00b"),
        ("target-ctl-01", b"/case-target-ctl-01/a\x01b"),
        ("target-del", b"/case-target-del/a\x7fb"),
        ("target-tab", b"/case-target-tab/a\tb"),
        ("target-space", b"/case-target-space/a b"),
        ("target-userinfo", b"http://user@t/case-target-userinfo"),
    ),
)
def test_request_target_with_bytes_outside_its_grammar_is_refused(recorder, case, target):
    reply = exchange(recorder, request(b"GET " + target + b" HTTP/1.1", case))
    assert_refused(recorder, reply, case, 400)


FRAGMENT = b"Bad request: the request target has a fragment (#), which a client never sends."


def test_request_target_with_a_fragment_is_refused(recorder):
    case = "target-fragment"
    reply = exchange(recorder, request(b"GET /case-target-fragment#x HTTP/1.1", case))
    assert_refused(recorder, reply, case, 400, message=FRAGMENT, closes=True)


def test_refusal_of_a_pipelined_request_comes_after_the_answers_before_it(recorder):
    """The requests before a refused one are served and answered, in order; then the refusal,
    and the connection closes."""
    first, bad = "pipelined-before-505", "pipelined-505"
    data = request(b"GET /case-" + first.encode() + b" HTTP/1.1", first)
    data += request(b"GET /case-" + bad.encode() + b" HTTP/2.0", bad)
    reply = exchange(recorder, data)
    what = outcome(recorder, reply, bad)
    assert reply.status_line == b"HTTP/1.1 200 OK", what
    assert called(recorder, first), what
    assert b"HTTP/1.1 505 HTTP Version Not Supported\r\n" in reply.body, what
    assert UNSUPPORTED_VERSION in reply.body, what
    assert reply.closed, what
    assert not called(recorder, bad), what


UNSUPPORTED_VERSION = (
    b"The request's HTTP version is not supported: this server speaks HTTP/1.1 and HTTP/1.0."
)
MALFORMED_VERSION = b"Bad request: the request line's protocol is not of the form HTTP/1.1."


@pytest.mark.parametrize(
    "case,version,status,message",
    params(
        ("version-2-0", b"HTTP/2.0", 505, UNSUPPORTED_VERSION),
        ("version-0-9", b"HTTP/0.9", 505, UNSUPPORTED_VERSION),
        ("version-3", b"HTTP/3", 400, MALFORMED_VERSION),
        # httparse refuses these itself, and hyper answers a bare 400.
        ("version-lowercase", b"http/1.1", 400, None),
        ("version-two-digit-minor", b"HTTP/1.10", 400, None),
    ),
)
def test_unsupported_or_malformed_version_is_refused(recorder, case, version, status, message):
    reply = exchange(recorder, request(b"GET /case-" + case.encode() + b" " + version, case))
    assert_refused(
        recorder, reply, case, status, message=message, versions=("HTTP/1.1", "HTTP/1.0"),
        closes=message is not None,
    )


def test_request_line_without_a_version_is_refused(recorder):
    case = "version-missing"
    reply = exchange(recorder, b"GET /case-version-missing\r\n\r\n")
    assert_refused(recorder, reply, case, 400, versions=("HTTP/1.1", "HTTP/1.0"))


def test_http_1_2_is_served_as_http_1_1(recorder):
    case = "version-1-2"
    reply = exchange(recorder, request(b"GET /case-version-1-2 HTTP/1.2", case))
    assert_served(recorder, reply, case)


@pytest.mark.parametrize(
    "case,line,message",
    params(
        (
            "authority-form",
            b"GET case-authority-form.example:80 HTTP/1.1",
            b"Bad request: an authority-form request target is only allowed with CONNECT.",
        ),
        (
            "asterisk-get",
            b"GET * HTTP/1.1",
            b"Bad request: the request target * is only allowed with OPTIONS.",
        ),
        (
            "asterisk-post",
            b"POST * HTTP/1.1",
            b"Bad request: the request target * is only allowed with OPTIONS.",
        ),
    ),
)
def test_target_form_its_method_does_not_allow_is_refused(recorder, case, line, message):
    reply = exchange(recorder, request(line, case))
    assert_refused(recorder, reply, case, 400, message=message)


def test_options_asterisk_is_answered_by_the_server(recorder):
    case = "options-asterisk"
    reply = exchange(recorder, request(b"OPTIONS * HTTP/1.1", case))
    what = outcome(recorder, reply, case)
    assert reply.status_line == b"HTTP/1.1 200 OK", what
    assert reply.body == b"", what
    assert b"\r\nAllow: OPTIONS, GET, HEAD, POST, PUT, DELETE, PATCH\r\n" in reply.head, what
    assert not called(recorder, case), what
    # The server still serves afterwards.
    after = exchange(recorder, request(b"GET /case-after-options HTTP/1.1", "after-options"))
    assert_served(recorder, after, "after-options")


def test_connect_is_refused_by_an_origin_server(recorder):
    case = "connect"
    reply = exchange(
        recorder,
        b"CONNECT case-connect.example:443 HTTP/1.1\r\nHost: case-connect.example:443\r\n"
        b"X-Case: connect\r\n\r\n",
    )
    assert_refused(recorder, reply, case, 405)
    assert reply.header(b"allow") is not None, reply.head
    assert not any(line.startswith(b"CONNECT ") for line in calls(recorder))
