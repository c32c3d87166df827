"""The WSGI environ: PEP 3333 keys with native latin-1 strings, mod_wsgi's extra keys, and the
mount point split (docs/environ.md lists them all)."""

import collections
import json
import re
import shutil
import socket
import time

import pytest
import requests

from support import APPS, ROOT, read_response, read_until_closed

MOUNTS = ["", "/app"]
DOC = ROOT / "docs" / "environ.md"
# What environ.wsgi adds to its report besides the environ's own keys.
APP_KEYS = {"_body", "_file_wrapper_is_type", "_input_methods"}
# Keys the doc says appear only when the request has them: absent from a body-less GET
# that sends no headers but Host and Connection.
ONLY_WHEN_SENT = {"CONTENT_TYPE", "CONTENT_LENGTH", "HTTP_*"}
# Keys of requests over TLS (test_tls.py) and of ErrorDocument requests (test_apache_config.py).
ONLY_WHEN_SENT |= {"HTTPS", "REDIRECT_STATUS", "REDIRECT_URL", "REDIRECT_QUERY_STRING",
                   "REDIRECT_REQUEST_METHOD"}
# Behind a trusted proxy's X-Script-Name (test_proxy.py).
ONLY_WHEN_SENT |= {"mod_wsgi.mount_point"}
# Of requests the server authenticated (test_auth.py).
ONLY_WHEN_SENT |= {"REMOTE_USER", "AUTH_TYPE"}
# (SCRIPT_FILENAME is conditional too, on the application type: these servers run a script
# file, so it is there; test_script_filename_is_absent_for_a_module checks the other case.)

Seen = collections.namedtuple("Seen", "env client_port before after")


def server_args(mount, *args):
    """The command line of an environ.wsgi server mounted at `mount`."""
    return ["--mount-point", mount or "/", *args, APPS / "environ.wsgi"]


def environ_of(srv, path="/", headers=None, **kwargs):
    response = requests.get(srv.url + path, headers=headers or {}, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def exchange(srv, request):
    """Sends raw request bytes on a new connection; returns what the application saw, the
    client's port and the time just before and after."""
    before = time.time()
    with srv.connect() as sock:
        client_port = sock.getsockname()[1]
        sock.sendall(request)
        status, _, body, _ = read_response(sock)
    after = time.time()
    assert status.endswith(" 200 OK"), (status, body)
    return Seen(json.loads(body), client_port, before, after)


def get(srv, target, version="HTTP/1.1"):
    """A raw GET with just Host and `Connection: close` (no Host for HTTP/1.0)."""
    host = f"Host: 127.0.0.1:{srv.port}\r\n" if version == "HTTP/1.1" else ""
    return exchange(srv, f"GET {target} {version}\r\n{host}Connection: close\r\n\r\n".encode())


def value(env, key):
    return env[key]["value"]


def entry(env, key):
    """(type name, value) of one key, as environ.wsgi reports it."""
    return env[key]["type"], env[key]["value"]


def assert_times(seen):
    """request_start <= queue_start, both floats taken while the request was in flight."""
    kind, start = entry(seen.env, "mod_wsgi.request_start")
    assert kind == "float"
    kind, queued = entry(seen.env, "mod_wsgi.queue_start")
    assert kind == "float"
    assert seen.before - 1 <= start <= queued <= seen.after + 1


def documented():
    """{key: (type name, constant?)} of every table row of docs/environ.md."""
    rows = re.findall(r"^\| `([^`]+)` \| ([^|]+?) \| (.*) \|$", DOC.read_text(), re.MULTILINE)
    keys = {
        key: (kind.strip("`").rpartition(".")[2], text.startswith("*constant*"))
        for key, kind, text in rows
    }
    # One key of each table, so that a parse that finds nothing cannot pass.
    assert {"REQUEST_METHOD", "wsgi.input", "mod_wsgi.queue_start", "oxwsgi.version"} <= set(keys)
    return keys


@pytest.mark.parametrize("mount", MOUNTS)
def test_pep_3333_keys_have_the_right_types_and_values(server, mount):
    srv = server(*server_args(mount))
    target = mount + "/x%20y/z?q=1&r=%2F"
    seen = get(srv, target)
    env = seen.env
    expected = {
        "REQUEST_METHOD": ("str", "GET"),
        "SCRIPT_NAME": ("str", mount),
        "PATH_INFO": ("str", "/x y/z"),
        "QUERY_STRING": ("str", "q=1&r=%2F"),
        "REQUEST_URI": ("str", target),
        "REQUEST_SCHEME": ("str", "http"),
        "SERVER_PROTOCOL": ("str", "HTTP/1.1"),
        "SERVER_NAME": ("str", "127.0.0.1"),
        "SERVER_PORT": ("str", str(srv.port)),
        "SERVER_ADDR": ("str", "127.0.0.1"),
        "SERVER_SOFTWARE": ("str", "oxwsgi/0.1.0"),
        "REMOTE_ADDR": ("str", "127.0.0.1"),
        "REMOTE_PORT": ("str", str(seen.client_port)),
        "GATEWAY_INTERFACE": ("str", "CGI/1.1"),
        "DOCUMENT_ROOT": ("str", str(srv.server_root / "htdocs")),
        "SCRIPT_FILENAME": ("str", str(APPS / "environ.wsgi")),
        "HTTP_HOST": ("str", f"127.0.0.1:{srv.port}"),
        "HTTP_CONNECTION": ("str", "close"),
        "wsgi.version": ("tuple", [1, 0]),
        "wsgi.url_scheme": ("str", "http"),
        "wsgi.errors": ("LogStream", "<oxwsgi.LogStream name='<wsgi.errors>'>"),
        "wsgi.file_wrapper": ("type", "<class 'oxwsgi.FileWrapper'>"),
        "wsgi.input_terminated": ("bool", True),
        "wsgi.multithread": ("bool", True),
        "wsgi.multiprocess": ("bool", False),
        "wsgi.run_once": ("bool", False),
        "mod_wsgi.version": ("tuple", [5, 0, 0]),
        "mod_wsgi.process_group": ("str", "localhost:0"),
        "mod_wsgi.application_group": ("str", ""),
        "mod_wsgi.callable_object": ("str", "application"),
        "mod_wsgi.listener_host": ("str", ""),
        "mod_wsgi.listener_port": ("str", str(srv.port)),
        "oxwsgi.version": ("str", "0.1.0"),
    }
    assert {key: entry(env, key) for key in expected} == expected
    # The keys whose values differ from request to request.
    kind, text = entry(env, "wsgi.input")
    assert kind == "Input" and re.fullmatch(r"<oxwsgi\.Input object at 0x[0-9a-f]+>", text)
    kind, text = entry(env, "mod_wsgi.request_id")
    assert kind == "str" and re.fullmatch(r"[0-9a-f]{6}-1", text)  # the first request
    kind, thread = entry(env, "mod_wsgi.thread_id")
    assert kind == "int" and 1 <= thread <= 5  # --threads defaults to 5
    assert_times(seen)
    varying = {"wsgi.input", "mod_wsgi.request_id", "mod_wsgi.thread_id"}
    varying |= {"mod_wsgi.request_start", "mod_wsgi.queue_start"}
    assert sorted(set(env) - APP_KEYS) == sorted(set(expected) | varying)
    assert env["_file_wrapper_is_type"] is True
    assert env["_input_methods"] == ["read", "readline", "readlines", "__iter__"]
    # Every CGI key is a native str, as PEP 3333 requires.
    for key, item in env.items():
        if key.isupper():
            assert item["type"] == "str", key


@pytest.mark.parametrize("mount", MOUNTS)
def test_every_documented_key_is_there_and_every_key_is_documented(server, mount):
    """With the type the doc gives; only the keys of ONLY_WHEN_SENT may be missing."""
    docs = documented()
    srv = server(*server_args(mount))
    env = get(srv, mount + "/").env
    keys = set(env) - APP_KEYS
    headers = {key for key in keys if key.startswith("HTTP_")}
    assert headers == {"HTTP_HOST", "HTTP_CONNECTION"}
    assert sorted(keys - headers) == sorted(set(docs) - ONLY_WHEN_SENT)
    assert {key: env[key]["type"] for key in keys - headers} == {
        key: docs[key][0] for key in keys - headers
    }


@pytest.mark.parametrize("mount", MOUNTS)
def test_keys_documented_as_constant_are_the_same_for_different_requests(server, mount):
    """A different method, path, query, protocol and Host change none of them."""
    constant = {key for key, (_, is_constant) in documented().items()
                if is_constant and key not in ONLY_WHEN_SENT}
    assert len(constant) == 20  # the rows marked *constant* in the doc (HTTPS: test_tls.py)
    srv = server(*server_args(mount))
    first = get(srv, mount + "/a?b=c").env
    post = f"POST {mount}/d/e HTTP/1.0\r\nHost: example.com:81\r\nContent-Length: 2\r\n\r\nxy"
    second = exchange(srv, post.encode()).env
    assert value(second, "REQUEST_METHOD") == "POST"
    assert {key: first[key] for key in constant} == {key: second[key] for key in constant}


@pytest.mark.parametrize("mount", MOUNTS)
@pytest.mark.parametrize(
    "args, threads, multithread, multiprocess",
    [
        ((), 5, True, False),
        (("--threads", "1"), 1, False, False),
        (("--threads", "2"), 2, True, False),
        (("--processes", "1"), 5, True, True),
        (("--processes", "2", "--threads", "1"), 1, False, True),
    ],
)
def test_multithread_and_multiprocess_follow_mod_wsgi(
    server, mount, args, threads, multithread, multiprocess
):
    """Threads ≠ 1 is multithread; --processes given, even as 1, is multiprocess."""
    env = get(server(*server_args(mount, *args)), mount + "/").env
    assert entry(env, "wsgi.multithread") == ("bool", multithread)
    assert entry(env, "wsgi.multiprocess") == ("bool", multiprocess)
    kind, thread = entry(env, "mod_wsgi.thread_id")
    assert kind == "int" and 1 <= thread <= threads
    if threads == 1:
        assert thread == 1


@pytest.mark.parametrize("mount", MOUNTS)
def test_mod_wsgi_keys_that_applications_probe(server, mount):
    srv = server(*server_args(mount, "--threads", "3"))
    seen = get(srv, mount + "/")
    env = seen.env
    assert entry(env, "mod_wsgi.version") == ("tuple", [5, 0, 0])
    assert entry(env, "mod_wsgi.process_group") == ("str", "localhost:0")
    assert entry(env, "mod_wsgi.application_group") == ("str", "")
    assert entry(env, "mod_wsgi.listener_host") == ("str", "")
    assert entry(env, "mod_wsgi.listener_port") == ("str", str(srv.port))
    assert entry(env, "mod_wsgi.callable_object") == ("str", "application")
    kind, thread = entry(env, "mod_wsgi.thread_id")
    assert kind == "int" and 1 <= thread <= 3
    assert_times(seen)
    assert entry(env, "oxwsgi.version") == ("str", "0.1.0")
    assert entry(env, "SERVER_SOFTWARE") == ("str", "oxwsgi/0.1.0")
    assert entry(env, "SCRIPT_FILENAME") == ("str", str(APPS / "environ.wsgi"))
    assert entry(env, "REMOTE_ADDR") == ("str", "127.0.0.1")
    assert entry(env, "REMOTE_PORT") == ("str", str(seen.client_port))
    # Ids are the process's random prefix and a hexadecimal counter from 1.
    kind, first = entry(env, "mod_wsgi.request_id")
    assert kind == "str" and re.fullmatch(r"[0-9a-f]{6}-1", first)
    prefix = first[:-2]
    ids = [value(get(srv, mount + "/").env, "mod_wsgi.request_id") for _ in range(17)]
    assert ids == [f"{prefix}-{n:x}" for n in range(2, 19)]


def test_host_option_names_the_listener_and_the_process_group(server):
    """--host shows in listener_host and process_group, and is SERVER_NAME without Host."""
    srv = server("--host", "127.0.0.1", APPS / "environ.wsgi")
    env = get(srv, "/", version="HTTP/1.0").env
    assert entry(env, "mod_wsgi.listener_host") == ("str", "127.0.0.1")
    assert entry(env, "mod_wsgi.process_group") == ("str", "127.0.0.1:0")  # --port as given
    assert entry(env, "SERVER_NAME") == ("str", "127.0.0.1")


@pytest.mark.parametrize("mount", MOUNTS)
def test_script_filename_is_absent_for_a_module(server, tmp_path, mount):
    """An application imported by module name has no script file."""
    shutil.copy(APPS / "environ.wsgi", tmp_path / "environ_app.py")
    module = ["--python-path", tmp_path, "--application-type", "module", "environ_app"]
    srv = server("--mount-point", mount or "/", *module)
    env = get(srv, mount + "/").env
    assert "SCRIPT_FILENAME" not in env
    assert entry(env, "SCRIPT_NAME") == ("str", mount)
    assert entry(env, "mod_wsgi.callable_object") == ("str", "application")


@pytest.mark.parametrize("mount", MOUNTS)
def test_headers_become_http_keys_with_mod_wsgi_rules(server, mount):
    srv = server(*server_args(mount))
    # Repeated headers and names with underscores need a raw request.
    seen = exchange(
        srv,
        f"GET {mount}/ HTTP/1.1\r\nHost: example.com:8080\r\n".encode()
        + b"Cookie: a=1\r\nCookie: b=2\r\n"
        b"Accept: text/html\r\nAccept: application/json\r\n"
        b"X-Foo_Bar: dropped\r\nX-Foo-Bar: kept\r\nX.Dot: dropped\r\n"
        b"Proxy: http://evil.example\r\n"
        b"Authorization: Basic Zm9vOmJhcg==\r\n"
        b"X-Latin: caf\xe9\r\n"
        b"Connection: close\r\n\r\n",
    )
    env = seen.env
    headers = {key: entry(env, key) for key in env if key.startswith("HTTP_")}
    assert headers == {
        "HTTP_HOST": ("str", "example.com:8080"),
        "HTTP_COOKIE": ("str", "a=1; b=2"),
        "HTTP_ACCEPT": ("str", "text/html, application/json"),
        "HTTP_X_FOO_BAR": ("str", "kept"),
        "HTTP_AUTHORIZATION": ("str", "Basic Zm9vOmJhcg=="),
        "HTTP_X_LATIN": ("str", "caf\u00e9"),  # the byte 0xE9, decoded as latin-1
        "HTTP_CONNECTION": ("str", "close"),
    }
    assert entry(env, "SERVER_NAME") == ("str", "example.com")
    assert entry(env, "SERVER_PORT") == ("str", "8080")
    assert entry(env, "SCRIPT_NAME") == ("str", mount)
    assert entry(env, "PATH_INFO") == ("str", "/")


@pytest.mark.parametrize("mount", MOUNTS)
def test_server_name_falls_back_without_host_header(server, mount):
    srv = server(*server_args(mount))
    env = get(srv, mount + "/", version="HTTP/1.0").env
    assert entry(env, "SERVER_NAME") == ("str", "localhost")
    assert entry(env, "SERVER_PORT") == ("str", str(srv.port))
    assert entry(env, "SERVER_PROTOCOL") == ("str", "HTTP/1.0")
    assert "HTTP_HOST" not in env


@pytest.mark.parametrize("mount", MOUNTS)
def test_content_type_and_length_only_when_sent(server, mount):
    srv = server(*server_args(mount))
    env = environ_of(srv, mount + "/")
    assert "CONTENT_TYPE" not in env and "CONTENT_LENGTH" not in env
    env = requests.post(
        srv.url + mount + "/?read=1", data=b"abc", headers={"Content-Type": "text/x-thing"}
    ).json()
    assert entry(env, "CONTENT_TYPE") == ("str", "text/x-thing")
    assert entry(env, "CONTENT_LENGTH") == ("str", "3")
    assert "HTTP_CONTENT_TYPE" not in env and "HTTP_CONTENT_LENGTH" not in env
    assert env["_body"] == {"length": 3, "text": "abc"}
    # A chunked body has no length; without Content-Type there is no CONTENT_TYPE.
    env = requests.post(srv.url + mount + "/?read=1", data=iter([b"ab", b"cd"])).json()
    assert "CONTENT_TYPE" not in env and "CONTENT_LENGTH" not in env
    assert entry(env, "HTTP_TRANSFER_ENCODING") == ("str", "chunked")
    assert env["_body"] == {"length": 4, "text": "abcd"}


@pytest.mark.parametrize("mount", MOUNTS)
def test_path_info_is_decoded_as_latin1_and_request_uri_stays_raw(server, mount):
    srv = server(*server_args(mount))
    # A raw request: HTTP clients would resolve the dot segments themselves.
    env = get(srv, mount + "/caf%C3%A9//a/./b/../c").env
    assert entry(env, "SCRIPT_NAME") == ("str", mount)
    assert entry(env, "PATH_INFO") == ("str", "/caf\u00c3\u00a9/a/c")
    assert entry(env, "REQUEST_URI") == ("str", mount + "/caf%C3%A9//a/./b/../c")
    assert entry(env, "QUERY_STRING") == ("str", "")


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


@pytest.mark.parametrize("mount", MOUNTS)
def test_wsgi_errors_lines_reach_the_log_tagged_with_the_request_id(server, mount):
    srv = server(*server_args(mount))
    env = environ_of(srv, mount + "/?errors=something+odd+happened")
    request_id = value(env, "mod_wsgi.request_id")
    srv.wait_for_log(
        r"\[wsgi:error\] \[pid %d:tid \d+\] \[request %s\] something odd happened$"
        % (srv.worker_pid(), request_id)
    )


def test_environ_of_an_http_1_0_keepalive_less_request(server):
    srv = server(APPS / "environ.wsgi")
    with socket.create_connection(("127.0.0.1", srv.port)) as sock:
        sock.sendall(b"GET /a HTTP/1.0\r\nHost: h\r\n\r\n")
        data = read_until_closed(sock)
    assert data.startswith(b"HTTP/1.0 200 OK\r\n")
    env = json.loads(data.split(b"\r\n\r\n", 1)[1])
    assert entry(env, "SERVER_PROTOCOL") == ("str", "HTTP/1.0")
    assert entry(env, "PATH_INFO") == ("str", "/a")
    assert entry(env, "HTTP_HOST") == ("str", "h")
    assert "HTTP_CONNECTION" not in env
