"""HTTP Digest authentication, as mod_auth_digest does it (docs/apache.md, "Authentication"):
from the command line (`--auth-user-script` with `--auth-type Digest`: the script's
`get_realm_hash`) and from Apache files (`AuthType Digest` with an `htdigest` file or
`AuthDigestProvider wsgi`). Real clients: Python requests' HTTPDigestAuth and curl --digest;
the nonce-reuse cases compute the answers by hand (RFC 2617)."""

import hashlib
import os
import pathlib
import re
import shutil
import signal
import subprocess
import tempfile
import textwrap

import pytest
import requests
from requests.auth import HTTPDigestAuth

from support import Server, free_port, wait_until

APP = """
import os
def application(environ, start_response):
    with open(os.path.join(os.path.dirname(__file__), "calls"), "a") as calls:
        calls.write(environ["REQUEST_URI"] + "\\n")
    body = "user=%s type=%s pid=%d" % (environ.get("REMOTE_USER"), environ.get("AUTH_TYPE"),
                                       os.getpid())
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
"""

# get_realm_hash for two users; "ghost" is unknown (None); "boom" raises.
SCRIPT = """
import hashlib
PASSWORDS = {"ann": "a-secret", "bo b": "b-secret"}
def get_realm_hash(environ, user, realm):
    if user == "boom":
        raise RuntimeError("no hash for boom")
    if user not in PASSWORDS:
        return None
    return hashlib.md5(("%s:%s:%s" % (user, realm, PASSWORDS[user])).encode()).hexdigest()
"""

CHALLENGE = re.compile(
    r'^Digest realm="(?P<realm>[^"]*)", nonce="(?P<nonce>[A-Za-z0-9+/=]{12}[0-9a-f]{32})", '
    r'algorithm=MD5(?P<stale>, stale=true)?, qop="auth"$')


def md5(text):
    return hashlib.md5(text.encode()).hexdigest()


def answer(user, password, realm, nonce, method, uri, nc="00000001", cnonce="c0ffee"):
    """The Authorization value a client sends (RFC 2617, qop=auth)."""
    ha1 = md5(f"{user}:{realm}:{password}")
    ha2 = md5(f"{method}:{uri}")
    response = md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
    return (f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
            f'algorithm=MD5, qop=auth, nc={nc}, cnonce="{cnonce}", response="{response}"')


def calls(site):
    path = site / "calls"
    return path.read_text().splitlines() if path.exists() else []


@pytest.fixture
def site(tmp_path):
    (tmp_path / "app.wsgi").write_text(APP)
    (tmp_path / "auth.wsgi").write_text(SCRIPT)
    return tmp_path


def start_cli(site, *extra):
    port = free_port()
    srv = Server(["--host", "127.0.0.1", "--auth-user-script", site / "auth.wsgi",
                  "--auth-type", "Digest", *extra, site / "app.wsgi"], site, port=port)
    srv.realm = f"127.0.0.1:{port}"
    return srv


def challenge_of(response, realm):
    assert response.status_code == 401, response.text
    match = CHALLENGE.match(response.headers["WWW-Authenticate"])
    assert match, response.headers["WWW-Authenticate"]
    assert match["realm"] == realm
    return match


def test_the_right_password_reaches_the_application_as_the_user(site):
    srv = start_cli(site)
    try:
        response = requests.get(f"{srv.url}/in", auth=HTTPDigestAuth("ann", "a-secret"),
                                timeout=10)
        assert response.status_code == 200, response.text
        assert response.text.startswith("user=ann type=Digest ")
        # A user name with a space, through curl's own Digest implementation.
        out = subprocess.run(["curl", "-s", "--digest", "-u", "bo b:b-secret",
                              f"{srv.url}/curl?x=1"], capture_output=True, text=True,
                             timeout=30)
        assert out.stdout.startswith("user=bo b type=Digest "), out
        assert calls(site) == ["/in", "/curl?x=1"]
    finally:
        srv.stop()


def test_wrong_unknown_and_missing_credentials_get_a_digest_challenge(site):
    srv = start_cli(site)
    try:
        bare = requests.get(f"{srv.url}/bare", timeout=10)
        challenge_of(bare, srv.realm)
        assert bare.headers["Content-Type"] == "text/html; charset=utf-8"
        for user, password in (("ann", "wrong"), ("ghost", "x")):
            refused = requests.get(f"{srv.url}/no", auth=HTTPDigestAuth(user, password),
                                   timeout=10)
            assert challenge_of(refused, srv.realm)["stale"] is None
        srv.wait_for_log(r"user ann: password mismatch: /no")
        srv.wait_for_log(r"user `ghost' in realm `127\.0\.0\.1:\d+' not found: /no")
        # Basic credentials are another scheme: asked again for Digest ones.
        basic = requests.get(f"{srv.url}/basic", auth=("ann", "a-secret"), timeout=10)
        challenge_of(basic, srv.realm)
        assert calls(site) == []
    finally:
        srv.stop()


def test_a_script_that_raises_is_a_500_and_its_traceback_is_logged(site):
    srv = start_cli(site)
    try:
        response = requests.get(f"{srv.url}/boom", auth=HTTPDigestAuth("boom", "x"), timeout=10)
        assert response.status_code == 500
        assert "WWW-Authenticate" not in response.headers
        srv.wait_for_log(r"RuntimeError: no hash for boom")
        assert calls(site) == []
    finally:
        srv.stop()


def test_a_forged_or_foreign_nonce_is_refused_with_stale(site):
    srv = start_cli(site)
    try:
        nonce = challenge_of(requests.get(f"{srv.url}/", timeout=10), srv.realm)["nonce"]
        forged = nonce[:12] + ("0" if nonce[12] != "0" else "1") + nonce[13:]
        response = requests.get(
            f"{srv.url}/x", headers={"Authorization": answer(
                "ann", "a-secret", srv.realm, forged, "GET", "/x")}, timeout=10)
        assert challenge_of(response, srv.realm)["stale"] == ", stale=true"
        # The right nonce, answered for another URI than the request's: 400.
        response = requests.get(
            f"{srv.url}/x", headers={"Authorization": answer(
                "ann", "a-secret", srv.realm, nonce, "GET", "/y")}, timeout=10)
        assert response.status_code == 400
        assert calls(site) == []
        # And the right answer is let in.
        response = requests.get(
            f"{srv.url}/x", headers={"Authorization": answer(
                "ann", "a-secret", srv.realm, nonce, "GET", "/x")}, timeout=10)
        assert response.status_code == 200
    finally:
        srv.stop()


def test_a_nonce_is_good_at_another_worker_and_after_a_restart(site):
    """The nonce key is the supervisor's, given to every worker: a nonce one worker gave is
    accepted by its replacement (after SIGHUP), as by any other worker."""
    srv = start_cli(site, "--processes", "2")
    try:
        nonce = challenge_of(requests.get(f"{srv.url}/", timeout=10), srv.realm)["nonce"]
        before = set(srv.worker_pids())
        srv.send_signal(signal.SIGHUP)
        wait_until(lambda: len(set(srv.worker_pids())) == 2
                   and not set(srv.worker_pids()) & before,
                   what="both workers replaced")
        response = requests.get(
            f"{srv.url}/later", headers={"Authorization": answer(
                "ann", "a-secret", srv.realm, nonce, "GET", "/later")}, timeout=10)
        assert response.status_code == 200, response.text
        pid = int(response.text.rsplit("pid=", 1)[1])
        assert pid not in before
    finally:
        srv.stop()


@pytest.fixture
def public_site():
    """A directory the workers' user can read (as root, the site's `User`): the app records
    its calls there."""
    site = pathlib.Path(tempfile.mkdtemp(prefix="oxwsgi-digest-"))
    os.chmod(site, 0o777)
    yield site
    shutil.rmtree(site, ignore_errors=True)


def test_an_htdigest_file_from_an_apache_site(public_site):
    """`AuthType Digest` with `AuthDigestProvider file` (the default) and an `htdigest`
    file, `AuthDigestDomain` in the challenge, `AuthDigestQop none` answered RFC 2069's way."""
    site = public_site
    (site / "app.wsgi").write_text(APP)
    os.chmod(site / "app.wsgi", 0o644)
    realm = "Members"
    (site / "digest.users").write_text(
        f"ann:{realm}:{md5(f'ann:{realm}:a-secret')}\n"
        f"ann:Other:{md5('ann:Other:o-secret')}\n")
    os.chmod(site / "digest.users", 0o644)
    port = free_port()
    user = "User oxwsgi-test\n" if os.geteuid() == 0 else ""
    conf = site / "site.conf"
    conf.write_text(textwrap.dedent(f"""\
        Listen 127.0.0.1:{port}
        ServerName localhost
        {user}WSGIScriptAlias / {site}/app.wsgi
        <Location />
            AuthType Digest
            AuthName "{realm}"
            AuthUserFile {site}/digest.users
            AuthDigestDomain /
            Require valid-user
        </Location>
        <Location /old>
            AuthDigestQop none
        </Location>
        """))
    srv = Server(["--config", conf], site, apache=True)
    try:
        url = f"http://127.0.0.1:{port}"
        bare = requests.get(f"{url}/", timeout=10)
        assert bare.status_code == 401
        assert re.fullmatch(r'Digest realm="Members", nonce="[^"]+", algorithm=MD5, '
                            r'domain="/", qop="auth"', bare.headers["WWW-Authenticate"])
        ok = requests.get(f"{url}/in", auth=HTTPDigestAuth("ann", "a-secret"), timeout=10)
        assert ok.status_code == 200 and ok.text.startswith("user=ann type=Digest ")
        # The file's line for another realm is not this realm's password.
        other = requests.get(f"{url}/in", auth=HTTPDigestAuth("ann", "o-secret"), timeout=10)
        assert other.status_code == 401
        # No qop offered: the client answers without one (RFC 2069).
        old = requests.get(f"{url}/old/", timeout=10)
        assert old.headers["WWW-Authenticate"].endswith('algorithm=MD5, domain="/"')
        nonce = re.search(r'nonce="([^"]+)"', old.headers["WWW-Authenticate"])[1]
        ha1 = md5(f"ann:{realm}:a-secret")
        digest = md5(f"{ha1}:{nonce}:{md5('GET:/old/')}")
        header = (f'Digest username="ann", realm="{realm}", nonce="{nonce}", uri="/old/", '
                  f'response="{digest}"')
        rfc2069 = requests.get(f"{url}/old/", headers={"Authorization": header}, timeout=10)
        assert rfc2069.status_code == 200, rfc2069.text
        # With qop=auth where none is offered: refused.
        qop = requests.get(f"{url}/old/", headers={"Authorization": answer(
            "ann", "a-secret", realm, nonce, "GET", "/old/")}, timeout=10)
        assert qop.status_code == 401
        assert calls(site) == ["/in", "/old/"]
    finally:
        srv.stop()
