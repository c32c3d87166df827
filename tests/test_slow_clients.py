"""A thousand slow clients (issue 10, item 3): while 1000 connections trickle their request
heads a byte a second and 1000 more sit idle between keep-alive requests, a normal client is
answered; the tricklers are then cut with a 408 at the header timeout, and the worker's memory
stays bounded. The same for clients that stop reading large responses (--socket-timeout).

Nothing here measures time: "answered while the slow ones are held" is checked by the slow
connections all being open still when the normal answer has arrived."""

import asyncio
import resource

import pytest

from support import APPS, wait_until

TRICKLERS = 1000
IDLE = 1000


@pytest.fixture(autouse=True)
def enough_descriptors():
    """The test holds over 2000 sockets itself."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, 3 * (TRICKLERS + IDLE)))
    if wanted < 2 * (TRICKLERS + IDLE) + 100:
        pytest.fail(f"this test needs {2 * (TRICKLERS + IDLE) + 100} open files; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def open_idle(port):
    """A connection that made one keep-alive request and now waits."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /idle HTTP/1.1\r\nHost: t\r\n\r\n")
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK"), head
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    await reader.readexactly(length)
    return reader, writer


class Trickler:
    """A connection that sends its request head a byte at a time, a second apart."""

    HEAD = b"GET /trickle HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"s" * 200 + b"\r\n\r\n"

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer
        self.sent = 0
        self.answer = None

    @classmethod
    async def open(cls, port):
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def run(self, held):
        """Trickles until the server answers or closes; `held` is set while it still sends."""
        read = asyncio.ensure_future(self.reader.read())
        while not read.done() and self.sent < len(self.HEAD):
            self.writer.write(self.HEAD[self.sent : self.sent + 1])
            self.sent += 1
            try:
                await asyncio.wait_for(asyncio.shield(read), timeout=1.0)
            except asyncio.TimeoutError:
                pass
        self.answer = await read
        self.writer.close()


def test_a_normal_client_is_answered_while_2000_slow_ones_are_held(server):
    srv = server(
        "--max-clients",
        "4096",
        # Idle connections stay for the whole test; trickled heads get the default header
        # clock (15 s, a second more per 500 bytes, at most 30 s).
        "--keep-alive-timeout",
        "300",
        APPS / "recorder.wsgi",
    )
    rss_before = srv.rss_kib()

    async def scenario():
        # In batches: a thousand requests at once would overflow the request queue
        # (--daemon-backlog, 100), which is its own, tested, behaviour.
        idle = []
        for _ in range(IDLE // 50):
            idle += await asyncio.gather(*(open_idle(srv.port) for _ in range(50)))
        tricklers = await asyncio.gather(*(Trickler.open(srv.port) for _ in range(TRICKLERS)))
        running = [asyncio.ensure_future(t.run(None)) for t in tricklers]

        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(b"GET /normal HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        await writer.drain()
        answer = await reader.read()
        writer.close()
        # The normal answer came while every slow connection was still held open.
        still_trickling = sum(1 for t in running if not t.done())
        rss_during = srv.rss_kib()

        await asyncio.gather(*running)
        idle_open = sum(1 for r, _ in idle if not r.at_eof())
        for _, w in idle:
            w.close()
        return answer, still_trickling, tricklers, idle_open, rss_during

    answer, still_trickling, tricklers, idle_open, rss_during = asyncio.run(scenario())
    assert answer.startswith(b"HTTP/1.1 200 OK"), answer[:200]
    assert answer.endswith(b"ok")
    assert still_trickling == TRICKLERS
    assert idle_open == IDLE
    # Every trickler was cut by the header clock with a 408, before it could finish its head.
    statuses = {t.answer.split(b"\r\n", 1)[0] for t in tricklers}
    assert statuses == {b"HTTP/1.1 408 Request Timeout"}, statuses
    assert all(t.sent < len(Trickler.HEAD) for t in tricklers)
    # 2000 connections cost the worker well under 100 KiB each.
    assert rss_during - rss_before < 200 * 1024, (rss_before, rss_during)


# More than the kernel's socket buffers on both sides can hold.
BIG = 32 * 1024 * 1024


def test_clients_that_stop_reading_are_cut_at_the_socket_timeout(server):
    """200 clients ask for 32 MiB and read none of it; a normal client is answered meanwhile,
    and the stalled ones are closed at --socket-timeout, short of the whole body."""
    srv = server(
        "--socket-timeout",
        "3",
        "--max-clients",
        "4096",
        "--log-level",
        "info",
        APPS / "recorder.wsgi",
    )
    stalled_count = 200

    async def scenario():
        async def stall():
            # asyncio stops reading from the socket once `limit` bytes wait unread.
            reader, writer = await asyncio.open_connection("127.0.0.1", srv.port, limit=1024)
            writer.write(b"GET /big?size=%d HTTP/1.1\r\nHost: t\r\n\r\n" % BIG)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 OK"), head
            return reader, writer

        # In batches, so that the request queue (--daemon-backlog, 100) never overflows.
        stalled = []
        for _ in range(stalled_count // 50):
            stalled += await asyncio.gather(*(stall() for _ in range(50)))

        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(b"GET /normal HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        answer = await reader.read()
        writer.close()
        none_closed = not any(r.at_eof() for r, _ in stalled)

        # Wait for the server to give up on every one of them (it says so, once each).
        await asyncio.to_thread(
            wait_until,
            lambda: srv.error_log().count("no byte of the response went out") >= stalled_count,
            timeout=60,
            what="every stalled response cut",
        )
        # Now read what the server sent before it gave up: less than the whole body, then EOF.
        received = []
        for reader, writer in stalled:
            total = 0
            while chunk := await reader.read(1 << 20):
                total += len(chunk)
            received.append(total)
            writer.close()
        return answer, none_closed, received

    answer, none_closed, received = asyncio.run(scenario())
    assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"ok"), answer[:200]
    assert none_closed
    assert all(total < BIG for total in received), max(received)
    assert "no byte of the response went out for 3s" in srv.error_log()
