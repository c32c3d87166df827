"""An HTTP/2 load client that follows GOAWAY as RFC 9113 §6.8 says, for the graceful-restart
test: streams the server accepted (up to the GOAWAY's last stream id) must complete; streams
above it were never processed and are sent again on a new connection, as browsers and proxies
do. Anything else — a reset other than REFUSED_STREAM, a status other than 200, a connection
that drops streams it accepted — is a failure."""

import socket
import ssl
import threading

import h2.config
import h2.connection
import h2.errors
import h2.events

# RFC 9113 §6.8: after a GOAWAY the streams up to its last stream id go on — their HEADERS,
# DATA, WINDOW_UPDATE — and PING still works (hyper's graceful shutdown sends GOAWAY, PING,
# then the final GOAWAY). The h2 library closes its connection state machine at the first
# GOAWAY; let every input but opening a new stream through, so that the client can finish the
# streams the server accepted, as browsers and proxies do.
_machine = h2.connection.H2ConnectionStateMachine._transitions
for _input in h2.connection.ConnectionInputs:
    if _input is not h2.connection.ConnectionInputs.SEND_HEADERS:
        _machine.setdefault((h2.connection.ConnectionState.CLOSED, _input),
                            (None, h2.connection.ConnectionState.CLOSED))


class H2Load:
    def __init__(self, port, path, ca, concurrency=10):
        self.port, self.path, self.ca, self.concurrency = port, path, ca, concurrency
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.completed = 0
        self.retried = 0
        self.connections = 0
        self.failures = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join(timeout=60)

    def _connect(self):
        context = ssl.create_default_context(cafile=str(self.ca))
        context.set_alpn_protocols(["h2"])
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        sock = context.wrap_socket(raw, server_hostname="localhost")
        assert sock.selected_alpn_protocol() == "h2"
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        with self.lock:
            self.connections += 1
        return sock, conn

    def _run(self):
        pending = 0  # requests owed after refused streams
        while not self.stopping.is_set() or pending:
            try:
                pending = self._one_connection(pending)
            except Exception as err:  # noqa: BLE001 — any error is the test's failure
                with self.lock:
                    self.failures.append(f"connection: {err!r}")
                return

    def _one_connection(self, owed):
        sock, conn = self._connect()
        open_streams = {}  # stream id -> status
        last_accepted = None

        def send_one():
            stream_id = conn.get_next_available_stream_id()
            conn.send_headers(stream_id, [(":method", "GET"), (":path", self.path),
                                          (":scheme", "https"),
                                          (":authority", f"localhost:{self.port}")],
                              end_stream=True)
            open_streams[stream_id] = None

        while True:
            while (last_accepted is None and len(open_streams) < self.concurrency
                   and (owed or not self.stopping.is_set())):
                send_one()
                owed = max(0, owed - 1)
            sock.sendall(conn.data_to_send())
            if not open_streams:
                sock.close()
                return owed
            data = sock.recv(65536)
            if not data:
                # The server closed: every stream it accepted must have been answered.
                lost = [s for s in open_streams if last_accepted is None or s <= last_accepted]
                with self.lock:
                    if lost:
                        self.failures.append(f"connection closed with streams {lost} open")
                    refused = len(open_streams) - len(lost)
                    self.retried += refused
                sock.close()
                return owed + len(open_streams) - len(lost)
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    open_streams[event.stream_id] = dict(event.headers).get(b":status")
                elif isinstance(event, h2.events.DataReceived):
                    conn.acknowledge_received_data(event.flow_controlled_length,
                                                   event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    status = open_streams.pop(event.stream_id, None)
                    with self.lock:
                        if status == b"200":
                            self.completed += 1
                        else:
                            self.failures.append(f"stream {event.stream_id}: status {status}")
                elif isinstance(event, h2.events.StreamReset):
                    open_streams.pop(event.stream_id, None)
                    if event.error_code == h2.errors.ErrorCodes.REFUSED_STREAM:
                        owed += 1
                        with self.lock:
                            self.retried += 1
                    else:
                        with self.lock:
                            self.failures.append(
                                f"stream {event.stream_id} reset: {event.error_code!r}")
                elif isinstance(event, h2.events.ConnectionTerminated):
                    last_accepted = event.last_stream_id
                    refused = [s for s in open_streams if s > last_accepted]
                    for stream_id in refused:
                        open_streams.pop(stream_id)
                    owed += len(refused)
                    with self.lock:
                        self.retried += len(refused)
                    if event.error_code != h2.errors.ErrorCodes.NO_ERROR:
                        with self.lock:
                            self.failures.append(f"GOAWAY {event.error_code!r}")
            sock.sendall(conn.data_to_send())
