"""Reports what the server set up for the application, for test_express_app_options.py:
GET /report answers JSON (the environ's text keys, the process's user and groups, Python's
switch interval and warnings filters, mod_wsgi's names); /status/NNN answers its own page
with status NNN; /echo answers the request body; /warn warns; any request says its
REQUEST_METHOD in X-Method."""

import json
import os
import sys
import warnings

import mod_wsgi


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    headers = [("X-Method", environ["REQUEST_METHOD"])]
    if path.startswith("/status/"):
        code = int(path.rsplit("/", 1)[1])
        headers += [("Content-Type", "text/plain")]
        if code == 401:
            headers.append(("WWW-Authenticate", 'Basic realm="app"'))
        start_response(f"{code} App Says", headers)
        return [f"the application's own {code}\n".encode()]
    if path == "/echo":
        body = environ["wsgi.input"].read()
        start_response("200 OK", headers + [("Content-Type", "application/octet-stream")])
        return [body]
    if path == "/warn":
        # With --python-warnings error this raises, and the server answers 500.
        warnings.warn("deprecated call", DeprecationWarning)
        start_response("200 OK", headers + [("Content-Type", "text/plain")])
        return [b"warned and went on\n"]
    report = {
        "environ": {k: v for k, v in environ.items() if isinstance(v, str)},
        "os_environ": {k: os.environ.get(k) for k in ("GREETING", "OXWSGI_TEST_PASSED")},
        "uid": os.getuid(),
        "gid": os.getgid(),
        "euid": os.geteuid(),
        "switch_interval": sys.getswitchinterval(),
        "warnoptions": list(sys.warnoptions),
        "filters": [[f[0], f[2].__name__] for f in warnings.filters[:3]],
        "process_group": mod_wsgi.process_group,
        "application_group": mod_wsgi.application_group,
    }
    body = json.dumps(report).encode()
    start_response("200 OK", headers + [("Content-Type", "application/json"),
                                        ("Content-Length", str(len(body)))])
    return [body]
