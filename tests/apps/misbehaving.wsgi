"""Applications that break the WSGI contract, one per path, for test_misbehaving_apps.py (issue 10
item 4). Each misbehaving line carries a `# LINE: <name>` comment: the test reads this file to
know which line the server's log must name. Observations (yields, close() calls, markers) are
written to $OXWSGI_TEST_STATE."""

import ctypes
import os
import threading
import time
from urllib.parse import parse_qs

STATE = os.environ.get("OXWSGI_TEST_STATE", "/tmp")


def note(name, text):
    with open(os.path.join(STATE, name), "a") as f:
        f.write(text + "\n")


def wait_for_marker(name, timeout=60):
    path = os.path.join(STATE, name)
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise RuntimeError("marker %s never appeared" % name)
        time.sleep(0.01)


class RaisesInClose:
    """An iterable whose iteration goes well and whose close() raises."""

    def __init__(self, tag):
        self.tag = tag

    def __iter__(self):
        yield b"iterated fine, "
        yield b"then close() raises\n"

    def close(self):
        note("closed.log", self.tag)
        raise RuntimeError("close() failed, as asked")  # LINE: close-raises


def ok(start_response, body):
    data = body.encode()
    start_response(
        "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))]
    )
    return [data]


def application(environ, start_response):  # LINE: application
    path = environ["PATH_INFO"]
    query = {k: v[0] for k, v in parse_qs(environ["QUERY_STRING"]).items()}
    tag = query.get("tag", "untagged")
    plain = [("Content-Type", "text/plain")]

    if path == "/ok":
        return ok(start_response, "ok from pid %d\n" % os.getpid())

    # --- the result is not an iterable of bytes --------------------------------------------

    if path == "/returns-none":
        start_response("200 OK", plain)
        return None  # LINE: returns-none

    if path == "/returns-int":
        start_response("200 OK", plain)
        return 42  # LINE: returns-int

    if path == "/list-of-str":
        start_response("200 OK", plain)
        return ["a str, not bytes"]  # LINE: list-of-str

    if path == "/yields-str":
        def generate():
            yield "a str, not bytes"  # LINE: yields-str

        start_response("200 OK", plain)
        return generate()

    if path == "/yields-int":
        def generate():
            yield 42  # LINE: yields-int

        start_response("200 OK", plain)
        return generate()

    if path == "/yields-dict":
        def generate():
            yield {"not": "bytes"}  # LINE: yields-dict

        start_response("200 OK", plain)
        return generate()

    if path == "/yields-str-after-bytes":
        def generate():
            yield b"the head goes out with this chunk\n"
            yield "then a str"  # LINE: yields-str-after-bytes

        start_response("200 OK", plain)
        return generate()

    # --- start_response misused ----------------------------------------------------------

    if path == "/no-start-response":
        return [b"x"]  # LINE: no-start-response

    if path == "/start-twice":
        start_response("200 OK", plain)
        start_response("200 OK", plain)  # LINE: start-twice
        return [b"never sent"]

    if path == "/status":
        start_response(query["status"], plain)  # LINE: status
        return [b"never sent"]

    if path == "/header-int":
        start_response("200 OK", plain + [("X-Number", 42)])  # LINE: header-int
        return [b"never sent"]

    if path == "/header-bytes":
        start_response("200 OK", plain + [("X-Bytes", b"bytes")])  # LINE: header-bytes
        return [b"never sent"]

    if path == "/header-10mb":
        start_response("200 OK", plain + [("X-Huge", "h" * (10 * 1024 * 1024))])  # LINE: header-10mb
        return [b"never sent"]

    if path == "/headers-100k":
        many = [("X-Many-%d" % i, "v") for i in range(100000)]
        start_response("200 OK", plain + many)  # LINE: headers-100k
        return [b"never sent"]

    # --- exceptions late in the response -------------------------------------------------

    if path == "/close-raises":
        start_response("200 OK", plain)
        return RaisesInClose(tag)

    if path == "/raise-mid-iteration":
        headers = list(plain)
        if "length" in query:
            headers.append(("Content-Length", query["length"]))

        def generate():
            yield b"the first chunk goes out\n"
            raise RuntimeError("failing mid-iteration, as asked")  # LINE: raise-mid-iteration

        start_response("200 OK", headers)
        return generate()

    # --- a client that went away ---------------------------------------------------------

    if path == "/endless":
        def generate():
            n = 0
            try:
                while True:
                    note("yields-" + tag, str(n))
                    yield b"e" * 16384  # LINE: endless-yield
                    n += 1
            except GeneratorExit:
                note("generator-exit-" + tag, "after %d yields" % n)
                raise

        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return generate()

    # --- the process itself --------------------------------------------------------------

    if path == "/hold-gil":
        # A thread that blocks in C without releasing the GIL: PyDLL functions keep it.
        # This request waits for the thread (without the GIL), so it never answers whichever
        # thread runs first.
        def hold():
            note("holding-gil-" + tag, str(os.getpid()))
            ctypes.PyDLL(None).sleep(3600)  # LINE: hold-gil

        thread = threading.Thread(target=hold, daemon=True)
        thread.start()
        thread.join()
        return ok(start_response, "the GIL was released\n")

    if path == "/exit":
        note("dying-" + tag, str(os.getpid()))
        wait_for_marker("die-" + tag)
        os._exit(3)  # LINE: exit

    if path == "/segfault":
        note("dying-" + tag, str(os.getpid()))
        wait_for_marker("die-" + tag)
        ctypes.string_at(0)  # LINE: segfault

    start_response("404 Not Found", plain)
    return [b"no such behaviour: " + path.encode() + b"\n"]
