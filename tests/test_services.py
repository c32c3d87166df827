"""Side services (--service-script, mod_wsgi-express's option): a Python script run as the main
program of a supervised process of its own, beside the workers.

The main test is seed 000's publisher-subscriber: a Pecan application (the publisher, deployed
from its configuration file as in the seed) notifies a subscriber that runs as a service
script; the subscriber records each notification it receives."""

import grp
import json
import os
import pathlib
import pwd
import shutil
import signal
import subprocess
import tempfile

import pytest
import requests

from support import (
    APPS, BINARY, ROOT, is_gone, process_title, read_int, wait_for_file, wait_until,
)

PUBSUB = APPS / "pubsub"


def notifications(state_dir):
    path = state_dir / "notifications.log"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def pubsub(server, state_dir, tmp_path):
    """The publisher, with the subscriber as a side service logging to its own file."""
    srv = server(
        PUBSUB / "app.wsgi",
        "--service-script", "subscriber", PUBSUB / "subscriber.py",
        "--service-log-file", "subscriber", "subscriber.log",
        "--log-directory", tmp_path,
        env={"OXWSGI_TEST_STATE": str(state_dir)},
    )
    wait_for_file(state_dir / "subscriber.port")
    return srv


def publish(srv, event):
    response = requests.post(srv.url + "/", json=event, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_publisher_notifies_the_subscriber_running_as_a_service(pubsub, state_dir, tmp_path):
    assert f"Service Script     : subscriber: {PUBSUB / 'subscriber.py'}" in pubsub.stdout
    assert requests.get(pubsub.url + "/", timeout=10).json() == {"service": "publisher"}

    answer = publish(pubsub, {"event": "alarm-created", "alarm": 7})
    assert answer["delivered"] is True
    wait_until(lambda: len(notifications(state_dir)) == 1, timeout=15,
               what="the subscriber to record the notification")
    (received,) = notifications(state_dir)
    assert received["event"] == "alarm-created" and received["alarm"] == 7
    # Received by the service process, not by a worker.
    service_pid = read_int(state_dir / "subscriber.pid")
    assert received["received_by"] == service_pid
    assert process_title(service_pid) == "oxwsgi: service subscriber"
    assert service_pid in pubsub.worker_pids(), "a child of the supervisor, like the workers"

    # Its output goes to its own log file, and it ran as the main program.
    log = tmp_path / "subscriber.log"
    wait_until(lambda: log.exists() and "listening on port" in log.read_text(), timeout=15,
               what="the subscriber's line in its log file")
    assert "__name__ __main__" in log.read_text()
    assert "listening on port" not in pubsub.stderr


def test_a_killed_service_is_started_again(pubsub, state_dir):
    first = read_int(state_dir / "subscriber.pid")
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: read_int(state_dir / "subscriber.pid") not in (None, first), timeout=30,
               what="a new subscriber pid")
    second = read_int(state_dir / "subscriber.pid")
    assert process_title(second) == "oxwsgi: service subscriber"
    pubsub.wait_for_log(rf"service 'subscriber' \(pid {first}\) exited: killed by signal 9")
    # The new subscriber gets the notifications now (its port file is the new one).
    wait_until(lambda: read_int(state_dir / "subscriber.pid") == second
               and (state_dir / "subscriber.port").exists(), timeout=15,
               what="the new subscriber's port")
    assert publish(pubsub, {"event": "after-restart"})["delivered"] is True
    wait_until(lambda: any(n["event"] == "after-restart" for n in notifications(state_dir)),
               timeout=15, what="the notification at the new subscriber")
    assert notifications(state_dir)[-1]["received_by"] == second


def test_the_service_is_stopped_with_the_server(pubsub, state_dir):
    service_pid = read_int(state_dir / "subscriber.pid")
    assert pubsub.stop() == 0
    assert is_gone(service_pid)
    # SIGTERM raised SystemExit in the script: its `finally` ran.
    assert (state_dir / "stopped.log").read_text() == f"stopped {service_pid}\n"
    assert "service 'subscriber'" in pubsub.stderr
    assert f"service 'subscriber' (pid {service_pid}) stopped: exit status 0" in pubsub.stderr


def test_a_service_that_ignores_sigterm_is_killed_after_the_shutdown_timeout(server, state_dir,
                                                                            tmp_path):
    script = tmp_path / "stubborn.py"
    script.write_text(
        "import os, signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "open(os.environ['OXWSGI_TEST_STATE'] + '/pid', 'w').write(str(os.getpid()))\n"
        "while True:\n"
        "    time.sleep(1)\n"
    )
    srv = server("--service-script", "stubborn", script, "--shutdown-timeout", "1",
                 env={"OXWSGI_TEST_STATE": str(state_dir)})
    wait_for_file(state_dir / "pid")
    wait_until(lambda: read_int(state_dir / "pid") is not None, what="the service's pid")
    pid = read_int(state_dir / "pid")
    assert srv.stop() == 0
    assert is_gone(pid)
    assert "service 'stubborn'" in srv.stderr
    assert "still running after the shutdown timeout; killing it" in srv.stderr
    assert f"service 'stubborn' (pid {pid}) stopped: killed by signal 9" in srv.stderr


def test_a_service_whose_script_raises_is_retried_and_the_server_keeps_serving(server,
                                                                               state_dir,
                                                                               tmp_path):
    script = tmp_path / "broken.py"
    script.write_text(
        "import os\n"
        "with open(os.environ['OXWSGI_TEST_STATE'] + '/starts', 'a') as f:\n"
        "    f.write('x')\n"
        "raise RuntimeError('the queue is not there')\n"
    )
    srv = server("--service-script", "broken", script,
                 env={"OXWSGI_TEST_STATE": str(state_dir)})
    srv.wait_for_log(r"RuntimeError: the queue is not there")
    srv.wait_for_log(r"service 'broken' \(pid \d+\) exited: exit status 1; starting it again")
    wait_until(lambda: (state_dir / "starts").exists()
               and len((state_dir / "starts").read_text()) >= 2, timeout=30,
               what="a second start of the broken service")
    assert requests.get(srv.url + "/", timeout=10).status_code == 200
    assert srv.stop() == 0


@pytest.fixture
def shared_dir():
    """A directory another user can read and write (pytest's own are private to root),
    removed afterwards."""
    path = tempfile.mkdtemp(prefix="oxwsgi-service-")
    os.chmod(path, 0o777)
    try:
        yield pathlib.Path(path)
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_a_service_runs_as_its_user_when_started_as_root(server, shared_dir):
    script = shared_dir / "whoami.py"
    script.write_text(
        "import os\n"
        "path = os.path.join(os.path.dirname(__file__), 'uid')\n"
        "open(path + '.tmp', 'w').write('%d %d' % (os.getuid(), os.getgid()))\n"
        "os.replace(path + '.tmp', path)\n"
    )
    os.chmod(script, 0o644)
    srv = server("--service-script", "whoami", script, "--service-user", "whoami", "oxwsgi-test",
                 "--working-directory", shared_dir, python_home=False)
    wait_for_file(shared_dir / "uid")
    uid, gid = map(int, (shared_dir / "uid").read_text().split())
    if os.getuid() == 0:
        user = pwd.getpwnam("oxwsgi-test")
        assert (uid, gid) == (user.pw_uid, user.pw_gid)
        assert "Service Script     : whoami: " + str(script) + ", user oxwsgi-test" in srv.stdout
    else:
        # As mod_wsgi-express: the user applies only to root.
        assert uid == os.getuid()
        srv.wait_for_log("service 'whoami': not started as root, so it runs as uid")


def proc_status_ids(pid, field):
    """The ids of a `/proc/PID/status` line (Uid, Gid: real, effective, saved, file system;
    Groups: the supplementary groups)."""
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, values = line.partition(":")
        if name == field:
            return [int(v) for v in values.split()]
    raise AssertionError(f"no {field} line for pid {pid}")


def test_a_service_runs_with_its_group_when_started_as_root(server, shared_dir):
    script = shared_dir / "stay.py"
    script.write_text(
        "import os, time\n"
        "path = os.path.join(os.path.dirname(__file__), 'pid')\n"
        "open(path + '.tmp', 'w').write(str(os.getpid()))\n"
        "os.replace(path + '.tmp', path)\n"
        "while True:\n"
        "    time.sleep(1)\n"
    )
    os.chmod(script, 0o644)
    srv = server("--service-script", "stay", script, "--service-user", "stay", "oxwsgi-test",
                 "--service-group", "stay", "oxwsgi-test2", "--working-directory", shared_dir,
                 python_home=False)
    wait_for_file(shared_dir / "pid")
    pid = read_int(shared_dir / "pid")
    assert process_title(pid) == "oxwsgi: service stay"
    if os.getuid() == 0:
        user = pwd.getpwnam("oxwsgi-test")
        group = grp.getgrnam("oxwsgi-test2")
        # The group given, not the user's own (primary) group, in all four ids.
        assert group.gr_gid != user.pw_gid
        assert proc_status_ids(pid, "Uid") == [user.pw_uid] * 4
        assert proc_status_ids(pid, "Gid") == [group.gr_gid] * 4
        # Its supplementary groups are the user's, as for a worker (initgroups with that group).
        assert sorted(proc_status_ids(pid, "Groups")) == sorted(
            set(os.getgrouplist("oxwsgi-test", group.gr_gid))
        )
    else:
        # As mod_wsgi-express: the user and group apply only to root.
        assert proc_status_ids(pid, "Gid")[1] == os.getegid()
        srv.wait_for_log("service 'stay': not started as root, so it runs as uid")
    assert srv.stop() == 0
    assert is_gone(pid)


def test_a_companion_option_for_an_unknown_service_is_refused(tmp_path):
    result = subprocess.run(
        [str(BINARY), "start-server", "--port", "0", "--server-root", str(tmp_path / "r"),
         "--service-script", "mailer", str(PUBSUB / "subscriber.py"),
         "--service-log-file", "mailr", "mail.log"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2, result.stderr
    assert "--service-log-file mailr: no --service-script has that name" in result.stderr


def test_the_help_explains_the_service_options():
    result = subprocess.run([str(BINARY), "start-server", "--help"],
                            capture_output=True, text=True, timeout=30)
    for option in ("--service-script <NAME> <SCRIPT-PATH>", "--service-user <NAME> <USER>",
                   "--service-group <NAME> <GROUP>", "--service-log-file <NAME> <FILE-NAME>"):
        assert option in result.stdout


def test_a_missing_service_script_is_refused_before_anything_starts(tmp_path):
    result = subprocess.run(
        [str(BINARY), "start-server", "--port", "0", "--server-root", str(tmp_path / "r"),
         "--service-script", "ghost", str(tmp_path / "nope.py")],
        cwd=ROOT, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2
    assert result.stderr == (
        f"oxwsgi: the service script '{tmp_path / 'nope.py'}' cannot be read: No such file or "
        "directory (os error 2)\n"
    )
    assert result.stdout == ""
    assert not (tmp_path / "r").exists(), "nothing was set up"

