"""Helpers for the integration tests: start the real oxwsgi binary, talk to it over real
sockets, read its logs, and stop it by its own pid."""

import os
import pathlib
import pwd
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
APPS = ROOT / "tests" / "apps"
EXAMPLES = ROOT / "examples"
VENV = pathlib.Path(os.environ.get("OXWSGI_TEST_VENV", ROOT / ".venv"))
# The `oxwsgi` under test: the cargo-built binary, or the command of an installed wheel
# (OXWSGI_BIN=<venv>/bin/oxwsgi); the tests need only its path.
BINARY = pathlib.Path(
    os.environ.get("OXWSGI_BIN", ROOT / "target" / "release" / "oxwsgi")
)
# An installed wheel's `oxwsgi` (a console script in a virtual environment), not the binary.
WHEEL = (BINARY.parent.parent / "pyvenv.cfg").exists()

# Started as root, workers must run as a named user: the tests use `oxwsgi-test`, which
# scripts/test creates (with the right to traverse to the embedded Python).
TEST_USER = "oxwsgi-test" if os.getuid() == 0 else None


def user_directive():
    """httpd's `User` line for a site file: the test user when root, else nothing."""
    if TEST_USER is None:
        return ""
    try:
        pwd.getpwnam(TEST_USER)
    except KeyError:
        pytest.fail(f"the user {TEST_USER} is missing: run scripts/test, which creates it")
    return f"User {TEST_USER}"


_counter = 0
READY = re.compile(r"\[supervisor:notice\] .* ready: serving ")


class ServerFailed(Exception):
    """The server exited or never became ready."""


class Server:
    """One running `oxwsgi start-server`, with its output captured in files.

    The server listens on a free port (``--port 0``); the port is read from the ``Server URL``
    line of the banner. Logs go to the terminal streams, which are captured, unless the test
    asks for log files. `binary` runs another `oxwsgi` than the one under test (an installed
    wheel's).
    """

    def __init__(
        self,
        args,
        workdir,
        env=None,
        cwd=None,
        python_home=True,
        log_to_terminal=True,
        port="0",
        wait=True,
        apache=False,
        binary=None,
    ):
        global _counter
        _counter += 1
        self.workdir = pathlib.Path(workdir)
        self.server_root = self.workdir / f"root-{_counter}"
        self.stdout_path = self.workdir / f"stdout-{_counter}.log"
        self.stderr_path = self.workdir / f"stderr-{_counter}.log"
        # With `apache`, `args` are the --config options: the files say where to listen and
        # which Python runs.
        command = [str(binary or BINARY), "start-server"]
        if not apache:
            command += ["--port", str(port)]
        command += ["--server-root", str(self.server_root)]
        if log_to_terminal:
            command.append("--log-to-terminal")
        if python_home and not apache:
            command += ["--python-home", str(VENV)]
        command += [str(a) for a in args]
        self.command = command
        full_env = dict(os.environ)
        full_env.pop("VIRTUAL_ENV", None)
        full_env.update(env or {})
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                command,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                cwd=cwd or ROOT,
                env=full_env,
            )
        self.pid = self.proc.pid
        self.port = None
        if wait:
            try:
                self.wait_ready()
            except ServerFailed:
                # Not left running for the rest of the session: stopped by its own pid.
                self.stop()
                raise

    # --- lifecycle -------------------------------------------------------------------------

    def wait_ready(self, timeout=60):
        """Waits for the banner (which has the port) and the supervisor's "ready" line (every
        worker has loaded its application and listens)."""
        deadline = time.monotonic() + timeout
        while True:
            # The first listener's URL (HTTPS when it is the only one).
            match = re.search(r"Server URL(?: \(HTTPS\))?\s*: https?://[^/]+:(\d+)/",
                              self.stdout)
            if match and READY.search(self.stderr):
                self.port = int(match.group(1))
                break
            if self.proc.poll() is not None:
                raise ServerFailed(
                    f"oxwsgi exited with {self.proc.returncode}\n"
                    f"command: {self.command}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"
                )
            if time.monotonic() > deadline:
                raise ServerFailed(f"oxwsgi not ready after {timeout}s:\n{self.stderr}")
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}"

    def send_signal(self, signum):
        os.kill(self.pid, signum)

    def wait_exit(self, timeout=30):
        return self.proc.wait(timeout=timeout)

    def stop(self, signum=signal.SIGTERM, timeout=30):
        """Stops the server by its pid; returns its exit code."""
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signum)
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                pass
        return self.proc.returncode

    @property
    def running(self):
        return self.proc.poll() is None

    # --- output ----------------------------------------------------------------------------

    @property
    def stdout(self):
        return self.stdout_path.read_text(errors="replace")

    @property
    def stderr(self):
        return self.stderr_path.read_text(errors="replace")

    def error_log(self):
        """The error log: standard error with --log-to-terminal, else the file."""
        path = self.server_root / "error_log"
        if path.exists():
            return self.stderr + path.read_text(errors="replace")
        return self.stderr

    def wait_for_log(self, pattern, timeout=15, source=None):
        """Waits until the error log (or `source()`) matches `pattern`; returns the match."""
        source = source or self.error_log
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, source(), re.MULTILINE)
            if match:
                return match
            if time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} in the log:\n{source()}")
            time.sleep(0.05)

    def worker_pids(self):
        """The pids of the supervisor's worker processes (its children)."""
        children = pathlib.Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text()
        return [int(pid) for pid in children.split()]

    def worker_pid(self):
        """The pid of the only worker process."""
        (pid,) = self.worker_pids()
        return pid

    def rss_kib(self, field="VmRSS", pid=None):
        """Resident memory of the (only) worker in KiB (VmRSS, or VmHWM for the peak)."""
        pid = pid or self.worker_pid()
        status = pathlib.Path(f"/proc/{pid}/status").read_text()
        return int(re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE).group(1))

    # --- raw HTTP ----------------------------------------------------------------------------

    def connect(self, timeout=10):
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        return sock

    def raw(self, data, timeout=10):
        """Sends raw bytes on a new connection and returns everything read until it closes."""
        with self.connect(timeout) as sock:
            sock.sendall(data)
            return read_until_closed(sock)


def read_until_closed(sock):
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def read_response(sock):
    """Reads one HTTP/1.1 response (Content-Length or chunked) from a socket; returns
    (status line, headers dict with lower-case names, body)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before the head ended: {buf!r}")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status, headers = lines[0], {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        length = int(headers["content-length"])
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed before the body ended")
            rest += chunk
        return status, headers, rest[:length], rest[length:]
    if headers.get("transfer-encoding") == "chunked":
        body = b""
        while True:
            while b"\r\n" not in rest:
                rest += sock.recv(65536)
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line, 16)
            while len(rest) < size + 2:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed inside a chunk")
                rest += chunk
            body += rest[:size]
            rest = rest[size + 2 :]
            if size == 0:
                return status, headers, body, rest
    return status, headers, rest, b""


_ports_given = set()


def free_port():
    """A port free on loopback now, and not one this process handed out before: a test that
    asks for two (HTTP and HTTPS, an app and its metrics) gets two different ones, which the
    kernel alone does not promise once the first is closed again."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _ports_given:
            _ports_given.add(port)
            return port


def port_is_listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def read_int(path):
    """The whole number a file holds (a pid a test application wrote), or None."""
    try:
        return int(pathlib.Path(path).read_text())
    except (FileNotFoundError, ValueError):
        return None


def process_title(pid):
    """The title (`argv[0]`) of process `pid`, or None once it is gone."""
    try:
        return pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except FileNotFoundError:
        return None


def is_gone(pid):
    """Whether process `pid` has ended (a zombie counts as ended)."""
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def wait_for_file(path, timeout=15):
    deadline = time.monotonic() + timeout
    path = pathlib.Path(path)
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.02)
    return path


def wait_until(condition, timeout=30, what="condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def closed_tags(state_dir):
    """The tags of the close() calls the test applications recorded, in order."""
    path = state_dir / "closed.log"
    return path.read_text().split() if path.exists() else []


def closing_threads(state_dir):
    """{tag: the Python thread (threading.get_ident()) of its first close() call}, as the test
    applications recorded them."""
    path = state_dir / "closed-by.log"
    threads = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        tag, thread = line.split()
        threads.setdefault(tag, thread)
    return threads


def wait_closed(state_dir, tag, url, timeout=15):
    """Waits for close() of `tag`, then until the Python thread that called it has taken a later
    request: a thread takes a new request only once it is done with the old one, so by then a
    wrong second close() would have been recorded. Returns how many times close() was called.

    The later requests (`url` + "/thread/hold") are held in the application until that thread
    is found: each takes a thread of its own, so it is found within as many requests as the
    process has threads."""
    wait_until(lambda: tag in closing_threads(state_dir), timeout, what=f"close() of {tag}")
    thread = closing_threads(state_dir)[tag]
    held = []
    try:
        while True:
            fence = f"{tag}-{len(held)}"
            client = threading.Thread(
                target=_get, args=(f"{url}/thread/hold?tag={fence}", timeout * 4), daemon=True
            )
            client.start()
            held.append((fence, client))
            holding = state_dir / f"holding-{fence}"
            wait_until(lambda: holding.exists() and holding.read_text().strip(), timeout,
                       what=f"request {fence} to reach a Python thread")
            if holding.read_text().strip() == thread:
                break
    finally:
        for fence, _ in held:
            (state_dir / f"unhold-{fence}").touch()
        for _, client in held:
            client.join(timeout)
    return closed_tags(state_dir).count(tag)


def _get(url, timeout):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        response.read()


def wait_until_steady(read, what, timeout=30, polls=5):
    """Waits until `read()` returns the same value on `polls` polls in a row (something that
    progressed has stopped: an application blocked by a client that reads nothing); returns
    that value."""
    seen = []

    def steady():
        seen.append(read())
        return len(seen) >= polls and all(value == seen[-1] for value in seen[-polls:])

    wait_until(steady, timeout, what=f"{what} to stop changing")
    return seen[-1]


def recv_until(sock, done, received=b""):
    """Reads from `sock` until `done(received)` holds; fails if the server closes first."""
    while not done(received):
        chunk = sock.recv(65536)
        assert chunk, f"connection closed early after {received[-200:]!r}"
        received += chunk
    return received
