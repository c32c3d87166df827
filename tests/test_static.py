"""Static files: the document root overlaying the application, URL aliases, the static-only
application type, conditional and range requests, compression, and path safety."""

import gzip
import hashlib
import os
import pathlib
import socket
import threading

import brotli
import pytest
import requests

from support import APPS, EXAMPLES, recv_until, wait_until


@pytest.fixture
def site(tmp_path):
    """A document root: files, a subdirectory with an index, a hidden file, a symlink out."""
    root = tmp_path / "site"
    (root / "static").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / ".well-known").mkdir()
    (root / "robots.txt").write_text("User-agent: *\n")
    (root / "static" / "app.css").write_text("body { color: black; }\n" * 20)
    (root / "docs" / "index.html").write_text("<h1>docs</h1>\n")
    (root / "docs" / "page.html").write_text("<p>page</p>\n")
    (root / ".env").write_text("SECRET=1\n")
    (root / ".well-known" / "security.txt").write_text("Contact: me\n")
    (tmp_path / "outside.txt").write_text("outside the root\n")
    os.symlink(tmp_path / "outside.txt", root / "escape.txt")
    os.symlink("robots.txt", root / "inside-link.txt")
    return root


def static_server(server, site, *args):
    return server("--application-type", "static", *args, site)


def raw_get(srv, target, headers=b""):
    return srv.raw(b"GET " + target + b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n" + headers + b"\r\n")


def test_document_root_file_overlays_the_application(server, site):
    srv = server("--document-root", site, EXAMPLES / "hello.wsgi")
    response = requests.get(srv.url + "/robots.txt")
    assert response.text == "User-agent: *\n"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    # Missing files, and paths whose first segment is not in the document root, reach the app.
    assert requests.get(srv.url + "/static/missing.css").text == "Hello World!\n"
    assert requests.get(srv.url + "/api/users").text == "Hello World!\n"
    # A directory without --directory-index is the application's.
    assert requests.get(srv.url + "/docs/").text == "Hello World!\n"


def test_files_added_to_the_document_root_are_served(server, site):
    srv = server("--document-root", site, EXAMPLES / "hello.wsgi")
    assert requests.get(srv.url + "/late.txt").text == "Hello World!\n"
    (site / "late.txt").write_text("added later\n")
    wait_until(lambda: requests.get(srv.url + "/late.txt").text == "added later\n",
               timeout=10, what="the new file served")


def test_directory_index_makes_directories_win(server, site):
    srv = server("--document-root", site, "--directory-index", "index.html", EXAMPLES / "hello.wsgi")
    redirect = requests.get(srv.url + "/docs?x=1", allow_redirects=False)
    assert redirect.status_code == 301
    assert redirect.headers["Location"] == "/docs/?x=1"
    assert requests.get(srv.url + "/docs/").text == "<h1>docs</h1>\n"


def test_url_alias_to_a_file_and_to_a_directory(server, site, tmp_path):
    icon = tmp_path / "favicon.ico"
    icon.write_bytes(b"\x00\x01icon")
    srv = server(
        "--url-alias", "/assets", site / "static",
        "--url-alias", "/favicon.ico", icon,
        EXAMPLES / "hello.wsgi",
    )
    assert requests.get(srv.url + "/assets/app.css").text.startswith("body { color: black; }")
    assert requests.get(srv.url + "/favicon.ico").content == b"\x00\x01icon"
    assert requests.get(srv.url + "/favicon.ico").headers["Content-Type"] == "image/x-icon"
    # Below an alias, a missing file is a 404: the application does not see it.
    missing = requests.get(srv.url + "/assets/missing.css")
    assert missing.status_code == 404
    assert "The requested URL was not found on this server." in missing.text
    assert "URL Alias          : /assets -> %s/" % (site / "static") in srv.stdout


def test_static_application_type_serves_a_tree_without_python(server, site):
    srv = static_server(server, site)
    assert requests.get(srv.url + "/robots.txt").text == "User-agent: *\n"
    assert requests.get(srv.url + "/docs/").text == "<h1>docs</h1>\n"  # index.html by default
    assert requests.get(srv.url + "/nothing").status_code == 404
    worker = srv.worker_pid()
    threads = {
        (pathlib.Path(f"/proc/{worker}/task/{tid}/comm").read_text().strip())
        for tid in os.listdir(f"/proc/{worker}/task")
    }
    assert not any(name.startswith("python") for name in threads), threads
    assert "Application        : none: static files only" in srv.stdout
    assert "Python " not in srv.stdout


def test_static_type_defaults_to_the_current_directory(server, site):
    srv = server("--application-type", "static", cwd=site)
    assert requests.get(srv.url + "/robots.txt").text == "User-agent: *\n"


def test_etag_gives_304_and_validators_give_412(server, site):
    srv = static_server(server, site)
    first = requests.get(srv.url + "/robots.txt")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert etag.startswith('"') and first.headers["Accept-Ranges"] == "bytes"
    assert requests.get(srv.url + "/robots.txt", headers={"If-None-Match": etag}).status_code == 304
    assert requests.get(srv.url + "/robots.txt", headers={"If-None-Match": '"other"'}).status_code == 200
    assert requests.get(srv.url + "/robots.txt", headers={"If-Modified-Since": modified}).status_code == 304
    assert requests.get(srv.url + "/robots.txt", headers={"If-Match": '"other"'}).status_code == 412
    assert requests.get(srv.url + "/robots.txt", headers={"If-Match": etag}).status_code == 200
    old = "Sat, 01 Jan 2000 00:00:00 GMT"
    assert requests.get(srv.url + "/robots.txt", headers={"If-Unmodified-Since": old}).status_code == 412


def test_ranges_give_206_with_the_right_bytes_and_416_out_of_range(server, site):
    data = bytes(range(256)) * 40
    (site / "blob.bin").write_bytes(data)
    srv = static_server(server, site)
    part = requests.get(srv.url + "/blob.bin", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["Content-Range"] == "bytes 100-199/10240"
    assert part.content == data[100:200]
    tail = requests.get(srv.url + "/blob.bin", headers={"Range": "bytes=-16"})
    assert tail.headers["Content-Range"] == "bytes 10224-10239/10240"
    assert tail.content == data[-16:]
    out = requests.get(srv.url + "/blob.bin", headers={"Range": "bytes=20000-"})
    assert out.status_code == 416
    assert out.headers["Content-Range"] == "bytes */10240"
    etag = requests.head(srv.url + "/blob.bin").headers["ETag"]
    same = requests.get(srv.url + "/blob.bin", headers={"Range": "bytes=0-9", "If-Range": etag})
    assert (same.status_code, same.content) == (206, data[:10])
    stale = requests.get(srv.url + "/blob.bin", headers={"Range": "bytes=0-9", "If-Range": '"old"'})
    assert (stale.status_code, stale.content) == (200, data)


def test_head_sends_headers_without_a_body(server, site):
    srv = static_server(server, site)
    response = srv.raw(b"HEAD /robots.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"\r\nContent-Length: 14\r\n" in head
    assert body == b""


def test_other_methods_on_a_file_get_405(server, site):
    srv = static_server(server, site)
    response = requests.post(srv.url + "/robots.txt", data=b"x")
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    "target",
    [
        b"/../escape.txt",
        b"/static/../../outside.txt",
        b"/%2e%2e/outside.txt",
        b"/static/%2e%2e/%2e%2e/outside.txt",
        b"/static/..%2f..%2foutside.txt",
        b"/static%2f..%2f..%2foutside.txt",
        b"/static/..%5c..%5coutside.txt",
        b"/robots.txt%00.png",
        b"/escape.txt",
        b"/static\\..\\..\\outside.txt",
        # The same, percent-encoded twice.
        b"/%252e%252e/outside.txt",
        b"/static/%252e%252e/%252e%252e/outside.txt",
        b"/static/..%252f..%252foutside.txt",
        b"/static/..%255c..%255coutside.txt",
        b"/robots.txt%2500.png",
    ],
)
def test_traversal_attempts_get_404(server, site, target):
    srv = static_server(server, site)
    response = raw_get(srv, target)
    assert response.startswith(b"HTTP/1.1 404 Not Found\r\n"), response[:100]
    assert b"outside the root" not in response


def test_traversal_attempts_below_an_alias_get_404(server, site):
    srv = server("--url-alias", "/assets", site / "static", EXAMPLES / "hello.wsgi")
    for target in [b"/assets/../../outside.txt", b"/assets/%2e%2e/%2e%2e/outside.txt",
                   b"/assets/..%5c..%5coutside.txt", b"/assets/%252e%252e/outside.txt"]:
        response = raw_get(srv, target)
        assert response.startswith(b"HTTP/1.1 404 Not Found\r\n"), (target, response[:100])


def test_symlinks_inside_the_root_are_followed(server, site):
    srv = static_server(server, site)
    assert requests.get(srv.url + "/inside-link.txt").text == "User-agent: *\n"


def test_escape_attempts_are_logged_at_info(server, site):
    srv = static_server(server, site, "--log-level", "info")
    assert requests.get(srv.url + "/escape.txt").status_code == 404
    srv.wait_for_log(r"\[http:info\] .*refused static path /escape.txt: it leads out of the served directory")


def test_hidden_files_need_an_option(server, site):
    srv = static_server(server, site)
    assert requests.get(srv.url + "/.env").status_code == 404
    assert requests.get(srv.url + "/.well-known/security.txt").text == "Contact: me\n"
    allowed = static_server(server, site, "--serve-hidden-files")
    assert requests.get(allowed.url + "/.env").text == "SECRET=1\n"


def test_directory_listing_is_off_unless_asked_for(server, site):
    srv = static_server(server, site)
    assert requests.get(srv.url + "/static/").status_code == 404
    listing = static_server(server, site, "--directory-listing")
    page = requests.get(listing.url + "/static/")
    assert page.status_code == 200
    assert "<h1>Index of /static/</h1>" in page.text
    assert '<a href="app.css">app.css</a>' in page.text
    assert requests.get(listing.url + "/docs/").text == "<h1>docs</h1>\n", "an index file wins"
    assert ".env" not in requests.get(listing.url + "/").text


def test_precompressed_siblings_are_chosen_by_accept_encoding(server, site):
    text = ("function f() { return 1; }\n" * 200).encode()
    (site / "static" / "app.js").write_bytes(text)
    (site / "static" / "app.js.gz").write_bytes(gzip.compress(text))
    (site / "static" / "app.js.br").write_bytes(brotli.compress(text))
    srv = static_server(server, site)
    url = srv.url + "/static/app.js"
    plain = requests.get(url, headers={"Accept-Encoding": "identity"})
    assert plain.content == text and "Content-Encoding" not in plain.headers
    assert plain.headers["Vary"] == "accept-encoding"
    gz = requests.get(url, headers={"Accept-Encoding": "gzip"}, stream=True)
    assert gz.headers["Content-Encoding"] == "gzip"
    assert gz.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert gzip.decompress(gz.raw.read()) == text
    br = requests.get(url, headers={"Accept-Encoding": "gzip, br"}, stream=True)
    assert br.headers["Content-Encoding"] == "br"
    assert brotli.decompress(br.raw.read()) == text
    assert br.headers["ETag"] != gz.headers["ETag"] != plain.headers["ETag"]


def test_compress_responses_gzips_an_app_html_response(server, tmp_path):
    page = ("<p>" + "hello " * 400 + "</p>\n").encode()
    app = tmp_path / "html.wsgi"
    app.write_text(
        "PAGE = %r\n"
        "def application(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/html; charset=utf-8'),\n"
        "                              ('Content-Length', str(len(PAGE)))])\n"
        "    return [PAGE]\n" % page
    )
    srv = server("--compress-responses", app)
    compressed = requests.get(srv.url + "/", headers={"Accept-Encoding": "gzip"}, stream=True)
    assert compressed.headers["Content-Encoding"] == "gzip"
    assert "Content-Length" not in compressed.headers
    assert "accept-encoding" in compressed.headers["Vary"]
    assert gzip.decompress(compressed.raw.read()) == page
    plain = requests.get(srv.url + "/", headers={"Accept-Encoding": "identity"})
    assert plain.content == page and "Content-Encoding" not in plain.headers


def test_compression_is_off_by_default_and_skips_ranges(server, site):
    srv = static_server(server, site)
    response = requests.get(srv.url + "/static/app.css", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in response.headers
    on = static_server(server, site, "--compress-responses")
    ranged = requests.get(
        on.url + "/static/app.css", headers={"Accept-Encoding": "gzip", "Range": "bytes=0-9"}
    )
    assert ranged.status_code == 206 and "Content-Encoding" not in ranged.headers
    whole = requests.get(on.url + "/static/app.css", headers={"Accept-Encoding": "gzip"})
    assert whole.headers["Content-Encoding"] == "gzip"
    assert whole.text == "body { color: black; }\n" * 20


def test_mime_types_file_overrides_the_table(server, site, tmp_path):
    (site / "data.cst").write_text("custom\n")
    types = tmp_path / "mime.types"
    types.write_text("# local types\ntext/x-custom cst\n")
    srv = static_server(server, site, "--mime-types", types)
    assert requests.get(srv.url + "/data.cst").headers["Content-Type"] == "text/x-custom"
    assert requests.get(srv.url + "/robots.txt").headers["Content-Type"] == "text/plain; charset=utf-8"


def test_static_files_are_served_while_every_python_thread_is_blocked(server, site, state_dir):
    srv = server(
        "--threads", "2", "--document-root", site, APPS / "behaviours.wsgi",
        env={"OXWSGI_TEST_STATE": str(state_dir)},
    )
    blocked = [
        threading.Thread(target=lambda t=tag: requests.get(srv.url + f"/block?tag={t}"))
        for tag in ("one", "two")
    ]
    for thread in blocked:
        thread.start()
    log = state_dir / "blocked.log"
    wait_until(lambda: log.exists() and len(log.read_text().split()) == 2, timeout=15,
               what="the two requests to block")
    # Both Python threads are blocked; every static request is still answered (a hang here
    # fails the test through its timeout).
    for _ in range(20):
        assert requests.get(srv.url + "/robots.txt", timeout=5).text == "User-agent: *\n"
    (state_dir / "unblock-one").touch()
    (state_dir / "unblock-two").touch()
    for thread in blocked:
        thread.join(timeout=15)


@pytest.mark.parametrize("sendfile", [False, True])
def test_one_gib_sparse_file_downloads_with_flat_memory(server, site, sendfile):
    big = site / "big.bin"
    with open(big, "wb") as f:
        f.truncate(1024 * 1024 * 1024)
        f.seek(512 * 1024 * 1024)
        f.write(b"middle")
    srv = static_server(server, site, *(["--enable-sendfile"] if sendfile else []))
    requests.get(srv.url + "/robots.txt")
    before = srv.rss_kib("VmHWM")
    digest = hashlib.sha256()
    total = 0
    with requests.get(srv.url + "/big.bin", stream=True) as response:
        assert response.headers["Content-Length"] == str(1024 * 1024 * 1024)
        for chunk in response.iter_content(1024 * 1024):
            digest.update(chunk)
            total += len(chunk)
    assert total == 1024 * 1024 * 1024
    expected = hashlib.sha256()
    with open(big, "rb") as f:
        while block := f.read(8 * 1024 * 1024):
            expected.update(block)
    assert digest.hexdigest() == expected.hexdigest()
    growth_mib = (srv.rss_kib("VmHWM") - before) / 1024
    assert growth_mib < 64, f"peak memory grew by {growth_mib:.0f} MiB for a 1 GiB download"


def test_sendfile_serves_ranges_too(server, site):
    data = os.urandom(3 * 1024 * 1024)
    (site / "rand.bin").write_bytes(data)
    srv = static_server(server, site, "--enable-sendfile")
    assert requests.get(srv.url + "/rand.bin").content == data
    part = requests.get(srv.url + "/rand.bin", headers={"Range": "bytes=1000000-2999999"})
    assert part.content == data[1000000:3000000]


def test_static_type_never_starts_python(server, site, tmp_path):
    hook = tmp_path / "hook"
    hook.mkdir()
    marker = tmp_path / "python-started"
    # site.addsitedir runs `import` lines of .pth files: a trace of Python starting.
    (hook / "trace.pth").write_text(f"import pathlib; pathlib.Path({str(marker)!r}).touch()\n")
    # The control: with an application, Python starts and leaves the trace.
    with_app = server("--python-path", hook, EXAMPLES / "hello.wsgi")
    assert marker.exists()
    assert with_app.stop() == 0
    marker.unlink()
    srv = static_server(server, site, "--python-path", hook)
    assert requests.get(srv.url + "/robots.txt").text == "User-agent: *\n"
    assert not marker.exists(), "a static-only server started Python"


def test_static_type_with_document_root_option(server, site, tmp_path):
    # mod_wsgi-express's "hosting just static files": --document-root names the directory.
    srv = server("--application-type", "static", "--document-root", ".", cwd=site)
    assert requests.get(srv.url + "/robots.txt").text == "User-agent: *\n"
    assert requests.get(srv.url + "/docs/").text == "<h1>docs</h1>\n"


def test_default_document_root_is_htdocs_under_the_server_root(server):
    srv = server(EXAMPLES / "hello.wsgi")
    htdocs = srv.server_root / "htdocs"
    assert htdocs.is_dir(), "the default document root is created at start-up"
    assert f"Document Root      : {htdocs}" in srv.stdout
    (htdocs / "robots.txt").write_text("User-agent: *\nDisallow: /\n")
    wait_until(lambda: requests.get(srv.url + "/robots.txt").text == "User-agent: *\nDisallow: /\n",
               timeout=10, what="a file dropped into htdocs served")
    assert requests.get(srv.url + "/other").text == "Hello World!\n"


@pytest.mark.parametrize("coding", ["gzip", "br"])
def test_compressed_responses_revalidate_with_their_own_etag(server, site, coding):
    srv = static_server(server, site, "--compress-responses")
    url = srv.url + "/static/app.css"
    first = requests.get(url, headers={"Accept-Encoding": coding})
    assert first.headers["Content-Encoding"] == coding
    etag = first.headers["ETag"]
    assert etag.endswith(f'+{coding}"')
    plain = requests.get(url, headers={"Accept-Encoding": "identity"})
    assert plain.headers["ETag"] == etag.replace(f"+{coding}", "")
    again = requests.get(url, headers={"Accept-Encoding": coding, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.headers["ETag"] == etag
    matched = requests.get(url, headers={"Accept-Encoding": coding, "If-Match": etag})
    assert matched.status_code == 200
    stale = requests.get(url, headers={"Accept-Encoding": coding, "If-None-Match": '"0-0+gzip"'})
    assert stale.status_code == 200


def test_already_encoded_responses_are_not_compressed_again(server, site, tmp_path):
    text = ("function f() { return 1; }\n" * 200).encode()
    (site / "static" / "app.js").write_bytes(text)
    packed = gzip.compress(text)
    (site / "static" / "app.js.gz").write_bytes(packed)
    srv = server("--compress-responses", "--document-root", site, APPS / "behaviours.wsgi")
    sibling = requests.get(srv.url + "/static/app.js", headers={"Accept-Encoding": "gzip"}, stream=True)
    assert sibling.headers["Content-Encoding"] == "gzip"
    assert sibling.raw.read() == packed, "the precompressed file, byte for byte"
    app = tmp_path / "encoded.wsgi"
    app.write_text(
        "import gzip\n"
        "BODY = gzip.compress(b'<p>' + b'already encoded ' * 100 + b'</p>')\n"
        "def application(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/html'), ('Content-Encoding', 'gzip'),\n"
        "                              ('Content-Length', str(len(BODY)))])\n"
        "    return [BODY]\n"
    )
    srv = server("--compress-responses", app)
    response = requests.get(srv.url + "/", headers={"Accept-Encoding": "gzip, br"}, stream=True)
    assert response.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(response.raw.read()).startswith(b"<p>already encoded ")


def test_traversal_attempts_in_front_of_an_application_get_404(server, site):
    srv = server("--document-root", site, EXAMPLES / "hello.wsgi")
    for target in [b"/escape.txt", b"/static/..%5c..%5coutside.txt", b"/../outside.txt",
                   b"/static/%2e%2e/%2e%2e/outside.txt"]:
        response = raw_get(srv, target)
        assert response.startswith(b"HTTP/1.1 404 Not Found\r\n"), (target, response[:100])
        assert b"outside the root" not in response


def test_root_url_is_the_applications_unless_the_document_root_has_its_index(server, site):
    srv = server("--document-root", site, "--directory-index", "index.html", EXAMPLES / "hello.wsgi")
    assert requests.get(srv.url + "/").text == "Hello World!\n"
    (site / "index.html").write_text("<h1>home</h1>\n")
    wait_until(lambda: requests.get(srv.url + "/").text == "<h1>home</h1>\n",
               timeout=10, what="the new index served at /")
    listing = server("--document-root", site, "--directory-listing", EXAMPLES / "hello.wsgi")
    assert requests.get(listing.url + "/").text == "Hello World!\n", "no listing in front of an app"


@pytest.mark.parametrize("sendfile", [False, True])
def test_enable_sendfile_maps_the_file_instead_of_reading_it(server, site, sendfile):
    big = site / "mapped.bin"
    with open(big, "wb") as f:
        f.truncate(256 * 1024 * 1024)
    srv = static_server(server, site, *(["--enable-sendfile"] if sendfile else []))
    worker = srv.worker_pid()
    with srv.connect() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.sendall(b"GET /mapped.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        # The head and the first bytes of the body: the server is sending the file. The client
        # reads no more, so the server holds the file mid-send.
        received = recv_until(sock, lambda r: len(r.partition(b"\r\n\r\n")[2]) > 0)
        assert received.startswith(b"HTTP/1.1 200 OK")

        def mapped():
            return str(big) in pathlib.Path(f"/proc/{worker}/maps").read_text()

        if sendfile:
            wait_until(mapped, timeout=10, what="the file to be mapped")
        else:
            assert not mapped(), "the file is memory-mapped though --enable-sendfile is off"
