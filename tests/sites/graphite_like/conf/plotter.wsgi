# Stand-in for Graphite-web's conf/graphite.wsgi, preloaded by WSGIImportScript.
# Site graphite_like: see tests/sites/README.md for the requests made and the lines expected.
# Standard library only. The body is text/plain, one `key=value` a line, always in this order.
import os
import pwd
import sys

APP = 'plotter'
ENV_KEYS = ()

# Import-time side effects, so a test can see that WSGIImportScript loaded this file when the
# process started (before any request) and that the request then used the same module:
# a marker file run/plotter-preloaded.<pid> next to conf/, and a per-process import count.
_RUN_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "run")
os.environ["PLOTTER_IMPORTS"] = str(int(os.environ.get("PLOTTER_IMPORTS", "0")) + 1)
with open(os.path.join(_RUN_DIR, "plotter-preloaded.%d" % os.getpid()), "w") as _marker:
    _marker.write("preloaded\n")


def extra_lines(environ):
    return ["imports=" + os.environ["PLOTTER_IMPORTS"]]


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
