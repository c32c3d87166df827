"""Operating the logs (issue 14): rotation by the server (--rotate-logs, --max-log-size,
--max-log-files), SIGUSR2 reopening them after logrotate, --error-log-format, the JSON access
log, the start-up log, and a log that cannot be written."""

import datetime
import json
import os
import re
import signal
import threading

import requests

from support import APPS, EXAMPLES, Server, wait_until

# Requests whose access log lines are about 2 KiB each: 1200 of them write about 2.4 MB.
LONG_QUERY = "x" * 2000
REQUESTS = 1200


def rotated_files(srv, name):
    """`name` and its rotated files (name.1, name.2 …) in the server root."""
    return sorted(
        (p for p in srv.server_root.iterdir() if re.fullmatch(re.escape(name) + r"(\.\d+)?", p.name)),
        key=lambda p: int(p.suffix[1:]) if p.suffix[1:].isdigit() else 0,
    )


def count_lines(paths):
    """Lines across `paths`; None when one was renamed away while counting (a rotation)."""
    try:
        return sum(p.read_bytes().count(b"\n") for p in paths)
    except FileNotFoundError:
        return None


def size_or_none(path):
    """The file's size; None between a rotation's rename and its new file."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


# --max-log-size 1: a file is rotated once it is larger than this.
ONE_MB = 1024 * 1024


def rotation_settled(srv, name, count, expected):
    """Whether `count(files)` is `expected` across `name` and its rotated files, `name.1`
    exists, and `name` is within the 1 MB limit. Past that the supervisor, which looks at the
    sizes once a second, rotates nothing more unless more is written: the test may then read
    the files without one moving under it (read during a rotation, a file's lines would be
    counted twice or missed)."""
    size = size_or_none(srv.server_root / name)
    if size is None or size > ONE_MB or not (srv.server_root / f"{name}.1").exists():
        return False
    return count(rotated_files(srv, name)) == expected


def send_requests(srv, count, threads=4):
    """`count` GET requests with long query strings, from a few threads; all must be 200s.
    Each request's query names its thread and its number there (`t=T&i=I`), so that every
    access log line is different from the others."""
    failures = []

    def run(t, n):
        with requests.Session() as session:
            for i in range(n):
                r = session.get(f"{srv.url}/?t={t}&i={i}&q={LONG_QUERY}")
                if r.status_code != 200:
                    failures.append(r.status_code)

    workers = [threading.Thread(target=run, args=(t, count // threads)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert failures == []
    return (count // threads) * threads


def test_rotation_loses_no_access_log_line(server):
    srv = server(
        "--access-log", "--rotate-logs", "--max-log-size", "1", "--max-log-files", "50",
        "--processes", "2", EXAMPLES / "hello.wsgi", log_to_terminal=False,
    )
    sent = send_requests(srv, REQUESTS)
    # Every line is written (the writers flush as they go) across the live file and the
    # rotated ones, and at least one rotation happened. The supervisor looks at the size once
    # a second, so the requests may all be answered before it first rotates, or before its
    # last: both are waited for.
    wait_until(
        lambda: rotation_settled(srv, "access_log", count_lines, sent),
        what=f"{sent} access log lines across the rotated files, one of them access_log.1",
    )
    files = rotated_files(srv, "access_log")
    assert len(files) >= 2, files
    assert (srv.server_root / "access_log.1").exists()
    # No line is cut by a rotation: every line is whole.
    for path in files:
        for line in path.read_bytes().splitlines():
            assert line.startswith(b"127.0.0.1 ") and line.endswith(b" 13"), line[:80]
    # And none is written twice (a count alone would not see one line lost, another doubled):
    # every request is there exactly once.
    logged = [
        re.search(rb'"GET /\?t=(\d+)&i=(\d+)&q=x+ HTTP/1.1"', line).groups()
        for path in files
        for line in path.read_bytes().splitlines()
    ]
    expected = {(str(t).encode(), str(i).encode()) for t in range(4) for i in range(sent // 4)}
    assert len(logged) == len(set(logged)) == sent
    assert set(logged) == expected
    # The server keeps writing to the file at the original path after rotating it.
    requests.get(srv.url + "/after-rotation")
    wait_until(
        lambda: b"/after-rotation" in (srv.server_root / "access_log").read_bytes(),
        what="the next request in the new access_log",
    )


def test_rotation_keeps_at_most_max_log_files(server):
    srv = server(
        "--access-log", "--rotate-logs", "--max-log-size", "1", "--max-log-files", "2",
        EXAMPLES / "hello.wsgi", log_to_terminal=False,
    )
    # Enough for at least three rotations: the third drops the oldest file.
    for _ in range(4):
        send_requests(srv, 600)
        wait_until(
            lambda: (size := size_or_none(srv.server_root / "access_log")) is not None
            and size < 1024 * 1024,
            what="the access log rotated below the limit",
        )
    names = [p.name for p in rotated_files(srv, "access_log")]
    assert names == ["access_log", "access_log.1", "access_log.2"], names


def error_writer_app(path):
    """An application whose /write?first=F&count=C logs marker lines F to F+C-1, each about
    190 bytes in the error log: the even ones through wsgi.errors, the odd ones with print()."""
    path.write_text(
        "import urllib.parse\n"
        "PAD = 'p' * 100\n"
        "def application(environ, start_response):\n"
        "    query = dict(urllib.parse.parse_qsl(environ['QUERY_STRING']))\n"
        "    first, count = int(query['first']), int(query['count'])\n"
        "    for i in range(first, first + count):\n"
        "        if i % 2:\n"
        "            print('marker-%07d %s end' % (i, PAD))\n"
        "        else:\n"
        "            environ['wsgi.errors'].write('marker-%07d %s end\\n' % (i, PAD))\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [b'written']\n"
    )
    return path


def marker_lines(paths):
    """The marker lines across `paths` (None when one was renamed away while reading)."""
    try:
        return [
            line for path in paths for line in path.read_bytes().splitlines()
            if b" marker-" in line
        ]
    except FileNotFoundError:
        return None


def count_markers(paths):
    lines = marker_lines(paths)
    return None if lines is None else len(lines)


def test_error_log_rotation_loses_and_repeats_no_line(server, tmp_path):
    srv = server(
        "--rotate-logs", "--max-log-size", "1", "--max-log-files", "50", "--processes", "2",
        "--threads", "2", error_writer_app(tmp_path / "errors.wsgi"), log_to_terminal=False,
    )
    # 24 requests of 1000 lines from four clients: about 4.5 MB of error log.
    per_request, batches = 1000, 24
    failures = []

    def run(batch_numbers):
        with requests.Session() as session:
            for b in batch_numbers:
                r = session.get(f"{srv.url}/write?first={b * per_request}&count={per_request}")
                if (r.status_code, r.text) != (200, "written"):
                    failures.append((r.status_code, r.text))

    clients = [threading.Thread(target=run, args=(range(c, batches, 4),)) for c in range(4)]
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    assert failures == []
    total = per_request * batches
    wait_until(
        lambda: rotation_settled(srv, "error_log", count_markers, total),
        what=f"{total} marker lines across the rotated error logs, one of them error_log.1",
    )
    files = rotated_files(srv, "error_log")
    lines = marker_lines(files)
    markers = []
    for line in lines:
        # Whole lines only: the prefix of a line from the application, the marker, the end.
        match = re.fullmatch(
            rb"\[[^]]+\] \[wsgi:error\] \[pid \d+:tid \d+\] \[request [0-9a-f-]+\] "
            rb"marker-(\d{7}) p{100} end",
            line,
        )
        assert match, line[:200]
        markers.append(int(match.group(1)))
    assert len(markers) == len(set(markers)) == total
    assert set(markers) == set(range(total))
    assert len(files) >= 2, files


def test_sigusr2_reopens_the_logs_after_logrotate_renamed_them(server):
    srv = server("--access-log", EXAMPLES / "hello.wsgi", log_to_terminal=False)
    access_log = srv.server_root / "access_log"
    error_log = srv.server_root / "error_log"
    requests.get(srv.url + "/before")
    wait_until(lambda: b"/before" in access_log.read_bytes(), what="the first line")
    # What logrotate does: rename, then `postrotate` sends SIGUSR2.
    os.rename(access_log, srv.server_root / "access_log.old")
    os.rename(error_log, srv.server_root / "error_log.old")
    srv.send_signal(signal.SIGUSR2)
    # The supervisor says so in the (new) error log once it reopened it.
    wait_until(
        lambda: error_log.exists() and "caught SIGUSR2: reopened the log files" in error_log.read_text(),
        what="the supervisor's notice in the new error log",
    )
    # Workers are told after the supervisor reopened; a request made after their reopen lands in
    # the new file. Each request is tried until one does (the worker's reopen is asynchronous).
    def new_file_has_a_request():
        requests.get(srv.url + "/after")
        return access_log.exists() and b"/after" in access_log.read_bytes()

    wait_until(new_file_has_a_request, what="a request in the new access_log")
    old = (srv.server_root / "access_log.old").read_bytes()
    assert b"/before" in old
    assert srv.running


def test_error_log_format_shapes_every_line(tmp_path):
    srv = Server(
        ["--error-log-format", "%{cu}t|%l|%m|%P|%{g}T|%-L|%M", "--log-level", "info",
         APPS / "behaviours.wsgi"],
        tmp_path,
        wait=False,
    )
    try:
        # The test helper's readiness check knows Apache's default line only.
        ready = srv.wait_for_log(r"^(\S+ \S+)\|notice\|supervisor\|(\d+)\|\d+\|-\|oxwsgi/\S+ ready: ")
        assert int(ready.group(2)) == srv.pid
        srv.port = int(re.search(r"Server URL\s*: http://[^/]+:(\d+)/", srv.stdout).group(1))
        srv.url = f"http://127.0.0.1:{srv.port}"
        assert requests.get(srv.url + "/raise").status_code == 500
        match = srv.wait_for_log(r"^(\S+ \S+)\|error\|wsgi\|(\d+)\|(\d+)\|([0-9a-f-]+)\|Traceback")
        datetime.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S.%f")
        assert int(match.group(2)) == srv.worker_pid()
        # Nothing is written in Apache's default line any more.
        assert not re.search(r"^\[\w{3} \w{3} ", srv.stderr, re.M)
    finally:
        srv.stop()


def test_an_error_log_format_item_oxwsgi_cannot_fill_stops_the_start(tmp_path):
    srv = Server(["--error-log-format", "[%t] %{Referer}i %M", EXAMPLES / "hello.wsgi"], tmp_path, wait=False)
    assert srv.wait_exit() == 2
    assert "'%{Referer}i' is not available in oxwsgi" in srv.stderr


def test_json_access_log_lines_parse_and_have_the_fields(server):
    srv = server("--access-log", "--access-log-format", "json", EXAMPLES / "hello.wsgi")
    requests.get(
        srv.url + '/a?b="c"',
        headers={"Referer": "http://ref.example/", "User-Agent": 'tester "1"\\'},
    )

    def line():
        lines = [l for l in srv.stdout.splitlines() if l.startswith("{")]
        return lines[0] if lines else None

    wait_until(line, what="a JSON line on standard output")
    entry = json.loads(line())
    assert entry["remote_host"] == "127.0.0.1"
    assert entry["ident"] is None
    assert entry["user"] is None
    assert entry["request"] == 'GET /a?b=%22c%22 HTTP/1.1'
    assert entry["status"] == 200
    assert entry["bytes"] == 13
    assert entry["referer"] == "http://ref.example/"
    assert entry["user_agent"] == 'tester "1"\\'
    assert re.fullmatch(r"[0-9a-f]{6}-[0-9a-f]+", entry["request_id"])
    assert isinstance(entry["duration_us"], int) and entry["duration_us"] >= 0
    assert entry["process_group"].startswith("localhost:")
    assert entry["pid"] == srv.worker_pid()
    datetime.datetime.fromisoformat(entry["time"])


def test_startup_log_has_the_banner_and_the_start_up_messages(server):
    srv = server("--startup-log", "--log-level", "info", EXAMPLES / "hello.wsgi", log_to_terminal=False)
    startup_log = srv.server_root / "startup_log"
    assert f"Startup Log File   : {startup_log}" in srv.stdout
    text = startup_log.read_text()
    assert "Server URL         : http://localhost:" in text
    assert re.search(r"\[worker:info\] \[pid %d:tid \d+\] " % srv.worker_pid(), text) or re.search(
        r"\[supervisor:info\] .*worker 1 of '.*' ready", text
    )
    assert re.search(r"\[supervisor:notice\] .* ready: serving ", text)
    # It is the start-up's log only: what happens once the server serves is not in it.
    requests.get(srv.url + "/a%2Fb")
    srv.wait_for_log(r"refused: 404", source=(srv.server_root / "error_log").read_text)
    assert "refused" not in startup_log.read_text()


def test_startup_log_says_why_the_start_failed(tmp_path):
    srv = Server(["--startup-log", APPS / "import_error.wsgi"], tmp_path, wait=False, log_to_terminal=False)
    assert srv.wait_exit() == 1
    text = (srv.server_root / "startup_log").read_text()
    assert "Server URL" in text
    assert "could not start" in text


def test_an_access_log_that_cannot_be_written_never_stops_serving(server):
    # /dev/full: every write fails with ENOSPC, like a full disk.
    srv = server(
        "--access-log", "--access-log-name", "/dev/full", "--metrics-port", "0",
        EXAMPLES / "hello.wsgi", log_to_terminal=False,
    )
    for i in range(50):
        assert requests.get(f"{srv.url}/?{i}").status_code == 200
    error_log = srv.server_root / "error_log"
    srv.wait_for_log(r"cannot write to the access log /dev/full: .*No space left", source=error_log.read_text)
    requests.get(srv.url + "/one-more")
    # Reported once for the outage, not once per line.
    assert error_log.read_text().count("cannot write to the access log") == 1
    # Counted, line by line, in the metrics.
    metrics = re.search(r"Metrics URL\s*: http://[^:]+:(\d+)/", srv.stdout).group(1)

    def failures():
        text = requests.get(f"http://127.0.0.1:{metrics}/metrics").text
        match = re.search(r"^oxwsgi_log_write_failures_total\{[^}]*\} (\d+)$", text, re.M)
        return int(match.group(1))

    wait_until(lambda: failures() >= 50, what="the lost access log lines counted")


def test_an_error_log_that_cannot_be_written_never_stops_serving(server):
    srv = server(
        "--error-log-name", "/dev/full", "--log-level", "info", APPS / "behaviours.wsgi",
        log_to_terminal=False,
    )
    for _ in range(5):
        assert requests.get(srv.url + "/raise").status_code == 500
    assert requests.get(srv.url + "/").status_code == 200
    # Said once per process on standard output (the terminal as it was at start-up).
    wait_until(
        lambda: "cannot write to the error log /dev/full" in srv.stdout,
        what="the report on standard output",
    )
    reports = srv.stdout.count("cannot write to the error log /dev/full")
    assert 1 <= reports <= 2, srv.stdout  # the supervisor's and the worker's, once each
