"""Answers with the request's environ as JSON: {key: {"type": ..., "value": ...}}.

?errors=TEXT writes TEXT to wsgi.errors first; ?read=1 reads and reports the body.
"""

import json
from urllib.parse import parse_qs


def describe(value):
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, tuple):
        return list(value)
    return repr(value)


def application(environ, start_response):
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if "errors" in query:
        environ["wsgi.errors"].write(query["errors"][0] + "\n")
        environ["wsgi.errors"].flush()
    body_info = None
    if "read" in query:
        data = environ["wsgi.input"].read()
        body_info = {"length": len(data), "text": data.decode("latin-1")}
    report = {
        key: {"type": type(value).__name__, "value": describe(value)}
        for key, value in environ.items()
    }
    report["_file_wrapper_is_type"] = isinstance(environ["wsgi.file_wrapper"], type)
    report["_input_methods"] = [
        m for m in ("read", "readline", "readlines", "__iter__") if hasattr(environ["wsgi.input"], m)
    ]
    report["_body"] = body_info
    body = json.dumps(report).encode()
    start_response(
        "200 OK",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]
