"""Apache site files (issue 11): `oxwsgi check-config` reads them as httpd does and names every
problem by file and line; `oxwsgi start-server --config` runs the ones whose directives it
implements so far (docs/apache.md), and refuses the others before anything listens.

The sites under tests/sites/ (see its README.md) are copied for each test by its prepare.py,
which fills in ${SITE_DIR}, ${PORT_A}, ${PORT_B}, ${TEST_USER} and ${TEST_GROUP}.
"""

import base64
import concurrent.futures
import contextlib
import os
import pathlib
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request

import pytest
import requests

from support import (
    BINARY, EXAMPLES, TEST_USER, VENV, Server, free_port, port_is_listening, user_directive,
    wait_until,
)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "sites"))
from prepare import prepare  # noqa: E402


def oxwsgi(*args, env=None, cwd=None):
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [str(BINARY), *map(str, args)], capture_output=True, text=True, env=full_env, cwd=cwd,
        timeout=60,
    )


def get(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read().decode()


def fields(body):
    """`key=value` lines of a stand-in application's body."""
    return dict(line.split("=", 1) for line in body.splitlines() if "=" in line)


# --- check-config ---------------------------------------------------------------------------


def write(path, text):
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def test_seed_000_as_written_is_valid_and_its_routing_is_printed(tmp_path):
    app = write(tmp_path / "app.wsgi", "application = None\n")
    conf = write(
        tmp_path / "pecan_test.conf",
        f"""
        Listen 127.0.0.1:8080
        ServerName pecan_test

        WSGIDaemonProcess pecan_test threads=5 user=tuan
        WSGIPassAuthorization On
        WSGIScriptAlias / {app}
        WSGIProcessgroup pecan_test
        WSGIApplicationgroup %{{GLOBAL}}
        Order deny,allow
        Allow from all
        """,
    )
    result = oxwsgi("check-config", conf)
    assert result.returncode == 0, result.stderr
    warnings = [
        f"{conf}:9: warning: Order outside <Directory> or <Location> applies to the whole "
        "server (httpd itself would refuse it here)",
        f"{conf}:10: warning: Allow outside <Directory> or <Location> applies to the whole "
        "server (httpd itself would refuse it here)",
    ]
    # What start-server would say about the seed's user (the files are valid all the same).
    if os.getuid() == 0:
        warnings.append(f"{conf}:4: warning: user tuan: no user is named 'tuan' on this system")
    else:
        me = pwd.getpwuid(os.getuid()).pw_name
        warnings.append(
            f"{conf}:4: warning: WSGIDaemonProcess user=tuan: only root can run the workers as "
            f"another user (oxwsgi runs as {me}); start it as root, or remove user="
        )
    assert result.stderr.splitlines() == warnings
    assert result.stdout.splitlines() == [
        "Listen:",
        f"  127.0.0.1:8080  ({conf}:1)",
        "Daemon process groups:",
        f"  pecan_test threads=5 user=tuan  ({conf}:4)",
        "Applications:",
        f"  / -> {app}  process group pecan_test, application group %{{GLOBAL}}  ({conf}:6)",
        "Syntax OK",
    ]


BROKEN = [
    ("misspelt_option.conf", "misspelt_option.conf:12: error: invalid option to "
     "WSGIDaemonProcess: 'proceses' (did you mean 'processes'?)"),
    ("undefined_variable.conf", "undefined_variable.conf:15: the variable ${TALLY_HOME} is "
     "not defined: define it with `Define TALLY_HOME VALUE` before this line, or set it in "
     "the environment"),
    ("unclosed_directory.conf", "unclosed_directory.conf:18: <Directory> was not closed: add "
     "</Directory> at the end of the section"),
    ("unknown_directive.conf", "unknown_directive.conf:15: error: Invalid command "
     "'WSGIScriptAlais', perhaps misspelled or defined by a module not included in the server "
     "configuration"),
    ("nested_error.conf", "conf.d/bad-group.conf:3: error: WSGIDaemonProcess option "
     "threads=four: threads must be a whole number"),
]


@pytest.mark.parametrize("name,message", BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_file_is_refused_naming_its_file_and_line(tmp_path, name, message):
    env = prepare("broken", tmp_path)
    site = env["SITE_DIR"]
    for command in (["check-config"], ["start-server", "--log-to-terminal", "--config"]):
        result = oxwsgi(*command, f"{site}/{name}", env=env)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert f"{site}/{message}" in result.stderr, (command, result.stderr)
        assert not port_is_listening(int(env["PORT_A"]))


def test_a_missing_include_names_the_include_and_the_file(tmp_path):
    env = prepare("broken", tmp_path)
    site = env["SITE_DIR"]
    result = oxwsgi("check-config", f"{site}/missing_include.conf", env=env)
    assert result.returncode == 2
    assert result.stderr == (
        f"oxwsgi: {site}/missing_include.conf:18: Include '{site}/conf.d/tally-access.conf' "
        "matches no file; use IncludeOptional for a file that may be absent\n"
    )


def test_rewrite_stops_the_start_unless_ignored(tmp_path):
    env = prepare("refused_rewrite_proxy", tmp_path)
    site = env["SITE_DIR"]
    result = oxwsgi("start-server", "--log-to-terminal", "--config", f"{site}/rewrite.conf",
                    env=env)
    assert result.returncode == 2
    assert (
        f"{site}/rewrite.conf:20: error: RewriteEngine is not supported: oxwsgi has no "
        "mod_rewrite; express the rule with Alias, Redirect or in the application; remove it, "
        "or start with --ignore-unsupported to skip it"
    ) in result.stderr.splitlines()
    assert result.stderr.splitlines()[-1] == (
        "oxwsgi: the configuration has 3 error(s); nothing was started"
    )
    assert not port_is_listening(int(env["PORT_A"]))

    lenient = oxwsgi("check-config", "--ignore-unsupported", f"{site}/rewrite.conf", env=env)
    assert (
        f"{site}/rewrite.conf:22: warning: RewriteRule is not supported: oxwsgi has no "
        "mod_rewrite; express the rule with Alias, Redirect or in the application; skipped "
        "(--ignore-unsupported)"
    ) in lenient.stderr.splitlines()


def test_proxy_pass_is_refused(tmp_path):
    env = prepare("refused_rewrite_proxy", tmp_path)
    site = env["SITE_DIR"]
    result = oxwsgi("check-config", f"{site}/proxy.conf", env=env)
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == (
        f"{site}/proxy.conf:19: error: ProxyPass is not supported: oxwsgi is not a proxy; put "
        "one in front of it (nginx, HAProxy); remove it, or start with --ignore-unsupported "
        "to skip it"
    )


def test_command_line_options_that_the_files_set_are_refused_with_config(tmp_path):
    conf = write(tmp_path / "site.conf", "Listen 8080\n")
    result = oxwsgi("start-server", "--config", conf, "--port", "9000")
    assert result.returncode == 2
    assert result.stderr == (
        "oxwsgi: --port cannot be used with --config: the configuration files say what runs "
        "(only --server-root, --log-to-terminal, --define and --ignore-unsupported go with it)\n"
    )


# --- start-server --config --------------------------------------------------------------------


RECORDING_APP = """
import os, sys
def application(environ, start_response):
    lines = [
        "pid=%d" % os.getpid(),
        "uid=%d" % os.getuid(),
        "prefix=%s" % sys.prefix,
        "process_group=%s" % environ["mod_wsgi.process_group"],
        "application_group=%s" % environ["mod_wsgi.application_group"],
        "threads=%s" % environ["wsgi.multithread"],
        "multiprocess=%s" % environ["wsgi.multiprocess"],
        "authorization=%s" % environ.get("HTTP_AUTHORIZATION"),
        "script_name=%s" % environ["SCRIPT_NAME"],
        "path_info=%s" % environ["PATH_INFO"],
    ]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("\\n".join(lines) + "\\n").encode()]
"""


@pytest.fixture
def venv(site_dir):
    """A fresh virtual environment of the Python oxwsgi embeds, as a site's python-home."""
    path = site_dir / "venv"
    subprocess.run([str(VENV / "bin" / "python"), "-m", "venv", "--without-pip", str(path)],
                   check=True)
    return path


def test_a_daemon_group_site_runs_with_its_venv_static_files_and_recycling(
    tmp_path, site_dir, venv
):
    """Seed 002's shape (py-apps.conf plus the hello_py site), as root without a user switch:
    WSGIPythonHome, a daemon group of 2 processes x 5 threads with maximum-requests=5, chosen
    by WSGIProcessGroup in the <Directory> around the script; an Alias; and every request
    answered while the workers are replaced."""
    apps = site_dir / "pyApps"
    (apps / "helloWorld").mkdir(parents=True)
    write(apps / "helloWorld" / "index.wsgi", RECORDING_APP)
    (site_dir / "static").mkdir()
    (site_dir / "static" / "a.txt").write_text("static file\n")
    port = free_port()
    conf = write(
        site_dir / "py-apps.conf",
        f"""
        Listen 127.0.0.1:{port}
        {user_directive()}
        <IfModule mod_wsgi.c>
            WSGIPythonHome {venv}
            WSGIDaemonProcess pyApps \\
                processes=2 threads=5 \\
                maximum-requests=5 \\
                display-name=pyApps
            <Directory {apps}>
                WSGIProcessGroup pyApps
                WSGIApplicationGroup %{{GLOBAL}}
                Require all granted
            </Directory>
        </IfModule>
        <IfModule mod_wsgi.c>
            WSGIScriptAlias /hello.py {apps}/helloWorld/index.wsgi
        </IfModule>
        Alias /static {site_dir}/static
        """,
    )
    srv = Server(["--config", conf], tmp_path, apache=True)
    try:
        status, body = get(f"http://127.0.0.1:{port}/hello.py/x",
                           {"Authorization": "Basic c2VjcmV0"})
        got = fields(body)
        assert status == 200
        assert got["prefix"] == str(venv)
        assert got["process_group"] == "pyApps"
        assert got["application_group"] == ""
        assert (got["threads"], got["multiprocess"]) == ("True", "True")
        assert (got["script_name"], got["path_info"]) == ("/hello.py", "/x")
        # WSGIPassAuthorization is Off unless the site turns it on, as in mod_wsgi.
        assert got["authorization"] == "None"
        assert get(f"http://127.0.0.1:{port}/static/a.txt") == (200, "static file\n")

        first = set(srv.worker_pids())
        assert len(first) == 2
        pids = set()
        failures = []
        answered = []

        def client():
            # Under load from four clients at once, until every worker has been replaced at
            # least once (more than 5 requests per process): no request may fail.
            deadline = time.monotonic() + 60
            while len(pids - first) < len(first) and time.monotonic() < deadline:
                try:
                    status, body = get(f"http://127.0.0.1:{port}/hello.py")
                    assert status == 200
                    pids.add(int(fields(body)["pid"]))
                    answered.append(1)
                except (OSError, AssertionError) as err:
                    failures.append(err)

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            for future in [pool.submit(client) for _ in range(4)]:
                future.result()
        assert failures == []
        # As many new workers answered as there were first ones.
        assert len(pids - first) >= len(first), (pids, first, len(answered))
    finally:
        srv.stop()


def test_pass_authorization_on_passes_the_header(tmp_path, site_dir):
    write(site_dir / "app.wsgi", RECORDING_APP)
    port = free_port()
    conf = write(
        site_dir / "site.conf",
        f"""
        Listen 127.0.0.1:{port}
        {user_directive()}
        ServerName pecan_test
        WSGIDaemonProcess pecan_test threads=5 python-home={VENV}
        WSGIPassAuthorization On
        WSGIScriptAlias / {site_dir}/app.wsgi
        WSGIProcessGroup pecan_test
        WSGIApplicationGroup %{{GLOBAL}}
        """,
    )
    srv = Server(["--config", conf], tmp_path, apache=True)
    try:
        status, body = get(f"http://127.0.0.1:{port}/", {"Authorization": "Basic c2VjcmV0"})
        got = fields(body)
        assert got["authorization"] == "Basic c2VjcmV0"
        # processes= not given: wsgi.multiprocess is False, as in mod_wsgi.
        assert (got["threads"], got["multiprocess"]) == ("True", "False")
        assert len(srv.worker_pids()) == 1
    finally:
        srv.stop()


def test_workers_run_as_the_daemon_groups_user(tmp_path, site_dir):
    """Seed 000 as written, with its user changed to one that exists: the worker runs as that
    user, with 5 threads, and the Authorization header reaches the app. Not root, naming
    another user is an error that says why."""
    write(site_dir / "app.wsgi", RECORDING_APP)
    port = free_port()
    user = TEST_USER or "nobody"
    conf = write(
        site_dir / "pecan_test.conf",
        f"""
        Listen 127.0.0.1:{port}
        ServerName pecan_test

        WSGIDaemonProcess pecan_test threads=5 user={user} python-home={VENV}
        WSGIPassAuthorization On
        WSGIScriptAlias / {site_dir}/app.wsgi
        WSGIProcessgroup pecan_test
        WSGIApplicationgroup %{{GLOBAL}}
        Order deny,allow
        Allow from all
        """,
    )
    if TEST_USER is None:
        result = oxwsgi("start-server", "--log-to-terminal", "--config", conf)
        assert result.returncode == 2
        me = pwd.getpwuid(os.getuid()).pw_name
        assert (
            f"{conf}:4: error: WSGIDaemonProcess user=nobody: only root can run the workers as "
            f"another user (oxwsgi runs as {me}); start it as root, or remove user="
        ) in result.stderr.splitlines()
        return
    user_directive()
    # Log files, not the terminal: the worker opens the error log before it switches user.
    srv = Server(["--config", conf], tmp_path, apache=True, log_to_terminal=False)
    try:
        status, body = get(f"http://127.0.0.1:{port}/", {"Authorization": "Basic c2VjcmV0"})
        got = fields(body)
        assert int(got["uid"]) == pwd.getpwnam(TEST_USER).pw_uid
        assert got["authorization"] == "Basic c2VjcmV0"
        assert got["threads"] == "True"
        (worker,) = srv.worker_pids()
        status_lines = open(f"/proc/{worker}/status").read().splitlines()
        uids = next(line for line in status_lines if line.startswith("Uid:")).split()[1:]
        assert set(uids) == {str(pwd.getpwnam(TEST_USER).pw_uid)}, status_lines
        threads = len(os.listdir(f"/proc/{worker}/task"))
        assert threads >= 5
    finally:
        srv.stop()
    log = (srv.server_root / "error_log").read_text()
    assert f"[worker:notice] [pid {worker}:" in log, log
    assert "cannot open the error log" not in log, log


def test_workers_never_run_as_root(site_dir):
    """user=root is refused; started as root, a configuration naming no user is refused too.
    (Not root, the workers run as the current user: then user=root is refused as another user,
    and a configuration naming none starts, which other tests show.)"""
    write(site_dir / "app.wsgi", RECORDING_APP)
    port = free_port()
    conf = write(
        site_dir / "site.conf",
        f"""
        Listen 127.0.0.1:{port}
        WSGIDaemonProcess app user=root
        WSGIScriptAlias / {site_dir}/app.wsgi process-group=app
        """,
    )
    result = oxwsgi("start-server", "--log-to-terminal", "--config", conf)
    assert result.returncode == 2
    if os.getuid() != 0:
        me = pwd.getpwuid(os.getuid()).pw_name
        assert (
            f"{conf}:2: error: WSGIDaemonProcess user=root: only root can run the workers as "
            f"another user (oxwsgi runs as {me}); start it as root, or remove user="
        ) in result.stderr.splitlines()
        assert not port_is_listening(port)
        return
    assert (
        f"{conf}:2: error: user root: 'root' is root: the workers never run as root (mod_wsgi "
        "refuses it too); name an unprivileged user such as www-data"
    ) in result.stderr.splitlines()
    unnamed = write(site_dir / "unnamed.conf", f"""
        Listen 127.0.0.1:{port}
        WSGIScriptAlias / {site_dir}/app.wsgi
        """)
    result = oxwsgi("start-server", "--log-to-terminal", "--config", unnamed)
    assert result.returncode == 2
    assert (
        f"{unnamed}:1: error: oxwsgi was started as root and nothing names the user the "
        "workers run as: add `User www-data` (or user= to the WSGIDaemonProcess); the workers "
        "never run as root"
    ) in result.stderr.splitlines()
    assert not port_is_listening(port)


def test_seed_000_serves_the_pecan_service_as_its_user(tmp_path, site_dir):
    """Seed 000's pecan_test.conf as the seed writes it, with the paths changed to the test's
    directory, user= to the test user, python-home= added (the seed's machine had Pecan in its
    system Python; here it is in the test venv), and one line more: a second script in the same
    group that shows its environ, so the test can see the Authorization header and the user."""
    shutil.copytree(EXAMPLES / "pecan", site_dir / "pecan_test")
    write(site_dir / "pecan_test" / "whoami.wsgi", RECORDING_APP)
    port = free_port()
    user = f" user={TEST_USER}" if TEST_USER else ""
    conf = write(
        site_dir / "pecan_test.conf",
        f"""
        Listen 127.0.0.1:{port}
        ServerName pecan_test

        WSGIDaemonProcess pecan_test threads=5{user} python-home={VENV}
        WSGIPassAuthorization On
        WSGIScriptAlias / {site_dir}/pecan_test/app.wsgi
        WSGIProcessgroup pecan_test
        WSGIApplicationgroup %{{GLOBAL}}
        Order deny,allow
        Allow from all
        WSGIScriptAlias /whoami {site_dir}/pecan_test/whoami.wsgi
        """,
    )
    if TEST_USER:
        user_directive()
    srv = Server(["--config", conf], tmp_path, apache=True)
    try:
        url = f"http://127.0.0.1:{port}"
        assert requests.get(url + "/").json() == {
            "service": "pecanrest",
            "resources": ["deployments"],
        }
        created = requests.post(url + "/deployments", json={"app": "wordpress"})
        assert (created.status_code, created.json()) == (
            201, {"id": 1, "app": "wordpress", "state": "deploying"})
        updated = requests.put(url + "/deployments/1", json={"state": "running"})
        assert (updated.status_code, updated.json()) == (
            200, {"id": 1, "app": "wordpress", "state": "running"})
        assert requests.get(url + "/deployments").json() == {
            "deployments": [{"id": 1, "app": "wordpress", "state": "running"}]
        }
        got = fields(requests.get(url + "/whoami", headers={"Authorization": "Bearer t0k"}).text)
        assert got["authorization"] == "Bearer t0k"
        assert got["process_group"] == "pecan_test"
        assert got["threads"] == "True"
        expected_uid = pwd.getpwnam(TEST_USER).pw_uid if TEST_USER else os.getuid()
        assert int(got["uid"]) == expected_uid
        (worker,) = srv.worker_pids()
        assert int(got["pid"]) == worker
        # 5 request threads, besides the I/O and housekeeping ones.
        names = [open(f"/proc/{worker}/task/{t}/comm").read().strip()
                 for t in os.listdir(f"/proc/{worker}/task")]
        assert len([n for n in names if n.startswith("python")]) == 5, names
        # Resolved once: the supervisor was handed the configuration that was checked and
        # printed (it does not read the files again), and each warning appears once.
        warning = f"{conf}:9: warning: Order outside <Directory> or <Location>"
        assert srv.stderr.count(warning) == 1, srv.stderr
        environ = open(f"/proc/{srv.pid}/environ", "rb").read().split(b"\0")
        assert any(v.startswith(b"OXWSGI_RESOLVED_CONFIG_FD=") for v in environ)
    finally:
        srv.stop()


def test_keystone_like_site_serves_each_port_from_its_own_group(tmp_path):
    """tests/sites/keystone_like (an OpenStack API service): two Listen ports, a
    <VirtualHost> and a WSGIDaemonProcess per port. Each group's workers accept on their own
    port only (no hop between groups), run as the site's user, pass Authorization, honour
    LimitRequestBody and TraceEnable off, and write the virtual host's own access log in its
    own format."""
    shared = tempfile.mkdtemp(prefix="oxwsgi-site-")
    try:
        os.chmod(shared, 0o755)
        env = prepare("keystone_like", shared)
        subprocess.run(["chmod", "-R", "a+rX", shared], check=True)
        if TEST_USER:
            user_directive()
            env.update(TEST_USER=TEST_USER, TEST_GROUP=TEST_USER)
        site = env["SITE_DIR"]
        # The site's own log files (the workers open them before switching user).
        srv = Server(["--config", f"{site}/site.conf"], tmp_path, apache=True, env=env,
                     log_to_terminal=False)
        try:
            a, b = int(env["PORT_A"]), int(env["PORT_B"])
            headers = {"User-Agent": "sites-test", "Authorization": "Bearer token-123"}
            got = fields(requests.get(f"http://127.0.0.1:{a}/v3/auth", headers=headers).text)
            assert (got["app"], got["process_group"], got["application_group"]) == (
                "warden-public", "warden-public", "")
            assert (got["authorization"], got["script_name"], got["path_info"]) == (
                "Bearer token-123", "", "/v3/auth")
            assert got["multiprocess"] == "True"
            headers = {"User-Agent": "sites-test", "Authorization": "Bearer admin-9",
                       "Host": f"localhost:{b}"}
            got = fields(requests.get(f"http://127.0.0.1:{b}/v3", headers=headers).text)
            assert (got["app"], got["process_group"], got["authorization"]) == (
                "warden-admin", "warden-admin", "Bearer admin-9")

            fits = requests.post(f"http://127.0.0.1:{a}/v3", data=b"x" * 114688)
            assert (fits.status_code, fields(fits.text)["body_bytes"]) == (200, "114688")
            too_big = requests.post(f"http://127.0.0.1:{a}/v3", data=b"x" * 114689)
            assert too_big.status_code == 413
            for port in (a, b):
                assert requests.request("TRACE", f"http://127.0.0.1:{port}/").status_code == 405

            pids = {a: set(), b: set()}
            for port in (a, b):
                for _ in range(20):
                    got = fields(requests.get(f"http://127.0.0.1:{port}/",
                                              headers={"Connection": "close"}).text)
                    pids[port].add(int(got["pid"]))
                    expected = pwd.getpwnam(TEST_USER).pw_uid if TEST_USER else os.getuid()
                    assert int(got["uid"]) == expected
            assert len(pids[a]) <= 2 and len(pids[b]) == 1 and not pids[a] & pids[b], pids
        finally:
            srv.stop()
        public = open(f"{site}/logs/warden-public-access.log").read()
        assert re.search(r'^127\.0\.0\.1 - - \[[^]]+\] "GET /v3/auth HTTP/1\.1" 200 \d+ "-" '
                         r'"sites-test" \d+\(us\)$', public, re.MULTILINE), public
        assert re.search(r'^127\.0\.0\.1 - - \[[^]]+\] "POST /v3 HTTP/1\.1" 413 ', public,
                         re.MULTILINE), public
        admin = open(f"{site}/logs/warden-admin-access.log").read()
        assert re.search(r'^127\.0\.0\.1 - - \[[^]]+\] "GET /v3 HTTP/1\.1" 200 \d+ "-" '
                         r'"sites-test"$', admin, re.MULTILINE), admin
        assert "/v3/auth" not in admin
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def request_from(source, port, path):
    """A GET from the client address `source` (127.0.0.x are all this machine): the status
    and the body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10,
                                  source_address=(source, 0)) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()


FORBIDDEN = "<p>You don't have permission to access this resource.</p>"


def test_access_rules_of_directories_and_locations_decide_who_gets_a_403(tmp_path, site_dir):
    """Require ip, Require all denied, <RequireAll> with Require not, and the 2.2 style
    Order/Deny/Allow, in <Location> and in <Directory> sections around an application and an
    Alias; httpd's merge: the most specific directory, then the most specific location."""
    write(site_dir / "app.wsgi", RECORDING_APP)
    (site_dir / "static" / "private").mkdir(parents=True)
    (site_dir / "static" / "a.txt").write_text("public\n")
    (site_dir / "static" / "private" / "b.txt").write_text("secret\n")
    port = free_port()
    conf = write(
        site_dir / "site.conf",
        f"""
        Listen {port}
        {user_directive()}
        WSGIDaemonProcess app threads=2 python-home={VENV}
        WSGIScriptAlias / {site_dir}/app.wsgi process-group=app application-group=%{{GLOBAL}}
        Alias /static {site_dir}/static
        <Directory {site_dir}>
            Require all granted
        </Directory>
        <Directory {site_dir}/static/private>
            Require all denied
        </Directory>
        <Location /admin>
            Require ip 127.0.0.2
        </Location>
        <Location /lan>
            <RequireAll>
                Require ip 127.0.0.0/8
                Require not ip 127.0.0.3
            </RequireAll>
        </Location>
        <Location /old>
            Order deny,allow
            Deny from all
            Allow from 127.0.0.4
        </Location>
        """,
    )
    srv = Server(["--config", conf], tmp_path, apache=True)
    try:
        assert request_from("127.0.0.1", port, "/")[0] == 200
        assert request_from("127.0.0.1", port, "/static/a.txt") == (200, "public\n")
        assert request_from("127.0.0.1", port, "/static/private/b.txt")[0] == 403
        status, body = request_from("127.0.0.1", port, "/admin/users")
        assert status == 403 and FORBIDDEN in body
        status, body = request_from("127.0.0.2", port, "/admin/users")
        assert status == 200 and fields(body)["path_info"] == "/admin/users"
        assert request_from("127.0.0.1", port, "/administrator")[0] == 200
        assert request_from("127.0.0.2", port, "/lan")[0] == 200
        assert request_from("127.0.0.3", port, "/lan")[0] == 403
        assert request_from("127.0.0.1", port, "/old")[0] == 403
        assert request_from("127.0.0.4", port, "/old")[0] == 200
    finally:
        srv.stop()


def double_reverse_name(address):
    """The name httpd (and oxwsgi) would find for the client `address` on this machine: its
    reverse name, if that name resolves back to it; else None."""
    try:
        name = socket.gethostbyaddr(address)[0]
        addresses = {info[4][0] for info in socket.getaddrinfo(name, None)}
    except OSError:
        return None
    return name.lower().rstrip(".") if address in addresses else None


def test_require_host_and_allow_from_a_name_check_the_clients_double_reverse_name(
        tmp_path, site_dir):
    """Require host, Require not host and Allow from a name let in the client whose address
    has that name (and whose name has that address back), and no other: a name that is not
    the client's, or a client without a name, gets httpd's 403."""
    name = double_reverse_name("127.0.0.1")
    # Every Linux /etc/hosts names 127.0.0.1 localhost; a machine without it cannot run this.
    assert name is not None, "127.0.0.1 has no name that resolves back to it (/etc/hosts)"
    # A loopback address without a name, if this machine has one.
    nameless = next((a for a in ("127.0.0.2", "127.0.0.3", "127.0.0.4")
                     if double_reverse_name(a) is None), None)
    write(site_dir / "app.wsgi", RECORDING_APP)
    port = free_port()
    conf = write(
        site_dir / "site.conf",
        f"""
        Listen {port}
        {user_directive()}
        WSGIDaemonProcess app threads=2 python-home={VENV}
        WSGIScriptAlias / {site_dir}/app.wsgi process-group=app application-group=%{{GLOBAL}}
        <Directory {site_dir}>
            Require all granted
        </Directory>
        <Location /local-only>
            Require host {name}
        </Location>
        <Location /elsewhere>
            Require host example.invalid
        </Location>
        <Location /not-me>
            <RequireAll>
                Require all granted
                Require not host {name}
            </RequireAll>
        </Location>
        <Location /old>
            Order deny,allow
            Deny from all
            Allow from {name.upper()}
        </Location>
        <Location /old-elsewhere>
            Order deny,allow
            Deny from all
            Allow from .invalid
        </Location>
        """,
    )
    srv = Server(["--config", conf], tmp_path, apache=True)
    try:
        status, body = request_from("127.0.0.1", port, "/local-only/x")
        assert status == 200 and fields(body)["path_info"] == "/local-only/x"
        status, body = request_from("127.0.0.1", port, "/elsewhere")
        assert status == 403 and FORBIDDEN in body
        status, body = request_from("127.0.0.1", port, "/not-me")
        assert status == 403 and FORBIDDEN in body
        assert request_from("127.0.0.1", port, "/old")[0] == 200
        status, body = request_from("127.0.0.1", port, "/old-elsewhere")
        assert status == 403 and FORBIDDEN in body
        assert request_from("127.0.0.1", port, "/")[0] == 200
        if nameless is not None:
            status, body = request_from(nameless, port, "/local-only/x")
            assert status == 403 and FORBIDDEN in body
            assert request_from(nameless, port, "/not-me")[0] == 200
            assert request_from(nameless, port, "/old")[0] == 403
    finally:
        srv.stop()


ENVIRON_APP = """
def application(environ, start_response):
    keys = sorted(k for k in environ if k.startswith(("site.", "SITE_", "PASSED_")))
    body = "".join("%s=%s\\n" % (k, environ[k]) for k in keys)
    body += "SCRIPT_NAME=%s\\n" % environ["SCRIPT_NAME"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
"""


def test_set_env_reaches_the_environ_from_server_directory_and_location(tmp_path, site_dir):
    """SetEnv at server level, in the <Directory> around a script and in a <Location> around
    its URL space (dotted keys too, as Trac's trac.env_path); UnsetEnv; PassEnv; and the
    server's own keys win over a SetEnv of the same name, as in mod_wsgi."""
    (site_dir / "one").mkdir()
    (site_dir / "two").mkdir()
    write(site_dir / "one" / "app.wsgi", ENVIRON_APP)
    write(site_dir / "two" / "app.wsgi", ENVIRON_APP)
    port = free_port()
    conf = write(
        site_dir / "site.conf",
        f"""
        Listen 127.0.0.1:{port}
        {user_directive()}
        WSGIDaemonProcess env threads=1 python-home={VENV}
        WSGIProcessGroup env
        WSGIApplicationGroup %{{GLOBAL}}
        SetEnv SITE_LEVEL server
        SetEnv SITE_GONE soon
        SetEnv SCRIPT_NAME /forged
        PassEnv PASSED_IN
        UnsetEnv SITE_GONE
        WSGIScriptAlias /one {site_dir}/one/app.wsgi
        WSGIScriptAlias /two {site_dir}/two/app.wsgi
        <Directory {site_dir}/one>
            SetEnv site.env_path /srv/one
            SetEnv SITE_LEVEL directory
        </Directory>
        <Location /two>
            SetEnv SITE_WHERE location
        </Location>
        """,
    )
    srv = Server(["--config", conf], tmp_path, apache=True, env={"PASSED_IN": "from-env"})
    try:
        one = fields(requests.get(f"http://127.0.0.1:{port}/one").text)
        assert one == {"PASSED_IN": "from-env", "SITE_LEVEL": "directory",
                       "site.env_path": "/srv/one", "SCRIPT_NAME": "/one"}
        two = fields(requests.get(f"http://127.0.0.1:{port}/two/x").text)
        assert two == {"PASSED_IN": "from-env", "SITE_LEVEL": "server",
                       "SITE_WHERE": "location", "SCRIPT_NAME": "/two"}
    finally:
        srv.stop()


def prepared_site(name):
    """A copy of tests/sites/<name> the workers' user can read, and its variables (the user
    set to the test user when root); the caller removes the directory."""
    shared = tempfile.mkdtemp(prefix="oxwsgi-site-")
    os.chmod(shared, 0o755)
    # Its venvs are made from the Python oxwsgi embeds.
    env = prepare(name, shared, python=str(VENV / "bin" / "python"))
    subprocess.run(["chmod", "-R", "a+rX", shared], check=True)
    if TEST_USER:
        user_directive()
        env.update(TEST_USER=TEST_USER, TEST_GROUP=TEST_USER)
        # The site's run-time directory is its user's, as a deployment makes it.
        shutil.chown(f"{env['SITE_DIR']}/run", TEST_USER)
    return shared, env


def host_get(port, path, host, headers=(), source=None):
    """A GET on a new connection, from `source` (an address of 127/8) if given: its status and
    body's fields."""
    source_address = (source, 0) if source else None
    with socket.create_connection(("127.0.0.1", port), source_address=source_address) as sock:
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n"
                     .encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.decode().partition("\r\n\r\n")
    return int(head.split()[1]), fields(body)


def test_multi_group_vhosts_site_routes_by_host_and_url_to_its_groups():
    """tests/sites/multi_group_vhosts (README 7.1-7.13): two name-based virtual hosts on one
    port, chosen by Host (ServerName, ServerAlias with a wildcard, case and port ignored, the
    first the default); in the first, / and /api in two daemon groups with their own venvs,
    reached through the front tier, and /api/admin only from 127.0.0.2. oxwsgi runs each
    application group in workers of its own (docs/apache.md), so where httpd answers 7.9
    from 7.1's process, oxwsgi answers from another of portal-front's settings."""
    with running_site("multi_group_vhosts") as (env, srv):
        site = env["SITE_DIR"]
        port = int(env["PORT_A"])
        front_venv, api_venv = f"{site}/venvs/front", f"{site}/venvs/api"
        auth = ("Authorization", "Basic Zm9vOmJhcg==")
        status, root = host_get(port, "/", "portal.test", [auth])
        assert status == 200
        assert (root["app"], root["prefix"], root["process_group"]) == (
            "portal-front", front_venv, "portal-front")
        assert (root["application_group"], root["authorization"]) == ("", "None")
        assert (root["script_name"], root["path_info"], root["multiprocess"]) == (
            "", "/", "True")
        status, news = host_get(port, "/news", f"www.portal.test:{port}")
        assert (status, news["app"], news["path_info"]) == (200, "portal-front", "/news")
        status, other = host_get(port, "/", "unknown.example")
        assert (status, other["app"]) == (200, "portal-front")

        status, api = host_get(port, "/api/v1/items", "portal.test",
                              [("Authorization", "Bearer t")])
        assert status == 200
        assert (api["app"], api["prefix"], api["process_group"]) == (
            "portal-api", api_venv, "portal-api")
        assert (api["application_group"], api["authorization"]) == (
            "portal-api-interp", "Bearer t")
        assert (api["script_name"], api["path_info"]) == ("/api", "/v1/items")
        status, bare = host_get(port, "/api", "portal.test")
        assert (status, bare["app"], bare["script_name"], bare["path_info"]) == (
            200, "portal-api", "/api", "")
        status, apiary = host_get(port, "/apiary", "portal.test")
        assert (status, apiary["app"], apiary["path_info"]) == (
            200, "portal-front", "/apiary")

        status, refused = host_get(port, "/api/admin/users", "portal.test")
        assert (status, refused) == (403, {})
        status, admin = host_get(port, "/api/admin/users", "portal.test", source="127.0.0.2")
        assert (status, admin["app"], admin["path_info"]) == (
            200, "portal-api", "/admin/users")

        status, status_root = host_get(port, "/", "status.test")
        assert status == 200
        assert (status_root["app"], status_root["process_group"]) == (
            "portal-status", "portal-front")
        assert (status_root["application_group"], status_root["prefix"]) == (
            "status-interp", front_venv)
        # Another application group of portal-front: other workers (httpd: one process).
        assert status_root["pid"] != root["pid"]
        status, health = host_get(port, "/health", f"STATUS.TEST:{port}")
        assert (status, health["app"], health["path_info"]) == (
            200, "portal-status", "/health")
        status, wildcard = host_get(port, "/", "status-3.internal.test")
        assert (status, wildcard["app"]) == (200, "portal-status")
        status, elsewhere = host_get(port, "/api/admin", "status.portal.test")
        assert (status, elsewhere["app"], elsewhere["path_info"]) == (
            200, "portal-status", "/api/admin")

        pids = {host_get(port, "/api/x", "portal.test")[1]["pid"] for _ in range(20)}
        assert 1 <= len(pids) <= 2 and root["pid"] not in pids


DOCUMENT_ROOT_APP = """
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("document_root=%s\\n" % environ["DOCUMENT_ROOT"]).encode()]
"""


def raw_response(port, path, host):
    """A GET with `host` on a new connection: status and body as text."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
                     .encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.decode().partition("\r\n\r\n")
    return int(head.split()[1]), body


@pytest.mark.parametrize("second_group", ["shared", "other"])
def test_virtual_hosts_serve_their_own_document_roots(site_dir, second_group):
    """Name-based virtual hosts on one port, each with its DocumentRoot, DirectoryIndex,
    Options Indexes and <Directory> rules under its own root; DOCUMENT_ROOT in the environ is
    the application's virtual host's; check-config shows each host's root. With one group the
    group's workers serve both hosts directly; with two, the front tier does."""
    for name, index in (("one", "index.html"), ("two", "start.html")):
        root = site_dir / name
        (root / "private").mkdir(parents=True)
        (root / index).write_text(f"{name} index\n")
        (root / "shared.txt").write_text(f"{name} shared\n")
        (root / "private" / "notes.txt").write_text(f"{name} notes\n")
        (root / "listed").mkdir()
        (root / "listed" / "entry.txt").write_text("entry\n")
    write(site_dir / "app.wsgi", DOCUMENT_ROOT_APP)
    port = free_port()
    conf = write(
        site_dir / "site.conf",
        f"""
        Listen 127.0.0.1:{port}
        {user_directive()}
        WSGIDaemonProcess shared threads=2 python-home={VENV}
        WSGIDaemonProcess other threads=2 python-home={VENV}
        WSGIProcessGroup shared
        WSGIApplicationGroup %{{GLOBAL}}
        <VirtualHost *:{port}>
            ServerName one.test
            DocumentRoot {site_dir}/one
            WSGIScriptAlias /app {site_dir}/app.wsgi
            <Directory {site_dir}/one/private>
                Require all denied
            </Directory>
        </VirtualHost>
        <VirtualHost *:{port}>
            ServerName two.test
            DocumentRoot {site_dir}/two
            DirectoryIndex start.html
            WSGIScriptAlias /app {site_dir}/app.wsgi process-group={second_group}
            <Directory {site_dir}/two/listed>
                Options Indexes
            </Directory>
        </VirtualHost>
        """,
    )
    checked = oxwsgi("check-config", conf)
    assert checked.returncode == 0, checked.stderr
    assert f"    other paths -> files of {site_dir}/one/ (document root)" in checked.stdout
    assert f"    other paths -> files of {site_dir}/two/ (document root)" in checked.stdout
    accepting = "the front tier" if second_group == "other" else "group shared (direct)"
    assert f"  127.0.0.1:{port} -> {accepting}" in checked.stdout
    # The server root in the shared directory, which the front tier's user can traverse.
    srv = Server(["--config", conf], site_dir, apache=True)
    try:
        assert raw_response(port, "/", "one.test") == (200, "one index\n")
        assert raw_response(port, "/", "two.test") == (200, "two index\n")
        # Another Host: the first virtual host, the default.
        assert raw_response(port, "/shared.txt", "elsewhere.test") == (200, "one shared\n")
        assert raw_response(port, "/shared.txt", "two.test") == (200, "two shared\n")
        assert raw_response(port, "/private/notes.txt", "one.test")[0] == 403
        assert raw_response(port, "/private/notes.txt", "two.test") == (200, "two notes\n")
        assert raw_response(port, "/listed/", "one.test")[0] == 404
        status, listing = raw_response(port, "/listed/", "two.test")
        assert status == 200 and 'href="entry.txt"' in listing
        assert raw_response(port, "/start.html", "one.test")[0] == 404
        assert raw_response(port, "/app", "one.test") == (
            200, f"document_root={site_dir}/one\n")
        assert raw_response(port, "/app", "two.test") == (
            200, f"document_root={site_dir}/two\n")
    finally:
        srv.stop()


def test_check_config_prints_what_would_run():
    """check-config's routing summary comes from the configuration start-server would run:
    who accepts on each address (here the front tier), each virtual host's names and mounts,
    each group (application groups split) with its processes, threads, user and venv."""
    shared, env = prepared_site("multi_group_vhosts")
    try:
        site, port = env["SITE_DIR"], env["PORT_A"]
        result = oxwsgi("check-config", f"{site}/site.conf", env=env)
        assert result.returncode == 0, result.stderr
        user = f", as {TEST_USER}" if TEST_USER else ""
        routing = result.stdout[result.stdout.index("Would run:"):].splitlines()
        # Neither host names a DocumentRoot: both serve the default, under the server root.
        roots = [line for line in routing if line.startswith("    other paths -> ")]
        assert len(roots) == 2 and roots[0] == roots[1]
        assert re.fullmatch(r"    other paths -> files of /\S+/htdocs/ \(document root\)",
                            roots[0])
        routing = [line for line in routing if line not in roots]
        assert routing == [
            "Would run:",
            f"  *:{port} -> the front tier, forwarding to portal-api, portal-front:%{{GLOBAL}}, "
            "portal-front:status-interp over unix sockets",
            f"  virtual host portal.test, www.portal.test on *:{port}:",
            f"    /api -> WSGI script '{site}/api/api.wsgi' in group portal-api",
            f"    / -> WSGI script '{site}/front/front.wsgi' in group portal-front:%{{GLOBAL}}",
            f"  virtual host status.test, status.portal.test, status-*.internal.test on *:{port}:",
            f"    / -> WSGI script '{site}/status/status.wsgi' in group "
            "portal-front:status-interp",
            f"  group portal-api: 2 process(es) x 2 thread(s){user}, venv {site}/venvs/api",
            f"  group portal-front:%{{GLOBAL}}: 1 process(es) x 4 thread(s){user}, "
            f"venv {site}/venvs/front",
            f"  group portal-front:status-interp: 1 process(es) x 4 thread(s){user}, "
            f"venv {site}/venvs/front",
            f"  front tier: 1 process(es), no Python{user}",
            "Syntax OK",
        ]
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def test_aliasmatch_tools_site_runs_the_script_its_pattern_names(tmp_path):
    """tests/sites/aliasmatch_tools (README 8.1-8.13): WSGIScriptAliasMatch with $1 picks the
    script; the matched part is SCRIPT_NAME; a name with no script, or not matched, falls to
    the ErrorDocument 404; with RedirectMatch, Redirect gone, an ErrorDocument text for a
    <Location> that refuses, and the DocumentRoot serving what nothing mounts."""
    with running_site("aliasmatch_tools") as (env, srv):
        site = env["SITE_DIR"]
        port = int(env["PORT_A"])
        here = f"localhost:{port}"
        status, headers, _ = raw_get(port, "/", here)
        assert (status, headers["Location"]) == (302, f"http://{here}/tools/alpha")
        status, _, body = raw_get(port, "/tools/alpha", here)
        alpha = fields(body)
        assert status == 200
        assert (alpha["app"], alpha["process_group"], alpha["application_group"]) == (
            "tool-alpha", "toolbox", "")
        assert (alpha["script_name"], alpha["path_info"], alpha["multiprocess"]) == (
            "/tools/alpha", "", "True")
        status, _, body = raw_get(port, "/tools/beta/x/y", here)
        beta = fields(body)
        assert (status, beta["app"], beta["script_name"], beta["path_info"]) == (
            200, "tool-beta", "/tools/beta", "/x/y")
        assert beta["pid"] == alpha["pid"]
        assert raw_get(port, "/tools/gamma", here)[::2] == (403, "Tools are closed today")
        not_found = (404, "toolbox: no such page\n")
        for path in ("/tools/delta", "/nowhere", "/tools/ALPHA", "/tools/alphabet"):
            status, headers, body = raw_get(port, path, here)
            assert (status, body) == not_found, path
            assert headers["Content-Type"].startswith("text/plain"), path
        status, _, body = raw_get(port, "/tools/alpha/app-404", here)
        assert (status, fields(body)["app"], fields(body)["path_info"]) == (
            404, "tool-alpha", "/app-404")
        status, headers, _ = raw_get(port, "/tool/beta", here)
        assert (status, headers["Location"]) == (301, f"http://{here}/tools/beta")
        status, headers, _ = raw_get(port, "/tool/beta?x=1", here)
        assert (status, headers["Location"]) == (301, f"http://{here}/tools/beta?x=1")
        assert raw_get(port, "/tools/retired", here)[0] == 410
        status, headers, body = raw_get(port, "/robots.txt", here)
        assert (status, body) == (200, "User-agent: *\nDisallow: /tools/\n")
        assert headers["Content-Type"].startswith("text/plain")


def test_alias_match_serves_the_file_its_target_names_and_nothing_above_it(tmp_path, site_dir):
    """AliasMatch replaces the path with its target, $1 filled in (mod_alias's meaning); the
    file is looked up below the target's literal directory, as a directory alias's are."""
    icons = site_dir / "icons"
    (icons / "sub").mkdir(parents=True)
    (icons / "a.png").write_bytes(b"png bytes")
    (icons / "sub" / "b.txt").write_text("deep file\n")
    (site_dir / "secret.txt").write_text("not below the alias\n")
    port = free_port()
    conf = write(
        site_dir / "site.conf",
        f"""
        Listen 127.0.0.1:{port}
        {user_directive()}
        AliasMatch ^/icons/(.*)$ {icons}/$1
        AliasMatch ^/v[0-9]+/assets/(.*)$ {icons}/$1
        <Directory {site_dir}>
            Require all granted
        </Directory>
        """,
    )
    srv = Server(["--config", conf], tmp_path, apache=True)
    try:
        assert raw_get(port, "/icons/a.png")[::2] == (200, "png bytes")
        assert raw_get(port, "/icons/sub/b.txt")[::2] == (200, "deep file\n")
        assert raw_get(port, "/v12/assets/sub/b.txt")[::2] == (200, "deep file\n")
        assert raw_get(port, "/vX/assets/sub/b.txt")[0] == 404
        assert raw_get(port, "/icons/missing")[0] == 404
        # A normalised path has no `..`: what is above the directory stays out of reach.
        assert raw_get(port, "/icons/%2e%2e/secret.txt")[0] == 404
    finally:
        srv.stop()


def test_a_script_pattern_needs_scripts_and_an_expression_oxwsgi_can_use(tmp_path):
    conf = write(
        tmp_path / "site.conf",
        f"""
        Listen 127.0.0.1:{free_port()}
        WSGIScriptAliasMatch ^/tools/([a-z]+) {tmp_path}/tools/$1.wsgi application-group=%{{GLOBAL}}
        WSGIScriptAliasMatch ^/(?=x)(.*) {tmp_path}/$1.wsgi application-group=%{{GLOBAL}}
        """,
    )
    result = oxwsgi("start-server", "--log-to-terminal", "--config", conf)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0] == (
        f"{conf}:2: error: WSGIScriptAliasMatch: no script matches '{tmp_path}/tools/$1.wsgi' "
        "($1… standing for any name); oxwsgi loads a pattern's scripts at start"
    )
    assert lines[1].startswith(
        f"{conf}:3: error: WSGIScriptAliasMatch '^/(?=x)(.*)' is not a regular expression "
        "oxwsgi can use (Rust's regex syntax: no look-around, no back-references): "
    ), lines


def embedded_mode_user(shared):
    """The extra configuration a site in embedded mode (no user= anywhere) needs when the tests
    run as root, where workers must not run as root: httpd's `User`."""
    if not TEST_USER:
        return []
    extra = pathlib.Path(shared) / "user.conf"
    extra.write_text(f"{user_directive()}\n")
    return ["--config", extra]


@contextlib.contextmanager
def running_site(name, conf="site.conf", embedded=False):
    """oxwsgi running tests/sites/<name>/<conf> (a copy the workers' user can read), with
    `User` added when root for a site in embedded mode; yields its variables and the server,
    and removes the copy afterwards."""
    shared, env = prepared_site(name)
    try:
        extra = embedded_mode_user(shared) if embedded else []
        site = env["SITE_DIR"]
        srv = Server([*extra, "--config", f"{site}/{conf}"], shared, apache=True, env=env)
        try:
            yield env, srv
        finally:
            srv.stop()
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def test_addhandler_scripts_site_runs_each_script_of_its_directory(tmp_path):
    """tests/sites/addhandler_scripts (README 6.1-6.8): AddHandler wsgi-script .wsgi with
    Options ExecCGI in the <Directory> an Alias serves: each .wsgi file is an application at
    its URL, in embedded mode (no process group) with mod_wsgi's default application group per
    script; DirectoryIndex names index.wsgi; other files are static; the DocumentRoot serves /."""
    with running_site("addhandler_scripts", embedded=True) as (env, srv):
        site = env["SITE_DIR"]
        port = int(env["PORT_A"])
        here = f"localhost:{port}"
        uid = pwd.getpwnam(TEST_USER).pw_uid if TEST_USER else os.getuid()
        status, _, body = raw_get(port, "/scripts/alpha.wsgi", here)
        alpha = fields(body)
        assert status == 200
        assert (alpha["app"], alpha["process_group"], alpha["uid"]) == (
            "scripts-alpha", "", str(uid))
        assert alpha["application_group"] == f"{here}|/scripts/alpha.wsgi"
        assert (alpha["script_name"], alpha["path_info"], alpha["helper"]) == (
            "/scripts/alpha.wsgi", "", "helper-from-pylib")
        status, _, body = raw_get(port, "/scripts/beta.wsgi/extra/path", here)
        beta = fields(body)
        assert (status, beta["app"], beta["application_group"]) == (
            200, "scripts-beta", f"{here}|/scripts/beta.wsgi")
        assert (beta["script_name"], beta["path_info"]) == ("/scripts/beta.wsgi", "/extra/path")
        status, _, body = raw_get(port, "/scripts/", here)
        index = fields(body)
        assert (status, index["app"], index["script_name"], index["path_info"]) == (
            200, "scripts-index", "/scripts/index.wsgi", "")
        assert index["application_group"] == f"{here}|/scripts/index.wsgi"
        status, headers, _ = raw_get(port, "/scripts", here)
        assert (status, headers["Location"]) == (301, f"http://{here}/scripts/")
        status, headers, body = raw_get(port, "/scripts/notes.txt", here)
        assert (status, body) == (200, "notes served as a plain file, not run\n")
        assert headers["Content-Type"].startswith("text/plain")
        assert raw_get(port, "/scripts/missing.wsgi", here)[0] == 404
        status, headers, body = raw_get(port, "/", here)
        assert (status, body) == (200, "addhandler front page stand-in\n")
        assert headers["Content-Type"].startswith("text/html")
        status, _, body = raw_get(port, "/scripts/alpha.wsgi", f"127.0.0.1:{port}")
        assert fields(body)["application_group"] == f"{here}|/scripts/alpha.wsgi"


def test_guarded_site_skips_what_its_ifmodule_sections_guard(tmp_path):
    """tests/sites/refused_rewrite_proxy/guarded.conf (README 9.1-9.4): the mod_rewrite and
    mod_proxy rules inside <IfModule> are skipped, as by an httpd without those modules, and
    the script runs in embedded mode."""
    with running_site("refused_rewrite_proxy", "guarded.conf", embedded=True) as (env, srv):
        site = env["SITE_DIR"]
        port = int(env["PORT_A"])
        status, _, body = raw_get(port, "/app")
        app = fields(body)
        assert status == 200
        assert (app["app"], app["process_group"], app["application_group"]) == (
            "rewritten", "", "")
        assert (app["script_name"], app["path_info"]) == ("/app", "")
        status, _, body = raw_get(port, "/app/x")
        assert (status, fields(body)["path_info"]) == (200, "/x")
        assert raw_get(port, "/old/x")[0] == 404
        assert raw_get(port, "/legacy/x")[0] == 404


def test_graphite_like_site_preloads_its_script_and_sets_headers(tmp_path):
    """tests/sites/graphite_like: WSGIImportScript and WSGIScriptAlias of one script load it
    once, at process start; Header set applies to the application's and the files' responses,
    Header always set to the server's 404 as well (README 4.1-4.6)."""
    with running_site("graphite_like") as (env, srv):
        site = env["SITE_DIR"]
        port = int(env["PORT_A"])
        preloaded = sorted(p for p in os.listdir(f"{site}/run") if p.startswith("plotter-"))
        pids = set(srv.worker_pids())
        assert {int(p.rsplit(".", 1)[1]) for p in preloaded} == pids
        for path in ("/", "/render/"):
            response = requests.get(f"http://127.0.0.1:{port}{path}")
            got = fields(response.text)
            assert (got["app"], got["process_group"], got["path_info"]) == (
                "plotter", "plotter", path)
            assert got["imports"] == "1" and int(got["pid"]) in pids
            assert response.headers["X-Served-By"] == "plotter-stand-in"
            assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
        js = requests.get(f"http://127.0.0.1:{port}/static/js/dashboard.js")
        assert js.status_code == 200
        assert js.headers["Content-Type"].startswith("text/javascript")
        assert js.text == ('// plotter dashboard stand-in\n'
                           'window.plotter = {version: "stand-in"};\n')
        assert js.headers["X-Served-By"] == "plotter-stand-in"
        missing = requests.get(f"http://127.0.0.1:{port}/static/nope.js")
        assert missing.status_code == 404
        assert missing.headers["X-Frame-Options"] == "SAMEORIGIN"
        assert "X-Served-By" not in missing.headers


def test_django_like_site_serves_the_app_its_static_files_and_refuses_private_ones(tmp_path):
    """tests/sites/django_like (Django's documented daemon-mode setup): python-home= (a venv
    made by prepare) and python-path=, Alias /static/ and /media/ that leave /static and
    /media to the application, single-file Aliases, and a private directory denied inside a
    granted one (README 2.1-2.10)."""
    with running_site("django_like") as (env, srv):
        site = env["SITE_DIR"]
        url = f"http://127.0.0.1:{env['PORT_A']}"
        for path in ("/", "/blog/2024/", "/static", "/media"):
            response = requests.get(url + path)
            got = fields(response.text)
            assert response.status_code == 200, path
            assert (got["app"], got["path_info"], got["script_name"]) == (
                "almanac", path, "")
            assert got["prefix"] == f"{site}/venv"
            assert (got["process_group"], got["application_group"]) == (
                "almanac.example", "")
            assert got["settings_module"] == "almanac.settings"
            assert got["settings_site_title"] == "Almanac stand-in"
            assert got["multiprocess"] == "True"
        css = requests.get(url + "/static/css/site.css")
        assert (css.status_code, css.text) == (
            200, "body { color: #123456; } /* almanac stand-in */\n")
        assert css.headers["Content-Type"].startswith("text/css")
        assert requests.get(url + "/robots.txt").text == "User-agent: *\nDisallow: /admin/\n"
        assert requests.get(url + "/favicon.ico").text == "almanac-favicon-stand-in\n"
        assert requests.get(url + "/media/uploads/hello.txt").text == "an uploaded file\n"
        private = requests.get(url + "/static/private/notes.txt")
        assert private.status_code == 403 and FORBIDDEN in private.text
        assert requests.get(url + "/static/missing.css").status_code == 404


def test_distro_package_like_site_reads_its_enabled_snippets_only(tmp_path):
    """tests/sites/distro_package_like (Debian/RHEL packaging): Define, IncludeOptional of
    conf-enabled/*.conf in name order (and of a missing directory), <IfModule> with its
    fallback, home= and python-path=, an Alias under the application's mount, and SetEnv
    (README 5.1-5.5). The shipped but not enabled debug snippet must have no effect."""
    with running_site("distro_package_like") as (env, srv):
        site = env["SITE_DIR"]
        url = f"http://127.0.0.1:{env['PORT_A']}"
        for path, path_info in (("/ledger", ""), ("/ledger/", "/"),
                                ("/ledger/accounts/7", "/accounts/7")):
            response = requests.get(url + path)
            got = fields(response.text)
            assert response.status_code == 200, path
            assert (got["app"], got["process_group"], got["application_group"]) == (
                "ledger", "ledger", "")
            assert (got["script_name"], got["path_info"]) == ("/ledger", path_info)
            assert got["LEDGER_CONFIG"] == f"{site}/etc/ledger/ledger.ini"
            assert got["settings_flavour"] == "packaged"
            assert got["cwd"] == f"{site}/share/ledger"
            assert got["multiprocess"] == "True"
            assert "X-Ledger-Debug" not in response.headers
        css = requests.get(url + "/ledger/static/ledger.css")
        assert (css.status_code, css.text) == (200, "/* ledger stand-in stylesheet */\n")
        assert css.headers["Content-Type"].startswith("text/css")
        assert requests.get(url + "/ledgers").status_code == 404


def raw_get(port, path, host=None):
    """A GET without following redirects: the status, the headers and the body."""
    response = requests.get(f"http://127.0.0.1:{port}{path}", allow_redirects=False,
                            headers={"Host": host} if host else {})
    return response.status_code, response.headers, response.text


def test_redirects_answer_before_routing_and_access_rules(tmp_path, site_dir):
    """Redirect (prefix, the rest of the path following), RedirectMatch with $1, permanent and
    gone, RedirectPermanent; a path target made absolute with the request's Host, the query
    string kept; a redirect answers before an access rule that would refuse the path (httpd's
    mod_alias redirects first), and gets only the `always` headers."""
    write(site_dir / "app.wsgi", RECORDING_APP)
    port = free_port()
    conf = write(
        site_dir / "site.conf",
        f"""
        Listen 127.0.0.1:{port}
        {user_directive()}
        WSGIDaemonProcess app threads=1 python-home={VENV}
        WSGIScriptAlias / {site_dir}/app.wsgi process-group=app application-group=%{{GLOBAL}}
        RedirectMatch "^/$" "/dashboard/"
        RedirectMatch permanent ^/tool/([a-z]+)$ /tools/$1
        Redirect /old https://new.example/base
        Redirect gone /retired
        RedirectPermanent /moved /here
        Header set X-Success yes
        Header always set X-Always yes
        <Location /moved>
            Require all denied
        </Location>
        """,
    )
    srv = Server(["--config", conf], tmp_path, apache=True)
    try:
        status, headers, body = raw_get(port, "/", host=f"localhost:{port}")
        assert (status, headers["Location"]) == (302, f"http://localhost:{port}/dashboard/")
        assert f'The document has moved <a href="http://localhost:{port}/dashboard/">here</a>.' in body
        assert headers["X-Always"] == "yes" and "X-Success" not in headers
        status, headers, _ = raw_get(port, "/tool/beta?x=1", host="t")
        assert (status, headers["Location"]) == (301, "http://t/tools/beta?x=1")
        status, headers, _ = raw_get(port, "/old/a/b", host="t")
        assert (status, headers["Location"]) == (302, "https://new.example/base/a/b")
        assert raw_get(port, "/retired/x")[0] == 410
        status, headers, _ = raw_get(port, "/moved/x", host="t")
        assert (status, headers["Location"]) == (301, "http://t/here/x")
        # Not redirected: the application, with the success headers.
        status, headers, body = raw_get(port, "/tool/BETA")
        assert status == 200 and fields(body)["path_info"] == "/tool/BETA"
        assert headers["X-Success"] == "yes" and headers["X-Always"] == "yes"
    finally:
        srv.stop()


def test_chunked_bodies_and_trace_follow_mod_wsgi_and_httpd_defaults(tmp_path, site_dir):
    """mod_wsgi refuses a chunked request body with a 411 unless WSGIChunkedRequest On; httpd
    answers TRACE itself (an echo, TraceEnable's default) or refuses it (TraceEnable off)."""
    write(site_dir / "app.wsgi", RECORDING_APP)

    def site(name, extra):
        port = free_port()
        conf = write(
            site_dir / f"{name}.conf",
            f"""
            Listen 127.0.0.1:{port}
            {user_directive()}
            WSGIDaemonProcess {name} threads=1 python-home={VENV}
            WSGIScriptAlias / {site_dir}/app.wsgi process-group={name} application-group=%{{GLOBAL}}
            {extra}
            """,
        )
        return port, Server(["--config", conf], tmp_path, apache=True)

    port, srv = site("defaults", "")
    try:
        refused = requests.post(f"http://127.0.0.1:{port}/", data=iter([b"hello"]))
        assert refused.status_code == 411
        assert "A request body must come with a Content-Length here, not chunked." in refused.text
        echo = requests.request("TRACE", f"http://127.0.0.1:{port}/x?y=1",
                                headers={"X-Probe": "p1"})
        assert echo.status_code == 200
        assert echo.headers["Content-Type"] == "message/http"
        assert echo.text.startswith("TRACE /x?y=1 HTTP/1.1\r\n")
        assert "\r\nx-probe: p1\r\n" in echo.text
    finally:
        srv.stop()
    port, srv = site("changed", "WSGIChunkedRequest On\nTraceEnable off")
    try:
        taken = requests.post(f"http://127.0.0.1:{port}/", data=iter([b"hello"]))
        assert taken.status_code == 200 and fields(taken.text)["process_group"] == "changed"
        off = requests.request("TRACE", f"http://127.0.0.1:{port}/x")
        assert off.status_code == 405 and "TRACE" not in off.headers["Allow"]
    finally:
        srv.stop()


NOT_FOUND_APP = """
def application(environ, start_response):
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"the application's own 404\\n"]
"""


def test_error_documents_replace_the_servers_error_pages_only(tmp_path, site_dir):
    """ErrorDocument with a text, a local file served by an Alias (with the error's status) and
    a URL (a redirect); the application's own 404 passes through untouched, as httpd leaves it
    (WSGIErrorOverride Off)."""
    write(site_dir / "app.wsgi", NOT_FOUND_APP)
    (site_dir / "errors").mkdir()
    (site_dir / "errors" / "not-found.txt").write_text("site: no such page\n")
    port = free_port()
    conf = write(
        site_dir / "site.conf",
        f"""
        Listen 127.0.0.1:{port}
        {user_directive()}
        WSGIDaemonProcess app threads=1 python-home={VENV}
        WSGIScriptAlias /app {site_dir}/app.wsgi process-group=app application-group=%{{GLOBAL}}
        Alias /errors/ {site_dir}/errors/
        ErrorDocument 404 /errors/not-found.txt
        ErrorDocument 403 "Closed today"
        ErrorDocument 410 https://elsewhere.example/gone
        Redirect gone /retired
        <Location /private>
            Require all denied
        </Location>
        """,
    )
    srv = Server(["--config", conf], tmp_path, apache=True)
    try:
        url = f"http://127.0.0.1:{port}"
        missing = requests.get(url + "/nowhere")
        assert (missing.status_code, missing.text) == (404, "site: no such page\n")
        assert missing.headers["Content-Type"].startswith("text/plain")
        closed = requests.get(url + "/private/x")
        assert (closed.status_code, closed.text) == (403, "Closed today")
        gone = requests.get(url + "/retired", allow_redirects=False)
        assert (gone.status_code, gone.headers["Location"]) == (
            302, "https://elsewhere.example/gone")
        own = requests.get(url + "/app/x")
        assert (own.status_code, own.text) == (404, "the application's own 404\n")
    finally:
        srv.stop()


MAIN_APP = """
def application(environ, start_response):
    if environ["PATH_INFO"] == "/raise":
        raise RuntimeError("the main application fails")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"main\\n"]
"""

ERROR_PAGE_APP = """
KEYS = ["REDIRECT_STATUS", "REDIRECT_URL", "REDIRECT_QUERY_STRING", "REDIRECT_REQUEST_METHOD",
        "REQUEST_METHOD", "REQUEST_URI", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING",
        "HTTP_X_TEST", "CONTENT_LENGTH"]

def application(environ, start_response):
    if environ.get("HTTP_X_RAISE"):
        raise RuntimeError("the error page fails too")
    lines = ["%s=%s" % (key, environ.get(key, "-")) for key in KEYS]
    lines.append("input=%r" % environ["wsgi.input"].read())
    status = "200" if environ["PATH_INFO"] == "/plain" else environ["REDIRECT_STATUS"]
    start_response(status + " Error page", [
        ("Content-Type", "text/plain"),
        ("X-Request-Method", environ["REQUEST_METHOD"]),
        ("X-Redirect-Method", environ.get("REDIRECT_REQUEST_METHOD", "-")),
    ])
    return [("\\n".join(lines) + "\\n").encode()]
"""


def own_page(code, reason, message):
    """The server's own error page."""
    return (f"<!DOCTYPE html>\n<html><head><title>{code} {reason}</title></head>\n<body>\n"
            f"<h1>{reason}</h1>\n<p>{message}</p>\n</body></html>\n")


def echoed(**values):
    """The error page application's body for these environ values ("-": absent)."""
    keys = ["REDIRECT_STATUS", "REDIRECT_URL", "REDIRECT_QUERY_STRING",
            "REDIRECT_REQUEST_METHOD", "REQUEST_METHOD", "REQUEST_URI", "SCRIPT_NAME",
            "PATH_INFO", "QUERY_STRING", "HTTP_X_TEST", "CONTENT_LENGTH"]
    lines = [f"{key}={values.get(key, '-')}" for key in keys]
    return "\n".join(lines) + "\ninput=b''\n"


@pytest.mark.parametrize("error_group", ["main", "errors"])
def test_error_documents_at_local_paths_are_internal_requests(site_dir, error_group):
    """ErrorDocument to a local path, as httpd's internal redirect: a DocumentRoot file comes
    with the error's status; an application is called with a GET for the path (its own query
    string), the failed request's headers, no body, and the failed request in REDIRECT_STATUS,
    REDIRECT_URL, REDIRECT_QUERY_STRING, REDIRECT_REQUEST_METHOD (REQUEST_URI stays the
    failed request's); its response goes out as it is, status included (mod_wsgi's). An error
    page that fails, or whose path is refused, leaves the server's own page, never a second
    ErrorDocument; a path the failed request's own <Location> covers is not checked again.
    With the application in another group than the site's, the front tier carries it."""
    (site_dir / "htdocs" / "errors").mkdir(parents=True)
    (site_dir / "htdocs" / "errors" / "notfound.html").write_text("site: no such page\n")
    write(site_dir / "main.wsgi", MAIN_APP)
    write(site_dir / "errors.wsgi", ERROR_PAGE_APP)
    port = free_port()
    conf = write(
        site_dir / "site.conf",
        f"""
        Listen 127.0.0.1:{port}
        {user_directive()}
        WSGIDaemonProcess main threads=2 python-home={VENV}
        WSGIDaemonProcess errors threads=2 python-home={VENV}
        WSGIApplicationGroup %{{GLOBAL}}
        <VirtualHost *:{port}>
            ServerName site.test
            DocumentRoot {site_dir}/htdocs
            WSGIScriptAlias /app {site_dir}/main.wsgi process-group=main
            WSGIScriptAlias /oops {site_dir}/errors.wsgi process-group={error_group}
            ErrorDocument 404 /errors/notfound.html
            ErrorDocument 403 /oops
            ErrorDocument 500 /oops?from=500
            ErrorDocument 410 /oops/plain?kind=gone
            ErrorDocument 405 /oops/private
            Redirect gone /retired
            <Location /denied>
                Require all denied
            </Location>
            <Location /oops/private>
                Require all denied
            </Location>
        </VirtualHost>
        <VirtualHost *:{port}>
            ServerName closed.test
            DocumentRoot {site_dir}/htdocs
            WSGIScriptAlias /oops {site_dir}/errors.wsgi process-group={error_group}
            ErrorDocument 403 /oops/closed
            <Location />
                Require all denied
            </Location>
        </VirtualHost>
        """,
    )
    checked = oxwsgi("check-config", conf)
    assert checked.returncode == 0, checked.stderr
    accepting = "the front tier" if error_group == "errors" else "group main (direct)"
    assert f"  127.0.0.1:{port} -> {accepting}" in checked.stdout
    # The server root in the shared directory, which the front tier's user can traverse.
    srv = Server(["--config", conf], site_dir, apache=True)
    try:
        url = f"http://127.0.0.1:{port}"
        site = {"Host": "site.test"}
        missing = requests.get(url + "/nowhere", headers=site)
        assert (missing.status_code, missing.text) == (404, "site: no such page\n")
        assert missing.headers["Content-Type"].startswith("text/html")

        denied = requests.post(url + "/denied/a%20b?x=1&y=2", data=b"payload",
                               headers={**site, "X-Test": "yes"})
        assert (denied.status_code, denied.text) == (403, echoed(
            REDIRECT_STATUS="403", REDIRECT_URL="/denied/a b", REDIRECT_QUERY_STRING="x=1&y=2",
            REDIRECT_REQUEST_METHOD="POST", REQUEST_METHOD="GET",
            REQUEST_URI="/denied/a%20b?x=1&y=2", SCRIPT_NAME="/oops", PATH_INFO="",
            QUERY_STRING="", HTTP_X_TEST="yes"))
        assert denied.reason == "Error page"

        head = requests.head(url + "/denied", headers=site)
        assert (head.status_code, head.text) == (403, "")
        assert (head.headers["X-Request-Method"], head.headers["X-Redirect-Method"]) == (
            "GET", "HEAD")

        failing = requests.get(url + "/app/raise", headers=site)
        assert (failing.status_code, failing.text) == (500, echoed(
            REDIRECT_STATUS="500", REDIRECT_URL="/app/raise", REDIRECT_REQUEST_METHOD="GET",
            REQUEST_METHOD="GET", REQUEST_URI="/app/raise", SCRIPT_NAME="/oops", PATH_INFO="",
            QUERY_STRING="from=500"))

        gone = requests.get(url + "/retired", headers=site)
        assert (gone.status_code, gone.text) == (200, echoed(
            REDIRECT_STATUS="410", REDIRECT_URL="/retired", REDIRECT_REQUEST_METHOD="GET",
            REQUEST_METHOD="GET", REQUEST_URI="/retired", SCRIPT_NAME="/oops",
            PATH_INFO="/plain", QUERY_STRING="kind=gone"))

        # The error page fails: the server's own 403, not the ErrorDocument 500.
        raising = requests.get(url + "/denied", headers={**site, "X-Raise": "1"})
        assert (raising.status_code, raising.text) == (403, own_page(
            403, "Forbidden", "You don't have permission to access this resource."))
        both = requests.get(url + "/app/raise", headers={**site, "X-Raise": "1"})
        assert (both.status_code, both.text) == (500, own_page(
            500, "Internal Server Error", "The server encountered an internal error and could "
            "not complete the request. The error has been logged."))

        # The error page's own path is refused: the server's own 405.
        post = requests.post(url + "/errors/notfound.html", headers=site)
        assert (post.status_code, post.text) == (405, own_page(
            405, "Method Not Allowed", "A static file can only be fetched, with GET or HEAD."))

        # A client cannot pass its request off as an error document's, through the front
        # tier or not.
        forged = requests.get(url + "/oops/plain", headers={
            **site, "Oxwsgi-Internal-Redirect-Status": "404",
            "Oxwsgi-Internal-Redirect-Method": "PUT", "Oxwsgi-Internal-Redirect-Uri": "/x",
            "Oxwsgi-Internal-Redirect-Url": "/x"})
        assert (forged.status_code, forged.text) == (200, echoed(
            REQUEST_METHOD="GET", REQUEST_URI="/oops/plain", SCRIPT_NAME="/oops",
            PATH_INFO="/plain", QUERY_STRING=""))

        closed = requests.get(url + "/anything", headers={"Host": "closed.test"})
        assert (closed.status_code, closed.text) == (403, echoed(
            REDIRECT_STATUS="403", REDIRECT_URL="/anything", REDIRECT_REQUEST_METHOD="GET",
            REQUEST_METHOD="GET", REQUEST_URI="/anything", SCRIPT_NAME="/oops",
            PATH_INFO="/closed", QUERY_STRING=""))
    finally:
        srv.stop()


def test_application_group_names_follow_mod_wsgi(tmp_path, site_dir):
    """WSGIApplicationGroup's values name mod_wsgi.application_group: the default (and
    %{RESOURCE}) is the server name with its port and the mount point, %{SERVER} the server
    name with its port, %{ENV:NAME} a variable the configuration sets. (Two application groups
    of one process group: test_process_groups.py.)"""
    write(site_dir / "app.wsgi", RECORDING_APP)
    cases = [
        ("", "/tool", "tools.example:{port}|/tool"),
        ("WSGIApplicationGroup %{SERVER}", "/", "tools.example:{port}"),
        ("SetEnv GROUP_NAME shared\nWSGIApplicationGroup %{ENV:GROUP_NAME}", "/", "shared"),
    ]
    for index, (extra, mount, expected) in enumerate(cases):
        port = free_port()
        conf = write(
            site_dir / f"site{index}.conf",
            f"""
            Listen 127.0.0.1:{port}
            ServerName tools.example
            {user_directive()}
            WSGIDaemonProcess g{index} threads=1 python-home={VENV}
            WSGIProcessGroup g{index}
            WSGIScriptAlias {mount} {site_dir}/app.wsgi
            {extra}
            """,
        )
        srv = Server(["--config", conf], tmp_path, apache=True)
        try:
            got = fields(requests.get(f"http://127.0.0.1:{port}{mount}").text)
            assert got["application_group"] == expected.format(port=port), (extra, got)
        finally:
            srv.stop()


@pytest.mark.parametrize("conf", ["site.conf", "site-htpasswd.conf"])
def test_trac_like_site_checks_its_login_before_the_tracker_runs(conf):
    """tests/sites/trac_like (README 3.10-3.14): Trac's "Using Basic Authentication" setup,
    the login URL guarded by AuthType Basic — checked by mod_wsgi's WSGIAuthUserScript
    (`site.conf`: `cgi-bin/auth.wsgi`'s check_password, in the tracker's group) or by an
    AuthUserFile (`site-htpasswd.conf`: `tracker.htpasswd`, a {SHA} entry): the server asks for
    credentials and checks them before the tracker runs; the rest of the tracker is open."""
    shared, env = prepared_site("trac_like")
    try:
        site = env["SITE_DIR"]
        srv = Server(["--config", f"{site}/{conf}"], shared, apache=True, env=env)
        port = int(env["PORT_A"])
        try:
            def login(path, user=None, password=None):
                headers = f"Host: localhost:{port}\r\nConnection: close\r\n"
                if user is not None:
                    token = base64.b64encode(f"{user}:{password}".encode()).decode()
                    headers += f"Authorization: Basic {token}\r\n"
                with socket.create_connection(("127.0.0.1", port)) as sock:
                    sock.sendall(f"GET {path} HTTP/1.1\r\n{headers}\r\n".encode())
                    data = b""
                    while chunk := sock.recv(65536):
                        data += chunk
                head, _, body = data.decode().partition("\r\n\r\n")
                challenge = re.search(r"(?im)^www-authenticate: ([^\r\n]*)", head)
                return int(head.split()[1]), challenge and challenge.group(1), body

            status, challenge, body = login("/tracker")
            assert status == 200 and challenge is None
            got = fields(body)
            assert (got["app"], got["remote_user"], got["script_name"]) == (
                "tracker", "None", "/tracker")
            for credentials in [(), ("reporter", "nope"), ("stranger", "s3cret")]:
                status, challenge, body = login("/tracker/login", *credentials)
                assert (status, challenge) == (401, 'Basic realm="Tracker"'), credentials
                assert "app=" not in body and "could not verify" in body
            status, challenge, body = login("/tracker/login/extra", "reporter", "s3cret")
            assert status == 200, body
            got = fields(body)
            assert (got["remote_user"], got["auth_type"], got["authorization"]) == (
                "reporter", "Basic", "None")
            assert (got["script_name"], got["path_info"]) == ("/tracker", "/login/extra")
        finally:
            srv.stop()
    finally:
        shutil.rmtree(shared, ignore_errors=True)
