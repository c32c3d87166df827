"""The developer's instruments of oxwsgi, compiled into the server binary: a cProfile profile
of each request (--enable-profiler), coverage.py measurement with an HTML report when a worker
stops (--enable-coverage), and a copy of each request and response (--enable-recorder).

The profiler and the recorder wrap the WSGI application; coverage starts before the
application loads. They read and write files only; the request and response bodies go through
the server's own wsgi.input and start_response, which wait without Python's lock.
"""

import atexit
import os
import pprint
import re
import shutil
import sys
import threading
import time
import traceback

class _RequestKeys:
    """Names requests as mod_wsgi-express's recorder does, TIME-PID-COUNT: microseconds
    since the epoch, the worker's pid and a count of the requests this instrument saw in this
    worker, so that two requests never share a name."""

    def __init__(self):
        self._lock = threading.Lock()
        self._count = 0

    def next(self):
        with self._lock:
            self._count += 1
            count = self._count
        return "%d-%d-%d" % (int(time.time() * 1000000), os.getpid(), count)


_NOT_IN_A_NAME = re.compile(r"[^A-Za-z0-9.-]+")


def _url_in_a_name(environ):
    """The request's method and URL path as part of a file name: GET-hello_world for
    GET /hello/world, GET-root for /. Cut to 100 characters."""
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    name = _NOT_IN_A_NAME.sub("_", path.strip("/"))[:100] or "root"
    method = _NOT_IN_A_NAME.sub("_", environ.get("REQUEST_METHOD", "")) or "_"
    return "%s-%s" % (method, name)


class _Once:
    """Runs a function the first time it is called, never again: the end of a request may be
    reached by an exception and then by close()."""

    def __init__(self, function):
        self._function = function

    def __call__(self):
        function, self._function = self._function, None
        if function is not None:
            function()


# ===== profiler =====


class _ProfiledResponse:
    """The application's response, profiled while it is iterated and closed; the profile is
    written when it is closed (the server always closes a response)."""

    def __init__(self, profile, result, iterator, finish):
        self._profile = profile
        self._result = result
        self._iterator = iterator
        self._finish = finish

    def __iter__(self):
        return self

    def __next__(self):
        self._profile.enable()
        try:
            return next(self._iterator)
        finally:
            self._profile.disable()

    def close(self):
        try:
            close = getattr(self._result, "close", None)
            if close is not None:
                self._profile.enable()
                try:
                    close()
                finally:
                    self._profile.disable()
        finally:
            self._finish()


def profiled(application, directory):
    """Wraps `application` so that each request is profiled with cProfile, from the call to
    the close of its response, into DIRECTORY/TIME-PID-COUNT-METHOD-PATH.pstats.

    Profiled requests run one at a time: since Python 3.12 a profiler sees every thread, so
    two at once would mix their requests (and cProfile refuses a second one)."""
    import cProfile

    directory = os.fspath(directory)
    keys = _RequestKeys()
    one_at_a_time = threading.Lock()

    def profiling_application(environ, start_response):
        path = os.path.join(
            directory, "%s-%s.pstats" % (keys.next(), _url_in_a_name(environ))
        )
        one_at_a_time.acquire()
        profile = cProfile.Profile()

        def write():
            try:
                profile.dump_stats(path)
            finally:
                one_at_a_time.release()

        finish = _Once(write)
        profile.enable()
        try:
            result = application(environ, start_response)
            iterator = iter(result)
        except BaseException:
            profile.disable()
            finish()
            raise
        profile.disable()
        return _ProfiledResponse(profile, result, iterator, finish)

    return profiling_application


# ===== recorder =====


class _Recording:
    """The files of one recorded request, named as mod_wsgi-express names them:
    KEY.iheaders (the environ), .icontent (the request body), .oheaders (status and headers),
    .ocontent (the response body), and the tracebacks of an exception raised by the call
    (.oaexcept), the iteration (.orexcept) or the close (.ofexcept) of the application."""

    def __init__(self, directory, key):
        def open_file(extension, mode):
            return open(os.path.join(directory, key + extension), mode)

        self.iheaders = open_file(".iheaders", "w")
        self.icontent = open_file(".icontent", "w+b")
        self.oheaders = open_file(".oheaders", "w")
        self.ocontent = open_file(".ocontent", "w+b")
        self.oaexcept = open_file(".oaexcept", "w")
        self.orexcept = open_file(".orexcept", "w")
        self.ofexcept = open_file(".ofexcept", "w")

    def record_exception(self, stream):
        traceback.print_exception(*sys.exc_info(), file=stream)

    def close(self):
        for stream in (
            self.iheaders,
            self.icontent,
            self.oheaders,
            self.ocontent,
            self.oaexcept,
            self.orexcept,
            self.ofexcept,
        ):
            stream.close()


class _RecordedResponse:
    """The application's response, each piece written to .ocontent as it goes to the client."""

    def __init__(self, result, iterator, recording):
        self._result = result
        self._iterator = iterator
        self._recording = recording

    def __iter__(self):
        return self

    def __next__(self):
        try:
            data = next(self._iterator)
        except StopIteration:
            raise
        except BaseException:
            self._recording.record_exception(self._recording.orexcept)
            raise
        self._recording.ocontent.write(data)
        self._recording.ocontent.flush()
        return data

    def close(self):
        try:
            close = getattr(self._result, "close", None)
            if close is not None:
                close()
        except BaseException:
            self._recording.record_exception(self._recording.ofexcept)
            raise
        finally:
            self._recording.close()


def recorded(application, directory):
    """Wraps `application` so that each request and its response are recorded in
    `directory` (see _Recording). The request body is read whole into .icontent first, and the
    application reads it from there."""
    directory = os.fspath(directory)
    keys = _RequestKeys()

    def recording_application(environ, start_response):
        recording = _Recording(directory, keys.next())
        try:
            pprint.pprint(environ, stream=recording.iheaders)
            recording.iheaders.flush()
            body = environ["wsgi.input"]
            while True:
                data = body.read(65536)
                if not data:
                    break
                recording.icontent.write(data)
            recording.icontent.flush()
            recording.icontent.seek(0)
            environ["wsgi.input"] = recording.icontent
        except BaseException:
            recording.close()
            raise

        def recording_start_response(status, headers, *exc_info):
            pprint.pprint((status, headers) + exc_info, stream=recording.oheaders)
            recording.oheaders.flush()
            write = start_response(status, headers, *exc_info)

            def recording_write(data):
                recording.ocontent.write(data)
                recording.ocontent.flush()
                return write(data)

            return recording_write

        try:
            result = application(environ, recording_start_response)
            iterator = iter(result)
        except BaseException:
            recording.record_exception(recording.oaexcept)
            recording.close()
            raise
        return _RecordedResponse(result, iterator, recording)

    return recording_application


# ===== coverage =====

# The directory under --coverage-directory holding the data files of each run of the server.
_RUNS = ".oxwsgi-data"


def start_coverage(directory):
    """Starts coverage.py measurement in this worker, before the applications load, and
    registers the writing of the HTML report for when the worker stops (atexit).

    Each worker saves its own data file (coverage's parallel mode) into a directory of the
    server's run, named by the supervisor's pid (the worker's parent), then combines the data of
    every worker of the run that stopped so far and writes the report. Data of runs whose
    supervisor is gone are removed first, so that a report covers one run of the server."""
    try:
        import coverage
    except ImportError:
        raise ImportError(
            "--enable-coverage needs coverage.py in the application's Python "
            "(%s): pip install coverage" % sys.executable
        ) from None
    directory = os.fspath(directory)
    runs = os.path.join(directory, _RUNS)
    run = os.path.join(runs, str(os.getppid()))
    os.makedirs(run, exist_ok=True)
    _remove_finished_runs(runs, keep=os.path.basename(run))
    measurement = coverage.Coverage(
        data_file=os.path.join(run, ".coverage"), data_suffix=True
    )
    measurement.start()
    atexit.register(_write_coverage_report, coverage, measurement, directory, run)


def _remove_finished_runs(runs, keep):
    for name in os.listdir(runs):
        if name == keep or not name.isdigit():
            continue
        try:
            os.kill(int(name), 0)
        except ProcessLookupError:
            shutil.rmtree(os.path.join(runs, name), ignore_errors=True)
        except OSError:
            pass


def _write_coverage_report(coverage, measurement, directory, run):
    import fcntl

    measurement.stop()
    measurement.save()
    with open(os.path.join(run, "report.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        combined = coverage.Coverage(data_file=os.path.join(run, ".coverage"))
        combined.combine([run], keep=True)
        combined.save()
        try:
            combined.html_report(directory=directory)
        except coverage.exceptions.NoDataError:
            print(
                "oxwsgi: no Python code of the application ran; no coverage report",
                file=sys.stderr,
            )


def trace_pool_threads(application):
    """Wraps `application` so that the server's Python threads are traced as threads started
    with `threading` are: they are not started by `threading`, so the trace function coverage
    gave threading.settrace() is installed on each one at its first request."""
    traced = threading.local()

    def tracing_application(environ, start_response):
        if not getattr(traced, "done", False):
            traced.done = True
            hook = threading.gettrace()
            if hook is not None and sys.gettrace() is None:
                sys.settrace(hook)
        return application(environ, start_response)

    return tracing_application


def prepare_directories(directories):
    """Creates the instruments' directories, as the worker's user."""
    for directory in directories:
        os.makedirs(os.fspath(directory), exist_ok=True)
