"""The requests of the other acceptance items pass through an application wrapped in
wsgiref.validate.validator without a single complaint from the validator.

The validator complains in three ways, and all three are watched:
  * WSGIWarning (unknown method, missing QUERY_STRING, ...): tests/apps/validated.wsgi records
    them in $OXWSGI_TEST_STATE/warnings.log;
  * AssertionError raised from the validator's assert_() (the environ, wsgi.input, an
    iterator read after close(), ...): a traceback in the error log whose innermost frame is
    wsgiref/validate.py's assert_;
  * an application iterator garbage collected unclosed: printed from IteratorWrapper.__del__
    to sys.stderr, i.e. an "Exception ignored in" block in the error log.
Controls (an unknown method, an iterator dropped unclosed on purpose) prove each check can fail.
"""

import collections
import hashlib
import json
import os
import re

import pytest
import requests

from support import APPS, closed_tags, read_response, read_until_closed, recv_until, wait_closed, wait_for_file

ERROR_PAGE = (
    "<!DOCTYPE html>\n"
    "<html><head><title>500 Internal Server Error</title></head>\n"
    "<body>\n"
    "<h1>Internal Server Error</h1>\n"
    "<p>The server encountered an internal error and could not complete the request. "
    "The error has been logged.</p>\n"
    "</body></html>\n"
)
ERRORS_TEXT = "written to the validator's wsgi.errors"
LOG_LINE = re.compile(
    r"^\[[^\]]*\] \[wsgi:error\] \[pid [^\]]*\](?: \[request (\S+)\])? (.*)$", re.MULTILINE
)
VALIDATOR_RAISED = re.compile(r'File ".*/wsgiref/validate\.py", line \d+, in assert_$')


def sha_reply(data):
    return {"length": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def error_log(srv):
    """Splits the wsgi:error lines, per request, into
    - exceptions: {request line: (exception line, raised by the validator's assert_?)};
    - unraisable: the exception line of every "Exception ignored in" block;
    - other: every remaining line (what the application wrote to wsgi.errors)."""
    per_request = collections.defaultdict(list)
    for request, text in LOG_LINE.findall(srv.error_log()):
        per_request[request].append(text)
    exceptions, unraisable, other = {}, [], []
    for lines in per_request.values():
        lines = iter(lines)
        for line in lines:
            occurred = re.match(r"Exception occurred processing WSGI script '.*' for (.*):$", line)
            if occurred or "Exception ignored in" in line:
                frames = []
                for inner in lines:
                    if inner.startswith("Traceback") or inner.startswith(" "):
                        frames.append(inner.strip())
                        continue
                    break
                files = [f for f in frames if f.startswith("File ")]
                if occurred:
                    raised_by_validator = bool(files) and bool(VALIDATOR_RAISED.match(files[-1]))
                    assert occurred.group(1) not in exceptions, occurred.group(1)
                    exceptions[occurred.group(1)] = (inner, raised_by_validator)
                else:
                    unraisable.append(inner)
            else:
                other.append(line)
    return exceptions, unraisable, other


def warnings_of(state_dir):
    path = state_dir / "warnings.log"
    return path.read_text().splitlines() if path.exists() else []


def complaints(srv, state_dir):
    """Everything the validator said: warnings, its own assertions, unclosed iterators."""
    exceptions, unraisable, _ = error_log(srv)
    raised = [f"{req}: {exc}" for req, (exc, by_validator) in exceptions.items() if by_validator]
    return warnings_of(state_dir) + raised + [f"unraisable: {exc}" for exc in unraisable]


def chunks_of(body):
    """The chunks of a chunked body as sent (the last one empty if the body was complete)."""
    chunks = []
    while body:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line, 16)
        assert body[size : size + 2] == b"\r\n", body
        chunks.append(body[:size])
        body = body[size + 2 :]
    return chunks


def interim_response(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(1)
        assert chunk, f"closed before the interim response ended: {data!r}"
        data += chunk
    return data


@pytest.mark.parametrize("mount", ["", "/app"])
def test_requests_through_wsgiref_validator_raise_no_warning(server, state_dir, mount):
    (state_dir / "blob.bin").write_bytes(os.urandom(100_000))
    args = ("--mount-point", mount) if mount else ()
    srv = server(*args, APPS / "validated.wsgi", env={"OXWSGI_TEST_STATE": str(state_dir)})
    worker = srv.worker_pid()
    url = srv.url + mount

    def get(path):
        return requests.get(url + path)

    # --- plain requests and responses -----------------------------------------------------
    assert get("/").text == "ok\n"
    assert requests.head(url + "/").status_code == 200
    assert get("/write").text == "written by write()\nthen returned\n"
    chunked = get("/chunked")
    assert (chunked.headers["Transfer-Encoding"], chunked.text) == ("chunked", "no length given\n")
    assert requests.post(url + "/input/lines", data=b"a\nbcdef\ng\n").json() == [
        "a\n",
        "bcd",
        ["ef\n", "g\n"],
    ]
    blob = (state_dir / "blob.bin").read_bytes()
    assert get("/file-wrapper?name=blob.bin&tag=v2").content == blob
    assert requests.options(url + "/").status_code == 200
    assert requests.put(url + "/input/sha256", data=b"abc").json() == sha_reply(b"abc")
    assert requests.delete(url + "/").status_code == 200
    replaced = get("/exc-info")
    assert (replaced.status_code, replaced.reason, replaced.text) == (503, "Busy Now", "replaced\n")

    # --- uploads: 5 MiB, chunked, Expect: 100-continue; each reaches the app intact ---------
    big = os.urandom(5 * 1024 * 1024)
    response = requests.post(url + "/input/sha256", data=big)
    assert (response.status_code, response.json()) == (200, sha_reply(big))

    pieces = [os.urandom(n) for n in (1, 1000, 70000, 3)]
    response = requests.post(url + "/input/sha256", data=(p for p in pieces))
    assert response.request.headers["Transfer-Encoding"] == "chunked"
    assert (response.status_code, response.json()) == (200, sha_reply(b"".join(pieces)))

    data = os.urandom(1024 * 1024)
    with srv.connect() as sock:
        sock.sendall(
            b"POST %s/input/sha256 HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n"
            b"Expect: 100-continue\r\n\r\n" % (mount.encode(), len(data))
        )
        assert interim_response(sock) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(data)
        status, _, body, _ = read_response(sock)
    assert (status, json.loads(body)) == ("HTTP/1.1 200 OK", sha_reply(data))

    # --- streaming: the first chunk arrives while the generator is still blocked -----------
    with srv.connect() as sock:
        sock.sendall(b"GET %s/generator?tag=g1 HTTP/1.1\r\nHost: t\r\n\r\n" % mount.encode())
        received = recv_until(sock, lambda r: b"first chunk\n" in r)
        assert b"second chunk" not in received
        (state_dir / "release-g1").touch()
        received = recv_until(sock, lambda r: r.endswith(b"\r\n0\r\n\r\n"), received)
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nTransfer-Encoding: chunked" in head
    assert chunks_of(body) == [b"first chunk\n", b"second chunk\n", b""]

    # --- close() exactly once: normal end, exception, client disconnect -------------------
    assert get("/close/normal?tag=n1").text == "one two\n"
    assert wait_closed(state_dir, "n1", url) == 1

    failed = get("/close/raise-at-first-chunk?tag=f1")
    assert (failed.status_code, failed.text) == (500, ERROR_PAGE)
    assert wait_closed(state_dir, "f1", url) == 1

    with srv.connect() as sock:  # raising after the head went out cuts the response
        sock.sendall(b"GET %s/close/raise?tag=e2 HTTP/1.1\r\nHost: t\r\n\r\n" % mount.encode())
        cut = read_until_closed(sock)
    head, _, body = cut.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert chunks_of(body) == [b"partial"], "a cut body must not look complete"
    assert wait_closed(state_dir, "e2", url) == 1

    with srv.connect() as sock:
        sock.sendall(b"GET %s/close/forever?tag=c1 HTTP/1.1\r\nHost: t\r\n\r\n" % mount.encode())
        assert sock.recv(100).startswith(b"HTTP/1.1 200 OK\r\n")
        wait_for_file(state_dir / "produced-c1")
    assert wait_closed(state_dir, "c1", url) == 1

    # --- errors of the application: 500 each --------------------------------------------
    for path in ["/raise", "/bad-status", "/bad-status/injection", "/start-twice"]:
        response = get(path)
        assert (response.status_code, response.text) == (500, ERROR_PAGE), path

    # --- the environ page ------------------------------------------------------------------
    response = get("/environ/x%20y/z?q=1&r=%2F&errors=" + requests.utils.quote(ERRORS_TEXT))
    assert response.status_code == 200
    env = {key: entry["value"] for key, entry in response.json().items() if key[0] != "_"}
    types = {key: entry["type"] for key, entry in response.json().items() if key[0] != "_"}
    assert env["SCRIPT_NAME"] == mount
    assert env["PATH_INFO"] == "/environ/x y/z"
    assert env["QUERY_STRING"] == "q=1&r=%2F&errors=" + requests.utils.quote(ERRORS_TEXT)
    assert env["REQUEST_URI"] == f"{mount}/environ/x%20y/z?{env['QUERY_STRING']}"
    assert env["REQUEST_METHOD"] == "GET"
    assert env["SERVER_PORT"] == str(srv.port)
    assert (env["wsgi.version"], types["wsgi.version"]) == ([1, 0], "tuple")
    assert env["wsgi.input_terminated"] is True
    # The page ran behind the validator: it saw the validator's stream wrappers.
    assert env["wsgi.input"].startswith("<wsgiref.validate.InputWrapper object")
    assert env["wsgi.errors"].startswith("<wsgiref.validate.ErrorWrapper object")
    assert all(types[key] == "str" for key in env if key.isupper())

    # --- (b) not one complaint from the validator ------------------------------------------
    srv.wait_for_log(re.escape(ERRORS_TEXT))
    exceptions, unraisable, other = error_log(srv)
    m = mount
    # Every error in the log is the application's own, and the 500s are the server's answer to
    # it. Only /bad-status is caught by the validator before the server sees it: its
    # complaint is about the application's status 'OK', raised in the application's call.
    assert {req: exc for req, (exc, _) in exceptions.items()} == {
        f"GET {m}/close/raise-at-first-chunk?tag=f1": "RuntimeError: raised at the first chunk, as asked",
        f"GET {m}/close/raise?tag=e2": "RuntimeError: failing while streaming, as asked",
        f"GET {m}/raise": "ZeroDivisionError: the application divided by zero on purpose",
        f"GET {m}/bad-status": "AssertionError: Status codes must be three characters: 'OK'",
        f"GET {m}/bad-status/injection": (
            r"ValueError: invalid status '200 OK\r\nSet-Cookie: x=1': "
            "the reason contains a control character"
        ),
        f"GET {m}/start-twice": (
            "AssertionError: start_response() was called a second time without exc_info"
        ),
    }
    assert 'start_response("OK", [("Content-Type", "text/plain")])' in srv.error_log()
    assert complaints(srv, state_dir) == [
        f"GET {m}/bad-status: AssertionError: Status codes must be three characters: 'OK'"
    ]
    assert unraisable == []
    assert other == [ERRORS_TEXT]
    assert collections.Counter(closed_tags(state_dir)) == {
        "v2": 1, "n1": 1, "f1": 1, "e2": 1, "c1": 1
    }

    # --- controls: each way of complaining is detected -------------------------------------
    assert requests.request("PURGE", url + "/").text == "ok\n"
    assert get("/control/unclosed-iterator").text == "dropped an unclosed iterator\n"
    srv.wait_for_log(r"AssertionError: Iterator garbage collected without being closed")
    assert complaints(srv, state_dir) == [
        "WSGIWarning: Unknown REQUEST_METHOD: 'PURGE'",
        f"GET {m}/bad-status: AssertionError: Status codes must be three characters: 'OK'",
        "unraisable: AssertionError: Iterator garbage collected without being closed",
    ]

    # --- (c) the same worker keeps serving ------------------------------------------------
    assert get("/").text == "ok\n"
    assert requests.post(url + "/input/sha256", data=big).json() == sha_reply(big)
    assert srv.worker_pid() == worker
    assert srv.running
