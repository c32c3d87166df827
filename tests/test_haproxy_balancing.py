"""Scaling out behind HAProxy: a real HAProxy (the Debian package, started here on loopback)
runs deploy/haproxy/haproxy.cfg — its bind address and servers replaced by this test's — in
front of two oxwsgi instances, one over TCP and one over --unix-socket, each with its metrics
listener for HAProxy's /ready health check. Under continuous load, each instance in turn is
stopped gracefully and started again, and no request fails: the TCP one as docs/deployment.md
recommends (SIGTERM with --drain-delay, HAProxy's health check takes it out, a second SIGTERM
drains it), the unix one at once (HAProxy finds its socket gone and retries elsewhere)."""

import os
import shutil
import signal
import subprocess

import pytest
import requests

from support import ROOT, Server, free_port, wait_for_file, wait_until
from test_nginx_balancing import APP, CLIENT, Load, _answers, site  # noqa: F401 (a fixture)

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
DEPLOYED = ROOT / "deploy" / "haproxy" / "haproxy.cfg"


def configuration(port, tcp_port, tcp_metrics, socket, socket_metrics):
    """deploy/haproxy/haproxy.cfg with this test's listening address and instances: every
    other line as the file has it."""
    lines = []
    for line in DEPLOYED.read_text().splitlines():
        words = line.split()
        if words[:1] == ["bind"]:
            line = f"    bind 127.0.0.1:{port}"
        elif words[:1] == ["server"]:
            continue
        lines.append(line)
        if words[:1] == ["default-server"]:
            lines.append(f"    server unix {socket} check addr 127.0.0.1 port {socket_metrics}")
            lines.append(f"    server tcp 127.0.0.1:{tcp_port} check port {tcp_metrics}")
    text = "\n".join(lines) + "\n"
    assert text.count("    server ") == 2, text
    return text


class Haproxy:
    """HAProxy in the foreground (-db), its log on standard output, stopped by its own pid."""

    def __init__(self, directory, conf_text):
        if not os.path.exists(HAPROXY):
            pytest.fail("haproxy is not installed: run scripts/test, which installs it")
        self.port = free_port()
        conf = directory / "haproxy.cfg"
        conf.write_text(conf_text.replace("{port}", str(self.port)))
        self.log_path = directory / "haproxy.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([HAPROXY, "-db", "-f", str(conf)], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}/"

    def log_text(self):
        return self.log_path.read_text(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGUSR1)  # HAProxy's soft stop
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def test_haproxy_in_front_of_two_instances_loses_no_request_while_each_restarts(tmp_path, site):
    app = site / "app.wsgi"
    app.write_text(APP)
    os.chmod(app, 0o644)
    socket_path = site / "b.sock"
    tcp_port, tcp_metrics, socket_metrics = free_port(), free_port(), free_port()
    common = [app, "--trust-proxy-header", "X-Forwarded-For", "--trust-proxy", "127.0.0.1",
              "--processes", "2", "--threads", "4", "--graceful-timeout", "15"]

    def start(instance):
        if instance == "tcp":
            return Server(common + ["--metrics-port", str(tcp_metrics), "--drain-delay", "60"],
                          tmp_path, port=tcp_port, env={"INSTANCE": "tcp"})
        return Server(common + ["--unix-socket", socket_path, "--metrics-port",
                                str(socket_metrics)], tmp_path, env={"INSTANCE": "unix"})

    instances = {"tcp": start("tcp"), "unix": start("unix")}
    haproxy = Haproxy(site, configuration("{port}", tcp_port, tcp_metrics, socket_path,
                                          socket_metrics))
    load = Load(haproxy.url)
    try:
        wait_until(lambda: _answers(haproxy.url), timeout=30, what="HAProxy to answer")
        load.start()
        wait_until(lambda: load.count("tcp") > 20 and load.count("unix") > 20, timeout=60,
                   what="both instances to serve through HAProxy")
        for name in ("tcp", "unix"):
            old_pids = load.pids(name)
            if name == "tcp":
                # /ready turns 503 and the instance keeps serving; HAProxy's next check takes
                # it out of the rotation; then the second SIGTERM drains it at once.
                instances[name].send_signal(signal.SIGTERM)
                wait_until(lambda: "Server oxwsgi/tcp is DOWN" in haproxy.log_text(),
                           timeout=30, what="HAProxy's health check to take the instance out")
            assert instances[name].stop(signal.SIGTERM) == 0, instances[name].stderr
            instances[name] = start(name)
            if name == "unix":
                wait_for_file(socket_path)
            # Back in the pool once its health check passes again (new worker pids).
            wait_until(lambda: any(load.count(name, pid) > 20
                                   for pid in load.pids(name) - old_pids),
                       timeout=60, what=f"the restarted {name} instance to serve again")
    finally:
        load.stop()
        haproxy.stop()
        for srv in instances.values():
            srv.stop()

    log = haproxy.log_text()
    assert load.failures == [], (
        f"{len(load.failures)} of {load.total} requests failed, first: {load.failures[:5]}\n"
        f"HAProxy log:\n{log[-3000:]}"
    )
    # Its health check, having taken the draining instance out, let the new one back in.
    assert "Server oxwsgi/tcp is UP" in log, log[-3000:]
    # The application saw the client, not HAProxy: X-Forwarded-For, read from the right past
    # the trusted proxy.
    assert load.remote_addrs == {CLIENT}
    assert load.total > 200


def test_haproxy_tells_the_application_the_scheme_and_not_what_the_client_claims(
        tmp_path, site):
    """The deployed file sets X-Forwarded-Proto itself (http here, no TLS), replacing a
    client's own header, so a trusting oxwsgi never believes a client that claims https."""
    app = site / "scheme.wsgi"
    app.write_text(
        "def application(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [environ['wsgi.url_scheme'].encode()]\n")
    os.chmod(app, 0o644)
    port, metrics = free_port(), free_port()
    srv = Server([app, "--trust-proxy-header", "X-Forwarded-Proto", "--trust-proxy",
                  "127.0.0.1", "--metrics-port", str(metrics)], tmp_path, port=port)
    conf = configuration("{port}", port, metrics, site / "unused.sock", metrics)
    # Only the TCP instance: the unix one of the deployed file is not started here.
    conf = "\n".join(line for line in conf.splitlines() if "server unix" not in line) + "\n"
    haproxy = Haproxy(site, conf)
    try:
        wait_until(lambda: _answers(haproxy.url), timeout=30, what="HAProxy to answer")
        response = requests.get(haproxy.url, headers={"X-Forwarded-Proto": "https"}, timeout=10)
        assert (response.status_code, response.text) == (200, "http")
    finally:
        haproxy.stop()
        srv.stop()
