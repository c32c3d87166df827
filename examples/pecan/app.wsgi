# Seed 000's Pecan service, as mod_wsgi would host it (WSGIScriptAlias / .../app.wsgi):
#
#   oxwsgi start-server examples/pecan/app.wsgi
#
# The script deploys the Pecan application described by config.py, next to it.

import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)

from pecan.deploy import deploy  # noqa: E402

application = deploy(os.path.join(here, "config.py"))
