"""Every option of `mod_wsgi-express start-server` is recognised by `oxwsgi start-server`.

EXPRESS_OPTIONS below is a copy of express's option names with their argument form, taken from
mod_wsgi 6.0.5's src/express/options.py (the `add_option(...)` calls, `--isatty` included
although 6.0 comments it out: older express had it). docs/express-options.md is the table of
what oxwsgi does with each.

* Each option is parsed and resolved by `oxwsgi setup-server` (the same resolution as
  start-server, without serving), placed before the other arguments with express's argument
  form: a flag followed by another option (a value-taking oxwsgi option would fail), a value
  option with its value, a two-value option with both (ENTRY_POINT follows, so a one-value
  oxwsgi option would leave an extra argument), an appended option given twice.
* The options with no effect are named, each once, in the one notice line; the server starts
  with all of them at once and serves.
* The refused options exit with status 2 and their message.
* A dozen command lines of the shapes public projects use (Dockerfiles, Procfiles, docs) are
  started and answer real requests.
"""

import grp
import json
import os
import pathlib
import pwd
import re
import shutil
import signal
import ssl
import subprocess
import tempfile
import urllib.request

import pytest

from support import BINARY, READY, TEST_USER, VENV, free_port, is_gone, wait_for_file, wait_until

# (option, form, type) from mod_wsgi 6.0.5 src/express/options.py. form: "flag" (store_true),
# "value" (one value), "append" (one value, repeatable), "pair" (nargs=2, repeatable).
EXPRESS_OPTIONS = [
    ("--application-type", "value", "string"),
    ("--entry-point", "value", "string"),
    ("--application-group", "value", "string"),
    ("--process-group", "value", "string"),
    ("--host", "value", "string"),
    ("--port", "value", "int"),
    ("--http2", "flag", "string"),
    ("--https-port", "value", "int"),
    ("--ssl-port", "value", "int"),
    ("--ssl-certificate-file", "value", "string"),
    ("--ssl-certificate-key-file", "value", "string"),
    ("--ssl-certificate", "value", "string"),
    ("--ssl-ca-certificate-file", "value", "string"),
    ("--ssl-verify-client", "append", "string"),
    ("--ssl-certificate-chain-file", "value", "string"),
    ("--ssl-environment", "flag", "string"),
    ("--https-only", "flag", "string"),
    ("--hsts-policy", "value", "string"),
    ("--server-name", "value", "string"),
    ("--server-alias", "append", "string"),
    ("--allow-localhost", "flag", "string"),
    ("--processes", "value", "int"),
    ("--threads", "value", "int"),
    ("--max-clients", "value", "int"),
    ("--initial-workers", "value", "fraction"),
    ("--minimum-spare-workers", "value", "fraction"),
    ("--maximum-spare-workers", "value", "fraction"),
    ("--limit-request-body", "value", "int"),
    ("--maximum-requests", "value", "int"),
    ("--startup-timeout", "value", "int"),
    ("--shutdown-timeout", "value", "int"),
    ("--restart-interval", "value", "int"),
    ("--cpu-time-limit", "value", "int"),
    ("--graceful-timeout", "value", "int"),
    ("--eviction-timeout", "value", "int"),
    ("--deadlock-timeout", "value", "int"),
    ("--inactivity-timeout", "value", "int"),
    ("--ignore-activity", "append", "string"),
    ("--request-timeout", "value", "int"),
    ("--interrupt-timeout", "value", "int"),
    ("--connect-timeout", "value", "int"),
    ("--socket-timeout", "value", "int"),
    ("--proxy-timeout", "value", "int"),
    ("--queue-timeout", "value", "int"),
    ("--header-timeout", "value", "int"),
    ("--header-max-timeout", "value", "int"),
    ("--header-min-rate", "value", "int"),
    ("--body-timeout", "value", "int"),
    ("--body-max-timeout", "value", "int"),
    ("--body-min-rate", "value", "int"),
    ("--server-backlog", "value", "int"),
    ("--daemon-backlog", "value", "int"),
    ("--send-buffer-size", "value", "int"),
    ("--receive-buffer-size", "value", "int"),
    ("--header-buffer-size", "value", "int"),
    ("--response-buffer-size", "value", "int"),
    ("--response-socket-timeout", "value", "int"),
    ("--response-flush-delay", "value", "int"),
    ("--enable-sendfile", "flag", "string"),
    ("--disable-reloading", "flag", "string"),
    ("--reload-on-changes", "flag", "string"),
    ("--user", "value", "string"),
    ("--group", "value", "string"),
    ("--callable-object", "value", "string"),
    ("--map-head-to-get", "value", "string"),
    ("--document-root", "value", "string"),
    ("--directory-index", "value", "string"),
    ("--directory-listing", "flag", "string"),
    ("--allow-override", "append", "string"),
    ("--mount-point", "value", "string"),
    ("--url-alias", "pair", "string"),
    ("--error-document", "pair", "string"),
    ("--error-override", "flag", "string"),
    ("--proxy-mount-point", "pair", "string"),
    ("--proxy-url-alias", "pair", "string"),
    ("--proxy-virtual-host", "pair", "string"),
    ("--trust-proxy-header", "append", "string"),
    ("--trust-proxy", "append", "string"),
    ("--keep-alive-timeout", "value", "int"),
    ("--compress-responses", "flag", "string"),
    ("--server-metrics", "flag", "string"),
    ("--telemetry-service", "value", "string"),
    ("--enable-telemetry", "flag", "string"),
    ("--telemetry-ui-port", "value", "int"),
    ("--telemetry-interval", "value", "float"),
    ("--slow-requests", "value", "float"),
    ("--switch-interval", "value", "float"),
    ("--free-threading", "flag", "string"),
    ("--telemetry-options", "append", "string"),
    ("--server-status", "flag", "string"),
    ("--host-access-script", "value", "string"),
    ("--auth-user-script", "value", "string"),
    ("--auth-type", "value", "string"),
    ("--auth-group-script", "value", "string"),
    ("--auth-group", "value", "string"),
    ("--include-file", "append", "string"),
    ("--rewrite-rules", "value", "string"),
    ("--envvars-script", "value", "string"),
    ("--lang", "value", "string"),
    ("--locale", "value", "string"),
    ("--setenv", "pair", "string"),
    ("--passenv", "append", "string"),
    ("--working-directory", "value", "string"),
    ("--pid-file", "value", "string"),
    ("--server-root", "value", "string"),
    ("--server-mpm", "append", "string"),
    ("--log-directory", "value", "string"),
    ("--log-level", "value", "string"),
    ("--access-log", "flag", "string"),
    ("--startup-log", "flag", "string"),
    ("--verbose-debugging", "flag", "string"),
    ("--log-to-terminal", "flag", "string"),
    ("--access-log-format", "value", "string"),
    ("--error-log-format", "value", "string"),
    ("--error-log-name", "value", "string"),
    ("--access-log-name", "value", "string"),
    ("--startup-log-name", "value", "string"),
    ("--rotate-logs", "flag", "string"),
    ("--max-log-size", "value", "int"),
    ("--rotatelogs-executable", "value", "string"),
    ("--python-path", "append", "string"),
    ("--python-eggs", "value", "string"),
    ("--python-warnings", "append", "string"),
    ("--shell-executable", "value", "string"),
    ("--httpd-executable", "value", "string"),
    ("--process-name", "value", "string"),
    ("--modules-directory", "value", "string"),
    ("--mime-types", "value", "string"),
    ("--socket-prefix", "value", "string"),
    ("--add-handler", "pair", "string"),
    ("--chunked-request", "flag", "string"),
    ("--with-php5", "flag", "string"),
    ("--with-cgi", "flag", "string"),
    ("--service-script", "pair", "string"),
    ("--service-user", "pair", "string"),
    ("--service-group", "pair", "string"),
    ("--service-log-file", "pair", "string"),
    ("--orphan-interpreter", "flag", "string"),
    ("--embedded-mode", "flag", "string"),
    ("--enable-docs", "flag", "string"),
    ("--debug-mode", "flag", "string"),
    ("--enable-debugger", "flag", "string"),
    ("--debugger-startup", "flag", "string"),
    ("--enable-coverage", "flag", "string"),
    ("--coverage-directory", "value", "string"),
    ("--enable-profiler", "flag", "string"),
    ("--profiler-directory", "value", "string"),
    ("--enable-recorder", "flag", "string"),
    ("--recorder-directory", "value", "string"),
    ("--enable-gdb", "flag", "string"),
    ("--gdb-executable", "value", "string"),
    ("--setup-only", "flag", "string"),
    ("--isatty", "flag", "string"),
]

# Refused, with these messages (exit status 2).
REFUSED = {
    "--with-cgi": "oxwsgi: --with-cgi is refused: oxwsgi runs WSGI applications only, not CGI "
                  "scripts; serve them from a web server with mod_cgi\n",
    "--with-php5": "oxwsgi: --with-php5 is refused: oxwsgi runs no PHP; serve .php files from "
                   "a web server with PHP\n",
}

# Accepted and named in the start-up notice as having no effect.
NO_EFFECT = {
    "--embedded-mode", "--enable-docs", "--isatty", "--verbose-debugging", "--enable-telemetry",
    "--free-threading", "--orphan-interpreter", "--enable-gdb", "--telemetry-service",
    "--telemetry-ui-port", "--telemetry-interval", "--telemetry-options", "--socket-prefix",
    "--header-buffer-size", "--response-buffer-size", "--response-flush-delay",
    "--receive-buffer-size", "--send-buffer-size", "--initial-workers",
    "--minimum-spare-workers", "--maximum-spare-workers", "--server-mpm", "--httpd-executable",
    "--modules-directory", "--rotatelogs-executable", "--gdb-executable",
}

# Pure aliases, hidden from --help as in express (docs/express-options.md lists them).
HIDDEN_ALIASES = {"--ssl-port", "--proxy-url-alias"}

NOTICE = re.compile(r"^oxwsgi: notice: mod_wsgi-express options without effect here: (.*)$",
                    re.MULTILINE)


def test_the_copy_of_express_options_is_whole():
    names = [name for name, _, _ in EXPRESS_OPTIONS]
    assert len(names) == len(set(names)) == 153
    assert set(REFUSED) | NO_EFFECT <= set(names)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The files and directories the sample values name."""
    tmp = tmp_path_factory.mktemp("express-options")
    app = tmp / "app.wsgi"
    app.write_text(
        "import json, os\n"
        "def application(environ, start_response):\n"
        "    names = ('LANG', 'LC_ALL', 'PYTHON_EGG_CACHE')\n"
        "    body = json.dumps({n: os.environ.get(n) for n in names}).encode()\n"
        "    start_response('200 OK', [('Content-Type', 'application/json')])\n"
        "    return [body]\n"
    )
    for name in ("dir", "dir2"):
        (tmp / name).mkdir()
    (tmp / "empty.conf").write_text("")
    (tmp / "empty2.conf").write_text("# nothing\n")
    (tmp / "envvars.sh").write_text("export GREETING=hello\n")
    (tmp / "mime.types").write_text("text/x-thing thing\n")
    (tmp / "script.py").write_text(
        "def allow_access(environ, host):\n    return True\n"
        "def check_password(environ, user, password):\n    return True\n"
        "def groups_for_user(environ, user):\n    return ['staff']\n"
    )
    (tmp / "service.py").write_text("import time\nwhile True:\n    time.sleep(60)\n")

    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=tmp, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", "/CN=localhost", "-keyout", "server.key",
            "-out", "server.crt")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", "/CN=Test CA", "-keyout", "ca.key", "-out", "ca.crt")
    return tmp


def samples(option, t):
    """Arguments that follow `option` on a command line: its value(s) in express's form, then
    whatever else it needs to be valid (an HTTPS port for a certificate, ...)."""
    https = ["--https-port", "8443", "--ssl-certificate", t / "server"]
    service = ["--service-script", "svc", t / "service.py"]
    auth = ["--auth-user-script", t / "script.py"]
    # An unprivileged group: a service never runs as root.
    nobody_group = grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name
    table = {
        "--application-type": ["script"],
        "--entry-point": [t / "app.wsgi"],
        "--host": ["127.0.0.1"],
        "--port": ["8123"],
        "--https-port": ["8443", "--ssl-certificate", t / "server"],
        "--ssl-port": ["8443", "--ssl-certificate", t / "server"],
        "--ssl-certificate-file": [t / "server.crt", "--ssl-certificate-key-file",
                                   t / "server.key", "--https-port", "8443"],
        "--ssl-certificate-key-file": [t / "server.key", "--ssl-certificate-file",
                                       t / "server.crt", "--https-port", "8443"],
        "--ssl-certificate": [t / "server", "--https-port", "8443"],
        "--ssl-ca-certificate-file": [t / "ca.crt", *https],
        "--ssl-verify-client": ["/secure", "--ssl-verify-client", "/admin",
                                "--ssl-ca-certificate-file", t / "ca.crt", *https],
        "--ssl-certificate-chain-file": [t / "ca.crt", *https],
        "--ssl-environment": https,
        "--https-only": https,
        "--hsts-policy": ["max-age=60", "--https-only", *https],
        "--server-name": ["example.com"],
        "--server-alias": ["www.example.com", "--server-alias", "*.example.org",
                           "--server-name", "example.com"],
        "--allow-localhost": ["--server-name", "example.com"],
        "--processes": ["2"],
        "--threads": ["3"],
        "--max-clients": ["20"],
        "--initial-workers": ["0.2"],
        "--minimum-spare-workers": ["0.1"],
        "--maximum-spare-workers": ["0.3"],
        "--limit-request-body": ["1048576"],
        "--maximum-requests": ["100"],
        "--startup-timeout": ["20"],
        "--shutdown-timeout": ["4"],
        "--restart-interval": ["3600"],
        "--graceful-timeout": ["10"],
        "--deadlock-timeout": ["30"],
        "--inactivity-timeout": ["300"],
        "--ignore-activity": ["/health", "--ignore-activity", "/ready"],
        "--request-timeout": ["30"],
        "--socket-timeout": ["30"],
        "--queue-timeout": ["30"],
        "--header-timeout": ["10"],
        "--header-max-timeout": ["20"],
        "--header-min-rate": ["400"],
        "--body-timeout": ["10"],
        "--body-max-timeout": ["60"],
        "--body-min-rate": ["400"],
        "--server-backlog": ["200"],
        "--daemon-backlog": ["50"],
        "--send-buffer-size": ["65536"],
        "--receive-buffer-size": ["65536"],
        "--header-buffer-size": ["65536"],
        "--response-buffer-size": ["1048576"],
        "--response-flush-delay": ["0"],
        "--callable-object": ["application"],
        "--document-root": [t / "dir"],
        "--directory-index": ["index.html"],
        "--mount-point": ["/app"],
        "--url-alias": ["/static", t / "dir", "--url-alias", "/robots.txt", t / "empty.conf"],
        "--trust-proxy-header": ["X-Forwarded-For", "--trust-proxy-header",
                                 "X-Forwarded-Proto"],
        "--trust-proxy": ["10.0.0.0/8", "--trust-proxy", "192.168.1.5"],
        "--keep-alive-timeout": ["5"],
        "--telemetry-service": ["unix:/tmp/telemetry.sock"],
        "--telemetry-ui-port": ["8888"],
        "--telemetry-interval": ["2.5"],
        "--slow-requests": ["5"],
        "--telemetry-options": ["+CaptureUserAgent", "--telemetry-options", "-CaptureHost"],
        "--host-access-script": [t / "script.py"],
        "--auth-user-script": [t / "script.py"],
        "--auth-type": ["Basic", *auth],
        "--auth-group-script": [t / "script.py", *auth],
        "--auth-group": ["staff", "--auth-group-script", t / "script.py", *auth],
        "--include-file": [t / "empty.conf", "--include-file", t / "empty2.conf"],
        "--rewrite-rules": [t / "empty.conf"],
        "--envvars-script": [t / "envvars.sh"],
        "--lang": ["C.UTF-8"],
        "--locale": ["C.UTF-8"],
        "--working-directory": [t / "dir"],
        "--pid-file": [t / "server.pid"],
        "--server-root": [t / "root-option"],
        "--server-mpm": ["event", "--server-mpm", "worker"],
        "--log-directory": [t / "dir"],
        "--log-level": ["info"],
        "--access-log-format": ["combined"],
        "--error-log-format": ["[%t] %M"],
        "--error-log-name": ["errors.log"],
        "--access-log-name": ["access.log"],
        "--startup-log-name": ["startup.log"],
        "--max-log-size": ["10"],
        "--rotatelogs-executable": ["/usr/sbin/rotatelogs"],
        "--python-path": [t / "dir", "--python-path", t / "dir2"],
        "--python-eggs": [t / "eggs"],
        "--shell-executable": ["/bin/bash"],
        "--httpd-executable": ["/usr/sbin/httpd"],
        "--modules-directory": ["/usr/lib/apache2/modules"],
        "--mime-types": [t / "mime.types"],
        "--socket-prefix": [t / "dir"],
        "--service-script": ["svc", t / "service.py"],
        "--service-user": ["svc", "nobody", *service],
        "--service-group": ["svc", nobody_group, "--service-user", "svc", "nobody", *service],
        "--service-log-file": ["svc", "svc.log", *service],
        "--gdb-executable": ["/usr/bin/gdb"],
        # Started as root, the workers need a user that is not root.
        "--user": [TEST_USER or pwd.getpwuid(os.getuid()).pw_name],
        "--group": [nobody_group, "--user", TEST_USER or pwd.getpwuid(os.getuid()).pw_name],
        "--setenv": ["APP_MODE", "production"],
        "--passenv": ["HOME"],
        "--python-warnings": ["ignore::DeprecationWarning"],
        "--switch-interval": ["0.01"],
        "--application-group": ["%{GLOBAL}"],
        "--process-group": ["myapp"],
        "--process-name": ["myapp (oxwsgi)"],
        "--error-document": ["404", "/errors/404.html"],
        "--map-head-to-get": ["On"],
        "--add-handler": [".md", t / "script.py"],
        "--allow-override": ["None"],
        "--cpu-time-limit": ["60"],
        "--interrupt-timeout": ["5"],
        "--eviction-timeout": ["10"],
        "--connect-timeout": ["15"],
        "--response-socket-timeout": ["30"],
        "--proxy-mount-point": ["/api", "http://127.0.0.1:9/api"],
        "--proxy-url-alias": ["/api", "http://127.0.0.1:9/api"],
        "--proxy-virtual-host": ["api.example.com", "http://127.0.0.1:9/"],
        "--proxy-timeout": ["30"],
        "--debugger-startup": ["--enable-debugger"],
        "--profiler-directory": [t / "dir"],
        "--coverage-directory": [t / "dir"],
        "--recorder-directory": [t / "dir"],
    }
    return [str(a) for a in table.get(option, [])]


def setup_server(files, tmp, option):
    """`oxwsgi setup-server OPTION VALUES... [--server-root R] APP`, with the option first."""
    command = [str(BINARY), "setup-server", option, *samples(option, files)]
    if option != "--server-root":
        command += ["--server-root", str(tmp / "root")]
    command.append(str(files / "app.wsgi"))
    env = dict(os.environ, VIRTUAL_ENV=str(VENV))
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp, timeout=60)


def noticed(text):
    """The options the notice line names, or [] without one; the line must appear at most
    once."""
    lines = NOTICE.findall(text)
    assert len(lines) <= 1, text
    if not lines:
        return []
    return re.findall(r"(--[a-z0-9-]+) \(", lines[0])


ACCEPTED = [name for name, _, _ in EXPRESS_OPTIONS if name not in REFUSED]


@pytest.mark.parametrize("option", ACCEPTED)
def test_each_express_option_is_accepted_in_its_form(option, files, tmp_path):
    done = setup_server(files, tmp_path, option)
    assert done.returncode == 0, f"{option}: {done.stderr}"
    if option in NO_EFFECT:
        assert noticed(done.stderr) == [option], done.stderr
    else:
        assert noticed(done.stderr) == [], done.stderr


@pytest.fixture(scope="module")
def help_text():
    return subprocess.run([str(BINARY), "start-server", "--help"], capture_output=True,
                          text=True, check=True).stdout


@pytest.mark.parametrize("option", sorted(set(ACCEPTED) | set(REFUSED)))
def test_help_explains_each_express_option(option, help_text):
    if option in HIDDEN_ALIASES:
        assert option not in help_text
        return
    # The option starts a help entry, and its explanation follows.
    match = re.search(rf"^\s+{re.escape(option)}\b.*\n\s+\S", help_text, re.MULTILINE)
    assert match, f"{option} is not explained in --help"


@pytest.mark.parametrize("option", sorted(REFUSED))
def test_refused_options_exit_with_a_usage_error_and_why(option, files, tmp_path):
    done = setup_server(files, tmp_path, option)
    assert done.returncode == 2
    assert done.stderr == REFUSED[option]
    assert not (tmp_path / "root").exists()


@pytest.mark.parametrize("value", ["1.5", "-0.1"])
def test_worker_fractions_outside_0_to_1_are_refused_as_express_does(value, files, tmp_path):
    command = [str(BINARY), "start-server", "--initial-workers", value, str(files / "app.wsgi")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith(
        f"error: invalid value '{value}' for '--initial-workers <NUMBER>': the value needs to "
        "be within the range 0 to 1\n")


def test_enable_telemetry_and_telemetry_service_exclude_each_other(files):
    command = [str(BINARY), "start-server", "--enable-telemetry", "--telemetry-service",
               "unix:/tmp/t.sock", str(files / "app.wsgi")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith(
        "error: the argument '--enable-telemetry' cannot be used with "
        "'--telemetry-service <TARGET>'\n")


# --- a real server ------------------------------------------------------------------------------


class Express:
    """`oxwsgi start-server` with a command line as given (no option added): the Python is
    the test environment's through $VIRTUAL_ENV, as in an activated environment. Ready when
    the supervisor says so, on standard error or in `error_log`."""

    def __init__(self, args, cwd, error_log=None, command="start-server"):
        self.cwd = pathlib.Path(cwd)
        self.error_log = error_log
        self.stdout_path = self.cwd / "stdout.log"
        self.stderr_path = self.cwd / "stderr.log"
        self.command = [str(BINARY), command, *[str(a) for a in args]]
        env = dict(os.environ, VIRTUAL_ENV=str(VENV))
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(self.command, stdout=out, stderr=err,
                                         stdin=subprocess.DEVNULL, cwd=cwd, env=env)
        try:
            wait_until(self.ready, timeout=60, what=f"{self.command} to serve")
        except BaseException:
            self.stop()
            raise

    def log(self):
        text = self.stderr_path.read_text(errors="replace")
        if self.error_log and self.error_log.exists():
            text += self.error_log.read_text(errors="replace")
        return text

    def ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.command} exited with {self.proc.returncode}:\n"
                                 f"{self.stdout}\n{self.log()}")
        return READY.search(self.log())

    @property
    def stdout(self):
        return self.stdout_path.read_text(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def get(url):
    """(status, headers, body) of a GET; HTTPS with the tests' self-signed certificate."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(url, timeout=10, context=context) as response:
        return response.status, response.headers, response.read()


def test_all_options_without_effect_at_once_start_a_server_that_names_each_once(
        files, tmp_path):
    port = free_port()
    args = ["--port", port, "--log-to-terminal", "--server-root", tmp_path / "root"]
    for option in sorted(NO_EFFECT - {"--enable-telemetry"}):
        args += [option, *samples(option, files)]
    with Express([*args, files / "app.wsgi"], tmp_path) as server:
        status, _, body = get(f"http://127.0.0.1:{port}/")
        assert status == 200 and "LANG" in json.loads(body)
        assert sorted(noticed(server.stdout)) == sorted(NO_EFFECT - {"--enable-telemetry"})
        assert "--server-mpm (sizes Apache's MPM child processes" in server.stdout
    # --enable-telemetry excludes --telemetry-service: alone, it is named too.
    with Express(["--port", free_port(), "--log-to-terminal", "--enable-telemetry",
                  "--server-root", tmp_path / "root2", files / "app.wsgi"], tmp_path) as server:
        assert noticed(server.stdout) == ["--enable-telemetry"]


def test_lang_and_python_eggs_reach_the_application(files, tmp_path):
    port = free_port()
    eggs = tmp_path / "eggs"
    with Express(["--port", port, "--log-to-terminal", "--server-root", tmp_path / "root",
                  "--lang", "en_GB.UTF-8", "--python-eggs", eggs, files / "app.wsgi"],
                 tmp_path) as server:
        _, _, body = get(f"http://127.0.0.1:{port}/")
        assert json.loads(body) == {"LANG": "en_GB.UTF-8", "LC_ALL": "en_GB.UTF-8",
                                    "PYTHON_EGG_CACHE": str(eggs)}
        assert noticed(server.stdout) == []
    # --locale wins over --lang, as in express.
    port = free_port()
    with Express(["--port", port, "--log-to-terminal", "--server-root", tmp_path / "root2",
                  "--lang", "en_GB.UTF-8", "--locale", "C.UTF-8", files / "app.wsgi"],
                 tmp_path):
        _, _, body = get(f"http://127.0.0.1:{port}/")
        assert json.loads(body)["LANG"] == "C.UTF-8"
        assert json.loads(body)["PYTHON_EGG_CACHE"] is None


def test_shell_executable_is_the_control_scripts_shell(files, tmp_path):
    done = setup_server(files, tmp_path, "--shell-executable")
    assert done.returncode == 0, done.stderr
    script = tmp_path / "root" / "apachectl"
    assert script.read_text().startswith("#!/bin/bash\n")
    status = subprocess.run([str(script), "status"], capture_output=True, text=True, timeout=60)
    assert status.returncode == 3 and "not running" in status.stdout


def test_rewrite_rules_are_refused_naming_the_line_or_skipped_when_asked(files, tmp_path):
    rules = tmp_path / "rewrite.conf"
    # As express includes it: in the document root's <Directory>, where RewriteBase may be.
    rules.write_text("# from mod_wsgi-express\nRewriteBase /\nRewriteRule ^old$ new [R=301]\n")
    command = [str(BINARY), "start-server", "--rewrite-rules", str(rules),
               "--server-root", str(tmp_path / "root"), str(files / "app.wsgi")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    unsupported = ("is not supported: oxwsgi has no mod_rewrite; express the rule with Alias, "
                   "Redirect or in the application; remove it, or start with "
                   "--ignore-unsupported to skip it\n")
    assert done.stderr == (
        f"{rules}:2: error: RewriteBase {unsupported}"
        f"{rules}:3: error: RewriteRule {unsupported}"
        "oxwsgi: the --rewrite-rules file has 2 error(s); nothing was started\n")
    port = free_port()
    with Express(["--port", port, "--log-to-terminal", "--server-root", tmp_path / "root",
                  "--rewrite-rules", rules, "--ignore-unsupported", files / "app.wsgi"],
                 tmp_path) as server:
        assert get(f"http://127.0.0.1:{port}/old")[0] == 200
        assert f"{rules}:3: warning: RewriteRule is not supported" in server.log()
    missing = subprocess.run([str(BINARY), "start-server", "--rewrite-rules", "nope.conf",
                              str(files / "app.wsgi")], capture_output=True, text=True,
                             cwd=tmp_path, timeout=60)
    assert missing.returncode == 2
    assert missing.stderr == (f"oxwsgi: the --rewrite-rules file '{tmp_path}/nope.conf' cannot "
                              "be read: No such file or directory (os error 2)\n")


# --- command lines of the shapes public projects use -------------------------------------------


@pytest.fixture
def project():
    """A project directory: a WSGI script, a Flask package, static files, an Apache include
    file. Readable by everyone (pytest's own directories are not), for the lines that run the
    application as another user; removed after the test."""
    tmp_path = pathlib.Path(tempfile.mkdtemp(prefix="oxwsgi-express-lines-"))
    tmp_path.chmod(0o755)
    yield from _project(tmp_path)
    shutil.rmtree(tmp_path, ignore_errors=True)


def _project(tmp_path):
    (tmp_path / "wsgi.py").write_text(
        "def application(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [('script ' + environ['SCRIPT_NAME'] + environ['PATH_INFO']).encode()]\n"
    )
    package = tmp_path / "myproj"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "wsgi.py").write_text(
        "from flask import Flask\n"
        "app = Flask(__name__)\n"
        "application = app\n"
        "@app.route('/')\n"
        "def index():\n"
        "    return 'flask index'\n"
    )
    static = tmp_path / "static"
    static.mkdir()
    (static / "site.css").write_text("body { color: red }\n")
    htdocs = tmp_path / "htdocs"
    htdocs.mkdir()
    (htdocs / "index.html").write_text("<h1>home</h1>\n")
    (tmp_path / "extra.conf").write_text(
        f"Alias /media/ {static}/\n"
        "<Location /private>\n    Require all denied\n</Location>\n"
    )
    yield tmp_path


def server_cert(project):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                    "/CN=localhost", "-keyout", "server.key", "-out", "server.crt"],
                   cwd=project, check=True, capture_output=True)
    return project / "server"


def line_docker_wsgi_py(p, port):
    # Dockerfile CMD of the mod_wsgi-docker images (without --user/--group: see the variant
    # below).
    return (["--port", port, "--log-to-terminal", "--startup-log", "wsgi.py"],
            "/", 200, b"script /")


def line_module_with_static(p, port):
    return (["--port", port, "--url-alias", "/static", "static", "--application-type",
             "module", "myproj.wsgi", "--log-to-terminal"],
            "/static/site.css", 200, b"body { color: red }\n")


def line_module_flask(p, port):
    return (["--port", port, "--application-type", "module", "--callable-object", "app",
             "--log-to-terminal", "myproj.wsgi"], "/", 200, b"flask index")


def line_https_processes(p, port):
    cert = server_cert(p)
    return (["--processes", "2", "--threads", "10", "--server-root", p / "express-80",
             "--port", free_port(), "--https-port", port, "--ssl-certificate", cert,
             "--log-to-terminal", "wsgi.py"], "https", 200, b"script /")


def line_include_file(p, port):
    return (["--port", port, "--include-file", "extra.conf", "--log-to-terminal", "wsgi.py"],
            "/media/site.css", 200, b"body { color: red }\n")


def line_entry_point_working_directory(p, port):
    return (["--port", port, "--working-directory", p, "--entry-point", "wsgi.py",
             "--log-to-terminal", "--log-level", "info"], "/hello", 200, b"script /hello")


def line_procfile(p, port):
    # Heroku-style Procfile: `web: mod_wsgi-express start-server --port $PORT ...`.
    return (["--port", port, "--log-to-terminal", "--access-log",
             "--max-clients", "20", "--processes", "1", "--threads", "5",
             "--trust-proxy-header", "X-Forwarded-For", "--trust-proxy-header",
             "X-Forwarded-Proto", "wsgi.py"], "/", 200, b"script /")


def line_mount_point_document_root(p, port):
    return (["--port", port, "--mount-point", "/app", "--document-root", "htdocs",
             "--directory-index", "index.html", "--log-to-terminal", "wsgi.py"],
            "/app/x", 200, b"script /app/x")


def line_old_docker_tuning(p, port):
    # Older images tuned Apache's MPM and the daemon sockets; accepted, named in the notice.
    return (["--port", port, "--log-to-terminal", "--startup-log", "--server-mpm", "event",
             "--initial-workers", "0.2", "--minimum-spare-workers", "0.1",
             "--maximum-spare-workers", "0.3", "--socket-prefix", p, "--header-buffer-size",
             "65536", "--python-eggs", p / "eggs", "--lang", "C.UTF-8", "wsgi.py"],
            "/", 200, b"script /")


def line_compression_limits(p, port):
    return (["--port", port, "--compress-responses", "--enable-sendfile",
             "--keep-alive-timeout", "5", "--limit-request-body", "1048576",
             "--request-timeout", "30", "--log-to-terminal", "wsgi.py"], "/", 200, b"script /")


def line_server_name_access_log(p, port):
    return (["--port", port, "--server-name", "localhost", "--allow-localhost",
             "--access-log", "--access-log-format", "combined", "--log-to-terminal",
             "--maximum-requests", "1000", "--graceful-timeout", "10", "wsgi.py"],
            "/", 200, b"script /")


def line_log_files_rotation(p, port):
    # A service writing its logs to files in a log directory, rotated.
    logs = p / "logs"
    logs.mkdir()
    return (["--port", port, "--server-root", p / "root", "--log-directory", logs,
             "--rotate-logs", "--max-log-size", "10", "--access-log", "--startup-log",
             "wsgi.py"], "/", 200, b"script /")


# Lines with --user/--group, --reload-on-changes, --setenv/--passenv/--process-group.


def line_docker_user_group(p, port):
    # The mod_wsgi-docker images' CMD, as root: the application runs as an unprivileged user.
    user = TEST_USER or pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name
    return (["--port", port, "--user", user, "--group", group, "--log-to-terminal",
             "--startup-log", "wsgi.py"], "/", 200, b"script /")


def line_development_reload(p, port):
    return (["--port", port, "--reload-on-changes", "--log-to-terminal", "--log-level",
             "info", "wsgi.py"], "/dev", 200, b"script /dev")


def line_environment(p, port):
    return (["--port", port, "--setenv", "APP_MODE", "production", "--passenv", "HOME",
             "--process-group", "myapp", "--application-group", "%{GLOBAL}",
             "--log-to-terminal", "--application-type", "module", "myproj.wsgi"],
            "/", 200, b"flask index")


LINES = [
    line_docker_user_group, line_development_reload, line_environment,
    line_docker_wsgi_py, line_module_with_static, line_module_flask, line_https_processes,
    line_include_file, line_entry_point_working_directory, line_procfile,
    line_mount_point_document_root, line_old_docker_tuning, line_compression_limits,
    line_server_name_access_log, line_log_files_rotation,
]


@pytest.mark.parametrize("line", LINES, ids=[f.__name__[5:] for f in LINES])
def test_express_command_lines_start_and_serve(line, project):
    port = free_port()
    args, path, status, body = line(project, port)
    error_log = None
    if "--log-to-terminal" not in args:
        error_log = project / "logs" / "error_log"
    with Express(args, project, error_log=error_log) as server:
        url = (f"https://127.0.0.1:{port}/" if path == "https"
               else f"http://127.0.0.1:{port}{path}")
        got_status, _, got_body = get(url)
        assert (got_status, got_body) == (status, body), server.log()


def test_setup_server_then_the_control_script_serves(project):
    # `mod_wsgi-express setup-server wsgi.py --port N --server-root DIR`, then
    # `DIR/apachectl start` and `DIR/apachectl stop`, as a service would.
    port = free_port()
    root = project / "express-8000"
    env = dict(os.environ, VIRTUAL_ENV=str(VENV))
    done = subprocess.run(
        [str(BINARY), "setup-server", "wsgi.py", "--port", str(port), "--server-root",
         str(root), "--shell-executable", "/bin/bash", "--server-mpm", "event"],
        capture_output=True, text=True, env=env, cwd=project, timeout=60)
    assert done.returncode == 0, done.stderr
    assert noticed(done.stderr) == ["--server-mpm"]
    control = root / "apachectl"
    started = subprocess.run([str(control), "start"], capture_output=True, text=True, env=env,
                             stdin=subprocess.DEVNULL, timeout=120)
    pid = None
    try:
        assert started.returncode == 0, started.stderr
        pid = int(wait_for_file(root / "oxwsgi.pid").read_text())
        wait_until(lambda: READY.search((root / "error_log").read_text()),
                   what="the server to be ready")
        assert get(f"http://127.0.0.1:{port}/x")[2] == b"script /x"
        stopped = subprocess.run([str(control), "stop"], capture_output=True, text=True,
                                 env=env, timeout=120)
        assert stopped.returncode == 0, stopped.stderr
        wait_until(lambda: is_gone(pid), what="the server to end")
    finally:
        if pid is not None and not is_gone(pid):
            os.kill(pid, signal.SIGKILL)


def test_the_daemon_groups_python_eggs_reaches_the_application(project):
    # mod_wsgi's own spelling of --python-eggs: WSGIDaemonProcess python-eggs=DIR.
    from support import user_directive
    port = free_port()
    (project / "env.wsgi").write_text(
        "import os\n"
        "def application(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [os.environ.get('PYTHON_EGG_CACHE', 'unset').encode()]\n"
    )
    (project / "site.conf").write_text(
        f"Listen 127.0.0.1:{port}\n"
        f"{user_directive()}\n"
        f"WSGIDaemonProcess eggs python-home={VENV} python-eggs={project}/eggs\n"
        f"WSGIProcessGroup eggs\n"
        f"WSGIScriptAlias / {project}/env.wsgi\n"
    )
    with Express(["--config", project / "site.conf", "--log-to-terminal", "--server-root",
                  project / "root"], project):
        assert get(f"http://127.0.0.1:{port}/")[2] == f"{project}/eggs".encode()


def test_options_parse_as_optparse_does_last_value_wins_and_prefixes(project):
    # A Dockerfile's ENTRYPOINT options followed by the CMD's: the last --port wins, as in
    # optparse; `--processe` and `--thr` are unique prefixes of --processes and --threads
    # (`--proc` is not: --process-group and --process-name start so too, here as in express).
    port = free_port()
    with Express(["--port", "8000", "--log-to-terminal", "--processe", "2", "--thr", "3",
                  "--port", port, "--log-to-terminal", "wsgi.py"], project) as server:
        assert get(f"http://127.0.0.1:{port}/")[2] == b"script /"
        assert "Request Capacity   : 6 (2 processes * 3 threads)" in server.stdout
