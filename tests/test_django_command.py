"""`manage.py runoxwsgi` (and mod_wsgi-express's name for it, `runmodwsgi`): the Django app
`oxwsgi.django` in INSTALLED_APPS serves a real project made by `django-admin startproject`
with the oxwsgi server, its admin's static files from STATIC_ROOT.

The command comes from the source tree's python/ (on PYTHONPATH) and runs the binary under test
(OXWSGI_BIN); an installed wheel would run its own `oxwsgi` command instead."""

import os
import re
import signal
import subprocess

import pytest
import requests

from support import BINARY, READY, ROOT, VENV, wait_until

PYTHON = VENV / "bin" / "python"

SETTINGS = """
STATIC_ROOT = BASE_DIR / "collected-static"
INSTALLED_APPS += ["oxwsgi.django"]
# Not Django's own static serving (DEBUG): the files come from the server.
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
"""


def environment():
    env = dict(os.environ)
    env.pop("VIRTUAL_ENV", None)
    env["PYTHONPATH"] = str(ROOT / "python")
    env["OXWSGI_BIN"] = str(BINARY)
    return env


def manage(project, *args):
    return subprocess.run([str(PYTHON), "manage.py", *args], cwd=project, env=environment(),
                          capture_output=True, text=True)


@pytest.fixture
def project(tmp_path):
    """A new Django project with oxwsgi.django installed and its static files collected."""
    project = tmp_path / "project"
    project.mkdir()
    subprocess.run([str(PYTHON), "-m", "django", "startproject", "mysite", str(project)],
                   check=True, env=environment())
    with open(project / "mysite" / "settings.py", "a") as settings:
        settings.write(SETTINGS)
    collected = manage(project, "collectstatic", "--noinput")
    assert collected.returncode == 0, collected.stderr
    return project


@pytest.mark.parametrize("command", ["runoxwsgi", "runmodwsgi"])
def test_manage_py_serves_the_project_and_its_admin_static_files(project, tmp_path, command):
    out, err = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        # Options of `oxwsgi start-server` are passed through.
        server = subprocess.Popen(
            [str(PYTHON), "manage.py", command, "--port", "0", "--server-root",
             str(tmp_path / "root"), "--log-to-terminal", "--threads", "2"],
            cwd=project, env=environment(), stdout=stdout, stderr=stderr,
            stdin=subprocess.DEVNULL)
    try:
        def ready():
            assert server.poll() is None, f"exited: {out.read_text()}{err.read_text()}"
            return READY.search(err.read_text())
        wait_until(ready, timeout=60, what="the server to be ready")
        banner = out.read_text()
        # The command became the server: the supervisor's pid is the one started here.
        supervisor = re.search(r"\[pid (\d+):tid \d+\] \S+ ready: serving", err.read_text())
        assert int(supervisor.group(1)) == server.pid
        assert "Application        : module 'mysite.wsgi' at /\n" in banner
        static_root = project / "collected-static"
        assert f"URL Alias          : /static -> {static_root}/\n" in banner
        assert "Request Capacity   : 2 (1 process * 2 threads)\n" in banner
        url = "http://127.0.0.1:%s" % re.search(r"Server URL\s*: http://[^:]+:(\d+)/",
                                                banner).group(1)

        login = requests.get(url + "/admin/login/")
        assert login.status_code == 200
        assert 'name="username"' in login.text and "Django administration" in login.text

        css = requests.get(url + "/static/admin/css/base.css")
        assert css.status_code == 200
        assert css.headers["Content-Type"].startswith("text/css")
        assert css.content == (static_root / "admin" / "css" / "base.css").read_bytes()
        assert b"body {" in css.content
    finally:
        if server.poll() is None:
            os.kill(server.pid, signal.SIGTERM)
        assert server.wait(timeout=30) == 0


def test_a_project_without_wsgi_application_is_refused_with_a_message(project):
    with open(project / "mysite" / "settings.py", "a") as settings:
        settings.write("WSGI_APPLICATION = None\n")
    refused = manage(project, "runoxwsgi", "--port", "0")
    assert refused.returncode == 1
    assert refused.stderr == (
        "CommandError: WSGI_APPLICATION is not set in the settings: name the WSGI application, "
        "as in WSGI_APPLICATION = 'mysite.wsgi.application'\n"
    )
