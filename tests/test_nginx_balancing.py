"""Scaling out behind nginx: a real nginx (the Debian package, started here on loopback with its
own prefix and configuration) balances two oxwsgi instances, one over TCP and one over
--unix-socket, configured as docs/deployment.md says. Under continuous load, each instance in
turn is stopped gracefully (SIGTERM to its supervisor) and started again, and no request
fails."""

import grp
import os
import pathlib
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading

import pytest
import requests

from support import Server, free_port, wait_for_file, wait_until

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CLIENT = "198.51.100.9"

APP = """
import os

def application(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    posted = environ["wsgi.input"].read(length) if length else b""
    assert posted in (b"", b"event=published")
    body = ("%s %d %s\\n" % (os.environ["INSTANCE"], os.getpid(),
                            environ["REMOTE_ADDR"])).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
"""

# The configuration docs/deployment.md recommends, with this test's addresses and paths.
NGINX_CONF = """
{user}
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/tmp/client;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;

    upstream oxwsgi {{
        server 127.0.0.1:{tcp_port} max_fails=1 fail_timeout=2s;
        server unix:{socket} max_fails=1 fail_timeout=2s;
        keepalive 16;
        keepalive_timeout 1s;
    }}

    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://oxwsgi;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_next_upstream error timeout http_502 http_503 http_504;
            proxy_next_upstream_tries 3;
            proxy_next_upstream_timeout 10s;
            proxy_connect_timeout 2s;
            proxy_read_timeout 30s;
        }}
    }}
}}
"""


@pytest.fixture
def site():
    """A directory nginx's worker user can traverse (pytest's own are private to root):
    it holds nginx's prefix and the unix socket; removed afterwards."""
    path = pathlib.Path(tempfile.mkdtemp(prefix="oxwsgi-nginx-"))
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class Nginx:
    """nginx in the foreground (`daemon off`), stopped by its own pid."""

    def __init__(self, prefix, tcp_port, socket):
        if not os.path.exists(NGINX):
            pytest.fail("nginx is not installed: run scripts/test, which installs it")
        self.prefix = prefix
        self.port = free_port()
        (prefix / "tmp").mkdir()
        user = ""
        if os.geteuid() == 0:
            # nginx's workers drop to nobody, who reaches the socket through its group.
            nobody = pwd.getpwnam("nobody")
            user = f"user nobody {grp.getgrgid(nobody.pw_gid).gr_name};"
        conf = prefix / "nginx.conf"
        conf.write_text(NGINX_CONF.format(user=user, prefix=prefix, tcp_port=tcp_port,
                                          socket=socket, port=self.port))
        self.proc = subprocess.Popen(
            [NGINX, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        self.url = f"http://127.0.0.1:{self.port}/"

    def error_log(self):
        path = self.prefix / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # nginx's graceful stop
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Load:
    """Clients sending GETs through nginx without pause, each on its own keep-alive session,
    counting every response: by instance, and every failure (a status other than 200, or an
    exception) with what it was."""

    def __init__(self, url, clients=6):
        self.url = url
        self.lock = threading.Lock()
        self.served = {}
        self.remote_addrs = set()
        self.failures = []
        self.total = 0
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.client, daemon=True)
                        for _ in range(clients)]

    def client(self):
        session = requests.Session()
        # The client as a proxy before nginx would name it; nginx appends its peer.
        session.headers["X-Forwarded-For"] = CLIENT
        posting = False
        while not self.stopping.is_set():
            # GETs and POSTs in turn: nginx passes a POST to another instance only if it could
            # not send it (it is not idempotent), so one sent into a connection the stopping
            # instance then resets fails: exactly what must not happen.
            posting = not posting
            try:
                if posting:
                    response = session.post(self.url, data={"event": "published"}, timeout=30)
                else:
                    response = session.get(self.url, timeout=30)
                ok = response.status_code == 200
                text = response.text
            except requests.RequestException as exc:
                ok, text = False, repr(exc)
            with self.lock:
                self.total += 1
                if ok:
                    instance, pid, remote = text.split()
                    self.served[(instance, pid)] = self.served.get((instance, pid), 0) + 1
                    self.remote_addrs.add(remote)
                else:
                    self.failures.append(text[:300])

    def count(self, instance, pid=None):
        with self.lock:
            return sum(n for (name, p), n in self.served.items()
                       if name == instance and (pid is None or p == pid))

    def pids(self, instance):
        with self.lock:
            return {p for (name, p) in self.served if name == instance}

    def start(self):
        for thread in self.threads:
            thread.start()

    def stop(self):
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=60)


def test_nginx_in_front_of_two_instances_loses_no_request_while_each_restarts(tmp_path, site):
    app = site / "app.wsgi"
    app.write_text(APP)
    os.chmod(app, 0o644)
    socket_path = site / "b.sock"
    tcp_port = free_port()
    common = [app, "--trust-proxy-header", "X-Forwarded-For", "--trust-proxy", "127.0.0.1",
              "--processes", "2", "--threads", "4", "--graceful-timeout", "15"]
    socket_options = ["--unix-socket", socket_path, "--unix-socket-mode", "0660"]
    if os.geteuid() == 0:
        nobody_group = grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name
        socket_options += ["--unix-socket-owner", f"root:{nobody_group}"]

    def start(instance):
        if instance == "tcp":
            return Server(common, tmp_path, port=tcp_port, env={"INSTANCE": "tcp"})
        return Server(common + socket_options, tmp_path, env={"INSTANCE": "unix"})

    instances = {"tcp": start("tcp"), "unix": start("unix")}
    nginx = Nginx(site, tcp_port, socket_path)
    load = Load(nginx.url)
    try:
        wait_until(lambda: _answers(nginx.url), timeout=30, what="nginx to answer")
        load.start()
        wait_until(lambda: load.count("tcp") > 20 and load.count("unix") > 20, timeout=60,
                   what="both instances to serve through nginx")
        for name in ("tcp", "unix"):
            old_pids = load.pids(name)
            # A graceful stop, as `systemctl stop` or a Kubernetes pod deletion sends it.
            assert instances[name].stop(signal.SIGTERM) == 0, instances[name].stderr
            if name == "unix":
                assert not socket_path.exists(), "the stopped instance removed its socket"
            instances[name] = start(name)
            if name == "unix":
                wait_for_file(socket_path)
            # Back in the pool: nginx sends it requests again (new worker pids).
            wait_until(lambda: any(load.count(name, pid) > 20
                                   for pid in load.pids(name) - old_pids),
                       timeout=60, what=f"the restarted {name} instance to serve again")
    finally:
        load.stop()
        nginx.stop()
        for srv in instances.values():
            srv.stop()

    assert load.failures == [], (
        f"{len(load.failures)} of {load.total} requests failed, first: {load.failures[:5]}\n"
        f"nginx error log:\n{nginx.error_log()[-3000:]}"
    )
    assert load.count("tcp") > 0 and load.count("unix") > 0
    # Not even a retried one: nginx only ever found a stopping instance refusing connections
    # (before sending anything), never a request cut on a connection it had accepted.
    cut = [line for line in nginx.error_log().splitlines()
           if "while reading response header from upstream" in line
           or "prematurely closed" in line]
    assert cut == []
    # The application saw the client, not nginx: X-Forwarded-For, read from the right past
    # the trusted proxy (nginx on 127.0.0.1, or the unix socket).
    assert load.remote_addrs == {CLIENT}
    assert load.total > 200


def _answers(url):
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:
        return False
