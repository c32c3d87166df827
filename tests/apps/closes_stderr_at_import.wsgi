"""Closes standard error when it is imported, as a daemonising library might."""

import os
import sys

os.close(2)


def application(environ, start_response):
    print("answering after closing standard error at import", file=sys.stderr)
    body = b"alive"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
