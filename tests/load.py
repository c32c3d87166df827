"""A load generator for lifecycle tests: client threads sending requests continuously, some over
keep-alive connections and some on a new connection each time, recording every response and
every failure, while the test restarts, recycles or kills workers."""

import http.client
import threading
import time
from collections import Counter


class Load:
    def __init__(self, port, path="/", keep_alive_clients=4, new_connection_clients=2):
        self.port = port
        self.path = path
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.bodies = Counter()  # body -> count
        self.failures = []  # descriptions of failed requests
        self.total = 0
        self.threads = [
            threading.Thread(target=self._keep_alive_client, daemon=True)
            for _ in range(keep_alive_clients)
        ] + [
            threading.Thread(target=self._new_connection_client, daemon=True)
            for _ in range(new_connection_clients)
        ]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def _record(self, status, body, error=None):
        with self.lock:
            self.total += 1
            if error is not None:
                self.failures.append(error)
            elif status != 200:
                self.failures.append(f"status {status}: {body[:200]!r}")
            else:
                self.bodies[body] += 1

    def _request(self, connection):
        connection.request("GET", self.path)
        response = connection.getresponse()
        body = response.read()
        return response, body

    def _keep_alive_client(self):
        connection = None
        while not self.stopping.is_set():
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                response, body = self._request(connection)
            except Exception as exc:  # noqa: BLE001 - every failure is the point of the test
                self._record(None, b"", f"{type(exc).__name__}: {exc}")
                connection.close()
                connection = None
                continue
            self._record(response.status, body)
            if response.will_close:
                connection.close()
                connection = None
        if connection is not None:
            connection.close()

    def _new_connection_client(self):
        while not self.stopping.is_set():
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                response, body = self._request(connection)
            except Exception as exc:  # noqa: BLE001
                self._record(None, b"", f"{type(exc).__name__}: {exc}")
            else:
                self._record(response.status, body)
            finally:
                connection.close()

    def wait_for_body(self, body, timeout=30):
        """Waits until responses with `body` are being answered, and returns how many
        requests had been made by then."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                if self.bodies[body] > 0:
                    return self.total
            if time.monotonic() > deadline:
                raise AssertionError(f"no response {body!r} after {timeout}s: {self.bodies}")
            time.sleep(0.05)

    def wait_for_total(self, total, timeout=60):
        deadline = time.monotonic() + timeout
        while self.total < total:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {self.total} requests after {timeout}s")
            time.sleep(0.05)
