"""`oxwsgi setup-server`: the server root it writes (the saved configuration, mod_wsgi-express's
`apachectl` control script, `envvars`, systemd units), the control script driving a real server
(start, graceful under load, stop, configtest, status), and what a service manager sees:
readiness notifications (sd_notify) and socket activation (LISTEN_FDS)."""

import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest

from load import Load
from support import BINARY, READY, VENV, free_port, port_is_listening, wait_for_file, wait_until


def pid_app(path):
    """An application answering with its worker's pid and the service manager's variables it
    can see (none should reach it)."""
    path.write_text(
        "import json, os\n"
        "def application(environ, start_response):\n"
        "    names = ('LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES', 'NOTIFY_SOCKET', 'GREETING')\n"
        "    body = json.dumps({'pid': os.getpid(),\n"
        "                       'env': {n: os.environ[n] for n in names if n in os.environ}})\n"
        "    start_response('200 OK', [('Content-Type', 'application/json')])\n"
        "    return [body.encode()]\n"
    )
    return path


def setup_server(root, *args, command="setup-server", env=None, cwd=None):
    full_env = dict(os.environ)
    full_env.pop("VIRTUAL_ENV", None)
    full_env.update(env or {})
    return subprocess.run(
        [str(BINARY), command, "--server-root", str(root), "--python-home", str(VENV),
         *[str(a) for a in args]],
        capture_output=True, text=True, env=full_env, cwd=cwd or root.parent, timeout=60,
    )


def control(root, *args, env=None):
    """Runs the control script, as a user would; returns the completed process."""
    full_env = dict(os.environ)
    full_env.pop("VIRTUAL_ENV", None)
    full_env.update(env or {})
    return subprocess.run(
        [str(root / "apachectl"), *args], capture_output=True, text=True, env=full_env,
        stdin=subprocess.DEVNULL, timeout=120,
    )


def get_json(port, path="/"):
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return json.loads(response.read())


def answers(port):
    try:
        get_json(port)
        return True
    except OSError:
        return False


def is_gone(pid):
    """Whether process `pid` has ended (a zombie waiting for its parent counts as ended)."""
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state == "Z"


def children(pid):
    path = pathlib.Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return {int(p) for p in path.read_text().split()}
    except FileNotFoundError:
        return set()


@pytest.fixture
def stopped_at_end():
    """Server roots whose server is stopped (by its pid file) after the test, whatever
    happened."""
    roots = []
    yield roots.append
    for root in roots:
        pid_file = root / "oxwsgi.pid"
        try:
            pid = int(pid_file.read_text())
        except (FileNotFoundError, ValueError):
            continue
        if not is_gone(pid):
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda: is_gone(pid), what="the leftover server to end")


# --- what setup-server writes ------------------------------------------------------------------


def test_setup_server_writes_the_server_root_and_prints_the_control_script(tmp_path):
    root = tmp_path / "root"
    port = free_port()
    app = pid_app(tmp_path / "app.wsgi")
    done = setup_server(root, "--port", port, "--graceful-timeout", "7",
                        "--shutdown-timeout", "3", app)
    assert done.returncode == 0, done.stderr
    # mod_wsgi-express's banner, with its setup lines.
    assert f"Server URL         : http://localhost:{port}/" in done.stdout
    assert f"Server Conf        : {root}/oxwsgi.json" in done.stdout
    assert f"Environ Variables  : {root}/envvars" in done.stdout
    assert f"Control Script     : {root}/apachectl" in done.stdout
    assert f"Systemd Service    : {root}/oxwsgi.service" in done.stdout
    assert f"Systemd Socket     : {root}/oxwsgi.socket" in done.stdout
    # Nothing was started.
    assert not (root / "oxwsgi.pid").exists()
    assert not port_is_listening(port)

    control_script = root / "apachectl"
    assert control_script.stat().st_mode & 0o777 == 0o755
    assert control_script.read_text().startswith("#!/bin/sh\n")
    # The configuration may hold secrets (SetEnv): its owner's only.
    saved = root / "oxwsgi.json"
    assert saved.stat().st_mode & 0o777 == 0o600
    content = json.loads(saved.read_text())
    assert content["config"]["listeners"][0]["port"] == port
    assert content["command"][1] == "setup-server"
    assert (root / "envvars").read_text() == ""
    assert (root / "htdocs").is_dir()

    service = (root / "oxwsgi.service").read_text()
    assert "\nType=notify\n" in service
    assert f"\nExecStart={root}/apachectl start -DFOREGROUND\n" in service
    assert "\nExecReload=/bin/kill -HUP $MAINPID\n" in service
    assert "\nKillSignal=SIGTERM\n" in service
    # The graceful and shutdown timeouts (7 + 3), and time for the supervisor to exit.
    assert "\nTimeoutStopSec=20\n" in service
    socket_unit = (root / "oxwsgi.socket").read_text()
    assert re.findall(r"^ListenStream=.*$", socket_unit, re.MULTILINE) == [f"ListenStream={port}"]


def test_setup_server_with_a_host_and_https_lists_every_listener(tmp_path):
    root = tmp_path / "root"
    port, https_port = free_port(), free_port()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                    "/CN=localhost", "-keyout", "site.key", "-out", "site.crt"],
                   cwd=tmp_path, check=True, capture_output=True)
    done = setup_server(root, "--host", "127.0.0.1", "--port", port, "--https-port", https_port,
                        "--ssl-certificate", tmp_path / "site")
    assert done.returncode == 0, done.stderr
    assert f"Server URL (HTTPS) : https://127.0.0.1:{https_port}/" in done.stdout
    listens = re.findall(r"^ListenStream=(.*)$", (root / "oxwsgi.socket").read_text(),
                         re.MULTILINE)
    assert listens == [f"127.0.0.1:{port}", f"127.0.0.1:{https_port}"]
    # The certificate is checked at setup as at start: a broken one writes nothing.
    (tmp_path / "site.key").write_text("not a key\n")
    refused = setup_server(tmp_path / "other", "--port", port, "--https-port", https_port,
                           "--ssl-certificate", tmp_path / "site")
    assert refused.returncode == 2
    assert "site.key" in refused.stderr
    assert not (tmp_path / "other").exists()


def test_a_port_chosen_at_start_gets_no_socket_unit(tmp_path):
    root = tmp_path / "root"
    done = setup_server(root, "--port", "0")
    assert done.returncode == 0, done.stderr
    assert (root / "oxwsgi.service").exists()
    assert not (root / "oxwsgi.socket").exists()
    assert "Systemd Socket" not in done.stdout


@pytest.mark.parametrize("bad", [
    ["--processes", "0"],
    ["--port", "70000"],
    ["--no-such-option"],
    ["missing.wsgi"],
    ["--envvars-script", "env.sh", "--from-setup", "x.json"],
])
def test_setup_server_refuses_a_bad_option_before_writing_anything(tmp_path, bad):
    root = tmp_path / "root"
    done = setup_server(root, *bad)
    assert done.returncode == 2, done
    assert done.stderr.strip()
    assert not root.exists()


def test_start_server_setup_only_writes_the_same_and_serves_nothing(tmp_path):
    root = tmp_path / "root"
    port = free_port()
    done = setup_server(root, "--setup-only", "--port", port, command="start-server")
    assert done.returncode == 0, done.stderr
    assert f"Control Script     : {root}/apachectl" in done.stdout
    for name in ("oxwsgi.json", "apachectl", "envvars", "oxwsgi.service", "oxwsgi.socket"):
        assert (root / name).exists(), name
    assert not port_is_listening(port)


def test_from_setup_takes_no_other_option(tmp_path):
    # (start-server --envvars-script alone sources the script: see test_envvars_script.py.)
    refused = subprocess.run(
        [str(BINARY), "start-server", "--from-setup", str(tmp_path / "oxwsgi.json"),
         "--port", "9"], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    assert "--port cannot be used with --from-setup" in refused.stderr
    missing = subprocess.run(
        [str(BINARY), "start-server", "--from-setup", str(tmp_path / "oxwsgi.json")],
        capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2
    assert f"cannot read {tmp_path}/oxwsgi.json" in missing.stderr


def test_help_describes_setup_server():
    shown = subprocess.run([str(BINARY), "setup-server", "--help"], capture_output=True,
                           text=True, check=True).stdout
    assert "apachectl" in shown and "oxwsgi.service" in shown
    assert "--server-root" in shown and "--envvars-script" in shown
    listed = subprocess.run([str(BINARY), "--help"], capture_output=True, text=True,
                            check=True).stdout
    assert "setup-server" in listed


# --- the control script ------------------------------------------------------------------------


def test_control_script_starts_restarts_under_load_without_a_failure_and_stops(
        tmp_path, stopped_at_end):
    root = tmp_path / "root"
    port = free_port()
    app = pid_app(tmp_path / "app.wsgi")
    done = setup_server(root, "--port", port, "--processes", "2", app)
    assert done.returncode == 0, done.stderr
    stopped_at_end(root)

    started = control(root, "start")
    assert started.returncode == 0, started.stderr
    pid = int(wait_for_file(root / "oxwsgi.pid").read_text())
    # `start` returns once the server runs, as httpd -k start does; both workers are ready
    # when the supervisor says so (a SIGHUP before that finds no restart to make).
    wait_until(lambda: READY.search((root / "error_log").read_text()),
               what="the server to be ready")
    assert answers(port)
    assert "already running" in control(root, "start").stdout
    status = control(root, "status")
    assert status.returncode == 0
    assert f"oxwsgi (pid {pid}) running" in status.stdout

    old_workers = children(pid)
    assert len(old_workers) == 2
    with Load(port) as load:
        load.wait_for_total(300)
        graceful = control(root, "graceful")
        assert graceful.returncode == 0, graceful.stderr
        wait_until(lambda: len(children(pid)) == 2 and not (children(pid) & old_workers),
                   what="every worker to be replaced")
        load.wait_for_total(load.total + 500)
    assert load.failures == [], load.failures[:5]
    # The same supervisor: a rolling restart, not a new server.
    assert int((root / "oxwsgi.pid").read_text()) == pid
    error_log = (root / "error_log").read_text()
    assert "caught SIGHUP: restarting the workers one by one" in error_log

    stopped = control(root, "stop")
    assert stopped.returncode == 0, stopped.stderr
    wait_until(lambda: is_gone(pid), what="the server to end")
    assert not (root / "oxwsgi.pid").exists()
    assert not port_is_listening(port)
    status = control(root, "status")
    assert status.returncode == 3
    assert "not running" in status.stdout
    assert "not running" in control(root, "stop").stdout


def test_control_script_restart_runs_the_configuration_saved_since(tmp_path, stopped_at_end):
    root = tmp_path / "root"
    port = free_port()
    app = pid_app(tmp_path / "app.wsgi")
    assert setup_server(root, "--port", port, app).returncode == 0
    stopped_at_end(root)
    # Not running: restart starts it, as apachectl does.
    restarted = control(root, "restart")
    assert restarted.returncode == 0, restarted.stderr
    assert "not running, trying to start" in restarted.stdout
    first = int(wait_for_file(root / "oxwsgi.pid").read_text())
    wait_until(lambda: answers(port), what="the server to answer")

    # setup-server again, now with two processes; restart stops the old server and runs it.
    assert setup_server(root, "--port", port, "--processes", "2", app).returncode == 0
    restarted = control(root, "restart")
    assert restarted.returncode == 0, restarted.stderr
    assert is_gone(first)
    second = int((root / "oxwsgi.pid").read_text())
    assert second != first
    wait_until(lambda: len(children(second)) == 2, what="two workers")
    wait_until(lambda: answers(port), what="the server to answer")
    assert control(root, "graceful-stop").returncode == 0
    wait_until(lambda: is_gone(second), what="the server to end")


def test_control_script_sources_envvars_for_the_application(tmp_path, stopped_at_end):
    root = tmp_path / "root"
    port = free_port()
    script = tmp_path / "env.sh"
    script.write_text("GREETING='hello from envvars'\nexport GREETING\n")
    done = setup_server(root, "--port", port, "--envvars-script", script,
                        pid_app(tmp_path / "app.wsgi"))
    assert done.returncode == 0, done.stderr
    assert f"Environ Variables  : {script}" in done.stdout
    assert (root / "envvars").read_text() == f". '{script}'\n"
    stopped_at_end(root)
    assert control(root, "start").returncode == 0
    wait_until(lambda: answers(port), what="the server to answer")
    assert get_json(port)["env"] == {"GREETING": "hello from envvars"}
    assert control(root, "stop").returncode == 0


def test_control_script_reports_a_server_that_cannot_start(tmp_path, stopped_at_end):
    root = tmp_path / "root"
    port = free_port()
    assert setup_server(root, "--port", port, pid_app(tmp_path / "app.wsgi")).returncode == 0
    stopped_at_end(root)
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("", port))
        taken.listen()
        started = control(root, "start")
    assert started.returncode == 1
    assert "the server did not start" in started.stderr
    assert "another process is using that port" in started.stderr


def test_configtest_checks_the_saved_configuration(tmp_path):
    root = tmp_path / "root"
    app = pid_app(tmp_path / "app.wsgi")
    assert setup_server(root, "--port", free_port(), app).returncode == 0
    checked = control(root, "configtest")
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.endswith("Syntax OK\n")
    assert str(app) in checked.stdout
    app.unlink()
    checked = control(root, "configtest")
    assert checked.returncode == 2
    assert f"{app} is no longer there" in checked.stderr
    (root / "oxwsgi.json").write_text('{"oxwsgi": "0.0.1", "config": {}}')
    checked = control(root, "configtest")
    assert checked.returncode == 2
    assert "written by oxwsgi 0.0.1" in checked.stderr
    assert "run `oxwsgi setup-server` again" in checked.stderr


# --- systemd -----------------------------------------------------------------------------------


def test_systemd_analyze_verify_accepts_the_units(tmp_path):
    assert shutil.which("systemd-analyze"), \
        "systemd-analyze is not installed: apt-get install systemd (scripts/test does)"
    root = tmp_path / "root"
    assert setup_server(root, "--port", free_port(), "--host", "127.0.0.1").returncode == 0
    verified = subprocess.run(
        ["systemd-analyze", "verify", str(root / "oxwsgi.service"), str(root / "oxwsgi.socket")],
        capture_output=True, text=True, timeout=120)
    assert verified.returncode == 0, verified.stderr
    # systemd only warns about what it ignores (an unknown key or value): none may be there.
    assert verified.stderr.strip() == "", verified.stderr


def notify_socket():
    """A datagram socket at an abstract address, as systemd's NOTIFY_SOCKET is; returns it and
    the variable's value."""
    name = f"oxwsgi-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(60)
    return sock, "@" + name


def next_state(sock):
    """The next notification that changes the state (READY, RELOADING, STOPPING), as a dict;
    STATUS-only ones are skipped."""
    while True:
        fields = dict(line.split("=", 1) for line in sock.recv(4096).decode().splitlines())
        if set(fields) & {"READY", "RELOADING", "STOPPING"}:
            return fields


def test_sd_notify_ready_reloading_ready_stopping(server, tmp_path):
    sock, address = notify_socket()
    with sock:
        srv = server("--processes", "2", pid_app(tmp_path / "app.wsgi"),
                     env={"NOTIFY_SOCKET": address}, wait=False)
        ready = next_state(sock)
        assert ready.get("READY") == "1", ready
        assert "serving" in ready["STATUS"]
        # Ready means serving: every worker listens.
        srv.wait_ready()
        assert get_json(srv.port)["env"] == {}, "the application sees no service variable"
        first = set(srv.worker_pids())

        srv.send_signal(signal.SIGHUP)
        reloading = next_state(sock)
        assert reloading.get("RELOADING") == "1", reloading
        now_usec = time.monotonic_ns() // 1000
        assert 0 < int(reloading["MONOTONIC_USEC"]) <= now_usec
        ready = next_state(sock)
        assert ready.get("READY") == "1", ready
        # READY again only once the restart is over: every worker has a replacement serving
        # (the old ones may still be draining).
        assert len(set(srv.worker_pids()) - first) == 2

        srv.send_signal(signal.SIGTERM)
        stopping = next_state(sock)
        assert stopping.get("STOPPING") == "1", stopping
        assert srv.wait_exit() == 0


def test_no_notification_without_notify_socket_and_a_bad_one_is_only_a_warning(server, tmp_path):
    srv = server(pid_app(tmp_path / "app.wsgi"), env={"NOTIFY_SOCKET": "relative/name"})
    assert get_json(srv.port)["env"] == {}
    srv.wait_for_log(r"NOTIFY_SOCKET=\"relative/name\": .*no readiness notifications are sent")


# --- socket activation -------------------------------------------------------------------------

# What systemd does between fork and exec: the socket as descriptor 3, LISTEN_FDS=1, and
# LISTEN_PID naming the process that is about to exec the server (so: exec, not a child).
LAUNCHER = (
    "import os, sys\n"
    "fd = int(sys.argv[1])\n"
    "if fd != 3:\n"
    "    os.dup2(fd, 3)\n"
    "    os.close(fd)\n"
    "os.environ.update(LISTEN_FDS='1', LISTEN_PID=str(os.getpid()), LISTEN_FDNAMES='web')\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


def activated(tmp_path, listening, app, name):
    """Starts the server as a socket-activated service would be, on `listening`."""
    root = tmp_path / name
    out, err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
    command = [sys.executable, "-c", LAUNCHER, str(listening.fileno()), str(BINARY),
               "start-server", "--port", "0", "--server-root", str(root), "--log-to-terminal",
               "--log-level", "info", "--python-home", str(VENV), str(app)]
    env = dict(os.environ)
    env.pop("VIRTUAL_ENV", None)
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        proc = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=env,
                                pass_fds=(listening.fileno(),), stdin=subprocess.DEVNULL)
    return proc, out, err


def test_socket_activation_serves_on_the_passed_socket_and_keeps_it_across_restarts(tmp_path):
    app = pid_app(tmp_path / "app.wsgi")
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listening.bind(("127.0.0.1", 0))
    listening.listen(64)
    port = listening.getsockname()[1]
    procs = []
    try:
        first, out, err = activated(tmp_path, listening, app, "first")
        procs.append(first)
        # The server took the passed socket (its `--port 0` would have bound another).
        wait_until(lambda: re.search(rf"listening on 127\.0\.0\.1:{port} \(web\) passed by "
                                     r"socket activation", err.read_text()),
                   what="the server to take the passed socket")
        wait_until(lambda: f"Server URL         : http://localhost:{port}/" in out.read_text(),
                   what="the banner")
        assert get_json(port)["env"] == {}, "the workers do not see LISTEN_*"
        first.send_signal(signal.SIGTERM)
        assert first.wait(60) == 0

        # Between two runs the socket stays open: a client's connection waits in its queue and
        # is answered by the next server.
        with socket.create_connection(("127.0.0.1", port), timeout=60) as waiting:
            waiting.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            second, out, err = activated(tmp_path, listening, app, "second")
            procs.append(second)
            answer = b""
            while chunk := waiting.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200 OK"), answer[:200]
        second.send_signal(signal.SIGTERM)
        assert second.wait(60) == 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        listening.close()


def test_activation_variables_for_another_process_are_ignored(server, tmp_path):
    # LISTEN_PID names another process (a parent that did not unset them): nothing is taken
    # from descriptor 3, the server binds its own port.
    srv = server(pid_app(tmp_path / "app.wsgi"),
                 env={"LISTEN_FDS": "1", "LISTEN_PID": "1", "LISTEN_FDNAMES": "web"})
    assert get_json(srv.port)["env"] == {}
