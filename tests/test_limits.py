"""Apache's request limits by their Apache names and defaults (issue 10, item 2):
--limit-request-line (8190 → 414), --limit-request-field-size (8190 → 431) and
--limit-request-fields (100 → 431). Each limit is exact: a head at the limit is served, one byte
or one field over it is refused, and the application never sees the refused request."""

import pytest

from strict import assert_refused, assert_served, exchange
from support import APPS


@pytest.fixture(scope="module")
def defaults(tmp_path_factory):
    """A server on the recorder application with every limit at its default."""
    yield from recorder_with(tmp_path_factory, "defaults")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """The same limits, set small on the command line."""
    yield from recorder_with(
        tmp_path_factory,
        "small",
        "--limit-request-line",
        "100",
        "--limit-request-field-size",
        "50",
        "--limit-request-fields",
        "5",
    )


def recorder_with(tmp_path_factory, name, *args):
    from support import Server

    workdir = tmp_path_factory.mktemp(name)
    state = workdir / "state"
    state.mkdir()
    srv = Server(
        [*args, APPS / "recorder.wsgi"], workdir, env={"OXWSGI_TEST_STATE": str(state)}
    )
    srv.state_dir = state
    yield srv
    srv.stop()


def get(case, target_len=None, fields=b""):
    """A GET of `/case-<case>`, padded with a query string to make the target `target_len`
    bytes long; each request carries `Host` and `X-Case` besides `fields`."""
    target = b"/case-" + case.encode()
    if target_len is not None:
        target += b"?" + b"p" * (target_len - len(target) - 1)
    return (
        b"GET " + target + b" HTTP/1.1\r\nHost: t\r\nX-Case: " + case.encode() + b"\r\n"
        + fields + b"\r\n"
    )


LINE_OVERHEAD = len(b"GET  HTTP/1.1")


@pytest.mark.parametrize("limit_name,limit", [("defaults", 8190), ("small", 100)])
def test_a_request_line_at_the_limit_is_served_and_one_byte_more_gets_414(
    request, limit_name, limit
):
    srv = request.getfixturevalue(limit_name)
    at = f"line-at-{limit_name}"
    assert_served(srv, exchange(srv, get(at, target_len=limit - LINE_OVERHEAD)), at)
    over = f"line-over-{limit_name}"
    reply = exchange(srv, get(over, target_len=limit - LINE_OVERHEAD + 1))
    assert_refused(
        srv,
        reply,
        over,
        414,
        message=f"The request line is longer than the limit of {limit} bytes.".encode(),
        closes=True,
    )


@pytest.mark.parametrize("limit_name,limit", [("defaults", 8190), ("small", 50)])
def test_a_header_field_at_the_limit_is_served_and_one_byte_more_gets_431(
    request, limit_name, limit
):
    srv = request.getfixturevalue(limit_name)
    name = b"X-Padding"
    # `X-Padding: <value>` is `limit` bytes long.
    value_len = limit - len(name) - 2
    at = f"field-at-{limit_name}"
    field = name + b": " + b"v" * value_len + b"\r\n"
    assert_served(srv, exchange(srv, get(at, fields=field)), at)
    over = f"field-over-{limit_name}"
    field = name + b": " + b"v" * (value_len + 1) + b"\r\n"
    reply = exchange(srv, get(over, fields=field))
    assert_refused(
        srv,
        reply,
        over,
        431,
        message=f"A request header field is longer than the limit of {limit} bytes.".encode(),
        closes=True,
    )


@pytest.mark.parametrize("limit_name,limit", [("defaults", 100), ("small", 5)])
def test_as_many_fields_as_the_limit_are_served_and_one_more_gets_431(
    request, limit_name, limit
):
    srv = request.getfixturevalue(limit_name)

    def fields(count):
        # Host and X-Case are two of them.
        return b"".join(b"X-F%d: 1\r\n" % i for i in range(count - 2))

    at = f"fields-at-{limit_name}"
    assert_served(srv, exchange(srv, get(at, fields=fields(limit))), at)
    over = f"fields-over-{limit_name}"
    reply = exchange(srv, get(over, fields=fields(limit + 1)))
    # hyper refuses a head with too many fields before parsing it: a 431 without a page.
    assert_refused(srv, reply, over, 431, closes=True)


def test_the_limits_are_in_help_with_apache_names_and_defaults():
    import subprocess

    from support import BINARY

    help_text = subprocess.run(
        [str(BINARY), "start-server", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for option, default in [
        ("--limit-request-line", "8190"),
        ("--limit-request-field-size", "8190"),
        ("--limit-request-fields", "100"),
    ]:
        assert option in help_text
        section = help_text[help_text.index(option) :].split("\n  --", 1)[0]
        assert f"[default: {default}]" in section, section


@pytest.fixture(scope="module")
def impatient(tmp_path_factory):
    """A server whose request heads must arrive within 1 s (2 s at most, earned at 500 bytes a
    second): mod_reqtimeout's `header=1-2,MinRate=500`."""
    yield from recorder_with(
        tmp_path_factory,
        "impatient",
        "--header-timeout",
        "1",
        "--header-max-timeout",
        "2",
        "--header-min-rate",
        "500",
        "--log-level",
        "info",
    )


def send_until_answered(srv, head, piece, pace, prefix=b""):
    """Sends `prefix` at once, then `head` `piece` bytes at a time, `pace` seconds apart (the
    client's pace, not a wait for the server), until the server answers or closes; returns the
    reply."""
    import socket
    import time

    from strict import Reply

    sock = srv.connect()
    received = b""
    closed = False
    deadline = time.monotonic() + 60
    try:
        sock.sendall(prefix)
        sock.settimeout(pace)
        for start in range(0, len(head), piece):
            assert time.monotonic() < deadline, "the server never cut the slow head"
            try:
                sock.sendall(head[start : start + piece])
            except OSError:
                break
            try:
                data = sock.recv(65536)
            except socket.timeout:
                continue
            received += data
            if not data:
                closed = True
            break
        sock.settimeout(10)
        while not closed:
            data = sock.recv(65536)
            received += data
            closed = not data
    finally:
        sock.close()
    return Reply(received, closed)


TIMED_OUT = b"The server timed out waiting for the request head."


def test_a_head_trickled_a_byte_at_a_time_is_cut_with_408(impatient):
    case = "trickle"
    head = get(case, fields=b"X-Slow: " + b"s" * 10_000 + b"\r\n")
    reply = send_until_answered(impatient, head, piece=1, pace=0.2)
    assert_refused(impatient, reply, case, 408, message=TIMED_OUT, closes=True)
    impatient.wait_for_log(r"closing the connection: the request head did not arrive in time")
    after = "after-trickle"
    assert_served(impatient, exchange(impatient, get(after)), after)


def test_an_endless_head_sent_fast_is_cut_at_the_maximum_with_408(impatient):
    case = "endless"
    # Fields of 200 bytes, 3 a piece, a piece every 0.2 s: each second earns six more at
    # 500 bytes a second, so only --header-max-timeout (2 s) can cut it, after about 30 fields;
    # without that maximum it would run on until the 100-field limit, a 431.
    head = get(case)[:-2] + b"".join(b"X-F: %0195d\r\n" % i for i in range(50_000))
    reply = send_until_answered(impatient, head, piece=600, pace=0.2)
    assert_refused(impatient, reply, case, 408, message=TIMED_OUT, closes=True)


def test_a_connection_that_sends_nothing_is_closed_without_a_response(impatient):
    sock = impatient.connect()
    try:
        sock.settimeout(30)
        assert sock.recv(100) == b""
    finally:
        sock.close()


def test_connections_beyond_max_clients_wait_in_the_backlog_and_are_never_reset(server):
    """--max-clients: the eleventh connection is not accepted while ten are served; it waits in
    the kernel's backlog (not reset, not refused) and is answered once one of the ten closes."""
    import select

    srv = server("--max-clients", "10", "--keep-alive-timeout", "300", APPS / "recorder.wsgi")
    held = []
    try:
        for i in range(10):
            sock = srv.connect()
            sock.sendall(b"GET /held-%d HTTP/1.1\r\nHost: t\r\n\r\n" % i)
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK")
            held.append(sock)
        waiting = srv.connect()  # the kernel completes the handshake; oxwsgi does not accept
        waiting.sendall(b"GET /waiting HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        # Nothing comes back while all ten slots are taken: no answer, no reset, no close.
        readable, _, _ = select.select([waiting], [], [], 1.0)
        assert readable == [], waiting.recv(100)
        held.pop().close()
        waiting.settimeout(30)
        answer = b""
        while chunk := waiting.recv(65536):
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"ok"), answer
        waiting.close()
    finally:
        for sock in held:
            sock.close()


def test_a_body_trickled_a_byte_at_a_time_is_cut_with_408(server, tmp_path):
    """--body-timeout with --body-min-rate (mod_reqtimeout's `body=1,MinRate=500`): each byte
    comes well within the wait for the next one, but the body as a whole earns no time at a
    byte per piece, so the application's read fails and the client gets a 408."""
    state = tmp_path / "state-body"
    state.mkdir()
    srv = server(
        "--body-timeout", "1", "--body-min-rate", "500", APPS / "recorder.wsgi",
        env={"OXWSGI_TEST_STATE": str(state)},
    )
    srv.state_dir = state
    head = (
        b"POST /case-body-trickle?report=body HTTP/1.1\r\nHost: t\r\nX-Case: body-trickle\r\n"
        b"Content-Length: 100000\r\n\r\n"
    )
    reply = send_until_answered(srv, b"b" * 100_000, piece=1, pace=0.2, prefix=head)
    assert reply.status_line == b"HTTP/1.1 408 Request Timeout", reply.describe()
    assert b"The server timed out waiting for the rest of the request body." in reply.body
    assert reply.closed
    from strict import body_reads

    (read,) = body_reads(srv, "body-trickle")
    assert read.startswith("error OSError"), read
