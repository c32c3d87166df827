"""`start-server --envvars-script FILE`: mod_wsgi-express's apachectl sources the script before
starting httpd, so what it exports is the environment of the server and of the application.
oxwsgi sources it with /bin/sh before resolving anything: the variables reach `os.environ`,
count for `--passenv` and for `${VAR}` in `--include-file`; a script that stops the shell stops
the start with the shell's own message, exit status 2, nothing listening. (With setup-server,
the script is written into SERVER_ROOT/envvars instead: see test_setup_server.py.)"""

import json
import os
import subprocess
import urllib.request

import pytest

from support import BINARY, VENV, Server, free_port, port_is_listening


@pytest.fixture
def site(tmp_path):
    (tmp_path / "app.wsgi").write_text(
        "import json, os\n"
        "def application(environ, start_response):\n"
        "    names = ('DATABASE_URL', 'OXWSGI_TEST_UNSET_BY_SCRIPT', 'OXWSGI_TEST_KEPT',\n"
        "             'OXWSGI_ENVVARS_SOURCED')\n"
        "    body = json.dumps({\n"
        "        'os_environ': {n: os.environ.get(n) for n in names},\n"
        "        'environ': {n: environ.get(n) for n in names},\n"
        "    }).encode()\n"
        "    start_response('200 OK', [('Content-Type', 'application/json')])\n"
        "    return [body]\n"
    )
    return tmp_path


def get(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def test_exported_variables_reach_the_application_and_passenv(site):
    script = site / "envvars"
    # What people put there: a value with spaces and `=`, an echo (which must not be taken for
    # the environment), a variable unset, and a last command that fails, which apachectl
    # ignores too.
    script.write_text(
        "echo setting the environment\n"
        "DATABASE_URL='postgres://app:s3cret@db/app?sslmode=require&x=a b'\n"
        "export DATABASE_URL\n"
        "unset OXWSGI_TEST_UNSET_BY_SCRIPT\n"
        "[ -f /nonexistent/oxwsgi ] && export NEVER=1\n"
        f"echo once >> '{site / 'sourced.log'}'\n"
    )
    srv = Server(["--envvars-script", script, "--passenv", "DATABASE_URL", site / "app.wsgi"],
                 site, env={"OXWSGI_TEST_UNSET_BY_SCRIPT": "before", "OXWSGI_TEST_KEPT": "kept"})
    try:
        seen = json.loads(get(srv.url + "/"))
        url = "postgres://app:s3cret@db/app?sslmode=require&x=a b"
        # (The server's mark that it runs in the script's environment is not the app's.)
        assert seen["os_environ"] == {"DATABASE_URL": url, "OXWSGI_TEST_UNSET_BY_SCRIPT": None,
                                      "OXWSGI_TEST_KEPT": "kept", "OXWSGI_ENVVARS_SOURCED": None}
        # --passenv copies it into the request's environ, as it does a variable of the shell.
        assert seen["environ"] == {"DATABASE_URL": url, "OXWSGI_TEST_UNSET_BY_SCRIPT": None,
                                   "OXWSGI_TEST_KEPT": None, "OXWSGI_ENVVARS_SOURCED": None}
        # Sourced once, as apachectl does, though the command executes itself again.
        assert (site / "sourced.log").read_text() == "once\n"
        # The script's output is passed on to standard error, not lost and not parsed.
        assert "setting the environment\n" in srv.stderr
    finally:
        srv.stop()


def test_variables_count_for_include_files(site):
    (site / "static").mkdir()
    (site / "static" / "hello.txt").write_text("from the aliased directory\n")
    (site / "extra.conf").write_text("Alias /files ${OXWSGI_TEST_FILES}\n")
    script = site / "envvars.sh"
    script.write_text(f"export OXWSGI_TEST_FILES='{site / 'static'}'\n")
    srv = Server(["--envvars-script", script, "--include-file", site / "extra.conf",
                  site / "app.wsgi"], site)
    try:
        assert get(srv.url + "/files/hello.txt") == b"from the aliased directory\n"
    finally:
        srv.stop()


def start(site, script, cwd=None):
    port = free_port()
    done = subprocess.run(
        [str(BINARY), "start-server", "--port", str(port), "--python-home", str(VENV),
         "--server-root", str(site / "root"), "--envvars-script", str(script),
         str(site / "app.wsgi")],
        capture_output=True, text=True, timeout=60, cwd=cwd or site,
        env={k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"},
    )
    return done, port


def shell_says(script):
    """What /bin/sh itself writes when sourcing `script` (dash and bash word it differently)."""
    return subprocess.run(["/bin/sh", "-c", '. "$1"', "sh", str(script)],
                          capture_output=True, text=True, timeout=30).stderr.strip()


def test_a_script_that_exits_stops_the_start(site):
    script = site / "envvars.sh"
    script.write_text("echo 'DATABASE_URL is not set' >&2\nexit 3\n")
    done, port = start(site, script)
    assert done.returncode == 2, done
    assert done.stderr == (f"oxwsgi: the --envvars-script {script} failed (/bin/sh exited with "
                           "status 3): DATABASE_URL is not set\n")
    assert done.stdout == ""
    assert not port_is_listening(port)


def test_a_script_with_a_syntax_error_stops_the_start_with_the_shells_message(site):
    script = site / "envvars.sh"
    script.write_text("if true; then\n  export A=1\n")
    said = shell_says(script)
    assert said  # the shell does complain
    done, port = start(site, script)
    assert done.returncode == 2, done
    assert done.stderr == (f"oxwsgi: the --envvars-script {script} failed (/bin/sh exited with "
                           f"status 2): {said}\n")
    assert not port_is_listening(port)


def test_a_missing_script_is_named(site):
    done, port = start(site, "no-such-envvars.sh")
    assert done.returncode == 2, done
    assert done.stderr == ("oxwsgi: cannot read the --envvars-script no-such-envvars.sh: "
                           "No such file or directory (os error 2)\n")
    assert not port_is_listening(port)


def test_a_relative_script_is_the_file_not_a_search_of_path(site):
    # `. NAME` without a slash searches $PATH in sh; the option names a file.
    (site / "envvars.sh").write_text("exit 4\n")
    done, _ = start(site, "envvars.sh")
    assert done.returncode == 2, done
    assert done.stderr == ("oxwsgi: the --envvars-script envvars.sh failed (/bin/sh exited "
                           "with status 4)\n")


def test_help_says_what_the_script_is_for():
    shown = subprocess.run([str(BINARY), "start-server", "--help"], capture_output=True,
                           text=True, check=True).stdout
    assert "--envvars-script <FILE-PATH>" in shown
    assert "--passenv" in shown.split("--envvars-script <FILE-PATH>")[1][:600]
