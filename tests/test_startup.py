"""Start-up: a broken application or configuration is reported, naming what is wrong, and the
server exits before anything listens. Also the Python environment options."""

import re
import subprocess
import sys

import pytest
import requests

from support import (
    APPS,
    BINARY,
    WHEEL,
    EXAMPLES,
    Server,
    free_port,
    port_is_listening,
    wait_for_file,
    wait_until,
)


def start_failing(tmp_path, *args, python_home=True):
    """Starts a server that must fail; returns its exit status, what the failing worker printed
    (without the supervisor's closing line) and standard output."""
    port = free_port()
    srv = Server(list(args), tmp_path, port=port, wait=False, python_home=python_home)
    code = srv.wait_exit(timeout=60)
    assert not port_is_listening(port), "nothing may listen after a failed start"
    stderr = srv.stderr
    closing = (
        f"oxwsgi: the first worker of process group 'localhost:{port}' could not start "
        "(exit status 3: the application could not be loaded); see above for why\n"
    )
    if code == 1:
        assert stderr.endswith(closing), stderr
        stderr = stderr[: -len(closing)]
    return code, stderr, srv.stdout


def test_missing_script_file_is_named_and_nothing_listens(tmp_path):
    code, stderr, stdout = start_failing(tmp_path, "/nonexistent/app.wsgi")
    assert code == 2
    assert stderr == (
        "oxwsgi: the WSGI script file '/nonexistent/app.wsgi' cannot be read: "
        "No such file or directory (os error 2)\n"
    )
    assert stdout == ""


def test_syntax_error_names_the_file_and_line(tmp_path):
    code, stderr, _ = start_failing(tmp_path, APPS / "syntax_error.wsgi")
    script = APPS / "syntax_error.wsgi"
    assert code == 1
    assert stderr.startswith(f"oxwsgi: failed to load the WSGI script '{script}':\n")
    assert f'File "{script}", line 3' in stderr
    assert "SyntaxError: expected ':'" in stderr
    assert stderr.rstrip().endswith(f"hint: fix the syntax error at {script} line 3")


def test_missing_callable_names_the_file_and_the_name(tmp_path):
    code, stderr, _ = start_failing(tmp_path, APPS / "no_callable.wsgi")
    assert code == 1
    assert stderr == (
        f"oxwsgi: the WSGI script '{APPS / 'no_callable.wsgi'}' does not define 'application' "
        "(it defines: app); name the WSGI callable with --callable-object\n"
    )


def test_callable_object_selects_another_name(server):
    srv = server("--callable-object", "app", APPS / "no_callable.wsgi")
    assert requests.get(srv.url + "/").status_code == 200


def test_import_error_prints_the_traceback_and_a_hint(tmp_path):
    code, stderr, _ = start_failing(tmp_path, APPS / "import_error.wsgi")
    assert code == 1
    assert "ModuleNotFoundError: No module named 'module_that_does_not_exist'" in stderr
    assert "hint: module 'module_that_does_not_exist' is not importable by" in stderr


def test_missing_module_for_module_type(tmp_path):
    code, stderr, _ = start_failing(tmp_path, "--application-type", "module", "no_such_mod.wsgi")
    assert code == 1
    assert stderr.startswith("oxwsgi: failed to load the module 'no_such_mod.wsgi':\n")
    assert "ModuleNotFoundError: No module named 'no_such_mod'" in stderr


def test_venv_of_another_python_version_is_refused_naming_both(tmp_path):
    venv = tmp_path / "oldvenv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\nversion = 3.8.10\n")
    code, stderr, _ = start_failing(
        tmp_path, "--python-home", venv, EXAMPLES / "hello.wsgi", python_home=False
    )
    embedded = "%d.%d" % sys.version_info[:2]
    if WHEEL:
        # Installed from the wheel, the interpreter is known before anything starts: the
        # command line is refused (exit status 2), naming both versions.
        assert code == 2
        assert stderr.startswith(
            f"oxwsgi: {venv} is a Python 3.8 environment, but this oxwsgi is installed in "
            f"Python {embedded} ("
        ), stderr
        return
    assert code == 1
    assert stderr == (
        f"oxwsgi: the virtual environment {venv} was made with Python 3.8.10, but this oxwsgi "
        f"embeds Python {embedded}; recreate it with `python{embedded} -m venv {venv}`, or "
        "rebuild oxwsgi against Python 3.8.10 (set PYO3_PYTHON)\n"
    )


@pytest.fixture
def marker_venv(tmp_path):
    """A fresh virtual environment holding a module that exists nowhere else."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "only_in_this_venv.py").write_text("WHERE = 'from the venv'\n")
    app = tmp_path / "uses_venv.wsgi"
    app.write_text(
        "import only_in_this_venv, sys\n"
        "def application(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [(only_in_this_venv.WHERE + ' ' + sys.prefix).encode()]\n"
    )
    return venv, app


def test_python_home_venv_provides_its_site_packages(server, marker_venv):
    venv, app = marker_venv
    srv = server("--python-home", venv, app, python_home=False)
    assert requests.get(srv.url + "/").text == f"from the venv {venv}"
    assert f"({venv})" in srv.stdout  # the banner's Python line shows the venv's prefix


def test_virtual_env_variable_is_the_default_python_home(server, marker_venv):
    venv, app = marker_venv
    srv = server(app, python_home=False, env={"VIRTUAL_ENV": str(venv)})
    assert requests.get(srv.url + "/").text == f"from the venv {venv}"


def test_without_the_venv_its_packages_are_missing(tmp_path, marker_venv):
    _, app = marker_venv
    code, stderr, _ = start_failing(tmp_path, app, python_home=False)
    assert code == 1
    assert "ModuleNotFoundError: No module named 'only_in_this_venv'" in stderr


def test_python_path_and_working_directory(server, tmp_path):
    libdir = tmp_path / "lib"
    (libdir / "extra").mkdir(parents=True)
    (libdir / "mylib.py").write_text("VALUE = 'from python-path'\n")
    (libdir / "extra.pth").write_text(str(libdir / "extra") + "\n")
    (libdir / "extra" / "pthlib.py").write_text("VALUE = 'from a .pth file'\n")
    work = tmp_path / "work"
    work.mkdir()
    (work / "data.txt").write_text("in the working directory\n")
    app = tmp_path / "app.wsgi"
    app.write_text(
        "import os, sys, mylib, pthlib\n"
        "def application(environ, start_response):\n"
        "    body = '\\n'.join([mylib.VALUE, pthlib.VALUE, open('data.txt').read().strip(),\n"
        "                       os.getcwd(), sys.path[0]]).encode()\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [body]\n"
    )
    srv = server("--python-path", libdir, "--working-directory", work, app)
    assert requests.get(srv.url + "/").text.split("\n") == [
        "from python-path",
        "from a .pth file",
        "in the working directory",
        str(work),
        str(work),
    ]


def test_help_explains_every_flag_with_its_default():
    out = subprocess.run(
        [BINARY, "start-server", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for flag, default in [
        ("--application-type <TYPE>", "[default: script]"),
        ("--callable-object <NAME>", "[default: application]"),
        ("--mount-point <URL-PATH>", "[default: /]"),
        ("--port <NUMBER>", "[default: 8000]"),
        ("--threads <NUMBER>", "[default: 5]"),
        ("--limit-request-body <NUMBER>", "[default: 10485760]"),
        ("--keep-alive-timeout <SECONDS>", "[default: 2]"),
        ("--queue-timeout <SECONDS>", "[default: 45]"),
        ("--log-level <NAME>", "[default: warn]"),
        ("--access-log-format <FORMAT>", "[default: common]"),
        ("--python-home <DIRECTORY-PATH>", "[default: $VIRTUAL_ENV, if set]"),
    ]:
        assert flag in out, flag
        section = out[out.index(flag) :]
        end = section.find("\n  -", 1)
        described = " ".join(section[: end if end > 0 else None].split())
        assert default in described, flag


def help_blocks():
    """Each option of `start-server --help`: {flag: (its first line, its whole text on one line)}."""
    out = subprocess.run(
        [BINARY, "start-server", "--help"], capture_output=True, text=True, check=True
    ).stdout
    blocks, current = {}, None
    for line in out.split("\n"):
        start = re.match(r"^\s{2,6}(?:-\w, )?(--[a-z][a-z-]*)", line)
        if start:
            current = start.group(1)
            blocks[current] = [line.strip(), line.strip()]
        elif current and line.startswith(" " * 7):
            blocks[current][1] += " " + line.strip()
        elif current and line.strip() and not line.startswith(" "):
            current = None  # a section heading
    return {flag: (first, " ".join(text.split())) for flag, (first, text) in blocks.items()}


# Options with a value but no default: each says what leaving it out means instead.
NO_DEFAULT = {
    "--entry-point": "instead of the ENTRY_POINT argument",
    "--config": "instead of an ENTRY_POINT",
    "--define": "as httpd's -D does",
    "--python-path": "Repeat for several",
    "--url-alias": "Repeat for several",
    "--include-file": "May be repeated",
    "--from-setup": "instead of reading options",
}


def test_help_describes_every_option():
    blocks = help_blocks()
    assert len(blocks) > 45, sorted(blocks)
    for flag, (first_line, text) in blocks.items():
        if flag in ("--help", "--version"):
            continue
        description = text[len(first_line.strip()):].strip()
        assert len(description) >= 40, f"{flag} is not explained: {text!r}"
        if "<" in first_line:
            expected = NO_DEFAULT.get(flag, "[default: ")
            assert expected in text, f"{flag} does not give its default: {text!r}"


@pytest.mark.parametrize("bad", [["--threads", "0"], ["--mount-point", "/a/../b"]])
def test_invalid_values_are_usage_errors(tmp_path, bad):
    code, stderr, _ = start_failing(tmp_path, *bad, EXAMPLES / "hello.wsgi")
    assert code == 2
    assert stderr.startswith(f"oxwsgi: {bad[0]} ")


def test_a_zero_is_refused_not_raised_to_one(tmp_path):
    code, stderr, _ = start_failing(tmp_path, "--header-timeout", "0", EXAMPLES / "hello.wsgi")
    assert code == 2
    assert stderr == "oxwsgi: --header-timeout 0: a request head needs at least a second\n"


def test_version_names_the_server():
    out = subprocess.run([BINARY, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout == "oxwsgi 0.1.0\n"


def test_python_home_may_be_a_python_installation(server, tmp_path):
    """Without pyvenv.cfg, --python-home is PYTHONHOME: the installation's own prefix."""
    prefix = sys.base_prefix
    app = tmp_path / "prefix.wsgi"
    app.write_text(
        "import sys\n"
        "def application(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [sys.prefix.encode()]\n"
    )
    srv = server("--python-home", prefix, app, python_home=False)
    assert requests.get(srv.url + "/").text == prefix


def test_python_home_that_is_no_python_is_refused(tmp_path):
    empty = tmp_path / "not-python"
    empty.mkdir()
    code, stderr, stdout = start_failing(
        tmp_path, "--python-home", empty, EXAMPLES / "hello.wsgi", python_home=False
    )
    assert code == 2
    assert stderr == (
        f"oxwsgi: --python-home '{empty}' is neither a virtual environment (no pyvenv.cfg) nor a "
        "Python installation (no lib/ directory); give the directory that "
        "`python -c 'import sys; print(sys.prefix)'` prints\n"
    )
    assert stdout == ""


def test_python_path_is_repeatable(server, tmp_path):
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"mod_{name}.py").write_text(f"VALUE = {name!r}\n")
    app = tmp_path / "app.wsgi"
    app.write_text(
        "import mod_one, mod_two\n"
        "def application(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [(mod_one.VALUE + ' ' + mod_two.VALUE).encode()]\n"
    )
    srv = server("--python-path", tmp_path / "one", "--python-path", tmp_path / "two", app)
    assert requests.get(srv.url + "/").text == "one two"


def test_nothing_listens_while_the_application_loads_and_after_it_fails(tmp_path):
    loading = tmp_path / "loading"
    release = tmp_path / "release"
    app = tmp_path / "slow_then_broken.wsgi"
    app.write_text(
        "import os, time\n"
        f"open({str(loading)!r}, 'w').close()\n"
        f"while not os.path.exists({str(release)!r}):\n"
        "    time.sleep(0.05)\n"
        "raise RuntimeError('broken after a slow start')\n"
    )
    port = free_port()
    srv = Server([app], tmp_path, port=port, wait=False)
    # The worker is importing the application, which holds until `release` exists.
    wait_for_file(loading, timeout=30)
    wait_until(lambda: "Server URL" in srv.stdout, timeout=30, what="the banner")
    assert srv.running
    assert not port_is_listening(port), "the port accepted connections before the app loaded"
    release.touch()
    assert srv.wait_exit(timeout=30) == 1
    assert "RuntimeError: broken after a slow start" in srv.stderr
    assert not port_is_listening(port)


def test_missing_paste_config_is_named(tmp_path):
    code, stderr, stdout = start_failing(
        tmp_path, "--application-type", "paste", tmp_path / "missing.ini"
    )
    assert code == 2
    assert stderr == (
        f"oxwsgi: the PasteDeploy configuration file '{tmp_path / 'missing.ini'}' cannot be read: "
        "No such file or directory (os error 2)\n"
    )
    assert stdout == ""


def test_missing_callable_in_a_module_is_named(tmp_path):
    (tmp_path / "plain_module.py").write_text("def app(environ, start_response):\n    pass\n")
    code, stderr, _ = start_failing(
        tmp_path, "--application-type", "module", "--python-path", tmp_path, "plain_module"
    )
    assert code == 1
    assert stderr == (
        "oxwsgi: the module 'plain_module' does not define 'application' (it defines: app); "
        "name the WSGI callable with --callable-object\n"
    )
