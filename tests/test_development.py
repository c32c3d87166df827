"""The developer's tools: --reload-on-changes (every imported module's file, and files named by
patterns, watched with inotify; a change replaces the workers new-first, under load, with no
failed request), and --debug-mode with --enable-debugger and --debugger-startup (pdb on the
terminal, driven through a pseudo-terminal with pexpect)."""

import os
import pathlib
import re
import signal
import threading

import pexpect
import requests

from load import Load
from support import BINARY, VENV, Server, free_port, is_gone, wait_until


def write_module(path, version):
    """A module the application imports, whose VERSION is what the application answers."""
    path.write_text(f"VERSION = {version!r}\n")


def module_app(tmp_path):
    """An entry script that never changes and answers with what its imported module says."""
    app = tmp_path / "app.wsgi"
    app.write_text(
        "import helper\n"
        "def application(environ, start_response):\n"
        "    if environ['PATH_INFO'] == '/late':\n"
        "        import late\n"
        "        body = late.VERSION.encode()\n"
        "    else:\n"
        "        body = helper.VERSION.encode()\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain'),\n"
        "                              ('Content-Length', str(len(body)))])\n"
        "    return [body]\n"
    )
    write_module(tmp_path / "helper.py", "v1")
    write_module(tmp_path / "late.py", "late-v1")
    return app


def test_editing_an_imported_module_reloads_it_without_a_failed_request(server, tmp_path):
    app = module_app(tmp_path)
    script_mtime = app.stat().st_mtime_ns
    srv = server("--reload-on-changes", "--processes", "2", "--working-directory", tmp_path, app)
    first = set(srv.worker_pids())
    with Load(srv.port) as load:
        load.wait_for_total(300)
        write_module(tmp_path / "helper.py", "v2")
        load.wait_for_body(b"v2")
        # Once every old worker is gone, the old code never answers again.
        wait_until(lambda: not (set(srv.worker_pids()) & first), what="both workers replaced")
        before = load.bodies[b"v1"]
        load.wait_for_total(load.total + 300)
        assert load.bodies[b"v1"] == before
    assert load.failures == [], load.failures[:5]
    assert app.stat().st_mtime_ns == script_mtime, "the entry script was not touched"
    srv.wait_for_log(rf"{re.escape(str(tmp_path / 'helper.py'))} changed \(--reload-on-changes\)")
    srv.wait_for_log(r"will be replaced: code-changed")
    assert "script-changed" not in srv.error_log()


def test_a_module_imported_by_a_request_is_watched_from_then_on(server, tmp_path):
    app = module_app(tmp_path)
    srv = server("--reload-on-changes", "--log-level", "info", "--working-directory", tmp_path,
                 app)
    worker = srv.worker_pid()
    assert requests.get(srv.url + "/late").text == "late-v1"
    # The worker looks at sys.modules once a second, and says what it found.
    late = re.escape(str(tmp_path / "late.py"))
    srv.wait_for_log(rf"--reload-on-changes: now also watching .*{late}")
    write_module(tmp_path / "late.py", "late-v2")
    wait_until(lambda: requests.get(srv.url + "/late").text == "late-v2", what="late.py reloaded")
    # Replaced new first: the old worker drains its connections, then goes.
    wait_until(lambda: worker not in srv.worker_pids(), what="the old worker to go")
    srv.wait_for_log(rf"{late} changed \(--reload-on-changes\)")


def test_files_named_by_a_pattern_reload_and_others_do_not(server, tmp_path):
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "page.txt").write_text("page v1")
    (templates / "notes.md").write_text("notes v1")
    app = tmp_path / "app.wsgi"
    app.write_text(
        "import os\n"
        "PAGE = open(os.path.join(os.path.dirname(__file__), 'templates', 'page.txt')).read()\n"
        "def application(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [PAGE.encode()]\n"
    )
    srv = server("--reload-on-changes=templates/*.txt", "--working-directory", tmp_path, app)
    assert requests.get(srv.url + "/").text == "page v1"
    # A file the pattern does not name changes first; the replacement that follows is the
    # page's alone (the watcher handles changes in order, one log line each).
    (templates / "notes.md").write_text("notes v2")
    (templates / "page.txt").write_text("page v2")
    wait_until(lambda: requests.get(srv.url + "/").text == "page v2", what="the new page")
    log = srv.error_log()
    changed = re.findall(r"(\S+) changed \(--reload-on-changes\)", log)
    assert changed == [str(templates / "page.txt")], log


def test_a_bad_reload_pattern_is_a_usage_error(tmp_path):
    app = module_app(tmp_path)
    srv = Server(["--reload-on-changes=[abc", app], tmp_path, wait=False)
    assert srv.wait_exit(timeout=60) == 2
    assert srv.stderr == (
        "oxwsgi: --reload-on-changes [abc: not a glob pattern (`*`, `?`, `[...]` "
        "and `**` as a whole path component)\n"
    )


def test_debugger_startup_needs_the_debugger(tmp_path):
    app = module_app(tmp_path)
    srv = Server(["--debugger-startup", app], tmp_path, wait=False)
    assert srv.wait_exit(timeout=60) == 2
    # clap's usage error: the message whole, then a usage line that repeats the options given.
    message, usage, more = srv.stderr.split("\n\n")
    assert message == (
        "error: the following required arguments were not provided:\n  --enable-debugger")
    assert usage.startswith("Usage: oxwsgi start-server --enable-debugger ")
    assert more == "For more information, try '--help'.\n"


# --- debug mode and pdb, on a pseudo-terminal -----------------------------------------------

DEBUG_APP = """\
import os, sys, threading
def application(environ, start_response):
    secret = 'the-local-' + environ['PATH_INFO'].strip('/')
    if environ['PATH_INFO'] == '/boom':
        raise ValueError('boom for ' + secret)
    if environ['PATH_INFO'] == '/print':
        print('hello from the application, pid', os.getpid())
    found = 'found-' + secret
    body = ('%s %s %d' % (found, environ['wsgi.multithread'], os.getpid())).encode()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body]
"""


def spawn_debug(tmp_path, *args):
    """`oxwsgi start-server --debug-mode ...` on a pseudo-terminal of its own, as a developer
    starts it; returns the pexpect child and the port."""
    app = tmp_path / "debug.wsgi"
    app.write_text(DEBUG_APP)
    port = free_port()
    command = [
        "start-server", "--port", str(port), "--server-root", str(tmp_path / "root"),
        "--python-home", str(VENV), *args, str(app),
    ]
    env = dict(os.environ)
    env.pop("VIRTUAL_ENV", None)
    child = pexpect.spawn(str(BINARY), command, env=env, cwd=str(tmp_path), timeout=60,
                          encoding="utf-8", codec_errors="replace", dimensions=(50, 250))
    child.logfile_read = open(tmp_path / "terminal.log", "w")
    return child, port, app


def get_in_thread(url):
    """Sends a GET from another thread (pdb holds the request); returns a holder of the
    response."""
    result = {}

    def run():
        try:
            result["response"] = requests.get(url, timeout=120)
        except Exception as err:  # reported by the test's assertion
            result["error"] = err

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    result["thread"] = thread
    return result


def wait_serving(child, port):
    child.expect(rf"Server URL\s*: http://[^/]+:{port}/")
    wait_until(lambda: _answers(port), what="the debug-mode server to answer")


def _answers(port):
    try:
        return requests.get(f"http://127.0.0.1:{port}/ping", timeout=5).status_code == 200
    except requests.ConnectionError:
        return False


def worker_of(pid):
    children = pathlib.Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children]


def stop_with_ctrl_c(child):
    """Ctrl-C on the terminal stops the server: the supervisor and its worker are gone."""
    (worker,) = worker_of(child.pid)
    child.sendintr()
    child.expect(pexpect.EOF)
    child.wait()
    wait_until(lambda: is_gone(worker), what="the worker to exit")
    assert not child.isalive()
    return child.exitstatus, child.signalstatus


def test_post_mortem_pdb_on_the_terminal_then_500_and_ctrl_c_stops(tmp_path):
    # --processes and --threads are overridden: one process, one thread.
    child, port, _ = spawn_debug(tmp_path, "--enable-debugger", "--processes", "3",
                                 "--threads", "5")
    try:
        wait_serving(child, port)
        url = f"http://127.0.0.1:{port}"
        body = requests.get(url + "/ok").text
        assert body.startswith("found-the-local-ok False ")
        assert worker_of(child.pid) == [int(body.split()[-1])]

        # The application's print() reaches the terminal, though the error log is a file.
        assert requests.get(url + "/print").status_code == 200
        child.expect(r"hello from the application, pid \d+")

        pending = get_in_thread(url + "/boom")
        child.expect(r"ValueError: boom for the-local-boom")
        child.expect(r"\(Pdb\) ")
        child.sendline("p secret")
        child.expect(r"'the-local-boom'")
        child.expect(r"\(Pdb\) ")
        assert pending["thread"].is_alive(), "the client waits while pdb holds the request"
        child.sendline("c")
        pending["thread"].join(120)
        assert pending["response"].status_code == 500
        # The server goes on serving.
        assert requests.get(url + "/after").text.startswith("found-the-local-after ")
        error_log = (tmp_path / "root" / "error_log").read_text()
        assert "ValueError: boom for the-local-boom" in error_log

        status, signalled = stop_with_ctrl_c(child)
        assert (status, signalled) == (0, None), (status, signalled)
    finally:
        if child.isalive():
            child.kill(signal.SIGKILL)
            child.wait()


def test_ctrl_c_stops_at_once_while_pdb_holds_a_request(tmp_path):
    child, port, _ = spawn_debug(tmp_path, "--enable-debugger")
    try:
        wait_serving(child, port)
        pending = get_in_thread(f"http://127.0.0.1:{port}/boom")
        child.expect(r"\(Pdb\) ")
        stop_with_ctrl_c(child)
        pending["thread"].join(120)
        assert "response" not in pending, "the held request is cut, not answered"
    finally:
        if child.isalive():
            child.kill(signal.SIGKILL)
            child.wait()


def test_debugger_startup_sets_a_breakpoint_that_stops_a_request(tmp_path):
    child, port, app = spawn_debug(tmp_path, "--enable-debugger", "--debugger-startup")
    try:
        child.expect(r"the application is loaded; set breakpoints")
        child.expect(r"\(Pdb\) ")
        line = DEBUG_APP.splitlines().index("    found = 'found-' + secret") + 1
        # A conditional breakpoint: the readiness probes below pass it.
        child.sendline(f"b {app}:{line}, 'stop' in environ['PATH_INFO']")
        child.expect(rf"Breakpoint 1 at {re.escape(str(app))}:{line}")
        child.expect(r"\(Pdb\) ")
        child.sendline("c")
        wait_until(lambda: _answers(port), what="the server to serve after `c`")
        # The request's thread is not the one pdb was opened in: the breakpoint stops it.
        pending = get_in_thread(f"http://127.0.0.1:{port}/stop")
        child.expect(rf"{re.escape(str(app))}\({line}\)application\(\)")
        child.expect(r"\(Pdb\) ")
        child.sendline("p secret")
        child.expect(r"'the-local-stop'")
        child.expect(r"\(Pdb\) ")
        assert pending["thread"].is_alive(), "the client waits while pdb holds the request"
        child.sendline("c")
        pending["thread"].join(120)
        assert pending["response"].status_code == 200
        assert pending["response"].text.startswith("found-the-local-stop False ")
        stop_with_ctrl_c(child)
    finally:
        if child.isalive():
            child.kill(signal.SIGKILL)
            child.wait()


def test_debug_mode_runs_one_worker_with_one_thread(server, tmp_path):
    app = tmp_path / "debug.wsgi"
    app.write_text(DEBUG_APP)
    srv = server("--debug-mode", "--processes", "4", "--threads", "8", app)
    body = requests.get(srv.url + "/x").text
    assert body.startswith("found-the-local-x False ")
    assert srv.worker_pids() == [int(body.split()[-1])]
