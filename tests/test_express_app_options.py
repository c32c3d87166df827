"""mod_wsgi-express's options for what the application runs as and sees, each shown by its
effect on a real server: --user/--group, --setenv/--passenv, --python-warnings,
--switch-interval, --application-group, --process-group, --process-name, --error-document,
--error-override, --map-head-to-get, --allow-override and --chunked-request; and the Apache
directives that make the same settings (WSGIPythonWarnings, switch-interval=,
WSGIErrorOverride, WSGIMapHEADToGET)."""

import grp
import os
import pathlib
import pwd
import shutil
import subprocess
import tempfile
import textwrap

import pytest
import requests

from support import APPS, BINARY, VENV, Server, free_port, process_title, user_directive

APP = APPS / "app_environment.wsgi"


@pytest.fixture
def site():
    """A world-readable directory (workers that switch user read the script there and reach
    the server root under it), removed afterwards."""
    path = pathlib.Path(tempfile.mkdtemp(prefix="oxwsgi-appenv-"))
    os.chmod(path, 0o755)
    shutil.copy(APP, path / "app.wsgi")
    os.chmod(path / "app.wsgi", 0o644)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def serve(site, *args, **kwargs):
    return Server([*args, site / "app.wsgi"], site, **kwargs)


def report(srv, prefix=""):
    response = requests.get(f"{srv.url}{prefix}/report", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def refused(*args):
    """Runs start-server with `args`, which it must refuse; returns its standard error."""
    done = subprocess.run(
        [str(BINARY), "start-server", "--port", "0", "--python-home", str(VENV), *map(str, args),
         str(APP)],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2, done
    return done.stderr


# --- --user / --group -------------------------------------------------------------------------

@pytest.mark.skipif(os.getuid() != 0, reason="switching user needs root; see the next test")
def test_user_and_group_are_what_the_workers_run_as_when_started_as_root(site):
    user = pwd.getpwnam("oxwsgi-test")
    group = grp.getgrnam("oxwsgi-test2")
    srv = serve(site, "--user", "oxwsgi-test", "--group", "oxwsgi-test2")
    try:
        seen = report(srv)
        assert (seen["uid"], seen["euid"], seen["gid"]) == (user.pw_uid, user.pw_uid,
                                                            group.gr_gid)
        status = pathlib.Path(f"/proc/{srv.worker_pid()}/status").read_text()
        assert f"Uid:\t{user.pw_uid}\t{user.pw_uid}\t{user.pw_uid}\t{user.pw_uid}" in status
        assert f"Gid:\t{group.gr_gid}\t{group.gr_gid}\t{group.gr_gid}\t{group.gr_gid}" in status
        # The supervisor stays root, to start the next workers.
        assert f"Uid:\t0\t" in pathlib.Path(f"/proc/{srv.pid}/status").read_text()
    finally:
        srv.stop()


@pytest.mark.skipif(os.getuid() != 0, reason="switching user needs root")
def test_user_alone_runs_with_its_own_primary_group(site):
    user = pwd.getpwnam("oxwsgi-test")
    srv = serve(site, "--user", "oxwsgi-test")
    try:
        seen = report(srv)
        assert (seen["uid"], seen["gid"]) == (user.pw_uid, user.pw_gid)
    finally:
        srv.stop()


@pytest.mark.skipif(os.getuid() != 0, reason="only root looks the user up")
def test_user_root_or_unknown_is_refused_naming_it():
    assert refused("--user", "root") == (
        "oxwsgi: --user root: 'root' is root: the workers never run as root (mod_wsgi refuses "
        "it too); name an unprivileged user such as www-data\n")
    assert refused("--user", "no-such-user-here") == (
        "oxwsgi: --user no-such-user-here: no user is named 'no-such-user-here' on this "
        "system\n")
    assert refused("--user", "oxwsgi-test", "--group", "no-such-group") == (
        "oxwsgi: --user oxwsgi-test:no-such-group: no group is named 'no-such-group' on this "
        "system\n")
    assert refused("--group", "nogroup") == (
        "oxwsgi: --group nogroup: started as root, a group alone would leave the workers "
        "running as root, which they never do: give --user too, an unprivileged user such as "
        "www-data\n")


# --- --setenv / --passenv --------------------------------------------------------------------

def test_setenv_and_passenv_add_keys_to_the_wsgi_environ_not_to_os_environ(site):
    srv = serve(site, "--setenv", "GREETING", "hello there", "--setenv", "EMPTY", "",
                "--setenv", "REQUEST_METHOD", "FROM-SETENV",
                "--passenv", "OXWSGI_TEST_PASSED", "--passenv", "OXWSGI_TEST_NOT_SET",
                env={"OXWSGI_TEST_PASSED": "from the environment"})
    try:
        seen = report(srv)
        environ = seen["environ"]
        assert environ["GREETING"] == "hello there"
        assert environ["EMPTY"] == ""
        assert environ["OXWSGI_TEST_PASSED"] == "from the environment"
        assert "OXWSGI_TEST_NOT_SET" not in environ
        # The server's own keys win, as in mod_wsgi.
        assert environ["REQUEST_METHOD"] == "GET"
        # httpd's SetEnv reaches the request's environ only; PassEnv copies a variable the
        # process has (a worker inherits the supervisor's environment).
        assert seen["os_environ"] == {"GREETING": None,
                                      "OXWSGI_TEST_PASSED": "from the environment"}
    finally:
        srv.stop()


# --- --python-warnings -----------------------------------------------------------------------

def test_python_warnings_fill_the_warnings_filter_in_order(site):
    srv = serve(site, "--python-warnings", "ignore",
                "--python-warnings", "error::DeprecationWarning")
    try:
        seen = report(srv)
        assert seen["warnoptions"] == ["ignore", "error::DeprecationWarning"]
        # The last -W option is the first filter, as with `python -W ignore -W error::...`.
        assert seen["filters"][:2] == [["error", "DeprecationWarning"], ["ignore", "Warning"]]
        failed = requests.get(f"{srv.url}/warn", timeout=10)
        assert failed.status_code == 500
        srv.wait_for_log(r"DeprecationWarning: deprecated call")
    finally:
        srv.stop()


def test_without_python_warnings_a_warning_does_not_fail_the_request(site):
    srv = serve(site)
    try:
        assert report(srv)["warnoptions"] == []
        answered = requests.get(f"{srv.url}/warn", timeout=10)
        assert (answered.status_code, answered.text) == (200, "warned and went on\n")
    finally:
        srv.stop()


# --- --switch-interval -----------------------------------------------------------------------

def test_switch_interval_sets_pythons_and_defaults_to_pythons_own(site):
    srv = serve(site, "--switch-interval", "0.25")
    try:
        assert report(srv)["switch_interval"] == 0.25
    finally:
        srv.stop()
    srv = serve(site)
    try:
        assert report(srv)["switch_interval"] == 0.005
    finally:
        srv.stop()


def test_switch_interval_must_be_positive():
    assert refused("--switch-interval", "0") == (
        "oxwsgi: --switch-interval 0: give a positive number of seconds\n")


# --- --application-group / --process-group ---------------------------------------------------

def test_application_group_names_the_interpreter(site):
    srv = serve(site, "--application-group", "shop")
    try:
        seen = report(srv)
        assert seen["application_group"] == "shop"
        assert seen["environ"]["mod_wsgi.application_group"] == "shop"
    finally:
        srv.stop()
    port = free_port()
    srv = serve(site, "--application-group", "%{SERVER}", "--mount-point", "/app", port=port)
    try:
        assert report(srv, "/app")["application_group"] == f"localhost:{port}"
    finally:
        srv.stop()


def test_application_group_defaults_to_the_main_interpreter(site):
    srv = serve(site)
    try:
        assert report(srv)["application_group"] == ""
    finally:
        srv.stop()
    assert refused("--application-group", "%{ENV:X}") == (
        "oxwsgi: --application-group %{ENV:X}: give a name, %{GLOBAL}, %{SERVER} or "
        "%{RESOURCE}\n")


def test_process_group_names_the_group_and_the_worker_titles(site):
    srv = serve(site, "--process-group", "web")
    try:
        seen = report(srv)
        assert seen["process_group"] == "web"
        assert seen["environ"]["mod_wsgi.process_group"] == "web"
        assert process_title(srv.worker_pid()) == "oxwsgi: worker 1 [web]"
    finally:
        srv.stop()


# --- --process-name ----------------------------------------------------------------------------

def test_process_name_is_the_supervisors_title(site):
    srv = serve(site, "--process-name", "shop (mod_wsgi-express)")
    try:
        assert process_title(srv.pid).rstrip() == "shop (mod_wsgi-express)"
        # What ps shows for it.
        shown = subprocess.run(["ps", "-o", "args=", "-p", str(srv.pid)],
                               capture_output=True, text=True, check=True).stdout
        assert shown.strip() == "shop (mod_wsgi-express)"
    finally:
        srv.stop()


def test_without_process_name_the_supervisor_is_titled_as_such(site):
    srv = serve(site)
    try:
        assert process_title(srv.pid) == "oxwsgi: supervisor"
    finally:
        srv.stop()


# --- --error-document / --error-override ------------------------------------------------------

def with_pages(site):
    docs = site / "htdocs"
    docs.mkdir()
    (docs / "missing.html").write_text("<p>our own missing page</p>\n")
    return docs


def test_error_document_replaces_the_servers_own_404(site):
    docs = with_pages(site)
    srv = serve(site, "--document-root", docs, "--mount-point", "/app",
                "--error-document", "404", "/missing.html",
                "--error-document", "405", "Not with that method")
    try:
        missing = requests.get(f"{srv.url}/nothing-here", timeout=10)
        assert (missing.status_code, missing.text) == (404, "<p>our own missing page</p>\n")
        not_allowed = requests.post(f"{srv.url}/missing.html", timeout=10)
        assert (not_allowed.status_code, not_allowed.text) == (405, "Not with that method")
        # The application's own 404 is its own without --error-override.
        own = requests.get(f"{srv.url}/app/status/404", timeout=10)
        assert (own.status_code, own.text) == (404, "the application's own 404\n")
    finally:
        srv.stop()


def test_error_document_needs_an_error_status():
    assert refused("--error-document", "200", "/x.html") == (
        "oxwsgi: --error-document 200 /x.html: give an error status (400-599) and a URL path, "
        "a URL or a text\n")


def test_error_override_replaces_the_applications_error_responses(site):
    docs = with_pages(site)
    srv = serve(site, "--document-root", docs, "--mount-point", "/app", "--error-override",
                "--error-document", "404", "/missing.html")
    try:
        replaced = requests.get(f"{srv.url}/app/status/404", timeout=10)
        assert (replaced.status_code, replaced.text) == (404, "<p>our own missing page</p>\n")
        # No document for 500: the server's own page, not the application's.
        failed = requests.get(f"{srv.url}/app/status/500", timeout=10)
        assert failed.status_code == 500
        assert "<h1>Internal Server Error</h1>" in failed.text
        assert "the application's own" not in failed.text
        # A 401 keeps the application's challenge.
        challenge = requests.get(f"{srv.url}/app/status/401", timeout=10)
        assert challenge.status_code == 401
        assert challenge.headers["WWW-Authenticate"] == 'Basic realm="app"'
        assert "<h1>Unauthorized</h1>" in challenge.text
        # Other responses are the application's.
        fine = requests.get(f"{srv.url}/app/report", timeout=10)
        assert fine.status_code == 200 and fine.json()["environ"]["SCRIPT_NAME"] == "/app"
        assert requests.get(f"{srv.url}/app/status/302", timeout=10,
                            allow_redirects=False).text == "the application's own 302\n"
    finally:
        srv.stop()


# --- --map-head-to-get -----------------------------------------------------------------------

@pytest.mark.parametrize("args, seen", [
    ([], "HEAD"),
    (["--map-head-to-get", "Auto"], "HEAD"),
    (["--map-head-to-get", "Auto", "--compress-responses"], "GET"),
    (["--map-head-to-get", "on"], "GET"),
    (["--map-head-to-get", "Off", "--compress-responses"], "HEAD"),
])
def test_map_head_to_get_decides_the_method_the_application_sees(site, args, seen):
    srv = serve(site, *args)
    try:
        head = requests.head(f"{srv.url}/report", timeout=10)
        assert head.status_code == 200
        assert head.headers["X-Method"] == seen
        assert head.content == b""
        assert requests.get(f"{srv.url}/report", timeout=10).headers["X-Method"] == "GET"
    finally:
        srv.stop()


def test_map_head_to_get_takes_off_on_or_auto():
    assert refused("--map-head-to-get", "sometimes") == (
        "oxwsgi: --map-head-to-get sometimes: give Off, On or Auto\n")


# --- --allow-override ------------------------------------------------------------------------

@pytest.mark.parametrize("args", [[], ["--allow-override", "None"]])
def test_allow_override_none_leaves_htaccess_files_unread(site, args):
    docs = site / "htdocs"
    (docs / "private").mkdir(parents=True)
    (docs / "private" / ".htaccess").write_text("Require all denied\n")
    (docs / "private" / "file.txt").write_text("served all the same\n")
    srv = serve(site, "--document-root", docs, *args)
    try:
        got = requests.get(f"{srv.url}/private/file.txt", timeout=10)
        assert (got.status_code, got.text) == (200, "served all the same\n")
    finally:
        srv.stop()


def test_allow_override_other_than_none_is_refused():
    assert refused("--allow-override", "AuthConfig") == (
        "oxwsgi: --allow-override AuthConfig: oxwsgi reads no .htaccess file, so nothing may "
        "be overridden there; give None, or put the directives in an --include-file\n")


# --- --chunked-request -----------------------------------------------------------------------

@pytest.mark.parametrize("args", [[], ["--chunked-request"]])
def test_chunked_request_bodies_are_accepted_with_or_without_the_flag(site, args):
    srv = serve(site, *args)
    try:
        def chunks():
            yield b"first chunk,"
            yield b" second chunk"
        sent = requests.post(f"{srv.url}/echo", data=chunks(), timeout=10)
        assert (sent.status_code, sent.content) == (200, b"first chunk, second chunk")
    finally:
        srv.stop()


# --- the Apache directives that make the same settings --------------------------------------

def test_apache_directives_make_the_same_settings(site):
    port = free_port()
    docs = with_pages(site)
    conf = site / "site.conf"
    conf.write_text(textwrap.dedent(f"""\
        Listen 127.0.0.1:{port}
        {user_directive()}
        WSGIPythonHome {VENV}
        WSGIPythonWarnings ignore
        WSGIPythonWarnings error::DeprecationWarning
        WSGIDaemonProcess shop threads=2 switch-interval=0.125
        WSGIScriptAlias /app {site}/app.wsgi process-group=shop application-group=%{{GLOBAL}}
        WSGIErrorOverride On
        WSGIMapHEADToGET On
        DocumentRoot {docs}
        ErrorDocument 404 /missing.html
        <Directory {site}>
            Require all granted
        </Directory>
        """))
    srv = Server(["--config", conf], site, apache=True)
    try:
        seen = report(srv, "/app")
        assert seen["switch_interval"] == 0.125
        assert seen["warnoptions"] == ["ignore", "error::DeprecationWarning"]
        assert seen["process_group"] == "shop"
        assert requests.head(f"{srv.url}/app/report", timeout=10).headers["X-Method"] == "GET"
        replaced = requests.get(f"{srv.url}/app/status/404", timeout=10)
        assert (replaced.status_code, replaced.text) == (404, "<p>our own missing page</p>\n")
    finally:
        srv.stop()


# --- --add-handler ---------------------------------------------------------------------------

HANDLER = '''
import os

def handle_request(environ, start_response):
    path = os.path.join(environ["DOCUMENT_ROOT"], environ["SCRIPT_NAME"].lstrip("/"))
    with open(path) as f:
        text = f.read()
    body = "handled %s rest=%r: %s" % (environ["SCRIPT_NAME"], environ["PATH_INFO"], text)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]

def application(environ, start_response):
    raise RuntimeError("handle_request is the handler's entry point when it has one")
'''


def test_add_handler_answers_for_the_document_roots_files_of_its_extension(site):
    docs = site / "htdocs"
    (docs / "notes").mkdir(parents=True)
    (docs / "notes" / "read.md").write_text("# Read me\n")
    (docs / "plain.txt").write_text("just a file\n")
    (site / "markdown.wsgi").write_text(HANDLER)
    srv = serve(site, "--document-root", docs, "--add-handler", ".md", site / "markdown.wsgi",
                "--mount-point", "/app")
    try:
        handled = requests.get(f"{srv.url}/notes/read.md", timeout=10)
        assert (handled.status_code, handled.text) == (
            200, "handled /notes/read.md rest='': # Read me\n")
        further = requests.get(f"{srv.url}/notes/read.md/section/2", timeout=10)
        assert further.text == "handled /notes/read.md rest='/section/2': # Read me\n"
        # Other files are served as they are; a missing .md file is the server's 404.
        assert requests.get(f"{srv.url}/plain.txt", timeout=10).text == "just a file\n"
        assert requests.get(f"{srv.url}/notes/other.md", timeout=10).status_code == 404
        # The application keeps its own URLs.
        assert report(srv, "/app")["environ"]["SCRIPT_NAME"] == "/app"
    finally:
        srv.stop()


def test_add_handler_needs_an_existing_script(site):
    stderr = refused("--add-handler", ".md", site / "missing.wsgi")
    assert stderr == (f"oxwsgi: the --add-handler script '{site}/missing.wsgi' is not a file\n")
