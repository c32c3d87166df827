"""64 KiB response: one bytes object with its Content-Length, as a typical API or page."""

BODY = b"x" * 65536
HEADERS = [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(BODY)))]


def application(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
