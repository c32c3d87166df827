# Stand-in for one of several .wsgi files in a script directory (AddHandler wsgi-script .wsgi).
# Site addhandler_scripts: see tests/sites/README.md for the requests made and the lines expected.
# Standard library only. The body is text/plain, one `key=value` a line, always in this order.
import os
import pwd
import sys

APP = 'scripts-beta'
ENV_KEYS = ()


def extra_lines(environ):
    return []


def application(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body_bytes = len(environ["wsgi.input"].read(length)) if length else 0
    lines = [
        "app=" + APP,
        "pid=%d" % os.getpid(),
        "uid=%d" % os.getuid(),
        "user=" + pwd.getpwuid(os.getuid()).pw_name,
        "prefix=" + sys.prefix,
        "process_group=%s" % environ.get("mod_wsgi.process_group", "<missing>"),
        "application_group=%s" % environ.get("mod_wsgi.application_group", "<missing>"),
        "authorization=%s" % environ.get("HTTP_AUTHORIZATION"),
        "remote_user=%s" % environ.get("REMOTE_USER"),
        "auth_type=%s" % environ.get("AUTH_TYPE"),
        "script_name=" + environ.get("SCRIPT_NAME", ""),
        "path_info=" + environ.get("PATH_INFO", ""),
        "multiprocess=%s" % environ.get("wsgi.multiprocess"),
        "multithread=%s" % environ.get("wsgi.multithread"),
        "body_bytes=%d" % body_bytes,
    ]
    for key in ENV_KEYS:
        lines.append("%s=%s" % (key, environ.get(key)))
    lines.extend(extra_lines(environ))
    status = "200 OK"
    if environ.get("PATH_INFO") == "/app-404":
        # The application's own 404: an ErrorDocument must not replace it.
        status = "404 Not Found"
    body = ("\n".join(lines) + "\n").encode("utf-8")
    start_response(status, [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
    ])
    return [body]
