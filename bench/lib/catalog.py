"""What bench/run measures: the paths, the scenarios, the process and thread settings, and the
servers, each with the command line that starts it and a note of how it is set up. Adding a
server is adding a class here (and its name to SERVERS); adding a scenario is adding an app under
bench/apps/ and a Scenario."""

from __future__ import annotations

import abc
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
VENV = BENCH / ".venv"
OUT = BENCH / "out"
STATUS = OUT / "peers-status.tsv"
OXWSGI = ROOT / "target" / "release" / "oxwsgi"
REFERENCE = BENCH / "reference" / "target" / "release"
BENCH_USER = "oxwsgi-bench"
PAGE = os.sysconf("SC_PAGE_SIZE")
# Connections a server must accept at once: the most any scenario opens (512), with room.
CONNECTION_ROOM = 1024


# --- Scenarios -------------------------------------------------------------------------------


@dataclass(frozen=True)
class App:
    """A WSGI script file, its directory and its module name."""

    script: Path

    @property
    def dir(self) -> Path:
        return self.script.parent

    @property
    def module(self) -> str:
        return self.script.stem


APPS = {
    "hello": App(BENCH / "hello.py"),
    "payload64k": App(BENCH / "apps" / "payload64k.py"),
    "echo": App(BENCH / "apps" / "echo.py"),
    "flask": App(BENCH / "apps" / "flask_json.py"),
    "stream": App(BENCH / "apps" / "stream.py"),
    "sleep": App(BENCH / "apps" / "sleep.py"),
}

STATIC_FILE = "file-100k.bin"
STATIC_SIZE = 100 * 1024
ECHO_SIZE = 1024 * 1024


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    app: str
    path: str = "/"
    connections: int = 64
    headers: tuple[str, ...] = ()
    lua: str | None = None
    static: bool = False
    # What a correct answer is: its body length, or None to check for JSON instead.
    expect_bytes: int | None = 13
    method: str = "GET"
    body: bytes | None = None

    @property
    def group(self) -> tuple[str, bool]:
        """Scenarios of one group run on the same server start."""
        return (self.app, self.static)

    @property
    def hello_like(self) -> bool:
        """The reference servers answer these (the hello application, without static files)."""
        return self.app == "hello" and not self.static


SCENARIOS = [
    Scenario("hello", "hello (13 B), 64 conns", "hello"),
    Scenario("hello-c1", "hello, 1 conn", "hello", connections=1),
    Scenario("hello-c512", "hello, 512 conns", "hello", connections=512),
    Scenario("hello-close", "hello, new connection each", "hello", headers=("Connection: close",)),
    Scenario("64k", "64 KiB response", "payload64k", expect_bytes=65536),
    Scenario(
        "echo-1m", "1 MiB POST echoed", "echo", lua="post-1m.lua", expect_bytes=ECHO_SIZE,
        method="POST", body=b"x" * ECHO_SIZE,
    ),
    Scenario("flask", "Flask JSON", "flask", path="/json", expect_bytes=None),
    Scenario("stream", "generator, 100 × 1 KiB", "stream", expect_bytes=100 * 1024),
    Scenario(
        "static", "static file, 100 KiB", "hello", path=f"/static/{STATIC_FILE}", static=True,
        expect_bytes=STATIC_SIZE,
    ),
    Scenario("sleep", "app sleeping 10 ms", "sleep"),
]
SCENARIO_BY_NAME = {s.name: s for s in SCENARIOS}


@dataclass(frozen=True)
class Config:
    processes: int
    threads: int

    @property
    def name(self) -> str:
        return f"{self.processes}x{self.threads}"

    @property
    def title(self) -> str:
        p, t = self.processes, self.threads
        return f"{p} process{'es' if p > 1 else ''} × {t} thread{'s' if t > 1 else ''}"


# --- Servers ---------------------------------------------------------------------------------


@dataclass
class Launch:
    argv: list[str]
    cwd: Path = BENCH
    env: dict[str, str] = field(default_factory=dict)


class Context:
    """Where a run keeps its files: a temporary directory open to the bench user."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="oxwsgi-bench-"))
        self.dir.chmod(0o755)
        self.static = self.dir / "static"
        self.static.mkdir()
        self.static.chmod(0o755)
        data = self.static / STATIC_FILE
        data.write_bytes(os.urandom(STATIC_SIZE))
        data.chmod(0o644)
        self.starts = 0

    def fresh_dir(self, name: str) -> Path:
        """A directory path for one server start (not created: the servers make their own)."""
        self.starts += 1
        return self.dir / f"{name}-{self.starts}"

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def status_reasons() -> dict[str, str]:
    """What bench/run's setup could not install: peers-status.tsv, name -> reason."""
    reasons = {}
    if STATUS.exists():
        for line in STATUS.read_text().splitlines():
            name, _, reason = line.partition("\t")
            reasons.setdefault(name.lower(), reason)
    return reasons


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


class Server(abc.ABC):
    name = ""
    title = ""
    package: str | None = None  # the pip package, to find why it is missing
    static = False  # serves the static-file scenario
    hello_only = False  # runs the hello scenarios only (the references)
    python = True  # runs the WSGI applications

    def missing(self) -> str | None:
        """Why this server cannot run here at all, or None."""
        return None

    def unsupported(self, scenario: Scenario) -> str | None:
        if scenario.static and not self.static:
            return "serves no static files"
        if self.hello_only and not scenario.hello_like:
            return "hello only"
        if not self.python and not scenario.static:
            return "static files only"
        return None

    def layout(self, config: Config) -> str:
        return config.title

    def notes(self) -> str:
        return ""

    @abc.abstractmethod
    def launch(self, ctx: Context, app: App, config: Config, port: int, static: bool) -> Launch:
        """The command (and files) that start this server for `app` at `config` on `port`."""

    def _missing_venv_tool(self, tool: str) -> str | None:
        if (VENV / "bin" / tool).exists():
            return None
        reason = status_reasons().get(self.package or self.name)
        return reason or f"{VENV / 'bin' / tool} is missing (run bench/run without --no-setup)"


class Oxwsgi(Server):
    name, title = "oxwsgi", "oxwsgi"
    static = True

    def binary(self) -> Path:
        return OXWSGI

    def missing(self):
        binary = self.binary()
        return None if binary.exists() else f"{binary} is missing (cargo build --release)"

    def notes(self):
        return (f"`--daemon-backlog {CONNECTION_ROOM}` (default 100: more requests waiting for a "
                "thread get a 503); static files with `--url-alias /static DIR`")

    def launch(self, ctx, app, config, port, static):
        argv = [
            str(self.binary()), "start-server", "--host", "127.0.0.1", "--port", str(port),
            "--processes", str(config.processes), "--threads", str(config.threads),
            "--server-root", str(ctx.fresh_dir(self.name)), "--python-home", str(VENV),
            "--daemon-backlog", str(CONNECTION_ROOM), "--log-to-terminal",
        ]
        if static:
            argv += ["--url-alias", "/static", str(ctx.static)]
        return Launch(argv + [str(app.script)])


class OxwsgiBaseline(Oxwsgi):
    """The same command line on another build of oxwsgi, named by OXWSGI_BASELINE: an
    earlier commit, beside this one in the same run."""

    name, title = "oxwsgi-base", "oxwsgi, baseline build"

    def binary(self) -> Path:
        return Path(os.environ.get("OXWSGI_BASELINE", "/nonexistent/oxwsgi-baseline"))

    def missing(self):
        if "OXWSGI_BASELINE" not in os.environ:
            return "OXWSGI_BASELINE names no binary (build an earlier commit and set it)"
        return super().missing()

    def notes(self):
        return f"`{self.binary()}`, with the same options as oxwsgi"


class OxwsgiSite(Server):
    """oxwsgi running an Apache site file: the application in one WSGIDaemonProcess, whose
    workers accept on the address themselves (no hop)."""

    name, title = "oxwsgi-site", "oxwsgi, Apache site file"
    static = True
    other_group = False

    def missing(self):
        return None if OXWSGI.exists() else f"{OXWSGI} is missing (cargo build --release)"

    def notes(self):
        if self.other_group:
            return ("a second WSGIDaemonProcess mounted at /other makes the address the front "
                    "tier's, which forwards each request to the first group over its unix socket")
        return "`WSGIDaemonProcess app processes=P threads=T` and `WSGIScriptAlias /`"

    def launch(self, ctx, app, config, port, static):
        root = ctx.fresh_dir(self.name)
        root.mkdir()
        # The front tier (the bench user) reaches the groups' sockets here.
        root.chmod(0o755)
        user = f"User {BENCH_USER}" if os.getuid() == 0 else ""
        lines = [
            f"Listen 127.0.0.1:{port}",
            "LogLevel warn",
            user,
            f"WSGIDaemonProcess app processes={config.processes} threads={config.threads} "
            f"python-home={VENV} listen-backlog={CONNECTION_ROOM}",
        ]
        if self.other_group:
            lines += [
                f"WSGIDaemonProcess other processes=1 threads=1 python-home={VENV}",
                f"WSGIScriptAlias /other {app.script} process-group=other "
                "application-group=%{GLOBAL}",
            ]
        lines.append(f"WSGIScriptAlias / {app.script} process-group=app application-group=%{{GLOBAL}}")
        if static:
            lines += [f"Alias /static {ctx.static}",
                      f"<Directory {ctx.static}>", "  Require all granted", "</Directory>"]
        conf = root / "site.conf"
        conf.write_text("\n".join(lines) + "\n")
        conf.chmod(0o644)
        return Launch([str(OXWSGI), "start-server", "--server-root", str(root), "--log-to-terminal",
                       "--config", str(conf)])


class OxwsgiHop(OxwsgiSite):
    name, title = "oxwsgi-hop", "oxwsgi, front tier hop"
    other_group = True


class ReferenceServer(Server):
    hello_only = True
    binary = ""

    def missing(self):
        if (REFERENCE / self.binary).exists():
            return None
        return status_reasons().get("reference") or f"{REFERENCE / self.binary} is missing"

    def layout(self, config):
        return f"{config.title} (tokio worker threads)"


class Hyper(ReferenceServer):
    name, title, binary = "hyper", "hyper, no Python", "hello"

    def notes(self):
        return "bench/reference `hello`: hyper + tokio answering the same 13 bytes without Python"

    def launch(self, ctx, app, config, port, static):
        return Launch([str(REFERENCE / self.binary), "--host", "127.0.0.1", "--port", str(port),
                       "--processes", str(config.processes), "--threads", str(config.threads)])


class Inline(ReferenceServer):
    name, title, binary = "inline", "hyper + Python inline", "inline"

    def notes(self):
        return ("bench/reference `inline`: hyper + tokio calling bench/hello.py's `application` "
                "in the connection task; one Python thread state per runtime thread, for life")

    def launch(self, ctx, app, config, port, static):
        return Launch([str(REFERENCE / self.binary), "--host", "127.0.0.1", "--port", str(port),
                       "--processes", str(config.processes), "--threads", str(config.threads),
                       str(app.script)])


class Granian(Server):
    name, title, package = "granian", "Granian", "granian"
    static = True

    def missing(self):
        return self._missing_venv_tool("granian")

    def layout(self, config):
        return (f"{config.processes} worker{'s' if config.processes > 1 else ''} × "
                f"{config.threads} blocking threads")

    def notes(self):
        return ("`--interface wsgi --workers P --blocking-threads T` (1 runtime thread per worker, "
                "its default); static files with `--static-path-mount`")

    def launch(self, ctx, app, config, port, static):
        argv = [
            str(VENV / "bin" / "granian"), "--interface", "wsgi", "--host", "127.0.0.1",
            "--port", str(port), "--workers", str(config.processes),
            "--blocking-threads", str(config.threads), "--working-dir", str(app.dir),
            "--log-level", "warning",
        ]
        if static:
            argv += ["--static-path-route", "/static", "--static-path-mount", str(ctx.static)]
        return Launch(argv + [f"{app.module}:application"], cwd=app.dir)


class GunicornSync(Server):
    name, title, package = "gunicorn-sync", "gunicorn sync", "gunicorn"

    def missing(self):
        return self._missing_venv_tool("gunicorn")

    def layout(self, config):
        n = config.processes * config.threads
        return f"{n} processes × 1 thread (sync worker)"

    def notes(self):
        return ("`-k sync -w P×T`: the sync worker has no threads, so as many processes as the "
                "others have threads; it closes the connection after each response")

    def launch(self, ctx, app, config, port, static):
        return Launch([
            str(VENV / "bin" / "gunicorn"), "--chdir", str(app.dir), "-b", f"127.0.0.1:{port}",
            "-k", "sync", "-w", str(config.processes * config.threads),
            "--log-level", "warning", f"{app.module}:application",
        ], cwd=app.dir)


class GunicornGthread(Server):
    name, title, package = "gunicorn-gthread", "gunicorn gthread", "gunicorn"

    def missing(self):
        return self._missing_venv_tool("gunicorn")

    def notes(self):
        return "`-k gthread -w P --threads T` (1000 connections per worker, its default)"

    def launch(self, ctx, app, config, port, static):
        return Launch([
            str(VENV / "bin" / "gunicorn"), "--chdir", str(app.dir), "-b", f"127.0.0.1:{port}",
            "-k", "gthread", "-w", str(config.processes), "--threads", str(config.threads),
            "--log-level", "warning", f"{app.module}:application",
        ], cwd=app.dir)


class ModWsgi(Server):
    name, title, package = "mod_wsgi", "mod_wsgi-express", "mod_wsgi"
    static = True

    def missing(self):
        reason = self._missing_venv_tool("mod_wsgi-express")
        if reason:
            return reason
        if os.geteuid() == 0 and not user_exists(BENCH_USER):
            return (status_reasons().get("user")
                    or f"user {BENCH_USER} is missing (Apache refuses to run as root)")
        return None

    def notes(self):
        return (f"Apache (event MPM) in front of mod_wsgi daemon processes; `--max-clients "
                f"{CONNECTION_ROOM} --daemon-backlog {CONNECTION_ROOM}` (defaults 1.5 × P × T and "
                f"100), run as user {BENCH_USER}; static files with `--url-alias`")

    def launch(self, ctx, app, config, port, static):
        argv = [
            str(VENV / "bin" / "mod_wsgi-express"), "start-server", "--host", "127.0.0.1",
            "--port", str(port), "--processes", str(config.processes),
            "--threads", str(config.threads), "--server-root", str(ctx.fresh_dir(self.name)),
            "--max-clients", str(CONNECTION_ROOM), "--daemon-backlog", str(CONNECTION_ROOM),
            "--locale", "C.UTF-8", "--log-to-terminal",
        ]
        if os.geteuid() == 0:
            argv += ["--user", BENCH_USER, "--group", BENCH_USER]
        if static:
            argv += ["--url-alias", "/static", str(ctx.static)]
        return Launch(argv + [str(app.script)])


class Uwsgi(Server):
    name, title, package = "uwsgi", "uWSGI", "uwsgi"
    static = True

    def missing(self):
        return self._missing_venv_tool("uwsgi")

    def notes(self):
        return ("its HTTP router in front of the workers, as uWSGI's docs advise when it faces "
                "clients: `--http ADDR --http-keepalive --http-auto-chunked --master --processes P "
                f"--threads T --listen {CONNECTION_ROOM}`; static files with `--static-map`. Asked "
                "for `Connection: close`, the router closes without saying so in the response, "
                "which wrk counts as a read error per request. "
                "(Its native `--http11-socket` keeps a thread per kept-alive connection: at 64 "
                "connections and 4 threads, 60 are never served; `--http-socket` closes every "
                "connection, which wrk counts as an error each.)")

    def launch(self, ctx, app, config, port, static):
        argv = [
            str(VENV / "bin" / "uwsgi"), "--http", f"127.0.0.1:{port}", "--http-keepalive",
            "--http-auto-chunked", "--master", "--processes", str(config.processes),
            "--threads", str(config.threads), "--wsgi-file", str(app.script),
            "--chdir", str(app.dir), "--virtualenv", str(VENV), "--listen", str(CONNECTION_ROOM),
            "--die-on-term", "--need-app", "--disable-logging",
        ]
        if static:
            argv += ["--static-map", f"/static={ctx.static}"]
        return Launch(argv, cwd=app.dir)


class Waitress(Server):
    name, title, package = "waitress", "waitress", "waitress"

    def missing(self):
        return self._missing_venv_tool("waitress-serve")

    def layout(self, config):
        return f"1 process × {config.processes * config.threads} threads (single-process server)"

    def notes(self):
        return (f"`--threads P×T --connection-limit {CONNECTION_ROOM} --backlog {CONNECTION_ROOM}` "
                "(defaults 100 and 1024): one process only")

    def launch(self, ctx, app, config, port, static):
        return Launch([
            str(VENV / "bin" / "waitress-serve"), "--listen", f"127.0.0.1:{port}",
            "--threads", str(config.processes * config.threads),
            "--connection-limit", str(CONNECTION_ROOM), "--backlog", str(CONNECTION_ROOM),
            f"{app.module}:application",
        ], cwd=app.dir)


class Pyruvate(Server):
    name, title, package = "pyruvate", "pyruvate", "pyruvate"

    def missing(self):
        if (VENV / "bin" / "python").exists():
            probe = subprocess.run([str(VENV / "bin" / "python"), "-c", "import pyruvate"],
                                   capture_output=True, text=True)
            if probe.returncode == 0:
                return None
        return (status_reasons().get("pyruvate")
                or "pyruvate does not import in bench/.venv (run bench/run without --no-setup)")

    def layout(self, config):
        return f"1 process × {config.processes * config.threads} workers (single-process server)"

    def notes(self):
        return ("`pyruvate.serve(app, addr, P×T)` (bench/lib/pyruvate_serve.py), chunked transfer "
                "for the generator only; no keep-alive (its default: every response closes its "
                "connection; with keep-alive on, pyruvate 1.6 never answered a connection's "
                "second request here)")

    def launch(self, ctx, app, config, port, static):
        return Launch([
            str(VENV / "bin" / "python"), str(BENCH / "lib" / "pyruvate_serve.py"),
            f"127.0.0.1:{port}", str(config.processes * config.threads), str(app.dir), app.module,
        ], cwd=app.dir)


class Nginx(Server):
    name, title = "nginx", "nginx"
    static = True
    python = False

    def binary(self) -> str | None:
        return shutil.which("nginx") or next(
            (p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)

    def missing(self):
        if self.binary():
            return None
        return status_reasons().get("nginx") or "nginx is not installed (apt-get install nginx)"

    def layout(self, config):
        return f"{config.processes} worker process{'es' if config.processes > 1 else ''} (event loop)"

    def notes(self):
        return ("static files only: `worker_processes P`, `sendfile on`, `tcp_nopush on`, "
                f"`worker_connections {CONNECTION_ROOM}`, access log off")

    def launch(self, ctx, app, config, port, static):
        prefix = ctx.fresh_dir(self.name)
        prefix.mkdir()
        for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (prefix / temp).mkdir()
        user = ""
        if os.geteuid() == 0:
            user = f"user {BENCH_USER if user_exists(BENCH_USER) else 'nobody'};"
        conf = prefix / "nginx.conf"
        conf.write_text(f"""
{user}
worker_processes {config.processes};
daemon off;
pid {prefix}/nginx.pid;
error_log stderr warn;
events {{ worker_connections {CONNECTION_ROOM}; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    types {{ application/octet-stream bin; }}
    server {{
        listen 127.0.0.1:{port};
        location /static/ {{ alias {ctx.static}/; }}
        location / {{ return 200 "Hello World!\\n"; }}
    }}
}}
""")
        return Launch([self.binary(), "-p", str(prefix), "-e", "stderr", "-c", str(conf)])


SERVERS: list[Server] = [
    Oxwsgi(), Hyper(), Inline(), Granian(), GunicornSync(), GunicornGthread(), ModWsgi(),
    Uwsgi(), Waitress(), Pyruvate(), Nginx(), OxwsgiBaseline(), OxwsgiSite(), OxwsgiHop(),
]
SERVER_BY_NAME = {s.name: s for s in SERVERS}
SERVER_ALIASES = {"gunicorn": ["gunicorn-sync", "gunicorn-gthread"], "mod_wsgi-express": ["mod_wsgi"],
                  "apache": ["mod_wsgi"], "references": ["hyper", "inline"],
                  "oxwsgi-paths": ["oxwsgi", "oxwsgi-base", "oxwsgi-site", "oxwsgi-hop"]}


# --- A run's plan -----------------------------------------------------------------------------


@dataclass
class Plan:
    configs: list[Config]
    scenarios: list[Scenario]
    servers: list[Server]
    unavailable: dict[str, str]
    duration: int
    warmup: int
    repetitions: int
    wrk_threads: int
    start_timeout: float

    def groups(self) -> list[list[Scenario]]:
        groups: dict[tuple[str, bool], list[Scenario]] = {}
        for scenario in self.scenarios:
            groups.setdefault(scenario.group, []).append(scenario)
        return list(groups.values())

    def runnable(self, server: Server, group: list[Scenario]) -> list[Scenario]:
        return [s for s in group if server.unsupported(s) is None]

    def estimate(self) -> tuple[int, int, float]:
        starts = loads = 0
        for group in self.groups():
            for server in self.servers:
                n = len(self.runnable(server, group))
                if n:
                    starts += 1
                    loads += n
        starts *= len(self.configs) * self.repetitions
        loads *= len(self.configs) * self.repetitions
        seconds = loads * (self.duration + self.warmup + 0.5) + starts * 3
        return starts, loads, seconds
