"""The developer's tools of oxwsgi: pdb on the terminal (--debug-mode, --enable-debugger,
--debugger-startup) and the list of imported files (--reload-on-changes).

Compiled into the server binary. Under debug mode the worker has one Python thread and the
terminal as its standard input and output; these helpers give the application that terminal
(use_terminal), wrap the application so that an exception escaping it opens pdb's post-mortem
session there (PostMortem), and open pdb once the application is loaded (startup).
"""

import sys
import traceback

_debugger = None


def use_terminal():
    """sys.stdin and sys.stdout become the process's own descriptors 0 and 1 again (the
    terminal), instead of the server's error-log stream: print() and pdb reach the developer."""
    if sys.__stdin__ is not None:
        sys.stdin = sys.__stdin__
    if sys.__stdout__ is not None:
        sys.stdout = sys.__stdout__


def _pdb():
    """The one debugger of the process: breakpoints set in one session stay for the next."""
    global _debugger
    if _debugger is None:
        import pdb

        # nosigint: `c` must not take SIGINT from the server (Ctrl-C stops it).
        _debugger = pdb.Pdb(nosigint=True)
    return _debugger


def startup():
    """Opens pdb before the server takes requests, to set breakpoints; `c` starts serving."""
    debugger = _pdb()
    print(
        "oxwsgi: the application is loaded; set breakpoints (b FILE:LINE), then c to serve",
        flush=True,
    )
    debugger.set_trace(sys._getframe())
    return


def _trace_breakpoints():
    """Makes the breakpoints set in an earlier session stop this request: pdb traces only the
    thread it was opened in, and requests run on another. Nothing is traced without them."""
    debugger = _debugger
    if debugger is None or not debugger.breaks:
        return False
    frame = sys._getframe(1)
    debugger.quitting = False
    # Stop at breakpoints only, as after `c`: the request's outermost frame is the bottom.
    debugger.botframe = frame
    debugger._set_stopinfo(frame, None, -1)
    sys.settrace(debugger.trace_dispatch)
    return True


def _post_mortem(exc, environ):
    import bdb

    if isinstance(exc, bdb.BdbQuit):
        return
    out = sys.stdout
    out.write(
        "\noxwsgi: %s escaped the application (%s %s); post-mortem debugging with pdb, "
        "`c` sends the client its 500\n"
        % (type(exc).__name__, environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""))
    )
    out.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    out.flush()
    debugger = _pdb()
    debugger.reset()
    debugger.interaction(None, exc.__traceback__)


class PostMortem:
    """The application, with pdb's post-mortem session on what escapes its call, its
    iteration and its close (mod_wsgi-express's --enable-debugger)."""

    def __init__(self, application):
        self.application = application

    def __call__(self, environ, start_response):
        tracing = _trace_breakpoints()
        try:
            result = self.application(environ, start_response)
        except Exception as exc:
            if tracing:
                sys.settrace(None)
            _post_mortem(exc, environ)
            raise
        if type(result) in (list, tuple):
            if tracing:
                sys.settrace(None)
            return result
        return _Result(result, environ, tracing)


class _Result:
    def __init__(self, result, environ, tracing):
        self.result = result
        self.environ = environ
        self.tracing = tracing

    def __iter__(self):
        try:
            for item in self.result:
                yield item
        except Exception as exc:
            _post_mortem(exc, self.environ)
            raise

    def close(self):
        try:
            close = getattr(self.result, "close", None)
            if close is not None:
                close()
        except Exception as exc:
            _post_mortem(exc, self.environ)
            raise
        finally:
            if self.tracing:
                sys.settrace(None)


def imported_files():
    """The files of the modules imported so far (their source, for compiled ones): what
    --reload-on-changes watches."""
    files = []
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not isinstance(path, str) or not path:
            continue
        if path.endswith((".pyc", ".pyo")):
            path = path[:-1]
        files.append(path)
    return files
