"""The server tests/test_proxy_pass.py proxies to: plain HTTP (an echo of what it received,
a redirect to itself, a response streamed in two parts, a response that never comes) on
one port and a WebSocket echo on another. Started as `python proxy_backend.py PORTS_FILE`;
writes "HTTP_PORT WS_PORT" to PORTS_FILE once both listen, and runs until stopped."""

import asyncio
import http.server
import json
import sys
import threading

import websockets.asyncio.server

released = threading.Event()
never = threading.Event()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.endswith("/redirect"):
            port = self.server.server_address[1]
            return self.reply(302, b"", [("Location", f"http://127.0.0.1:{port}/v1/landing")])
        if self.path.endswith("/stream"):
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"6\r\nfirst\n\r\n")
            self.wfile.flush()
            released.wait()
            self.wfile.write(b"7\r\nsecond\n\r\n0\r\n\r\n")
            return None
        if self.path == "/release":
            released.set()
            return self.reply(200, b"released")
        if self.path.endswith("/hang"):
            never.wait()
            return None
        return self.echo(b"")

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        return self.echo(self.rfile.read(length))

    def echo(self, body):
        seen = {
            "method": self.command,
            "path": self.path,
            "headers": {name.lower(): value for name, value in self.headers.items()},
            "body": body.decode("latin-1"),
        }
        self.reply(200, json.dumps(seen).encode(), [("Content-Type", "application/json"),
                                                    ("X-Backend", "yes")])


async def echo(connection):
    async for message in connection:
        await connection.send(f"echo: {message} at {connection.request.path}")


async def main(ports_file):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    async with websockets.asyncio.server.serve(echo, "127.0.0.1", 0) as ws:
        ws_port = ws.sockets[0].getsockname()[1]
        with open(ports_file + ".tmp", "w") as out:
            out.write(f"{httpd.server_address[1]} {ws_port}")
        import os
        os.rename(ports_file + ".tmp", ports_file)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
