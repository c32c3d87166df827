"""HTTPS from the command line, as mod_wsgi-express sets it up: --https-port with a certificate
and key (or --ssl-certificate NAME), --https-only redirecting plain HTTP, --hsts-policy; real
clients (requests, curl, Python's ssl) against certificates made here with a throwaway CA."""

import re
import socket
import ssl
import subprocess

import pytest
import requests

from support import APPS, BINARY, free_port, port_is_listening, wait_until
from strict import REASONS

ENVIRON_APP = APPS / "environ.wsgi"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, a certificate for localhost and 127.0.0.1 signed by it (with its key), and a
    second key that belongs to no certificate here."""
    d = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            "/CN=oxwsgi test CA", "-keyout", "ca.key", "-out", "ca.crt", cwd=d)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr", cwd=d)
    (d / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.crt", cwd=d)
    openssl("genpkey", "-algorithm", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-out", "stranger.key", cwd=d)
    # Client certificates: alice's from the CA, mallory's from another CA.
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-subj", "/C=NZ/O=Example, Ltd/CN=alice", "-keyout", "alice.key", "-out",
            "alice.csr", cwd=d)
    openssl("x509", "-req", "-in", "alice.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "client.ext", "-out", "alice.crt",
            cwd=d)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", "/CN=other CA", "-keyout", "other-ca.key",
            "-out", "other-ca.crt", cwd=d)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-subj", "/CN=mallory", "-keyout", "mallory.key", "-out", "mallory.csr", cwd=d)
    openssl("x509", "-req", "-in", "mallory.csr", "-CA", "other-ca.crt", "-CAkey",
            "other-ca.key", "-CAcreateserial", "-days", "2", "-extfile", "client.ext", "-out",
            "mallory.crt", cwd=d)
    return d


def openssl_field(pki, name, field):
    """What `openssl x509 -noout -FIELD` says of a certificate, after its `name=`."""
    out = subprocess.run(["openssl", "x509", "-noout", f"-{field}", "-in", str(pki / name)],
                         check=True, capture_output=True, text=True).stdout.strip()
    return out.split("=", 1)[1]


def https_port(srv):
    match = re.search(r"Server URL \(HTTPS\)\s*: https://[^/]+:(\d+)/", srv.stdout)
    assert match, srv.stdout
    return int(match.group(1))


def start_https(server, pki, *extra, port=0):
    srv = server(str(ENVIRON_APP), "--https-port", str(port),
                 "--ssl-certificate-file", str(pki / "server.crt"),
                 "--ssl-certificate-key-file", str(pki / "server.key"), *extra)
    return srv, https_port(srv)


def environ(response):
    return {key: value["value"] for key, value in response.json().items()
            if isinstance(value, dict) and "value" in value}


def test_https_port_serves_the_application_over_tls_beside_plain_http(server, pki):
    srv, port = start_https(server, pki)
    secure = requests.get(f"https://localhost:{port}/x?y=1", verify=pki / "ca.crt")
    assert secure.status_code == 200
    seen = environ(secure)
    assert (seen["wsgi.url_scheme"], seen["HTTPS"], seen["SERVER_PORT"]) == (
        "https", "on", str(port))
    assert (seen["PATH_INFO"], seen["QUERY_STRING"]) == ("/x", "y=1")
    plain = requests.get(srv.url + "/x")
    assert plain.status_code == 200
    assert environ(plain)["wsgi.url_scheme"] == "http"
    assert "HTTPS" not in environ(plain)
    # The certificate is the one given, for the name asked.
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    with socket.create_connection(("127.0.0.1", port)) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            assert dict(x[0] for x in tls.getpeercert()["subject"]) == {"commonName": "localhost"}
            assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_curl_gets_https_with_keep_alive(server, pki):
    _, port = start_https(server, pki)
    url = f"https://localhost:{port}/one"
    result = subprocess.run(
        ["curl", "-sS", "--cacert", str(pki / "ca.crt"), "-o", "/dev/null", "-w",
         "%{http_code} %{num_connects}\n", url, "-o", "/dev/null", url.replace("one", "two")],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 0, result.stderr
    # Two answers over one TLS connection.
    assert result.stdout.split("\n")[:2] == ["200 1", "200 0"]


def test_ssl_certificate_names_the_pair_by_its_base_name(server, pki, tmp_path):
    (tmp_path / "site.crt").write_bytes((pki / "server.crt").read_bytes())
    (tmp_path / "site.key").write_bytes((pki / "server.key").read_bytes())
    srv = server(str(ENVIRON_APP), "--https-port", "0", "--ssl-certificate",
                 str(tmp_path / "site"))
    port = https_port(srv)
    assert requests.get(f"https://localhost:{port}/", verify=pki / "ca.crt").status_code == 200


def test_https_only_redirects_plain_http_and_sends_hsts(server, pki):
    # A port given (the redirect names it, as mod_wsgi-express's does).
    srv, port = start_https(server, pki, "--https-only",
                            "--hsts-policy", "max-age=31536000; includeSubDomains",
                            port=free_port())
    plain = requests.get(srv.url + "/a/b?c=d", allow_redirects=False)
    assert plain.status_code == 302
    assert plain.headers["Location"] == f"https://localhost:{port}/a/b?c=d"
    assert "Strict-Transport-Security" not in plain.headers
    secure = requests.get(plain.headers["Location"], verify=pki / "ca.crt")
    assert secure.status_code == 200
    assert environ(secure)["PATH_INFO"] == "/a/b"
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_hsts_is_sent_only_with_https_only_as_express_does(server, pki):
    _, port = start_https(server, pki, "--hsts-policy", "max-age=60")
    secure = requests.get(f"https://localhost:{port}/", verify=pki / "ca.crt")
    assert secure.status_code == 200
    assert "Strict-Transport-Security" not in secure.headers


def test_a_malformed_request_over_tls_gets_its_400_page(server, pki):
    """The refusal written after hyper let go of the connection goes out through TLS too."""
    _, port = start_https(server, pki)
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    with socket.create_connection(("127.0.0.1", port)) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nX-Field\r\n\r\n")
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
    assert data.startswith(f"HTTP/1.1 400 {REASONS[400]}\r\n".encode()), data[:200]


def test_a_client_that_stalls_in_the_handshake_is_closed(server, pki):
    """A TLS client that connects and sends nothing is cut when the header timeout runs out
    (as one that sends no request head), and the server goes on answering others."""
    _, port = start_https(server, pki, "--header-timeout", "1", "--header-max-timeout", "1")
    with socket.create_connection(("127.0.0.1", port)) as idle:
        idle.settimeout(30)
        assert idle.recv(1024) == b""
    assert requests.get(f"https://localhost:{port}/", verify=pki / "ca.crt").status_code == 200


def run_refused(args):
    """Starts oxwsgi with `args` on a free port, which must fail: its exit status and error
    output, after checking that nothing listened."""
    port = free_port()
    result = subprocess.run(
        [str(BINARY), "start-server", "--port", str(port), str(ENVIRON_APP), *map(str, args)],
        capture_output=True, text=True, timeout=60,
    )
    assert not port_is_listening(port)
    return result


@pytest.mark.parametrize("case", ["missing-key", "stranger-key", "key-as-certificate",
                                  "no-certificate", "no-https-port", "https-only-alone"])
def test_unusable_https_settings_stop_the_start_naming_the_file(pki, tmp_path, case):
    crt, key = pki / "server.crt", pki / "server.key"
    https = ["--https-port", free_port()]
    args, expected = {
        "missing-key": (
            [*https, "--ssl-certificate-file", crt,
             "--ssl-certificate-key-file", tmp_path / "nope.key"],
            f"the key (--ssl-certificate-key-file) '{tmp_path}/nope.key' cannot be read: No "
            "such file or directory (os error 2)",
        ),
        "stranger-key": (
            [*https, "--ssl-certificate-file", crt,
             "--ssl-certificate-key-file", pki / "stranger.key"],
            f"--ssl-certificate-key-file '{pki}/stranger.key' cannot serve the certificate "
            f"--ssl-certificate-file '{pki}/server.crt': the key is not the certificate's "
            "(their public keys differ)",
        ),
        "key-as-certificate": (
            [*https, "--ssl-certificate-file", key, "--ssl-certificate-key-file", key],
            f"--ssl-certificate-file '{pki}/server.key': no certificate in it; give the PEM "
            "file that starts with -----BEGIN CERTIFICATE-----",
        ),
        "no-certificate": (
            https,
            f"--https-port {https[1]}: needs one certificate: give --ssl-certificate-file and "
            "--ssl-certificate-key-file, or --ssl-certificate NAME for NAME.crt and NAME.key",
        ),
        "no-https-port": (
            ["--ssl-certificate-file", crt, "--ssl-certificate-key-file", key],
            "--ssl-certificate-file needs --https-port, the port that serves HTTPS",
        ),
        "https-only-alone": (
            ["--https-only"],
            "--https-only needs --https-port, the port that serves HTTPS",
        ),
    }[case]
    result = run_refused(args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == f"oxwsgi: {expected}"


def test_the_banner_shows_the_https_url(server, pki):
    srv, port = start_https(server, pki)
    assert f"Server URL (HTTPS) : https://localhost:{port}/" in srv.stdout
    wait_until(lambda: port_is_listening(port), what="the HTTPS port listening")


FORBIDDEN = "<p>You don't have permission to access this resource.</p>"


def test_client_certificates_are_required_below_the_verify_client_paths(server, pki):
    """--ssl-verify-client /secure: there a certificate the CA signed is needed (none: 403),
    elsewhere not; one from another CA fails the handshake; plain HTTP is not concerned; and
    with --ssl-environment the application sees mod_ssl's variables, in its formats."""
    srv, port = start_https(server, pki, "--ssl-ca-certificate-file", str(pki / "ca.crt"),
                            "--ssl-verify-client", "/secure", "--ssl-environment")
    base = f"https://localhost:{port}"
    ca = pki / "ca.crt"
    alice = (str(pki / "alice.crt"), str(pki / "alice.key"))

    open_page = requests.get(base + "/open", verify=ca)
    assert open_page.status_code == 200
    seen = environ(open_page)
    assert seen["SSL_CLIENT_VERIFY"] == "NONE"
    assert seen["SSL_PROTOCOL"] in ("TLSv1.2", "TLSv1.3")
    assert seen["SSL_TLS_SNI"] == "localhost"
    assert (seen["SSL_SERVER_S_DN"], seen["SSL_SERVER_S_DN_CN"]) == ("CN=localhost", "localhost")
    assert seen["SSL_SERVER_I_DN"] == "CN=oxwsgi test CA"
    assert "SSL_CLIENT_S_DN" not in seen

    refused = requests.get(base + "/secure/x", verify=ca)
    assert refused.status_code == 403 and FORBIDDEN in refused.text

    allowed = requests.get(base + "/secure/x", verify=ca, cert=alice)
    assert allowed.status_code == 200
    seen = environ(allowed)
    assert seen["PATH_INFO"] == "/secure/x"
    assert seen["SSL_CLIENT_VERIFY"] == "SUCCESS"
    assert seen["SSL_CLIENT_S_DN"] == "CN=alice,O=Example\\, Ltd,C=NZ"
    assert seen["SSL_CLIENT_S_DN_CN"] == "alice"
    assert seen["SSL_CLIENT_I_DN"] == "CN=oxwsgi test CA"
    assert seen["SSL_CLIENT_M_SERIAL"] == openssl_field(pki, "alice.crt", "serial")
    assert seen["SSL_CLIENT_V_START"] == openssl_field(pki, "alice.crt", "startdate")
    assert seen["SSL_CLIENT_V_END"] == openssl_field(pki, "alice.crt", "enddate")
    assert seen["SSL_CLIENT_M_VERSION"] == "3"

    with pytest.raises(requests.exceptions.SSLError):
        requests.get(base + "/open", verify=ca,
                     cert=(str(pki / "mallory.crt"), str(pki / "mallory.key")))
    assert requests.get(srv.url + "/secure/x").status_code == 200


def test_a_ca_file_alone_requires_a_certificate_everywhere(server, pki):
    _, port = start_https(server, pki, "--ssl-ca-certificate-file", str(pki / "ca.crt"))
    base = f"https://localhost:{port}"
    ca = pki / "ca.crt"
    refused = requests.get(base + "/", verify=ca)
    assert refused.status_code == 403 and FORBIDDEN in refused.text
    allowed = requests.get(base + "/", verify=ca,
                           cert=(str(pki / "alice.crt"), str(pki / "alice.key")))
    assert allowed.status_code == 200
    # Without --ssl-environment, no SSL_* key but HTTPS.
    assert not [key for key in environ(allowed) if key.startswith("SSL_")]
