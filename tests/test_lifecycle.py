"""The process model: a supervisor and its worker processes, replaced new-first with no lost
request (rolling restarts, recycling, touch-to-reload), crashes, timeouts and signals. Every
event happens under load from real clients."""

import json
import os
import pathlib
import re
import signal
import threading
import time

import requests

from load import Load
from support import Server, free_port, port_is_listening, wait_for_file, wait_until


def write_app(path, version):
    """A script answering with its version, written so the file's mtime changes."""
    path.write_text(
        f"VERSION = {version!r}\n"
        "def application(environ, start_response):\n"
        "    body = VERSION.encode()\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain'),\n"
        "                              ('Content-Length', str(len(body)))])\n"
        "    return [body]\n"
    )
    # Make sure the modification time moves even on coarse clocks.
    stamp = time.time() + (1 if version != "v1" else 0)
    os.utime(path, (stamp, stamp))


def sleep_markers(app):
    """The files the identity app creates when a /sleep request starts and when it ends."""
    return app.with_name(app.name + ".sleep-started"), app.with_name(app.name + ".sleep-ended")


def identity_app(path):
    started, ended = sleep_markers(path)
    path.write_text(
        "import json, os, time\n"
        "def application(environ, start_response):\n"
        "    if environ['PATH_INFO'] == '/sleep':\n"
        f"        open({str(started)!r}, 'w').close()\n"
        "        time.sleep(float(environ['QUERY_STRING'] or '1'))\n"
        f"        open({str(ended)!r}, 'w').close()\n"
        "    body = json.dumps({'pid': os.getpid(),\n"
        "                       'multiprocess': environ['wsgi.multiprocess'],\n"
        "                       'multithread': environ['wsgi.multithread'],\n"
        "                       'thread': environ['mod_wsgi.thread_id']}).encode()\n"
        "    start_response('200 OK', [('Content-Type', 'application/json')])\n"
        "    return [body]\n"
    )
    return path


def test_two_processes_serve_requests_with_their_own_pids(server, tmp_path):
    srv = server("--processes", "2", "--threads", "3", identity_app(tmp_path / "id.wsgi"))
    workers = set(srv.worker_pids())
    assert len(workers) == 2
    seen = set()
    results = []

    def client():
        for _ in range(60):
            reply = requests.get(srv.url + "/", headers={"Connection": "close"}).json()
            results.append(reply)

    threads = [threading.Thread(target=client) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seen = {reply["pid"] for reply in results}
    assert seen == workers, "both worker processes should have served requests"
    assert all(reply["multiprocess"] is True for reply in results)
    assert all(reply["multithread"] is True for reply in results)


def test_processes_have_titles_and_a_pid_file(server, tmp_path):
    srv = server("--processes", "2", identity_app(tmp_path / "id.wsgi"))
    cmdline = pathlib.Path(f"/proc/{srv.pid}/cmdline").read_bytes().split(b"\0")
    assert cmdline[0] == b"oxwsgi: supervisor"
    titles = sorted(
        pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
        for pid in srv.worker_pids()
    )
    assert titles == [b"oxwsgi: worker 1 [localhost:0]", b"oxwsgi: worker 2 [localhost:0]"]
    # The short name that ps -e, top and pgrep show.
    assert pathlib.Path(f"/proc/{srv.pid}/comm").read_text() == "oxwsgi\n"
    for pid in srv.worker_pids():
        assert pathlib.Path(f"/proc/{pid}/comm").read_text() == "oxwsgi-worker\n"
    pid_file = srv.server_root / "oxwsgi.pid"
    assert pid_file.read_text() == f"{srv.pid}\n"
    assert srv.stop() == 0
    assert not pid_file.exists()


def test_custom_pid_file_and_a_log_line_for_every_worker_start(server, tmp_path):
    pid_file = tmp_path / "run" / "custom.pid"
    pid_file.parent.mkdir()
    srv = server("--processes", "2", "--pid-file", pid_file, identity_app(tmp_path / "id.wsgi"))
    assert pid_file.read_text() == f"{srv.pid}\n"
    assert not (srv.server_root / "oxwsgi.pid").exists()
    # At the default log level, the ready line names the initial workers' pids...
    ready = re.search(r"ready: serving \S+ with 2 worker process\(es\) \(pid (\d+), (\d+)\)",
                      srv.error_log())
    assert ready, srv.error_log()
    assert {int(pid) for pid in ready.groups()} == set(srv.worker_pids())
    # ...and each later start has its own line.
    victim = srv.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: len(srv.worker_pids()) == 2 and victim not in srv.worker_pids(),
               what="a replacement")
    (new,) = set(srv.worker_pids()) - {int(pid) for pid in ready.groups()}
    srv.wait_for_log(rf"\[supervisor:notice\] .* worker \d of 'localhost:0' started \(pid {new}\)")
    assert srv.stop() == 0
    assert not pid_file.exists()


def test_sighup_restarts_workers_one_by_one_without_losing_a_request(server, tmp_path):
    app = tmp_path / "app.wsgi"
    write_app(app, "v1")
    srv = server("--processes", "2", "--disable-reloading", app)
    old_workers = set(srv.worker_pids())
    with Load(srv.port) as load:
        load.wait_for_total(300)
        write_app(app, "v2")
        srv.send_signal(signal.SIGHUP)
        load.wait_for_body(b"v2")
        wait_until(lambda: not (set(srv.worker_pids()) & old_workers), what="old workers gone")
        # Thousands of requests in all, and a thousand after the restart.
        load.wait_for_total(max(load.total + 1000, 2500))
    assert load.failures == [], load.failures[:5]
    assert load.total >= 2000
    assert set(load.bodies) == {b"v1", b"v2"}
    assert len(srv.worker_pids()) == 2
    srv.wait_for_log(r"caught SIGHUP: restarting the workers one by one")
    srv.wait_for_log(r"worker 2 of 'localhost:0' replaced: pid \d+ serves, pid \d+ drains")
    srv.wait_for_log(r"\[supervisor:notice\] .*worker 1 of 'localhost:0' started \(pid \d+\)")


def test_sigusr1_restarts_workers_too(server, tmp_path):
    srv = server(identity_app(tmp_path / "id.wsgi"))
    first = srv.worker_pid()
    srv.send_signal(signal.SIGUSR1)
    srv.wait_for_log(r"caught SIGUSR1: restarting the workers one by one")
    wait_until(lambda: srv.worker_pids() not in ([first], []), what="the restart")
    assert requests.get(srv.url + "/").status_code == 200


def test_maximum_requests_recycles_workers_without_losing_a_request(server, tmp_path):
    app = tmp_path / "app.wsgi"
    write_app(app, "v1")
    srv = server("--processes", "2", "--maximum-requests", "50", "--disable-reloading", app)
    first = set(srv.worker_pids())
    with Load(srv.port) as load:
        load.wait_for_total(400)
        write_app(app, "v2")  # recycled workers load the code as it is now
        load.wait_for_body(b"v2")
        load.wait_for_total(max(load.total + 1500, 2500))
    assert load.failures == [], load.failures[:5]
    assert load.total >= 2000
    assert b"v2" in load.bodies
    # A recycled worker drains after its replacement serves: wait for it to be gone.
    wait_until(lambda: not (set(srv.worker_pids()) & first), what="the first workers recycled")
    srv.wait_for_log(r"will be replaced: maximum-requests")


def test_touching_the_script_reloads_the_code_without_a_failed_request(server, tmp_path):
    app = tmp_path / "app.wsgi"
    write_app(app, "v1")
    srv = server(app)
    with Load(srv.port) as load:
        load.wait_for_total(300)
        write_app(app, "v2")
        load.wait_for_body(b"v2")
        total = load.total
        load.wait_for_total(total + 500)
        # Once the new code answers, the old never does again.
        before = load.bodies[b"v1"]
        load.wait_for_total(load.total + 300)
        assert load.bodies[b"v1"] == before
    assert load.failures == [], load.failures[:5]
    srv.wait_for_log(r"will be replaced: script-changed")


def test_disable_reloading_keeps_the_loaded_code(server, tmp_path):
    app = tmp_path / "app.wsgi"
    write_app(app, "v1")
    # The worker checks the inactivity timeout and the script's time on the same one-second
    # tick: its asking to be replaced for inactivity shows that the ticks after the change ran.
    srv = server("--disable-reloading", "--inactivity-timeout", "3", app)
    first = srv.worker_pid()
    write_app(app, "v2")
    # The last request, after the change: the three idle seconds (more than two checking
    # periods) count from its end.
    assert requests.get(srv.url + "/").text == "v1"
    srv.wait_for_log(rf"\(pid {first}\) will be replaced: inactivity-timeout")
    log = srv.error_log()
    assert "script-changed" not in log, log


def test_killed_worker_is_replaced_and_service_continues(server, tmp_path):
    srv = server("--processes", "2", identity_app(tmp_path / "id.wsgi"))
    victim = srv.worker_pids()[0]
    with Load(srv.port, keep_alive_clients=3, new_connection_clients=1) as load:
        load.wait_for_total(300)
        os.kill(victim, signal.SIGKILL)
        wait_until(
            lambda: len(srv.worker_pids()) == 2 and victim not in srv.worker_pids(),
            what="a new worker",
        )
        after_kill = load.total
        load.wait_for_total(after_kill + 500)
        failures_after_recovery = list(load.failures)
    # Only requests in flight on the killed worker (at most one per client) may fail.
    assert len(failures_after_recovery) <= 4, failures_after_recovery
    srv.wait_for_log(rf"\(pid {victim}\) exited unexpectedly: killed by signal 9 \(SIGKILL\)")
    assert requests.get(srv.url + "/").status_code == 200


def test_request_past_the_timeout_gets_504_with_the_stack_logged(server, tmp_path):
    srv = server("--request-timeout", "2", identity_app(tmp_path / "id.wsgi"))
    first = srv.worker_pid()
    response = requests.get(srv.url + "/sleep?10", timeout=30)
    assert response.status_code == 504
    assert "The application did not answer within the request timeout." in response.text
    srv.wait_for_log(
        rf"request timeout: GET /sleep\?10 has run for [\d.]+s on Python thread \d+ of worker "
        rf"process {first}; it was answered with a 504"
    )
    srv.wait_for_log(r"time\.sleep\(float\(environ\['QUERY_STRING'\] or '1'\)\)")
    srv.wait_for_log(r"will be replaced: request-timeout")
    wait_until(lambda: srv.worker_pids() != [first], what="the worker to be replaced")
    assert requests.get(srv.url + "/").status_code == 200


def test_app_exiting_at_import_stops_the_server_with_a_message(tmp_path):
    app = tmp_path / "exits.wsgi"
    app.write_text("import os\nos._exit(7)\n")
    port = free_port()
    srv = Server(["--log-level", "info", app], tmp_path, port=port, wait=False)
    assert srv.wait_exit(timeout=60) == 1
    assert srv.stderr.endswith(
        "oxwsgi: the first worker of process group 'localhost:%d' could not start (exit status "
        "7); see above for why\n" % port
    )
    # One start, no respawn (starts are logged at info during start-up).
    assert srv.stderr.count("worker 1 of 'localhost:%d' started (pid" % port) == 1
    assert not port_is_listening(port)


def test_worker_failing_on_every_restart_stops_the_server(tmp_path):
    marker = tmp_path / "broken"
    app = tmp_path / "flaky.wsgi"
    app.write_text(
        "import os\n"
        f"if os.path.exists({str(marker)!r}):\n"
        "    raise RuntimeError('broken on purpose')\n"
        "def application(environ, start_response):\n"
        "    start_response('200 OK', [])\n"
        "    return [b'ok']\n"
    )
    srv = Server(["--disable-reloading", app], tmp_path)
    marker.touch()
    os.kill(srv.worker_pid(), signal.SIGKILL)
    assert srv.wait_exit(timeout=90) == 1
    assert (
        "oxwsgi: worker 1 of process group 'localhost:0' failed to start 3 times in a row (last: "
        "exit status 3: the application could not be loaded) and no worker of the group is "
        "serving; stopping instead of retrying." in srv.stderr
    )
    assert srv.stderr.count("RuntimeError: broken on purpose") == 3


def test_sigterm_lets_the_running_request_finish_then_exits_0(server, tmp_path):
    app = identity_app(tmp_path / "id.wsgi")
    srv = server(app)
    result = {}
    thread = threading.Thread(
        target=lambda: result.setdefault("r", requests.get(srv.url + "/sleep?2", timeout=30))
    )
    thread.start()
    wait_for_file(sleep_markers(app)[0])  # the request is running
    srv.send_signal(signal.SIGTERM)
    thread.join()
    assert result["r"].status_code == 200
    assert srv.wait_exit(timeout=30) == 0
    assert "caught SIGTERM: draining the workers, then stopping" in srv.stderr


def test_sigint_stops_gracefully_too(server, tmp_path):
    srv = server(identity_app(tmp_path / "id.wsgi"))
    assert requests.get(srv.url + "/").status_code == 200
    srv.send_signal(signal.SIGINT)
    assert srv.wait_exit(timeout=30) == 0
    assert "caught SIGINT: draining the workers, then stopping" in srv.stderr


def test_restart_interval_and_inactivity_timeout_recycle_workers(server, tmp_path):
    srv = server("--restart-interval", "2", identity_app(tmp_path / "id.wsgi"))
    first = srv.worker_pid()
    wait_until(lambda: srv.worker_pids() not in ([first], []), timeout=20, what="recycling")
    srv.wait_for_log(r"will be replaced: restart-interval")
    idle = server("--inactivity-timeout", "2", identity_app(tmp_path / "id2.wsgi"))
    first = idle.worker_pid()
    wait_until(lambda: idle.worker_pids() not in ([first], []), timeout=20, what="recycling")
    idle.wait_for_log(r"will be replaced: inactivity-timeout")


def test_worker_not_ready_within_the_startup_timeout_is_killed(tmp_path):
    app = tmp_path / "slow.wsgi"
    app.write_text("import time\ntime.sleep(30)\n")
    srv = Server(["--startup-timeout", "2", app], tmp_path, wait=False)
    assert srv.wait_exit(timeout=60) == 1
    assert "not ready after the startup timeout (2s); killing it" in srv.stderr


def test_deadlocked_interpreter_gets_its_worker_replaced(server, tmp_path):
    app = tmp_path / "deadlock.wsgi"
    # ctypes.PyDLL calls C functions without releasing the GIL: libc's sleep() then holds it,
    # as a C extension stuck on a lock would.
    app.write_text(
        "import ctypes\n"
        "def application(environ, start_response):\n"
        "    if environ['PATH_INFO'] == '/hold':\n"
        "        ctypes.PyDLL(None).sleep(60)\n"
        "    start_response('200 OK', [])\n"
        "    return [b'ok']\n"
    )
    srv = server("--deadlock-timeout", "2", app)
    first = srv.worker_pid()
    def hold():
        try:
            requests.get(srv.url + "/hold", timeout=60)
        except requests.ConnectionError:
            pass  # the deadlocked worker exits; its connection is cut

    threading.Thread(target=hold, daemon=True).start()
    srv.wait_for_log(r"Python's lock \(the GIL\) could not be taken for \d+s: the application is deadlocked")
    srv.wait_for_log(rf"\(pid {first}\) exited unexpectedly: exit status 5: the Python interpreter was deadlocked")
    wait_until(lambda: len(srv.worker_pids()) == 1 and srv.worker_pids() != [first], what="a new worker")
    assert requests.get(srv.url + "/").text == "ok"


def test_workers_get_the_locale(server, tmp_path):
    app = tmp_path / "locale.wsgi"
    app.write_text(
        "import os, json\n"
        "def application(environ, start_response):\n"
        "    start_response('200 OK', [])\n"
        "    return [json.dumps([os.environ.get('LANG'), os.environ.get('LC_ALL')]).encode()]\n"
    )
    srv = server("--locale", "C.UTF-8", app)
    assert json.loads(requests.get(srv.url + "/").text) == ["C.UTF-8", "C.UTF-8"]
    assert "Locale Setting     : C.UTF-8" in srv.stdout


def test_graceful_timeout_cuts_a_request_that_runs_on(server, tmp_path):
    app = identity_app(tmp_path / "id.wsgi")
    started, ended = sleep_markers(app)
    srv = server("--graceful-timeout", "1", "--shutdown-timeout", "2", app)
    outcome = {}

    def long_request():
        try:
            outcome["response"] = requests.get(srv.url + "/sleep?30", timeout=60)
        except requests.ConnectionError as exc:
            outcome["error"] = exc

    client = threading.Thread(target=long_request)
    client.start()
    wait_for_file(started)  # the request is running
    srv.send_signal(signal.SIGTERM)
    srv.wait_for_log(r"1 connection\(s\) still busy after the graceful timeout \(1s\) were cut")
    assert srv.wait_exit(timeout=60) == 0
    client.join(timeout=60)
    # The request was cut, not answered: the server and its worker are gone and the
    # application's sleep never came to its end.
    assert "error" in outcome, outcome
    assert not ended.exists(), "the request ran to its end"


def test_shutdown_timeout_kills_a_worker_that_will_not_exit(server, tmp_path):
    app = tmp_path / "stubborn.wsgi"
    app.write_text(
        "import atexit, time\n"
        "atexit.register(time.sleep, 60)  # the worker hangs on its way out\n"
        "def application(environ, start_response):\n"
        "    start_response('200 OK', [])\n"
        "    return [b'ok']\n"
    )
    srv = server("--graceful-timeout", "1", "--shutdown-timeout", "2", app)
    worker = srv.worker_pid()
    assert requests.get(srv.url + "/").text == "ok"
    srv.send_signal(signal.SIGTERM)
    assert srv.wait_exit(timeout=30) == 0
    log = srv.error_log()
    assert log.count("still running after the graceful and shutdown timeouts; killing it") == 1
    assert f"(pid {worker}) stopped: killed by signal 9 (SIGKILL)" in log


CRASHING_APP = (
    "import os\n"
    "def application(environ, start_response):\n"
    "    if environ['PATH_INFO'] == '/crash':\n"
    "        os._exit(3)\n"
    "    start_response('200 OK', [])\n"
    "    return [str(os.getpid()).encode()]\n"
)


def test_a_lone_crashing_worker_is_started_again_within_a_second(server, tmp_path):
    """With no other worker to serve, waiting longer would be an outage: the delay stays at
    one second however often the worker dies (an application that crashes on one URL must not
    take the site down for half a minute)."""
    app = tmp_path / "crashing.wsgi"
    app.write_text(CRASHING_APP)
    srv = server(app)
    for _ in range(4):
        crashed = srv.worker_pid()
        try:
            requests.get(srv.url + "/crash", timeout=30)
        except requests.ConnectionError:
            pass
        srv.wait_for_log(rf"\(pid {crashed}\) exited unexpectedly: exit status 3")
        # The listening socket stays open: this request waits for the new worker.
        assert int(requests.get(srv.url + "/", timeout=30).text) != crashed
    log = srv.error_log()
    assert log.count("starts again in 1.0s") == 4, log
    assert "starts again in 2.0s" not in log


def test_replacement_not_ready_in_time_is_killed_and_retried(server, tmp_path):
    marker = tmp_path / "slow-start"
    app = tmp_path / "app.wsgi"
    app.write_text(
        "import os, time\n"
        f"while os.path.exists({str(marker)!r}):\n"
        "    time.sleep(0.1)  # a start-up that hangs while the marker exists\n"
        "def application(environ, start_response):\n"
        "    start_response('200 OK', [])\n"
        "    return [str(os.getpid()).encode()]\n"
    )
    srv = server("--startup-timeout", "2", "--disable-reloading", app)
    old = srv.worker_pid()
    marker.touch()
    srv.send_signal(signal.SIGHUP)
    srv.wait_for_log(r"not ready after the startup timeout \(2s\); killing it")
    # The old worker went on serving the whole time.
    assert requests.get(srv.url + "/", timeout=10).text == str(old)
    marker.unlink()
    wait_until(lambda: requests.get(srv.url + "/", timeout=10).text != str(old), what="the retry")
    wait_until(lambda: old not in srv.worker_pids(), what="the old worker gone")


def test_a_restart_signal_during_start_up_is_held_until_the_workers_serve(tmp_path):
    """A SIGHUP that comes while the first worker still loads its application (a control
    script's `graceful` right after `start`) is not lost: once the workers serve, they are
    restarted."""
    fifo = tmp_path / "go"
    os.mkfifo(fifo)
    loading = tmp_path / "loading"
    app = tmp_path / "slow.wsgi"
    app.write_text(
        "import os\n"
        f"open({str(loading)!r}, 'w').close()\n"
        # Blocks until the test opens the FIFO for writing.
        f"open({str(fifo)!r}).read()\n"
        "def application(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [str(os.getpid()).encode()]\n")
    srv = Server(["--disable-reloading", app], tmp_path, wait=False)
    try:
        wait_for_file(loading)
        first = srv.worker_pids()
        assert len(first) == 1
        srv.send_signal(signal.SIGHUP)
        loading.unlink()
        with open(fifo, "w"):  # lets the first worker's import finish
            pass
        srv.wait_ready()
        srv.wait_for_log(r"caught SIGHUP: restarting the workers one by one")
        wait_for_file(loading)  # the replacement imports the application in turn
        with open(fifo, "w"):
            pass
        wait_until(lambda: srv.worker_pids() and set(srv.worker_pids()).isdisjoint(first),
                   what="the first worker replaced")
        response = requests.get(srv.url, timeout=10)
        assert response.status_code == 200
        assert int(response.text) not in first
    finally:
        srv.stop()
