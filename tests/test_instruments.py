"""The developer's instruments of mod_wsgi-express: --enable-profiler (a cProfile file per
request), --enable-coverage (coverage.py's HTML report when the server stops, combined over its
worker processes) and --enable-recorder (each request and response kept with their bodies).
Unlike mod_wsgi-express they do not force one process and one thread."""

import html
import os
import pstats
import re
import subprocess

import requests

from support import VENV, Server, wait_until

APP = """
import os

def answer_with_the_body(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length)
    if environ["PATH_INFO"] == "/raise":
        raise_for_the_recorder()
    if environ["PATH_INFO"] == "/one":
        ran = b"one"
    elif environ["PATH_INFO"] == "/two":
        ran = b"two"
    else:
        ran = b"got:" + body
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-Pid", str(os.getpid()))])
    return [ran]

def raise_for_the_recorder():
    raise RuntimeError("the application failed on purpose")

application = answer_with_the_body
"""


def write_app(tmp_path):
    app = tmp_path / "instrumented_app.py"
    app.write_text(APP)
    return app


def test_the_profiler_leaves_one_readable_pstats_file_per_request_named_by_time_and_url(
        tmp_path):
    app = write_app(tmp_path)
    profiles = tmp_path / "profiles"
    server = Server([app, "--enable-profiler", "--profiler-directory", profiles], tmp_path)
    try:
        assert f"Profiler Output    : {profiles}\n" in server.stdout
        assert requests.get(server.url + "/").text == "got:"
        assert requests.post(server.url + "/some/page", data=b"x").text == "got:x"
        assert requests.get(server.url + "/").text == "got:"
        # Written when the server closes the response, which may be just after the client has
        # it.
        wait_until(lambda: len(os.listdir(profiles)) >= 3, what="three profiles")
        names = sorted(os.listdir(profiles))
        assert len(names) == 3, names
        pattern = re.compile(r"^(\d{16})-(\d+)-(\d+)-(GET-root|POST-some_page)\.pstats$")
        urls = sorted(pattern.match(name).group(4) for name in names)
        assert urls == ["GET-root", "GET-root", "POST-some_page"]
        for name in names:
            stats = pstats.Stats(str(profiles / name))
            functions = {(os.path.basename(file), function)
                         for (file, _line, function) in stats.stats}
            assert ("instrumented_app.py", "answer_with_the_body") in functions, functions
    finally:
        server.stop()


def read_text(path):
    return path.read_text() if path.exists() else ""


def test_the_recorder_keeps_the_request_and_the_response_of_a_post_with_their_bodies(tmp_path):
    app = write_app(tmp_path)
    archive = tmp_path / "archive"
    server = Server([app, "--enable-recorder", "--recorder-directory", archive], tmp_path)
    try:
        assert f"Recorder Output    : {archive}\n" in server.stdout
        body = b"a request body \x00\xff kept as it came"
        response = requests.post(server.url + "/store?x=1", data=body)
        assert response.content == b"got:" + body
        keys = {name.rsplit(".", 1)[0] for name in os.listdir(archive)}
        assert len(keys) == 1, keys
        (key,) = keys
        assert re.fullmatch(r"\d{16}-\d+-1", key), key
        assert sorted(os.listdir(archive)) == sorted(
            key + ext for ext in (".iheaders", ".icontent", ".oheaders", ".ocontent",
                                  ".oaexcept", ".orexcept", ".ofexcept"))
        assert (archive / (key + ".icontent")).read_bytes() == body
        assert (archive / (key + ".ocontent")).read_bytes() == b"got:" + body
        environ = (archive / (key + ".iheaders")).read_text()
        assert "'REQUEST_METHOD': 'POST'" in environ
        assert "'PATH_INFO': '/store'" in environ
        assert "'QUERY_STRING': 'x=1'" in environ
        # The files are complete once the server has closed the response.
        wait_until(lambda: read_text(archive / (key + ".oheaders")).startswith("('200 OK'"),
                   what="the recorded status")
        assert "('Content-Type', 'text/plain')" in (archive / (key + ".oheaders")).read_text()
        for ext in (".oaexcept", ".orexcept", ".ofexcept"):
            assert (archive / (key + ext)).read_text() == ""
    finally:
        server.stop()


def test_the_recorder_keeps_the_traceback_of_an_application_that_raised(tmp_path):
    app = write_app(tmp_path)
    archive = tmp_path / "archive"
    server = Server([app, "--enable-recorder", "--recorder-directory", archive], tmp_path)
    try:
        response = requests.post(server.url + "/raise", data=b"the input")
        assert response.status_code == 500
        (key,) = {name.rsplit(".", 1)[0] for name in os.listdir(archive)}
        assert (archive / (key + ".icontent")).read_bytes() == b"the input"
        wait_until(lambda: "RuntimeError" in read_text(archive / (key + ".oaexcept")),
                   what="the recorded traceback")
        traceback = (archive / (key + ".oaexcept")).read_text()
        assert "in raise_for_the_recorder" in traceback
        assert "RuntimeError: the application failed on purpose" in traceback
        assert (archive / (key + ".ocontent")).read_bytes() == b""
    finally:
        server.stop()


def served_by(url):
    """The pid of the worker that answered a request on a new connection."""
    response = requests.get(url, headers={"Connection": "close"})
    assert response.status_code == 200
    return int(response.headers["X-Pid"])


def line_is_run(page, text):
    """Whether coverage's HTML page of a file marks the line holding `text` as run."""
    for line in re.findall(r'<p class="([a-z_ ]+)">(.*?)</p>', page):
        if text in html.unescape(re.sub(r"<[^>]+>", "", line[1])):
            return "run" in line[0].split()
    raise AssertionError(f"no line {text!r} in the report")


def test_coverage_reports_the_application_file_combined_over_the_worker_processes(tmp_path):
    app = write_app(tmp_path)
    report = tmp_path / "htmlcov"
    server = Server([app, "--enable-coverage", "--coverage-directory", report,
                     "--processes", "2", "--threads", "3"], tmp_path)
    try:
        assert f"Coverage Output    : {report / 'index.html'}\n" in server.stdout
        # /one is answered by one worker and /two by the other, so that the report has lines
        # only one of them ran.
        first = served_by(server.url + "/one")
        others = []
        wait_until(lambda: others.append(served_by(server.url + "/two")) or others[-1] != first,
                   what="a request answered by the other worker")
        assert server.stop() == 0
    finally:
        server.stop()
    index = (report / "index.html").read_text()
    assert "instrumented_app.py" in index
    (page,) = [name for name in os.listdir(report) if name.endswith("instrumented_app_py.html")]
    page = (report / page).read_text()
    # Run on the server's Python threads, by the two workers.
    assert line_is_run(page, 'ran = b"one"')
    assert line_is_run(page, 'ran = b"two"')
    assert not line_is_run(page, 'raise RuntimeError("the application failed on purpose")')


def test_coverage_without_coverage_installed_stops_the_server_saying_what_to_install(tmp_path):
    # A virtual environment of the tests' Python without the coverage package.
    base = subprocess.run([str(VENV / "bin" / "python"), "-c",
                           "import sys; print(sys.base_prefix)"],
                          capture_output=True, text=True, check=True).stdout.strip()
    bare = tmp_path / "bare-venv"
    subprocess.run([os.path.join(base, "bin", "python3"), "-m", "venv", "--without-pip",
                    str(bare)], check=True)
    server = Server([write_app(tmp_path), "--enable-coverage", "--python-home", bare], tmp_path,
                    python_home=False, wait=False)
    try:
        assert server.wait_exit() == 1
    finally:
        server.stop()
    assert "oxwsgi: could not start the developer's instruments:\n" in server.stderr
    assert (f"ImportError: --enable-coverage needs coverage.py in the application's Python "
            f"({bare}/bin/python): pip install coverage\n") in server.stderr
