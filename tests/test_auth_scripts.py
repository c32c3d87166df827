"""mod_wsgi's Python authentication hooks (docs: "Access Control Mechanisms"), from the command
line (mod_wsgi-express's `--auth-user-script`, `--auth-group-script`/`--auth-group`,
`--host-access-script`, `--server-name`/`--server-alias`/`--allow-localhost`) and from Apache
site files (`AuthBasicProvider wsgi`, `WSGIAuthUserScript`, `WSGIAuthGroupScript`,
`Require wsgi-group`, `WSGIAccessScript`):

- `check_password(environ, user, password)`: True lets the user in, False (wrong password) and
  None (unknown user) give httpd's 401 with `WWW-Authenticate: Basic realm="<AuthName>"`, a
  string lets the user in as that name (REMOTE_USER); a raise, or a value of another kind,
  is a 500 with the traceback in the error log (mod_auth_basic's AUTH_GENERAL_ERROR).
- `groups_for_user(environ, user)`: the groups `Require wsgi-group` looks in; a user in none
  of them is refused as any authenticated user the rules refuse (401); a raise refuses too.
- `allow_access(environ, host)`: False (or a raise, or a non-boolean) is a 403 before any
  credentials are asked for; True and None leave the decision to the other rules (httpd's
  default `Satisfy All`: the access checker runs first, then authentication and `Require`).

The functions get the request's CGI environ without its body (and, as mod_wsgi's
`Auth_environ`, without the `Authorization` header), and run in the Python of the process group
that serves the request. A request they refuse never reaches the application: the test
application records every call, and each request has a path of its own.

Each script records every call it gets (one JSON line: the function, its arguments, what it
saw of the environ, its pid and uid) into a state directory the test reads.
"""

import base64
import json
import os
import pathlib
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import textwrap

import pytest

from support import VENV, Server, free_port

ROOT = os.getuid() == 0
# As root, the Apache sites run as these users (scripts/test creates them), as test_auth.py
# and test_process_groups.py do.
USER_A = "oxwsgi-test" if ROOT else None
USER_B = "oxwsgi-test2" if ROOT else None

# httpd's words for a 401 (`get_canned_error_string`), lines and all.
UNAUTHORIZED = (
    "<p>This server could not verify that you\n"
    "are authorized to access the document\n"
    "requested.  Either you supplied the wrong\n"
    "credentials (e.g., bad password), or your\n"
    "browser doesn't understand how to supply\n"
    "the credentials required.</p>"
)
FORBIDDEN = "<p>You don't have permission to access this resource.</p>"
INTERNAL = ("The server encountered an internal error and could not complete the request. "
            "The error has been logged.")

# The application: records every call (its REQUEST_URI) and shows what the server told it.
APP = """
import os
CALLS = os.path.join(STATE, "calls.log")

def application(environ, start_response):
    with open(CALLS, "a") as calls:
        calls.write(environ["REQUEST_URI"] + "\\n")
    body = environ["wsgi.input"].read()
    lines = [
        "REMOTE_USER=%s" % environ.get("REMOTE_USER"),
        "AUTH_TYPE=%s" % environ.get("AUTH_TYPE"),
        "pid=%d" % os.getpid(),
        "uid=%d" % os.getuid(),
        "process_group=%s" % environ.get("mod_wsgi.process_group"),
        "SCRIPT_NAME=%s" % environ["SCRIPT_NAME"],
        "PATH_INFO=%s" % environ["PATH_INFO"],
        "body=%d" % len(body),
    ]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("\\n".join(lines) + "\\n").encode()]
"""

# What every script starts with: `record` appends one JSON line per call to its calls file.
RECORD = """
import json, os

KEYS = ("REQUEST_URI", "REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING",
        "HTTP_HOST", "HTTP_X_PROBE", "CONTENT_LENGTH", "REMOTE_ADDR", "AUTH_TYPE",
        "mod_wsgi.process_group")

def record(function, environ, **arguments):
    stream = environ.get("wsgi.input")
    seen = {key: environ.get(key) for key in KEYS}
    seen.update(arguments)
    seen.update(
        function=function,
        script=SCRIPT,
        pid=os.getpid(),
        uid=os.getuid(),
        authorization="HTTP_AUTHORIZATION" in environ,
        errors_writable=callable(getattr(environ.get("wsgi.errors"), "write", None)),
        # mod_wsgi gives the hooks no body: no wsgi.input, or one that reads nothing.
        input=None if stream is None else stream.read().decode("latin-1"),
    )
    if environ.get("HTTP_X_PROBE"):
        environ["wsgi.errors"].write("%s saw probe %s\\n" % (function, environ["HTTP_X_PROBE"]))
    with open(os.path.join(STATE, "script-calls.jsonl"), "a") as calls:
        calls.write(json.dumps(seen) + "\\n")
"""

USERS = {"alice": "a-secret", "bob": "b-secret", "carol": "c-secret", "groupboom": "g-secret"}

AUTH_USER = """
def check_password(environ, user, password):
    record("check_password", environ, user=user, password=password)
    if user == "boom":
        raise RuntimeError("check_password-boom-marker")
    if user == "weird":
        return 42
    if user == "empty":
        return ""
    if user == "renamed":
        return "Renamed-User" if password == "r-secret" else False
    if user == "zo\\u00c3\\u00ab":
        # "zoë" sent in UTF-8, read as Latin-1 (as mod_wsgi decodes the credentials).
        return password == "p\\u00e4ss"
    if user not in USERS:
        return None
    return USERS[user] == password
"""

AUTH_GROUP = """
GROUPS = {
    "alice": ["admins", "wsgi"],
    "bob": ["staff"],
    "carol": ["wsgi"],
    "Renamed-User": ["admins"],
}

def groups_for_user(environ, user):
    record("groups_for_user", environ, user=user)
    if user == "groupboom":
        raise RuntimeError("groups_for_user-boom-marker")
    return GROUPS.get(user, [])
"""

# Decides by the last segment of the path: deny*, allow*, boom*, weird*; anything else: None.
ACCESS = """
def allow_access(environ, host):
    record("allow_access", environ, host=host)
    name = environ["REQUEST_URI"].split("?")[0].rsplit("/", 1)[-1]
    if name.startswith("deny"):
        return False
    if name.startswith("allow"):
        return True
    if name.startswith("boom"):
        raise RuntimeError("allow_access-boom-marker")
    if name.startswith("weird"):
        return "yes"
    return None
"""


def user_option(user):
    return f"user={user}" if user else ""


def uid_of(user):
    return pwd.getpwnam(user).pw_uid if user else os.getuid()


class Site:
    """A world-readable directory with the application, the scripts and a state directory
    every user may write in (the groups' users run the scripts)."""

    def __init__(self, prefix):
        self.path = pathlib.Path(tempfile.mkdtemp(prefix=f"oxwsgi-{prefix}-"))
        os.chmod(self.path, 0o755)
        self.state = self.path / "state"
        self.state.mkdir()
        os.chmod(self.state, 0o777)
        for name in ("calls.log", "script-calls.jsonl"):
            (self.state / name).write_text("")
            os.chmod(self.state / name, 0o666)
        self.app = self.write("app.wsgi", APP)

    def write(self, name, code):
        path = self.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        prelude = f"STATE = {str(self.state)!r}\nSCRIPT = {str(path)!r}\n"
        path.write_text(prelude + code)
        os.chmod(path, 0o644)
        return path

    def script(self, name, *parts, users=None):
        users = USERS if users is None else users
        return self.write(name, RECORD + f"USERS = {users!r}\n" + "".join(parts))

    def called(self):
        """The REQUEST_URIs the application was called for."""
        return (self.state / "calls.log").read_text().splitlines()

    def script_calls(self, function=None, uri=None):
        """The scripts' calls (dicts), those of `function` for `uri` if given."""
        lines = (self.state / "script-calls.jsonl").read_text().splitlines()
        calls = [json.loads(line) for line in lines]
        return [c for c in calls
                if (function is None or c["function"] == function)
                and (uri is None or c["REQUEST_URI"] == uri)]

    def remove(self):
        shutil.rmtree(self.path, ignore_errors=True)


@pytest.fixture
def site():
    made = Site("auth-scripts")
    try:
        yield made
    finally:
        made.remove()


def fetch(port, path, user=None, password=None, host=None, method="GET", body=b"",
          headers=None, source=None, address="127.0.0.1", credentials=None):
    """One request on a new connection (from `source`, an address of 127/8, if given):
    its status, its headers (lower-case names) and its body. `credentials`: the raw bytes
    of `user:password`, instead of those in UTF-8."""
    lines = [f"Host: {host or f'127.0.0.1:{port}'}", "Connection: close"]
    if user is not None:
        credentials = f"{user}:{password}".encode()
    if credentials is not None:
        token = base64.b64encode(credentials).decode()
        lines.append(f"Authorization: Basic {token}")
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{line}\r\n" for line in lines) + "\r\n"
    source_address = (source, 0) if source else None
    with socket.create_connection((address, port), source_address=source_address,
                                  timeout=30) as sock:
        sock.sendall(head.encode() + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, text = data.decode("latin-1").partition("\r\n\r\n")
    status_line, *fields = head.split("\r\n")
    headers = {}
    for line in fields:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, text


def fields(text):
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def assert_ok(response, user):
    status, _, text = response
    assert status == 200, response
    seen = fields(text)
    assert (seen["REMOTE_USER"], seen["AUTH_TYPE"]) == (user, "Basic"), text
    return seen


def assert_unauthorized(response, realm):
    status, headers, text = response
    assert status == 401, response
    assert headers["www-authenticate"] == f'Basic realm="{realm}"', headers
    assert UNAUTHORIZED in text, text


def assert_forbidden(response):
    status, headers, text = response
    assert status == 403, response
    assert FORBIDDEN in text, text
    assert "www-authenticate" not in headers, headers


def assert_internal_error(response):
    status, headers, text = response
    assert status == 500, response
    assert INTERNAL in text, text
    # mod_auth_basic asks again only on a 401.
    assert "www-authenticate" not in headers, headers
    assert "Traceback" not in text and "boom-marker" not in text


def traceback_pattern(script, function, marker):
    """The traceback's frame in the script and its last line, in the error log."""
    return (rf'File "{re.escape(str(script))}", line \d+, in {function}\n'
            rf'(?:.*\n)*?.*RuntimeError: {marker}')


def user_directive():
    return f"User {USER_A}" if USER_A else ""


def non_loopback_address():
    """An IPv4 address of this machine outside 127/8, if it has one."""
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for address in out.split():
        if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", address) and not address.startswith("127."):
            return address
    return None


# --- the command line: --auth-user-script and --host-access-script ------------------------


@pytest.fixture(scope="module")
def guarded():
    """`--auth-user-script` and `--host-access-script` on the whole site, with a document
    root; `--host 127.0.0.1`, so the realm is `127.0.0.1:PORT`."""
    made = Site("auth-scripts-cli")
    docroot = made.path / "htdocs"
    docroot.mkdir()
    (docroot / "robots.txt").write_text("User-agent: *\n")
    (docroot / "deny-static.txt").write_text("never served\n")
    auth = made.script("auth.wsgi", AUTH_USER)
    access = made.script("access.wsgi", ACCESS)
    port = free_port()
    srv = Server(["--host", "127.0.0.1", "--auth-user-script", auth,
                  "--host-access-script", access, "--document-root", docroot, made.app],
                 made.path, port=port)
    srv.site, srv.auth, srv.access = made, auth, access
    srv.realm = f"127.0.0.1:{port}"
    try:
        yield srv
    finally:
        srv.stop()
        made.remove()


def test_cli_right_password_reaches_the_application_as_the_user(guarded):
    seen = assert_ok(fetch(guarded.port, "/cli/right", "alice", "a-secret"), "alice")
    assert seen["PATH_INFO"] == "/cli/right"
    (call,) = guarded.site.script_calls("check_password", "/cli/right")
    assert (call["user"], call["password"]) == ("alice", "a-secret")
    assert "/cli/right" in guarded.site.called()


CLI_REFUSED = [
    ("wrong-password", dict(user="alice", password="a-secreT"), True),
    ("unknown-user", dict(user="mallory", password="a-secret"), True),
    ("renamed-wrong-password", dict(user="renamed", password="nope"), True),
    # Without credentials, no provider is asked (mod_auth_basic).
    ("no-credentials", dict(), False),
]


@pytest.mark.parametrize("case,credentials,asked", CLI_REFUSED, ids=[c[0] for c in CLI_REFUSED])
def test_cli_refused_credentials_get_a_401_with_the_realm_and_no_application(
        guarded, case, credentials, asked):
    path = f"/cli/refused/{case}"
    assert_unauthorized(fetch(guarded.port, path, **credentials), guarded.realm)
    assert path not in guarded.site.called()
    assert len(guarded.site.script_calls("check_password", path)) == (1 if asked else 0)


def test_cli_a_returned_string_becomes_remote_user(guarded):
    seen = assert_ok(fetch(guarded.port, "/cli/renamed", "renamed", "r-secret"), "Renamed-User")
    assert seen["PATH_INFO"] == "/cli/renamed"
    (call,) = guarded.site.script_calls("check_password", "/cli/renamed")
    assert call["user"] == "renamed"


def test_cli_the_credentials_reach_the_script_as_latin_1(guarded):
    """mod_wsgi decodes the user and password bytes as Latin-1: "zoë" in UTF-8 is "zoÃ«",
    and a Latin-1 "päss" is "päss"; REMOTE_USER is the same user."""
    path = "/cli/latin-1"
    status, _, text = fetch(guarded.port, path, credentials=b"zo\xc3\xab:p\xe4ss")
    assert status == 200, text
    # The application's body is UTF-8 (fetch reads it as Latin-1).
    seen = fields(text.encode("latin-1").decode("utf-8"))
    assert (seen["REMOTE_USER"], seen["AUTH_TYPE"]) == ("zo\u00c3\u00ab", "Basic")
    (call,) = guarded.site.script_calls("check_password", path)
    assert (call["user"], call["password"]) == ("zo\u00c3\u00ab", "p\u00e4ss")
    # The password in UTF-8 is another password.
    wrong = fetch(guarded.port, path + "-wrong", credentials=b"zo\xc3\xab:p\xc3\xa4ss")
    assert_unauthorized(wrong, guarded.realm)


@pytest.mark.parametrize("user", ["boom", "weird", "empty"])
def test_cli_a_script_that_raises_or_returns_nonsense_gives_a_500(guarded, user):
    """A raise is AUTH_GENERAL_ERROR under mod_wsgi, and so is a result other than True,
    False, None or a non-empty string: a 500, without the application, and (for the raise)
    the traceback in the error log, naming the script and the function."""
    # (Not a last segment the access script decides on.)
    path = f"/cli/failing/user-{user}"
    assert_internal_error(fetch(guarded.port, path, user, "whatever"))
    assert path not in guarded.site.called()
    assert len(guarded.site.script_calls("check_password", path)) == 1
    if user == "boom":
        guarded.wait_for_log(traceback_pattern(guarded.auth, "check_password",
                                               "check_password-boom-marker"))


def test_cli_static_files_are_protected_too(guarded):
    """Express puts the whole site, document root included, behind the script."""
    assert_unauthorized(fetch(guarded.port, "/robots.txt"), guarded.realm)
    assert_unauthorized(fetch(guarded.port, "/robots.txt", "alice", "wrong"), guarded.realm)
    status, _, text = fetch(guarded.port, "/robots.txt", "alice", "a-secret")
    assert (status, text) == (200, "User-agent: *\n")
    asked = guarded.site.script_calls("check_password", "/robots.txt")
    assert [(c["user"], c["password"]) for c in asked] == [
        ("alice", "wrong"), ("alice", "a-secret")]
    assert "/robots.txt" not in guarded.site.called()


def test_cli_the_scripts_run_in_the_applications_process(guarded):
    seen = assert_ok(fetch(guarded.port, "/cli/where", "alice", "a-secret"), "alice")
    (checked,) = guarded.site.script_calls("check_password", "/cli/where")
    (accessed,) = guarded.site.script_calls("allow_access", "/cli/where")
    assert checked["pid"] == accessed["pid"] == int(seen["pid"]) == guarded.worker_pid()
    assert checked["mod_wsgi.process_group"] == seen["process_group"]
    assert accessed["mod_wsgi.process_group"] == seen["process_group"]
    assert seen["process_group"] not in ("", "None")


def test_cli_the_scripts_environ_is_the_requests_without_body_or_credentials(guarded):
    path = "/cli/environ/a%20b?x=1&y=2"
    body = b"a body of thirty-three bytes....."
    seen = assert_ok(fetch(guarded.port, path, "alice", "a-secret", method="POST", body=body,
                           headers={"X-Probe": "probe-7f3a"}), "alice")
    # The application still gets the whole body.
    assert seen["body"] == str(len(body))
    for function in ("check_password", "allow_access"):
        (call,) = guarded.site.script_calls(function, path)
        assert call["REQUEST_URI"] == path
        assert call["REQUEST_METHOD"] == "POST"
        assert (call["SCRIPT_NAME"], call["PATH_INFO"]) == ("", "/cli/environ/a b")
        assert call["QUERY_STRING"] == "x=1&y=2"
        assert call["HTTP_HOST"] == f"127.0.0.1:{guarded.port}"
        assert call["HTTP_X_PROBE"] == "probe-7f3a"
        assert call["CONTENT_LENGTH"] == str(len(body))
        assert call["REMOTE_ADDR"] == "127.0.0.1"
        assert call["authorization"] is False, call
        assert call["errors_writable"] is True
        assert call["input"] in (None, ""), call
        # What the script wrote to wsgi.errors is in the error log.
        guarded.wait_for_log(rf"{function} saw probe probe-7f3a")


def test_cli_host_access_false_is_a_403_before_any_credentials(guarded):
    for credentials in (dict(), dict(user="alice", password="a-secret")):
        assert_forbidden(fetch(guarded.port, "/cli/deny", **credentials))
    # A static file too.
    assert_forbidden(fetch(guarded.port, "/deny-static.txt", "alice", "a-secret"))
    assert "/cli/deny" not in guarded.site.called()
    assert guarded.site.script_calls("check_password", "/cli/deny") == []
    assert guarded.site.script_calls("check_password", "/deny-static.txt") == []
    hosts = [c["host"] for c in guarded.site.script_calls("allow_access", "/cli/deny")]
    assert hosts == ["127.0.0.1", "127.0.0.1"]


@pytest.mark.parametrize("name", ["allow", "none"])
def test_cli_host_access_true_or_none_leaves_the_user_check_to_decide(guarded, name):
    """httpd's `Satisfy All` (express's default): the access checker passes, then the user
    must still authenticate."""
    path = f"/cli/{name}"
    assert_unauthorized(fetch(guarded.port, path), guarded.realm)
    assert path not in guarded.site.called()
    assert_ok(fetch(guarded.port, path, "bob", "b-secret"), "bob")
    assert guarded.site.called().count(path) == 1


@pytest.mark.parametrize("name", ["boom", "weird"])
def test_cli_host_access_that_raises_or_returns_a_non_boolean_is_a_403(guarded, name):
    """mod_wsgi counts it as not allowed (and logs the traceback of a raise)."""
    path = f"/cli/{name}"
    assert_forbidden(fetch(guarded.port, path, "alice", "a-secret"))
    assert path not in guarded.site.called()
    assert guarded.site.script_calls("check_password", path) == []
    if name == "boom":
        guarded.wait_for_log(traceback_pattern(guarded.access, "allow_access",
                                               "allow_access-boom-marker"))


def test_cli_host_access_gets_the_clients_address(guarded):
    assert_ok(fetch(guarded.port, "/cli/from-two", "alice", "a-secret", source="127.0.0.2"),
              "alice")
    (call,) = guarded.site.script_calls("allow_access", "/cli/from-two")
    assert (call["host"], call["REMOTE_ADDR"]) == ("127.0.0.2", "127.0.0.2")


# --- the command line: --auth-group-script, --auth-group ------------------------------------


GROUP_CASES = [
    # (--auth-group or None for the default `wsgi`, user, password, REMOTE_USER or None: 401)
    (None, "alice", "a-secret", "alice"),
    (None, "carol", "c-secret", "carol"),
    (None, "bob", "b-secret", None),
    (None, "nobody-known", "x", None),
    ("admins", "alice", "a-secret", "alice"),
    ("admins", "renamed", "r-secret", "Renamed-User"),
    ("admins", "carol", "c-secret", None),
    ("admins", "bob", "b-secret", None),
]


@pytest.mark.parametrize("group", [None, "admins"], ids=["default-wsgi", "admins"])
def test_cli_auth_group_script_requires_the_group(site, group):
    auth = site.script("auth.wsgi", AUTH_USER)
    groups = site.script("groups.wsgi", AUTH_GROUP)
    port = free_port()
    options = ["--auth-user-script", auth, "--auth-group-script", groups]
    if group:
        options += ["--auth-group", group]
    srv = Server(options + [site.app], site.path, port=port)
    # No --host: the realm names localhost, as express's AuthName '%(host)s:%(port)s'.
    realm = f"localhost:{port}"
    try:
        for wanted_group, user, password, remote_user in GROUP_CASES:
            if wanted_group != group:
                continue
            path = f"/groups/{user}"
            response = fetch(port, path, user, password)
            if remote_user:
                assert_ok(response, remote_user)
                (asked,) = site.script_calls("groups_for_user", path)
                # Asked about the user check_password let in, under its returned name.
                assert asked["user"] == remote_user
                assert asked["mod_wsgi.process_group"] not in (None, "")
            else:
                assert_unauthorized(response, realm)
                assert path not in site.called()
        # A wrong password never gets as far as the groups.
        assert_unauthorized(fetch(port, "/groups/wrong", "alice", "nope"), realm)
        assert site.script_calls("groups_for_user", "/groups/wrong") == []
        # groups_for_user raising: the user is not let in (mod_wsgi: AUTHZ_DENIED), and the
        # traceback is logged.
        assert_unauthorized(fetch(port, "/groups/groupboom", "groupboom", "g-secret"), realm)
        assert "/groups/groupboom" not in site.called()
        srv.wait_for_log(traceback_pattern(groups, "groups_for_user",
                                           "groups_for_user-boom-marker"))
    finally:
        srv.stop()


def test_cli_realm_is_the_listening_host_and_port_even_with_a_server_name(site):
    """Express writes `AuthName '%(host)s:%(port)s'`, where host is --host or `localhost`
    (src/express/server.py), whatever --server-name says."""
    auth = site.script("auth.wsgi", AUTH_USER)
    port = free_port()
    srv = Server(["--server-name", "site.test", "--auth-user-script", auth, site.app],
                 site.path, port=port)
    try:
        assert_unauthorized(fetch(port, "/realm", host=f"site.test:{port}"),
                            f"localhost:{port}")
    finally:
        srv.stop()


# --- the command line: --server-name, --server-alias, --allow-localhost --------------------


def test_server_name_and_aliases_are_served_and_other_hosts_refused(site):
    port = free_port()
    srv = Server(["--server-name", "www.example.test", "--server-alias", "*.alias.test",
                  "--server-alias", "other.test", site.app], site.path, port=port)
    try:
        for host in (f"www.example.test:{port}", "WWW.Example.TEST", "one.alias.test",
                     f"two.deep.alias.test:{port}", "other.test"):
            status, _, text = fetch(port, f"/named/{host}", host=host)
            assert status == 200, (host, text)
        for host in (f"127.0.0.1:{port}", "localhost", "nope.test", "alias.test",
                     "other.test.evil", "example.test.other"):
            assert_forbidden(fetch(port, f"/refused/{host}", host=host))
            assert f"/refused/{host}" not in site.called()
    finally:
        srv.stop()


def test_a_www_server_name_redirects_its_parent_domain(site):
    """Express's MOD_WSGI_REDIRECT_WWW: a virtual host for the parent domain with
    `Redirect permanent / http://www.NAME:PORT/` (mod_alias keeps the path and the query)."""
    port = free_port()
    srv = Server(["--server-name", "www.example.test", site.app], site.path, port=port)
    try:
        status, headers, text = fetch(port, "/a/b?c=d", host=f"example.test:{port}")
        assert status == 301, (status, headers, text)
        assert headers["location"] == f"http://www.example.test:{port}/a/b?c=d"
        assert "/a/b?c=d" not in site.called()
        status, headers, _ = fetch(port, "/", host="example.test")
        assert (status, headers["location"]) == (301, f"http://www.example.test:{port}/")
        status, _, text = fetch(port, "/a/b?c=d", host=f"www.example.test:{port}")
        assert status == 200 and fields(text)["PATH_INFO"] == "/a/b"
    finally:
        srv.stop()


def test_allow_localhost_lets_local_clients_in_by_any_host(site):
    """Express's `_default_` virtual host with `Require host localhost`: a client on
    127.0.0.0/8 gets through whatever its Host; another client by a wrong Host does not."""
    port = free_port()
    srv = Server(["--server-name", "site.test", "--allow-localhost", site.app], site.path,
                 port=port)
    try:
        for source in (None, "127.0.0.2"):
            status, _, text = fetch(port, f"/local/{source}", host="nope.test", source=source)
            assert status == 200, text
        status, _, _ = fetch(port, "/local/ip", host=f"127.0.0.1:{port}")
        assert status == 200
        assert "/local/None" in site.called() and "/local/127.0.0.2" in site.called()
        address = non_loopback_address()
        assert address, ("this machine has no IPv4 address outside 127/8 (hostname -I) to "
                         "connect from as a non-local client")
        assert_forbidden(fetch(port, "/remote/nope", host="nope.test", address=address))
        assert "/remote/nope" not in site.called()
        status, _, _ = fetch(port, "/remote/named", host="site.test", address=address)
        assert status == 200
    finally:
        srv.stop()


def test_without_allow_localhost_a_wrong_host_is_refused_even_with_credentials(site):
    """The `_default_` virtual host's `Require all denied` replaces the site's rules: a 403
    before any credentials are asked for, and the parent domain's redirect is answered before
    authentication (mod_alias works at translation)."""
    auth = site.script("auth.wsgi", AUTH_USER)
    port = free_port()
    srv = Server(["--server-name", "www.site.test", "--auth-user-script", auth, site.app],
                 site.path, port=port)
    realm = f"localhost:{port}"
    try:
        for credentials in (dict(), dict(user="alice", password="a-secret")):
            assert_forbidden(fetch(port, "/wrong-host", host="nope.test", **credentials))
        assert "/wrong-host" not in site.called()
        assert site.script_calls("check_password", "/wrong-host") == []
        status, headers, _ = fetch(port, "/to-www", host="site.test")
        assert (status, headers["location"]) == (301, f"http://www.site.test:{port}/to-www")
        assert site.script_calls("check_password", "/to-www") == []
        assert_unauthorized(fetch(port, "/named", host="www.site.test"), realm)
        assert_ok(fetch(port, "/named", "alice", "a-secret", host="www.site.test"), "alice")
    finally:
        srv.stop()


# --- Apache site files -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def scripted():
    """One group behind the site's scripts: `AuthBasicProvider wsgi` on `/`, groups at
    /admins and /staff, host access at /private and /lan, `file wsgi` at /both."""
    made = Site("auth-scripts-apache")
    (made.path / "static").mkdir()
    (made.path / "static" / "a.txt").write_text("a static file\n")
    auth = made.script("auth.wsgi", AUTH_USER)
    groups = made.script("groups.wsgi", AUTH_GROUP)
    access = made.script("access.wsgi", ACCESS)
    tool = shutil.which("htpasswd")
    assert tool, "htpasswd is missing: run scripts/test, which installs apache2-utils"
    subprocess.run([tool, "-b", "-c", "-B", str(made.path / "users"), "bob", "file-secret"],
                   check=True, capture_output=True)
    os.chmod(made.path / "users", 0o644)
    port = free_port()
    conf = made.path / "site.conf"
    conf.write_text(textwrap.dedent(f"""\
        Listen 127.0.0.1:{port}
        {user_directive()}
        WSGIDaemonProcess scripted threads=4 python-home={VENV}
        WSGIScriptAlias / {made.app} process-group=scripted application-group=%{{GLOBAL}}
        Alias /static {made.path}/static
        <Directory {made.path}>
            Require all granted
        </Directory>
        <Location />
            AuthType Basic
            AuthName "Scripted"
            AuthBasicProvider wsgi
            WSGIAuthUserScript {auth} application-group=%{{GLOBAL}}
            WSGIAuthGroupScript {groups}
            Require valid-user
        </Location>
        <Location /admins>
            <RequireAll>
                Require valid-user
                Require wsgi-group admins
            </RequireAll>
        </Location>
        <Location /staff>
            Require wsgi-group staff
        </Location>
        <Location /private>
            WSGIAccessScript {access}
        </Location>
        <Location /lan>
            WSGIAccessScript {access}
            Require ip 127.0.0.2
        </Location>
        <Location /both>
            AuthBasicProvider file wsgi
            AuthUserFile {made.path}/users
        </Location>
        """))
    srv = Server(["--config", conf], made.path, apache=True)
    srv.site, srv.auth, srv.groups, srv.access = made, auth, groups, access
    srv.site_port = port
    try:
        yield srv
    finally:
        srv.stop()
        made.remove()


def test_apache_right_wrong_and_unknown_passwords(scripted):
    port, site = scripted.site_port, scripted.site
    seen = assert_ok(fetch(port, "/members/right", "alice", "a-secret"), "alice")
    assert seen["process_group"] == "scripted"
    for case, credentials in (("wrong", dict(user="alice", password="b-secret")),
                              ("unknown", dict(user="mallory", password="a-secret")),
                              ("none", dict())):
        path = f"/members/{case}"
        assert_unauthorized(fetch(port, path, **credentials), "Scripted")
        assert path not in site.called()
    assert [c["user"] for c in site.script_calls("check_password", "/members/wrong")] == [
        "alice"]
    assert site.script_calls("check_password", "/members/none") == []


def test_apache_a_returned_string_becomes_remote_user(scripted):
    assert_ok(fetch(scripted.site_port, "/members/renamed", "renamed", "r-secret"),
              "Renamed-User")


def test_apache_a_script_that_raises_gives_a_500_and_its_traceback(scripted):
    port, site = scripted.site_port, scripted.site
    assert_internal_error(fetch(port, "/members/boom", "boom", "x"))
    assert "/members/boom" not in site.called()
    scripted.wait_for_log(traceback_pattern(scripted.auth, "check_password",
                                            "check_password-boom-marker"))


def test_apache_static_files_behind_the_script(scripted):
    port, site = scripted.site_port, scripted.site
    assert_unauthorized(fetch(port, "/static/a.txt"), "Scripted")
    assert_unauthorized(fetch(port, "/static/a.txt", "bob", "wrong"), "Scripted")
    status, _, text = fetch(port, "/static/a.txt", "bob", "b-secret")
    assert (status, text) == (200, "a static file\n")
    assert [c["user"] for c in site.script_calls("check_password", "/static/a.txt")] == [
        "bob", "bob"]


def test_apache_scripts_run_in_the_groups_process_as_its_user(scripted):
    port, site = scripted.site_port, scripted.site
    path = "/members/where?q=1"
    seen = assert_ok(fetch(port, path, "alice", "a-secret", headers={"X-Probe": "apache-9b"}),
                     "alice")
    (call,) = site.script_calls("check_password", path)
    assert call["pid"] == int(seen["pid"])
    assert call["pid"] in scripted.worker_pids()
    assert call["uid"] == int(seen["uid"]) == uid_of(USER_A)
    assert call["mod_wsgi.process_group"] == "scripted"
    assert (call["SCRIPT_NAME"], call["PATH_INFO"], call["QUERY_STRING"]) == (
        "", "/members/where", "q=1")
    assert call["HTTP_X_PROBE"] == "apache-9b"
    assert call["authorization"] is False
    assert call["input"] in (None, "")
    scripted.wait_for_log(r"check_password saw probe apache-9b")


@pytest.mark.parametrize("user,password,admins,staff", [
    ("alice", "a-secret", "alice", None),
    ("bob", "b-secret", None, "bob"),
    ("carol", "c-secret", None, None),
    ("renamed", "r-secret", "Renamed-User", None),
])
def test_apache_require_wsgi_group(scripted, user, password, admins, staff):
    """A user the script puts in the group gets in; an authenticated user in none of the
    groups named gets httpd's 401 (AH01631 "authorization failure"), as with AuthGroupFile."""
    port, site = scripted.site_port, scripted.site
    for where, allowed in (("admins", admins), ("staff", staff)):
        path = f"/{where}/{user}"
        response = fetch(port, path, user, password)
        if allowed:
            assert_ok(response, allowed)
        else:
            assert_unauthorized(response, "Scripted")
            assert path not in site.called()
        (asked,) = site.script_calls("groups_for_user", path)
        # Asked about the user check_password let in, under the name it returned.
        assert asked["user"] == ("Renamed-User" if user == "renamed" else user)
        assert asked["mod_wsgi.process_group"] == "scripted"


def test_apache_require_wsgi_group_with_a_raising_script_refuses(scripted):
    port, site = scripted.site_port, scripted.site
    assert_unauthorized(fetch(port, "/admins/groupboom", "groupboom", "g-secret"), "Scripted")
    assert "/admins/groupboom" not in site.called()
    scripted.wait_for_log(traceback_pattern(scripted.groups, "groups_for_user",
                                            "groups_for_user-boom-marker"))


def test_apache_access_script_false_true_none_and_raise(scripted):
    port, site = scripted.site_port, scripted.site
    # False, a raise and a non-boolean: 403 before any credentials.
    for name in ("deny", "boom", "weird"):
        for credentials in (dict(), dict(user="alice", password="a-secret")):
            assert_forbidden(fetch(port, f"/private/{name}", **credentials))
        assert f"/private/{name}" not in site.called()
        assert site.script_calls("check_password", f"/private/{name}") == []
    scripted.wait_for_log(traceback_pattern(scripted.access, "allow_access",
                                            "allow_access-boom-marker"))
    # True and None: the Location's other rules (Require valid-user, inherited) decide.
    for name in ("allow", "none"):
        assert_unauthorized(fetch(port, f"/private/{name}"), "Scripted")
        assert_ok(fetch(port, f"/private/{name}", "bob", "b-secret"), "bob")
        assert site.called().count(f"/private/{name}") == 1
    calls = site.script_calls("allow_access", "/private/none")
    assert [(c["host"], c["mod_wsgi.process_group"]) for c in calls] == [
        ("127.0.0.1", "scripted")] * 2


def test_apache_access_script_none_and_true_leave_require_ip_to_decide(scripted):
    """httpd's `Satisfy All`: the access checker runs, then `Require` — allow_access's True
    does not override `Require ip`."""
    port, site = scripted.site_port, scripted.site
    for name in ("none", "allow"):
        assert_forbidden(fetch(port, f"/lan/{name}"))
        status, _, text = fetch(port, f"/lan/{name}-two", source="127.0.0.2")
        assert status == 200, text
        assert fields(text)["REMOTE_USER"] == "None"
    assert_forbidden(fetch(port, "/lan/deny-two", source="127.0.0.2"))
    assert "/lan/deny-two" not in site.called()
    hosts = {c["REQUEST_URI"]: c["host"] for c in site.script_calls("allow_access")
             if c["REQUEST_URI"].startswith("/lan/")}
    assert hosts == {"/lan/none": "127.0.0.1", "/lan/none-two": "127.0.0.2",
                     "/lan/allow": "127.0.0.1", "/lan/allow-two": "127.0.0.2",
                     "/lan/deny-two": "127.0.0.2"}


def test_apache_file_then_wsgi_providers(scripted):
    """`AuthBasicProvider file wsgi`: the first provider that knows the user decides
    (mod_auth_basic goes on only past AUTH_USER_NOT_FOUND). bob is in the file with
    `file-secret` and known to the script with `b-secret`; alice only to the script."""
    port, site = scripted.site_port, scripted.site
    assert_ok(fetch(port, "/both/bob-file", "bob", "file-secret"), "bob")
    assert site.script_calls("check_password", "/both/bob-file") == []
    assert_unauthorized(fetch(port, "/both/bob-script", "bob", "b-secret"), "Scripted")
    assert site.script_calls("check_password", "/both/bob-script") == []
    assert_ok(fetch(port, "/both/alice", "alice", "a-secret"), "alice")
    assert len(site.script_calls("check_password", "/both/alice")) == 1
    assert_unauthorized(fetch(port, "/both/nobody", "nobody", "x"), "Scripted")
    assert len(site.script_calls("check_password", "/both/nobody")) == 1
    assert not {"/both/bob-script", "/both/nobody"} & set(site.called())


def test_apache_front_tier_runs_each_groups_script_in_that_group(site):
    """Two groups on one address, each application under its own Location with its own
    script: the front tier (no Python) has each group's workers answer for its requests."""
    web_auth = site.script("web-auth.wsgi", AUTH_USER, users={"wes": "web-secret"})
    api_auth = site.script("api-auth.wsgi", AUTH_USER, users={"ann": "api-secret"})
    api_access = site.script("api-access.wsgi", ACCESS)
    port = free_port()
    conf = site.path / "site.conf"
    conf.write_text(textwrap.dedent(f"""\
        Listen 127.0.0.1:{port}
        {user_directive()}
        WSGIDaemonProcess web threads=2 {user_option(USER_A)} python-home={VENV}
        WSGIDaemonProcess api threads=2 {user_option(USER_B)} python-home={VENV}
        WSGIScriptAlias /api {site.app} process-group=api application-group=%{{GLOBAL}}
        WSGIScriptAlias / {site.app} process-group=web application-group=%{{GLOBAL}}
        <Directory {site.path}>
            Require all granted
        </Directory>
        <Location />
            AuthType Basic
            AuthName "Web"
            AuthBasicProvider wsgi
            WSGIAuthUserScript {web_auth}
            Require valid-user
        </Location>
        <Location /api>
            AuthType Basic
            AuthName "Api"
            AuthBasicProvider wsgi
            WSGIAuthUserScript {api_auth}
            WSGIAccessScript {api_access}
            Require valid-user
        </Location>
        """))
    srv = Server(["--config", conf], site.path, apache=True)
    try:
        web = assert_ok(fetch(port, "/page", "wes", "web-secret"), "wes")
        api = assert_ok(fetch(port, "/api/items", "ann", "api-secret"), "ann")
        assert (web["process_group"], api["process_group"]) == ("web", "api")
        assert web["pid"] != api["pid"]
        assert (api["SCRIPT_NAME"], api["PATH_INFO"]) == ("/api", "/items")
        (web_call,) = site.script_calls("check_password", "/page")
        (api_call,) = site.script_calls("check_password", "/api/items")
        (access_call,) = site.script_calls("allow_access", "/api/items")
        assert web_call["script"] == str(web_auth) and api_call["script"] == str(api_auth)
        assert (web_call["mod_wsgi.process_group"], web_call["pid"], web_call["uid"]) == (
            "web", int(web["pid"]), uid_of(USER_A))
        assert (api_call["mod_wsgi.process_group"], api_call["pid"], api_call["uid"]) == (
            "api", int(api["pid"]), uid_of(USER_B))
        assert (access_call["mod_wsgi.process_group"], access_call["pid"]) == (
            "api", int(api["pid"]))
        assert (api_call["SCRIPT_NAME"], api_call["PATH_INFO"]) == ("/api", "/items")
        assert access_call["host"] == "127.0.0.1"
        # Each Location's own script, and its own realm.
        assert_unauthorized(fetch(port, "/api/wes", "wes", "web-secret"), "Api")
        assert_unauthorized(fetch(port, "/ann", "ann", "api-secret"), "Web")
        assert_unauthorized(fetch(port, "/api/none"), "Api")
        assert_forbidden(fetch(port, "/api/deny", "ann", "api-secret"))
        assert_internal_error(fetch(port, "/api/user-boom", "boom", "x"))
        srv.wait_for_log(traceback_pattern(api_auth, "check_password",
                                           "check_password-boom-marker"))
        assert not {"/api/wes", "/ann", "/api/none", "/api/deny", "/api/user-boom"} & set(
            site.called())
        assert [c["script"] for c in site.script_calls("check_password", "/api/wes")] == [
            str(api_auth)]
        assert [c["script"] for c in site.script_calls("check_password", "/ann")] == [
            str(web_auth)]
    finally:
        srv.stop()
