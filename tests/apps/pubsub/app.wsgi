"""The publisher: a Pecan application deployed from its configuration file, as in the seed."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from pecan.deploy import deploy  # noqa: E402

application = deploy(os.path.join(HERE, "config.py"))
