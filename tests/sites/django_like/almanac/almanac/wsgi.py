# Stand-in for a Django project's wsgi.py (DJANGO_SETTINGS_MODULE, then get_wsgi_application).
# Site django_like: see tests/sites/README.md for the requests made and the lines expected.
# Standard library only. The body is text/plain, one `key=value` a line, always in this order.
import os
import pwd
import sys
import importlib

APP = 'almanac'
ENV_KEYS = ()

# Like Django's wsgi.py: the settings module is found through python-path=, not next to this file.
os.environ.setdefault("ALMANAC_SETTINGS_MODULE", "almanac.settings")
SETTINGS = importlib.import_module(os.environ["ALMANAC_SETTINGS_MODULE"])


def extra_lines(environ):
    return [
        "settings_module=" + SETTINGS.__name__,
        "settings_site_title=" + SETTINGS.SITE_TITLE,
    ]


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
