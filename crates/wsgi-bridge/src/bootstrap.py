"""Start-up helpers of oxwsgi, compiled into the server binary.

They load WSGI applications the way mod_wsgi does and format exceptions for the error log.
Everything here runs once per worker process, before the first request; nothing here is on the
request path, which is written in Rust.
"""

import hashlib
import html
import importlib
import os
import sys
import traceback
import types

_THIS_FILE = "<oxwsgi bootstrap>"


def script_module_name(path):
    """The module name mod_wsgi gives a WSGI script: unique per path, so that two scripts
    called app.wsgi in different directories do not replace each other in sys.modules."""
    digest = hashlib.md5(path.encode("utf-8"), usedforsecurity=False).hexdigest()
    return "_mod_wsgi_" + digest


def load_script(path):
    """Executes a WSGI script file as a fresh module, with __file__ set, and returns it.

    The file need not end in .py, and no bytecode is cached for it, as with mod_wsgi."""
    path = os.fspath(path)
    name = script_module_name(path)
    with open(path, "rb") as f:
        source = f.read()
    code = compile(source, path, "exec", dont_inherit=True)
    module = types.ModuleType(name)
    module.__file__ = path
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    except BaseException:
        del sys.modules[name]
        raise
    return module


# The paths WSGIImportScript loaded into this process (preload_script).
_preloaded = set()


def preload_script(path):
    """Loads a WSGIImportScript file at process start, as mod_wsgi does: as the module a WSGI
    script of that path gets (script_module_name), so that an application of the same file
    then uses that module (load_app_script) instead of executing the file again."""
    path = os.fspath(path)
    load_script(path)
    _preloaded.add(path)


def load_app_script(path):
    """Loads an application's script: the module a WSGIImportScript already loaded from the
    same file, if any (mod_wsgi finds it in sys.modules), else a fresh one."""
    path = os.fspath(path)
    module = sys.modules.get(script_module_name(path))
    if path in _preloaded and module is not None:
        return module
    return load_script(path)


def load_auth_script(path):
    """Loads a WSGIAuthUserScript, WSGIAuthGroupScript or WSGIAccessScript file the way
    mod_wsgi does: as the module a WSGI script of that path gets (script_module_name), so a
    file that is also an application's script is that same module, executed once."""
    path = os.fspath(path)
    module = sys.modules.get(script_module_name(path))
    if module is not None and getattr(module, "__file__", None) == path:
        return module
    return load_script(path)


def load_module(name):
    """Imports an application module by name (``--application-type module``)."""
    return importlib.import_module(name)


def load_paste(ini_path):
    """Loads a PasteDeploy application (``--application-type paste``), pipelines and filters
    included. Like mod_wsgi-express, the ini file's [loggers] sections configure logging."""
    from paste.deploy import loadapp

    ini_path = os.fspath(ini_path)
    _configure_logging(ini_path)
    return loadapp("config:" + ini_path)


def _configure_logging(ini_path):
    import configparser

    parser = configparser.ConfigParser()
    parser.read(ini_path)
    if parser.has_section("loggers"):
        import logging.config

        defaults = {"__file__": ini_path, "here": os.path.dirname(ini_path)}
        logging.config.fileConfig(ini_path, defaults, disable_existing_loggers=False)


def public_callables(module):
    """Names of public callables a module defines, offered as suggestions when the expected
    WSGI callable is missing."""
    names = []
    for name, value in vars(module).items():
        if name.startswith("_") or isinstance(value, types.ModuleType):
            continue
        if callable(value):
            names.append(name)
    return sorted(names)[:10]


def format_exception(exc, tb=None):
    """The exception as Python prints it, without the frames of this loader."""
    tb = tb if tb is not None else exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == _THIS_FILE:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def load_hint(exc, what):
    """One line telling the user what to do about an exception raised while loading."""
    if isinstance(exc, SyntaxError):
        return "fix the syntax error at %s line %s" % (exc.filename, exc.lineno)
    if isinstance(exc, ModuleNotFoundError):
        return (
            "module %r is not importable by %s; install it into that Python or point "
            "--python-home at the virtual environment that has it (sys.path is %s)"
            % (exc.name, sys.executable, sys.path)
        )
    if isinstance(exc, FileNotFoundError) and getattr(exc, "filename", None):
        return "the file %s does not exist" % exc.filename
    return "the %s raised while being imported; fix the error above" % what


WELCOME_PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>oxwsgi is running</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto; line-height: 1.5">
<h1>oxwsgi is running</h1>
<p>No WSGI application was given, so this page is served instead.</p>
<p>To serve your application, name its WSGI script file:</p>
<pre>oxwsgi start-server app.wsgi</pre>
<p>or a module (<code>--application-type module mysite.wsgi</code>) or a PasteDeploy
configuration (<code>--application-type paste development.ini</code>).
<code>oxwsgi start-server --help</code> lists every option.</p>
<p><small>%(server)s, Python %(python)s</small></p>
</body>
</html>
"""


def welcome_application(server_software):
    """The application served when none is given, like mod_wsgi-express's default page."""
    python = sys.version.split()[0]
    page = WELCOME_PAGE % {"server": html.escape(server_software), "python": python}
    body = page.encode("utf-8")
    headers = [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Length", str(len(body))),
    ]

    def application(environ, start_response):
        start_response("200 OK", headers)
        return [body]

    return application


def guard_forked_children(server_fds, mark_forked):
    """Makes a child the application forks (os.fork(), multiprocessing's fork start method)
    let go of the server: it closes the listening sockets and the control pipe it inherited,
    so that it cannot keep the port open after the server stops, and takes the default action
    for the stop signals again (the server's handlers would otherwise swallow them).
    `mark_forked` tells the Rust side, which ends a child that returns into the server."""
    import signal

    def after_in_child():
        mark_forked()
        for fd in server_fds:
            try:
                os.close(fd)
            except OSError:
                pass
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            try:
                signal.signal(signum, signal.SIG_DFL)
            except (OSError, ValueError):
                pass

    os.register_at_fork(after_in_child=after_in_child)


def install_crash_reports(dump_signal):
    """Makes a worker's sudden ends name the application's file and line in the error log:

    - a crash (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT) dumps every thread's Python stack,
      with faulthandler, before the process dies;
    - `dump_signal` dumps every thread's stack and goes on: the server raises it when the
      interpreter is deadlocked, since faulthandler needs no GIL;
    - os._exit() called by the application (in this process, not in a forked child) says where
      it was called before the process goes.

    All three write to descriptor 2, which is the error log once the worker is ready."""
    import faulthandler

    faulthandler.enable(file=2, all_threads=True)
    faulthandler.register(dump_signal, file=2, all_threads=True, chain=False)
    worker_pid = os.getpid()
    real_exit = os._exit

    def _exit(status):
        if os.getpid() == worker_pid:
            frame = sys._getframe(1)
            message = 'the application called os._exit(%r) at File "%s", line %d, in %s\n' % (
                status,
                frame.f_code.co_filename,
                frame.f_lineno,
                frame.f_code.co_name,
            )
            try:
                os.write(2, ("oxwsgi: " + message).encode("utf-8", "replace"))
            except OSError:
                pass
        real_exit(status)

    _exit.__doc__ = real_exit.__doc__
    os._exit = _exit


def _stop_service(signum, frame):
    """SIGTERM in a service: the supervisor stops it; the script's `finally` blocks and
    `atexit` functions run."""
    raise SystemExit(0)


def run_service(path):
    """Runs a service script (--service-script) as `python FILE` would: as the module
    `__main__`, with `sys.argv` `[FILE]` and the file's directory first on sys.path. SIGTERM
    raises SystemExit in it (a script may install its own handler). When the script returns,
    the process stays, for the threads it started, until the server stops it, as mod_wsgi's
    daemon process of a `WSGIImportScript` does.

    Returns the exit status: SystemExit's code (0 for SIGTERM); other exceptions propagate."""
    import signal

    path = os.fspath(path)
    with open(path, "rb") as f:
        source = f.read()
    code = compile(source, path, "exec", dont_inherit=True)
    module = types.ModuleType("__main__")
    module.__file__ = path
    sys.modules["__main__"] = module
    sys.argv = [path]
    sys.path.insert(0, os.path.dirname(path))
    signal.signal(signal.SIGTERM, _stop_service)
    try:
        exec(code, module.__dict__)
        while True:
            signal.pause()
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code & 0xFF
        print(code, file=sys.stderr)
        return 1
