"""The behaviours application wrapped in wsgiref.validate.validator. Every WSGIWarning is
recorded in $OXWSGI_TEST_STATE/warnings.log instead of being printed."""

import os
import warnings
from wsgiref.validate import WSGIWarning, validator

STATE = os.environ.get("OXWSGI_TEST_STATE", "/tmp")


def record(message, category, filename, lineno, file=None, line=None):
    with open(os.path.join(STATE, "warnings.log"), "a") as f:
        f.write("%s: %s\n" % (category.__name__, message))


warnings.showwarning = record
warnings.simplefilter("always", WSGIWarning)

here = os.path.dirname(__file__)
namespace = {"__file__": os.path.join(here, "behaviours.wsgi")}
with open(namespace["__file__"]) as f:
    exec(compile(f.read(), namespace["__file__"], "exec"), namespace)

application = validator(namespace["application"])
