import os
import pathlib
import shutil
import tempfile

import pytest

from support import APPS, BINARY, Server


def pytest_configure(config):
    if not BINARY.exists():
        raise pytest.UsageError(
            f"{BINARY} does not exist: build it with `cargo build --release` "
            "(or set OXWSGI_BIN), or run scripts/test"
        )


@pytest.fixture
def server(tmp_path):
    """Starts servers for a test; every one still running is stopped afterwards."""
    started = []

    def start(*args, **kwargs):
        srv = Server(list(args), tmp_path, **kwargs)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


@pytest.fixture
def state_dir(tmp_path):
    """A directory test applications write their observations into (OXWSGI_TEST_STATE)."""
    path = tmp_path / "state"
    path.mkdir()
    return path


@pytest.fixture(scope="module")
def recorder(tmp_path_factory):
    """One server on tests/apps/recorder.wsgi shared by a whole module (the strict HTTP/1.1
    tests, whose cases each use a path of their own); `recorder.state_dir` is where the
    application records its calls."""
    workdir = tmp_path_factory.mktemp("recorder")
    state = workdir / "state"
    state.mkdir()
    srv = Server([APPS / "recorder.wsgi"], workdir, env={"OXWSGI_TEST_STATE": str(state)})
    srv.state_dir = state
    yield srv
    srv.stop()


@pytest.fixture
def site_dir():
    """A directory the workers' user can read (pytest's own are private to root), removed
    afterwards."""
    path = tempfile.mkdtemp(prefix="oxwsgi-site-")
    os.chmod(path, 0o755)
    try:
        yield pathlib.Path(path)
    finally:
        shutil.rmtree(path, ignore_errors=True)
