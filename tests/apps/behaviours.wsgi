"""One application with many behaviours, chosen by path, for the response and request-body
tests. Observations (close() calls, markers) are written to $OXWSGI_TEST_STATE."""

import hashlib
import json
import os
import sys
import threading
import time
from urllib.parse import parse_qs

STATE = os.environ.get("OXWSGI_TEST_STATE", "/tmp")


def note(name, text):
    with open(os.path.join(STATE, name), "a") as f:
        f.write(text + "\n")


def note_closed(tag):
    """Records a close() call: its tag in closed.log, and in closed-by.log with the Python thread
    that made it (tests wait for that thread to take a later request, see /thread/hold)."""
    note("closed.log", tag)
    note("closed-by.log", "%s %d" % (tag, threading.get_ident()))


def wait_for_marker(name, timeout=30):
    path = os.path.join(STATE, name)
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise RuntimeError("marker %s never appeared" % name)
        time.sleep(0.01)


class Closing:
    """An iterable that records its close() calls under its tag."""

    def __init__(self, tag, chunks, fail_after=None, forever=False):
        self.tag = tag
        self.chunks = chunks
        self.fail_after = fail_after
        self.forever = forever

    def __iter__(self):
        produced = 0
        for chunk in self.chunks:
            yield chunk
            produced += 1
            if self.fail_after is not None and produced >= self.fail_after:
                raise RuntimeError("failing while streaming, as asked")
        while self.forever:
            note("produced-" + self.tag, "chunk")
            yield b"x" * 65536
            time.sleep(0.005)

    def close(self):
        note_closed(self.tag)


class RaisesAtOnce:
    """An iterable that fails before its first chunk; records its close()."""

    def __init__(self, tag):
        self.tag = tag

    def __iter__(self):
        raise RuntimeError("raised before producing anything")

    def close(self):
        note_closed(self.tag)


# Things one request keeps for a later one to misuse.
KEPT = {}


def text(start_response, body, status="200 OK", extra=()):
    data = body.encode() if isinstance(body, str) else body
    start_response(
        status,
        [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))] + list(extra),
    )
    return [data]


def application(environ, start_response):
    path = environ["PATH_INFO"]
    query = {k: v[0] for k, v in parse_qs(environ["QUERY_STRING"]).items()}
    tag = query.get("tag", "untagged")

    if path == "/":
        return text(start_response, "ok\n")

    if path == "/thread/hold":
        # Holds a Python thread, named in holding-<tag>, until the marker unhold-<tag> exists
        # (the thread of a close() call is in closed-by.log).
        note("holding-" + tag, "%d" % threading.get_ident())
        wait_for_marker("unhold-" + tag)
        return text(start_response, "released\n")

    if path == "/close/normal":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Closing(tag, [b"one ", b"two\n"])

    if path == "/close/raise":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Closing(tag, [b"partial"], fail_after=1)

    if path == "/close/raise-before-body":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return RaisesAtOnce(tag)

    if path == "/close/forever":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return Closing(tag, [b"start\n"], forever=True)

    if path == "/generator":
        def generate():
            yield b"first chunk\n"
            wait_for_marker("release-" + tag)
            yield b"second chunk\n"

        start_response("200 OK", [("Content-Type", "text/plain")])
        return generate()

    if path == "/slow-consumer":
        # Produces 200 chunks of 1 MiB; records how many were produced.
        def generate():
            for i in range(200):
                note("produced-" + tag, str(i))
                yield b"y" * (1024 * 1024)

        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return generate()

    if path == "/raise":
        raise ZeroDivisionError("the application divided by zero on purpose")

    if path == "/bad-status":
        start_response("OK", [("Content-Type", "text/plain")])
        return [b"never sent"]

    if path == "/bad-header":
        start_response("200 OK", [("X-Injected", "a\r\nSet-Cookie: x=1")])
        return [b"never sent"]

    if path == "/bad-header-name":
        start_response("200 OK", [("Bad Name", "x")])
        return [b"never sent"]

    if path == "/bytes-header-value":
        start_response("200 OK", [("X-Bytes", b"not a str")])
        return [b"never sent"]

    if path == "/start-twice":
        start_response("200 OK", [("Content-Type", "text/plain")])
        start_response("500 Oops", [("Content-Type", "text/plain")])
        return [b"never sent"]

    if path == "/exc-info":
        # An error page replacing the headers before anything was sent: allowed.
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise KeyError("missing")
        except KeyError:
            start_response("503 Busy Now", [("Content-Type", "text/plain")], sys.exc_info())
        return [b"replaced\n"]

    if path == "/exc-info-after-body":
        def generate():
            yield b"started\n"
            try:
                raise KeyError("too late")
            except KeyError:
                start_response("500 Error", [("Content-Type", "text/plain")], sys.exc_info())
            yield b"never\n"

        start_response("200 OK", [("Content-Type", "text/plain")])
        return generate()

    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written ")
        write(b"by write()\n")
        return [b"then returned\n"]

    if path == "/file-wrapper":
        f = open(os.path.join(STATE, query["name"]), "rb")
        if "skip" in query:
            f.seek(int(query["skip"]))
        write = start_response("200 OK", [("Content-Type", "application/octet-stream")])
        if "write-first" in query:
            write(b"")  # an empty write sends nothing...
            write(f.read(10))  # ...this sends the head: the wrapper must then be iterated
        wrapper = environ["wsgi.file_wrapper"](f, 8192)

        # Reading through Python would show here; a file sent by the server is never read so.
        original_read = f.read

        def read(*args):
            note("python-reads.log", tag)
            return original_read(*args)

        f.read = read

        original_close = f.close

        def close():
            note_closed(tag)
            original_close()

        f.close = close
        return wrapper

    if path == "/file-wrapper-pipe":
        class Reader:
            def __init__(self):
                self.parts = [b"not ", b"a ", b"file\n"]

            def read(self, n):
                return self.parts.pop(0) if self.parts else b""

        start_response("200 OK", [("Content-Type", "text/plain")])
        return environ["wsgi.file_wrapper"](Reader(), 4)

    if path == "/content-length/long":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
        return [b"12345", b"678910"]

    if path == "/content-length/short":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "100")])
        return [b"only twenty bytes..."]

    if path == "/content-length/given":
        # Every `value` in the query becomes one Content-Length header.
        values = parse_qs(environ["QUERY_STRING"]).get("value", [])
        start_response(
            "200 OK", [("Content-Type", "text/plain")] + [("Content-Length", v) for v in values]
        )
        return [b"abc"]

    if path == "/list-no-length":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"twelve ", b"bytes"]

    if path == "/yields-str":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return ["a str, not bytes"]

    if path == "/returns-none":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return None

    if path == "/keep-write":
        KEPT["write"] = start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"kept\n"]

    if path == "/late-write":
        try:
            KEPT["write"](b"too late")
        except RuntimeError as exc:
            return text(start_response, "RuntimeError: %s\n" % exc)
        return text(start_response, "no error\n")

    if path == "/chunked":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return iter([b"no ", b"length ", b"given\n"])

    if path == "/reason":
        return text(start_response, "custom reason\n", status="299 Quite Fine")

    if path == "/input/sha256":
        # Reads the body in 64 KiB blocks, as a streaming upload handler would.
        if "tag" in query:
            note("input-started-" + tag, "reading")
        digest, total = hashlib.sha256(), 0
        stream = environ["wsgi.input"]
        while True:
            block = stream.read(65536)
            if not block:
                break
            digest.update(block)
            total += len(block)
        return text(start_response, json.dumps({"length": total, "sha256": digest.hexdigest()}))

    if path == "/input/lines":
        stream = environ["wsgi.input"]
        first = stream.readline()
        limited = stream.readline(3)
        rest = stream.readlines()
        return text(
            start_response,
            json.dumps([first.decode(), limited.decode(), [r.decode() for r in rest]]),
        )

    if path == "/input/iter":
        lines = [line.decode() for line in environ["wsgi.input"]]
        return text(start_response, json.dumps(lines))

    if path == "/input/after-delay":
        note("before-read-" + tag, "waiting")
        wait_for_marker("read-" + tag)
        data = environ["wsgi.input"].read()
        return text(start_response, "read %d bytes\n" % len(data))

    if path == "/input/ignore":
        return text(start_response, "did not read the body\n")

    if path == "/input/disconnect":
        note("input-started-" + tag, "started")
        try:
            environ["wsgi.input"].read()
        except OSError as exc:
            note("input-error-" + tag, "%s: %s" % (type(exc).__name__, exc))
            raise
        note("input-error-" + tag, "no error")
        return text(start_response, "read everything\n")

    if path == "/ran":
        note("ran.log", tag)
        return text(start_response, "ran " + tag + "\n")

    if path == "/block":
        note("blocked.log", tag)
        wait_for_marker("unblock-" + tag)
        return text(start_response, "unblocked " + tag + "\n")

    if path == "/sleep":
        time.sleep(float(query.get("seconds", "1")))
        note("ran.log", tag)
        return text(start_response, "slept\n")

    return text(start_response, "no such behaviour: %s\n" % path, status="404 Not Found")

