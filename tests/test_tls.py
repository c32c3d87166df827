"""HTTPS from the command line, as mod_wsgi-express sets it up: --https-port with a certificate
and key (or --ssl-certificate NAME), --https-only redirecting plain HTTP, --hsts-policy; and
from Apache site files, mod_ssl's directives (SSLVerifyClient, SSLCACertificatePath,
SSLOptions +StdEnvVars +ExportCertData, SSLRequireSSL); real clients (requests, curl,
Python's ssl) against certificates made here with a throwaway CA."""

import hashlib
import json
import os
import pathlib
import re
import signal
import socket
import ssl
import subprocess
import threading

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
    # A second name's certificate, for SNI.
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-subj", "/CN=other.test", "-keyout", "other.key", "-out", "other.csr", cwd=d)
    (d / "other.ext").write_text("subjectAltName=DNS:other.test\n")
    openssl("x509", "-req", "-in", "other.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "other.ext", "-out", "other.crt", cwd=d)
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
    # A self-signed client certificate, as `openssl req -x509` makes them; and carol's, from
    # an intermediate authority the CA signed, with the chain she sends.
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", "/CN=selfie", "-keyout", "selfie.key", "-out",
            "selfie.crt", cwd=d)
    (d / "sub-ca.ext").write_text("basicConstraints=critical,CA:TRUE\n")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-subj", "/CN=oxwsgi sub CA", "-keyout", "sub-ca.key", "-out", "sub-ca.csr", cwd=d)
    openssl("x509", "-req", "-in", "sub-ca.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "sub-ca.ext", "-out", "sub-ca.crt",
            cwd=d)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-subj", "/CN=carol", "-keyout", "carol.key", "-out", "carol.csr", cwd=d)
    openssl("x509", "-req", "-in", "carol.csr", "-CA", "sub-ca.crt", "-CAkey", "sub-ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "client.ext", "-out", "carol.crt",
            cwd=d)
    (d / "carol-chain.crt").write_text((d / "carol.crt").read_text()
                                       + (d / "sub-ca.crt").read_text())
    # dave's, one authority deeper: the CA signed the sub CA, which signed the sub-sub CA.
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-subj", "/CN=oxwsgi sub-sub CA", "-keyout", "sub-sub-ca.key", "-out",
            "sub-sub-ca.csr", cwd=d)
    openssl("x509", "-req", "-in", "sub-sub-ca.csr", "-CA", "sub-ca.crt", "-CAkey",
            "sub-ca.key", "-CAcreateserial", "-days", "2", "-extfile", "sub-ca.ext", "-out",
            "sub-sub-ca.crt", cwd=d)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-subj", "/CN=dave", "-keyout", "dave.key", "-out", "dave.csr", cwd=d)
    openssl("x509", "-req", "-in", "dave.csr", "-CA", "sub-sub-ca.crt", "-CAkey",
            "sub-sub-ca.key", "-CAcreateserial", "-days", "2", "-extfile", "client.ext", "-out",
            "dave.crt", cwd=d)
    (d / "dave-chain.crt").write_text((d / "dave.crt").read_text()
                                      + (d / "sub-sub-ca.crt").read_text()
                                      + (d / "sub-ca.crt").read_text())
    # A server certificate the sub CA signed: clients that trust the CA need the sub CA's
    # certificate from the server (the chain file).
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-subj", "/CN=localhost", "-keyout", "chained.key", "-out", "chained.csr", cwd=d)
    openssl("x509", "-req", "-in", "chained.csr", "-CA", "sub-ca.crt", "-CAkey", "sub-ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "chained.crt", cwd=d)
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
    # mod_wsgi-express's --ssl-environment is SSLOptions +StdEnvVars alone: no certificates.
    assert not [key for key in seen if key.endswith("_CERT") or "_CERT_CHAIN_" in key]

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


def test_express_client_certificates_get_mod_ssls_default_verify_depth(server, pki):
    """mod_wsgi-express sets no SSLVerifyDepth, so mod_ssl's default 1 applies: a certificate
    the CA signed directly, not carol's, signed through the sub CA (the handshake fails, and
    the reason is logged in mod_ssl's words)."""
    srv, port = start_https(server, pki, "--ssl-ca-certificate-file", str(pki / "ca.crt"),
                            "--ssl-verify-client", "/secure", "--log-level", "info")
    status, _ = curl_with_certificate(port, "/secure/x", pki, "alice.crt", "alice.key")
    assert status == 200
    refused = curl_with_certificate(port, "/open", pki, "carol-chain.crt", "carol.key",
                                    check=False)
    assert_refused_in_the_handshake(refused)
    srv.wait_for_log(TOO_LONG.format(found=2, allowed=1))


# What oxwsgi logs (at info, as other handshake refusals) of a chain SSLVerifyDepth refuses:
# httpd's AH02040, whose "certificates" are the authorities above the client's own.
TOO_LONG = (r"TLS handshake failed: other error: Certificate Verification: Certificate Chain "
            r"too long \(chain has {found} certificates, but maximum allowed are only "
            r"{allowed}; SSLVerifyDepth\)")


def curl_with_certificate(port, path, pki, cert, key, check=True):
    """curl's GET of `path` over HTTPS naming localhost, presenting `cert` (with `key`) from
    the pki: status and body; with `check` false, the finished process."""
    result = subprocess.run(
        ["curl", "-sS", "--cacert", str(pki / "ca.crt"), "--cert", str(pki / cert), "--key",
         str(pki / key), "--resolve", f"localhost:{port}:127.0.0.1", "-w", "\n%{http_code}",
         f"https://localhost:{port}{path}"],
        capture_output=True, text=True, timeout=60)
    if not check:
        return result
    assert result.returncode == 0, result.stderr
    body, _, code = result.stdout.rpartition("\n")
    return int(code), body


def assert_refused_in_the_handshake(result):
    """The server refused the client's certificate with a handshake_failure alert: with TLS
    1.3 curl learns it when it reads the answer to its request (exit 56, no HTTP status)."""
    assert result.returncode == 56, (result.returncode, result.stderr)
    assert "sslv3 alert handshake failure" in result.stderr, result.stderr
    assert result.stdout == "\n000"


def s_client(port, pki, *extra, request=b""):
    """What `openssl s_client` prints of a connection to 127.0.0.1:`port` naming localhost
    and trusting the test CA, with what the server answers to `request`."""
    result = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
         "-CAfile", str(pki / "ca.crt"), *extra],
        input=request, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.decode("latin-1")


def served_chain(output):
    """The certificates `openssl s_client -showcerts` lists: (subject, issuer) each."""
    return re.findall(r"^ \d s:(.*)\n\s+i:(.*)$", output, re.M)


def test_the_certificate_chain_file_sends_the_intermediate_to_clients(server, pki):
    """--ssl-certificate-chain-file: the server's certificate, signed by the sub CA, goes out
    with the sub CA's, so a client that trusts only the CA verifies it; without the chain
    file it cannot."""
    srv = server(str(ENVIRON_APP), "--https-port", "0",
                 "--ssl-certificate-file", str(pki / "chained.crt"),
                 "--ssl-certificate-key-file", str(pki / "chained.key"),
                 "--ssl-certificate-chain-file", str(pki / "sub-ca.crt"))
    port = https_port(srv)
    out = s_client(port, pki, "-showcerts")
    assert served_chain(out) == [("CN = localhost", "CN = oxwsgi sub CA"),
                                 ("CN = oxwsgi sub CA", "CN = oxwsgi test CA")]
    assert (pki / "sub-ca.crt").read_text() in out
    assert "Verify return code: 0 (ok)" in out
    answer = requests.get(f"https://localhost:{port}/", verify=pki / "ca.crt")
    assert answer.status_code == 200

    srv = server(str(ENVIRON_APP), "--https-port", "0",
                 "--ssl-certificate-file", str(pki / "chained.crt"),
                 "--ssl-certificate-key-file", str(pki / "chained.key"))
    port = https_port(srv)
    out = s_client(port, pki, "-showcerts")
    assert served_chain(out) == [("CN = localhost", "CN = oxwsgi sub CA")]
    assert "Verify return code: 21 (unable to verify the first certificate)" in out
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"https://localhost:{port}/", verify=pki / "ca.crt")


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
def test_ssl_cipher_and_protocol_are_what_openssl_reports_for_the_connection(
        server, pki, version):
    _, port = start_https(server, pki, "--ssl-environment")
    request = b"GET /c HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    out = s_client(port, pki, version, "-ign_eof", request=request)
    reported = re.search(r"^New, (TLSv1\.[23]), Cipher is (\S+)$", out, re.M)
    assert reported, out
    assert reported.group(1) == {"-tls1_2": "TLSv1.2", "-tls1_3": "TLSv1.3"}[version]
    answer = out[out.index("HTTP/1.1 "):]
    assert answer.startswith("HTTP/1.1 200 OK\r\n"), answer[:200]
    # The body, then what s_client prints after it (TLS 1.3 session tickets, with a hex dump).
    body, _ = json.JSONDecoder().raw_decode(answer.partition("\r\n\r\n")[2])
    seen = json_environ(json.dumps(body))
    assert (seen["SSL_PROTOCOL"], seen["SSL_CIPHER"]) == reported.groups()


# --- from Apache site files ---------------------------------------------------------------

TLS_APP = """
def application(environ, start_response):
    keys = sorted(k for k in environ if k.startswith("SSL_") or k in ("HTTPS", "wsgi.url_scheme"))
    body = "".join("%s=%s\\n" % (k, environ[k]) for k in keys)
    body += "group=%s\\n" % environ["mod_wsgi.process_group"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
"""


def fields(body):
    return dict(line.split("=", 1) for line in body.splitlines() if "=" in line)


def peer_name(port, name, pki):
    """The subject CN of the certificate the server shows a client asking for `name`."""
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    with socket.create_connection(("127.0.0.1", port)) as raw:
        with context.wrap_socket(raw, server_hostname=name) as tls:
            return dict(x[0] for x in tls.getpeercert()["subject"])["commonName"]


def tls_get(port, path, name, pki, cert=None):
    """A GET over TLS to 127.0.0.1 naming `name` (SNI and Host): status and body."""
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    if cert:
        context.load_cert_chain(*cert)
    with socket.create_connection(("127.0.0.1", port)) as raw:
        with context.wrap_socket(raw, server_hostname=name) as tls:
            tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n"
                        .encode())
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
    head, _, body = data.decode().partition("\r\n\r\n")
    return int(head.split()[1]), body


@pytest.mark.parametrize("groups", ["one", "two"])
def test_apache_virtual_hosts_speak_tls_with_their_own_certificates(pki, tmp_path, groups):
    """Two name-based <VirtualHost>s on one port with SSLEngine on and a certificate each,
    chosen by SNI; SSLVerifyClient require in a <Location>; SSLOptions +StdEnvVars; with one
    group the workers serve TLS directly, with two the front tier does and the SSL_*
    variables cross its hop."""
    import tempfile, shutil
    from support import Server, VENV
    site = pathlib.Path(tempfile.mkdtemp(prefix="oxwsgi-tls-site-"))
    os.chmod(site, 0o755)
    try:
        (site / "app.wsgi").write_text(TLS_APP)
        for name in ("server.crt", "server.key", "other.crt", "other.key", "ca.crt"):
            shutil.copy(pki / name, site / name)
            os.chmod(site / name, 0o600 if name.endswith(".key") else 0o644)
        port = free_port()
        user = "User oxwsgi-test" if os.getuid() == 0 else ""
        second = "other" if groups == "two" else "shared"
        conf = site / "site.conf"
        conf.write_text(f"""
Listen 127.0.0.1:{port}
{user}
WSGIDaemonProcess shared threads=2 python-home={VENV}
WSGIDaemonProcess other threads=2 python-home={VENV}
WSGIApplicationGroup %{{GLOBAL}}
<VirtualHost *:{port}>
    ServerName localhost
    Protocols h2 http/1.1
    SSLEngine on
    SSLCertificateFile {site}/server.crt
    SSLCertificateKeyFile {site}/server.key
    SSLCACertificateFile {site}/ca.crt
    SSLOptions +StdEnvVars
    SSLProtocol all -SSLv3
    WSGIScriptAlias / {site}/app.wsgi process-group=shared
    <Location /admin>
        SSLVerifyClient require
    </Location>
</VirtualHost>
<VirtualHost *:{port}>
    ServerName other.test
    SSLEngine on
    SSLCertificateFile {site}/other.crt
    SSLCertificateKeyFile {site}/other.key
    SSLCACertificateFile {site}/ca.crt
    SSLOptions +StdEnvVars
    SSLProtocol all -SSLv3
    WSGIScriptAlias / {site}/app.wsgi process-group={second}
</VirtualHost>
""")
        checked = subprocess.run([str(BINARY), "check-config", str(conf)],
                                 capture_output=True, text=True, timeout=60)
        assert checked.returncode == 0, checked.stderr
        assert f"  127.0.0.1:{port} (HTTPS) -> " in checked.stdout
        assert (f"{conf}:15: warning: SSLProtocol: TLSv1, TLSv1.1 left out: rustls does not "
                "speak protocols older than TLSv1.2") in checked.stderr
        srv = Server(["--config", conf], site, apache=True)
        try:
            assert peer_name(port, "localhost", pki) == "localhost"
            # Protocols h2 http/1.1: HTTP/2 by ALPN.
            version = subprocess.run(
                ["curl", "-sS", "--http2", "--cacert", str(pki / "ca.crt"), "-o", "/dev/null",
                 "-w", "%{http_version}", f"https://localhost:{port}/"],
                capture_output=True, text=True, timeout=60)
            assert version.stdout == "2", version.stderr
            assert peer_name(port, "other.test", pki) == "other.test"
            status, body = tls_get(port, "/x", "other.test", pki)
            seen = fields(body)
            assert status == 200
            assert (seen["HTTPS"], seen["wsgi.url_scheme"]) == ("on", "https")
            assert (seen["SSL_TLS_SNI"], seen["SSL_SERVER_S_DN"]) == ("other.test", "CN=other.test")
            assert seen["group"] == second
            status, body = tls_get(port, "/admin/users", "localhost", pki)
            assert status == 403 and FORBIDDEN in body
            alice = (str(pki / "alice.crt"), str(pki / "alice.key"))
            status, body = tls_get(port, "/admin/users", "localhost", pki, cert=alice)
            seen = fields(body)
            assert status == 200
            assert (seen["SSL_CLIENT_VERIFY"], seen["SSL_CLIENT_S_DN_CN"]) == ("SUCCESS", "alice")
            assert seen["SSL_SERVER_S_DN"] == "CN=localhost"
            assert seen["group"] == "shared"
        finally:
            srv.stop()
    finally:
        shutil.rmtree(site, ignore_errors=True)


@pytest.mark.parametrize("case", ["no-certificate", "mixed", "old-only", "verify-without-ca"])
def test_apache_tls_mistakes_name_their_line(tmp_path, pki, case):
    port = free_port()
    crt, key = pki / "server.crt", pki / "server.key"
    body, expected = {
        "no-certificate": (
            f"<VirtualHost *:{port}>\nSSLEngine on\n</VirtualHost>\n",
            ":3: error: SSLEngine on needs a certificate: add SSLCertificateFile and "
            "SSLCertificateKeyFile (httpd: \"Server should be SSL-aware but has no certificate "
            "configured\")",
        ),
        "mixed": (
            f"<VirtualHost *:{port}>\nServerName a\nSSLEngine on\nSSLCertificateFile {crt}\n"
            f"SSLCertificateKeyFile {key}\nWSGIScriptAlias / {tmp_path}/app.wsgi\n"
            f"</VirtualHost>\n"
            f"<VirtualHost *:{port}>\nServerName b\nWSGIScriptAlias / {tmp_path}/app.wsgi\n"
            "</VirtualHost>\n",
            f":9: error: SSLEngine on in some of the <VirtualHost>s on *:{port} and not in "
            "others: one address speaks TLS to all of its virtual hosts or to none",
        ),
        "old-only": (
            "SSLProtocol TLSv1 +TLSv1.1\n",
            ":2: error: SSLProtocol TLSv1 +TLSv1.1: oxwsgi speaks TLSv1.2 and TLSv1.3 only "
            "(rustls); enable one of them",
        ),
        "verify-without-ca": (
            f"SSLEngine on\nSSLCertificateFile {crt}\nSSLCertificateKeyFile {key}\n"
            "SSLVerifyClient require\n",
            ":5: error: SSLVerifyClient require needs SSLCACertificateFile or "
            "SSLCACertificatePath, the authorities that sign the client certificates",
        ),
    }[case]
    conf = tmp_path / "site.conf"
    app = tmp_path / "app.wsgi"
    app.write_text("application = None\n")
    alias = "" if case == "mixed" else f"WSGIScriptAlias / {app}\n"
    # As root, httpd's User for the workers (they never run as root): the last line.
    user = "User oxwsgi-test\n" if os.getuid() == 0 else ""
    conf.write_text(f"Listen {port}\n{body}{alias}{user}")
    result = subprocess.run([str(BINARY), "start-server", "--config", str(conf)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"{conf}{expected}" in result.stderr.splitlines()
    assert not port_is_listening(port)


def json_environ(body):
    """The environ the environ app reports in a response body."""
    return {key: value["value"] for key, value in json.loads(body).items()
            if isinstance(value, dict) and "value" in value}


def apache_site(pki, prefix):
    """A directory for a site file, readable by the workers' user, with the environ app and
    the pki's files the sites name."""
    import tempfile, shutil
    site = pathlib.Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(site, 0o755)
    (site / "app.wsgi").write_text(ENVIRON_APP.read_text())
    for name in ("server.crt", "server.key", "other.crt", "other.key", "ca.crt"):
        shutil.copy(pki / name, site / name)
        os.chmod(site / name, 0o600 if name.endswith(".key") else 0o644)
    return site


@pytest.mark.parametrize("groups", ["one", "two"])
def test_apache_export_cert_data_and_optional_no_ca_with_a_ca_path(pki, groups):
    """SSLCACertificatePath names the authorities (a directory `openssl rehash` prepared);
    SSLVerifyClient optional_no_ca accepts a certificate none of them signed, which mod_ssl
    reports as FAILED with OpenSSL's reason and which `require` refuses; SSLOptions
    +ExportCertData gives the application the certificates, PEM, as mod_ssl writes them. With
    two groups the front tier serves TLS and the multi-line values cross its hop."""
    import shutil
    from support import Server, VENV
    site = apache_site(pki, "oxwsgi-tls-export-")
    try:
        authorities = site / "authorities"
        authorities.mkdir()
        shutil.copy(pki / "ca.crt", authorities / "oxwsgi-test-ca.pem")
        (authorities / "README").write_text("The authorities of the clients.\n")
        openssl("rehash", str(authorities), cwd=site)
        assert [p.name for p in authorities.iterdir() if p.name.endswith(".0")]
        os.chmod(authorities, 0o755)
        port = free_port()
        user = "User oxwsgi-test" if os.getuid() == 0 else ""
        second = "other" if groups == "two" else "shared"
        tls = f"""SSLEngine on
    SSLCACertificatePath {authorities}
    SSLVerifyClient optional_no_ca
    SSLVerifyDepth 2
    SSLOptions +StdEnvVars +ExportCertData"""
        conf = site / "site.conf"
        conf.write_text(f"""
Listen 127.0.0.1:{port}
{user}
WSGIDaemonProcess shared threads=2 python-home={VENV}
WSGIDaemonProcess other threads=2 python-home={VENV}
WSGIApplicationGroup %{{GLOBAL}}
<VirtualHost *:{port}>
    ServerName localhost
    {tls}
    SSLCertificateFile {site}/server.crt
    SSLCertificateKeyFile {site}/server.key
    WSGIScriptAlias / {site}/app.wsgi process-group=shared
    <Location /admin>
        SSLVerifyClient require
    </Location>
</VirtualHost>
<VirtualHost *:{port}>
    ServerName other.test
    {tls}
    SSLCertificateFile {site}/other.crt
    SSLCertificateKeyFile {site}/other.key
    WSGIScriptAlias / {site}/app.wsgi process-group={second}
</VirtualHost>
""")
        srv = Server(["--config", conf], site, apache=True)
        try:
            base = f"https://localhost:{port}"
            ca = pki / "ca.crt"
            pem = lambda name: (pki / name).read_text()

            # A certificate the authorities signed (requests).
            alice = (str(pki / "alice.crt"), str(pki / "alice.key"))
            answer = requests.get(base + "/admin/users", verify=ca, cert=alice)
            assert answer.status_code == 200
            seen = environ(answer)
            assert (seen["SSL_CLIENT_VERIFY"], seen["SSL_CLIENT_S_DN_CN"]) == ("SUCCESS", "alice")
            assert seen["SSL_CLIENT_CERT"] == pem("alice.crt")
            assert seen["SSL_SERVER_CERT"] == pem("server.crt")
            # OpenSSL's clients complete their chain from the authorities they trust.
            assert seen["SSL_CLIENT_CERT_CHAIN_0"] == pem("ca.crt")
            assert "SSL_CLIENT_CERT_CHAIN_1" not in seen
            assert seen["mod_wsgi.process_group"] == "shared"

            # Through an intermediate authority, with the chain (Python's ssl): SSLVerifyDepth 2
            # lets it through (mod_ssl's default, 1, would not).
            carol = (str(pki / "carol-chain.crt"), str(pki / "carol.key"))
            status, body = tls_get(port, "/admin/x", "localhost", pki, cert=carol)
            assert status == 200
            seen = json_environ(body)
            assert (seen["SSL_CLIENT_VERIFY"], seen["SSL_CLIENT_S_DN"]) == ("SUCCESS", "CN=carol")
            assert seen["SSL_CLIENT_CERT"] == pem("carol.crt")
            assert seen["SSL_CLIENT_CERT_CHAIN_0"] == pem("sub-ca.crt")
            assert "SSL_CLIENT_CERT_CHAIN_1" not in seen

            # Self-signed (curl): accepted unverified, refused where one is required.
            def curl(path, name="localhost"):
                out = subprocess.run(
                    ["curl", "-sS", "--cacert", str(ca), "--cert", str(pki / "selfie.crt"),
                     "--key", str(pki / "selfie.key"), "--resolve", f"{name}:{port}:127.0.0.1",
                     "-w", "\n%{http_code}", f"https://{name}:{port}{path}"],
                    capture_output=True, text=True, timeout=60)
                assert out.returncode == 0, out.stderr
                body, _, code = out.stdout.rpartition("\n")
                return int(code), body
            status, body = curl("/open")
            assert status == 200
            seen = json_environ(body)
            assert seen["SSL_CLIENT_VERIFY"] == "FAILED:self-signed certificate"
            assert seen["SSL_CLIENT_S_DN"] == "CN=selfie"
            assert seen["SSL_CLIENT_CERT"] == pem("selfie.crt")
            status, body = curl("/admin/users")
            assert status == 403 and FORBIDDEN in body
            # The other virtual host's certificate, chosen by SNI, is the one exported.
            status, body = curl("/", name="other.test")
            seen = json_environ(body)
            assert status == 200
            assert seen["SSL_SERVER_CERT"] == pem("other.crt")
            assert seen["SSL_CLIENT_VERIFY"] == "FAILED:self-signed certificate"
            assert seen["mod_wsgi.process_group"] == second

            # Another CA's certificate, sent alone: OpenSSL's reason for that shape.
            mallory = (str(pki / "mallory.crt"), str(pki / "mallory.key"))
            seen = environ(requests.get(base + "/", verify=ca, cert=mallory))
            assert seen["SSL_CLIENT_VERIFY"] == "FAILED:unable to verify the first certificate"

            # No certificate: SSL_CLIENT_CERT is there, empty, as mod_ssl sets it.
            seen = environ(requests.get(base + "/", verify=ca))
            assert (seen["SSL_CLIENT_VERIFY"], seen["SSL_CLIENT_CERT"]) == ("NONE", "")
            assert requests.get(base + "/admin/", verify=ca).status_code == 403
        finally:
            srv.stop()
    finally:
        shutil.rmtree(site, ignore_errors=True)


def test_apache_require_ssl_refuses_plain_http_before_asking_for_a_password(pki):
    """SSLRequireSSL in a <Location> and a <Directory>: over plain HTTP a 403, logged as
    mod_ssl logs it, before authentication (no password is asked for in the clear); over TLS
    the request goes on to the access rules and authentication."""
    import shutil
    from support import Server, VENV
    site = apache_site(pki, "oxwsgi-tls-require-")
    try:
        (site / "static").mkdir()
        (site / "static" / "a.txt").write_text("static file\n")
        os.chmod(site / "static", 0o755)
        hashed = subprocess.run(["openssl", "passwd", "-apr1", "s3cret"], check=True,
                                capture_output=True, text=True).stdout.strip()
        (site / "passwords").write_text(f"amy:{hashed}\n")
        os.chmod(site / "passwords", 0o644)
        plain, secure = free_port(), free_port()
        user = "User oxwsgi-test" if os.getuid() == 0 else ""
        conf = site / "site.conf"
        conf.write_text(f"""
Listen 127.0.0.1:{plain}
Listen 127.0.0.1:{secure}
{user}
WSGIDaemonProcess shared threads=2 python-home={VENV}
WSGIProcessGroup shared
WSGIApplicationGroup %{{GLOBAL}}
WSGIScriptAlias / {site}/app.wsgi
Alias /static {site}/static
<Location /secure>
    SSLRequireSSL
    AuthType Basic
    AuthName "Secure"
    AuthUserFile {site}/passwords
    Require valid-user
</Location>
<Directory {site}/static>
    SSLRequireSSL
</Directory>
<VirtualHost *:{secure}>
    ServerName localhost
    SSLEngine on
    SSLCertificateFile {site}/server.crt
    SSLCertificateKeyFile {site}/server.key
</VirtualHost>
""")
        checked = subprocess.run([str(BINARY), "check-config", str(conf)],
                                 capture_output=True, text=True, timeout=60)
        assert checked.returncode == 0, checked.stderr
        srv = Server(["--config", conf], site, apache=True)
        try:
            http = f"http://127.0.0.1:{plain}"
            https = f"https://localhost:{secure}"
            ca = pki / "ca.crt"
            refused = requests.get(http + "/secure/x?q=1")
            assert refused.status_code == 403 and FORBIDDEN in refused.text
            assert "WWW-Authenticate" not in refused.headers
            # The path as requested, without its query (httpd names r->filename).
            srv.wait_for_log(r"\[http:error\] .* access to /secure/x failed, reason: SSL "
                             r"connection required client\.addr=127\.0\.0\.1:\d+$")
            assert requests.get(http + "/secure/x", auth=("amy", "s3cret")).status_code == 403
            assert requests.get(http + "/static/a.txt").status_code == 403
            assert requests.get(http + "/other").status_code == 200
            # Over TLS: authentication, then the application; the static file.
            assert requests.get(https + "/secure/x", verify=ca).status_code == 401
            answer = requests.get(https + "/secure/x", verify=ca, auth=("amy", "s3cret"))
            assert answer.status_code == 200
            assert environ(answer)["REMOTE_USER"] == "amy"
            static = requests.get(https + "/static/a.txt", verify=ca)
            assert (static.status_code, static.text) == (200, "static file\n")
        finally:
            srv.stop()
    finally:
        shutil.rmtree(site, ignore_errors=True)


def test_apache_ca_path_without_certificates_stops_the_start_naming_its_line(tmp_path, pki):
    port = free_port()
    empty = tmp_path / "authorities"
    empty.mkdir()
    (empty / "README").write_text("nothing yet\n")
    app = tmp_path / "app.wsgi"
    app.write_text("application = None\n")
    user = "User oxwsgi-test\n" if os.getuid() == 0 else ""
    conf = tmp_path / "site.conf"
    conf.write_text(f"Listen {port}\nSSLEngine on\nSSLCertificateFile {pki}/server.crt\n"
                    f"SSLCertificateKeyFile {pki}/server.key\nSSLCACertificatePath {empty}\n"
                    f"WSGIScriptAlias / {app}\n{user}")
    result = subprocess.run([str(BINARY), "start-server", "--config", str(conf)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert (f"{conf}:5 '{empty}': no PEM certificate in any file of the directory; give the "
            "directory of the authorities' certificates (files that start with -----BEGIN "
            "CERTIFICATE-----)") in result.stderr, result.stderr
    assert not port_is_listening(port)


def served_fingerprint(port):
    """The SHA-256 fingerprint of the certificate a new connection gets."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port)) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            return hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()


def file_fingerprint(path):
    der = ssl.PEM_cert_to_DER_cert(path.read_text())
    return hashlib.sha256(der).hexdigest()


class TlsLoad:
    """Client threads sending HTTPS requests on kept-alive and new connections, recording
    every failure, while the test replaces the workers."""

    def __init__(self, url, ca):
        self.url, self.ca = url, ca
        self.stopping = threading.Event()
        self.failures, self.total = [], 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(keep,), daemon=True)
                        for keep in (True, True, False)]

    def run(self, keep_alive):
        session = requests.Session()
        while not self.stopping.is_set():
            try:
                if keep_alive:
                    status = session.get(self.url, verify=self.ca, timeout=30).status_code
                else:
                    status = requests.get(self.url, verify=self.ca, timeout=30).status_code
                failure = None if status == 200 else f"status {status}"
            except requests.RequestException as err:
                failure = repr(err)
            with self.lock:
                self.total += 1
                if failure:
                    self.failures.append(failure)

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def wait_for_total(self, total):
        wait_until(lambda: self.total >= total, what=f"{total} HTTPS requests")


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGUSR1], ids=["SIGHUP", "SIGUSR1"])
def test_a_restart_signal_serves_a_replaced_certificate_and_keeps_the_old_for_a_broken_one(
        server, pki, tmp_path, signum):
    """New handshakes get the certificate file's new content after SIGHUP, or SIGUSR1 (Apache's
    graceful restart; the replacement workers read it), with no failed request under load; a
    broken file leaves the running workers, and their certificate, in place, and the error
    names the file."""
    crt, key = tmp_path / "site.crt", tmp_path / "site.key"
    crt.write_bytes((pki / "server.crt").read_bytes())
    key.write_bytes((pki / "server.key").read_bytes())
    srv = server(str(ENVIRON_APP), "--https-port", "0", "--ssl-certificate", str(tmp_path / "site"))
    port = https_port(srv)
    assert served_fingerprint(port) == file_fingerprint(pki / "server.crt")
    ca = pki / "ca.crt"
    # The renewed certificate: the same name and key, a new serial.
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out",
            str(tmp_path / "renewed.crt"), cwd=pki)
    renewed = file_fingerprint(tmp_path / "renewed.crt")
    with TlsLoad(f"https://localhost:{port}/", ca) as load:
        load.wait_for_total(50)
        crt.write_bytes((tmp_path / "renewed.crt").read_bytes())
        srv.send_signal(signum)
        wait_until(lambda: served_fingerprint(port) == renewed, what="the renewed certificate")
        load.wait_for_total(load.total + 50)
    assert load.failures == [], load.failures[:5]

    workers = srv.worker_pids()
    crt.write_text("not a certificate\n")
    srv.send_signal(signum)
    srv.wait_for_log(r"--ssl-certificate '.*site\.crt': no certificate in it")
    srv.wait_for_log(r"the worker it was to replace keeps serving")
    assert srv.worker_pids() == workers
    assert served_fingerprint(port) == renewed
    assert requests.get(f"https://localhost:{port}/", verify=ca).status_code == 200


def run_apache_site(site, conf_text):
    """Writes `conf_text` as the site's configuration, checks it, and starts oxwsgi on it."""
    from support import Server
    conf = site / "site.conf"
    conf.write_text(conf_text)
    checked = subprocess.run([str(BINARY), "check-config", str(conf)],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
    return Server(["--config", conf], site, apache=True)


@pytest.mark.parametrize("depth", [None, 2], ids=["default", "two"])
def test_apache_verify_depth_bounds_the_client_certificate_chain(pki, depth):
    """SSLVerifyDepth counts the authorities above the client's certificate, the trusted one
    included (mod_ssl's count, not OpenSSL's, which leaves the trusted one out). Without it,
    mod_ssl's default 1: alice's (the CA signed it) passes, carol's (through the sub CA) fails
    the handshake; with 2, carol's passes and dave's (through two) fails. httpd 2.4.71 does
    the same, and logs `AH02040: Certificate Verification: Certificate Chain too long (chain
    has 2 certificates, but maximum allowed are only 1)`."""
    import shutil
    from support import VENV
    site = apache_site(pki, "oxwsgi-tls-depth-")
    try:
        port = free_port()
        user = "User oxwsgi-test" if os.getuid() == 0 else ""
        depth_line = f"SSLVerifyDepth {depth}" if depth else ""
        srv = run_apache_site(site, f"""
Listen 127.0.0.1:{port}
{user}
LogLevel info
WSGIDaemonProcess shared threads=2 python-home={VENV}
WSGIProcessGroup shared
<VirtualHost *:{port}>
    ServerName localhost
    SSLEngine on
    SSLCertificateFile {site}/server.crt
    SSLCertificateKeyFile {site}/server.key
    SSLCACertificateFile {site}/ca.crt
    SSLVerifyClient require
    {depth_line}
    SSLOptions +StdEnvVars
    WSGIScriptAlias / {site}/app.wsgi
</VirtualHost>
""")
        try:
            passes, fails, found = (
                [("alice", "alice.crt")], ("carol", "carol-chain.crt"), 2,
            ) if depth is None else (
                [("alice", "alice.crt"), ("carol", "carol-chain.crt")],
                ("dave", "dave-chain.crt"), 3,
            )
            for name, chain in passes:
                status, body = curl_with_certificate(port, "/x", pki, chain, f"{name}.key")
                seen = json_environ(body)
                assert status == 200
                assert (seen["SSL_CLIENT_VERIFY"], seen["SSL_CLIENT_S_DN_CN"]) == (
                    "SUCCESS", name)
            name, chain = fails
            refused = curl_with_certificate(port, "/x", pki, chain, f"{name}.key", check=False)
            assert_refused_in_the_handshake(refused)
            srv.wait_for_log(TOO_LONG.format(found=found, allowed=depth or 1))
        finally:
            srv.stop()
    finally:
        shutil.rmtree(site, ignore_errors=True)


def test_apache_verify_depth_in_a_location_is_not_yet(pki, tmp_path):
    """httpd renegotiates (TLS 1.2) or asks again after the handshake (TLS 1.3) where a
    section lowers the depth; oxwsgi checks the chain in the handshake only, so a section's
    SSLVerifyDepth stops the start, naming its line, rather than be ignored."""
    port = free_port()
    app = tmp_path / "app.wsgi"
    app.write_text("application = None\n")
    user = "User oxwsgi-test\n" if os.getuid() == 0 else ""
    conf = tmp_path / "site.conf"
    conf.write_text(f"Listen {port}\nSSLEngine on\nSSLCertificateFile {pki}/server.crt\n"
                    f"SSLCertificateKeyFile {pki}/server.key\nSSLCACertificateFile {pki}/ca.crt\n"
                    f"<Location /admin>\nSSLVerifyDepth 0\n</Location>\n"
                    f"WSGIScriptAlias / {app}\n{user}")
    result = subprocess.run([str(BINARY), "start-server", "--config", str(conf)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert (f"{conf}:7: error: SSLVerifyDepth inside <Location> is not supported yet by "
            "start-server (check-config accepts it; see docs/apache.md for what runs)"
            ) in result.stderr.splitlines(), result.stderr
    assert not port_is_listening(port)


def test_apache_verify_client_in_a_directory_applies_where_its_files_are_served(pki):
    """SSLVerifyClient require in a <Directory>: the URL paths its files are served at (an
    Alias) need a certificate the CA signed, the rest of the site does not; a <Location>
    inside says otherwise for its path, as httpd merges <Location> sections after
    <Directory> ones."""
    import shutil
    from support import VENV
    site = apache_site(pki, "oxwsgi-tls-directory-")
    try:
        (site / "static" / "open").mkdir(parents=True)
        (site / "static" / "a.txt").write_text("static file\n")
        (site / "static" / "open" / "b.txt").write_text("open file\n")
        for path in (site / "static", site / "static" / "open"):
            os.chmod(path, 0o755)
        port = free_port()
        user = "User oxwsgi-test" if os.getuid() == 0 else ""
        srv = run_apache_site(site, f"""
Listen 127.0.0.1:{port}
{user}
WSGIDaemonProcess shared threads=2 python-home={VENV}
WSGIProcessGroup shared
<VirtualHost *:{port}>
    ServerName localhost
    SSLEngine on
    SSLCertificateFile {site}/server.crt
    SSLCertificateKeyFile {site}/server.key
    SSLCACertificateFile {site}/ca.crt
    WSGIScriptAlias / {site}/app.wsgi
    Alias /files {site}/static
    <Directory {site}/static>
        SSLVerifyClient require
    </Directory>
    <Location /files/open>
        SSLVerifyClient none
    </Location>
</VirtualHost>
""")
        try:
            base = f"https://localhost:{port}"
            ca = pki / "ca.crt"
            refused = requests.get(base + "/files/a.txt", verify=ca)
            assert refused.status_code == 403 and FORBIDDEN in refused.text
            status, body = curl_with_certificate(port, "/files/a.txt", pki, "alice.crt",
                                                 "alice.key")
            assert (status, body) == (200, "static file\n")
            opened = requests.get(base + "/files/open/b.txt", verify=ca)
            assert (opened.status_code, opened.text) == (200, "open file\n")
            assert requests.get(base + "/app", verify=ca).status_code == 200
        finally:
            srv.stop()
    finally:
        shutil.rmtree(site, ignore_errors=True)


def test_apache_certificate_chain_file_sends_the_intermediate(pki):
    """SSLCertificateChainFile: the virtual host's certificate goes out with the sub CA's."""
    import shutil
    from support import VENV
    site = apache_site(pki, "oxwsgi-tls-chain-")
    try:
        for name in ("chained.crt", "chained.key", "sub-ca.crt"):
            shutil.copy(pki / name, site / name)
            os.chmod(site / name, 0o600 if name.endswith(".key") else 0o644)
        port = free_port()
        user = "User oxwsgi-test" if os.getuid() == 0 else ""
        srv = run_apache_site(site, f"""
Listen 127.0.0.1:{port}
{user}
WSGIDaemonProcess shared threads=2 python-home={VENV}
WSGIProcessGroup shared
<VirtualHost *:{port}>
    ServerName localhost
    SSLEngine on
    SSLCertificateFile {site}/chained.crt
    SSLCertificateKeyFile {site}/chained.key
    SSLCertificateChainFile {site}/sub-ca.crt
    WSGIScriptAlias / {site}/app.wsgi
</VirtualHost>
""")
        try:
            out = s_client(port, pki, "-showcerts")
            assert served_chain(out) == [("CN = localhost", "CN = oxwsgi sub CA"),
                                         ("CN = oxwsgi sub CA", "CN = oxwsgi test CA")]
            assert "Verify return code: 0 (ok)" in out
            answer = requests.get(f"https://localhost:{port}/", verify=pki / "ca.crt")
            assert answer.status_code == 200
        finally:
            srv.stop()
    finally:
        shutil.rmtree(site, ignore_errors=True)
