# The environment page of seed 002 ("WSGI: It works!"), in Python 3:
#
#   oxwsgi start-server examples/hello_env.wsgi
#
# It shows the process, the user it runs as, the WSGI environ, the parsed query string and the
# Python version: handy for checking what a deployment really looks like.

import os
import pprint
import pwd
import sys
import traceback
from urllib.parse import parse_qs


def application(environ, start_response):
    status = "200 OK"
    o = "WSGI: It works!  :-)"
    try:
        o += "\nprocess id:        " + str(os.getpid())
        o += "\nparent process:    " + str(os.getppid())
        o += "\nuser/group:        " + "%s/%s (%s/%s)" % (
            os.getuid(),
            os.getgid(),
            os.geteuid(),
            os.getegid(),
        )
        o += "\npwd user:          " + pprint.pformat(pwd.getpwuid(os.getuid()))
        o += "\nWSGI environment:\n" + pprint.pformat(environ, indent=4)
        o += "\nQuery String:\n" + pprint.pformat(
            parse_qs(environ["QUERY_STRING"]), indent=4
        )
        o += "\nPython version:    " + pprint.pformat(sys.version)
    except Exception:
        o += "\n\n" + traceback.format_exc()

    body = o.encode("utf-8")
    response_headers = [
        ("Content-type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
    ]
    start_response(status, response_headers)
    return [body]
