"""The WSGI environ: PEP 3333 keys with native latin-1 strings, mod_wsgi's extra keys, and the
mount point split (docs/environ.md lists them all)."""

import json
import socket

import pytest
import requests

from support import APPS, read_response


def environ_of(srv, path="/", headers=None, **kwargs):
    response = requests.get(srv.url + path, headers=headers or {}, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def value(env, key):
    return env[key]["value"]


@pytest.mark.parametrize("mount", ["", "/app"])
def test_pep_3333_keys_have_the_right_types_and_values(server, mount):
    srv = server("--mount-point", mount or "/", APPS / "environ.wsgi")
    env = environ_of(srv, mount + "/x%20y/z?q=1&r=%2F")
    assert value(env, "REQUEST_METHOD") == "GET"
    assert value(env, "SCRIPT_NAME") == mount
    assert value(env, "PATH_INFO") == "/x y/z"
    assert value(env, "QUERY_STRING") == "q=1&r=%2F"
    assert value(env, "REQUEST_URI") == mount + "/x%20y/z?q=1&r=%2F"
    assert value(env, "SERVER_PROTOCOL") == "HTTP/1.1"
    assert value(env, "SERVER_NAME") == "127.0.0.1"
    assert value(env, "SERVER_PORT") == str(srv.port)
    assert value(env, "REMOTE_ADDR") == "127.0.0.1"
    assert value(env, "REMOTE_PORT").isdigit()
    assert value(env, "wsgi.version") == [1, 0]
    assert env["wsgi.version"]["type"] == "tuple"
    assert value(env, "wsgi.url_scheme") == "http"
    assert value(env, "wsgi.input_terminated") is True
    assert value(env, "wsgi.run_once") is False
    assert env["_file_wrapper_is_type"] is True
    assert env["_input_methods"] == ["read", "readline", "readlines", "__iter__"]
    assert env["wsgi.errors"]["value"] == "<oxwsgi.LogStream name='<wsgi.errors>'>"
    assert value(env, "wsgi.multithread") is True
    assert value(env, "wsgi.multiprocess") is False
    assert value(env, "mod_wsgi.process_group") == "localhost:0"
    assert value(env, "mod_wsgi.application_group") == ""
    assert value(env, "mod_wsgi.listener_host") == ""
    assert value(env, "mod_wsgi.listener_port") == str(srv.port)
    assert env["mod_wsgi.request_id"]["type"] == "str"
    assert env["mod_wsgi.thread_id"]["type"] == "int"
    assert env["mod_wsgi.request_start"]["type"] == "float"
    assert value(env, "mod_wsgi.version") == [5, 0, 0]
    assert value(env, "oxwsgi.version") == "0.1.0"
    assert value(env, "HTTP_HOST") == f"127.0.0.1:{srv.port}"
    assert "CONTENT_TYPE" not in env and "CONTENT_LENGTH" not in env
    # Every CGI key is a native str, as PEP 3333 requires.
    for key, entry in env.items():
        if key.isupper():
            assert entry["type"] == "str", key


def test_multithread_and_multiprocess_follow_mod_wsgi(server):
    env = environ_of(server(APPS / "environ.wsgi"))
    assert value(env, "wsgi.multithread") is True
    assert value(env, "wsgi.multiprocess") is False
    env = environ_of(server("--threads", "1", APPS / "environ.wsgi"))
    assert value(env, "wsgi.multithread") is False


def test_mod_wsgi_keys_that_applications_probe(server):
    srv = server("--threads", "3", APPS / "environ.wsgi")
    env = environ_of(srv)
    assert value(env, "mod_wsgi.version") == [5, 0, 0]
    assert value(env, "mod_wsgi.process_group") == "localhost:0"
    assert value(env, "mod_wsgi.application_group") == ""
    assert value(env, "mod_wsgi.listener_host") == ""
    assert value(env, "mod_wsgi.listener_port") == str(srv.port)
    assert value(env, "mod_wsgi.callable_object") == "application"
    assert env["mod_wsgi.request_id"]["type"] == "str"
    assert 1 <= value(env, "mod_wsgi.thread_id") <= 3
    assert env["mod_wsgi.thread_id"]["type"] == "int"
    assert env["mod_wsgi.request_start"]["type"] == "float"
    assert value(env, "mod_wsgi.queue_start") >= value(env, "mod_wsgi.request_start")
    assert value(env, "oxwsgi.version") == "0.1.0"
    assert value(env, "SERVER_SOFTWARE") == "oxwsgi/0.1.0"
    assert value(env, "SCRIPT_FILENAME") == str(APPS / "environ.wsgi")
    ids = {value(environ_of(srv), "mod_wsgi.request_id") for _ in range(5)}
    assert len(ids) == 5


def test_headers_become_http_keys_with_mod_wsgi_rules(server):
    srv = server(APPS / "environ.wsgi")
    # Repeated headers and names with underscores need a raw request.
    with srv.connect() as sock:
        sock.sendall(
            b"GET / HTTP/1.1\r\nHost: example.com:8080\r\n"
            b"Cookie: a=1\r\nCookie: b=2\r\n"
            b"Accept: text/html\r\nAccept: application/json\r\n"
            b"X-Foo_Bar: dropped\r\nX-Foo-Bar: kept\r\n"
            b"Proxy: http://evil.example\r\n"
            b"Authorization: Basic Zm9vOmJhcg==\r\n"
            b"X-Latin: caf\xe9\r\n"
            b"Connection: close\r\n\r\n"
        )
        status, _, body, _ = read_response(sock)
    assert status == "HTTP/1.1 200 OK"

    env = json.loads(body)
    assert value(env, "HTTP_COOKIE") == "a=1; b=2"
    assert value(env, "HTTP_ACCEPT") == "text/html, application/json"
    assert value(env, "HTTP_X_FOO_BAR") == "kept"
    assert "HTTP_PROXY" not in env
    assert value(env, "HTTP_AUTHORIZATION") == "Basic Zm9vOmJhcg=="
    assert value(env, "HTTP_X_LATIN") == "caf\u00e9"  # the byte 0xE9, decoded as latin-1
    assert value(env, "SERVER_NAME") == "example.com"
    assert value(env, "SERVER_PORT") == "8080"
    assert value(env, "HTTP_HOST") == "example.com:8080"


def test_server_name_falls_back_without_host_header(server):
    srv = server(APPS / "environ.wsgi")
    raw = srv.raw(b"GET / HTTP/1.0\r\n\r\n")

    env = json.loads(raw.split(b"\r\n\r\n", 1)[1])
    assert value(env, "SERVER_NAME") == "localhost"
    assert value(env, "SERVER_PORT") == str(srv.port)
    assert value(env, "SERVER_PROTOCOL") == "HTTP/1.0"


def test_content_type_and_length_only_when_sent(server):
    srv = server(APPS / "environ.wsgi")
    env = environ_of(srv)
    assert "CONTENT_TYPE" not in env and "CONTENT_LENGTH" not in env
    env = requests.post(
        srv.url + "/?read=1", data=b"abc", headers={"Content-Type": "text/x-thing"}
    ).json()
    assert value(env, "CONTENT_TYPE") == "text/x-thing"
    assert value(env, "CONTENT_LENGTH") == "3"
    assert "HTTP_CONTENT_TYPE" not in env and "HTTP_CONTENT_LENGTH" not in env
    assert env["_body"] == {"length": 3, "text": "abc"}


def test_path_info_is_decoded_as_latin1_and_request_uri_stays_raw(server):
    srv = server(APPS / "environ.wsgi")
    # A raw request: HTTP clients would resolve the dot segments themselves.
    raw = srv.raw(b"GET /caf%C3%A9//a/./b/../c HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    env = json.loads(raw.split(b"\r\n\r\n", 1)[1])
    assert value(env, "PATH_INFO") == "/caf\u00c3\u00a9/a/c"
    assert value(env, "REQUEST_URI") == "/caf%C3%A9//a/./b/../c"
    assert value(env, "QUERY_STRING") == ""


def test_mount_point_splits_script_name_and_path_info(server):
    srv = server("--mount-point", "/app", APPS / "environ.wsgi")
    env = environ_of(srv, "/app/x%20y?q=1")
    assert value(env, "SCRIPT_NAME") == "/app"
    assert value(env, "PATH_INFO") == "/x y"
    assert value(env, "REQUEST_URI") == "/app/x%20y?q=1"
    env = environ_of(srv, "/app")
    assert value(env, "SCRIPT_NAME") == "/app"
    assert value(env, "PATH_INFO") == ""
    env = environ_of(srv, "/app/")
    assert value(env, "PATH_INFO") == "/"
    outside = requests.get(srv.url + "/application")
    assert outside.status_code == 404
    assert "The requested URL was not found on this server." in outside.text


def test_wsgi_errors_lines_reach_the_log_tagged_with_the_request_id(server):
    srv = server(APPS / "environ.wsgi")
    env = environ_of(srv, "/?errors=something+odd+happened")
    request_id = value(env, "mod_wsgi.request_id")
    srv.wait_for_log(
        r"\[wsgi:error\] \[pid %d:tid \d+\] \[request %s\] something odd happened$"
        % (srv.worker_pid(), request_id)
    )


def test_environ_of_an_http_1_0_keepalive_less_request(server):
    srv = server(APPS / "environ.wsgi")
    with socket.create_connection(("127.0.0.1", srv.port)) as sock:
        sock.sendall(b"GET /a HTTP/1.0\r\nHost: h\r\n\r\n")
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1.0 200 OK\r\n")
