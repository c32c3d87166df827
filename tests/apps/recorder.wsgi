"""The application of the strict HTTP/1.1 tests (test_strict_*.py): it records every call it gets,
so a test can tell whether a request reached it, and answers 200 "ok".

Each call appends one line, `METHOD REQUEST_URI`, to $OXWSGI_TEST_STATE/calls.log (the raw
request target, latin-1 decoded and written back as bytes, so even a target the server should
have refused is recorded as sent). The query string chooses the response-side cases:

- `?report=trailer`: reads the whole body, then answers `body=<body> trailer=present|absent`
  (whether a trailer field, `X-Trailer`, ended up in the environ as `HTTP_X_TRAILER`);
- `?header=<case>`: calls start_response with one invalid header of HEADERS below (a name or
  value with CR, LF or NUL, or a hop-by-hop header), which the server must refuse with a 500.
"""

import os
from urllib.parse import parse_qs

STATE = os.environ.get("OXWSGI_TEST_STATE", "/tmp")

# The response header each `?header=` case sends: (name, value).
HEADERS = {
    "value-crlf": ("X-Injected", "a\r\nSet-Cookie: x=1"),
    "value-cr": ("X-Injected", "a\rb"),
    "value-lf": ("X-Injected", "a\nb"),
    "value-nul": ("X-Injected", "a\x00b"),
    "name-crlf": ("X-Inj\r\nected", "a"),
    "name-cr": ("X-Inj\rected", "a"),
    "name-lf": ("X-Inj\nected", "a"),
    "name-nul": ("X-Inj\x00ected", "a"),
    # Hop-by-hop headers (RFC 9110 §7.6.1, PEP 3333): the server alone decides them.
    "connection": ("Connection", "close"),
    "transfer-encoding": ("Transfer-Encoding", "chunked"),
    "keep-alive": ("Keep-Alive", "timeout=5"),
    "upgrade": ("Upgrade", "websocket"),
    "proxy-connection": ("Proxy-Connection", "keep-alive"),
    "te": ("TE", "trailers"),
    "trailer": ("Trailer", "X-Checksum"),
}


def record(environ):
    target = environ.get("REQUEST_URI")
    if target is None:
        target = environ.get("PATH_INFO", "")
        if environ.get("QUERY_STRING"):
            target += "?" + environ["QUERY_STRING"]
    line = "%s %s\n" % (environ["REQUEST_METHOD"], target)
    with open(os.path.join(STATE, "calls.log"), "ab") as f:
        f.write(line.encode("latin-1", "backslashreplace"))


def text(start_response, body):
    data = body.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]


def application(environ, start_response):
    record(environ)
    query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}

    if query.get("report") == "trailer":
        body = environ["wsgi.input"].read()
        present = "present" if "HTTP_X_TRAILER" in environ else "absent"
        return text(start_response, "body=%s trailer=%s" % (body.decode("latin-1"), present))

    if "header" in query:
        name, value = HEADERS[query["header"]]
        start_response("200 OK", [("Content-Type", "text/plain"), (name, value)])
        return [b"never sent\n"]

    return text(start_response, "ok")
