"""Several daemon process groups behind one listener (issue 11): Apache site files whose URL
space spans groups run with a Python-free front tier that accepts the connections and forwards
each application's requests to its group's workers over the group's unix socket.

Each group answers from its own workers, with its own virtual environment and user (as root:
`oxwsgi-test` and `oxwsgi-test2`, which scripts/test creates); what the application sees of the
client is what it would see on the direct path; a worker killed mid-request gives a 502 and is
replaced; recycling under load fails no request.
"""

import concurrent.futures
import os
import pathlib
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import textwrap
import time

import pytest
import requests

from support import VENV, Server, free_port, port_is_listening, read_until_closed, wait_until

ROOT = os.getuid() == 0
USER_A = "oxwsgi-test" if ROOT else None
USER_B = "oxwsgi-test2" if ROOT else None

APP = """
import os, sys, threading

def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/sleep":
        # Holds the request until the test kills this worker.
        open(os.path.join(environ["MARKERS"], "sleeping"), "w").close()
        threading.Event().wait(60)
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (b"part %d\\n" % i for i in range(3))
    lines = [
        "app=APP_NAME",
        "pid=%d" % os.getpid(),
        "uid=%d" % os.getuid(),
        "prefix=%s" % sys.prefix,
        "process_group=%s" % environ["mod_wsgi.process_group"],
        "script_name=%s" % environ["SCRIPT_NAME"],
        "path_info=%s" % path,
        "query=%s" % environ["QUERY_STRING"],
        "remote=%s:%s" % (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]),
        "server=%s:%s" % (environ["SERVER_NAME"], environ["SERVER_PORT"]),
        "protocol=%s" % environ["SERVER_PROTOCOL"],
        "host=%s" % environ.get("HTTP_HOST"),
        "forged=%s" % environ.get("HTTP_OXWSGI_INTERNAL_REMOTE"),
        "internal=%s" % sorted(k for k in environ if "OXWSGI_INTERNAL" in k),
    ]
    if environ["REQUEST_METHOD"] == "POST" and path != "/unread":
        lines.append("body=%d" % len(environ["wsgi.input"].read()))
    start_response("203 Relayed Reason", [("Content-Type", "text/plain"), ("X-App", "APP_NAME")])
    return [("\\n".join(lines) + "\\n").encode()]
"""


# Appended to APP: the application group too.
EXTRA_FIELDS = """
_plain = application

def application(environ, start_response):
    body = b"".join(_plain(environ, start_response))
    return [body + ("application_group=%s\\n" % environ["mod_wsgi.application_group"]).encode()]
"""


def fields(body):
    return dict(line.split("=", 1) for line in body.splitlines() if "=" in line)


def user_option(user):
    return f"user={user}" if user else ""


@pytest.fixture
def site(tmp_path):
    """A world-readable directory (the groups' users read their scripts and venvs there, and
    the front tier reaches the groups' sockets in the server root under it), removed
    afterwards."""
    path = pathlib.Path(tempfile.mkdtemp(prefix="oxwsgi-groups-"))
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def make_venv(path):
    subprocess.run([str(VENV / "bin" / "python"), "-m", "venv", "--without-pip", str(path)],
                   check=True)
    return path


def two_groups(site, port, api_options="", extra="", api_processes=2):
    """`/` → group `web` (venv a, user A), `/api` → group `api` (venv b, user B)."""
    for name in ("web", "api"):
        (site / name).mkdir()
        (site / name / f"{name}.wsgi").write_text(APP.replace("APP_NAME", name))
    (site / "markers").mkdir()
    os.chmod(site / "markers", 0o777)
    (site / "static").mkdir()
    (site / "static" / "a.txt").write_text("static file\n")
    venv_a = make_venv(site / "venv-a")
    venv_b = make_venv(site / "venv-b")
    conf = site / "site.conf"
    conf.write_text(textwrap.dedent(f"""\
        Listen 127.0.0.1:{port}
        {"User " + USER_A if USER_A else ""}
        WSGIDaemonProcess web processes=1 threads=2 {user_option(USER_A)} python-home={venv_a}
        WSGIDaemonProcess api processes={api_processes} threads=2 {user_option(USER_B)} python-home={venv_b} {api_options}
        WSGIScriptAlias /api {site}/api/api.wsgi process-group=api application-group=%{{GLOBAL}}
        WSGIScriptAlias / {site}/web/web.wsgi process-group=web application-group=%{{GLOBAL}}
        Alias /static {site}/static
        SetEnv MARKERS {site}/markers
        <Directory {site}>
            Require all granted
        </Directory>
        <Location /api/admin>
            Require ip 127.0.0.2
        </Location>
        {extra}
        """))
    return conf, venv_a, venv_b


def start(site, conf):
    return Server(["--config", conf], site, apache=True)


def group_pids(srv, group):
    """The pids of the workers of `group` (by their process titles)."""
    pids = []
    for pid in srv.worker_pids():
        try:
            title = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
        except FileNotFoundError:
            continue
        if title.decode().endswith(f"[{group}]"):
            pids.append(pid)
    return pids


def uid_of(user):
    return pwd.getpwnam(user).pw_uid if user else os.getuid()


def test_two_groups_on_one_listener_answer_from_their_own_workers(site):
    port = free_port()
    conf, venv_a, venv_b = two_groups(site, port)
    srv = start(site, conf)
    try:
        web_pids, api_pids = group_pids(srv, "web"), group_pids(srv, "api")
        assert (len(web_pids), len(api_pids), len(group_pids(srv, "front-tier"))) == (1, 2, 1)

        web = requests.get(f"http://127.0.0.1:{port}/page?x=1")
        assert (web.status_code, web.reason, web.headers["X-App"]) == (
            203, "Relayed Reason", "web")
        got = fields(web.text)
        assert int(got["pid"]) in web_pids
        assert int(got["uid"]) == uid_of(USER_A)
        assert got["prefix"] == str(venv_a)
        assert (got["process_group"], got["script_name"], got["path_info"], got["query"]) == (
            "web", "", "/page", "x=1")

        with socket.create_connection(("127.0.0.1", port)) as sock:
            client_port = sock.getsockname()[1]
            sock.sendall(
                f"GET /api/v1/items HTTP/1.1\r\nHost: api.example:{port}\r\n"
                "Oxwsgi-Internal-Remote: 6.6.6.6:6\r\n\r\n".encode()
                + b"GET /again HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            replies = read_until_closed(sock).decode()
        api, again = [fields(r) for r in replies.split("HTTP/1.1 203 Relayed Reason")[1:]]
        assert int(api["pid"]) in api_pids
        assert int(api["uid"]) == uid_of(USER_B)
        assert api["prefix"] == str(venv_b)
        assert (api["process_group"], api["script_name"], api["path_info"]) == (
            "api", "/api", "/v1/items")
        # What the application sees of the client is the client's, not the hop's.
        assert api["remote"] == f"127.0.0.1:{client_port}"
        assert api["server"] == f"api.example:{port}"
        assert api["host"] == f"api.example:{port}"
        # The hop's headers never reach an environ, and a client cannot forge them.
        assert (api["forged"], api["internal"]) == ("None", "[]")
        # One client connection, two groups.
        assert int(again["pid"]) in web_pids

        old = requests.post(f"http://127.0.0.1:{port}/api/post", data=b"x" * 100_000)
        assert fields(old.text)["body"] == "100000"
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"GET /api/v1 HTTP/1.0\r\n\r\n")
            reply = read_until_closed(sock).decode()
        assert reply.startswith("HTTP/1.0 203 Relayed Reason\r\n"), reply
        assert fields(reply)["protocol"] == "HTTP/1.0"
        stream = requests.get(f"http://127.0.0.1:{port}/api/stream")
        assert (stream.status_code, stream.text) == (200, "part 0\npart 1\npart 2\n")
        # The front tier serves the static files itself.
        static = requests.get(f"http://127.0.0.1:{port}/static/a.txt")
        assert (static.status_code, static.text) == (200, "static file\n")
        # The access rules are the front tier's, with the client's address.
        assert requests.get(f"http://127.0.0.1:{port}/api/admin/x").status_code == 403
        with socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.2", 0)) as s:
            s.sendall(b"GET /api/admin/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            admin = read_until_closed(s).decode()
        assert admin.startswith("HTTP/1.1 203 "), admin
        assert fields(admin)["remote"].startswith("127.0.0.2:")
    finally:
        srv.stop()


def test_only_the_front_tier_can_reach_a_groups_socket(site):
    port = free_port()
    conf, _, _ = two_groups(site, port)
    srv = start(site, conf)
    try:
        sockets = sorted(srv.server_root.glob("group-*.sock"))
        assert len(sockets) == 2
        for path in sockets:
            info = path.stat()
            assert stat.S_ISSOCK(info.st_mode)
            assert stat.S_IMODE(info.st_mode) == 0o600
            assert info.st_uid == uid_of(USER_A)  # the front tier's user (httpd's User)
        banner = srv.stdout
        assert re.search(r"^Process Group\s+: web: 2 \(1 process \* 2 threads\) ", banner, re.M)
        assert re.search(r"^Process Group\s+: api: 4 \(2 processes \* 2 threads\) ", banner, re.M)
        assert re.search(r"^Front Tier\s+: 1 process", banner, re.M)
    finally:
        srv.stop()


def test_a_body_the_application_leaves_unread_does_not_break_the_connection(site):
    port = free_port()
    conf, _, _ = two_groups(site, port)
    srv = start(site, conf)
    try:
        with requests.Session() as session:
            first = session.post(f"http://127.0.0.1:{port}/api/unread", data=b"y" * 3_000_000)
            assert first.status_code == 203
            assert "body" not in fields(first.text)
            second = session.post(f"http://127.0.0.1:{port}/api/read", data=b"z" * 1000)
            assert (second.status_code, fields(second.text)["body"]) == (203, "1000")
    finally:
        srv.stop()


def test_a_request_with_as_many_fields_as_the_limit_allows_crosses_the_hop(site):
    """The front tier lets in up to LimitRequestFields (100) header fields and adds its own hop
    fields: the group's side must take them all (hyper's default of 100 would answer 431)."""
    port = free_port()
    conf, _, _ = two_groups(site, port)
    srv = start(site, conf)
    try:
        # With the 5 requests adds (Host, User-Agent, ...), 98 fields: under the limit, over
        # hyper's default once the hop's are added.
        headers = {f"X-Field-{i}": str(i) for i in range(93)}
        response = requests.get(f"http://127.0.0.1:{port}/api/many", headers=headers,
                                timeout=10)
        assert response.status_code == 203, response.text
        assert fields(response.text)["app"] == "api"
    finally:
        srv.stop()


def test_a_worker_killed_mid_request_gives_a_502_and_is_replaced(site):
    port = free_port()
    conf, _, _ = two_groups(site, port)
    srv = start(site, conf)
    try:
        before = group_pids(srv, "api")
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pending = pool.submit(requests.get, f"http://127.0.0.1:{port}/api/sleep", timeout=60)
            wait_until(lambda: (site / "markers" / "sleeping").exists(), 30, "the request")
            for pid in before:
                os.kill(pid, signal.SIGKILL)
            response = pending.result()
        assert response.status_code == 502
        assert "The process running the application ended before it answered." in response.text
        srv.wait_for_log(r"the worker of group 'api' serving \S+ ended before it answered")
        wait_until(lambda: len(set(group_pids(srv, "api")) - set(before)) == 2, 30,
                   "two new workers of group api")
        wait_until(lambda: requests.get(f"http://127.0.0.1:{port}/api/x").status_code == 203,
                   30, "the replaced group to answer")
        assert requests.get(f"http://127.0.0.1:{port}/").status_code == 203
    finally:
        srv.stop()


def test_recycling_a_forwarded_group_under_load_fails_no_request(site):
    port = free_port()
    conf, _, _ = two_groups(site, port, api_options="maximum-requests=5")
    srv = start(site, conf)
    try:
        first = set(group_pids(srv, "api"))
        seen = set()
        failures = []

        def client():
            deadline = time.monotonic() + 60
            while len(seen - first) < 2 and time.monotonic() < deadline:
                try:
                    response = requests.get(f"http://127.0.0.1:{port}/api/x", timeout=30)
                    assert response.status_code == 203, response.text
                    seen.add(int(fields(response.text)["pid"]))
                except (OSError, AssertionError) as err:
                    failures.append(err)

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            for future in [pool.submit(client) for _ in range(4)]:
                future.result()
        assert failures == []
        assert len(seen - first) >= 2, (seen, first)
    finally:
        srv.stop()


def test_each_application_group_of_a_process_group_gets_its_own_workers(site):
    """mod_wsgi runs each application group in a sub-interpreter of its own; oxwsgi runs one
    interpreter per process, so each application group of a process group gets workers of its
    own, with the group's settings, behind the front tier. Scripts of one application group
    share them."""
    for name in ("a", "b", "c"):
        (site / f"{name}.wsgi").write_text(APP.replace("APP_NAME", name) + EXTRA_FIELDS)
    port = free_port()
    conf = site / "site.conf"
    conf.write_text(textwrap.dedent(f"""\
        Listen 127.0.0.1:{port}
        ServerName tools.example
        WSGIDaemonProcess tools processes=1 threads=2 {user_option(USER_A)}
        WSGIProcessGroup tools
        WSGIScriptAlias /a {site}/a.wsgi
        WSGIScriptAlias /b {site}/b.wsgi application-group=shared
        WSGIScriptAlias /c {site}/c.wsgi application-group=shared
        <Directory {site}>
            Require all granted
        </Directory>
        """))
    srv = start(site, conf)
    try:
        got = {
            name: fields(requests.get(f"http://127.0.0.1:{port}/{name}/x").text)
            for name in ("a", "b", "c")
        }
        assert got["a"]["application_group"] == f"tools.example:{port}|/a"
        assert got["b"]["application_group"] == got["c"]["application_group"] == "shared"
        assert {g["process_group"] for g in got.values()} == {"tools"}
        assert got["b"]["pid"] == got["c"]["pid"] != got["a"]["pid"]
        assert int(got["a"]["pid"]) in group_pids(srv, f"tools:tools.example:{port}|/a")
        assert int(got["b"]["pid"]) in group_pids(srv, "tools:shared")
        assert len(group_pids(srv, "front-tier")) == 1
    finally:
        srv.stop()


def test_the_front_tier_listens_only_once_its_groups_are_ready(site):
    """Until every group it forwards to has loaded its application, the front tier is not
    started: connections are refused (as on the direct path, where a worker listens once its
    application has loaded), never answered with a 503 by a front tier whose groups are not
    there yet."""
    port = free_port()
    # One process: the pipe below lets one worker through.
    conf, _, _ = two_groups(site, port, api_processes=1)
    markers = site / "markers"
    # The group's application loads until the test writes to this pipe (opening it for
    # reading blocks until then).
    go = markers / "go"
    os.mkfifo(go)
    os.chmod(go, 0o666)
    api = site / "api" / "api.wsgi"
    api.write_text(
        f"open({str(markers / 'loading')!r}, 'w').close()\n"
        f"open({str(go)!r}).read()\n" + api.read_text()
    )
    srv = Server(["--config", conf], site, apache=True, wait=False)
    try:
        wait_until(lambda: (markers / "loading").exists(), 30, "group api to start loading")
        assert group_pids(srv, "front-tier") == []
        assert not port_is_listening(port)
        with open(go, "w") as pipe:
            pipe.write("go")
        srv.wait_ready()
        assert len(group_pids(srv, "front-tier")) == 1
        assert requests.get(f"http://127.0.0.1:{port}/api/x").status_code == 203
    finally:
        srv.stop()


def test_metrics_count_each_groups_requests_behind_the_front_tier(site):
    """Behind one address, each group counts the requests it runs, and the front tier all it
    forwards; the groups' workers are on the same scoreboard."""
    port, metrics_port = free_port(), free_port()
    conf, _, _ = two_groups(site, port, extra=f"OxwsgiMetricsListen 127.0.0.1:{metrics_port}")
    srv = start(site, conf)
    try:
        for _ in range(3):
            assert requests.get(f"http://127.0.0.1:{port}/api/x").status_code == 203
        assert requests.get(f"http://127.0.0.1:{port}/page").status_code == 203

        def count(group):
            text = requests.get(f"http://127.0.0.1:{metrics_port}/metrics").text
            match = re.search(
                rf'^oxwsgi_requests_total\{{group="{group}",method="GET",status="2xx"\}} (\d+)$',
                text, re.MULTILINE)
            return int(match.group(1)) if match else 0

        wait_until(lambda: (count("api"), count("web")) == (3, 1), what="each group's requests")
        wait_until(lambda: count("front-tier") == 4, what="the front tier's requests")
        text = requests.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        assert 'oxwsgi_workers{group="api",state="serving"} 2' in text
        assert 'oxwsgi_connections_total{group="api"} 0' in text
    finally:
        srv.stop()
