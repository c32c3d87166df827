# A Flask application behind oxwsgi:
#
#   oxwsgi start-server examples/flask/app.wsgi
#
# As usual with mod_wsgi, the script puts its own directory on sys.path so that the
# application's modules import.

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from flaskapp import app as application  # noqa: E402
