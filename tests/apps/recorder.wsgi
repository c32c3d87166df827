"""The application of the strict HTTP/1.1 tests (test_strict_*.py): it records every call it gets,
so a test can tell whether a request reached it, and answers 200 "ok".

Each call appends one line, `METHOD REQUEST_URI case=X_CASE`, to $OXWSGI_TEST_STATE/calls.log,
where X_CASE is the request's `X-Case` header (`-` without one): tests name each request twice,
by a unique path and by that header, so that a request the server should have refused is found
even if the server rewrote its target. The query string chooses what else happens:

- `?report=body`: reads the whole body, notes in reads.log `<case> ok <length>` or, if reading
  raised, `<case> error <exception>` (and raises it again), then answers
  `body=<body> trailer=present|absent`: whether a trailer field, `X-Trailer`, ended up in the
  environ as `HTTP_X_TRAILER`;
- `?header=<case>`: calls start_response with one invalid header of HEADERS below (a name or
  value with CR, LF or NUL, or a hop-by-hop header), which the server must refuse with a 500.
"""

import os
from urllib.parse import parse_qs

STATE = os.environ.get("OXWSGI_TEST_STATE", "/tmp")

# The response header each `?header=` case sends: (name, value).
# Each case has a header name of its own, so that a log line naming it is this case's.
HEADERS = {
    "value-crlf": ("X-Value-CRLF", "a\r\nSet-Cookie: injected=1"),
    "value-cr": ("X-Value-CR", "a\rSet-Cookie: injected=1"),
    "value-lf": ("X-Value-LF", "a\nSet-Cookie: injected=1"),
    "value-nul": ("X-Value-NUL", "a\x00b"),
    "name-crlf": ("X-Name\r\nSet-Cookie: injected=1\r\nX-CRLF", "a"),
    "name-cr": ("X-Name-CR\r", "a"),
    "name-lf": ("X-Name-LF\n", "a"),
    "name-nul": ("X-Name-NUL\x00", "a"),
    # Hop-by-hop headers (RFC 9110 §7.6.1, PEP 3333): the server alone decides them.
    "connection": ("Connection", "close"),
    "transfer-encoding": ("Transfer-Encoding", "chunked"),
    "keep-alive": ("Keep-Alive", "timeout=5"),
    "upgrade": ("Upgrade", "websocket"),
    "proxy-connection": ("Proxy-Connection", "keep-alive"),
    "te": ("TE", "trailers"),
    "trailer": ("Trailer", "X-Checksum"),
    "proxy-authenticate": ("Proxy-Authenticate", "Basic realm=\"x\""),
    "proxy-authorization": ("Proxy-Authorization", "Basic eA=="),
}


def record(environ):
    target = environ.get("REQUEST_URI")
    if target is None:
        target = environ.get("PATH_INFO", "")
        if environ.get("QUERY_STRING"):
            target += "?" + environ["QUERY_STRING"]
    line = "%s %s case=%s\n" % (environ["REQUEST_METHOD"], target, environ.get("HTTP_X_CASE", "-"))
    note("calls.log", line)


def note(name, line):
    with open(os.path.join(STATE, name), "ab") as f:
        f.write(line.encode("latin-1", "backslashreplace"))


def text(start_response, body):
    data = body.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]


_SIZED = {}


def sized(size):
    """`size` bytes, made once: every response of that size shares one object, so a thousand
    of them in flight cost the server no more memory than one."""
    if size not in _SIZED:
        _SIZED[size] = b"x" * size
    return _SIZED[size]


def application(environ, start_response):
    record(environ)
    query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}

    if query.get("report") == "body":
        case = environ.get("HTTP_X_CASE", "-")
        try:
            body = environ["wsgi.input"].read()
        except Exception as exc:
            note("reads.log", "%s error %s: %s\n" % (case, type(exc).__name__, exc))
            raise
        note("reads.log", "%s ok %d\n" % (case, len(body)))
        present = "present" if "HTTP_X_TRAILER" in environ else "absent"
        return text(start_response, "body=%s trailer=%s" % (body.decode("latin-1"), present))

    if "header" in query:
        name, value = HEADERS[query["header"]]
        start_response("200 OK", [("Content-Type", "text/plain"), (name, value)])
        return [b"never sent\n"]

    if "size" in query:
        data = sized(int(query["size"]))
        start_response(
            "200 OK",
            [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(data)))],
        )
        return [data]

    return text(start_response, "ok")
