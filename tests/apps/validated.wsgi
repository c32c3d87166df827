"""The behaviours and environ applications wrapped in wsgiref.validate.validator.

Every WSGIWarning is recorded in $OXWSGI_TEST_STATE/warnings.log instead of being printed.
The validator's other complaint, an application iterator garbage collected without close(),
can only be printed: it goes to sys.stderr, which is the error log.

Paths:
  /environ...                     the environ page (tests/apps/environ.wsgi)
  /close/raise-at-first-chunk     an iterable that raises on its first chunk (the behaviours
                                  app's /close/raise-before-body raises inside iter(), which
                                  the validator itself calls, so the server never gets it)
  /bad-status/injection           a status the validator lets through but the server refuses
  /control/unclosed-iterator      deliberately non-compliant, a control for the log check:
                                  plays server to a validated inner app and drops its iterator
                                  without closing it
  anything else                   the behaviours app (tests/apps/behaviours.wsgi)
"""

import os
import warnings
from wsgiref.validate import WSGIWarning, validator

STATE = os.environ.get("OXWSGI_TEST_STATE", "/tmp")


def record(message, category, filename, lineno, file=None, line=None):
    with open(os.path.join(STATE, "warnings.log"), "a") as f:
        f.write("%s: %s\n" % (category.__name__, message))


warnings.showwarning = record
warnings.simplefilter("always", WSGIWarning)

here = os.path.dirname(__file__)


def load(name):
    namespace = {"__file__": os.path.join(here, name)}
    with open(namespace["__file__"]) as f:
        exec(compile(f.read(), namespace["__file__"], "exec"), namespace)
    return namespace


behaviours = load("behaviours.wsgi")
environ_page = load("environ.wsgi")["application"]


def raise_at_first_chunk():
    raise RuntimeError("raised at the first chunk, as asked")
    yield b"never"


def dispatch(environ, start_response):
    path = environ["PATH_INFO"]

    if path.startswith("/environ"):
        return environ_page(environ, start_response)

    if path == "/close/raise-at-first-chunk":
        tag = environ["QUERY_STRING"].partition("tag=")[2] or "untagged"
        start_response("200 OK", [("Content-Type", "text/plain")])
        return behaviours["Closing"](tag, raise_at_first_chunk())

    if path == "/bad-status/injection":
        # The validator only checks the code of a status; the server checks the reason too.
        start_response("200 OK\r\nSet-Cookie: x=1", [("Content-Type", "text/plain")])
        return [b"never sent"]

    if path == "/control/unclosed-iterator":
        def inner(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"inner"]

        # Dropped unclosed: the validator prints "Iterator garbage collected without being
        # closed", exactly what it would print if the server forgot to close our iterator.
        validator(inner)(dict(environ), lambda status, headers, exc_info=None: None)
        return behaviours["text"](start_response, "dropped an unclosed iterator\n")

    return behaviours["application"](environ, start_response)


application = validator(dispatch)
