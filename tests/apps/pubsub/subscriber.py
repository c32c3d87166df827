"""The subscriber, run as a side service (--service-script): it listens on a loopback port,
tells the publisher which (OXWSGI_TEST_STATE/subscriber.port, written whole by a rename), and
records every notification it receives, one JSON line each, in notifications.log. It writes its
pid to subscriber.pid, and "stopped PID" to stopped.log when the server stops it (SIGTERM
raises SystemExit in the script)."""

import json
import os
import socket

STATE = os.environ["OXWSGI_TEST_STATE"]


def publish(name, text):
    temporary = os.path.join(STATE, name + ".tmp")
    with open(temporary, "w") as f:
        f.write(text)
    os.replace(temporary, os.path.join(STATE, name))


listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(16)
print("subscriber %d listening on port %d as uid %d, __name__ %s"
      % (os.getpid(), listener.getsockname()[1], os.getuid(), __name__), flush=True)
publish("subscriber.pid", str(os.getpid()))
publish("subscriber.uid", str(os.getuid()))
publish("subscriber.port", str(listener.getsockname()[1]))
try:
    while True:
        conn, _ = listener.accept()
        with conn:
            line = conn.makefile("rb").readline()
            event = json.loads(line)
            event["received_by"] = os.getpid()
            with open(os.path.join(STATE, "notifications.log"), "a") as log:
                log.write(json.dumps(event) + "\n")
            conn.sendall(b"ok\n")
finally:
    with open(os.path.join(STATE, "stopped.log"), "a") as f:
        f.write("stopped %d\n" % os.getpid())
