"""Misbehaving applications (issue 10 item 4): each gives a 500 (or, once the head went out, a cut
connection — never a response that looks complete), a log line naming the application's file and
line, and a worker that goes on serving. The application is tests/apps/misbehaving.wsgi; the line
each case must be traced to is marked there with `# LINE: <name>`.

The cases that leave the worker alive share one server (each with a target of its own, and the
log it wrote while it ran); the deadlock, os._exit() and the segfault each get servers of their
own: there the supervisor's line says what happened, and the worker's last words (faulthandler's
stacks, or oxwsgi's os._exit() report) name the line."""

import concurrent.futures
import os
import pathlib
import re
import signal

import pytest
import requests

from support import APPS, Server, read_until_closed, wait_for_file, wait_until

APP = APPS / "misbehaving.wsgi"


def marked_lines():
    """{name: line number} of the `# LINE: name` comments of the application."""
    lines = {}
    for number, text in enumerate(APP.read_text().splitlines(), start=1):
        match = re.search(r"#\s*LINE:\s*([\w-]+)\s*$", text)
        if match:
            lines[match.group(1)] = number
    return lines


LINES = marked_lines()


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One server for the cases after which the worker must go on serving. Its socket timeout
    is far away, so that a stopped generator can only have been stopped by its gone client."""
    workdir = tmp_path_factory.mktemp("misbehaving")
    state = workdir / "state"
    state.mkdir()
    srv = Server(
        ["--log-level", "info", "--socket-timeout", "600", APP],
        workdir,
        env={"OXWSGI_TEST_STATE": str(state)},
    )
    srv.state_dir = state
    yield srv
    srv.stop()


# --- talking to the server -----------------------------------------------------------------


class Exchange:
    """What one request on a new connection got: `status` (None when the connection closed
    before a whole head), `headers` (lower-case names), `body` (de-chunked), `complete` (the body
    ended as its framing says: its Content-Length, or the last chunk) and `raw`."""

    def __init__(self, raw, status, headers, body, complete):
        self.raw, self.status, self.headers, self.body, self.complete = raw, status, headers, body, complete

    def __repr__(self):
        return f"<{self.status} complete={self.complete} {len(self.raw)} bytes: {self.raw[:300]!r}>"


def exchange(srv, target, timeout=30):
    """Sends GET `target` and reads the response until it is complete or the server closes the
    connection. A server that does neither within `timeout` fails the test (socket.timeout)."""
    with srv.connect(timeout=timeout) as sock:
        sock.sendall(b"GET " + target.encode() + b" HTTP/1.1\r\nHost: t\r\n\r\n")
        raw = b""
        closed = False

        def more():
            nonlocal raw, closed
            try:
                chunk = sock.recv(1 << 20)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                closed = True
            raw += chunk
            return bool(chunk)

        while b"\r\n\r\n" not in raw:
            if not more():
                return Exchange(raw, None, {}, b"", False)
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), value.strip())
        start = len(head) + 4
        if "content-length" in headers:
            length = int(headers["content-length"])
            while len(raw) - start < length and more():
                pass
            body = raw[start : start + length]
            return Exchange(raw, status, headers, body, len(body) == length)
        if headers.get("transfer-encoding") == "chunked":
            body, position = b"", start
            while True:
                while b"\r\n" not in raw[position:]:
                    if not more():
                        return Exchange(raw, status, headers, body, False)
                end_of_size = raw.index(b"\r\n", position)
                size = int(raw[position:end_of_size].split(b";")[0], 16)
                while len(raw) < end_of_size + 2 + size + 2:
                    if not more():
                        return Exchange(raw, status, headers, body + raw[end_of_size + 2 :], False)
                body += raw[end_of_size + 2 : end_of_size + 2 + size]
                position = end_of_size + 2 + size + 2
                if size == 0:
                    return Exchange(raw, status, headers, body, True)
        while more():
            pass
        return Exchange(raw, status, headers, raw[start:], closed)


def cut_and_closed(result):
    """The response was cut: its body is short of what its framing announced, and the server
    closed the connection (exchange() returns an incomplete response only once it did)."""
    return result.status is not None and not result.complete


def ok_from(srv, tag, timeout=30):
    """A normal request; returns the pid of the worker that answered it."""
    response = requests.get(srv.url + "/ok?after=" + tag, timeout=timeout)
    assert response.status_code == 200, (response.status_code, response.text[:300])
    match = re.fullmatch(r"ok from pid (\d+)\n", response.text)
    assert match, response.text[:300]
    return int(match.group(1))


# --- reading the log -----------------------------------------------------------------------


def new_log(srv, mark):
    """What the server logged since `mark` (an offset into the error log)."""
    return lambda: srv.error_log()[mark:]


def request_entry(srv, mark, target, final, timeout=15):
    """The log entry of the request for `target`: every line carrying its request id, from the
    "Exception occurred" line to the line matching `final` (the exception's last line)."""
    source = new_log(srv, mark)
    first = srv.wait_for_log(
        r"\[request ([^\]]+)\] Exception occurred processing WSGI script "
        + re.escape(f"'{APP}' for GET {target}:"),
        timeout=timeout,
        source=source,
    )
    request_id = re.escape(first.group(1))
    srv.wait_for_log(rf"\[request {request_id}\] {final}", timeout=timeout, source=source)
    return "\n".join(
        line for line in source().splitlines() if re.search(rf"\[request {request_id}\] ", line)
    )


def file_and_line(line):
    """The traceback line naming the application's file at `line` (any line when None)."""
    number = r"\d+" if line is None else str(line)
    return re.compile(rf'File "{re.escape(str(APP))}", line {number}\b')


# --- the cases where the worker lives on ---------------------------------------------------

# (id, target, outcome, the exception's last line (a regex), the line the log must name)
# outcome: "500" before the head went out; "cut" after; "500-or-cut" when either is right.
# The line: the line marked in the application, where it raised or was inside a generator (a
# traceback or the generator's frame gives it); None, for any line of the application's file,
# where the misbehaviour is a value the application returned (its frame is gone by then).
CASES = [
    # A returned value keeps no line of its own: the callable's is named.
    ("returns-none", "/returns-none", "500", r"TypeError: 'NoneType' object is not iterable",
     LINES["application"]),
    ("returns-int", "/returns-int", "500", r"TypeError: 'int' object is not iterable",
     LINES["application"]),
    ("list-of-str", "/list-of-str", "500", r"TypeError: .*yielded a str", LINES["application"]),
    ("yields-str", "/yields-str", "500", r"TypeError: .*yielded a str", LINES["yields-str"]),
    ("yields-int", "/yields-int", "500", r"TypeError: .*yielded a int", LINES["yields-int"]),
    ("yields-dict", "/yields-dict", "500", r"TypeError: .*yielded a dict", LINES["yields-dict"]),
    (
        "yields-str-after-bytes",
        "/yields-str-after-bytes",
        "cut",
        r"TypeError: .*yielded a str",
        LINES["yields-str-after-bytes"],
    ),
    (
        "no-start-response",
        "/no-start-response",
        "500",
        r"AssertionError: .*start_response\(\)",
        None,
    ),
    (
        "start-twice",
        "/start-twice",
        "500",
        r"AssertionError: start_response\(\) was called a second time without exc_info",
        LINES["start-twice"],
    ),
    ("status-200", "/status?status=200", "500", r"ValueError: invalid status '200'", LINES["status"]),
    (
        "status-abc-OK",
        "/status?status=abc%20OK",
        "500",
        r"ValueError: invalid status 'abc OK'",
        LINES["status"],
    ),
    ("status-99-X", "/status?status=99%20X", "500", r"ValueError: invalid status '99 X'", LINES["status"]),
    (
        "header-int",
        "/header-int",
        "500",
        r"TypeError: response header names and values must be str, not \(str, int\)",
        LINES["header-int"],
    ),
    (
        "header-bytes",
        "/header-bytes",
        "500",
        r"TypeError: response header names and values must be str, not \(str, bytes\)",
        LINES["header-bytes"],
    ),
    ("header-10mb", "/header-10mb", "500", r"\w+(Error|Exception): .+", LINES["header-10mb"]),
    ("headers-100k", "/headers-100k", "500", r"\w+(Error|Exception): .+", LINES["headers-100k"]),
    ("close-raises", "/close-raises", "500-or-cut", r"RuntimeError: close\(\) failed, as asked", LINES["close-raises"]),
    (
        "raise-mid-iteration-chunked",
        "/raise-mid-iteration",
        "cut",
        r"RuntimeError: failing mid-iteration, as asked",
        LINES["raise-mid-iteration"],
    ),
    (
        "raise-mid-iteration-content-length",
        "/raise-mid-iteration?length=1000",
        "cut",
        r"RuntimeError: failing mid-iteration, as asked",
        LINES["raise-mid-iteration"],
    ),
]


@pytest.mark.parametrize(
    "target,outcome,final,line", [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_misbehaviour_gives_500_or_a_cut_a_traced_log_line_and_a_worker_that_serves_on(
    shared, request, target, outcome, final, line
):
    case = request.node.callspec.id
    target += ("&" if "?" in target else "?") + "case=" + case
    worker = shared.worker_pid()
    mark = len(shared.error_log())
    problems = []  # every requirement is checked, and every one missed is reported

    result = exchange(shared, target)

    # The status, or the cut: never a response that looks complete but is not the server's 500.
    if outcome == "500-or-cut" and result.status != 500:
        outcome = "cut"
    if outcome == "500":
        if not (result.status == 500 and result.complete):
            problems.append(f"not a complete 500: {result}")
        elif b"The error has been logged." not in result.body or b"never sent" in result.body:
            problems.append(f"not the server's 500 page: {result}")
    elif result.status != 200:
        problems.append(f"not the application's 200, then cut: {result}")
    elif not cut_and_closed(result):
        problems.append(f"a response that looks complete: {result}")
    elif "content-length" in result.headers and len(result.body) >= int(result.headers["content-length"]):
        problems.append(f"the whole Content-Length was sent: {result}")

    # The log: the exception, traced to the application's file and line, and no server bug.
    try:
        entry = request_entry(shared, mark, target, final)
    except AssertionError as error:
        problems.append(f"no log entry for the exception: {error}")
    else:
        if not file_and_line(line).search(entry):
            problems.append(f"the log does not name {APP.name}, line {line or 'N'}:\n{entry}")
    if "please report" in new_log(shared, mark)():
        problems.append(f"the server reports a bug of its own:\n{new_log(shared, mark)()}")

    # The same worker goes on serving.
    assert ok_from(shared, case) == worker, "the worker was replaced"
    assert shared.worker_pids() == [worker]
    assert not problems, "\n".join(problems)


def test_endless_generator_is_closed_when_its_client_has_gone(shared):
    """The client reads the head and closes; the server must stop iterating at its next write
    (not at --socket-timeout, which is 600 s here) and close() the generator (GeneratorExit)."""
    worker = shared.worker_pid()
    mark = len(shared.error_log())
    with shared.connect() as sock:
        sock.sendall(b"GET /endless?tag=gone HTTP/1.1\r\nHost: t\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(1024)
            assert chunk, f"closed before the head: {head!r}"
            head += chunk
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    exited = shared.state_dir / "generator-exit-gone"
    wait_until(
        lambda: exited.exists() and exited.read_text().endswith("\n"),
        timeout=30,
        what="GeneratorExit in the generator",
    )
    yields = len((shared.state_dir / "yields-gone").read_text().split())
    assert exited.read_text() == f"after {yields - 1} yields\n"  # nothing was produced after it
    shared.wait_for_log(
        r"GET /endless\?tag=gone: the client closed the connection before the response was "
        r"complete \(\d+ bytes of body produced; the application was at "
        + re.escape(f'File "{APP}", line {LINES["endless-yield"]}, in generate') + r"\)",
        source=new_log(shared, mark),
    )
    assert ok_from(shared, "endless") == worker


# --- the cases that end the worker ---------------------------------------------------------


def alive(pid):
    """The process exists and is not a zombie."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def kill_if_still_a_worker(pid):
    """Kills, by its pid, a worker a failed test left behind (one holding the GIL for an hour)."""
    try:
        title = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return
    if title.startswith(b"oxwsgi: worker") and alive(pid):
        os.kill(pid, signal.SIGKILL)


def start_alone(server, state_dir, *args):
    return server(*args, "--log-level", "info", APP, env={"OXWSGI_TEST_STATE": str(state_dir)})


def wait_for_replacement(srv, old, count):
    """Waits until `old` is no longer a worker and `count` workers run; returns the new pids,
    once the supervisor has seen each of them ready."""
    wait_until(
        lambda: old not in srv.worker_pids() and len(srv.worker_pids()) == count,
        what=f"a worker replacing pid {old}",
    )
    new = [pid for pid in srv.worker_pids()]
    for pid in new:
        srv.wait_for_log(rf"\[supervisor:\w+\] .*worker \d+ of '[^']*' ready \(pid {pid}\)", timeout=30)
    return new


def test_a_thread_holding_the_gil_in_c_is_a_deadlock_and_the_worker_is_replaced(server, state_dir):
    srv = start_alone(server, state_dir, "--deadlock-timeout", "2")
    old = srv.worker_pid()
    try:
        with srv.connect(timeout=60) as sock:
            sock.sendall(b"GET /hold-gil?tag=d1 HTTP/1.1\r\nHost: t\r\n\r\n")
            assert wait_for_file(state_dir / "holding-gil-d1").read_text() == f"{old}\n"
            srv.wait_for_log(
                rf"\[worker:error\] \[pid {old}:[^\]]*\] Python's lock \(the GIL\) could not be taken "
                r"for \d+s: the application is deadlocked; this worker exits to be replaced",
                timeout=30,
            )
            srv.wait_for_log(
                rf"\[supervisor:error\] .*worker 1 of '[^']*' \(pid {old}\) exited unexpectedly: exit "
                r"status 5: the Python interpreter was deadlocked; starting a replacement",
                timeout=30,
            )
            # The stacks of its threads, dumped without the GIL, name the line holding it.
            srv.wait_for_log(re.escape(f'File "{APP}", line {LINES["hold-gil"]} in hold'))
            # The stuck request never looks answered: a server's 5xx, or the connection closed.
            data = read_until_closed(sock)
        assert data == b"" or re.match(rb"HTTP/1.1 5\d\d ", data), data[:300]
        (new,) = wait_for_replacement(srv, old, 1)
        assert new != old and not alive(old)
        assert ok_from(srv, "deadlock") == new
    finally:
        kill_if_still_a_worker(old)


DEATHS = [
    ("exit", "/exit", r"exit status 3\b"),
    ("segfault", "/segfault", r"killed by signal 11 \(SIGSEGV\)"),
]

# What the dying worker wrote first, naming the application's line.
LAST_WORDS = {
    "/exit": re.escape(
        f'oxwsgi: the application called os._exit(3) at File "{APP}", line {LINES["exit"]}, '
        "in application"
    ),
    "/segfault": r"Fatal Python error: Segmentation fault(.|\n)*"
    + re.escape(f'File "{APP}", line {LINES["segfault"]} in application'),
}


def normal_requests(srv, label, count=8):
    """`count` concurrent normal requests; every one must succeed. Returns the answering pids."""
    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda i: ok_from(srv, f"{label}-{i}"), range(count)))


@pytest.mark.parametrize("processes", ["1", "2"], ids=["1-process", "2-processes"])
@pytest.mark.parametrize("path,how", [d[1:] for d in DEATHS], ids=[d[0] for d in DEATHS])
def test_a_worker_that_dies_mid_request_is_replaced_and_only_its_request_fails(
    server, state_dir, path, how, processes
):
    srv = start_alone(server, state_dir, "--processes", processes)
    before = srv.worker_pids()
    tag = f"{path.strip('/')}-{processes}"
    victim = None
    try:
        with srv.connect(timeout=60) as sock:
            sock.sendall(f"GET {path}?tag={tag} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
            victim = int(wait_for_file(state_dir / f"dying-{tag}").read_text())
            assert victim in before
            # The dying request is parked: everything else is served meanwhile.
            normal_requests(srv, f"{tag}-before")
            (state_dir / f"die-{tag}").touch()
            # Today: the connection is closed with nothing sent (the worker owned the socket;
            # no other process could answer a 502 for it).
            data = read_until_closed(sock)
        assert data == b"", data[:300]
        line = srv.wait_for_log(
            rf"\[supervisor:error\] .*worker \d+ of '[^']*' \(pid {victim}\) exited unexpectedly: "
            rf"{how}[^\n]*",
            timeout=30,
        ).group(0)
        srv.wait_for_log(LAST_WORDS[path])
        # Every request after the death succeeds (queued until a worker takes it).
        normal_requests(srv, f"{tag}-after")
        new = wait_for_replacement(srv, victim, len(before))
        (replacement,) = set(new) - set(before)
        assert set(new) - {replacement} == set(before) - {victim}, "a surviving worker was replaced"
        wait_until(
            lambda: ok_from(srv, f"{tag}-new") == replacement,
            what=f"a request served by the replacement (pid {replacement})",
        )
        # Checked last, so that a failure here says the rest worked.
        assert "could not be loaded" not in line, f"the log misnames the death: {line}"
    finally:
        if victim is not None:
            kill_if_still_a_worker(victim)
