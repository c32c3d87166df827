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


# httparse accepts only HTTP/1.0 and HTTP/1.1 in a request line, and hyper answers every other
# version with a bare 400 before oxwsgi sees the request: a 505 for another major version, and
# serving HTTP/1.2 as 1.1 (RFC 9110 §2.5), need the request line read before hyper's parser.
# Open in issue 10.
HYPER_VERSIONS = pytest.mark.xfail(
    strict=True, reason="hyper answers request-line versions other than 1.0/1.1 with a bare 400"
)


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
        pytest.param(
            "target-fragment",
            b"/case-target-fragment#x",
            marks=pytest.mark.xfail(
                strict=True,
                reason="the http crate drops a fragment before oxwsgi sees the target; the app "
                "gets the target without it (open in issue 10)",
            ),
            id="target-fragment",
        ),
        ("target-userinfo", b"http://user@t/case-target-userinfo"),
    ),
)
def test_request_target_with_bytes_outside_its_grammar_is_refused(recorder, case, target):
    reply = exchange(recorder, request(b"GET " + target + b" HTTP/1.1", case))
    assert_refused(recorder, reply, case, 400)


@pytest.mark.parametrize(
    "case,version,status",
    params(
        pytest.param("version-2-0", b"HTTP/2.0", 505, marks=HYPER_VERSIONS, id="version-2-0"),
        pytest.param("version-0-9", b"HTTP/0.9", 505, marks=HYPER_VERSIONS, id="version-0-9"),
        ("version-3", b"HTTP/3", 400),
        ("version-lowercase", b"http/1.1", 400),
        ("version-two-digit-minor", b"HTTP/1.10", 400),
    ),
)
def test_unsupported_or_malformed_version_is_refused(recorder, case, version, status):
    reply = exchange(recorder, request(b"GET /case-" + case.encode() + b" " + version, case))
    assert_refused(recorder, reply, case, status, versions=("HTTP/1.1", "HTTP/1.0"))


def test_request_line_without_a_version_is_refused(recorder):
    case = "version-missing"
    reply = exchange(recorder, b"GET /case-version-missing\r\n\r\n")
    assert_refused(recorder, reply, case, 400, versions=("HTTP/1.1", "HTTP/1.0"))


@HYPER_VERSIONS
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
