"""Strict HTTP/1.1 message framing (RFC 9112 §6): Transfer-Encoding, Content-Length and chunked
bodies. A request whose framing is invalid or ambiguous is refused before the application, with
its connection closed, so that no two parties can disagree on where it ends (request smuggling).

Decisions, from RFC 9112 and Apache httpd:
- chunked not the final coding (`gzip`, `foo`, `chunked, gzip`): 400 and close (§6.3, a MUST,
  which Apache follows); chunked applied twice is as malformed (§6.1 forbids it);
- chunked final after a coding the server does not implement (`gzip, chunked`): 501 (§6.1);
- Transfer-Encoding in an HTTP/1.0 request: 400 (§6.1: the framing is faulty);
- Content-Length with Transfer-Encoding: decoded by the Transfer-Encoding alone, the
  Content-Length dropped, and the connection closed after the response (§6.3's other option,
  hyper's); an invalid Content-Length there is refused all the same (400);
- a Content-Length other than one run of digits, or several different ones: 400 (§6.3).

A malformed or truncated body that arrives with its request's head (in the same read of the
socket) is refused with the request, before the application: 400 and close, with what is wrong.
One whose fault arrives later can only be seen as the application reads it (bodies are
streamed, as under Apache): there the application is called, but it never gets the body, and
the client gets a 400 or a closed connection, never the application's answer.
"""

import pytest

from strict import (
    MALFORMED_BODY,
    assert_refused,
    body_reads,
    called,
    exchange,
    exchange_after_call,
    outcome,
    params,
)

HELLO_CHUNKED = b"5\r\nhello\r\n0\r\n\r\n"


def post(case, headers, body, version=b"HTTP/1.1", query=b""):
    return (
        b"POST /case-" + case.encode() + query + b" " + version + b"\r\nHost: t\r\n"
        b"X-Case: " + case.encode() + b"\r\n" + headers + b"\r\n" + body
    )


@pytest.mark.parametrize(
    "case,headers,body,status",
    params(
        ("te-chunked-chunked", b"Transfer-Encoding: chunked, chunked\r\n", HELLO_CHUNKED, 400),
        (
            "te-two-headers-chunked",
            b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
            HELLO_CHUNKED,
            400,
        ),
        ("te-chunked-gzip", b"Transfer-Encoding: chunked, gzip\r\n", HELLO_CHUNKED, 400),
        (
            "te-two-headers-chunked-gzip",
            b"Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n",
            HELLO_CHUNKED,
            400,
        ),
        ("te-gzip", b"Transfer-Encoding: gzip\r\n", b"hello", 400),
        ("te-foo", b"Transfer-Encoding: foo\r\n", b"hello", 400),
        ("te-identity", b"Transfer-Encoding: identity\r\n", b"hello", 400),
        ("te-gzip-chunked", b"Transfer-Encoding: gzip, chunked\r\n", HELLO_CHUNKED, 501),
        ("te-foo-chunked", b"Transfer-Encoding: foo, chunked\r\n", HELLO_CHUNKED, 501),
    ),
)
def test_transfer_encoding_other_than_one_final_chunked_is_refused(
    recorder, case, headers, body, status
):
    reply = exchange(recorder, post(case, headers, body))
    # A 400 is a framing the server cannot trust (it must close); a 501 is a well-framed
    # message it cannot decode.
    assert_refused(recorder, reply, case, status, closes=status == 400)


def test_transfer_encoding_in_http_1_0_is_refused(recorder):
    case = "te-http-1-0"
    data = post(case, b"Transfer-Encoding: chunked\r\n", HELLO_CHUNKED, b"HTTP/1.0")
    reply = exchange(recorder, data)
    assert_refused(recorder, reply, case, 400, versions=("HTTP/1.1", "HTTP/1.0"), closes=True)


@pytest.mark.parametrize(
    "case,headers",
    params(
        ("cl-and-te", b"Content-Length: 15\r\nTransfer-Encoding: chunked\r\n"),
        ("te-and-cl", b"Transfer-Encoding: chunked\r\nContent-Length: 15\r\n"),
    ),
)
def test_content_length_with_transfer_encoding_is_decoded_by_te_and_closed(
    recorder, case, headers
):
    """RFC 9112 §6.3 lets a server refuse such a request, or decode it by its Transfer-Encoding
    alone and close the connection after answering. oxwsgi (through hyper) does the latter: the
    Content-Length is dropped, so the application sees the chunked body and no CONTENT_LENGTH,
    and nothing the client sent after the body can be taken for another request."""
    data = post(case, headers, HELLO_CHUNKED, query=b"?report=body")
    data += b"GET /case-smuggled HTTP/1.1\r\nHost: t\r\n\r\n"
    reply = exchange(recorder, data)
    what = outcome(recorder, reply, case)
    assert reply.status_line == b"HTTP/1.1 200 OK", what
    assert reply.body == b"body=hello trailer=absent", what
    assert b"\r\nConnection: close\r\n" in reply.head + b"\r\n", what
    assert reply.closed, what
    assert not called(recorder, "smuggled"), what


BAD_LENGTH = b"Bad request: the request's Content-Length is not a number of bytes."
LENGTHS_DIFFER = b"Bad request: the request has Content-Length fields that differ."


@pytest.mark.parametrize(
    "case,headers,message",
    params(
        ("cl-two-headers-differ", b"Content-Length: 5\r\nContent-Length: 6\r\n", LENGTHS_DIFFER),
        ("cl-list-differs", b"Content-Length: 5, 6\r\n", BAD_LENGTH),
        # RFC 9112 §6.3 lets a recipient take a list of equal values; Apache refuses any list.
        ("cl-list-same", b"Content-Length: 6, 6\r\n", BAD_LENGTH),
        ("cl-plus", b"Content-Length: +5\r\n", BAD_LENGTH),
        ("cl-minus", b"Content-Length: -5\r\n", BAD_LENGTH),
        ("cl-hex", b"Content-Length: 0x10\r\n", BAD_LENGTH),
        ("cl-inner-space", b"Content-Length: 5 5\r\n", BAD_LENGTH),
        ("cl-inner-tab", b"Content-Length: 5\t5\r\n", BAD_LENGTH),
        ("cl-decimal-point", b"Content-Length: 5.0\r\n", BAD_LENGTH),
        ("cl-overflow", b"Content-Length: 99999999999999999999999\r\n", BAD_LENGTH),
        ("cl-empty", b"Content-Length: \r\n", BAD_LENGTH),
        # hyper drops a Content-Length that follows Transfer-Encoding without reading it; it is
        # checked all the same.
        ("te-then-invalid-cl", b"Transfer-Encoding: chunked\r\nContent-Length: +5\r\n", BAD_LENGTH),
    ),
)
def test_invalid_or_conflicting_content_length_is_refused(recorder, case, headers, message):
    reply = exchange(recorder, post(case, headers, b"hello!"))
    assert_refused(recorder, reply, case, 400, message=message, closes=True)


INCOMPLETE_BODY = (
    b"Bad request: the client closed the connection before sending the whole request body."
)

def assert_body_refused(srv, reply, case, message=MALFORMED_BODY):
    """A malformed body: a 400 (with oxwsgi's page, if it has one) or a close without a
    response; the application, if called, never read the body whole."""
    what = f"{outcome(srv, reply, case)}; its reads: {body_reads(srv, case)}"
    if reply.data or not reply.closed:
        assert reply.status_line == b"HTTP/1.1 400 Bad Request", what
        if reply.body:
            assert b"<p>" + message + b"</p>" in reply.body, f"{what}: {reply.body[:300]!r}"
    assert not [read for read in body_reads(srv, case) if read.startswith("ok")], what


def bad_body(why):
    return b"Bad request: " + why + b"."


BAD_CHUNK_SIZE = bad_body(b"a chunk size of the request body is not a hexadecimal number")
CHUNK_TOO_LARGE = bad_body(b"a chunk size of the request body is too large")
BAD_CHUNK_LINE = bad_body(b"a chunk-size line of the request body does not end in CRLF")
BAD_CHUNK_END = bad_body(b"a chunk of the request body is not followed by CRLF")
BAD_EXTENSION = bad_body(b"a chunk extension of the request body has a control byte")
BAD_TRAILER = bad_body(b"the trailer section of the request body is malformed")
MALFORMED_CHUNKED = params(
    ("chunk-size-overflow", b"ffffffffffffffffff\r\nhello\r\n0\r\n\r\n", CHUNK_TOO_LARGE),
    ("chunk-size-not-hex", b"zz\r\nhello\r\n0\r\n\r\n", BAD_CHUNK_SIZE),
    ("chunk-size-sign", b"+5\r\nhello\r\n0\r\n\r\n", BAD_CHUNK_SIZE),
    ("chunk-size-bare-lf", b"5\nhello\r\n0\r\n\r\n", BAD_CHUNK_SIZE),
    ("chunk-size-bare-cr", b"5\rhello\r\n0\r\n\r\n", BAD_CHUNK_LINE),
    ("chunk-extension-nul", b"5;\x00\r\nhello\r\n0\r\n\r\n", BAD_EXTENSION),
    ("chunk-extension-ctl", b"5;a=\x01\r\nhello\r\n0\r\n\r\n", BAD_EXTENSION),
    ("chunk-extension-bare-lf", b"5;a=b\nhello\r\n0\r\n\r\n", BAD_CHUNK_LINE),
    ("chunk-data-without-crlf", b"5\r\nhelloXX0\r\n\r\n", BAD_CHUNK_END),
    ("chunk-data-bare-lf", b"5\r\nhello\n0\r\n\r\n", BAD_CHUNK_END),
    # The trailer section is field lines ending in CRLF: a bare LF and a request line there
    # are where parsers part ways (one sees trailers, another a second request).
    ("trailer-bare-lf", b"5\r\nhello\r\n0\r\n\nGET /case-smuggled HTTP/1.1\r\n\r\n", BAD_TRAILER),
    ("trailer-request-line", b"5\r\nhello\r\n0\r\nGET /case-smuggled HTTP/1.1\r\n\r\n", BAD_TRAILER),
    ("trailer-end-bare-cr", b"5\r\nhello\r\n0\r\n\rGET /case-smuggled HTTP/1.1\r\n\r\n", BAD_TRAILER),
)


@pytest.mark.parametrize("case,body,message", MALFORMED_CHUNKED)
def test_malformed_chunked_body_is_refused_before_the_app(recorder, case, body, message):
    data = post(case, b"Transfer-Encoding: chunked\r\n", body, query=b"?report=body")
    data += b"GET /case-smuggled HTTP/1.1\r\nHost: t\r\n\r\n"
    reply = exchange(recorder, data)
    assert_refused(recorder, reply, case, 400, message=message, closes=True)
    assert not called(recorder, "smuggled")


@pytest.mark.parametrize("case,body,message", MALFORMED_CHUNKED)
def test_malformed_chunked_body_after_its_head_is_never_passed_on(recorder, case, body, message):
    """The head goes first and the application is called; the malformed body then arrives."""
    head = post(case + "-late", b"Transfer-Encoding: chunked\r\n", b"", query=b"?report=body")
    then = body + b"GET /case-smuggled HTTP/1.1\r\nHost: t\r\n\r\n"
    reply = exchange_after_call(recorder, head, then, case + "-late")
    assert_body_refused(recorder, reply, case + "-late")
    assert not called(recorder, "smuggled")


@pytest.mark.parametrize(
    "case,headers,body",
    params(
        ("truncated-last-chunk", b"Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n0\r\n"),
        ("truncated-chunk-data", b"Transfer-Encoding: chunked\r\n", b"5\r\nhel"),
        ("truncated-chunk-size", b"Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n"),
        ("truncated-trailer", b"Transfer-Encoding: chunked\r\n", b"0\r\nX-T: 1\r\n"),
        ("truncated-content-length", b"Content-Length: 10\r\n", b"hello"),
    ),
)
def test_body_cut_short_by_the_client_is_refused_before_the_app(recorder, case, headers, body):
    data = post(case, headers, body, query=b"?report=body")
    reply = exchange(recorder, data, fin_with_data=True)
    assert_refused(recorder, reply, case, 400, message=INCOMPLETE_BODY, closes=True)


def test_trailer_fields_never_reach_the_environ(recorder):
    case = "trailer"
    data = post(
        case,
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n",
        b"5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n",
        query=b"?report=body",
    )
    reply = exchange(recorder, data)
    assert reply.status_line == b"HTTP/1.1 200 OK", outcome(recorder, reply, case)
    assert reply.body == b"body=hello trailer=absent"
    assert called(recorder, case)
