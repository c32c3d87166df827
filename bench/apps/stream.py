"""A generator streaming 100 chunks of 1 KiB, without a Content-Length (chunked over HTTP/1.1)."""

CHUNK = b"x" * 1024


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return (CHUNK for _ in range(100))
