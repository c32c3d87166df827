# Says which Python runs it (tests/test_wheel.py): its environment, its executable, its
# sys.argv, and whether oxwsgi's package is importable there.
import importlib.util
import sys


def application(environ, start_response):
    body = "\n".join([
        sys.prefix,
        sys.executable,
        repr(sys.argv),
        str(importlib.util.find_spec("oxwsgi") is not None),
    ]).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
