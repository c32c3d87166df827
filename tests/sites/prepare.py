"""Prepares a private copy of one site of tests/sites for a test (see README.md there).

    sys.path.insert(0, str(TESTS / "sites"))   # tests/sites is not a package
    from prepare import prepare
    env = prepare("keystone_like", tmp_path)
    # then run oxwsgi on env["SITE_DIR"] + "/site.conf" with os.environ | env as its environment

The copy keeps the repository clean (logs, markers and virtual environments go into it) and
makes ${SITE_DIR} an absolute path without symbolic links, so expected values such as
`prefix=${SITE_DIR}/venv` compare as plain strings.
"""

import grp
import os
import pwd
import shutil
import socket
import subprocess
import sys
from pathlib import Path

SITES = Path(__file__).resolve().parent

# The virtual environments each site names with python-home=, relative to its directory.
VENVS = {
    "django_like": ["venv"],
    "multi_group_vhosts": ["venvs/front", "venvs/api"],
}


def free_ports(count):
    """Distinct TCP ports free on every interface right now."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def prepare(name, dest, python=None):
    """Copies site `name` under `dest` and returns the variables its files use.

    `python` makes the virtual environments; it must be the Python version oxwsgi embeds
    (the default, the running interpreter, is the one the test suite runs under).
    """
    site = Path(dest).resolve() / name
    # symlinks=True keeps conf-enabled/ledger.conf a link to ../conf-available, as a2enconf makes it.
    shutil.copytree(SITES / name, site, symlinks=True)
    for sub in ("logs", "run"):
        (site / sub).mkdir(exist_ok=True)
    for venv in VENVS.get(name, []):
        subprocess.run(
            [python or sys.executable, "-m", "venv", "--without-pip", str(site / venv)],
            check=True,
        )
    port_a, port_b = free_ports(2)
    return {
        "SITE_DIR": str(site),
        "PORT_A": str(port_a),
        "PORT_B": str(port_b),
        "TEST_USER": pwd.getpwuid(os.getuid()).pw_name,
        "TEST_GROUP": grp.getgrgid(os.getgid()).gr_name,
    }
