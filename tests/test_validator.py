"""The request and response paths pass wsgiref.validate.validator without a single warning."""

import os

import requests

from support import APPS


def test_requests_through_wsgiref_validator_raise_no_warning(server, state_dir):
    (state_dir / "blob.bin").write_bytes(os.urandom(100_000))
    srv = server(APPS / "validated.wsgi", env={"OXWSGI_TEST_STATE": str(state_dir)})
    url = srv.url
    assert requests.get(url + "/").text == "ok\n"
    assert requests.head(url + "/").status_code == 200
    assert requests.get(url + "/close/normal?tag=v1").text == "one two\n"
    assert requests.get(url + "/write").text == "written by write()\nthen returned\n"
    assert requests.get(url + "/chunked").text == "no length given\n"
    assert requests.post(url + "/input/sha256", data=b"x" * 300_000).json()["length"] == 300_000
    assert requests.post(url + "/input/lines", data=b"a\nbcdef\ng\n").json() == [
        "a\n",
        "bcd",
        ["ef\n", "g\n"],
    ]
    assert len(requests.get(url + "/file-wrapper?name=blob.bin&tag=v2").content) == 100_000
    assert requests.options(url + "/").status_code == 200
    assert requests.put(url + "/input/sha256", data=b"abc").json()["length"] == 3
    assert requests.delete(url + "/").status_code == 200
    assert requests.get(url + "/exc-info").status_code == 503
    warnings = state_dir / "warnings.log"
    assert not warnings.exists(), warnings.read_text()
    log = srv.error_log()
    assert "AssertionError" not in log and "Traceback" not in log, log
