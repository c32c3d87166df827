"""`start-server --include-file` (mod_wsgi-express's option, issue 11): Apache directives
applied on top of what the command line says. What adds to it (Alias, SetEnv, Header,
Redirect, access rules, limits, WSGIPassAuthorization) applies as in a site file; what an
option already says is refused by file and line, naming the option, before anything listens.
"""

import textwrap

import requests

from support import Server, free_port, port_is_listening
from test_apache_config import oxwsgi

APP = """
def application(environ, start_response):
    body = "mode=%s auth=%s\\n" % (environ.get("APP_MODE"), environ.get("HTTP_AUTHORIZATION"))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
"""


def test_an_include_file_adds_to_the_command_lines_configuration(tmp_path):
    app = tmp_path / "app.wsgi"
    app.write_text(APP)
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "a.txt").write_text("a static file\n")
    extra = tmp_path / "extra.conf"
    extra.write_text(textwrap.dedent(f"""\
        Alias /files {tmp_path}/static
        SetEnv APP_MODE production
        Header always set X-Frame-Options DENY
        Redirect /old /new
        <Location /admin>
            Require ip 10.0.0.0/8
        </Location>
        LimitRequestBody 10
        WSGIPassAuthorization Off
        """))
    plain = Server([app], tmp_path)
    try:
        # The command line alone passes Authorization (see docs/configuration.md).
        got = requests.get(plain.url + "/", headers={"Authorization": "Basic eA=="})
        assert got.text == "mode=None auth=Basic eA==\n"
    finally:
        plain.stop()
    srv = Server(["--include-file", extra, app], tmp_path)
    try:
        got = requests.get(srv.url + "/", headers={"Authorization": "Basic eA=="})
        assert (got.status_code, got.text) == (200, "mode=production auth=None\n")
        assert got.headers["X-Frame-Options"] == "DENY"
        assert requests.get(srv.url + "/files/a.txt").text == "a static file\n"
        moved = requests.get(srv.url + "/old", allow_redirects=False)
        assert (moved.status_code, moved.headers["Location"]) == (
            302, f"http://127.0.0.1:{srv.port}/new")
        refused = requests.get(srv.url + "/admin")
        assert (refused.status_code, refused.headers["X-Frame-Options"]) == (403, "DENY")
        assert requests.post(srv.url + "/", data=b"eleven bytes").status_code == 413
    finally:
        srv.stop()


def test_what_the_command_line_says_is_refused_by_file_and_line(tmp_path):
    app = tmp_path / "app.wsgi"
    app.write_text(APP)
    port = free_port()
    extra = tmp_path / "extra.conf"
    extra.write_text(textwrap.dedent(f"""\
        Listen {port}
        <IfModule mod_wsgi.c>
            WSGIDaemonProcess other threads=2
            WSGIScriptAlias /other {app}
        </IfModule>
        ServerName elsewhere.example
        <VirtualHost *:{port}>
        </VirtualHost>
        """))
    result = oxwsgi("start-server", "--port", port, "--include-file", extra, app)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"{extra}:1: error: Listen is not for --include-file: the command line says it "
        "(--port and --host)",
        f"{extra}:6: error: ServerName is not for --include-file: the command line says it "
        "(--server-name)",
        f"{extra}:7: error: <VirtualHost> is not for --include-file: the command line's server "
        "is the one host (run a site file with --config instead)",
        f"{extra}:3: error: a WSGIDaemonProcess is not for --include-file: the command line's "
        "daemon group is set with --processes, --threads and the other daemon options",
        f"{extra}:4: error: a WSGIScriptAlias is not for --include-file: mount applications "
        "with ENTRY_POINT and --mount-point",
        "oxwsgi: the --include-file configuration has 5 error(s); nothing was started",
    ]
    assert not port_is_listening(port)


def test_an_include_file_does_not_go_with_config(tmp_path):
    conf = tmp_path / "site.conf"
    conf.write_text("Listen 8080\n")
    result = oxwsgi("start-server", "--config", conf, "--include-file", conf)
    assert result.returncode == 2
    assert result.stderr == (
        "oxwsgi: --include-file cannot be used with --config: the configuration files say what "
        "runs (only --server-root, --log-to-terminal, --define and --ignore-unsupported go with "
        "it)\n"
    )
