"""Behind a proxy: --trust-proxy-header and --trust-proxy (mod_wsgi-express's options), and
WSGITrustedProxyHeaders and WSGITrustedProxies in a site file, with mod_wsgi's rules
(docs/environ.md, "Behind a proxy"). The client connects from 127.0.0.1 (the trusted proxy
here) or from 127.0.0.2 (a client that is not one)."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import textwrap

import pytest

from support import APPS, BINARY, VENV, Server, free_port, port_is_listening, read_response

ENVIRON_APP = APPS / "environ.wsgi"
PROXY = "127.0.0.1"
STRANGER = "127.0.0.2"


def request(port, path="/", headers=(), source=PROXY):
    """A GET from `source` with `headers`; returns (status line, body, the client's port)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10,
                                  source_address=(source, 0)) as sock:
        client_port = sock.getsockname()[1]
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in headers]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        status, _, body, _ = read_response(sock)
    return status, body, client_port


def environ(port, path="/", headers=(), source=PROXY):
    """What the application saw: {key: value}, and the client's port."""
    status, body, client_port = request(port, path, headers, source)
    assert status.endswith(" 200 OK"), (status, body)
    seen = {key: entry["value"] for key, entry in json.loads(body).items()
            if not key.startswith("_")}
    return seen, client_port


def proxy_keys(seen):
    """The keys a proxy's headers may change, and the proxy headers left."""
    keys = ["REMOTE_ADDR", "HTTP_HOST", "SERVER_NAME", "SERVER_PORT", "SCRIPT_NAME", "PATH_INFO",
            "wsgi.url_scheme", "HTTPS", "REQUEST_SCHEME", "mod_wsgi.mount_point"]
    headers = [key for key in seen
               if key.startswith(("HTTP_X_", "HTTP_FORWARDED"))]
    return {key: seen[key] for key in keys + headers if key in seen}


def start(server, *options, mount="/"):
    return server("--mount-point", mount, *options, ENVIRON_APP)


# --- the command line -------------------------------------------------------------------------


def test_a_trusted_proxy_names_the_client(server):
    srv = start(server, "--trust-proxy", PROXY, "--trust-proxy-header", "X-Forwarded-For")
    seen, client_port = environ(srv.port, headers=[("X-Forwarded-For", "203.0.113.7")])
    assert proxy_keys(seen) == {
        "REMOTE_ADDR": "203.0.113.7",
        "HTTP_HOST": f"127.0.0.1:{srv.port}",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": str(srv.port),
        "SCRIPT_NAME": "",
        "PATH_INFO": "/",
        "wsgi.url_scheme": "http",
        "REQUEST_SCHEME": "http",
        "HTTP_X_FORWARDED_FOR": "203.0.113.7",
    }
    # The port is the proxy's: no header says the client's, as with mod_wsgi.
    assert seen["REMOTE_PORT"] == str(client_port)


def test_an_untrusted_peers_headers_are_removed_and_it_is_the_client(server):
    srv = start(server, "--trust-proxy", PROXY, "--trust-proxy-header", "X-Forwarded-For")
    seen, _ = environ(srv.port, source=STRANGER, headers=[
        ("X-Forwarded-For", "203.0.113.7"),
        ("X-Real-IP", "203.0.113.8"),
        ("X-Forwarded-Proto", "https"),
    ])
    assert seen["REMOTE_ADDR"] == STRANGER
    # Neither the trusted header nor another of its purpose reaches the application; a
    # header of a purpose nobody trusts is the client's own, as any other.
    assert proxy_keys(seen)["HTTP_X_FORWARDED_PROTO"] == "https"
    assert "HTTP_X_FORWARDED_FOR" not in seen
    assert "HTTP_X_REAL_IP" not in seen
    assert seen["wsgi.url_scheme"] == "http"


def test_x_forwarded_for_is_read_from_the_right_skipping_trusted_proxies(server):
    srv = start(server, "--trust-proxy", PROXY, "--trust-proxy", "10.0.0.0/8",
                "--trust-proxy-header", "X-Forwarded-For")
    # The client wrote 198.51.100.66 itself; 203.0.113.7 is who connected to the first proxy.
    seen, _ = environ(srv.port, headers=[
        ("X-Forwarded-For", "198.51.100.66, 203.0.113.7, 10.1.2.3"),
    ])
    assert seen["REMOTE_ADDR"] == "203.0.113.7"
    assert seen["HTTP_X_FORWARDED_FOR"] == "203.0.113.7, 10.1.2.3"
    # Several lines are one list; when the last address is not a proxy, it is the client.
    seen, _ = environ(srv.port, headers=[
        ("X-Forwarded-For", "10.0.0.9"), ("X-Forwarded-For", "198.51.100.66, 203.0.113.9"),
    ])
    assert (seen["REMOTE_ADDR"], seen["HTTP_X_FORWARDED_FOR"]) == ("203.0.113.9", "203.0.113.9")


def test_without_trusted_proxies_every_peer_is_believed_and_the_first_address_counts(server):
    srv = start(server, "--trust-proxy-header", "X-Forwarded-For")
    seen, _ = environ(srv.port, source=STRANGER,
                      headers=[("X-Forwarded-For", "203.0.113.7, 10.1.2.3")])
    assert seen["REMOTE_ADDR"] == "203.0.113.7"
    assert seen["HTTP_X_FORWARDED_FOR"] == "203.0.113.7, 10.1.2.3"


def test_the_scheme_host_and_port_of_the_clients_request(server):
    srv = start(server, "--trust-proxy", PROXY,
                "--trust-proxy-header", "X-Forwarded-Proto",
                "--trust-proxy-header", "X-Forwarded-Host",
                "--trust-proxy-header", "X-Forwarded-Port")
    headers = [("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "www.example.org"),
               ("X-Forwarded-Port", "443"), ("X-Forwarded-SSL", "off"), ("X-Host", "evil.example")]
    seen, _ = environ(srv.port, headers=headers)
    assert proxy_keys(seen) == {
        "REMOTE_ADDR": PROXY,
        "HTTP_HOST": "www.example.org",
        # As with mod_wsgi, X-Forwarded-Host is HTTP_HOST only: SERVER_NAME is the Host's.
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "443",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/",
        "wsgi.url_scheme": "https",
        "HTTPS": "on",
        # mod_wsgi leaves REQUEST_SCHEME the connection's.
        "REQUEST_SCHEME": "http",
        "HTTP_X_FORWARDED_PROTO": "https",
        "HTTP_X_FORWARDED_HOST": "www.example.org",
        "HTTP_X_FORWARDED_PORT": "443",
    }
    # From a client that is not the proxy: the connection's values, and none of the headers.
    seen, _ = environ(srv.port, headers=headers, source=STRANGER)
    assert proxy_keys(seen) == {
        "REMOTE_ADDR": STRANGER,
        "HTTP_HOST": f"127.0.0.1:{srv.port}",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": str(srv.port),
        "SCRIPT_NAME": "",
        "PATH_INFO": "/",
        "wsgi.url_scheme": "http",
        "REQUEST_SCHEME": "http",
    }


def test_x_script_name_is_the_script_name(server):
    srv = start(server, "--trust-proxy", PROXY, "--trust-proxy-header", "X-Script-Name",
                "--trust-proxy-header", "X-Forwarded-Server", mount="/app")
    seen, _ = environ(srv.port, "/app/x", headers=[
        ("X-Script-Name", "/prefix"), ("X-Forwarded-Script-Name", "/other"),
        ("X-Forwarded-Server", "proxy.example.org"),
    ])
    assert proxy_keys(seen) == {
        "REMOTE_ADDR": PROXY,
        "HTTP_HOST": f"127.0.0.1:{srv.port}",
        "SERVER_NAME": "proxy.example.org",
        "SERVER_PORT": str(srv.port),
        # mod_wsgi's rule: the header replaces the mount point, PATH_INFO stays.
        "SCRIPT_NAME": "/prefix",
        "PATH_INFO": "/x",
        "mod_wsgi.mount_point": "/prefix",
        "wsgi.url_scheme": "http",
        "REQUEST_SCHEME": "http",
        "HTTP_X_SCRIPT_NAME": "/prefix",
        "HTTP_X_FORWARDED_SERVER": "proxy.example.org",
    }


def test_forwarded_is_read_like_x_forwarded_for(server):
    srv = start(server, "--trust-proxy", PROXY, "--trust-proxy", "10.0.0.0/8",
                "--trust-proxy-header", "Forwarded")
    forwarded = ('for=198.51.100.66;proto=http, for="[2001:db8::7]:4711";proto=https;'
                 'host="www.example.org", for=10.1.2.3;proto=http;host=inner')
    seen, _ = environ(srv.port, headers=[
        ("Forwarded", forwarded), ("X-Forwarded-For", "198.51.100.66"),
        ("X-Forwarded-Proto", "http"),
    ])
    assert proxy_keys(seen) == {
        "REMOTE_ADDR": "2001:db8::7",
        "HTTP_HOST": "www.example.org",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": str(srv.port),
        "SCRIPT_NAME": "",
        "PATH_INFO": "/",
        "wsgi.url_scheme": "https",
        "HTTPS": "on",
        "REQUEST_SCHEME": "http",
        "HTTP_FORWARDED": forwarded,
    }


def test_the_access_log_shows_the_client_and_c_the_peer(server):
    srv = start(server, "--trust-proxy", PROXY, "--trust-proxy-header", "X-Forwarded-For",
                "--access-log", "--access-log-format", "%h %a %{c}a %{X-Forwarded-For}i %U")
    environ(srv.port, "/one", headers=[("X-Forwarded-For", "198.51.100.66, 203.0.113.7")])
    environ(srv.port, "/two", headers=[("X-Forwarded-For", "203.0.113.7")], source=STRANGER)
    environ(srv.port, "/three")
    srv.wait_for_log(r"^127\.0\.0\.1 .* /three$", source=lambda: srv.stdout)
    lines = [line for line in srv.stdout.splitlines() if line.endswith(("/one", "/two", "/three"))]
    assert lines == [
        # The log shows the header as the client sent it.
        "203.0.113.7 203.0.113.7 127.0.0.1 198.51.100.66, 203.0.113.7 /one",
        "127.0.0.2 127.0.0.2 127.0.0.2 203.0.113.7 /two",
        "127.0.0.1 127.0.0.1 127.0.0.1 - /three",
    ]


def test_without_a_trusted_header_a_proxy_changes_nothing(server):
    srv = start(server, "--trust-proxy", PROXY, "--trust-proxy-header", "X-Url-Scheme")
    seen, _ = environ(srv.port, headers=[("X-Forwarded-For", "203.0.113.7"),
                                         ("X-Url-Scheme", "https")])
    assert (seen["REMOTE_ADDR"], seen["wsgi.url_scheme"]) == (PROXY, "http")
    assert (seen["HTTP_X_FORWARDED_FOR"], seen["HTTP_X_URL_SCHEME"]) == ("203.0.113.7", "https")


def test_an_include_file_adds_to_the_options(server, tmp_path):
    """mod_wsgi-express includes the file after its own WSGITrustedProxyHeaders line."""
    extra = tmp_path / "extra.conf"
    extra.write_text(f"WSGITrustedProxyHeaders X-Forwarded-Proto\nWSGITrustedProxies {PROXY}\n")
    srv = start(server, "--trust-proxy-header", "X-Forwarded-For", "--include-file", extra)
    headers = [("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Proto", "https")]
    seen, _ = environ(srv.port, headers=headers)
    assert (seen["REMOTE_ADDR"], seen["wsgi.url_scheme"]) == ("203.0.113.7", "https")
    seen, _ = environ(srv.port, headers=headers, source=STRANGER)
    assert (seen["REMOTE_ADDR"], seen["wsgi.url_scheme"]) == (STRANGER, "http")
    assert "HTTP_X_FORWARDED_FOR" not in seen and "HTTP_X_FORWARDED_PROTO" not in seen


@pytest.mark.parametrize("option,value,reason", [
    ("--trust-proxy", "proxy.example.org",
     "is not an IP address or subnet (such as 10.0.0.5, 10.0.0.0/8 or 2001:db8::/32)"),
    ("--trust-proxy", "10.0.0.0/33",
     "is not an IP address or subnet (such as 10.0.0.5, 10.0.0.0/8 or 2001:db8::/32)"),
    ("--trust-proxy-header", "X_Forwarded_For",
     "is not a header name: only letters, digits and '-'"),
])
def test_a_value_mod_wsgi_cannot_read_stops_the_start(tmp_path, option, value, reason):
    port = free_port()
    srv = Server([option, value, ENVIRON_APP], tmp_path, port=port, wait=False)
    assert srv.wait_exit(timeout=60) == 2
    assert srv.stderr == f"oxwsgi: {option} {value}: {reason}\n"
    assert not port_is_listening(port)


# --- site files ---------------------------------------------------------------------------------


@pytest.fixture
def site_dir():
    """A directory the workers' user can read, removed afterwards."""
    path = tempfile.mkdtemp(prefix="oxwsgi-proxy-site-")
    os.chmod(path, 0o755)
    try:
        yield __import__("pathlib").Path(path)
    finally:
        shutil.rmtree(path, ignore_errors=True)


def write_site(site_dir, text):
    conf = site_dir / "site.conf"
    conf.write_text(textwrap.dedent(text).lstrip())
    return conf


def user_line():
    # Started as root, the workers need httpd's User (they never run as root).
    return "User oxwsgi-test" if os.getuid() == 0 else ""


@pytest.mark.parametrize("groups", ["one", "two"])
def test_site_directives_with_mod_wsgis_merge_and_the_front_tiers_hop(site_dir, groups):
    """The main server's lists, replaced in the virtual host by its own (several lines add
    up there); with two groups behind the address, /b is served across the front tier's hop.
    Access rules keep the connection's address."""
    shutil.copy(ENVIRON_APP, site_dir / "environ.wsgi")
    port = free_port()
    second = "b" if groups == "two" else "a"
    conf = write_site(site_dir, f"""
        Listen 127.0.0.1:{port}
        {user_line()}
        WSGIDaemonProcess a threads=2 python-home={VENV}
        WSGIDaemonProcess b threads=2 python-home={VENV}
        WSGIApplicationGroup %{{GLOBAL}}
        WSGITrustedProxies {PROXY} 10.0.0.0/8
        WSGITrustedProxyHeaders X-Forwarded-For X-Forwarded-Proto
        <VirtualHost 127.0.0.1:{port}>
            ServerName localhost
            WSGITrustedProxyHeaders X-Real-IP
            WSGITrustedProxyHeaders X-Forwarded-Proto X-Script-Name
            WSGIScriptAlias /b {site_dir}/environ.wsgi process-group={second}
            WSGIScriptAlias / {site_dir}/environ.wsgi process-group=a
            <Location />
                Require ip {PROXY}
            </Location>
        </VirtualHost>
        """)
    checked = subprocess.run([str(BINARY), "check-config", str(conf)], capture_output=True,
                             text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
    assert (f"  127.0.0.1:{port} -> the front tier" in checked.stdout) == (groups == "two")
    assert ("    trusted proxy headers X-Real-IP, X-Forwarded-Proto, X-Script-Name from "
            "127.0.0.1/32, 10.0.0.0/8") in checked.stdout.splitlines()
    srv = Server(["--config", conf], site_dir, apache=True)
    try:
        headers = [("X-Real-IP", "203.0.113.7"), ("X-Forwarded-For", "198.51.100.66"),
                   ("X-Forwarded-Proto", "https"), ("X-Script-Name", "/prefix")]
        for path, script_name, path_info in [("/x", "/prefix", "/x"),
                                             ("/b/y", "/prefix", "/y")]:
            seen, _ = environ(port, path, headers=headers)
            assert proxy_keys(seen) == {
                # Require ip 127.0.0.1 let it in: the rule is the connection's.
                "REMOTE_ADDR": "203.0.113.7",
                "HTTP_HOST": f"127.0.0.1:{port}",
                "SERVER_NAME": "127.0.0.1",
                "SERVER_PORT": str(port),
                "SCRIPT_NAME": script_name,
                "PATH_INFO": path_info,
                "mod_wsgi.mount_point": "/prefix",
                "wsgi.url_scheme": "https",
                "HTTPS": "on",
                "REQUEST_SCHEME": "http",
                "HTTP_X_REAL_IP": "203.0.113.7",
                "HTTP_X_FORWARDED_PROTO": "https",
                "HTTP_X_SCRIPT_NAME": "/prefix",
            }, path
        # The virtual host kept the main server's proxies: 127.0.0.2 is not one, and the
        # access rule refuses it whatever its headers say.
        status, _, _ = request(port, "/x", headers=[("X-Real-IP", PROXY)], source=STRANGER)
        assert status == "HTTP/1.1 403 Forbidden"
    finally:
        srv.stop()


@pytest.mark.parametrize("line,message", [
    ("WSGITrustedProxies 10.0.0.1 proxy.example",
     'Unable to parse trusted proxy IP address/subnet of "proxy.example".'),
    ("WSGITrustedProxyHeaders X-Forwarded-For X_Real_IP",
     "WSGITrustedProxyHeaders 'X_Real_IP' is not a header name: only letters, digits and '-'"),
])
def test_site_values_mod_wsgi_cannot_read_are_errors(tmp_path, line, message):
    app = tmp_path / "app.wsgi"
    app.write_text("application = None\n")
    conf = write_site(tmp_path, f"""
        Listen 127.0.0.1:{free_port()}
        WSGIScriptAlias / {app}
        {line}
        """)
    result = subprocess.run([str(BINARY), "check-config", str(conf)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert f"{conf}:3: error: {message}" in result.stderr.splitlines()


def test_inside_a_section_is_not_yet(tmp_path):
    app = tmp_path / "app.wsgi"
    app.write_text("application = None\n")
    conf = write_site(tmp_path, f"""
        Listen 127.0.0.1:{free_port()}
        WSGIScriptAlias / {app}
        <Location /api>
            WSGITrustedProxyHeaders X-Forwarded-For
        </Location>
        {user_line()}
        """)
    result = subprocess.run([str(BINARY), "start-server", "--log-to-terminal", "--config",
                             str(conf)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert (f"{conf}:4: error: WSGITrustedProxyHeaders inside <Location> is not supported yet "
            "by start-server (check-config accepts it; see docs/apache.md for what runs)"
            ) in result.stderr.splitlines()
