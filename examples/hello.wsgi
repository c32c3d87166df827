# The smallest WSGI application: oxwsgi start-server examples/hello.wsgi


def application(environ, start_response):
    body = b"Hello World!\n"
    start_response(
        "200 OK",
        [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))],
    )
    return [body]
