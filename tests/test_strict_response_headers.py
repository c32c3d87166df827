"""Strict response headers: a header the application gives whose name or value holds CR, LF or
NUL, or a hop-by-hop header (RFC 9110 §7.6.1; PEP 3333 forbids applications to send them: the
server alone decides the connection and the framing), is an error of the application: a 500 with
oxwsgi's page, a log line that names the header, and nothing of the header on the wire. The
server serves the next request as usual.

Each case's header has a name of its own (tests/apps/recorder.wsgi), so the log line is that
case's."""

import re

import pytest

from strict import INTERNAL_ERROR, assert_served, called, exchange, outcome, params

# (case, header name, the error's log line must also say)
CASES = params(
    ("value-crlf", "X-Value-CRLF", "CR, LF or NUL"),
    ("value-cr", "X-Value-CR", "CR, LF or NUL"),
    ("value-lf", "X-Value-LF", "CR, LF or NUL"),
    ("value-nul", "X-Value-NUL", "CR, LF or NUL"),
    ("name-crlf", "X-Name\r\nSet-Cookie: injected=1\r\nX-CRLF", "invalid response header name"),
    ("name-cr", "X-Name-CR\r", "invalid response header name"),
    ("name-lf", "X-Name-LF\n", "invalid response header name"),
    ("name-nul", "X-Name-NUL\x00", "invalid response header name"),
    ("connection", "Connection", "hop-by-hop"),
    ("transfer-encoding", "Transfer-Encoding", "hop-by-hop"),
    ("keep-alive", "Keep-Alive", "hop-by-hop"),
    ("upgrade", "Upgrade", "hop-by-hop"),
    ("proxy-connection", "Proxy-Connection", "hop-by-hop"),
    ("te", "TE", "hop-by-hop"),
    ("trailer", "Trailer", "hop-by-hop"),
    ("proxy-authenticate", "Proxy-Authenticate", "hop-by-hop"),
    ("proxy-authorization", "Proxy-Authorization", "hop-by-hop"),
)


def get(case, query):
    return (
        b"GET /case-" + case.encode() + b"?" + query + b" HTTP/1.1\r\nHost: t\r\n"
        b"X-Case: " + case.encode() + b"\r\nConnection: close\r\n\r\n"
    )


@pytest.mark.parametrize("case,name,says", CASES)
def test_invalid_or_hop_by_hop_response_header_gives_500(recorder, case, name, says):
    reply = exchange(recorder, get(case, b"header=" + case.encode()))
    what = outcome(recorder, reply, case)
    assert called(recorder, case), what
    assert reply.status_line == b"HTTP/1.1 500 Internal Server Error", f"{what}: {reply.head!r}"
    assert b"<p>" + INTERNAL_ERROR + b"</p>" in reply.body, what
    assert b"injected" not in reply.head
    if says == "hop-by-hop" and name != "Connection":  # the server may send its own Connection
        assert (b"\r\n" + name.encode() + b":").lower() not in reply.head.lower(), reply.head
    # One line of the error log names the header (as Python shows it) and says what is wrong.
    named = re.escape(repr(name))
    says = "(?i:" + re.escape(says) + ")"
    recorder.wait_for_log(rf"^.*Error: (.*{named}.*{says}|.*{says}.*{named}).*$")
    after = exchange(recorder, get("after-" + case, b""))
    assert_served(recorder, after, "after-" + case)
