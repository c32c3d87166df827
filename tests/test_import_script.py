"""`WSGIImportScript` in Apache site files, as mod_wsgi runs it: into a `threads=0` group (what
mod_wsgi-express writes for `--service-script`) it is a side service, the one the command
line's `--service-script` makes; into an ordinary group it is imported by each worker at start,
before the applications load (preloading). Its mistakes are refused by file and line."""

import os
import pathlib
import pwd
import signal

import pytest
import requests

from support import (
    TEST_USER, Server, free_port, is_gone, process_title, read_int, user_directive,
    wait_for_file, wait_until,
)
from test_apache_config import oxwsgi, write

APP = """
import os
# What the preloaded script left in the process when this file was imported.
PRELOADED_BY = os.environ.get("PRELOADED_BY", "nothing")

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("pid=%d preloaded_by=%s" % (os.getpid(), PRELOADED_BY)).encode()]
"""

# Writes its pid where the test waits for it (atomically), says it runs on its log, and runs
# until it is told to stop.
SERVICE = """
import os, time
state = os.environ["OXWSGI_TEST_STATE"]
name = os.path.splitext(os.path.basename(__file__))[0]
with open(os.path.join(state, name + ".tmp"), "w") as f:
    f.write(str(os.getpid()))
os.replace(os.path.join(state, name + ".tmp"), os.path.join(state, name + ".pid"))
print(name, "runs as the main program:", __name__, flush=True)
while True:
    time.sleep(1)
"""


@pytest.fixture
def state(site_dir):
    """Where the scripts, run as the workers' user, leave their marks."""
    path = site_dir / "state"
    path.mkdir()
    os.chmod(path, 0o777)
    return path


def express_service(name, script, port=None, log=None):
    """What mod_wsgi-express's apache.py writes for `--service-script NAME SCRIPT` (with
    `--service-log-file`, inside a virtual host with its ErrorLog), without its own user, as
    it writes it: the user and group come from ${MOD_WSGI_USER} and ${MOD_WSGI_GROUP}."""
    lines = []
    if log:
        lines += [f"<VirtualHost *:{port}>", f'ErrorLog "{log}"']
    lines += [
        f"WSGIDaemonProcess 'service:{name}' \\",
        "    display-name=%{GROUP} \\",
        "    user='${MOD_WSGI_USER}' \\",
        "    group='${MOD_WSGI_GROUP}' \\",
        f"    home='{script.parent}' \\",
        "    threads=0 \\",
        f"    python-path='{script.parent}' \\",
        f"    python-eggs='{script.parent}/python-eggs' \\",
        "    lang='C.UTF-8' \\",
        "    locale='C.UTF-8' \\",
        "    server-metrics=Off",
        f"WSGIImportScript '{script}' \\",
        f"    process-group='service:{name}' \\",
        "    application-group=%{GLOBAL}",
    ]
    if log:
        lines.append("</VirtualHost>")
    return "\n".join(lines)


def uid_of(pid):
    status = pathlib.Path(f"/proc/{pid}/status").read_text().splitlines()
    return int(next(line for line in status if line.startswith("Uid:")).split()[1])


def test_express_service_groups_run_their_scripts_as_services(tmp_path, site_dir, state):
    """Both shapes express writes: `tick` at server level (its output in the server's log),
    `tock` in a virtual host whose ErrorLog is its own log. Each runs as a supervised service
    of its group's user; one killed is started again; both stop with the server. The virtual
    host takes no requests from the site."""
    write(site_dir / "app.wsgi", APP)
    for name in ("tick", "tock"):
        write(site_dir / f"{name}.py", SERVICE)
    port = free_port()
    tock_log = site_dir / "logs" / "tock.log"
    tock_log.parent.mkdir()
    conf = site_dir / "site.conf"
    conf.write_text("\n".join([
        f"Listen 127.0.0.1:{port}",
        user_directive(),
        f"WSGIScriptAlias / {site_dir}/app.wsgi",
        express_service("tick", site_dir / "tick.py"),
        express_service("tock", site_dir / "tock.py", port=port, log=tock_log),
        "",
    ]))
    user = TEST_USER or pwd.getpwuid(os.getuid()).pw_name
    env = {"MOD_WSGI_USER": user, "MOD_WSGI_GROUP": user,
           "OXWSGI_TEST_STATE": str(state)}
    checked = oxwsgi("check-config", conf, env=env)
    assert checked.returncode == 0, checked.stderr
    assert f"  service tick: runs {site_dir}/tick.py" in checked.stdout
    assert f"  service tock: runs {site_dir}/tock.py" in checked.stdout
    assert f", log {tock_log}" in checked.stdout

    srv = Server(["--config", conf], tmp_path, apache=True, env=env)
    try:
        pids = {}
        for name in ("tick", "tock"):
            wait_for_file(state / f"{name}.pid")
            pids[name] = read_int(state / f"{name}.pid")
            assert process_title(pids[name]) == f"oxwsgi: service {name}"
            assert pids[name] in srv.worker_pids()
            assert uid_of(pids[name]) == pwd.getpwnam(user).pw_uid
        # The application answers on the port the virtual host names.
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 200
        # Each one's output goes to its log: tock's to the virtual host's ErrorLog.
        srv.wait_for_log(r"tick runs as the main program: __main__")
        wait_until(lambda: "tock runs as the main program: __main__" in tock_log.read_text(),
                   timeout=15, what="tock's line in its log")
        assert "tock runs as the main program" not in srv.stderr

        os.kill(pids["tick"], signal.SIGKILL)
        wait_until(lambda: read_int(state / "tick.pid") not in (None, pids["tick"]),
                   timeout=30, what="a new pid of the killed service")
        again = read_int(state / "tick.pid")
        assert process_title(again) == "oxwsgi: service tick"
        srv.wait_for_log(rf"service 'tick' \(pid {pids['tick']}\) exited: killed by signal 9")
    finally:
        assert srv.stop() == 0
    assert is_gone(again) and is_gone(pids["tock"])
    assert f"service 'tick' (pid {again}) stopped" in srv.stderr
    assert f"service 'tock' (pid {pids['tock']}) stopped" in srv.stderr


PRELOAD = """
import os
state = os.environ["OXWSGI_TEST_STATE"]
os.environ["PRELOADED_BY"] = str(os.getpid())
with open(os.path.join(state, "preloads.log"), "a") as f:
    f.write("%d\\n" % os.getpid())
"""

BROKEN = """
raise RuntimeError("the preload fails on purpose")
"""


def test_an_import_script_is_loaded_in_each_worker_before_its_applications(
    tmp_path, site_dir, state
):
    """Two processes: each imports the scripts once, at start, before the application, which
    sees what the script set. A script that raises is logged with its traceback, and the worker
    goes on to the next script and its application, as in mod_wsgi."""
    write(site_dir / "app.wsgi", APP)
    write(site_dir / "broken.py", BROKEN)
    write(site_dir / "preload.py", PRELOAD)
    port = free_port()
    conf = write(site_dir / "site.conf", f"""
        Listen 127.0.0.1:{port}
        {user_directive()}
        WSGIDaemonProcess app processes=2 threads=2
        WSGIImportScript {site_dir}/broken.py process-group=app application-group=%{{GLOBAL}}
        WSGIImportScript {site_dir}/preload.py process-group=app application-group=%{{GLOBAL}}
        WSGIScriptAlias / {site_dir}/app.wsgi process-group=app application-group=%{{GLOBAL}}
        """)
    checked = oxwsgi("check-config", conf)
    assert checked.returncode == 0, checked.stderr
    assert f"    imports {site_dir}/preload.py at start" in checked.stdout

    srv = Server(["--config", conf], tmp_path, apache=True,
                 env={"OXWSGI_TEST_STATE": str(state)})
    try:
        workers = sorted(srv.worker_pids())
        assert len(workers) == 2
        preloads = sorted(map(int, (state / "preloads.log").read_text().split()))
        assert preloads == workers
        body = requests.get(f"http://127.0.0.1:{port}/", timeout=10).text
        pid, preloaded_by = (field.split("=")[1] for field in body.split())
        assert int(pid) in workers and preloaded_by == pid
        srv.wait_for_log(
            rf"Unable to execute Python script file '{site_dir}/broken.py' \(WSGIImportScript\); "
            "the worker goes on")
        srv.wait_for_log(r"RuntimeError: the preload fails on purpose")
    finally:
        srv.stop()


ERRORS = {
    "missing process-group": (
        "WSGIDaemonProcess app\n"
        "WSGIImportScript {site}/preload.py application-group=%{{GLOBAL}}\n",
        2,
        "WSGIImportScript needs process-group=, the WSGIDaemonProcess group to load the script "
        "into: WSGIImportScript FILE process-group=NAME application-group=%{{GLOBAL}}",
    ),
    "undefined group": (
        "WSGIImportScript {site}/preload.py process-group=nowhere application-group=%{{GLOBAL}}\n"
        "WSGIDaemonProcess nowhere\n",
        1,
        "WSGIImportScript: the process group 'nowhere' is not defined: add WSGIDaemonProcess "
        "nowhere before it",
    ),
    "missing script": (
        "WSGIDaemonProcess app\n"
        "WSGIImportScript {site}/nothing.py process-group=app application-group=%{{GLOBAL}}\n",
        2,
        "WSGIImportScript: the script '{site}/nothing.py' does not exist",
    ),
    "threads=0 without a script": (
        "WSGIDaemonProcess 'service:idle' threads=0\n",
        1,
        "WSGIDaemonProcess service:idle has threads=0, so it serves no requests, and no "
        "WSGIImportScript names it: there is nothing to run (add WSGIImportScript FILE "
        "process-group=service:idle application-group=%{{GLOBAL}}, or give it threads)",
    ),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_import_script_mistakes_are_refused_by_file_and_line(site_dir, case):
    text, line, message = ERRORS[case]
    write(site_dir / "preload.py", PRELOAD)
    write(site_dir / "app.wsgi", APP)
    conf = site_dir / "site.conf"
    body = text.format(site=site_dir)
    # The site's own lines after the case's, so that the case's line numbers hold.
    conf.write_text(body + f"Listen 127.0.0.1:{free_port()}\n{user_directive()}\n"
                    f"WSGIScriptAlias / {site_dir}/app.wsgi\n")
    expected = f"{conf}:{line}: error: {message.format(site=site_dir)}"
    for command in (["check-config", conf], ["start-server", "--log-to-terminal", "--config", conf]):
        result = oxwsgi(*command)
        assert result.returncode == 2, (command, result.stderr)
        assert expected in result.stderr.splitlines(), (command, result.stderr)


def test_an_application_group_the_group_does_not_run_is_refused(site_dir):
    """A worker runs one interpreter: %{GLOBAL} or the group's own application group. Another
    stops the start; check-config, which shows what httpd would run, warns."""
    write(site_dir / "preload.py", PRELOAD)
    write(site_dir / "app.wsgi", APP)
    conf = write(site_dir / "site.conf", f"""
        Listen 127.0.0.1:{free_port()}
        {user_directive()}
        WSGIDaemonProcess app
        WSGIImportScript {site_dir}/preload.py process-group=app application-group=other
        WSGIScriptAlias / {site_dir}/app.wsgi process-group=app application-group=mine
        """)
    message = (
        f"{conf}:4: SEVERITY: WSGIImportScript application-group=other: the process group 'app' has "
        "no such application group (its applications run in 'mine'); oxwsgi runs one "
        "interpreter per process: write %{GLOBAL} or one of those"
    )
    started = oxwsgi("start-server", "--log-to-terminal", "--config", conf)
    assert started.returncode == 2
    assert message.replace("SEVERITY", "error") in started.stderr.splitlines(), started.stderr
    checked = oxwsgi("check-config", conf)
    assert checked.returncode == 0
    assert message.replace("SEVERITY", "warning") in checked.stderr.splitlines(), checked.stderr
