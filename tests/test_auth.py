"""HTTP Basic authentication from Apache site files, as httpd's mod_auth_basic, mod_authn_file,
mod_authz_user and mod_authz_groupfile do it (docs/apache.md, "Authentication"): `AuthType
Basic`, `AuthName`, `AuthUserFile` (files written by the real `htpasswd`), `AuthGroupFile`,
`Require valid-user|user|group`, combined with the address rules as mod_authz_core combines
them, and `Satisfy` with `Order`/`Allow`/`Deny`. The check is the HTTP side's, before any
Python: a request without valid credentials never reaches the application."""

import base64
import os
import pathlib
import re
import shutil
import socket
import subprocess
import tempfile
import textwrap

import pytest

from support import BINARY, VENV, Server, free_port, user_directive, wait_until

# httpd's words for a 401 (`get_canned_error_string`), lines and all.
UNAUTHORIZED = (
    "<p>This server could not verify that you\n"
    "are authorized to access the document\n"
    "requested.  Either you supplied the wrong\n"
    "credentials (e.g., bad password), or your\n"
    "browser doesn't understand how to supply\n"
    "the credentials required.</p>"
)
REALM = 'Basic realm="Members \\"only\\""'
FORBIDDEN = "<p>You don't have permission to access this resource.</p>"

# Records every call in the file SetEnv CALLS names, and shows what the server told it.
APP = """
import os
KEYS = ("REMOTE_USER", "AUTH_TYPE", "HTTP_AUTHORIZATION", "SCRIPT_NAME", "PATH_INFO",
        "mod_wsgi.process_group")
def application(environ, start_response):
    with open(environ["CALLS"], "a") as calls:
        calls.write(environ["REQUEST_URI"] + "\\n")
    body = "".join("%s=%s\\n" % (key, environ.get(key)) for key in KEYS)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
"""

# The users, each with a password hashed by one of htpasswd's options: bcrypt (-B), APR's MD5
# (-m), SHA-1 (-s), crypt (-d, which reads 8 characters), and plain text (-p), which httpd
# on Linux never matches.
USERS = [
    ("bob", "b-secret", "-B"),
    ("amy", "a-secret", "-m"),
    ("sam", "s-secret", "-s"),
    ("dee", "d-secret", "-d"),
    ("pat", "p-secret", "-p"),
]


def htpasswd(path, user, password, option, create=False):
    """Adds `user` to the password file `path` with the real htpasswd."""
    tool = shutil.which("htpasswd")
    assert tool, "htpasswd is missing: run scripts/test, which installs apache2-utils"
    args = [tool, "-b"] + (["-c"] if create else []) + [option, str(path), user, password]
    subprocess.run(args, check=True, capture_output=True)
    os.chmod(path, 0o644)


def site_files(site):
    (site / "app").mkdir()
    (site / "app" / "app.wsgi").write_text(APP)
    (site / "passed").mkdir()
    (site / "passed" / "app.wsgi").write_text(APP)
    calls = site / "calls.log"
    calls.write_text("")
    os.chmod(calls, 0o666)
    for index, (user, password, option) in enumerate(USERS):
        htpasswd(site / "users", user, password, option, create=index == 0)
    htpasswd(site / "rotating", "amy", "first-secret", "-B", create=True)
    (site / "groups").write_text("# groups\nstaff: bob sam\nadmins: amy\n")
    return calls


@pytest.fixture(scope="module")
def members():
    """One site with every rule, served by one group directly (no front tier)."""
    site = pathlib.Path(tempfile.mkdtemp(prefix="oxwsgi-auth-"))
    os.chmod(site, 0o755)
    calls = site_files(site)
    port = free_port()
    conf = site / "site.conf"
    conf.write_text(textwrap.dedent(f"""\
        Listen 127.0.0.1:{port}
        {user_directive()}
        LogFormat "%h %u %>s %U" auth
        CustomLog {site}/access.log auth
        WSGIDaemonProcess members threads=4 python-home={VENV}
        WSGIScriptAlias /passed {site}/passed/app.wsgi process-group=members application-group=%{{GLOBAL}}
        WSGIScriptAlias / {site}/app/app.wsgi process-group=members application-group=%{{GLOBAL}}
        SetEnv CALLS {calls}
        <Directory {site}>
            Require all granted
        </Directory>
        <Directory {site}/passed>
            WSGIPassAuthorization On
        </Directory>
        <Location />
            AuthType Basic
            AuthName "Members \\"only\\""
            AuthUserFile {site}/users
            AuthGroupFile {site}/groups
        </Location>
        <Location /members>
            Require valid-user
        </Location>
        <Location /passed>
            Require valid-user
        </Location>
        <Location /admin>
            Require user amy
        </Location>
        <Location /staff>
            Require group staff
        </Location>
        <Location /lan>
            <RequireAny>
                Require ip 127.0.0.2
                Require valid-user
            </RequireAny>
        </Location>
        <Location /satisfy-any>
            Order deny,allow
            Deny from all
            Allow from 127.0.0.2
            Require valid-user
            Satisfy Any
        </Location>
        <Location /satisfy-all>
            Order deny,allow
            Deny from all
            Allow from 127.0.0.2
            Require valid-user
        </Location>
        <Location /rotating>
            AuthUserFile {site}/rotating
            Require valid-user
        </Location>
        """))
    # --log-to-terminal: the access log is on standard output.
    srv = Server(["--config", conf], site, apache=True)
    srv.site = site
    srv.calls = calls
    try:
        yield srv
    finally:
        srv.stop()
        shutil.rmtree(site, ignore_errors=True)


def fetch(port, path, user=None, password=None, authorization=None, source=None):
    """A GET on a new connection (from `source`, an address of 127/8, if given): its status,
    its headers (lower-case names) and its body."""
    headers = f"Host: 127.0.0.1:{port}\r\nConnection: close\r\n"
    if user is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        headers += f"Authorization: Basic {token}\r\n"
    if authorization is not None:
        headers += f"Authorization: {authorization}\r\n"
    source_address = (source, 0) if source else None
    with socket.create_connection(("127.0.0.1", port), source_address=source_address,
                                  timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\n{headers}\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.decode("latin-1").partition("\r\n\r\n")
    lines = head.split("\r\n")
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), fields, body


def environ(body):
    return dict(line.split("=", 1) for line in body.splitlines() if "=" in line)


def called(srv):
    return srv.calls.read_text().splitlines()


def assert_unauthorized(response):
    status, headers, body = response
    assert status == 401, response
    assert headers["www-authenticate"] == REALM
    assert UNAUTHORIZED in body


@pytest.mark.parametrize("user,password,option", USERS[:4], ids=[u[2] for u in USERS[:4]])
def test_each_kind_of_htpasswd_entry_lets_its_user_in(members, user, password, option):
    """bcrypt, APR's MD5, SHA-1 and crypt entries: the right password gets the application,
    with REMOTE_USER and AUTH_TYPE; Authorization itself only where WSGIPassAuthorization is
    on, as before."""
    path = f"/members/{option[1:]}"
    status, _, body = fetch(members.port, path, user, password)
    assert status == 200, body
    seen = environ(body)
    assert (seen["REMOTE_USER"], seen["AUTH_TYPE"], seen["HTTP_AUTHORIZATION"]) == (
        user, "Basic", "None")
    assert seen["PATH_INFO"] == path
    status, _, body = fetch(members.port, f"/passed/{option[1:]}", user, password)
    assert status == 200, body
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    assert environ(body)["HTTP_AUTHORIZATION"] == f"Basic {token}"
    assert environ(body)["REMOTE_USER"] == user


def test_crypt_reads_only_the_first_eight_characters(members):
    """As crypt(3) (and so httpd on Linux) does: `d-secret` is `d-secret` and anything after."""
    status, _, body = fetch(members.port, "/members/des-long", "dee", "d-secret-and-more")
    assert status == 200 and environ(body)["REMOTE_USER"] == "dee"


CASES = [
    ("wrong-password", dict(user="bob", password="b-secreT")),
    ("unknown-user", dict(user="carl", password="b-secret")),
    ("no-credentials", dict()),
    ("plain-text-entry", dict(user="pat", password="p-secret")),
    ("bearer", dict(authorization="Bearer b-secret")),
    ("not-base64", dict(authorization="Basic !!!not base64!!!")),
    ("no-colon", dict(authorization="Basic " + base64.b64encode(b"bob").decode())),
    ("empty", dict(authorization="Basic")),
]


@pytest.mark.parametrize("case,credentials", CASES, ids=[c[0] for c in CASES])
def test_a_request_without_valid_credentials_gets_httpds_401_and_no_application(
        members, case, credentials):
    path = f"/members/{case}"
    assert_unauthorized(fetch(members.port, path, **credentials))
    # A right request after it is the application's: had the wrong one reached it, its
    # line would be there first.
    status, _, _ = fetch(members.port, path + "/then-right", "bob", "b-secret")
    assert status == 200
    assert path in "\n".join(called(members))
    assert path not in called(members)


def test_require_user_and_require_group_let_in_the_users_they_name(members):
    """An authenticated user the rules refuse gets a 401 too, as httpd answers it
    (AH01631 "authorization failure")."""
    status, _, body = fetch(members.port, "/admin/x", "amy", "a-secret")
    assert status == 200 and environ(body)["REMOTE_USER"] == "amy"
    assert_unauthorized(fetch(members.port, "/admin/bob", "bob", "b-secret"))
    assert_unauthorized(fetch(members.port, "/admin/none"))
    status, _, body = fetch(members.port, "/staff/x", "bob", "b-secret")
    assert status == 200 and environ(body)["REMOTE_USER"] == "bob"
    status, _, body = fetch(members.port, "/staff/y", "sam", "s-secret")
    assert status == 200 and environ(body)["REMOTE_USER"] == "sam"
    assert_unauthorized(fetch(members.port, "/staff/amy", "amy", "a-secret"))
    assert not {"/admin/bob", "/admin/none", "/staff/amy"} & set(called(members))


def test_an_address_rule_lets_in_without_credentials_where_any_rule_will_do(members):
    """<RequireAny> Require ip 127.0.0.2 / Require valid-user: that address gets in as no
    one (whatever it sends); any other needs a user."""
    for credentials in (dict(), dict(user="bob", password="wrong")):
        status, _, body = fetch(members.port, "/lan/two", source="127.0.0.2", **credentials)
        assert status == 200 and environ(body)["REMOTE_USER"] == "None", body
    assert_unauthorized(fetch(members.port, "/lan/one"))
    status, _, body = fetch(members.port, "/lan/one-user", "amy", "a-secret")
    assert status == 200 and environ(body)["REMOTE_USER"] == "amy"


def test_satisfy_combines_order_allow_deny_with_the_users(members):
    """Satisfy Any: the allowed address, or a user. Satisfy All (the default): the allowed
    address, and a user; any other address gets httpd's 403 whatever it sends."""
    status, _, body = fetch(members.port, "/satisfy-any/two", source="127.0.0.2")
    assert status == 200 and environ(body)["REMOTE_USER"] == "None"
    assert_unauthorized(fetch(members.port, "/satisfy-any/one"))
    status, _, body = fetch(members.port, "/satisfy-any/one-user", "bob", "b-secret")
    assert status == 200 and environ(body)["REMOTE_USER"] == "bob"
    status, _, body = fetch(members.port, "/satisfy-all/one", "bob", "b-secret")
    assert status == 403 and FORBIDDEN in body
    assert_unauthorized(fetch(members.port, "/satisfy-all/two", source="127.0.0.2"))
    status, _, body = fetch(members.port, "/satisfy-all/two-user", "bob", "b-secret",
                            source="127.0.0.2")
    assert status == 200 and environ(body)["REMOTE_USER"] == "bob"


def test_a_password_file_replaced_while_running_is_read_again(members):
    assert fetch(members.port, "/rotating/a", "amy", "first-secret")[0] == 200
    replacement = members.site / "rotating.new"
    htpasswd(replacement, "amy", "second-secret", "-m", create=True)
    os.replace(replacement, members.site / "rotating")
    wait_until(lambda: fetch(members.port, "/rotating/b", "amy", "second-secret")[0] == 200,
               timeout=20, what="the new password to work")
    assert_unauthorized(fetch(members.port, "/rotating/c", "amy", "first-secret"))


def test_the_access_log_shows_the_user_the_credentials_named(members):
    """%u: the user, whether or not the password was right (httpd sets r->user first); `-`
    without credentials."""
    fetch(members.port, "/members/logged", "amy", "a-secret")
    fetch(members.port, "/members/logged-wrong", "amy", "nope")
    fetch(members.port, "/members/logged-none")
    wait_until(lambda: "/members/logged-none" in members.stdout, what="the access log lines")
    lines = members.stdout.splitlines()
    assert "127.0.0.1 amy 200 /members/logged" in lines
    assert "127.0.0.1 amy 401 /members/logged-wrong" in lines
    assert "127.0.0.1 - 401 /members/logged-none" in lines


def test_the_front_tier_authenticates_before_forwarding(tmp_path):
    """Two groups on one address: the front tier checks the credentials, and the group's
    worker gets the user across the hop."""
    site = pathlib.Path(tempfile.mkdtemp(prefix="oxwsgi-auth-front-"))
    os.chmod(site, 0o755)
    try:
        calls = site_files(site)
        port = free_port()
        conf = site / "site.conf"
        conf.write_text(textwrap.dedent(f"""\
            Listen 127.0.0.1:{port}
            {user_directive()}
            WSGIDaemonProcess web threads=2 python-home={VENV}
            WSGIDaemonProcess api threads=2 python-home={VENV}
            WSGIScriptAlias /api {site}/passed/app.wsgi process-group=api application-group=%{{GLOBAL}}
            WSGIScriptAlias / {site}/app/app.wsgi process-group=web application-group=%{{GLOBAL}}
            SetEnv CALLS {calls}
            <Directory {site}>
                Require all granted
            </Directory>
            <Location /api>
                AuthType Basic
                AuthName "Members \\"only\\""
                AuthUserFile {site}/users
                Require user bob amy
            </Location>
            """))
        srv = Server(["--config", conf], site, apache=True)
        try:
            status, _, body = fetch(port, "/api/items", "bob", "b-secret")
            seen = environ(body)
            assert status == 200, body
            assert (seen["REMOTE_USER"], seen["AUTH_TYPE"], seen["mod_wsgi.process_group"]) == (
                "bob", "Basic", "api")
            assert seen["SCRIPT_NAME"] == "/api" and seen["PATH_INFO"] == "/items"
            assert_unauthorized(fetch(port, "/api/refused"))
            assert_unauthorized(fetch(port, "/api/wrong", "amy", "b-secret"))
            assert_unauthorized(fetch(port, "/api/sam", "sam", "s-secret"))
            status, _, body = fetch(port, "/open")
            assert status == 200 and environ(body)["mod_wsgi.process_group"] == "web"
            assert environ(body)["REMOTE_USER"] == "None"
            assert not {"/api/refused", "/api/wrong", "/api/sam"} & set(calls.read_text().split())
        finally:
            srv.stop()
    finally:
        shutil.rmtree(site, ignore_errors=True)


NOT_YET = [
    ("AuthDigestAlgorithm MD5-sess",
     "AuthDigestAlgorithm MD5-sess is not supported yet by start-server"),
    ("AuthDigestQop auth-int", "AuthDigestQop auth-int is not supported yet by start-server"),
    ("AuthBasicProvider ldap", "AuthBasicProvider ldap is not supported yet by start-server"),
]


@pytest.mark.parametrize("line,message", NOT_YET, ids=[n[0] for n in NOT_YET])
def test_what_is_not_done_yet_is_refused_by_file_and_line(tmp_path, line, message):
    """check-config accepts it (httpd would run it) with a warning; start-server refuses it,
    naming the line, before anything listens."""
    (tmp_path / "app.wsgi").write_text(APP)
    port = free_port()
    conf = tmp_path / "site.conf"
    conf.write_text(textwrap.dedent(f"""\
        Listen 127.0.0.1:{port}
        WSGIScriptAlias / {tmp_path}/app.wsgi
        <Location />
            AuthName "x"
            {line}
            Require valid-user
        </Location>
        """))
    checked = subprocess.run([str(BINARY), "check-config", str(conf)], capture_output=True,
                             text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
    assert f"{conf}:5: warning: {message}" in checked.stderr
    started = subprocess.run([str(BINARY), "start-server", "--config", str(conf)],
                             capture_output=True, text=True, timeout=60)
    assert started.returncode == 2
    assert started.stderr.startswith(f"{conf}:5: error: {message}"), started.stderr


BAD_RULES = [
    ("Require not user bob",
     "negative Require directive has no effect in <RequireAny> directive"),
    ("<RequireAll>\n    Require not user bob\n</RequireAll>",
     "<RequireAll> directive contains only negative authorization directives"),
]


@pytest.mark.parametrize("rules,message", BAD_RULES, ids=["negated-alone", "only-negated"])
def test_negation_where_it_has_no_effect_is_an_error_as_in_httpd(tmp_path, rules, message):
    (tmp_path / "app.wsgi").write_text(APP)
    conf = tmp_path / "site.conf"
    body = textwrap.indent(rules, "    ")
    conf.write_text(f"Listen 127.0.0.1:{free_port()}\nWSGIScriptAlias / {tmp_path}/app.wsgi\n"
                    f"<Location />\n{body}\n</Location>\n")
    checked = subprocess.run([str(BINARY), "check-config", str(conf)], capture_output=True,
                             text=True, timeout=60)
    assert re.search(rf"{re.escape(str(conf))}:4: (error|warning): {re.escape(message)}",
                     checked.stderr), checked.stderr
    started = subprocess.run([str(BINARY), "start-server", "--config", str(conf)],
                             capture_output=True, text=True, timeout=60)
    assert started.returncode == 2
    assert f"{conf}:4: error: {message}" in started.stderr
