"""The application of scripts/soak: a little of everything a real site does."""

import time

CHUNK = b"s" * 1024


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/upload":
        length = 0
        read = environ["wsgi.input"].read
        while True:
            data = read(65536)
            if not data:
                break
            length += len(data)
        body = b"%d" % length
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return (CHUNK for _ in range(50))
    if path == "/slow":
        time.sleep(0.05)
    body = b"hello " + path.encode("latin-1")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
