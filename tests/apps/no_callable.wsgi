# Defines its WSGI callable under another name.


def app(environ, start_response):
    start_response("200 OK", [])
    return [b""]
