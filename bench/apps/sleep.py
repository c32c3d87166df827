"""Sleeps 10 ms, then says hello: a request that waits (as on a database) without using the CPU.
Throughput is bounded by the Python threads: processes * threads / 10 ms."""

import time

BODY = b"Hello World!\n"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def application(environ, start_response):
    time.sleep(0.01)
    start_response("200 OK", HEADERS)
    return [BODY]
