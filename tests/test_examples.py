"""Every example in examples/ (the seeds' scenarios) served by the real binary and used through
real HTTP clients."""

import hashlib

import requests

from support import EXAMPLES


def test_hello_answers_hello_world(server):
    srv = server(EXAMPLES / "hello.wsgi")
    response = requests.get(srv.url + "/")
    assert response.status_code == 200
    assert response.text == "Hello World!\n"
    assert response.headers["Content-Type"] == "text/plain"
    assert response.headers["Content-Length"] == "13"


def test_welcome_page_is_served_without_an_application(server):
    srv = server()
    response = requests.get(srv.url + "/any/path")
    assert response.status_code == 200
    assert "<h1>oxwsgi is running</h1>" in response.text
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "Application        : the built-in welcome page at /" in srv.stdout


def test_hello_env_shows_the_seed_environment_page(server):
    srv = server(EXAMPLES / "hello_env.wsgi")
    response = requests.get(srv.url + "/?a=1&a=2&b=x")
    assert response.status_code == 200
    page = response.text
    assert page.startswith(
        "WSGI: It works!  :-)\nprocess id:        %d\nparent process:    %d\n"
        % (srv.worker_pid(), srv.pid)
    )
    assert "'wsgi.multithread': True" in page
    assert "'PATH_INFO': '/'" in page
    assert "Query String:\n{'a': ['1', '2'], 'b': ['x']}\n" in page
    assert "Python version:    '3." in page


def test_flask_pages_forms_json_and_uploads(server):
    srv = server(EXAMPLES / "flask" / "app.wsgi")
    assert requests.get(srv.url + "/").text == "Hello from Flask!\n"
    assert requests.post(srv.url + "/form", data={"name": "Ada"}).text == "Hello, Ada!\n"

    sent = {"list": [1, 2, 3], "text": "caf\u00e9"}
    reply = requests.post(srv.url + "/json", json=sent).json()
    assert reply == {"received": sent, "items": 2}

    content = bytes(range(256)) * 4096  # 1 MiB of every byte value
    reply = requests.post(
        srv.url + "/upload",
        files={"document": ("data.bin", content, "application/octet-stream")},
        data={"note": "binary"},
    ).json()
    assert reply == {
        "files": {
            "document": {
                "filename": "data.bin",
                "size": len(content),
                "sha256": hashlib.sha256(content).hexdigest(),
            }
        },
        "fields": {"note": "binary"},
    }


def test_flask_under_a_mount_point_sees_its_script_root(server):
    srv = server("--mount-point", "/shop", EXAMPLES / "flask" / "app.wsgi")
    reply = requests.get(srv.url + "/shop/hello/bob").json()
    assert reply == {"hello": "bob", "script_name": "/shop", "path": "/hello/bob"}
    assert requests.get(srv.url + "/hello/bob").status_code == 404


def test_django_project_served_as_a_module(server):
    srv = server(
        "--application-type",
        "module",
        "--working-directory",
        EXAMPLES / "django",
        "mysite.wsgi",
    )
    assert requests.get(srv.url + "/").text == "Hello from Django!\n"
    assert requests.post(srv.url + "/echo", data={"a": "1", "b": "two"}).json() == {
        "method": "POST",
        "post": {"a": "1", "b": "two"},
        "path": "/echo",
    }
    assert requests.post(srv.url + "/json", json={"k": [1, 2]}).json() == {
        "received": {"k": [1, 2]}
    }


def test_pecan_rest_service_answers_get_post_and_put(server):
    srv = server(EXAMPLES / "pecan" / "app.wsgi")
    assert requests.get(srv.url + "/").json() == {
        "service": "pecanrest",
        "resources": ["deployments"],
    }
    created = requests.post(srv.url + "/deployments", json={"app": "wordpress"})
    assert created.status_code == 201
    assert created.json() == {"id": 1, "app": "wordpress", "state": "deploying"}
    updated = requests.put(srv.url + "/deployments/1", json={"state": "running"})
    assert updated.status_code == 200
    assert updated.json() == {"id": 1, "app": "wordpress", "state": "running"}
    assert requests.get(srv.url + "/deployments").json() == {
        "deployments": [{"id": 1, "app": "wordpress", "state": "running"}]
    }
    missing = requests.get(srv.url + "/deployments/9")
    assert missing.status_code == 404
    assert missing.json() == {"error": 404}


def test_paste_pipeline_runs_the_middleware_in_front_of_the_app(server):
    srv = server(
        "--application-type",
        "paste",
        "--working-directory",
        EXAMPLES / "paste",
        EXAMPLES / "paste" / "development.ini",
    )
    response = requests.get(srv.url + "/")
    assert response.status_code == 200
    assert response.text == (
        "From VietStack: Wellcome the 8th Meetup of VietOpenStack\n"
        "checked by the middleware\n"
    )
    assert response.headers["X-VietStack"] == "8th-meetup"
    refused = requests.delete(srv.url + "/")
    assert refused.status_code == 405
    assert refused.text == "DELETE is not allowed here\n"
    # The ini file's [loggers] section configured logging: the middleware's INFO line is logged.
    srv.wait_for_log(r"INFO \[vietstack\] middleware saw GET /")

