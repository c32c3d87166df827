"""The application of the regression tests for issue 8's review findings (test_regressions.py):
one behaviour per path. Observations (pids, markers, what a thread saw) are written to
$OXWSGI_TEST_STATE."""

import gzip
import os
import signal
import sys
import threading
import time
from urllib.parse import parse_qs

STATE = os.environ.get("OXWSGI_TEST_STATE", "/tmp")


def note(name, text):
    with open(os.path.join(STATE, name), "a") as f:
        f.write(text + "\n")


def noted(name):
    path = os.path.join(STATE, name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return f.read().splitlines()


def marker_exists(name):
    return os.path.exists(os.path.join(STATE, name))


def wait_for(condition, what, timeout=30):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError("%s never happened" % what)
        time.sleep(0.01)


def text(start_response, body, status="200 OK"):
    data = body.encode() if isinstance(body, str) else body
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]


class NoTell:
    """A file-like object with read() and fileno() but no tell() (nor seek())."""

    def __init__(self, f):
        self._f = f

    def read(self, *args):
        return self._f.read(*args)

    def fileno(self):
        return self._f.fileno()

    def close(self):
        self._f.close()


# What one request keeps for a later one to misuse.
KEPT = {}


def application(environ, start_response):
    path = environ["PATH_INFO"]
    method = environ["REQUEST_METHOD"]
    query = {k: v[0] for k, v in parse_qs(environ["QUERY_STRING"]).items()}
    tag = query.get("tag", "untagged")

    if path == "/hello":
        return text(start_response, "hello\n")

    # --- 1. standard descriptors the application closes --------------------------------------

    if path == "/close-fd":
        os.close(int(query["fd"]))
        return text(start_response, "closed fd %s\n" % query["fd"])

    if path == "/print-stderr":
        marker = query["marker"]
        print("stderr " + marker, file=sys.stderr, flush=True)
        environ["wsgi.errors"].write("wsgi.errors " + marker + "\n")
        environ["wsgi.errors"].flush()
        return text(start_response, "printed\n")

    if path == "/print-lines":
        note("printing-" + tag, "started")
        for i in range(int(query["count"])):
            print("line %06d " % i + "x" * 90, file=sys.stderr)
        return text(start_response, "printed\n")

    if path == "/raise":
        raise ZeroDivisionError("the application divided by zero on purpose")

    # --- 2. a request body the application does not read --------------------------------------

    if path == "/ignore-body":
        note("ignored-body", "answered")
        return text(start_response, "ignored the body\n")

    if path == "/ignore-body-and-raise":
        raise RuntimeError("raised without reading the body")

    # --- 3. a slow stream -----------------------------------------------------------------------

    if path == "/lines":
        count = int(query.get("count", "5"))
        every = float(query.get("every", "1"))

        def generate():
            for i in range(count):
                if i:
                    time.sleep(every)
                yield b"line %d\n" % i

        start_response("200 OK", [("Content-Type", "text/plain")])
        return generate()

    # --- 4. request timeouts --------------------------------------------------------------------

    if path == "/sleep-before-start":
        # Stuck until the test has seen the timeout and releases it (at most `seconds`).
        wait_for(lambda: marker_exists("release-stuck"), "the release", float(query.get("seconds", "5")))
        return text(start_response, "slept\n")

    if path == "/stream-forever":
        def generate():
            i = 0
            while not marker_exists("stop-" + tag):
                yield b"line %d\n" % i
                i += 1
                time.sleep(0.5)

        start_response("200 OK", [("Content-Type", "text/plain")])
        return generate()

    # --- 5. wsgi.file_wrapper -------------------------------------------------------------------

    if path.startswith("/wrap/"):
        name = os.path.join(STATE, query["name"])
        kind = path[len("/wrap/"):]
        if kind == "gzip":
            f = gzip.open(name, "rb")
        elif kind == "no-tell":
            raw = open(name, "rb")
            raw.read(10)
            f = NoTell(raw)
        elif kind == "write-only":
            f = open(name, "wb")
            f.write(b"written by the application, never to be sent\n" * 100)
            f.flush()
            f.seek(0)
        elif kind == "text":
            f = open(name, "r")
        elif kind == "binary-after-read":
            f = open(name, "rb")
            f.read(10)
        else:
            return text(start_response, "no such wrapper\n", status="404 Not Found")
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](f)

    # --- 6. write() from another thread ---------------------------------------------------------

    if path == "/write-from-thread":
        write = start_response("200 OK", [("Content-Type", "application/octet-stream")])
        record = "thread-" + tag

        def run():
            for i in range(20):
                note(record, "write %d" % i)
                try:
                    write(b"x" * 1048576)
                except Exception as exc:
                    note(record, "raised %s: %s" % (type(exc).__name__, exc))
                    return
            note(record, "done")

        threading.Thread(target=run, daemon=True).start()
        # The client reads nothing past the head, so the thread's writes soon block. Probe with
        # an empty write() until it says the other thread is in the middle of one: the response
        # can only be written by one thread at a time.
        def thread_inside_write():
            try:
                write(b"")
            except RuntimeError as exc:
                note("probe-" + tag, "RuntimeError: %s" % exc)
                return True
            return False

        wait_for(thread_inside_write, "the thread to be inside write()")
        note("returned-" + tag, "returning")
        return []

    # --- 7. os.fork() in a request --------------------------------------------------------------

    if path == "/fork":
        pid = os.fork()
        if pid == 0:
            note("child-" + tag, str(os.getpid()))
            if query.get("child") == "sleep":
                # Lives on until a signal ends it (the test sends SIGTERM).
                while True:
                    signal.pause()
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"child"]
        return text(start_response, "parent")

    # --- 9. HEAD without a declared length ------------------------------------------------------

    if path == "/bottle-like":
        start_response("200 OK", [("Content-Type", "text/plain")])
        if method == "HEAD":
            return []

        def generate():
            yield b"first, "
            yield b"second, "
            yield b"third\n"

        return generate()

    # --- 10. wsgi.input kept past its request ---------------------------------------------------

    if path == "/keep-input":
        KEPT["input"] = environ["wsgi.input"]
        return text(start_response, "kept\n")

    if path == "/read-kept-input":
        try:
            data = KEPT["input"].read()
        except Exception as exc:
            return text(start_response, "%s: %s" % (type(exc).__name__, exc))
        return text(start_response, "no error, read %d bytes" % len(data))

    return text(start_response, "no such behaviour: %s\n" % path, status="404 Not Found")
