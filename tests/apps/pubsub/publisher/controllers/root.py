"""The publisher's REST resource: GET says it runs; POST publishes an event to the subscriber
(the side service), over the loopback port the subscriber wrote to the state directory."""

import json
import os
import socket

import pecan
from pecan import expose


def notify(event):
    """Sends one event to the subscriber and waits for its acknowledgement."""
    state = os.environ["OXWSGI_TEST_STATE"]
    with open(os.path.join(state, "subscriber.port")) as f:
        port = int(f.read())
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(json.dumps(event).encode() + b"\n")
        reply = conn.makefile("rb").readline()
    return reply.strip() == b"ok"


class RootController(object):
    @expose(generic=True, template="json")
    def index(self):
        return {"service": "publisher"}

    @index.when(method="POST", template="json")
    def index_post(self):
        event = json.loads(pecan.request.body or b"{}")
        delivered = notify(event)
        if not delivered:
            pecan.response.status = 502
        return {"delivered": delivered, "event": event}
