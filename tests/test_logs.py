"""The error log (file or terminal, Apache's line format) and the access log (common,
combined, or an Apache LogFormat)."""

import re

import requests

from support import APPS, EXAMPLES

TIME = r"\[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\]"


def access_lines(srv, count):
    """The access log lines on standard output (after the banner)."""
    srv.wait_for_log(
        r"(?:^127\.0\.0\.1 .*\n){%d}" % count, source=lambda: srv.stdout.split("Locale Setting", 1)[-1]
    )
    return [l for l in srv.stdout.splitlines() if l.startswith("127.0.0.1 ")]


def test_common_access_log_lines(server):
    srv = server("--access-log", EXAMPLES / "hello.wsgi")
    requests.get(srv.url + "/path?q=1")
    requests.get(srv.url + "/missing%2Fslash")
    lines = access_lines(srv, 2)
    assert re.fullmatch(rf'127\.0\.0\.1 - - {TIME} "GET /path\?q=1 HTTP/1\.1" 200 13', lines[0])
    assert re.fullmatch(rf'127\.0\.0\.1 - - {TIME} "GET /missing%2Fslash HTTP/1\.1" 404 \d+', lines[1])


def test_combined_access_log_lines(server):
    srv = server("--access-log", "--access-log-format", "combined", EXAMPLES / "hello.wsgi")
    requests.get(srv.url + "/", headers={"Referer": "http://ref.example/", "User-Agent": "tester/1"})
    (line,) = access_lines(srv, 1)
    assert re.fullmatch(
        rf'127\.0\.0\.1 - - {TIME} "GET / HTTP/1\.1" 200 13 "http://ref\.example/" "tester/1"', line
    )


def test_custom_access_log_format(server):
    srv = server(
        "--access-log",
        "--access-log-format",
        "%h %m %U%q %>s %B %{X-Trace}i %{Content-Type}o %D %T %L",
        EXAMPLES / "hello.wsgi",
    )
    requests.get(srv.url + "/a?b=c", headers={"X-Trace": "t-42"})
    (line,) = access_lines(srv, 1)
    assert re.fullmatch(r"127\.0\.0\.1 GET /a\?b=c 200 13 t-42 text/plain \d+ \d+ [0-9a-f]{6}-[0-9a-f]+", line)


def test_unknown_access_log_directive_stops_the_start(server, tmp_path):
    from support import Server

    srv = Server(["--access-log", "--access-log-format", "%h %Z", EXAMPLES / "hello.wsgi"], tmp_path, wait=False)
    assert srv.wait_exit() == 2
    assert srv.stderr == "oxwsgi: access log format \"%h %Z\": unknown directive '%Z'\n"


def test_error_log_and_access_log_go_to_files_in_the_server_root(server):
    srv = server("--access-log", APPS / "behaviours.wsgi", log_to_terminal=False)
    assert f"Error Log File     : {srv.server_root}/error_log (warn)" in srv.stdout
    assert f"Access Log File    : {srv.server_root}/access_log" in srv.stdout
    assert requests.get(srv.url + "/raise").status_code == 500
    error_log = srv.server_root / "error_log"
    srv.wait_for_log(r"ZeroDivisionError", source=error_log.read_text)
    text = error_log.read_text()
    assert re.search(
        r"^\[\w{3} \w{3} \d{2} \d{2}:\d{2}:\d{2}\.\d{6} \d{4}\] \[wsgi:error\] \[pid %d:tid \d+\] "
        r"\[request [0-9a-f-]+\] Traceback \(most recent call last\):$" % srv.worker_pid(),
        text,
        re.MULTILINE,
    )
    srv.wait_for_log(r'"GET /raise HTTP/1\.1" 500', source=(srv.server_root / "access_log").read_text)


def test_log_level_filters_messages(server):
    srv = server("--log-level", "info", EXAMPLES / "hello.wsgi")
    requests.get(srv.url + "/a%2Fb")
    srv.wait_for_log(r"\[http:info\] .*refused: 404 Not Found The requested URL was not found")
    quiet = server(EXAMPLES / "hello.wsgi")
    requests.get(quiet.url + "/a%2Fb")
    requests.get(quiet.url + "/")
    assert "refused" not in quiet.error_log()


def test_print_output_goes_to_the_error_log(server, tmp_path):
    app = tmp_path / "printing.wsgi"
    app.write_text(
        "def application(environ, start_response):\n"
        "    print('printed by the app')\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [b'ok']\n"
    )
    srv = server(app)
    requests.get(srv.url + "/")
    srv.wait_for_log(r"\[wsgi:error\] \[pid \d+:tid \d+\] \[request [0-9a-f-]+\] printed by the app$")


def test_banner_fields_match_mod_wsgi_express(server):
    srv = server("--threads", "3", EXAMPLES / "hello.wsgi")
    labels = [line.split(":", 1)[0].rstrip() for line in srv.stdout.splitlines() if " : " in line]
    assert labels == [
        "Server URL",
        "Server Root",
        "Error Log File",
        "Application",
        "Document Root",
        "Python",
        "Operating Mode",
        "Request Capacity",
        "Request Timeout",
        "Startup Timeout",
        "Queue Backlog",
        "Queue Timeout",
        "Server Capacity",
        "Server Backlog",
        "Locale Setting",
        "PID File",
    ]
    assert f"Server URL         : http://localhost:{srv.port}/" in srv.stdout
    assert "Request Capacity   : 3 (1 process * 3 threads)" in srv.stdout
    assert "Queue Timeout      : 45 (seconds)" in srv.stdout
    assert "Request Timeout    : 60 (seconds)" in srv.stdout
    assert "Startup Timeout    : 15 (seconds)" in srv.stdout
    assert f"PID File           : {srv.server_root}/oxwsgi.pid" in srv.stdout


def test_banner_values_follow_the_options(server, tmp_path):
    srv = server(
        "--processes", "3", "--threads", "4", "--request-timeout", "33", "--startup-timeout", "22",
        "--daemon-backlog", "77", "--queue-timeout", "11", "--max-clients", "99",
        "--server-backlog", "55", "--locale", "C.UTF-8", "--pid-file", tmp_path / "x.pid",
        "--mount-point", "/app", EXAMPLES / "hello.wsgi",
    )
    lines = dict(
        (label.rstrip(), value) for label, _, value in
        (line.partition(" : ") for line in srv.stdout.splitlines() if " : " in line)
    )
    assert lines["Request Capacity"] == "12 (3 processes * 4 threads)"
    assert lines["Request Timeout"] == "33 (seconds)"
    assert lines["Startup Timeout"] == "22 (seconds)"
    assert lines["Queue Backlog"] == "77 (requests)"
    assert lines["Queue Timeout"] == "11 (seconds)"
    assert lines["Server Capacity"] == "99 (connections per process)"
    assert lines["Server Backlog"] == "55 (connections)"
    assert lines["Locale Setting"] == "C.UTF-8"
    assert lines["PID File"] == str(tmp_path / "x.pid")
    assert lines["Application"] == f"WSGI script '{EXAMPLES / 'hello.wsgi'}' at /app"
    assert lines["Error Log File"] == "/dev/stderr (warn)"
    assert lines["Operating Mode"] == "daemon"
