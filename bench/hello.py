"""The benchmark application: the smallest WSGI response, so the server's own cost shows."""

BODY = b"Hello World!\n"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def application(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
