"""`pip install oxwsgi`: the wheel, installed into fresh virtual environments, serves.

The wheels are built once per test session (scripts/wheels, a release build each) for Debian's
`/usr/bin/python3` and for one other CPython minor version found here, or taken ready-made
from OXWSGI_WHEEL_DIR (scripts/test builds them there before the tests run). Each is installed
with `pip install --no-index` into a new virtual environment, whose `oxwsgi` then runs the real
server on real sockets. A missing interpreter fails the tests saying what to install; nothing
is skipped.
"""

import fcntl
import glob
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import types
import urllib.request
import zipfile

import pytest

from support import APPS, EXAMPLES, ROOT, Server, wait_until
from test_setup_server import is_gone

DEBIAN_PYTHON = pathlib.Path("/usr/bin/python3")
PREFIX_APP = APPS / "wheel_prefix.wsgi"


def version_of(python):
    """`major.minor` plus ABI flags (`3.13t`): what a wheel must match."""
    return subprocess.run(
        [str(python), "-c",
         "import sys; v = sys.version_info; "
         "print('%d.%d%s' % (v[0], v[1], getattr(sys, 'abiflags', '')))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()


def other_python():
    """A CPython 3.9+ of another minor version than Debian's, from wherever this machine has
    one (pyenv, uv, /usr/local)."""
    wanted = version_of(DEBIAN_PYTHON)
    home = pathlib.Path.home()
    patterns = [
        "/usr/local/bin/python3.*",
        "/usr/bin/python3.*",
        f"{os.environ.get('PYENV_ROOT', home / '.pyenv')}/versions/*/bin/python3.*",
        f"{home}/.local/share/uv/python/*/bin/python3.*",
    ]
    for pattern in patterns:
        for candidate in sorted(glob.glob(pattern)):
            if candidate.endswith("-config") or not os.access(candidate, os.X_OK):
                continue
            try:
                found = version_of(candidate)
            except (subprocess.CalledProcessError, OSError):
                continue
            major, minor = (int(n) for n in re.match(r"(\d+)\.(\d+)", found).groups())
            if (major, minor) >= (3, 9) and found != wanted and not found.endswith("t"):
                return pathlib.Path(candidate)
    pytest.fail(
        f"no CPython 3.9+ other than {wanted} on this machine: the wheel tests install the "
        "wheel into two minor versions; install one (pyenv install 3.12, or uv python install "
        "3.12)"
    )


@pytest.fixture(scope="session")
def pythons():
    """Debian's python3 and another minor version, each able to make virtual environments."""
    if not DEBIAN_PYTHON.exists():
        pytest.fail(f"{DEBIAN_PYTHON} is missing: apt-get install python3 python3-venv")
    check = subprocess.run([str(DEBIAN_PYTHON), "-c", "import venv, ensurepip"],
                           capture_output=True)
    if check.returncode != 0:
        pytest.fail(f"{DEBIAN_PYTHON} cannot make virtual environments: "
                    "apt-get install python3-venv")
    return {"debian": DEBIAN_PYTHON, "other": other_python()}


@pytest.fixture(scope="session")
def wheels(pythons, tmp_path_factory):
    """The wheel for each Python version, by version (`3.11`): from OXWSGI_WHEEL_DIR, else
    built once for the session (the pytest-xdist workers share one build, under a lock)."""
    given = os.environ.get("OXWSGI_WHEEL_DIR")
    if given:
        directory = pathlib.Path(given)
    else:
        shared = tmp_path_factory.getbasetemp().parent
        directory = shared / "wheels"
        with open(shared / "wheels.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (directory / "done").exists():
                subprocess.run(
                    [str(ROOT / "scripts" / "wheels"), str(directory),
                     *(str(p) for p in pythons.values())],
                    check=True, cwd=ROOT,
                )
                (directory / "done").touch()
    found = {}
    for python in pythons.values():
        version = version_of(python)
        tag = "cp" + version.replace(".", "")
        matches = sorted(directory.glob(f"oxwsgi-*-{tag}-{tag}-*.whl"))
        assert matches, f"no {tag} wheel in {directory}: {sorted(directory.iterdir())}"
        found[version] = matches[-1]
    return found


def make_venv(python, path, with_pip=True):
    args = [str(python), "-m", "venv"]
    if not with_pip:
        args.append("--without-pip")
    subprocess.run([*args, str(path)], check=True)
    return path


@pytest.fixture(scope="session")
def installed(pythons, wheels, tmp_path_factory):
    """A fresh virtual environment per Python (Debian's, the other), the wheel installed in it
    with `pip install --no-index`."""
    venvs = {}
    for name, python in pythons.items():
        venv = make_venv(python, tmp_path_factory.mktemp(f"venv-{name}") / "venv")
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "--quiet", "--no-index",
             "--disable-pip-version-check", str(wheels[version_of(python)])],
            check=True,
        )
        venvs[name] = venv
    return venvs


def fetch(srv, path="/"):
    with urllib.request.urlopen(f"{srv.url}{path}", timeout=30) as response:
        return response.status, response.read().decode()


def cmdline(pid):
    return pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]


@pytest.mark.parametrize("which", ["debian", "other"])
def test_the_installed_wheel_serves_from_a_fresh_venv(which, installed, tmp_path):
    venv = installed[which]
    srv = Server([EXAMPLES / "hello.wsgi"], tmp_path, python_home=False,
                 binary=venv / "bin" / "oxwsgi")
    try:
        assert fetch(srv) == (200, "Hello World!\n")
        version = version_of(venv / "bin" / "python")
        assert re.search(rf"Python\s+: Python {re.escape(version)} \({re.escape(str(venv))}\)",
                         srv.stdout), srv.stdout
        # The titles of issue 3, written over the interpreters' arguments.
        assert cmdline(srv.pid) == b"oxwsgi: supervisor"
        assert cmdline(srv.worker_pid()) == b"oxwsgi: worker 1 [localhost:0]"
        assert pathlib.Path(f"/proc/{srv.pid}/comm").read_text() == "oxwsgi\n"
        assert pathlib.Path(f"/proc/{srv.worker_pid()}/comm").read_text() == "oxwsgi-worker\n"
    finally:
        assert srv.stop(signal.SIGINT) == 0
    # Ctrl-C is the server's: no KeyboardInterrupt from the interpreter it runs in.
    assert "KeyboardInterrupt" not in srv.stderr and "Traceback" not in srv.stderr, srv.stderr


def test_the_installed_wheel_sources_an_envvars_script(installed, tmp_path):
    """With the Python package, the command executes the interpreter again (`python -m oxwsgi`)
    with the script's environment: the application sees it."""
    venv = installed["debian"]
    (tmp_path / "app.wsgi").write_text(
        "import os\n"
        "def application(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [os.environ.get('OXWSGI_TEST_FROM_SCRIPT', 'unset').encode()]\n"
    )
    (tmp_path / "envvars").write_text("export OXWSGI_TEST_FROM_SCRIPT='from the script'\n")
    srv = Server(["--envvars-script", tmp_path / "envvars", tmp_path / "app.wsgi"], tmp_path,
                 python_home=False, binary=venv / "bin" / "oxwsgi")
    try:
        assert fetch(srv) == (200, "from the script")
        assert cmdline(srv.pid) == b"oxwsgi: supervisor"
    finally:
        assert srv.stop() == 0


def extension_files(wheel, tmp_path):
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n.startswith("oxwsgi/_oxwsgi")]
        archive.extractall(tmp_path, names)
    return [tmp_path / n for n in names]


def test_the_wheel_ships_the_django_app_and_its_commands(wheels):
    """`oxwsgi.django` (manage.py runoxwsgi / runmodwsgi, tests/test_django_command.py) is in
    every wheel."""
    wanted = {
        "oxwsgi/django/__init__.py",
        "oxwsgi/django/apps.py",
        "oxwsgi/django/management/__init__.py",
        "oxwsgi/django/management/commands/__init__.py",
        "oxwsgi/django/management/commands/runoxwsgi.py",
        "oxwsgi/django/management/commands/runmodwsgi.py",
    }
    for wheel in wheels.values():
        with zipfile.ZipFile(wheel) as archive:
            assert wanted <= set(archive.namelist()), archive.namelist()


def test_the_extension_needs_no_libpython(wheels, tmp_path):
    for version, wheel in wheels.items():
        (extension,) = extension_files(wheel, tmp_path / version)
        dynamic = subprocess.run(["readelf", "-d", str(extension)], capture_output=True,
                                 text=True, check=True).stdout
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic)
        assert needed, dynamic
        assert not [lib for lib in needed if "python" in lib], needed


def libpython_files():
    """Every libpython shared library on this machine (Debian's, /usr/local's, pyenv's)."""
    home = pathlib.Path.home()
    patterns = ["/usr/lib/libpython3*.so*", "/usr/lib/*/libpython3*.so*",
                "/usr/local/lib/libpython3*.so*",
                f"{os.environ.get('PYENV_ROOT', home / '.pyenv')}/versions/*/lib/libpython3*.so*"]
    files = {os.path.realpath(f) for p in patterns for f in glob.glob(p)}
    return sorted(f for f in files if os.path.isfile(f))


def hidden_libpython_wrapper(tmp_path, program):
    """A script that runs `program` in a private mount namespace where /dev/null is bound over
    every libpython (as root, else in a user namespace of one's own)."""
    hide = "".join(f"mount --bind /dev/null {f} && " for f in libpython_files())
    unshare = "unshare -m" if os.geteuid() == 0 else "unshare -r -m"
    wrapper = tmp_path / "hidden-libpython"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"exec {unshare} --propagation private sh -c "
        f"'{hide}exec \"$0\" \"$@\"' "
        f"'{program}' \"$@\"\n"
    )
    wrapper.chmod(0o755)
    return wrapper


def test_the_wheel_serves_with_the_system_libpython_hidden(installed, tmp_path):
    assert libpython_files(), "no libpython on this machine to hide"
    # Hidden indeed: the shared library cannot be loaded in the namespace.
    probe = hidden_libpython_wrapper(tmp_path, DEBIAN_PYTHON)
    loaded = subprocess.run(
        [str(probe), "-c",
         "import ctypes, sysconfig; ctypes.CDLL(sysconfig.get_config_var('INSTSONAME'))"],
        capture_output=True, text=True,
    )
    assert loaded.returncode != 0, "libpython could still be loaded"
    assert "invalid ELF header" in loaded.stderr or "OSError" in loaded.stderr, loaded.stderr

    wrapper = hidden_libpython_wrapper(tmp_path, installed["debian"] / "bin" / "oxwsgi")
    srv = Server([EXAMPLES / "hello.wsgi"], tmp_path, python_home=False, binary=wrapper)
    try:
        assert fetch(srv) == (200, "Hello World!\n")
    finally:
        assert srv.stop() == 0


def test_python_home_runs_a_venv_without_oxwsgi(pythons, installed, tmp_path):
    """The extension is loaded by its path: the other environment's sys.path stays its own."""
    other = make_venv(pythons["debian"], tmp_path / "plain", with_pip=False)
    srv = Server(["--python-home", other, PREFIX_APP], tmp_path, python_home=False,
                 binary=installed["debian"] / "bin" / "oxwsgi")
    try:
        status, body = fetch(srv)
        assert status == 200
        prefix, executable, argv, has_oxwsgi = body.split("\n")
        assert prefix == str(other)
        assert executable == str(other / "bin" / "python")
        assert argv == "['oxwsgi']"
        assert has_oxwsgi == "False"
    finally:
        srv.stop()


def test_python_home_of_another_version_is_refused_naming_both(pythons, installed, tmp_path):
    other = make_venv(pythons["other"], tmp_path / "other", with_pip=False)
    result = subprocess.run(
        [str(installed["debian"] / "bin" / "oxwsgi"), "start-server", "--port", "0",
         "--server-root", str(tmp_path / "root"), "--python-home", str(other),
         str(EXAMPLES / "hello.wsgi")],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2, result
    ours, theirs = version_of(pythons["debian"]), version_of(pythons["other"])
    assert f"is a Python {theirs} environment" in result.stderr, result.stderr
    assert f"installed in Python {ours}" in result.stderr, result.stderr
    assert "Server URL" not in result.stdout


if __name__ == "__main__":
    # `python tests/test_wheel.py --pythons`: the interpreters these tests build wheels for, so
    # that scripts/test builds them before the tests start (no build competes with tests).
    if sys.argv[1:] != ["--pythons"]:
        sys.exit("usage: python tests/test_wheel.py --pythons")
    try:
        print(DEBIAN_PYTHON, other_python())
    except pytest.fail.Exception as failure:
        sys.exit(f"tests/test_wheel.py: {failure}")


def test_setup_server_from_the_wheel_writes_a_control_script_that_runs_it(installed, tmp_path):
    """`setup-server` run by the wheel's `oxwsgi`: its control script starts the server in
    that venv's Python, which serves, and stops it by the pid file."""
    venv = installed["debian"]
    root = tmp_path / "root"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = subprocess.run(
        [str(venv / "bin" / "oxwsgi"), "setup-server", "--port", str(port), "--server-root",
         str(root), str(EXAMPLES / "hello.wsgi")],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    control = root / "apachectl"

    def run(action):
        return subprocess.run([str(control), action], capture_output=True, text=True,
                              timeout=120)

    started = run("start")
    pid_file = root / "oxwsgi.pid"
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        pid = int(pid_file.read_text())
        # The supervisor is the venv's interpreter, titled after start.
        assert os.readlink(f"/proc/{pid}/exe") == os.path.realpath(venv / "bin" / "python")
        assert cmdline(pid) == b"oxwsgi: supervisor"
        served = types.SimpleNamespace(url=f"http://127.0.0.1:{port}")

        def answers():
            try:
                return fetch(served) == (200, "Hello World!\n")
            except OSError:
                return False

        wait_until(answers, what="the server started by the control script to answer")
    finally:
        stopped = run("stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert not pid_file.exists()
    assert is_gone(pid)
